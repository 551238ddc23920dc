//! In-place EXIF (TIFF) editing: drops location and identifying tags while
//! keeping every other byte where it was, so no offset inside the block moves.
//!
//! References are to the TIFF 6.0 specification (§2 structure, §2 "IFD Entry"
//! field types) and CIPA DC-008 (Exif 2.32) for the tag numbers. A removed
//! entry is taken out of its directory (the remaining entries close up and the
//! freed slots are zeroed) and the bytes it pointed at are zeroed too, so a
//! forensic reader cannot recover a location from bytes that no tag references.

/// Why a tag is removed; the names are what the upload response reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// The GPS directory (latitude, longitude, altitude, time, ...).
    Gps,
    /// Camera body, lens or image serial numbers.
    Serial,
    /// The owner's or artist's name.
    Owner,
    /// Vendor maker notes (opaque; often carry serial numbers).
    MakerNote,
    /// Every other EXIF field (mode `all`).
    Exif,
    /// XMP packets.
    Xmp,
    /// IPTC / Photoshop resources (mode `all`).
    Iptc,
    /// JPEG comments and PNG text chunks (mode `all`).
    Comment,
    /// Data after a JPEG's end-of-image marker (a motion photo's video, a
    /// vendor trailer); removed in every mode, `none` included.
    Trailer,
}

impl Category {
    /// The name reported in `metadataStripped`.
    pub fn name(self) -> &'static str {
        match self {
            Category::Gps => "gps",
            Category::Serial => "serial",
            Category::Owner => "owner",
            Category::MakerNote => "makernote",
            Category::Exif => "exif",
            Category::Xmp => "xmp",
            Category::Iptc => "iptc",
            Category::Comment => "comment",
            Category::Trailer => "trailer",
        }
    }
}

/// The EXIF block is not a TIFF structure we can edit safely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Orientation (TIFF tag 274), kept in every mode so images stay upright.
pub const ORIENTATION: u16 = 0x0112;
/// Pointer to the Exif private IFD (Exif 2.32 §4.6.3).
const EXIF_IFD: u16 = 0x8769;
/// Pointer to the GPS IFD.
const GPS_IFD: u16 = 0x8825;
/// Pointer to the interoperability IFD (inside the Exif IFD).
const INTEROP_IFD: u16 = 0xa005;

/// Tags removed in `gps` mode besides the GPS directory, with their category.
const IDENTIFYING: &[(u16, Category)] = &[
    (0x013b, Category::Owner),     // Artist
    (0x9c9d, Category::Owner),     // XPAuthor (Windows)
    (0xa430, Category::Owner),     // CameraOwnerName
    (0xc62f, Category::Serial),    // CameraSerialNumber (DNG)
    (0xa431, Category::Serial),    // BodySerialNumber
    (0xa435, Category::Serial),    // LensSerialNumber
    (0xa420, Category::Serial),    // ImageUniqueID: links photos from one device
    (0x927c, Category::MakerNote), // MakerNote
];

/// Most directories followed in one block (IFD0, IFD1, Exif, GPS, Interop and
/// a little slack); a loop of pointers stops here.
const MAX_IFDS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

struct Tiff<'a> {
    b: &'a mut [u8],
    e: Endian,
}

/// One 12-byte directory entry (TIFF 6.0 §2).
#[derive(Clone, Copy)]
struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    value: u32,
    raw: [u8; 12],
}

/// TIFF 6.0 field type sizes; unknown types have no size we can trust.
fn type_size(typ: u16) -> Option<u64> {
    match typ {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 => Some(8),
        _ => None,
    }
}

