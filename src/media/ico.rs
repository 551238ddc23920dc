//! ICO walker: the icon directory, then the start of every image it lists.
//!
//! References are to Microsoft's "Icons" documentation (ICONDIR and
//! ICONDIRENTRY; since Vista an entry may hold a PNG instead of a BMP without
//! its file header). Entries are visited in offset order as the bytes stream
//! past; an embedded PNG's own IHDR size is what decoders use, so that is
//! what is checked against the pixel limit.

use super::MediaError;
use super::bmp::is_dib_header_size;
use super::png::SIGNATURE as PNG_SIGNATURE;
use super::walk::{
    Ctx, EndState, HEADER_TOO_LARGE, MAX_TRAILING, Need, be32, check_dims, le16, le32,
};

/// Enough of an entry's data to tell PNG (signature + IHDR size) from BMP.
const PROBE: u32 = 24;

#[derive(Clone, Copy, Debug)]
struct Entry {
    offset: u32,
    size: u32,
    width: u32,
    height: u32,
}

impl Entry {
    fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    fn probe_len(&self) -> usize {
        self.size.min(PROBE) as usize
    }
}

#[derive(Default, Clone, Copy)]
enum State {
    #[default]
    Dir,
    Entry,
    /// Expecting the first bytes of `entries[.0]`.
    Probe(usize),
}

#[derive(Default)]
pub(super) struct Ico {
    state: State,
    count: usize,
    dir_end: u64,
    /// Sorted by offset once the directory is complete.
    entries: Vec<Entry>,
    dir_done: bool,
}

impl Ico {
    /// ICONDIR: reserved (0), type (1 = icon), image count.
    pub const START: Need = Need::read(6);

    pub fn on_record(&mut self, rec: &[u8], ctx: &Ctx) -> Result<Need, MediaError> {
        match self.state {
            State::Dir => {
                if le16(rec, 0) != 0 || le16(rec, 2) != 1 {
                    return Err(MediaError::Corrupt("bad ICO signature"));
                }
                self.count = usize::from(le16(rec, 4));
                if self.count == 0 {
                    return Err(MediaError::Corrupt("ICO contains no image"));
                }
                // The directory is the header and must fit in max_head; this
                // also bounds the memory `entries` takes.
                self.dir_end = 6 + 16 * self.count as u64;
                if self.dir_end > ctx.max_head {
                    return Err(MediaError::Corrupt(HEADER_TOO_LARGE));
                }
                self.entries.reserve_exact(self.count);
                self.state = State::Entry;
                Ok(Need::read(16))
            }
            State::Entry => {
                // ICONDIRENTRY: width, height (0 means 256), colour count,
                // reserved, planes, bit count, bytes in resource, offset.
                let side = |b: u8| if b == 0 { 256 } else { u32::from(b) };
                let entry = Entry {
                    width: side(rec[0]),
                    height: side(rec[1]),
                    size: le32(rec, 8),
                    offset: le32(rec, 12),
                };
                if entry.size < 4 || u64::from(entry.offset) < self.dir_end {
                    return Err(MediaError::Corrupt("ICO directory entry is invalid"));
                }
                self.entries.push(entry);
                if self.entries.len() < self.count {
                    return Ok(Need::read(16));
                }
                self.close_directory(ctx)
            }
            State::Probe(i) => {
                self.probe(i, rec, ctx)?;
                let here = &self.entries[i];
                let rest = u64::from(here.size) - rec.len() as u64;
                let Some(next) = self.entries.get(i + 1) else {
                    return Ok(Need::end(rest, MAX_TRAILING));
                };
                let gap = u64::from(next.offset) - (u64::from(here.offset) + u64::from(here.size));
                let len = next.probe_len();
                self.state = State::Probe(i + 1);
                Ok(Need::skip_read(rest + gap, len))
            }
        }
    }

    /// Sort the entries so they can be visited in one forward pass; entries
    /// may share identical data but must not otherwise overlap.
    fn close_directory(&mut self, ctx: &Ctx) -> Result<Need, MediaError> {
        self.entries.sort_by_key(|e| (e.offset, e.size));
        self.entries.dedup_by(|later, kept| {
            let same = (later.offset, later.size) == (kept.offset, kept.size);
            if same && later.area() > kept.area() {
                (kept.width, kept.height) = (later.width, later.height);
            }
            same
        });
        for pair in self.entries.windows(2) {
            if u64::from(pair[0].offset) + u64::from(pair[0].size) > u64::from(pair[1].offset) {
                return Err(MediaError::Corrupt("ICO images overlap"));
            }
        }
        let (width, height) = self.largest();
        check_dims(width, height, ctx)?;
        self.dir_done = true;
        let first = self.entries[0];
        self.state = State::Probe(0);
        Ok(Need::skip_read(
            u64::from(first.offset) - self.dir_end,
            first.probe_len(),
        ))
    }

    /// Identify the data of `entries[i]` from its first bytes.
    fn probe(&mut self, i: usize, rec: &[u8], ctx: &Ctx) -> Result<(), MediaError> {
        if rec.starts_with(&PNG_SIGNATURE) {
            // PNG §5.2 signature, then the IHDR chunk header and size.
            if rec.len() < PROBE as usize || &rec[12..16] != b"IHDR" {
                return Err(MediaError::Corrupt("ICO contains a broken PNG"));
            }
            let (width, height) = (be32(rec, 16), be32(rec, 20));
            check_dims(width, height, ctx)?;
            (self.entries[i].width, self.entries[i].height) = (width, height);
        } else if !is_dib_header_size(le32(rec, 0)) {
            // Without a PNG signature the data must be a DIB (BITMAPINFOHEADER).
            return Err(MediaError::Corrupt("ICO image is neither BMP nor PNG"));
        }
        Ok(())
    }

    fn largest(&self) -> (u32, u32) {
        let mut best = (0, 0);
        for e in &self.entries {
            if e.area() > u64::from(best.0) * u64::from(best.1) {
                best = (e.width, e.height);
            }
        }
        best
    }

    pub fn header_done(&self) -> bool {
        self.dir_done
    }

    pub fn finish(&self, end: &EndState<'_>) -> Result<(u32, u32), MediaError> {
        if !end.at_end {
            return Err(MediaError::Corrupt("ICO is truncated"));
        }
        Ok(self.largest())
    }
}
