//! JPEG walker: marker segments up to the first scan, the frame header's size,
//! and an end-of-image marker near the end of the file.
//!
//! References are to ITU-T T.81 (ISO/IEC 10918-1), Annex B. Segments are
//! skipped by their length field, so an Exif thumbnail inside APP1 (a whole
//! JPEG with its own SOF) is never mistaken for the real frame header.

use super::MediaError;
use super::walk::{Ctx, EndState, Need, be16, check_dims};

#[derive(Default, Clone, Copy)]
enum State {
    #[default]
    Soi,
    /// Expecting the 0xFF that starts a marker.
    Marker,
    /// Expecting the marker code (or more 0xFF fill bytes).
    Code,
    /// Expecting the 2-byte length of the segment for marker `.0`.
    Length(u8),
    /// Expecting P, Y, X, Nf of a frame header of length `.0`.
    Frame(u16),
}

#[derive(Default)]
pub(super) struct Jpeg {
    state: State,
    dims: Option<(u32, u32)>,
    /// Offset where the first scan's entropy-coded data begins.
    scan_start: Option<u64>,
}

/// T.81 Table B.1: SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
fn is_sof(code: u8) -> bool {
    matches!(code, 0xc0..=0xcf) && !matches!(code, 0xc4 | 0xc8 | 0xcc)
}

impl Jpeg {
    pub const START: Need = Need::read(2);

    pub fn on_record(&mut self, rec: &[u8], at: u64, ctx: &Ctx) -> Result<Need, MediaError> {
        match self.state {
            State::Soi => {
                if rec != [0xff, 0xd8] {
                    return Err(MediaError::Corrupt("JPEG does not start with SOI"));
                }
                self.state = State::Marker;
                Ok(Need::read(1))
            }
            State::Marker => {
                if rec[0] != 0xff {
                    return Err(MediaError::Corrupt("JPEG marker expected"));
                }
                self.state = State::Code;
                Ok(Need::read(1))
            }
            State::Code => self.code(rec[0]),
            State::Length(code) => self.length(code, be16(rec, 0), at),
            State::Frame(len) => {
                // §B.2.2 frame header: P, Y (lines), X (samples per line), Nf,
                // then Nf component specs of 3 bytes each.
                let height = be16(rec, 1);
                let width = be16(rec, 3);
                let components = u16::from(rec[5]);
                if components == 0 || len != 8 + 3 * components {
                    return Err(MediaError::Corrupt("JPEG frame header is inconsistent"));
                }
                // Y = 0 would defer the height to a DNL marker (§B.2.5), which
                // browsers do not support; check_dims refuses it.
                check_dims(u32::from(width), u32::from(height), ctx)?;
                self.dims = Some((u32::from(width), u32::from(height)));
                self.state = State::Marker;
                Ok(Need::skip_read(u64::from(len) - 8, 1))
            }
        }
    }

    fn code(&mut self, code: u8) -> Result<Need, MediaError> {
        match code {
            // §B.1.1.2: any marker may be preceded by 0xFF fill bytes.
            0xff => Ok(Need::read(1)),
            // Table B.1: TEM and RSTn stand alone, without a length.
            0x01 | 0xd0..=0xd7 => {
                self.state = State::Marker;
                Ok(Need::read(1))
            }
            0xd8 => Err(MediaError::Corrupt("JPEG has a second SOI marker")),
            0xd9 => Err(MediaError::Corrupt("JPEG ends before its image data")),
            0xc0..=0xfe => {
                self.state = State::Length(code);
                Ok(Need::read(2))
            }
            // 0x00 and the reserved 0x02..=0xBF (Table B.1).
            _ => Err(MediaError::Corrupt("JPEG has an invalid marker")),
        }
    }

    /// §B.1.1.4: the length counts itself but not the marker.
    fn length(&mut self, code: u8, len: u16, at: u64) -> Result<Need, MediaError> {
        if len < 2 {
            return Err(MediaError::Corrupt("JPEG segment length is invalid"));
        }
        if is_sof(code) {
            if self.dims.is_some() {
                return Err(MediaError::Corrupt("JPEG has more than one frame header"));
            }
            if len < 8 {
                return Err(MediaError::Corrupt("JPEG frame header is inconsistent"));
            }
            self.state = State::Frame(len);
            return Ok(Need::read(6));
        }
        if code == 0xda {
            // §B.2.1: the frame header precedes the first scan.
            if self.dims.is_none() {
                return Err(MediaError::Corrupt(
                    "JPEG scan comes before its frame header",
                ));
            }
            self.scan_start = Some(at + u64::from(len));
            return Ok(Need::body(u64::from(len) - 2));
        }
        self.state = State::Marker;
        Ok(Need::skip_read(u64::from(len) - 2, 1))
    }

    pub fn header_done(&self) -> bool {
        self.scan_start.is_some()
    }

    /// EOI (FF D9) must lie in the last `TAIL_LEN` bytes and after the start
    /// of the scan data; a few bytes of encoder padding may follow it.
    pub fn finish(&self, end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        let (Some(dims), Some(scan_start), true) = (self.dims, self.scan_start, end.in_body) else {
            return Err(MediaError::Corrupt(
                "JPEG is truncated before its image data",
            ));
        };
        let tail_start = end.total - end.tail.len() as u64;
        let has_eoi = end
            .tail
            .windows(2)
            .enumerate()
            .any(|(i, w)| w == [0xff, 0xd9] && tail_start + i as u64 >= scan_start);
        if !has_eoi {
            return Err(MediaError::Corrupt(
                "JPEG is truncated (no end-of-image marker)",
            ));
        }
        Ok(dims)
    }
}
