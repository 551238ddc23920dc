//! What metadata a stored file carries now: EXIF (and its orientation), ICC
//! profiles, XMP, IPTC, comments and text chunks, read from the bytes.
//!
//! The walk follows the same container records as `strip` (JPEG marker
//! segments before the first scan, PNG chunks, WebP RIFF chunks), seeking past
//! pixel data and reading at most [`MAX_META`] bytes of any one block, so it
//! costs a few small reads whatever the file's size. Used for the image
//! details' metadata panel and for the displayed orientation of `width` and
//! `height`.

use std::io::{self, Read, Seek, SeekFrom};

use super::ImageType;
use super::exif;
use super::strip::MAX_META;

/// One metadata block found in a file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Found {
    /// `exif`, `icc`, `xmp`, `iptc`, `comment` or `text`.
    pub kind: &'static str,
    /// What it holds, in a few words.
    pub detail: String,
}

/// A file's metadata blocks and its EXIF orientation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// In file order.
    pub present: Vec<Found>,
    /// EXIF Orientation (1..=8), when the file has a valid one.
    pub orientation: Option<u16>,
}

/// Most blocks listed: a hostile file cannot make the answer large.
const MAX_FOUND: usize = 32;

impl Inventory {
    fn push(&mut self, kind: &'static str, detail: String) {
        if self.present.len() < MAX_FOUND {
            self.present.push(Found { kind, detail });
        }
    }
}

/// Whether an EXIF orientation turns the picture a quarter (so the displayed
/// width is the stored height).
pub fn swaps_sides(orientation: Option<u16>) -> bool {
    matches!(orientation, Some(5..=8))
}

/// `(width, height)` as displayed, given the stored ones and the orientation.
pub fn displayed(width: u32, height: u32, orientation: Option<u16>) -> (u32, u32) {
    if swaps_sides(orientation) {
        (height, width)
    } else {
        (width, height)
    }
}

/// The displayed `(width, height)` of stored bytes whose header says
/// `width` × `height`: their EXIF orientation applied. Bytes that cannot be
/// read keep the header's sides.
pub fn displayed_dims(
    mut bytes: impl Read + Seek,
    kind: ImageType,
    width: u32,
    height: u32,
) -> (u32, u32) {
    if !matches!(kind, ImageType::Jpeg | ImageType::Png | ImageType::Webp) {
        return (width, height);
    }
    let orientation = bytes.seek(SeekFrom::End(0)).and_then(|len| {
        bytes.rewind()?;
        inventory(&mut io::BufReader::new(bytes), len, kind)
    });
    match orientation {
        Ok(inv) => displayed(width, height, inv.orientation),
        Err(_) => (width, height),
    }
}

fn describe_orientation(o: u16) -> &'static str {
    match o {
        1 => "upright",
        2 => "mirrored",
        3 => "rotated 180°",
        4 => "mirrored, rotated 180°",
        5 => "mirrored, rotated 90°",
        6 => "rotated 90° clockwise",
        7 => "mirrored, rotated 270°",
        _ => "rotated 90° counter-clockwise",
    }
}

fn read_at<R: Read + Seek>(r: &mut R, at: u64, n: u64) -> io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::with_capacity(n.min(MAX_META) as usize);
    r.take(n.min(MAX_META)).read_to_end(&mut buf)?;
    Ok(buf)
}

fn bytes(n: u64) -> String {
    if n >= 10_000 {
        format!("{} KB", n / 1000)
    } else {
        format!("{n} bytes")
    }
}

