//! Streaming record walker shared by the format parsers.
//!
//! Every supported format is a sequence of small headers separated by spans
//! whose length the previous header states (PNG chunks, JPEG segments, GIF
//! sub-blocks, RIFF chunks, ICO entries). A format parser is therefore a state
//! machine that, after each record, says how many bytes to skip and what comes
//! next ([`Need`]). The [`Cursor`] does the buffering: it copies at most
//! [`REC_MAX`] bytes per record and skips everything else without storing it,
//! so arbitrarily large uploads are walked in constant memory and chunk
//! boundaries never matter.

use super::{ImageType, MediaError, bmp, gif, ico, jpeg, png, webp};

/// Longest record a parser may ask for.
pub(super) const REC_MAX: usize = 32;

/// Bytes tolerated after a format's own end marker (GIF trailer, last ICO
/// entry, BMP file size). Small enough that nothing useful (a ZIP, a script
/// page) hides there, large enough for the padding real encoders add.
pub(super) const MAX_TRAILING: u64 = 32;

/// Error for a header that does not end within `max_head` bytes.
pub(super) const HEADER_TOO_LARGE: &str = "image header is larger than this server accepts";

/// What the parser wants after the bytes it is skipping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Then {
    /// Buffer this many bytes (1..=REC_MAX) and hand them to the parser.
    Read(usize),
    /// The rest of the stream is opaque payload (pixel data).
    #[default]
    Body,
    /// Payload the parser scans itself for where it ends (JPEG entropy-coded
    /// data, which has no length field); see [`Walker::on_scan`].
    Scan,
    /// The format has ended; at most `slack` more bytes may follow.
    End { slack: u64 },
}

/// Skip `skip` bytes, then do `then`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Need {
    pub skip: u64,
    pub then: Then,
}

impl Need {
    /// Read `n` bytes next; `n` must be in `1..=REC_MAX`.
    pub const fn read(n: usize) -> Self {
        Self::skip_read(0, n)
    }

    /// Skip `skip` bytes, then read `n` (in `1..=REC_MAX`).
    pub const fn skip_read(skip: u64, n: usize) -> Self {
        Need {
            skip,
            then: Then::Read(n),
        }
    }

    pub const fn body(skip: u64) -> Self {
        Need {
            skip,
            then: Then::Body,
        }
    }

    pub const fn scan(skip: u64) -> Self {
        Need {
            skip,
            then: Then::Scan,
        }
    }

    pub const fn end(skip: u64, slack: u64) -> Self {
        Need {
            skip,
            then: Then::End { slack },
        }
    }
}

/// Limits the parsers enforce.
pub(super) struct Ctx {
    pub max_pixels: u64,
    pub max_head: u64,
}

/// How the stream ended, for the parsers' final checks.
pub(super) struct EndState<'a> {
    /// Total length of the upload.
    pub total: u64,
    /// Its last `min(total, TAIL_LEN)` bytes.
    pub tail: &'a [u8],
    /// The parser had reached `Then::End` (nothing left to skip).
    pub at_end: bool,
    /// The parser had reached `Then::Body` (nothing left to skip).
    pub in_body: bool,
}

/// Refuse zero-sized and oversized images; called by the parsers the moment
/// they learn a size, so pixel bombs stop before their body is uploaded.
pub(super) fn check_dims(width: u32, height: u32, ctx: &Ctx) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt("image width or height is zero"));
    }
    if u64::from(width) * u64::from(height) > ctx.max_pixels {
        return Err(MediaError::TooManyPixels {
            width,
            height,
            limit: ctx.max_pixels,
        });
    }
    Ok(())
}

pub(super) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(super) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(super) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(super) fn le24(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], 0])
}

pub(super) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One parser per format, dispatched by hand (no allocation, no trait objects).
pub(super) enum Walker {
    Png(png::Png),
    Jpeg(jpeg::Jpeg),
    Gif(gif::Gif),
    Webp(webp::Webp),
    Bmp(bmp::Bmp),
    Ico(ico::Ico),
}

impl Walker {
    /// The parser for `kind` and its first request; it starts at offset 0 and
    /// re-checks the magic bytes itself.
    pub fn start(kind: ImageType) -> (Self, Need) {
        match kind {
            ImageType::Png => (Walker::Png(png::Png::default()), png::Png::START),
            ImageType::Jpeg => (Walker::Jpeg(jpeg::Jpeg::default()), jpeg::Jpeg::START),
            ImageType::Gif => (Walker::Gif(gif::Gif::default()), gif::Gif::START),
            ImageType::Webp => (Walker::Webp(webp::Webp::default()), webp::Webp::START),
            ImageType::Bmp => (Walker::Bmp(bmp::Bmp::default()), bmp::Bmp::START),
            ImageType::Ico => (Walker::Ico(ico::Ico::default()), ico::Ico::START),
        }
    }

