//! JPEG walker: marker segments, the frame header's size, the entropy-coded
//! scans (searched for the markers that end them) and the end-of-image marker.
//!
//! The image ends at its first EOI. Phones append data after it (a motion
//! photo's video, vendor trailers): that trailer is reported through
//! `end_of_image` and never stored (see `strip::rewrite`), so a JPEG with a
//! ZIP or a page behind it is accepted only as the JPEG.
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
    /// In entropy-coded data; `.0` when the last byte seen was 0xFF.
    Scan(bool),
    /// After EOI.
    Done,
}

#[derive(Default)]
pub(super) struct Jpeg {
    state: State,
    dims: Option<(u32, u32)>,
    /// A scan has begun (the header region is over).
    scanned: bool,
    /// Offset just past the EOI marker.
    eoi_end: Option<u64>,
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
            State::Code => self.code(rec[0], at),
            State::Length(code) => self.length(code, be16(rec, 0)),
            State::Scan(_) | State::Done => Err(MediaError::Corrupt("JPEG parser state")),
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

    /// A marker code read at offset `at`.
    fn code(&mut self, code: u8, at: u64) -> Result<Need, MediaError> {
        match code {
            // §B.1.1.2: any marker may be preceded by 0xFF fill bytes.
            0xff => Ok(Need::read(1)),
            // Table B.1: TEM and RSTn stand alone, without a length.
            0x01 | 0xd0..=0xd7 => {
                self.state = State::Marker;
                Ok(Need::read(1))
            }
            0xd8 => Err(MediaError::Corrupt("JPEG has a second SOI marker")),
            // EOI: right after scan data, or after a segment that followed
            // the last scan (a comment, say).
            0xd9 if self.scanned => Ok(self.end(at + 1)),
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
    fn length(&mut self, code: u8, len: u16) -> Result<Need, MediaError> {
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
            self.scanned = true;
            self.state = State::Scan(false);
            return Ok(Need::scan(u64::from(len) - 2));
        }
        self.state = State::Marker;
        Ok(Need::skip_read(u64::from(len) - 2, 1))
    }

    pub fn header_done(&self) -> bool {
        self.scanned
    }

    /// The image ends just after EOI at `end`; whatever follows is a trailer.
    fn end(&mut self, end: u64) -> Need {
        self.eoi_end = Some(end);
        self.state = State::Done;
        Need::end(0, u64::MAX)
    }

    /// Entropy-coded data (§B.1.1.5, §F.1.2.3): a 0xFF in it is followed by
    /// 0x00 (a stuffed byte), RSTn, more 0xFF fill, or a marker that ends the
    /// scan: EOI, or a segment (DHT, SOS, DRI, ... between progressive scans)
    /// read by the record walker. Finding 0xFF is a memchr, so this costs a
    /// small fraction of receiving the bytes.
    pub fn on_scan(&mut self, data: &[u8], at: u64) -> Result<(usize, Option<Need>), MediaError> {
        let State::Scan(mut ff) = self.state else {
            return Err(MediaError::Corrupt("JPEG parser state"));
        };
        let mut i = 0;
        loop {
            if !ff {
                match memchr::memchr(0xff, &data[i..]) {
                    Some(j) => {
                        i += j + 1;
                        ff = true;
                    }
                    None => {
                        self.state = State::Scan(false);
                        return Ok((data.len(), None));
                    }
                }
            }
            let Some(&b) = data.get(i) else {
                self.state = State::Scan(true);
                return Ok((i, None));
            };
            i += 1;
            match b {
                0xff => {}
                0x00 | 0xd0..=0xd7 => ff = false,
                // Not a marker that can follow scan data (TEM and reserved
                // codes): a stray 0xFF some encoders leave; decoders skip it.
                0x01..=0xbf => ff = false,
                // EOI or a segment marker, at offset at + i - 1.
                code => {
                    let next = self.code(code, at + i as u64 - 1)?;
                    return Ok((i, Some(next)));
                }
            }
        }
    }

    /// Where the image ends (just past its EOI), once known.
    pub fn end_of_image(&self) -> Option<u64> {
        self.eoi_end
    }

    /// The image must have its frame, a scan and an end-of-image marker.
    pub fn finish(&self, _end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        let (Some(dims), true) = (self.dims, self.scanned) else {
            return Err(MediaError::Corrupt(
                "JPEG is truncated before its image data",
            ));
        };
        if self.eoi_end.is_none() {
            return Err(MediaError::Corrupt(
                "JPEG is truncated (no end-of-image marker)",
            ));
        }
        Ok(dims)
    }
}
