//! Image type sniffing, structural validation and dimensions, from the bytes only.
//!
//! The upload path streams the request body to disk and feeds every chunk to an
//! [`Inspector`] on the way. The inspector never trusts the client's filename or
//! Content-Type: the type comes from the magic bytes, and each format is walked
//! record by record (PNG chunks, JPEG marker segments, GIF blocks, RIFF chunks,
//! the BMP headers, the ICO directory) while the bytes stream past. Only small
//! fixed-size records are ever buffered, plus a short head for sniffing and the
//! last [`TAIL_LEN`] bytes, so memory stays bounded however large the upload is.
//!
//! Errors are raised as early as the bytes allow: a disallowed type after the
//! first few bytes, and a pixel bomb as soon as its header declares the size.
//! No pixel data is decoded here; [`thumbnail`] decodes, under its own limits,
//! after the upload is stored, and [`strip`] removes location and identifying
//! metadata from the stored bytes without touching pixel data.

mod bmp;
pub mod exif;
mod gif;
mod ico;
pub mod inventory;
mod jpeg;
mod location;
mod png;
mod sniff;
pub mod strip;
pub mod thumbnail;
mod walk;
mod webp;

use std::fmt;

use sniff::Sniff;
use walk::{Ctx, Cursor, EndState, Walker};

/// How many bytes at the end of the upload the inspector remembers (the JPEG
/// end-of-image marker must lie in them).
pub const TAIL_LEN: usize = 32;

/// Advice given with [`MediaError::Unsupported`].
pub const CONVERT_HINT: &str = "convert to JPEG or PNG first";

/// An image format pixbin accepts and serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageType {
    /// Portable Network Graphics (including APNG).
    Png,
    /// JPEG/JFIF/Exif.
    Jpeg,
    /// GIF87a/GIF89a, possibly animated.
    Gif,
    /// WebP, lossy, lossless or extended (animated).
    Webp,
    /// Windows bitmap.
    Bmp,
    /// Windows icon, with BMP or PNG entries.
    Ico,
}

impl ImageType {
    /// Every type, in code order.
    pub const ALL: [ImageType; 6] = [
        ImageType::Png,
        ImageType::Jpeg,
        ImageType::Gif,
        ImageType::Webp,
        ImageType::Bmp,
        ImageType::Ico,
    ];

    /// Canonical lowercase file extension, without the dot.
    pub fn ext(self) -> &'static str {
        match self {
            ImageType::Png => "png",
            ImageType::Jpeg => "jpg",
            ImageType::Gif => "gif",
            ImageType::Webp => "webp",
            ImageType::Bmp => "bmp",
            ImageType::Ico => "ico",
        }
    }

    /// MIME type to serve the image with.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::Gif => "image/gif",
            ImageType::Webp => "image/webp",
            ImageType::Bmp => "image/bmp",
            ImageType::Ico => "image/x-icon",
        }
    }

    /// Short human name of the format ("jpeg", not "jpg"), as used in
    /// [`MediaError::NotAllowed`].
    pub fn name(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpeg",
            other => other.ext(),
        }
    }

    /// The type whose canonical extension is exactly `ext` (lowercase, no dot);
    /// "jpeg" or "JPG" give `None`. Meant for parsing stored names back.
    pub fn from_ext(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.ext() == ext)
    }

    /// Lenient parse for configuration allow-lists: a name, extension or MIME
    /// type ("png", "JPEG", "jpg", "image/png", "image/x-icon"), ignoring case
    /// and surrounding whitespace.
    pub fn parse_name(name: &str) -> Option<Self> {
        let lower = name.trim().to_ascii_lowercase();
        let bare = lower.strip_prefix("image/").unwrap_or(&lower);
        match bare {
            "png" => Some(ImageType::Png),
            "jpeg" | "jpg" | "pjpeg" => Some(ImageType::Jpeg),
            "gif" => Some(ImageType::Gif),
            "webp" => Some(ImageType::Webp),
            "bmp" | "x-bmp" | "x-ms-bmp" => Some(ImageType::Bmp),
            "ico" | "x-icon" | "vnd.microsoft.icon" => Some(ImageType::Ico),
            _ => None,
        }
    }

    /// Stable numeric code for storage: png=1, jpeg=2, gif=3, webp=4, bmp=5,
    /// ico=6. Never renumber these.
    pub fn code(self) -> u8 {
        match self {
            ImageType::Png => 1,
            ImageType::Jpeg => 2,
            ImageType::Gif => 3,
            ImageType::Webp => 4,
            ImageType::Bmp => 5,
            ImageType::Ico => 6,
        }
    }

    /// Inverse of [`ImageType::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

