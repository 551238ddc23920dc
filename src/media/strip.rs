//! Metadata stripping for JPEG (APP1 Exif/XMP), PNG (eXIf, text) and WebP
//! (EXIF, XMP chunks) without re-encoding a single pixel.
//!
//! Stripping runs as a second pass over the finished temp file, after the
//! upload was inspected and before anything is hashed for storage: [`plan`]
//! walks the container by seeking (reading only record headers and the
//! metadata blocks, each at most [`MAX_META`] bytes), and [`rewrite`] copies
//! the file once with the planned byte edits applied, hashing and re-inspecting
//! the output as it goes. A second pass rather than a streaming transform in
//! front of the hasher because WebP keeps its EXIF chunk at the end of the file
//! while the RIFF size it may change sits in the first bytes; a file with
//! nothing to strip (most screenshots) costs one header walk and no copy.
//!
//! In `gps` mode the EXIF block keeps its length (see `exif`): only the GPS
//! directory and identifying tags disappear, so every other offset, the JPEG
//! segment length and the WebP RIFF size stay valid; PNG gets a new chunk CRC.
//! In `all` mode the EXIF block is replaced by one holding only Orientation,
//! and XMP, IPTC, comments and text chunks are removed. Orientation is kept in
//! every mode so the image still displays upright. The scan data after a JPEG
//! SOS marker, PNG IDAT and WebP bitstreams are copied unchanged.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use super::exif::{self, Category};
use super::location;
use super::png::crc32;
use super::{ImageType, Inspector, Limits, MediaError, MediaInfo};

/// Largest metadata block read into memory; a larger EXIF or XMP block is
/// removed whole without being parsed (it cannot be checked, so it goes).
pub const MAX_META: u64 = 1024 * 1024;

/// Copy buffer of [`apply`].
const COPY_BUF: usize = 64 * 1024;

/// What `PIXBIN_STRIP_METADATA` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StripMode {
    /// Store the bytes exactly as uploaded.
    None,
    /// Remove GPS and identifying EXIF (serial numbers, owner, maker notes).
    #[default]
    Gps,
    /// Remove every metadata block except Orientation (ICC profiles stay).
    All,
}

impl StripMode {
    /// Parses `gps`, `all` or `none` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gps" => Some(StripMode::Gps),
            "all" => Some(StripMode::All),
            "none" | "off" => Some(StripMode::None),
            _ => None,
        }
    }

    /// The setting's spelling.
    pub fn name(self) -> &'static str {
        match self {
            StripMode::None => "none",
            StripMode::Gps => "gps",
            StripMode::All => "all",
        }
    }
}

/// Replace `len` bytes at `at` by `with` (which may be shorter, longer or empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// Offset in the original file.
    pub at: u64,
    /// Bytes of the original replaced.
    pub len: u64,
    /// What goes in their place.
    pub with: Vec<u8>,
}

/// The edits that strip one file, and what they remove.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Non-overlapping, sorted by offset.
    pub edits: Vec<Edit>,
    /// What was found and removed, sorted, without duplicates.
    pub stripped: Vec<Category>,
}

impl Plan {
    /// Whether the file is stored as uploaded.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// The names reported in the upload response (`["gps", "serial"]`).
    pub fn names(&self) -> Vec<&'static str> {
        self.stripped.iter().map(|c| c.name()).collect()
    }

    /// Length of the output for an input of `len` bytes.
    pub fn output_len(&self, len: u64) -> u64 {
        self.edits
            .iter()
            .fold(len, |n, e| n - e.len + e.with.len() as u64)
    }

    /// Removes a block for several reasons at once.
    fn remove_for(&mut self, at: u64, len: u64, why: Vec<Category>) {
        self.edits.push(Edit {
            at,
            len,
            with: Vec::new(),
        });
        self.stripped.extend(why);
    }

    fn remove(&mut self, at: u64, len: u64, why: Category) {
        self.edits.push(Edit {
            at,
            len,
            with: Vec::new(),
        });
        self.stripped.push(why);
    }

    /// Cuts everything from `at` to the end (`len`): the data after the image.
    pub fn cut_trailer(&mut self, at: u64, len: u64) {
        if at < len {
            self.remove(at, len - at, Category::Trailer);
            self.normalise();
        }
    }

    /// Edits by offset; what was removed sorted, without duplicates.
    fn normalise(&mut self) {
        self.edits.sort_by_key(|e| e.at);
        self.stripped.sort();
        self.stripped.dedup();
    }

    fn finish(mut self) -> Plan {
        self.normalise();
        self
    }
}

