//! Content sniffing: what the first bytes of an upload are, by magic number.
//!
//! Supported images are recognised by their signatures; a set of common
//! non-image formats is named so the refusal message says what was sent.
//! Markup (HTML, SVG, XML) is recognised the way browsers do it (WHATWG MIME
//! Sniffing §7.1: skip a BOM and whitespace, then look at the first tag),
//! because markup served from an image host is the dangerous case.

use super::ImageType;

/// How many leading bytes sniffing may look at (and so keep in memory).
pub(super) const WINDOW: usize = 1024;

/// Verdict on the bytes seen so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sniff {
    /// Cannot tell yet; feed more bytes.
    More,
    /// A supported image type.
    Image(ImageType),
    /// Something else, named.
    Other(&'static str),
    /// An image format pixbin does not handle.
    Unsupported(&'static str),
}

/// Outcome of matching one pattern against a possibly incomplete prefix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    More,
}

/// Does `pat` occur at `off`? `More` if the bytes seen so far agree but stop
/// early. `ci` compares ASCII case-insensitively.
fn at(b: &[u8], off: usize, pat: &[u8], ci: bool) -> Match {
    let seen = b.get(off..).unwrap_or_default();
    let n = seen.len().min(pat.len());
    let same = if ci {
        seen[..n].eq_ignore_ascii_case(&pat[..n])
    } else {
        seen[..n] == pat[..n]
    };
    match (same, n == pat.len()) {
        (false, _) => Match::No,
        (true, true) => Match::Yes,
        (true, false) => Match::More,
    }
}

/// Signatures at offset 0, in priority order. Images first.
const MAGIC: &[(&[u8], Sniff)] = &[
    (b"\x89PNG\r\n\x1a\n", Sniff::Image(ImageType::Png)),
    (b"\xff\xd8\xff", Sniff::Image(ImageType::Jpeg)),
    (b"GIF87a", Sniff::Image(ImageType::Gif)),
    (b"GIF89a", Sniff::Image(ImageType::Gif)),
    (b"BM", Sniff::Image(ImageType::Bmp)),
    (b"\0\0\x01\0", Sniff::Image(ImageType::Ico)),
    (b"\0\0\x02\0", Sniff::Other("cur")),
    (b"%PDF-", Sniff::Other("pdf")),
    (b"PK\x03\x04", Sniff::Other("zip")),
    (b"PK\x05\x06", Sniff::Other("zip")),
    (b"PK\x07\x08", Sniff::Other("zip")),
    (b"\x7fELF", Sniff::Other("elf")),
    (b"MZ", Sniff::Other("exe")),
    (b"\0asm", Sniff::Other("wasm")),
    (b"II*\0", Sniff::Other("tiff")),
    (b"MM\0*", Sniff::Other("tiff")),
    (b"8BPS", Sniff::Other("psd")),
    (b"\xff\x0a", Sniff::Other("jxl")),
    (b"\0\0\0\x0cJXL \r\n\x87\n", Sniff::Other("jxl")),
    (b"qoif", Sniff::Other("qoi")),
    (b"\x1f\x8b", Sniff::Other("gzip")),
    (b"7z\xbc\xaf\x27\x1c", Sniff::Other("7z")),
    (b"Rar!\x1a\x07", Sniff::Other("rar")),
    (b"OggS", Sniff::Other("ogg")),
    (b"ID3", Sniff::Other("mp3")),
    (b"fLaC", Sniff::Other("flac")),
    (b"\x1a\x45\xdf\xa3", Sniff::Other("webm")),
    (b"#!", Sniff::Other("script")),
];

/// Name the upload from its first bytes `b`. `complete` means no more bytes
/// will be looked at (end of upload, or the head buffer is full), so partial
/// matches count as misses.
pub(super) fn sniff(b: &[u8], complete: bool) -> Sniff {
    // A pattern that could still match blocks every later one, so the
    // verdict never depends on how the bytes were chunked.
    let more = if complete { None } else { Some(Sniff::More) };
    for (pat, verdict) in MAGIC {
        match at(b, 0, pat, false) {
            Match::Yes => return *verdict,
            Match::More => {
                if let Some(m) = more {
                    return m;
                }
            }
            Match::No => {}
        }
    }
    for rule in [riff, iso_bmff, markup] {
        match rule(b, complete) {
            Sniff::Other("unknown") => {}
            verdict => return verdict,
        }
    }
    Sniff::Other("unknown")
}