impl fmt::Display for ImageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an accepted upload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MediaInfo {
    /// Type detected from the bytes.
    pub kind: ImageType,
    /// Width in pixels (≥ 1). For GIF the logical screen, for WebP the canvas,
    /// for ICO the largest entry.
    pub width: u32,
    /// Height in pixels (≥ 1).
    pub height: u32,
    /// Where data after the image begins, when the upload carries more than
    /// the image: the bytes after a JPEG's end-of-image marker (a motion
    /// photo's video, a vendor trailer). They are cut off before storing
    /// (`strip::rewrite`). `None` when the image runs to the end of the upload.
    pub trailer_at: Option<u64>,
}

/// Why an upload was refused. Messages are short and safe to show to the
/// uploader (no paths, no internals).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The upload has no bytes at all.
    #[error("the upload is empty")]
    Empty,
    /// Not an image, or an image type this server does not allow. `detected`
    /// names what the bytes look like ("html", "svg", "pdf", "zip", "tiff",
    /// "jpeg", ..., or "unknown").
    #[error("file type not allowed (detected: {detected})")]
    NotAllowed {
        /// What the bytes look like.
        detected: &'static str,
    },
    /// A real image format pixbin cannot validate or serve (HEIC/HEIF/AVIF).
    #[error("{detected} images are not supported; {hint}")]
    Unsupported {
        /// The format ("heic", "heif", "avif").
        detected: &'static str,
        /// What the uploader can do about it.
        hint: &'static str,
    },
    /// The bytes claim a supported type but the structure is broken or cut short.
    #[error("invalid image: {0}")]
    Corrupt(&'static str),
    /// The header declares more pixels than the configured limit.
    #[error("image is too large: {width}x{height} exceeds the limit of {limit} pixels")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The configured `max_pixels`.
        limit: u64,
    },
}

impl MediaError {
    /// Machine-readable error code for API responses.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Empty => "invalid_request",
            MediaError::NotAllowed { .. } | MediaError::Unsupported { .. } => "type_not_allowed",
            MediaError::Corrupt(_) => "invalid_image",
            MediaError::TooManyPixels { .. } => "image_too_large",
        }
    }
}

/// What the inspector accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Image types accepted; anything else is [`MediaError::NotAllowed`].
    pub allowed: Vec<ImageType>,
    /// Largest accepted `width * height`.
    pub max_pixels: u64,
    /// Upper bound on the header region: the sniffing head buffer never grows
    /// past it, and each format's header (up to the first JPEG scan, the ICO
    /// directory, ...) must end within this many bytes of the start.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            allowed: ImageType::ALL.to_vec(),
            max_pixels: 100_000_000,
            max_head: 512 * 1024,
        }
    }
}

/// Streaming inspector: feed it the upload chunk by chunk with
/// [`update`](Inspector::update), then call [`finish`](Inspector::finish).
///
/// Memory use is bounded: at most `min(max_head, 1 KiB)` bytes of head for
/// sniffing, the last [`TAIL_LEN`] bytes, and small per-format state (for ICO,
/// 16 bytes per directory entry; the directory itself must fit in `max_head`).
pub struct Inspector {
    /// Bitmask of allowed types, bit `code()`.
    allowed: u8,
    ctx: Ctx,
    head: Vec<u8>,
    head_cap: usize,
    tail: [u8; TAIL_LEN],
    total: u64,
    stage: Stage,
    /// Once `update` fails, every later call reports the same error.
    failed: Option<MediaError>,
}

enum Stage {
    /// Type not known yet; every byte so far is in `head`.
    Sniffing,
    /// Type known; the walker has seen every byte so far.
    Walking {
        kind: ImageType,
        walker: Walker,
        cursor: Cursor,
    },
}

impl Inspector {
    /// A fresh inspector for one upload.
    pub fn new(limits: &Limits) -> Self {
        let allowed = limits
            .allowed
            .iter()
            .fold(0u8, |mask, t| mask | (1 << t.code()));
        let head_cap = limits.max_head.min(sniff::WINDOW);
        Inspector {
            allowed,
            ctx: Ctx {
                max_pixels: limits.max_pixels,
                max_head: limits.max_head as u64,
            },
            head: Vec::with_capacity(head_cap),
            head_cap,
            tail: [0; TAIL_LEN],
            total: 0,
            stage: Stage::Sniffing,
            failed: None,
        }
    }