fn read_at<R: Read + Seek>(r: &mut R, at: u64, n: u64) -> io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = vec![0u8; n as usize];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The container record holding one EXIF block.
#[derive(Clone, Copy)]
enum Holder {
    /// A JPEG APP1 segment: marker, length, "Exif\0\0", TIFF.
    Jpeg,
    /// A PNG eXIf chunk: length, type, TIFF, CRC.
    Png,
    /// A WebP EXIF chunk: FourCC, size, TIFF, pad.
    Webp,
}

/// Where an EXIF block sits: its whole record and the TIFF inside it.
struct Block {
    unit_at: u64,
    unit_len: u64,
    tiff_at: u64,
    tiff_len: u64,
}

impl Holder {
    /// A new record around a TIFF block.
    fn wrap(self, tiff: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(tiff.len() + 16);
        match self {
            Holder::Jpeg => {
                out.extend_from_slice(&[0xff, 0xe1]);
                out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
                out.extend_from_slice(b"Exif\0\0");
                out.extend_from_slice(tiff);
            }
            Holder::Png => {
                out.extend_from_slice(&(tiff.len() as u32).to_be_bytes());
                out.extend_from_slice(b"eXIf");
                out.extend_from_slice(tiff);
                out.extend_from_slice(&crc32(&[b"eXIf", tiff]).to_be_bytes());
            }
            Holder::Webp => {
                out.extend_from_slice(b"EXIF");
                out.extend_from_slice(&(tiff.len() as u32).to_le_bytes());
                out.extend_from_slice(tiff);
                if tiff.len() % 2 == 1 {
                    out.push(0);
                }
            }
        }
        out
    }

    /// The edit that puts a same-length TIFF block back in place.
    fn in_place(self, b: &Block, tiff: Vec<u8>) -> Edit {
        match self {
            Holder::Png => {
                // The chunk CRC covers type and data (PNG §5.3), so it follows.
                let crc = crc32(&[b"eXIf", &tiff]);
                let mut with = tiff;
                with.extend_from_slice(&crc.to_be_bytes());
                Edit {
                    at: b.tiff_at,
                    len: b.tiff_len + 4,
                    with,
                }
            }
            Holder::Jpeg | Holder::Webp => Edit {
                at: b.tiff_at,
                len: b.tiff_len,
                with: tiff,
            },
        }
    }
}

/// Plans the edits for one EXIF block. Returns whether the block's record is
/// gone entirely (WebP then clears its VP8X EXIF flag).
fn exif_block<R: Read + Seek>(
    r: &mut R,
    b: &Block,
    holder: Holder,
    mode: StripMode,
    plan: &mut Plan,
) -> io::Result<bool> {
    if b.tiff_len > MAX_META {
        plan.remove(b.unit_at, b.unit_len, Category::Exif);
        return Ok(true);
    }
    let mut tiff = read_at(r, b.tiff_at, b.tiff_len)?;
    match mode {
        StripMode::None => Ok(false),
        StripMode::Gps => match exif::strip_identifying(&mut tiff) {
            Ok(found) if found.is_empty() => Ok(false),
            Ok(found) => {
                plan.stripped.extend(found);
                plan.edits.push(holder.in_place(b, tiff));
                Ok(false)
            }
            // A block we cannot parse cannot be shown to be clean.
            Err(exif::Malformed) => {
                plan.remove(b.unit_at, b.unit_len, Category::Exif);
                Ok(true)
            }
        },
        StripMode::All => {
            let kept = exif::orientation(&tiff).map(exif::orientation_only);
            if kept.as_deref() == Some(tiff.as_slice()) {
                return Ok(false);
            }
            if let Ok(found) = exif::identifying_categories(&tiff) {
                plan.stripped.extend(found);
            }
            plan.stripped.push(Category::Exif);
            match kept {
                Some(minimal) => {
                    plan.edits.push(Edit {
                        at: b.unit_at,
                        len: b.unit_len,
                        with: holder.wrap(&minimal),
                    });
                    Ok(false)
                }
                None => {
                    plan.edits.push(Edit {
                        at: b.unit_at,
                        len: b.unit_len,
                        with: Vec::new(),
                    });
                    Ok(true)
                }
            }
        }
    }
}

