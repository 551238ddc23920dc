//! WebP walker: RIFF header, every chunk, and the size of the image inside.
//!
//! References are to RFC 9649 (WebP Image Format) and, for the lossy
//! bitstream header, RFC 6386 §9.1. The chunks must tile the RIFF payload
//! exactly and the RIFF size must match the upload.

use super::MediaError;
use super::walk::{Ctx, EndState, Need, Then, check_dims, le16, le24, le32};

#[derive(Default, Clone, Copy)]
enum State {
    #[default]
    Riff,
    ChunkHeader,
    Vp8,
    Vp8l,
    Vp8x,
    Anmf,
}

#[derive(Default)]
pub(super) struct Webp {
    state: State,
    /// Offset just past the RIFF payload (8 + RIFF size).
    riff_end: u64,
    chunks: u32,
    /// Size of the whole file or, with VP8X, of the canvas.
    dims: Option<(u32, u32)>,
    extended: bool,
    animated: bool,
    saw_image: bool,
    /// What to do after the payload of the current chunk: bytes left in it
    /// (payload and pad) counted from its start, then the next step.
    after_payload: (u64, Then),
}

impl Webp {
    /// §2.5 RIFF header: "RIFF", file size (u32 LE), "WEBP".
    pub const START: Need = Need::read(12);

    pub fn on_record(&mut self, rec: &[u8], at: u64, ctx: &Ctx) -> Result<Need, MediaError> {
        match self.state {
            State::Riff => {
                if &rec[..4] != b"RIFF" || &rec[8..12] != b"WEBP" {
                    return Err(MediaError::Corrupt("bad WebP signature"));
                }
                let size = le32(rec, 4);
                if size < 4 + 8 {
                    return Err(MediaError::Corrupt("WebP RIFF size is too small"));
                }
                self.riff_end = 8 + u64::from(size);
                self.state = State::ChunkHeader;
                Ok(Need::read(8))
            }
            State::ChunkHeader => self.chunk_header(rec, at),
            State::Vp8 => {
                // RFC 6386 §9.1: 3-byte frame tag, start code 9D 01 2A, then
                // 14-bit width and height (top 2 bits are scaling).
                let tag = rec[0];
                if tag & 1 != 0 || rec[3..6] != [0x9d, 0x01, 0x2a] {
                    return Err(MediaError::Corrupt("WebP lossy header is invalid"));
                }
                let width = u32::from(le16(rec, 6) & 0x3fff);
                let height = u32::from(le16(rec, 8) & 0x3fff);
                self.image(width, height, ctx)?;
                Ok(self.rest_of_chunk(10))
            }
            State::Vp8l => {
                // RFC 9649 §3.2: signature 0x2F, then 14 bits width - 1,
                // 14 bits height - 1, 1 bit alpha, 3 bits version (must be 0).
                let bits = le32(rec, 1);
                if rec[0] != 0x2f || bits >> 29 != 0 {
                    return Err(MediaError::Corrupt("WebP lossless header is invalid"));
                }
                let width = (bits & 0x3fff) + 1;
                let height = ((bits >> 14) & 0x3fff) + 1;
                self.image(width, height, ctx)?;
                Ok(self.rest_of_chunk(5))
            }
            State::Vp8x => {
                // §2.7: flags byte (animation = 0x02), 3 reserved bytes, then
                // canvas width - 1 and height - 1 as 24-bit LE.
                self.animated = rec[0] & 0x02 != 0;
                let width = le24(rec, 4) + 1;
                let height = le24(rec, 7) + 1;
                check_dims(width, height, ctx)?;
                // §2.7: the canvas area must fit in 32 bits.
                if u64::from(width) * u64::from(height) > u64::from(u32::MAX) {
                    return Err(MediaError::Corrupt("WebP canvas is too large"));
                }
                self.dims = Some((width, height));
                Ok(self.rest_of_chunk(10))
            }
            State::Anmf => {
                // §2.7.1.1 ANMF: X/2, Y/2, width - 1, height - 1 (24-bit LE).
                let (cw, ch) = self.dims.unwrap_or((0, 0));
                let right = u64::from(le24(rec, 0)) * 2 + u64::from(le24(rec, 6)) + 1;
                let bottom = u64::from(le24(rec, 3)) * 2 + u64::from(le24(rec, 9)) + 1;
                if right > u64::from(cw) || bottom > u64::from(ch) {
                    return Err(MediaError::Corrupt(
                        "WebP animation frame lies outside the canvas",
                    ));
                }
                self.saw_image = true;
                Ok(self.rest_of_chunk(16))
            }
        }
    }