fn exif_block(inv: &mut Inventory, tiff: &[u8], len: u64) {
    let mut parts = Vec::new();
    if len > MAX_META {
        parts.push("too large to read".to_string());
    } else {
        if let Some(o) = exif::orientation(tiff) {
            inv.orientation.get_or_insert(o);
            parts.push(format!("orientation: {}", describe_orientation(o)));
        }
        match exif::identifying_categories(tiff) {
            Ok(found) if !found.is_empty() => parts.push(format!(
                "contains {}",
                found
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ok(_) => {}
            Err(exif::Malformed) => parts.push("unreadable".into()),
        }
    }
    parts.push(bytes(len));
    inv.push("exif", parts.join("; "));
}

/// Lists the metadata blocks of a file of type `kind` and length `len`.
/// Types without metadata blocks (GIF, BMP, ICO) have none.
pub fn inventory<R: Read + Seek>(r: &mut R, len: u64, kind: ImageType) -> io::Result<Inventory> {
    let mut inv = Inventory::default();
    match kind {
        ImageType::Jpeg => jpeg(r, len, &mut inv)?,
        ImageType::Png => png(r, len, &mut inv)?,
        ImageType::Webp => webp(r, len, &mut inv)?,
        ImageType::Gif | ImageType::Bmp | ImageType::Ico => {}
    }
    Ok(inv)
}

const XMP_NS: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXT_NS: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";

/// JPEG: the marker segments before the first SOS (T.81 §B.1.1.4).
fn jpeg<R: Read + Seek>(r: &mut R, len: u64, inv: &mut Inventory) -> io::Result<()> {
    let mut pos = 2u64;
    let mut icc = 0u64;
    for _ in 0..4096 {
        if pos + 4 > len {
            break;
        }
        let h = read_at(r, pos, 2)?;
        if h.len() < 2 || h[0] != 0xff {
            break;
        }
        let code = h[1];
        if code == 0xff {
            pos += 1;
            continue;
        }
        if code == 0x01 || (0xd0..=0xd7).contains(&code) {
            pos += 2;
            continue;
        }
        if code == 0xda || code == 0xd9 {
            break;
        }
        let l = read_at(r, pos + 2, 2)?;
        if l.len() < 2 {
            break;
        }
        let seg_len = u64::from(u16::from_be_bytes([l[0], l[1]]));
        let (data_at, data_len) = (pos + 4, seg_len.saturating_sub(2));
        if pos + 2 + seg_len > len {
            break;
        }
        match code {
            0xe1 => {
                let head = read_at(r, data_at, data_len.min(XMP_EXT_NS.len() as u64))?;
                if head.starts_with(b"Exif\0\0") {
                    let tiff = read_at(r, data_at + 6, data_len - 6)?;
                    exif_block(inv, &tiff, data_len - 6);
                } else if head.starts_with(XMP_NS) {
                    inv.push("xmp", bytes(data_len));
                } else if head.starts_with(XMP_EXT_NS) {
                    inv.push("xmp", format!("extended, {}", bytes(data_len)));
                }
            }
            0xe2 => {
                let head = read_at(r, data_at, data_len.min(12))?;
                if head.starts_with(b"ICC_PROFILE\0") {
                    icc += data_len;
                }
            }
            0xed => inv.push("iptc", format!("Photoshop resources, {}", bytes(data_len))),
            0xfe => inv.push("comment", bytes(data_len)),
            _ => {}
        }
        pos += 2 + seg_len;
    }
    if icc > 0 {
        inv.push("icc", format!("colour profile, {}", bytes(icc)));
    }
    Ok(())
}

/// The printable keyword before the first NUL of a PNG text or profile chunk.
fn keyword(data: &[u8]) -> String {
    let end = data
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(data.len())
        .min(79);
    data[..end]
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// PNG: every chunk (§5.3), since eXIf and text chunks may follow IDAT.
fn png<R: Read + Seek>(r: &mut R, len: u64, inv: &mut Inventory) -> io::Result<()> {
    let mut pos = 8u64;
    for _ in 0..100_000 {
        if pos + 12 > len {
            break;
        }
        let h = read_at(r, pos, 8)?;
        if h.len() < 8 {
            break;
        }
        let data_len = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        if pos + 12 + data_len > len {
            break;
        }
        let head = |r: &mut R| read_at(r, pos + 8, data_len.min(80));
        match &h[4..8] {
            b"eXIf" => {
                let tiff = read_at(r, pos + 8, data_len)?;
                exif_block(inv, &tiff, data_len);
            }
            b"iCCP" => {
                let name = keyword(&head(r)?);
                inv.push(
                    "icc",
                    format!("colour profile \"{name}\", {}", bytes(data_len)),
                );
            }
            b"iTXt" if head(r)?.starts_with(b"XML:com.adobe.xmp\0") => {
                inv.push("xmp", bytes(data_len))
            }
            b"tEXt" | b"zTXt" | b"iTXt" => {
                let name = keyword(&head(r)?);
                inv.push("text", format!("\"{name}\", {}", bytes(data_len)));
            }
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + data_len;
    }
    Ok(())
}

/// WebP: the RIFF chunks (RFC 9649 §2.7).
fn webp<R: Read + Seek>(r: &mut R, len: u64, inv: &mut Inventory) -> io::Result<()> {
    let head = read_at(r, 0, 12)?;
    if head.len() < 12 {
        return Ok(());
    }
    let riff_size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let riff_end = (8 + u64::from(riff_size)).min(len);
    let mut pos = 12u64;
    for _ in 0..100_000 {
        if pos + 8 > riff_end {
            break;
        }
        let h = read_at(r, pos, 8)?;
        if h.len() < 8 {
            break;
        }
        let size = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        match &h[..4] {
            b"ICCP" => inv.push("icc", format!("colour profile, {}", bytes(size))),
            b"EXIF" => {
                let mut tiff = read_at(r, pos + 8, size.min(riff_end - pos - 8))?;
                // Some writers keep JPEG's "Exif\0\0" prefix in the chunk.
                if tiff.starts_with(b"Exif\0\0") {
                    tiff.drain(..6);
                }
                exif_block(inv, &tiff, size);
            }
            b"XMP " => inv.push("xmp", bytes(size)),
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/").to_string() + rel)
            .unwrap()
    }

    fn of(bytes: &[u8], kind: ImageType) -> Inventory {
        inventory(&mut Cursor::new(bytes), bytes.len() as u64, kind).unwrap()
    }

    #[test]
    fn finds_orientation_and_gps_in_a_camera_jpeg() {
        let inv = of(&fixture("real/rocket-gps.jpg"), ImageType::Jpeg);
        assert_eq!(inv.orientation, Some(6));
        let exif = inv.present.iter().find(|f| f.kind == "exif").unwrap();
        assert!(exif.detail.contains("rotated 90° clockwise"), "{exif:?}");
        assert!(exif.detail.contains("gps"), "{exif:?}");
        assert_eq!(displayed(640, 427, inv.orientation), (427, 640));
        assert_eq!(displayed(640, 427, Some(3)), (640, 427));
        assert_eq!(
            of(&fixture("real/rocket.jpg"), ImageType::Jpeg).orientation,
            None
        );
    }

    #[test]
    fn truncated_and_hostile_files_end_the_walk_quietly() {
        let b = fixture("real/rocket-gps.jpg");
        for cut in [0, 3, 20, 200, 5000] {
            let _ = of(&b[..cut.min(b.len())], ImageType::Jpeg);
        }
        let _ = of(
            &[0x89, b'P', b'N', b'G', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
            ImageType::Png,
        );
        let _ = of(
            b"RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\xff",
            ImageType::Webp,
        );
        let many_comments: Vec<u8> = [0xff, 0xd8]
            .into_iter()
            .chain((0..500).flat_map(|_| [0xff, 0xfe, 0, 3, b'x']))
            .collect();
        assert_eq!(of(&many_comments, ImageType::Jpeg).present.len(), MAX_FOUND);
    }
}