    /// A requested record of `rec.len()` bytes, which starts at offset `at`.
    fn on_record(&mut self, rec: &[u8], at: u64, ctx: &Ctx) -> Result<Need, MediaError> {
        match self {
            Walker::Png(p) => p.on_record(rec, ctx),
            Walker::Jpeg(p) => p.on_record(rec, at, ctx),
            Walker::Gif(p) => p.on_record(rec, ctx),
            Walker::Webp(p) => p.on_record(rec, at, ctx),
            Walker::Bmp(p) => p.on_record(rec, ctx),
            Walker::Ico(p) => p.on_record(rec, ctx),
        }
    }

    /// Payload bytes starting at offset `at`, in [`Then::Scan`]: returns how
    /// many were consumed and, once the payload ends within them, what comes
    /// next.
    fn on_scan(&mut self, data: &[u8], at: u64) -> Result<(usize, Option<Need>), MediaError> {
        match self {
            Walker::Jpeg(p) => p.on_scan(data, at),
            // No other format asks for a scan.
            _ => Ok((data.len(), None)),
        }
    }

    /// Offset just past the image's own end marker, for formats whose end is
    /// found by scanning (JPEG's EOI).
    pub fn end_of_image(&self) -> Option<u64> {
        match self {
            Walker::Jpeg(p) => p.end_of_image(),
            _ => None,
        }
    }

    /// The header region (which must fit in `max_head`) has been read.
    pub fn header_done(&self) -> bool {
        match self {
            Walker::Png(p) => p.header_done(),
            Walker::Jpeg(p) => p.header_done(),
            Walker::Gif(p) => p.header_done(),
            Walker::Webp(p) => p.header_done(),
            Walker::Bmp(p) => p.header_done(),
            Walker::Ico(p) => p.header_done(),
        }
    }

    /// Final checks once the whole upload has been fed; returns the size.
    pub fn finish(&self, end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        match self {
            Walker::Png(p) => p.finish(end),
            Walker::Jpeg(p) => p.finish(end),
            Walker::Gif(p) => p.finish(end),
            Walker::Webp(p) => p.finish(end),
            Walker::Bmp(p) => p.finish(end),
            Walker::Ico(p) => p.finish(end),
        }
    }
}

/// Buffers records for a [`Walker`] across arbitrary chunk boundaries.
pub(super) struct Cursor {
    /// Offset of the next byte to be consumed.
    pos: u64,
    skip: u64,
    then: Then,
    buf: [u8; REC_MAX],
    have: usize,
    /// Bytes seen after `Then::End`.
    extra: u64,
}

impl Cursor {
    pub fn new(first: Need) -> Self {
        Cursor {
            pos: 0,
            skip: first.skip,
            then: first.then,
            buf: [0; REC_MAX],
            have: 0,
            extra: 0,
        }
    }

    /// Consume `data`, the bytes following everything fed before.
    pub fn feed(
        &mut self,
        walker: &mut Walker,
        mut data: &[u8],
        ctx: &Ctx,
    ) -> Result<(), MediaError> {
        while !data.is_empty() {
            // The header region is bounded: consuming the byte at offset
            // `max_head` before the parser has its header is refused. Steps
            // stop at that offset, so the verdict never depends on chunking.
            let budget = if walker.header_done() {
                u64::MAX
            } else if self.pos < ctx.max_head {
                ctx.max_head - self.pos
            } else {
                return Err(MediaError::Corrupt(HEADER_TOO_LARGE));
            };
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64).min(budget);
                self.skip -= n;
                self.pos += n;
                data = &data[n as usize..];
                continue;
            }
            match self.then {
                Then::Read(want) => {
                    let n = (want - self.have)
                        .min(data.len())
                        .min(budget.try_into().unwrap_or(usize::MAX));
                    self.buf[self.have..self.have + n].copy_from_slice(&data[..n]);
                    self.have += n;
                    self.pos += n as u64;
                    data = &data[n..];
                    if self.have == want {
                        self.have = 0;
                        let rec = self.buf;
                        let next = walker.on_record(&rec[..want], self.pos - want as u64, ctx)?;
                        self.skip = next.skip;
                        self.then = next.then;
                    }
                }
                Then::Body => {
                    self.pos += data.len() as u64;
                    return Ok(());
                }
                Then::Scan => {
                    let (used, next) = walker.on_scan(data, self.pos)?;
                    self.pos += used as u64;
                    data = &data[used..];
                    if let Some(next) = next {
                        self.skip = next.skip;
                        self.then = next.then;
                    }
                }
                Then::End { slack } => {
                    self.extra += data.len() as u64;
                    self.pos += data.len() as u64;
                    if self.extra > slack {
                        return Err(MediaError::Corrupt(
                            "unexpected data after the end of the image",
                        ));
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    pub fn at_end(&self) -> bool {
        self.skip == 0 && matches!(self.then, Then::End { .. })
    }

    pub fn in_body(&self) -> bool {
        self.skip == 0 && self.then == Then::Body
    }
}
