//! Where a place can hide outside the EXIF GPS directory, and how `gps` mode
//! tells: XMP packets, IPTC records (JPEG APP13, ImageMagick raw profiles) and
//! PNG text chunks.
//!
//! The rule: a block goes when it names a place; one that cannot be read
//! (too large, compressed past the bound, garbled) cannot be shown to be clean
//! and goes too. A block that is read and names no place stays, byte for byte.
//! Removal is always of the whole block (chunk, segment): a text format has no
//! fixed length to blank a field within.

use super::exif::{self, Category};

/// Property names that carry a place in XMP (EXIF's GPS tags as `exif:GPS…`,
/// Photoshop's and IPTC Core/Extension's location fields). Case matters in
/// XMP, so `City` does not match "velocity".
const XMP_PLACES: [&[u8]; 9] = [
    b"GPS",
    b"Latitude",
    b"Longitude",
    b"City",
    b"Location",
    b"Sublocation",
    b"ProvinceState",
    b"photoshop:State",
    b"Country",
];

/// IPTC IIM application record (2) datasets that name a place: content
/// location code and name, city, sub-location, province/state, country code
/// and name (IPTC IIM 4.2, §6).
const IIM_PLACES: [u8; 7] = [26, 27, 90, 92, 95, 100, 101];

/// Largest inflated or hex-decoded text looked into; past it a block cannot
/// be checked and goes.
pub const MAX_TEXT: usize = 1024 * 1024;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether an XMP packet names a place.
pub fn xmp_has_place(xmp: &[u8]) -> bool {
    XMP_PLACES.iter().any(|p| contains(xmp, p))
}

/// Whether a PNG text keyword (ImageMagick writes every EXIF tag as its own
/// `exif:GPSLatitude`-style entry) names a place.
fn keyword_has_place(keyword: &[u8]) -> bool {
    [
        &b"gps"[..],
        b"latitude",
        b"longitude",
        b"location",
        b"city",
        b"country",
        b"provincestate",
    ]
    .iter()
    .any(|p| contains_ignore_case(keyword, p))
}

/// What a verdict says: `None` keeps the block; `Some(categories)` removes it
/// and reports them.
pub type Verdict = Option<Vec<Category>>;

/// IIM records (`0x1C record dataset length data`…): `Some(true)` when one
/// names a place, `None` when the bytes are not IIM.
fn iim_has_place(mut b: &[u8]) -> Option<bool> {
    let mut place = false;
    while !b.is_empty() {
        if b[0] != 0x1c {
            // Writers pad the IPTC resource with zeros.
            return b.iter().all(|&x| x == 0).then_some(place);
        }
        let (record, dataset) = (*b.get(1)?, *b.get(2)?);
        let n = u16::from_be_bytes([*b.get(3)?, *b.get(4)?]);
        let (len, head) = if n & 0x8000 == 0 {
            (usize::from(n), 5)
        } else {
            // Extended dataset: the next (n & 0x7fff) bytes hold the length.
            let k = usize::from(n & 0x7fff);
            if k == 0 || k > 4 {
                return None;
            }
            let bytes = b.get(5..5 + k)?;
            (
                bytes.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x)),
                5 + k,
            )
        };
        if record == 2 && IIM_PLACES.contains(&dataset) {
            place = true;
        }
        b = b.get(head + len..)?;
    }
    Some(place)
}

/// Photoshop image resources (`8BIM id name size data`…, without the
/// "Photoshop 3.0" prefix): `Some(true)` when the IPTC resource (0x0404)
/// names a place, `None` when the bytes do not parse.
fn irb_has_place(mut b: &[u8]) -> Option<bool> {
    let mut place = false;
    while !b.is_empty() {
        if !b.starts_with(b"8BIM") {
            return b.iter().all(|&x| x == 0).then_some(place);
        }
        let id = u16::from_be_bytes([*b.get(4)?, *b.get(5)?]);
        // A Pascal string, padded so that length byte + name is even.
        let name_len = usize::from(*b.get(6)?);
        let name_total = (1 + name_len + 1) & !1;
        let at = 6 + name_total;
        let size = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let data = b.get(at + 4..at + 4 + size)?;
        if id == 0x0404 {
            place |= iim_has_place(data)?;
        }
        b = b.get((at + 4 + size + (size & 1)).min(b.len())..)?;
    }
    Some(place)
}

/// A JPEG APP13 payload (after the length): kept only when it is Photoshop
/// resources whose IPTC names no place.
pub fn app13_verdict(payload: &[u8]) -> Verdict {
    let irb = payload.strip_prefix(b"Photoshop 3.0\0");
    match irb.and_then(irb_has_place) {
        Some(false) => None,
        Some(true) => Some(vec![Category::Gps]),
        None => Some(vec![Category::Iptc]),
    }
}

/// Inflates a zlib stream, to at most [`MAX_TEXT`] bytes.
fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, MAX_TEXT).ok()
}

