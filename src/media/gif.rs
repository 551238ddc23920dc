//! GIF walker: header, logical screen, then every block up to the trailer.
//!
//! References are to the GIF89a specification (W3C/CompuServe, 1990), whose
//! block structure GIF87a shares. Walking the blocks finds the real trailer
//! (§27) rather than trusting the last byte, and sees every image descriptor,
//! so a frame far larger than the logical screen cannot slip past the pixel
//! limit.

use super::MediaError;
use super::walk::{Ctx, EndState, MAX_TRAILING, Need, check_dims, le16};

#[derive(Default, Clone, Copy)]
enum State {
    #[default]
    Header,
    /// Expecting a block introducer: extension, image descriptor or trailer.
    Block,
    ExtensionLabel,
    /// Expecting a data sub-block size byte (§15); 0 ends the sequence.
    SubBlock,
    ImageDescriptor,
    LzwCodeSize,
}

#[derive(Default)]
pub(super) struct Gif {
    state: State,
    dims: Option<(u32, u32)>,
    frames: u32,
    /// Stray bytes skipped between blocks so far.
    stray: u64,
}

/// §18/§20: colour table size from a packed field (flag bit 7, size in bits 0-2).
fn color_table_len(packed: u8) -> u64 {
    if packed & 0x80 != 0 {
        3 << ((packed & 7) + 1)
    } else {
        0
    }
}

impl Gif {
    /// §17 header (6) and §18 logical screen descriptor (7).
    pub const START: Need = Need::read(13);

    pub fn on_record(&mut self, rec: &[u8], ctx: &Ctx) -> Result<Need, MediaError> {
        match self.state {
            State::Header => {
                if &rec[..6] != b"GIF87a" && &rec[..6] != b"GIF89a" {
                    return Err(MediaError::Corrupt("bad GIF signature"));
                }
                let (width, height) = (u32::from(le16(rec, 6)), u32::from(le16(rec, 8)));
                check_dims(width, height, ctx)?;
                self.dims = Some((width, height));
                self.state = State::Block;
                Ok(Need::skip_read(color_table_len(rec[10]), 1))
            }
            State::Block => match rec[0] {
                0x21 => {
                    self.state = State::ExtensionLabel;
                    Ok(Need::read(1))
                }
                0x2c => {
                    self.state = State::ImageDescriptor;
                    Ok(Need::read(9))
                }
                0x3b => {
                    if self.frames == 0 {
                        return Err(MediaError::Corrupt("GIF contains no image"));
                    }
                    Ok(Need::end(0, MAX_TRAILING))
                }
                // GIF89a §2 calls extraneous data between blocks invalid, but
                // GIF87a-era decoders skip stray bytes up to the next
                // introducer and some tools still emit them (polyglot.gif has
                // eight). Allow a few; nothing useful can hide in 32 bytes.
                _ if self.stray < MAX_TRAILING => {
                    self.stray += 1;
                    Ok(Need::read(1))
                }
                _ => Err(MediaError::Corrupt("GIF has an invalid block")),
            },
            State::ExtensionLabel => {
                // Every extension (§23-§26, and unknown ones) is a label
                // followed by data sub-blocks, so one path skips them all.
                self.state = State::SubBlock;
                Ok(Need::read(1))
            }
            State::SubBlock => {
                let size = rec[0];
                if size == 0 {
                    self.state = State::Block;
                    Ok(Need::read(1))
                } else {
                    Ok(Need::skip_read(u64::from(size), 1))
                }
            }
            State::ImageDescriptor => {
                // §20: left, top, width, height (u16 LE each), packed field.
                let right = u32::from(le16(rec, 0)) + u32::from(le16(rec, 4));
                let bottom = u32::from(le16(rec, 2)) + u32::from(le16(rec, 6));
                // Some decoders grow the canvas to fit an oversized first
                // frame, so the frame's extent counts against the limit too.
                if u64::from(right) * u64::from(bottom) > ctx.max_pixels {
                    return Err(MediaError::TooManyPixels {
                        width: right,
                        height: bottom,
                        limit: ctx.max_pixels,
                    });
                }
                self.frames = self.frames.saturating_add(1);
                self.state = State::LzwCodeSize;
                Ok(Need::skip_read(color_table_len(rec[8]), 1))
            }
            State::LzwCodeSize => {
                // §22: codes are at most 12 bits, so the initial size is < 12.
                if rec[0] > 11 {
                    return Err(MediaError::Corrupt("GIF image data is invalid"));
                }
                self.state = State::SubBlock;
                Ok(Need::read(1))
            }
        }
    }

    pub fn header_done(&self) -> bool {
        self.dims.is_some()
    }

    pub fn finish(&self, end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        match self.dims {
            Some(dims) if end.at_end => Ok(dims),
            _ => Err(MediaError::Corrupt("GIF is truncated (no trailer)")),
        }
    }
}