/// Decides what to do with an XMP packet of `len` bytes at `at`: whether it
/// goes, and why. In `gps` mode only packets that name a place go (XMP can
/// repeat the EXIF location as `exif:GPSLatitude`, or carry `photoshop:City`,
/// `Iptc4xmpCore:Location`…; see `location`).
fn xmp_verdict<R: Read + Seek>(
    r: &mut R,
    at: u64,
    len: u64,
    mode: StripMode,
) -> io::Result<Option<Category>> {
    Ok(match mode {
        StripMode::None => None,
        StripMode::All => Some(Category::Xmp),
        StripMode::Gps if len > MAX_META => Some(Category::Xmp),
        StripMode::Gps => location::xmp_has_place(&read_at(r, at, len)?).then_some(Category::Gps),
    })
}

const XMP_NS: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXT_NS: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";

/// JPEG: the marker segments before the first SOS (T.81 §B.1.1.4).
fn plan_jpeg<R: Read + Seek>(
    r: &mut R,
    len: u64,
    mode: StripMode,
    plan: &mut Plan,
) -> io::Result<()> {
    let mut pos = 2u64;
    let mut xmp = Vec::new();
    let mut xmp_why = None;
    while pos + 4 <= len {
        let h = read_at(r, pos, 2)?;
        if h[0] != 0xff {
            break;
        }
        let code = h[1];
        if code == 0xff {
            pos += 1; // fill byte
            continue;
        }
        if code == 0x01 || (0xd0..=0xd7).contains(&code) {
            pos += 2;
            continue;
        }
        if code == 0xda || code == 0xd9 {
            break;
        }
        let seg_len = u64::from(u16::from_be_bytes(
            read_at(r, pos + 2, 2)?.try_into().expect("2 bytes"),
        ));
        let (unit_len, data_at, data_len) = (2 + seg_len, pos + 4, seg_len.saturating_sub(2));
        if pos + unit_len > len {
            break;
        }
        match code {
            0xe1 => {
                let head = read_at(r, data_at, data_len.min(XMP_EXT_NS.len() as u64))?;
                if head.starts_with(b"Exif\0\0") {
                    let b = Block {
                        unit_at: pos,
                        unit_len,
                        tiff_at: data_at + 6,
                        tiff_len: data_len - 6,
                    };
                    exif_block(r, &b, Holder::Jpeg, mode, plan)?;
                } else if head.starts_with(XMP_NS) || head.starts_with(XMP_EXT_NS) {
                    xmp.push((pos, unit_len));
                    if xmp_why != Some(Category::Gps)
                        && let Some(why) = xmp_verdict(r, data_at, data_len, mode)?
                    {
                        xmp_why = Some(why);
                    }
                }
            }
            // APP13: Photoshop resources with IPTC (names, places, captions).
            0xed if mode == StripMode::All => plan.remove(pos, unit_len, Category::Iptc),
            // In `gps` mode IPTC goes when it names a place (city, country…).
            0xed if data_len > MAX_META => plan.remove(pos, unit_len, Category::Iptc),
            0xed => {
                if let Some(why) = location::app13_verdict(&read_at(r, data_at, data_len)?) {
                    plan.remove_for(pos, unit_len, why);
                }
            }
            0xfe if mode == StripMode::All => plan.remove(pos, unit_len, Category::Comment),
            _ => {}
        }
        pos += unit_len;
    }
    // An extended XMP packet is split over several segments; they go together.
    if let Some(why) = xmp_why {
        for (at, n) in xmp {
            plan.remove(at, n, why);
        }
    }
    Ok(())
}

