//! Images built by hand, for tests that need sizes, pixels or chunks no
//! fixture has: 24-bit BMPs (noise or one fill byte), PNG chunks with their
//! CRC spliced into a base PNG, and RIFF chunks for WebP.

/// The 54-byte header of a 24-bit BMP of `w` x `h` (BITMAPINFOHEADER,
/// bottom-up rows padded to four bytes); the pixel bytes follow it.
pub fn bmp_header(w: u32, h: u32) -> Vec<u8> {
    let pixels = bmp_pixel_bytes(w, h);
    let mut b = Vec::with_capacity(54);
    b.extend(b"BM");
    b.extend((54 + pixels).to_le_bytes());
    b.extend([0u8; 4]);
    b.extend(54u32.to_le_bytes());
    b.extend(40u32.to_le_bytes());
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(24u16.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend(pixels.to_le_bytes());
    b.extend(2835u32.to_le_bytes());
    b.extend(2835u32.to_le_bytes());
    b.extend([0u8; 8]);
    b
}

/// Bytes of pixel data in a 24-bit BMP of `w` x `h`.
fn bmp_pixel_bytes(w: u32, h: u32) -> u32 {
    (w * 3).div_ceil(4) * 4 * h
}

/// A valid 24-bit BMP whose pixels derive from `seed` (distinct seeds give
/// distinct files; noise also keeps the thumbnail from compressing away).
pub fn bmp(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut out = bmp_header(w, h);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..bmp_pixel_bytes(w, h) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out
}

/// A valid 24-bit BMP of `w` x `h` whose pixel bytes are all `fill`.
pub fn bmp_filled(w: u32, h: u32, fill: u8) -> Vec<u8> {
    let mut b = bmp_header(w, h);
    b.resize(54 + bmp_pixel_bytes(w, h) as usize, fill);
    b
}

/// CRC-32 (ISO-HDLC) of the concatenated parts, as PNG chunks need.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// One PNG chunk: length, type, data and CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend(kind);
    v.extend(data);
    v.extend(crc32(&[kind, data]).to_be_bytes());
    v
}

/// The PNG `base` with `chunks` inserted before its IEND.
pub fn png_with(base: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let (body, iend) = base.split_at(base.len() - 12);
    assert_eq!(&iend[4..8], b"IEND");
    [body.to_vec(), chunks.concat(), iend.to_vec()].concat()
}

/// One RIFF chunk (as in WebP): FourCC, little-endian size, payload, and the
/// pad byte an odd size needs.
pub fn riff_chunk(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = fourcc.to_vec();
    v.extend((payload.len() as u32).to_le_bytes());
    v.extend(payload);
    if payload.len() % 2 == 1 {
        v.push(0);
    }
    v
}