impl Tiff<'_> {
    fn u16(&self, at: usize) -> Result<u16, Malformed> {
        let s = self.b.get(at..at + 2).ok_or(Malformed)?;
        Ok(match self.e {
            Endian::Little => u16::from_le_bytes([s[0], s[1]]),
            Endian::Big => u16::from_be_bytes([s[0], s[1]]),
        })
    }

    fn u32(&self, at: usize) -> Result<u32, Malformed> {
        let s = self.b.get(at..at + 4).ok_or(Malformed)?;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(match self.e {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        })
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        let bytes = match self.e {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        self.b[at..at + 2].copy_from_slice(&bytes);
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        let bytes = match self.e {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        self.b[at..at + 4].copy_from_slice(&bytes);
    }

    /// The entries of the directory at `at`, checked to lie inside the block.
    fn entries(&self, at: usize) -> Result<Vec<Entry>, Malformed> {
        let n = usize::from(self.u16(at)?);
        let end = at + 2 + 12 * n + 4;
        if end > self.b.len() {
            return Err(Malformed);
        }
        (0..n)
            .map(|i| {
                let p = at + 2 + 12 * i;
                let mut raw = [0u8; 12];
                raw.copy_from_slice(&self.b[p..p + 12]);
                Ok(Entry {
                    tag: self.u16(p)?,
                    typ: self.u16(p + 2)?,
                    count: self.u32(p + 4)?,
                    value: self.u32(p + 8)?,
                    raw,
                })
            })
            .collect()
    }

    /// Zeroes the out-of-line value of an entry (values of up to 4 bytes live
    /// inside the entry itself, §2).
    fn zero_value(&mut self, e: &Entry) {
        let Some(size) = type_size(e.typ).map(|s| s * u64::from(e.count)) else {
            return;
        };
        if size <= 4 {
            return;
        }
        let start = e.value as usize;
        let end = (start as u64 + size).min(self.b.len() as u64) as usize;
        if start < end {
            self.b[start..end].fill(0);
        }
    }

    /// Rewrites the directory at `at` keeping only the entries `keep` allows,
    /// in their order; the freed slots and the removed values are zeroed.
    fn filter(
        &mut self,
        at: usize,
        keep: impl Fn(&Entry) -> bool,
    ) -> Result<Vec<Entry>, Malformed> {
        let entries = self.entries(at)?;
        let n = entries.len();
        let next = self.u32(at + 2 + 12 * n)?;
        let (kept, removed): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| keep(e));
        if removed.is_empty() {
            return Ok(removed);
        }
        for e in &removed {
            self.zero_value(e);
        }
        self.put_u16(at, kept.len() as u16);
        for (i, e) in kept.iter().enumerate() {
            let p = at + 2 + 12 * i;
            self.b[p..p + 12].copy_from_slice(&e.raw);
        }
        let p = at + 2 + 12 * kept.len();
        self.put_u32(p, next);
        self.b[p + 4..at + 2 + 12 * n + 4].fill(0);
        Ok(removed)
    }

    /// Zeroes a whole directory: its entries, their values, and the
    /// directories they point at (a GPS or Interop IFD has no further pointers
    /// we follow, but a hostile one might; `depth` bounds the walk).
    fn wipe(&mut self, at: usize, depth: usize) -> Result<(), Malformed> {
        if depth >= MAX_IFDS {
            return Err(Malformed);
        }
        let entries = self.entries(at)?;
        for e in &entries {
            if matches!(e.tag, EXIF_IFD | GPS_IFD | INTEROP_IFD) && e.value as usize != at {
                self.wipe(e.value as usize, depth + 1)?;
            }
            self.zero_value(e);
        }
        self.b[at..at + 2 + 12 * entries.len() + 4].fill(0);
        Ok(())
    }
}

fn open(b: &mut [u8]) -> Result<(Tiff<'_>, usize), Malformed> {
    let e = match b.get(..4) {
        Some(b"II\x2a\0") => Endian::Little,
        Some(b"MM\0\x2a") => Endian::Big,
        _ => return Err(Malformed),
    };
    let t = Tiff { b, e };
    let ifd0 = t.u32(4)? as usize;
    if ifd0 < 8 {
        return Err(Malformed);
    }
    Ok((t, ifd0))
}