/// Decodes an ImageMagick raw profile (`\n<type>\n<length>\n<hex lines>`).
fn raw_profile(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut words = text.split_ascii_whitespace();
    let _kind = words.next()?;
    let len: usize = words.next()?.parse().ok()?;
    if len > MAX_TEXT {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    let mut digits = words.flat_map(|w| w.bytes());
    while out.len() < len {
        let hi = (digits.next()? as char).to_digit(16)?;
        let lo = (digits.next()? as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
    }
    Some(out)
}

/// A raw profile's bytes: what the EXIF, XMP or IPTC inside says.
fn profile_verdict(kind: &[u8], data: &[u8]) -> Verdict {
    let kind = kind.to_ascii_lowercase();
    match kind.as_slice() {
        b"exif" | b"app1" => {
            let tiff = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
            match exif::identifying_categories(tiff) {
                Ok(found) if found.is_empty() => None,
                Ok(found) => Some(found),
                Err(exif::Malformed) => Some(vec![Category::Exif]),
            }
        }
        b"xmp" => xmp_has_place(data).then(|| vec![Category::Gps]),
        b"iptc" | b"8bim" => {
            let place = if data.starts_with(b"8BIM") {
                irb_has_place(data)
            } else {
                iim_has_place(data)
            };
            match place {
                Some(false) => None,
                Some(true) => Some(vec![Category::Gps]),
                None => Some(vec![Category::Iptc]),
            }
        }
        // ICC and other profiles carry no place.
        _ => None,
    }
}

/// A PNG `tEXt`, `zTXt` or `iTXt` chunk's data (PNG §11.3.3) in `gps` mode.
/// Kept when its keyword and text name no place; a raw profile is decoded and
/// judged by what it holds; XMP by its properties. Text that cannot be read
/// goes (as `xmp` for an XMP keyword, else `comment`).
pub fn png_text_verdict(kind: &[u8; 4], data: &[u8]) -> Verdict {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return Some(vec![Category::Comment]);
    };
    let (keyword, rest) = (&data[..nul], &data[nul + 1..]);
    let is_xmp = keyword == b"XML:com.adobe.xmp";
    let unreadable = || {
        Some(vec![if is_xmp {
            Category::Xmp
        } else {
            Category::Comment
        }])
    };
    let text: std::borrow::Cow<'_, [u8]> = match kind {
        b"tEXt" => rest.into(),
        b"zTXt" => match rest.split_first() {
            Some((0, z)) => match inflate(z) {
                Some(t) => t.into(),
                None => return unreadable(),
            },
            _ => return unreadable(),
        },
        b"iTXt" => {
            let (Some(&flag), Some(&method)) = (rest.first(), rest.get(1)) else {
                return unreadable();
            };
            // Language tag and translated keyword, each NUL-terminated.
            let mut at = 2;
            for _ in 0..2 {
                match rest[at..].iter().position(|&b| b == 0) {
                    Some(i) => at += i + 1,
                    None => return unreadable(),
                }
            }
            let body = &rest[at..];
            match (flag, method) {
                (0, _) => body.into(),
                (1, 0) => match inflate(body) {
                    Some(t) => t.into(),
                    None => return unreadable(),
                },
                _ => return unreadable(),
            }
        }
        _ => return None,
    };
    if keyword_has_place(keyword) {
        return Some(vec![Category::Gps]);
    }
    if let Some(kind) = keyword
        .strip_prefix(b"Raw profile type ")
        .or_else(|| keyword.strip_prefix(b"raw profile type "))
    {
        return match raw_profile(&text) {
            Some(data) => profile_verdict(kind, &data),
            None => unreadable(),
        };
    }
    let place = if is_xmp || contains(&text, b"<x:xmpmeta") || contains(&text, b"<rdf:RDF") {
        xmp_has_place(&text)
    } else {
        // Free text (a description, a comment): GPS named outright.
        contains(&text, b"GPS")
    };
    place.then(|| vec![Category::Gps])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iim(dataset: u8, value: &[u8]) -> Vec<u8> {
        let mut v = vec![0x1c, 2, dataset];
        v.extend((value.len() as u16).to_be_bytes());
        v.extend(value);
        v
    }

    fn irb(iim: &[u8]) -> Vec<u8> {
        let mut v = b"8BIM\x04\x04\0\0".to_vec();
        v.extend((iim.len() as u32).to_be_bytes());
        v.extend(iim);
        if iim.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    #[test]
    fn iptc_places_are_found_and_captions_kept() {
        let caption = iim(120, b"a caption");
        let city = [caption.clone(), iim(90, b"Berlin")].concat();
        let app13 = |r: &[u8]| [&b"Photoshop 3.0\0"[..], r].concat();
        assert_eq!(app13_verdict(&app13(&irb(&caption))), None);
        assert_eq!(
            app13_verdict(&app13(&irb(&city))),
            Some(vec![Category::Gps])
        );
        assert_eq!(app13_verdict(b"garbage"), Some(vec![Category::Iptc]));
    }

    #[test]
    fn raw_profiles_decode() {
        let text = b"\nxmp\n      10\n3c783a786d706d657461\n";
        assert_eq!(raw_profile(text).unwrap(), b"<x:xmpmeta");
        assert_eq!(raw_profile(b"\nexif\n 4\n00"), None);
    }

    #[test]
    fn text_chunks_with_places_go() {
        assert_eq!(
            png_text_verdict(b"tEXt", b"exif:GPSLatitude\x0052/1, 31/1, 0/1"),
            Some(vec![Category::Gps])
        );
        assert_eq!(
            png_text_verdict(b"tEXt", b"date:create\x002026-01-01"),
            None
        );
        assert_eq!(png_text_verdict(b"tEXt", b"Comment\0velocity"), None);
    }
}