/// PNG: every chunk (§5.3), since eXIf and text chunks may follow IDAT.
fn plan_png<R: Read + Seek>(
    r: &mut R,
    len: u64,
    mode: StripMode,
    plan: &mut Plan,
) -> io::Result<()> {
    let mut pos = 8u64;
    while pos + 12 <= len {
        let h = read_at(r, pos, 8)?;
        let data_len = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let unit_len = 12 + data_len;
        if pos + unit_len > len {
            break;
        }
        match &h[4..8] {
            b"eXIf" => {
                let b = Block {
                    unit_at: pos,
                    unit_len,
                    tiff_at: pos + 8,
                    tiff_len: data_len,
                };
                exif_block(r, &b, Holder::Png, mode, plan)?;
            }
            b"tEXt" | b"zTXt" | b"iTXt" if mode == StripMode::Gps => {
                if data_len > MAX_META {
                    plan.remove(pos, unit_len, Category::Comment);
                } else {
                    let kind: [u8; 4] = h[4..8].try_into().expect("4 bytes");
                    let data = read_at(r, pos + 8, data_len)?;
                    if let Some(why) = location::png_text_verdict(&kind, &data) {
                        plan.remove_for(pos, unit_len, why);
                    }
                }
            }
            b"iTXt" => {
                // §11.3.3.4: keyword, NUL, compression flag, method, language,
                // NUL, translated keyword, NUL, text.
                let key = b"XML:com.adobe.xmp\0";
                let head = read_at(r, pos + 8, data_len.min(key.len() as u64 + 1))?;
                if head.starts_with(key) {
                    if let Some(why) = xmp_verdict(r, pos + 8, data_len, mode)? {
                        plan.remove(pos, unit_len, why);
                    }
                } else if mode == StripMode::All {
                    plan.remove(pos, unit_len, Category::Comment);
                }
            }
            b"tEXt" | b"zTXt" if mode == StripMode::All => {
                plan.remove(pos, unit_len, Category::Comment)
            }
            b"IEND" => break,
            _ => {}
        }
        pos += unit_len;
    }
    Ok(())
}