    /// §2.3 chunk header: FourCC, size (u32 LE); odd payloads get one pad byte.
    fn chunk_header(&mut self, rec: &[u8], at: u64) -> Result<Need, MediaError> {
        let fourcc: [u8; 4] = [rec[0], rec[1], rec[2], rec[3]];
        let size = u64::from(le32(rec, 4));
        let payload_end = at + 8 + size;
        if payload_end > self.riff_end {
            return Err(MediaError::Corrupt("WebP chunk runs past the RIFF size"));
        }
        let pad = size & 1;
        let next = payload_end + pad;
        self.after_payload = if next < self.riff_end {
            (size + pad, Then::Read(8))
        } else if next == self.riff_end {
            (size + pad, Then::End { slack: 0 })
        } else {
            // An odd RIFF size that leaves the last pad byte out: the pad may
            // or may not be present in the file.
            (size, Then::End { slack: 1 })
        };
        let first = self.chunks == 0;
        self.chunks = self.chunks.saturating_add(1);
        // Which payload header to read, and how many bytes of it.
        let (state, read) = match &fourcc {
            b"VP8 " | b"VP8L" => {
                // Simple format (§2.6) is one image chunk; extended still images
                // (§2.7) have exactly one; animations keep theirs inside ANMF.
                if !first && (!self.extended || self.animated || self.saw_image) {
                    return Err(MediaError::Corrupt("WebP has an unexpected image chunk"));
                }
                if &fourcc == b"VP8 " {
                    (State::Vp8, 10)
                } else {
                    (State::Vp8l, 5)
                }
            }
            b"VP8X" if first => {
                self.extended = true;
                (State::Vp8x, 10)
            }
            b"ANMF" if self.animated => (State::Anmf, 16),
            b"VP8X" | b"ANMF" => return Err(MediaError::Corrupt("WebP has a misplaced chunk")),
            _ if first => {
                return Err(MediaError::Corrupt(
                    "WebP does not start with an image chunk",
                ));
            }
            // ICCP, ANIM, ALPH, EXIF, XMP and unknown chunks (§2.7) are skipped.
            _ => return Ok(self.rest_of_chunk(0)),
        };
        if size < read as u64 {
            return Err(MediaError::Corrupt("WebP chunk is too short"));
        }
        self.state = state;
        Ok(Need::read(read))
    }

    /// Skip the rest of the current chunk after `consumed` payload bytes.
    fn rest_of_chunk(&mut self, consumed: u64) -> Need {
        self.state = State::ChunkHeader;
        let (left, then) = self.after_payload;
        Need {
            skip: left - consumed,
            then,
        }
    }

    /// The size of the VP8/VP8L bitstream: the file's size in the simple
    /// format, and it must equal the canvas in an extended still image.
    fn image(&mut self, width: u32, height: u32, ctx: &Ctx) -> Result<(), MediaError> {
        if self.extended {
            if self.dims != Some((width, height)) {
                return Err(MediaError::Corrupt("WebP image does not match its canvas"));
            }
        } else {
            check_dims(width, height, ctx)?;
            self.dims = Some((width, height));
        }
        self.saw_image = true;
        Ok(())
    }

    pub fn header_done(&self) -> bool {
        self.dims.is_some()
    }

    pub fn finish(&self, end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        if !end.at_end {
            return Err(MediaError::Corrupt(
                "WebP is truncated or its RIFF size is wrong",
            ));
        }
        match self.dims {
            Some(dims) if self.saw_image => Ok(dims),
            _ => Err(MediaError::Corrupt("WebP contains no image")),
        }
    }
}