/// RIFF container (RFC 9649 §2.5): "RIFF", size, form type.
fn riff(b: &[u8], complete: bool) -> Sniff {
    match at(b, 0, b"RIFF", false) {
        Match::No => return Sniff::Other("unknown"),
        Match::More if !complete => return Sniff::More,
        Match::More => return Sniff::Other("unknown"),
        Match::Yes => {}
    }
    match b.get(8..12) {
        None if !complete => Sniff::More,
        Some(b"WEBP") => Sniff::Image(ImageType::Webp),
        Some(b"WAVE") => Sniff::Other("wav"),
        Some(b"AVI ") => Sniff::Other("avi"),
        _ => Sniff::Other("riff"),
    }
}

/// ISO base media files (ISO/IEC 14496-12 §4.3): a leading FileTypeBox
/// "size, 'ftyp', major brand, minor version, compatible brands". HEIF
/// (ISO/IEC 23008-12) and AVIF are told apart from video by their brands.
fn iso_bmff(b: &[u8], complete: bool) -> Sniff {
    match at(b, 4, b"ftyp", false) {
        Match::No => return Sniff::Other("unknown"),
        Match::More if !complete => return Sniff::More,
        Match::More => return Sniff::Other("unknown"),
        Match::Yes => {}
    }
    if b.len() < 12 {
        return if complete {
            Sniff::Other("mp4")
        } else {
            Sniff::More
        };
    }
    // The box is small; wait for all of it (within the window) so a generic
    // major brand such as "mif1" can be refined by the compatible brands.
    let box_end = (super::walk::be32(b, 0) as usize).clamp(12, WINDOW);
    if b.len() < box_end && !complete {
        return Sniff::More;
    }
    let compatible = b.get(16..box_end.min(b.len())).unwrap_or_default();
    let brands = std::iter::once(&b[8..12]).chain(compatible.chunks_exact(4));
    let (mut avif, mut heic, mut heif) = (false, false, false);
    for brand in brands {
        match brand {
            b"avif" | b"avis" => avif = true,
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => heic = true,
            b"mif1" | b"msf1" => heif = true,
            _ => {}
        }
    }
    match (avif, heic, heif) {
        (true, _, _) => Sniff::Unsupported("avif"),
        (_, true, _) => Sniff::Unsupported("heic"),
        (_, _, true) => Sniff::Unsupported("heif"),
        _ if &b[8..12] == b"qt  " => Sniff::Other("mov"),
        _ => Sniff::Other("mp4"),
    }
}

/// HTML, SVG or other XML: after an optional UTF-8 BOM and ASCII whitespace,
/// the first byte is '<'. No image signature can start that way.
fn markup(b: &[u8], complete: bool) -> Sniff {
    let undecided = if complete || b.len() >= WINDOW {
        Sniff::Other("unknown")
    } else {
        Sniff::More
    };
    let body = match at(b, 0, b"\xef\xbb\xbf", false) {
        Match::Yes => &b[3..],
        Match::More => return undecided,
        Match::No => b,
    };
    let text = body.trim_ascii_start();
    match text.first() {
        None => return undecided,
        Some(b'<') => {}
        Some(_) => return Sniff::Other("unknown"),
    }
    if at(text, 0, b"<svg", true) == Match::Yes {
        return Sniff::Other("svg");
    }
    if at(text, 0, b"<!doctype html", true) == Match::Yes
        || at(text, 0, b"<html", true) == Match::Yes
    {
        return Sniff::Other("html");
    }
    // A prolog, comment or doctype first: the first root-ish tag decides.
    let svg = find_ci(text, b"<svg");
    let html = find_ci(text, b"<html");
    match (svg, html) {
        (Some(s), Some(h)) if h < s => Sniff::Other("html"),
        (Some(_), _) => Sniff::Other("svg"),
        (None, Some(_)) => Sniff::Other("html"),
        (None, None) if undecided == Sniff::More => Sniff::More,
        (None, None) if at(text, 0, b"<?xml", true) == Match::Yes => Sniff::Other("xml"),
        // WHATWG §7.1 sniffs "<!--" and the common tags as HTML; any other
        // leading tag is still markup a browser could be talked into running.
        (None, None) => Sniff::Other("html"),
    }
}

/// Position of `pat` in `hay`, ASCII case-insensitive.
fn find_ci(hay: &[u8], pat: &[u8]) -> Option<usize> {
    hay.windows(pat.len())
        .position(|w| w.eq_ignore_ascii_case(pat))
}