/// WebP: the RIFF chunks (RFC 9649 §2.7); removing a chunk also fixes the
/// RIFF size and the VP8X flags so the file stays valid.
fn plan_webp<R: Read + Seek>(
    r: &mut R,
    len: u64,
    mode: StripMode,
    plan: &mut Plan,
) -> io::Result<()> {
    let head = read_at(r, 0, 12)?;
    let riff_size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let riff_end = (8 + u64::from(riff_size)).min(len);
    let mut pos = 12u64;
    let mut vp8x_flags = None;
    let (mut exif_gone, mut xmp_gone) = (false, false);
    while pos + 8 <= riff_end {
        let h = read_at(r, pos, 8)?;
        let size = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        let unit_len = (8 + size + (size & 1)).min(riff_end - pos);
        match &h[..4] {
            b"VP8X" if pos == 12 && size >= 10 => vp8x_flags = Some(read_at(r, 20, 1)?[0]),
            b"EXIF" => {
                let pre = read_at(r, pos + 8, size.min(6))?;
                // Some writers keep JPEG's "Exif\0\0" prefix in the chunk.
                let skip = if pre == b"Exif\0\0" { 6 } else { 0 };
                let b = Block {
                    unit_at: pos,
                    unit_len,
                    tiff_at: pos + 8 + skip,
                    tiff_len: size - skip,
                };
                exif_gone |= exif_block(r, &b, Holder::Webp, mode, plan)?;
            }
            b"XMP " => {
                if let Some(why) = xmp_verdict(r, pos + 8, size, mode)? {
                    plan.remove(pos, unit_len, why);
                    xmp_gone = true;
                }
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    if plan.edits.is_empty() {
        return Ok(());
    }
    let delta: i64 = plan
        .edits
        .iter()
        .map(|e| e.with.len() as i64 - e.len as i64)
        .sum();
    if delta != 0 {
        let new_size = (i64::from(riff_size) + delta) as u32;
        plan.edits.push(Edit {
            at: 4,
            len: 4,
            with: new_size.to_le_bytes().to_vec(),
        });
    }
    if let Some(flags) = vp8x_flags {
        // §2.7 VP8X flags: E (0x08) says an EXIF chunk follows, X (0x04) XMP.
        let mut new = flags;
        if exif_gone {
            new &= !0x08;
        }
        if xmp_gone {
            new &= !0x04;
        }
        if new != flags {
            plan.edits.push(Edit {
                at: 20,
                len: 1,
                with: vec![new],
            });
        }
    }
    Ok(())
}

/// Works out how to strip a validated file of type `kind` and length `len`.
/// Types without metadata blocks (GIF, BMP, ICO) and mode `none` get an
/// empty plan.
pub fn plan<R: Read + Seek>(
    r: &mut R,
    len: u64,
    kind: ImageType,
    mode: StripMode,
) -> io::Result<Plan> {
    let mut p = Plan::default();
    if mode == StripMode::None {
        return Ok(p);
    }
    match kind {
        ImageType::Jpeg => plan_jpeg(r, len, mode, &mut p)?,
        ImageType::Png => plan_png(r, len, mode, &mut p)?,
        ImageType::Webp => plan_webp(r, len, mode, &mut p)?,
        ImageType::Gif | ImageType::Bmp | ImageType::Ico => {}
    }
    Ok(p.finish())
}

/// Copies `len` bytes of `r` with the plan's edits applied, handing the output
/// to `out` in chunks of at most 64 KiB. Returns the output length.
pub fn apply<R: Read + Seek>(
    plan: &Plan,
    r: &mut R,
    len: u64,
    mut out: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut copy = |r: &mut R, mut n: u64, out: &mut dyn FnMut(&[u8]) -> io::Result<()>| {
        while n > 0 {
            let k = n.min(COPY_BUF as u64) as usize;
            r.read_exact(&mut buf[..k])?;
            out(&buf[..k])?;
            n -= k as u64;
        }
        io::Result::Ok(())
    };
    r.seek(SeekFrom::Start(0))?;
    let mut pos = 0u64;
    let mut written = 0u64;
    for e in &plan.edits {
        if e.at < pos || e.at + e.len > len {
            return Err(io::Error::other("overlapping metadata edits"));
        }
        copy(r, e.at - pos, &mut out)?;
        written += e.at - pos;
        out(&e.with)?;
        written += e.with.len() as u64;
        r.seek(SeekFrom::Current(e.len as i64))?;
        pos = e.at + e.len;
    }
    copy(r, len - pos, &mut out)?;
    Ok(written + len - pos)
}

/// The stripped copy of an upload.
#[derive(Debug)]
pub struct Rewritten<T> {
    /// The new temp (fsynced).
    pub temp: T,
    /// blake3 of its bytes.
    pub hash: [u8; 32],
    /// Its length.
    pub size: u64,
    /// What was removed.
    pub stripped: Vec<&'static str>,
}

/// Why a rewrite failed.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// Reading the upload or writing the copy failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The stripped copy did not validate as the same image (a bug: the
    /// upload must then fail rather than store a broken or unstripped file).
    #[error("stripped copy is not a valid image: {0}")]
    Invalid(MediaError),
}

/// Where a stripped copy goes: written, then made durable before it is named.
pub trait DurableWrite: Write {
    /// Makes everything written durable (fsync).
    fn sync_all(&mut self) -> io::Result<()>;
}

impl DurableWrite for File {
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
}

/// Strips the validated upload read from `input` (`len` bytes, as `info`
/// describes it) into a new temp from `create`, hashing it and re-inspecting it under
/// `limits` on the way, then fsyncs it. Data after the image
/// (`info.trailer_at`) is cut in every mode. `Ok(None)` when there is nothing
/// to strip (the original is stored as is). Blocking: run it off the async
/// threads.
pub fn rewrite<T: DurableWrite>(
    mut input: impl Read + Seek,
    len: u64,
    info: &MediaInfo,
    mode: StripMode,
    limits: &Limits,
    create: impl FnOnce() -> io::Result<T>,
) -> Result<Option<Rewritten<T>>, RewriteError> {
    let kind = info.kind;
    let image_len = info.trailer_at.unwrap_or(len).min(len);
    let mut plan = plan(&mut input, image_len, kind, mode)?;
    plan.cut_trailer(image_len, len);
    if plan.is_empty() {
        return Ok(None);
    }
    let temp = create()?;
    let mut writer = BufWriter::with_capacity(COPY_BUF, temp);
    let mut hasher = blake3::Hasher::new();
    let mut inspector = Inspector::new(limits);
    let mut bad = None;
    let size = apply(&plan, &mut input, len, |chunk| {
        if bad.is_none()
            && let Err(e) = inspector.update(chunk)
        {
            bad = Some(e);
        }
        hasher.update(chunk);
        writer.write_all(chunk)
    })?;
    if let Some(e) = bad {
        return Err(RewriteError::Invalid(e));
    }
    let out = inspector.finish().map_err(RewriteError::Invalid)?;
    if out.kind != kind {
        return Err(RewriteError::Invalid(MediaError::Corrupt("type changed")));
    }
    if out.trailer_at.is_some() {
        return Err(RewriteError::Invalid(MediaError::Corrupt("trailer left")));
    }
    let mut temp = writer.into_inner().map_err(|e| e.into_error())?;
    temp.sync_all()?;
    Ok(Some(Rewritten {
        temp,
        hash: *hasher.finalize().as_bytes(),
        size,
        stripped: plan.names(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn strip(bytes: &[u8], kind: ImageType, mode: StripMode) -> (Vec<u8>, Vec<&'static str>) {
        let mut c = Cursor::new(bytes);
        let p = plan(&mut c, bytes.len() as u64, kind, mode).unwrap();
        let mut out = Vec::new();
        let n = apply(&p, &mut c, bytes.len() as u64, |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, out.len() as u64);
        assert_eq!(p.output_len(bytes.len() as u64), n);
        (out, p.names())
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/real/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// Offset of the first SOS marker's scan data.
    fn scan(b: &[u8]) -> &[u8] {
        let mut pos = 2;
        loop {
            let code = b[pos + 1];
            let len = u16::from_be_bytes([b[pos + 2], b[pos + 3]]) as usize;
            if code == 0xda {
                return &b[pos..];
            }
            pos += 2 + len;
        }
    }

    #[test]
    fn jpeg_gps_goes_orientation_and_scan_stay() {
        let src = fixture("rocket-gps.jpg");
        let (out, names) = strip(&src, ImageType::Jpeg, StripMode::Gps);
        assert_eq!(names, vec!["gps"]);
        assert_eq!(out.len(), src.len(), "gps mode keeps the length");
        assert_eq!(scan(&out), scan(&src));
        assert!(super::super::inspect(&out, &Limits::default()).is_ok());
        // Stripping again changes nothing.
        let (again, names) = strip(&out, ImageType::Jpeg, StripMode::Gps);
        assert!(names.is_empty());
        assert_eq!(again, out);
        // A file without EXIF is untouched.
        let plain = fixture("rocket.jpg");
        assert_eq!(
            strip(&plain, ImageType::Jpeg, StripMode::Gps),
            (plain, vec![])
        );
    }

    #[test]
    fn jpeg_all_keeps_only_orientation() {
        let src = fixture("rocket-gps.jpg");
        let (out, names) = strip(&src, ImageType::Jpeg, StripMode::All);
        assert_eq!(names, vec!["gps", "exif", "comment"]);
        assert!(out.len() < src.len());
        assert_eq!(scan(&out), scan(&src));
        assert!(!contains(&out, b"TestCam"));
        assert!(super::super::inspect(&out, &Limits::default()).is_ok());
        let app1 = out.windows(6).position(|w| w == b"Exif\0\0").unwrap() + 6;
        assert_eq!(exif::orientation(&out[app1..]), Some(6));
    }

    /// A PNG with an eXIf chunk (holding GPS) inserted after IHDR.
    fn png_with_exif(tiff: &[u8]) -> Vec<u8> {
        let src = fixture("chelsea.png");
        let mut out = src[..33].to_vec(); // signature + IHDR
        out.extend_from_slice(&Holder::Png.wrap(tiff));
        out.extend_from_slice(&src[33..]);
        out
    }

    fn jpeg_tiff() -> Vec<u8> {
        let src = fixture("rocket-gps.jpg");
        let at = src.windows(6).position(|w| w == b"Exif\0\0").unwrap();
        let len = u16::from_be_bytes([src[at - 2], src[at - 1]]) as usize - 8;
        src[at + 6..at + 6 + len].to_vec()
    }

    #[test]
    fn png_exif_is_cleaned_with_a_fresh_crc() {
        let src = png_with_exif(&jpeg_tiff());
        super::super::inspect(&src, &Limits::default()).unwrap();
        let (out, names) = strip(&src, ImageType::Png, StripMode::Gps);
        assert_eq!(names, vec!["gps"]);
        assert_eq!(out.len(), src.len());
        // The decoder-independent checks: the inspector accepts it and the
        // chunk's CRC matches its new contents.
        super::super::inspect(&out, &Limits::default()).unwrap();
        let data_len = u32::from_be_bytes(out[33..37].try_into().unwrap()) as usize;
        let data = &out[41..41 + data_len];
        let crc = u32::from_be_bytes(out[41 + data_len..45 + data_len].try_into().unwrap());
        assert_eq!(crc, crc32(&[b"eXIf", data]));
        assert_eq!(exif::orientation(data), Some(6));
        let (all, names) = strip(&src, ImageType::Png, StripMode::All);
        assert_eq!(
            names,
            vec!["gps", "exif", "xmp"],
            "chelsea.png carries an XMP iTXt chunk"
        );
        super::super::inspect(&all, &Limits::default()).unwrap();
    }

    /// An extended WebP (VP8X with the EXIF flag) with an EXIF chunk at the end.
    fn webp_with_exif(tiff: &[u8]) -> Vec<u8> {
        let src = fixture("coffee.webp");
        let (w, h) = (600u32 - 1, 400u32 - 1);
        let mut body = b"WEBP".to_vec();
        body.extend_from_slice(b"VP8X");
        body.extend_from_slice(&10u32.to_le_bytes());
        body.push(0x08);
        body.extend_from_slice(&[0, 0, 0]);
        body.extend_from_slice(&w.to_le_bytes()[..3]);
        body.extend_from_slice(&h.to_le_bytes()[..3]);
        body.extend_from_slice(&src[12..]);
        body.extend_from_slice(&Holder::Webp.wrap(tiff));
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn webp_exif_is_cleaned_and_riff_stays_valid() {
        let src = webp_with_exif(&jpeg_tiff());
        super::super::inspect(&src, &Limits::default()).unwrap();
        let (out, names) = strip(&src, ImageType::Webp, StripMode::Gps);
        assert_eq!(names, vec!["gps"]);
        assert_eq!(out.len(), src.len());
        super::super::inspect(&out, &Limits::default()).unwrap();
        // Mode all without orientation drops the chunk, shrinks the RIFF size
        // and clears the EXIF flag.
        let no_orientation = webp_with_exif(&exif::orientation_only(1)[..8]);
        let (all, names) = strip(&no_orientation, ImageType::Webp, StripMode::All);
        assert_eq!(names, vec!["exif"]);
        assert_eq!(
            all.len(),
            no_orientation.len() - 16,
            "the 8-byte chunk is gone"
        );
        assert_eq!(
            u32::from_le_bytes(all[4..8].try_into().unwrap()) as usize,
            all.len() - 8
        );
        super::super::inspect(&all, &Limits::default()).unwrap();
        assert_eq!(all[20] & 0x08, 0);
    }

    #[test]
    fn other_types_and_mode_none_are_untouched() {
        let gif = fixture("no_time_for_that_tiny.gif");
        assert_eq!(
            strip(&gif, ImageType::Gif, StripMode::All).1,
            Vec::<&str>::new()
        );
        let jpg = fixture("rocket-gps.jpg");
        assert_eq!(strip(&jpg, ImageType::Jpeg, StripMode::None), (jpg, vec![]));
    }

    #[test]
    fn modes_parse() {
        assert_eq!(StripMode::parse("GPS"), Some(StripMode::Gps));
        assert_eq!(StripMode::parse("all"), Some(StripMode::All));
        assert_eq!(StripMode::parse("none"), Some(StripMode::None));
        assert_eq!(StripMode::parse("some"), None);
    }
}
