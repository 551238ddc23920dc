//! PNG walker: signature, IHDR, every chunk header, and a final IEND.
//!
//! References are to the W3C PNG Specification (Third Edition), whose chunk
//! rules match ISO/IEC 15948. Chunk CRCs are checked for IHDR and IEND only;
//! checking every chunk would not make a file safer to serve.

use super::MediaError;
use super::walk::{Ctx, EndState, Need, be32, check_dims};

/// §5.2 PNG signature.
pub(super) const SIGNATURE: [u8; 8] = *b"\x89PNG\r\n\x1a\n";

/// The last 12 bytes of every PNG: IEND with its fixed CRC (§11.2.5).
pub(super) const IEND_CHUNK: [u8; 12] = *b"\0\0\0\0IEND\xae\x42\x60\x82";

/// §5.3: chunk lengths are limited to 2^31 - 1, and so are the IHDR
/// width and height (§11.2.2).
const MAX_LEN: u32 = 0x7fff_ffff;

#[derive(Default, Clone, Copy)]
enum State {
    #[default]
    Signature,
    ChunkHeader,
    IhdrBody,
    IendCrc,
}

#[derive(Default)]
pub(super) struct Png {
    state: State,
    dims: Option<(u32, u32)>,
    color_type: u8,
    saw_plte: bool,
    saw_idat: bool,
    /// A non-IDAT chunk followed the IDATs, so no further IDAT may come.
    idat_closed: bool,
}

impl Png {
    pub const START: Need = Need::read(8);

    pub fn on_record(&mut self, rec: &[u8], ctx: &Ctx) -> Result<Need, MediaError> {
        match self.state {
            State::Signature => {
                if rec != SIGNATURE {
                    return Err(MediaError::Corrupt("bad PNG signature"));
                }
                self.state = State::ChunkHeader;
                Ok(Need::read(8))
            }
            State::ChunkHeader => self.chunk_header(rec),
            State::IhdrBody => {
                self.ihdr(rec, ctx)?;
                self.state = State::ChunkHeader;
                Ok(Need::read(8))
            }
            State::IendCrc => {
                if rec != &IEND_CHUNK[8..] {
                    return Err(MediaError::Corrupt("PNG IEND chunk is damaged"));
                }
                // The file must end exactly here.
                Ok(Need::end(0, 0))
            }
        }
    }

    /// §5.3 chunk layout: length (4), type (4), data, CRC (4).
    fn chunk_header(&mut self, rec: &[u8]) -> Result<Need, MediaError> {
        let len = be32(rec, 0);
        let kind: [u8; 4] = [rec[4], rec[5], rec[6], rec[7]];
        if len > MAX_LEN {
            return Err(MediaError::Corrupt("PNG chunk length is out of range"));
        }
        // §5.3: chunk types consist of ASCII letters only.
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(MediaError::Corrupt("PNG chunk type is invalid"));
        }
        if self.dims.is_none() {
            // §5.6: IHDR shall be first; §11.2.2: its data is 13 bytes.
            if &kind != b"IHDR" || len != 13 {
                return Err(MediaError::Corrupt("PNG does not start with an IHDR chunk"));
            }
            self.state = State::IhdrBody;
            return Ok(Need::read(17));
        }
        let is_idat = &kind == b"IDAT";
        if is_idat {
            // §5.6: multiple IDAT chunks shall be consecutive.
            if self.idat_closed {
                return Err(MediaError::Corrupt(
                    "PNG image data chunks are not consecutive",
                ));
            }
            // §11.2.3: PLTE is required before IDAT for colour type 3.
            if self.color_type == 3 && !self.saw_plte {
                return Err(MediaError::Corrupt("palette PNG has no PLTE chunk"));
            }
            self.saw_idat = true;
        } else if self.saw_idat {
            self.idat_closed = true;
        }
        match &kind {
            b"IHDR" => return Err(MediaError::Corrupt("PNG has more than one IHDR chunk")),
            b"PLTE" => {
                if self.saw_idat || self.saw_plte {
                    return Err(MediaError::Corrupt("PNG PLTE chunk is misplaced"));
                }
                self.saw_plte = true;
            }
            b"IEND" => {
                if len != 0 {
                    return Err(MediaError::Corrupt("PNG IEND chunk is not empty"));
                }
                if !self.saw_idat {
                    return Err(MediaError::Corrupt("PNG has no image data"));
                }
                self.state = State::IendCrc;
                return Ok(Need::read(4));
            }
            // §5.4: an uppercase first letter marks a critical chunk. Decoders
            // must refuse critical chunks they do not know, so browsers would.
            _ if kind[0].is_ascii_uppercase() && !is_idat => {
                return Err(MediaError::Corrupt("PNG has an unknown critical chunk"));
            }
            _ => {}
        }
        Ok(Need::skip_read(u64::from(len) + 4, 8))
    }

    /// §11.2.2 IHDR: width, height, bit depth, colour type, compression,
    /// filter and interlace method, then the chunk CRC.
    fn ihdr(&mut self, rec: &[u8], ctx: &Ctx) -> Result<(), MediaError> {
        let (width, height) = (be32(rec, 0), be32(rec, 4));
        let (depth, color_type) = (rec[8], rec[9]);
        if width > MAX_LEN || height > MAX_LEN {
            return Err(MediaError::Corrupt("PNG dimensions are out of range"));
        }
        // §11.2.2 Table 11.1: allowed bit depths per colour type.
        let depth_ok = match color_type {
            0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
            3 => matches!(depth, 1 | 2 | 4 | 8),
            2 | 4 | 6 => matches!(depth, 8 | 16),
            _ => false,
        };
        if !depth_ok || rec[10] != 0 || rec[11] != 0 || rec[12] > 1 {
            return Err(MediaError::Corrupt("PNG header has invalid fields"));
        }
        if crc32(&[b"IHDR", &rec[..13]]) != be32(rec, 13) {
            return Err(MediaError::Corrupt("PNG header checksum does not match"));
        }
        check_dims(width, height, ctx)?;
        self.dims = Some((width, height));
        self.color_type = color_type;
        Ok(())
    }

    pub fn header_done(&self) -> bool {
        self.dims.is_some()
    }

    pub fn finish(&self, end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        match self.dims {
            Some(dims) if end.at_end && end.tail.ends_with(&IEND_CHUNK) => Ok(dims),
            _ => Err(MediaError::Corrupt(
                "PNG is truncated (no IEND chunk at the end)",
            )),
        }
    }
}

/// CRC-32 as used by PNG (Annex D): reflected polynomial 0xEDB88320.
pub(super) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    0xedb8_8320 ^ (crc >> 1)
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}