    /// Feed the next chunk of the upload.
    ///
    /// Fails as soon as the bytes seen so far prove the upload unacceptable:
    /// a disallowed type after its magic bytes (a few bytes in; markup may take
    /// up to 1 KiB to name), an oversized image as soon as its header has been
    /// read, broken structure as soon as it is reached. After an error the
    /// upload should be abandoned; further calls repeat the same error.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.update_inner(chunk);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// Every byte has been fed: validate the end of the file and report the
    /// type and dimensions.
    pub fn finish(mut self) -> Result<MediaInfo, MediaError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        if self.total == 0 {
            return Err(MediaError::Empty);
        }
        if matches!(self.stage, Stage::Sniffing) {
            // Nothing decided the type yet, so every byte is still in `head`.
            self.decide(true, &[])?;
        }
        let tail_len = (self.total as usize).min(TAIL_LEN);
        let Stage::Walking {
            kind,
            walker,
            cursor,
        } = &self.stage
        else {
            // `decide(true, ..)` always leaves Sniffing or fails.
            return Err(MediaError::NotAllowed {
                detected: "unknown",
            });
        };
        let end = EndState {
            total: self.total,
            tail: &self.tail[TAIL_LEN - tail_len..],
            at_end: cursor.at_end(),
            in_body: cursor.in_body(),
        };
        let (width, height) = walker.finish(&end)?;
        // Belt and braces: whatever the format code decided, an accepted image
        // is never empty and never over the pixel limit.
        walk::check_dims(width, height, &self.ctx)?;
        Ok(MediaInfo {
            kind: *kind,
            width,
            height,
            trailer_at: walker.end_of_image().filter(|&end| end < self.total),
        })
    }

    /// Bytes currently held in the head buffer (never more than `max_head`).
    pub fn head_len(&self) -> usize {
        self.head.len()
    }

    /// Total bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.total
    }

    /// The detected type, once the magic bytes have been seen and allowed.
    pub fn kind(&self) -> Option<ImageType> {
        match &self.stage {
            Stage::Walking { kind, .. } => Some(*kind),
            Stage::Sniffing => None,
        }
    }

    fn update_inner(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let room = self.head_cap.saturating_sub(self.head.len());
        let (into_head, rest) = chunk.split_at(room.min(chunk.len()));
        if matches!(self.stage, Stage::Sniffing) {
            self.head.extend_from_slice(into_head);
        }
        self.total += chunk.len() as u64;
        self.push_tail(chunk);

        match &mut self.stage {
            Stage::Walking { walker, cursor, .. } => cursor.feed(walker, chunk, &self.ctx)?,
            Stage::Sniffing => {
                // Sniffing stops at the latest when the head is full, so before
                // this chunk every byte was in `head`; now the stream so far is
                // `head` followed by `rest`.
                let complete = self.head.len() >= self.head_cap;
                self.decide(complete, rest)?;
            }
        }

        Ok(())
    }

    /// Try to name the upload from `head`; on an allowed image type, switch to
    /// walking and replay `head` + `rest` through the format walker.
    fn decide(&mut self, complete: bool, rest: &[u8]) -> Result<(), MediaError> {
        let kind = match sniff::sniff(&self.head, complete) {
            Sniff::More => return Ok(()),
            Sniff::Other(detected) => return Err(MediaError::NotAllowed { detected }),
            Sniff::Unsupported(detected) => {
                return Err(MediaError::Unsupported {
                    detected,
                    hint: CONVERT_HINT,
                });
            }
            Sniff::Image(kind) => kind,
        };
        if self.allowed & (1 << kind.code()) == 0 {
            return Err(MediaError::NotAllowed {
                detected: kind.name(),
            });
        }
        let (mut walker, need) = Walker::start(kind);
        let mut cursor = Cursor::new(need);
        cursor.feed(&mut walker, &self.head, &self.ctx)?;
        cursor.feed(&mut walker, rest, &self.ctx)?;
        self.stage = Stage::Walking {
            kind,
            walker,
            cursor,
        };
        Ok(())
    }

    fn push_tail(&mut self, chunk: &[u8]) {
        if chunk.len() >= TAIL_LEN {
            self.tail.copy_from_slice(&chunk[chunk.len() - TAIL_LEN..]);
        } else {
            self.tail.copy_within(chunk.len().., 0);
            self.tail[TAIL_LEN - chunk.len()..].copy_from_slice(chunk);
        }
    }
}

/// Inspect a whole buffer at once (tests, imports): [`Inspector::new`], one
/// [`Inspector::update`], [`Inspector::finish`].
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<MediaInfo, MediaError> {
    let mut inspector = Inspector::new(limits);
    inspector.update(bytes)?;
    inspector.finish()
}

#[cfg(test)]
pub(crate) mod tests;