/// Removes the GPS directory and identifying tags from a TIFF block in place;
/// the block keeps its length and every other byte. Returns what was removed
/// (sorted, without duplicates); empty when the block was already clean.
pub fn strip_identifying(tiff: &mut [u8]) -> Result<Vec<Category>, Malformed> {
    let (mut t, ifd0) = open(tiff)?;
    let mut found = Vec::new();
    let identifying = |tag: u16| IDENTIFYING.iter().find(|(t, _)| *t == tag).map(|(_, c)| *c);

    // GPS first: wipe its directory before the pointer to it disappears.
    let entries = t.entries(ifd0)?;
    for e in entries.iter().filter(|e| e.tag == GPS_IFD) {
        let at = e.value as usize;
        if at >= 8 && at != ifd0 {
            t.wipe(at, 1)?;
        }
        found.push(Category::Gps);
    }
    let removed = t.filter(ifd0, |e| e.tag != GPS_IFD && identifying(e.tag).is_none())?;
    found.extend(removed.iter().filter_map(|e| identifying(e.tag)));

    let exif_at = t
        .entries(ifd0)?
        .iter()
        .find(|e| e.tag == EXIF_IFD)
        .map(|e| e.value as usize);
    if let Some(at) = exif_at.filter(|&at| at >= 8 && at != ifd0) {
        let removed = t.filter(at, |e| identifying(e.tag).is_none())?;
        found.extend(removed.iter().filter_map(|e| identifying(e.tag)));
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The Orientation value (1..=8) of a TIFF block, if it has a valid one.
pub fn orientation(tiff: &[u8]) -> Option<u16> {
    let mut copy = tiff.get(..tiff.len().min(64 * 1024))?.to_vec();
    let (t, ifd0) = open(&mut copy).ok()?;
    let e = t
        .entries(ifd0)
        .ok()?
        .into_iter()
        .find(|e| e.tag == ORIENTATION)?;
    // A SHORT stored in the first two bytes of the value field.
    let v = match t.e {
        Endian::Little => u16::from_le_bytes([e.raw[8], e.raw[9]]),
        Endian::Big => u16::from_be_bytes([e.raw[8], e.raw[9]]),
    };
    (e.typ == 3 && e.count == 1 && (1..=8).contains(&v)).then_some(v)
}

/// A minimal little-endian TIFF block whose IFD0 holds only Orientation.
pub fn orientation_only(value: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(26);
    b.extend_from_slice(b"II\x2a\0");
    b.extend_from_slice(&8u32.to_le_bytes()); // IFD0 right after the header
    b.extend_from_slice(&1u16.to_le_bytes()); // one entry
    b.extend_from_slice(&ORIENTATION.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    b.extend_from_slice(&1u32.to_le_bytes()); // count
    b.extend_from_slice(&value.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&0u32.to_le_bytes()); // no IFD1
    b
}

/// What a GPS-mode strip would report for this block, without changing it
/// (mode `all` reports these along with "exif").
pub fn identifying_categories(tiff: &[u8]) -> Result<Vec<Category>, Malformed> {
    let mut copy = tiff.to_vec();
    strip_identifying(&mut copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A big-endian TIFF with IFD0 {Make, Orientation=6, ExifIFD, GPS}, an
    /// Exif IFD {BodySerialNumber, ExposureTime} and a GPS IFD {GPSLatitude}.
    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; 200];
        b[..8].copy_from_slice(b"MM\0\x2a\0\0\0\x08");
        let put_entry = |b: &mut Vec<u8>, at: usize, tag: u16, typ: u16, count: u32, value: u32| {
            b[at..at + 2].copy_from_slice(&tag.to_be_bytes());
            b[at + 2..at + 4].copy_from_slice(&typ.to_be_bytes());
            b[at + 4..at + 8].copy_from_slice(&count.to_be_bytes());
            b[at + 8..at + 12].copy_from_slice(&value.to_be_bytes());
        };
        // IFD0 at 8: 4 entries -> ends at 8 + 2 + 48 + 4 = 62.
        b[8..10].copy_from_slice(&4u16.to_be_bytes());
        put_entry(&mut b, 10, 0x010f, 2, 8, 150); // Make -> "TestCam\0" at 150
        put_entry(&mut b, 22, ORIENTATION, 3, 1, 6 << 16);
        put_entry(&mut b, 34, EXIF_IFD, 4, 1, 62);
        put_entry(&mut b, 46, GPS_IFD, 4, 1, 100);
        // Exif IFD at 62: 2 entries -> ends at 62 + 2 + 24 + 4 = 92.
        b[62..64].copy_from_slice(&2u16.to_be_bytes());
        put_entry(&mut b, 64, 0xa431, 2, 8, 160); // serial "SN123456" at 160
        put_entry(&mut b, 76, 0x829a, 5, 1, 170); // ExposureTime rational at 170
        // GPS IFD at 100: 1 entry -> ends at 118.
        b[100..102].copy_from_slice(&1u16.to_be_bytes());
        put_entry(&mut b, 102, 0x0002, 5, 3, 176); // latitude: 3 rationals at 176
        b[150..158].copy_from_slice(b"TestCam\0");
        b[160..168].copy_from_slice(b"SN123456");
        b[170..178].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 100]);
        b[178..200].fill(0x48);
        b
    }

    #[test]
    fn gps_and_serials_go_orientation_and_the_rest_stay() {
        let mut b = sample();
        let before = b.clone();
        let found = strip_identifying(&mut b).unwrap();
        assert_eq!(found, vec![Category::Gps, Category::Serial]);
        assert_eq!(b.len(), before.len());
        assert_eq!(orientation(&b), Some(6));
        // IFD0 now: Make, Orientation, ExifIFD.
        assert_eq!(&b[8..10], &3u16.to_be_bytes());
        assert_eq!(&b[150..158], b"TestCam\0");
        // The serial and the GPS values are gone from the bytes, not just unlinked.
        assert!(!b.windows(8).any(|w| w == b"SN123456"));
        assert!(b[176..200].iter().all(|&x| x == 0));
        assert!(b[100..118].iter().all(|&x| x == 0));
        // Exposure time survives (its rational starts at 170).
        assert_eq!(&b[170..176], &before[170..176]);
        // Idempotent: a second pass finds nothing.
        let again = b.clone();
        assert!(strip_identifying(&mut b).unwrap().is_empty());
        assert_eq!(b, again);
    }

    #[test]
    fn minimal_block_reads_back() {
        assert_eq!(orientation(&orientation_only(6)), Some(6));
        assert_eq!(orientation(&orientation_only(0)), None);
    }

    #[test]
    fn malformed_blocks_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"II",
            b"II\x2a\0\xff\xff\xff\xff",
            b"MM\0\x2a\0\0\0\x08\xff\xff",
        ] {
            let mut v = bad.to_vec();
            assert_eq!(strip_identifying(&mut v), Err(Malformed));
        }
        // A GPS pointer that loops back to itself.
        let mut b = sample();
        b[46 + 8..46 + 12].copy_from_slice(&8u32.to_be_bytes());
        let _ = strip_identifying(&mut b);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_blocks_never_panic_or_change_length(mut v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if v.len() >= 8 {
                v[..4].copy_from_slice(b"II\x2a\0");
            }
            let len = v.len();
            let _ = strip_identifying(&mut v);
            proptest::prop_assert_eq!(v.len(), len);
            let _ = orientation(&v);
        }
    }
}
