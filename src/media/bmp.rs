//! BMP walker: file header, DIB header, and size consistency with the upload.
//!
//! References are to Microsoft's "Bitmap Storage" documentation
//! (BITMAPFILEHEADER, BITMAPCOREHEADER, BITMAPINFOHEADER and its V4/V5
//! successors). The pixel array itself is opaque.

use super::MediaError;
use super::walk::{Ctx, EndState, MAX_TRAILING, Need, check_dims, le16, le32};

/// DIB header sizes browsers decode: CORE (12), INFO (40), Adobe's V2/V3
/// INFO extensions (52, 56), V4 (108), V5 (124).
pub(super) fn is_dib_header_size(size: u32) -> bool {
    matches!(size, 12 | 40 | 52 | 56 | 108 | 124)
}

#[derive(Default, Clone, Copy)]
enum State {
    #[default]
    FileHeader,
    /// Expecting the DIB fields after the size; `.0` is the header size.
    Dib(u32),
}

#[derive(Default)]
pub(super) struct Bmp {
    state: State,
    file_size: u64,
    data_offset: u64,
    dims: Option<(u32, u32)>,
    /// End of the pixel array, when it is uncompressed and so computable.
    pixel_end: Option<u64>,
}

impl Bmp {
    /// BITMAPFILEHEADER (14 bytes) plus the DIB header's size field.
    pub const START: Need = Need::read(18);

    pub fn on_record(&mut self, rec: &[u8], ctx: &Ctx) -> Result<Need, MediaError> {
        match self.state {
            State::FileHeader => {
                if &rec[..2] != b"BM" {
                    return Err(MediaError::Corrupt("bad BMP signature"));
                }
                // bfSize at 2, bfReserved1/2 at 6, bfOffBits at 10.
                self.file_size = u64::from(le32(rec, 2));
                self.data_offset = u64::from(le32(rec, 10));
                let dib = le32(rec, 14);
                if !is_dib_header_size(dib) {
                    return Err(MediaError::Corrupt("BMP header type is not supported"));
                }
                if self.data_offset < 14 + u64::from(dib) || self.file_size < self.data_offset {
                    return Err(MediaError::Corrupt("BMP header fields are inconsistent"));
                }
                self.state = State::Dib(dib);
                // CORE: width, height, planes, bpp as u16. INFO and later:
                // width, height as i32, planes, bpp as u16, compression u32.
                Ok(Need::read(if dib == 12 { 8 } else { 16 }))
            }
            State::Dib(dib) => {
                self.dib(dib, rec, ctx)?;
                Ok(Need::body(0))
            }
        }
    }

    fn dib(&mut self, dib: u32, rec: &[u8], ctx: &Ctx) -> Result<(), MediaError> {
        let (width, height, planes, bpp, compression) = if dib == 12 {
            let (w, h) = (i32::from(le16(rec, 0)), i32::from(le16(rec, 2)));
            (w, h, le16(rec, 4), le16(rec, 6), 0)
        } else {
            let (w, h) = (le32(rec, 0) as i32, le32(rec, 4) as i32);
            (w, h, le16(rec, 8), le16(rec, 10), le32(rec, 12))
        };
        // biHeight < 0 means a top-down bitmap; biWidth must be positive.
        if width < 0 || planes != 1 {
            return Err(MediaError::Corrupt("BMP header fields are inconsistent"));
        }
        let (width, top_down) = (width.unsigned_abs(), height < 0);
        let height = height.unsigned_abs();
        // biCompression: BI_RGB 0, BI_RLE8 1, BI_RLE4 2, BI_BITFIELDS 3,
        // BI_ALPHABITFIELDS 6. RLE bitmaps cannot be top-down. BI_JPEG and
        // BI_PNG (4, 5) are for printers; browsers do not show them.
        let supported = match (compression, bpp) {
            (0, 1 | 4 | 8 | 24) => true,
            (0, 16 | 32) => dib != 12,
            (1, 8) | (2, 4) => !top_down,
            (3 | 6, 16 | 32) => dib != 12,
            _ => false,
        };
        if !supported {
            return Err(MediaError::Corrupt(
                "BMP compression or bit depth is not supported",
            ));
        }
        check_dims(width, height, ctx)?;
        if matches!(compression, 0 | 3 | 6) {
            // Rows are padded to 4 bytes.
            let stride = (u64::from(width) * u64::from(bpp)).div_ceil(32) * 4;
            self.pixel_end = stride
                .checked_mul(u64::from(height))
                .and_then(|n| n.checked_add(self.data_offset));
            if self.pixel_end.is_none() {
                return Err(MediaError::Corrupt("BMP is too large"));
            }
        }
        self.dims = Some((width, height));
        Ok(())
    }

    pub fn header_done(&self) -> bool {
        self.dims.is_some()
    }

    /// bfSize must not exceed the upload and may fall short of it only by a
    /// little padding; uncompressed pixel data must be complete.
    pub fn finish(&self, end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        let Some(dims) = self.dims.filter(|_| end.in_body) else {
            return Err(MediaError::Corrupt("BMP is truncated"));
        };
        if self.file_size > end.total
            || self.data_offset >= end.total
            || self.pixel_end.is_some_and(|e| e > end.total)
        {
            return Err(MediaError::Corrupt("BMP is truncated"));
        }
        if end.total - self.file_size > MAX_TRAILING {
            return Err(MediaError::Corrupt(
                "BMP file size field does not match the upload",
            ));
        }
        Ok(dims)
    }
}
