//! A streaming zip writer for downloads (an album, a selection of the
//! library): members are stored (images are compressed already), each one's
//! CRC-32 is computed while its bytes pass and written after them in a data
//! descriptor, so nothing is buffered but one copy buffer and a few dozen
//! bytes per member for the central directory. Zip64 records are written for
//! a member, offset or archive past the 32-bit fields (APPNOTE 6.3.x §4.3.9,
//! §4.4.4, §4.5.3), so the size of a download is bounded by nothing here.
//!
//! Member names come from users: [`MemberNames`] keeps only the last path
//! segment, drops control characters and characters Windows refuses, and
//! de-duplicates them as `name (2).png` (case-insensitively, for the file
//! systems that fold case).

use std::collections::HashSet;
use std::io::{self, Read, Write};

/// Local file header, central directory, end records and data descriptor.
const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const END64_LOCATOR: u32 = 0x0706_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;
/// General purpose flags: sizes and CRC follow the data (bit 3); names are
/// UTF-8 (bit 11).
const FLAGS: u16 = 0x0008 | 0x0800;
/// Made by Unix (3), spec 4.5; 2.0 suffices without zip64, 4.5 needs it.
const MADE_BY: u16 = (3 << 8) | 45;
const NEEDS: u16 = 20;
const NEEDS64: u16 = 45;
/// Zip64 extended information extra field.
const ZIP64_EXTRA: u16 = 0x0001;
/// A regular file, rw-r--r--, in the high half of the external attributes.
const UNIX_FILE: u32 = 0o100644 << 16;
/// Bytes copied per read.
const COPY_BUF: usize = 64 * 1024;

struct Member {
    name: String,
    crc: u32,
    size: u64,
    offset: u64,
    time: u16,
    date: u16,
    zip64: bool,
}

/// Counts what passes to the inner writer (offsets in the archive).
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a zip archive to `W` as members are added.
pub struct ZipWriter<W: Write> {
    out: Counting<W>,
    members: Vec<Member>,
    /// Sizes and offsets at or past this are written as zip64 (0xFFFF_FFFF
    /// in production; tests lower it to exercise the zip64 records).
    limit: u64,
    buf: Vec<u8>,
}

/// MS-DOS time and date of Unix milliseconds (UTC; 2-second resolution,
/// clamped to the format's 1980–2107).
pub fn dos_time(ms: i64) -> (u16, u16) {
    let secs = ms.div_euclid(1000).clamp(315_532_800, 4_354_819_198);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let time = ((rem / 3600) << 11) | (((rem % 3600) / 60) << 5) | ((rem % 60) / 2);
    let date = ((y - 1980) << 9) | (m << 5) | d;
    (time as u16, date as u16)
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl<W: Write> ZipWriter<W> {
    /// A writer with the standard zip64 threshold.
    pub fn new(out: W) -> Self {
        Self::with_zip64_limit(out, 0xFFFF_FFFF)
    }

    /// A writer that switches to zip64 fields at `limit` (for tests).
    pub fn with_zip64_limit(out: W, limit: u64) -> Self {
        ZipWriter {
            out: Counting {
                inner: out,
                written: 0,
            },
            members: Vec::new(),
            limit: limit.min(0xFFFF_FFFF),
            buf: vec![0; COPY_BUF],
        }
    }

    /// Adds a member of exactly `size` bytes read from `data`, stamped with
    /// `modified_ms`. A reader that ends early or runs long is an error: the
    /// archive must not describe bytes it does not hold.
    pub fn add(
        &mut self,
        name: &str,
        size: u64,
        modified_ms: i64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let offset = self.out.written;
        let zip64 = size >= self.limit;
        let (time, date) = dos_time(modified_ms);
        let mut h = Vec::with_capacity(64 + name.len());
        put32(&mut h, LOCAL);
        put16(&mut h, if zip64 { NEEDS64 } else { NEEDS });
        put16(&mut h, FLAGS);
        put16(&mut h, 0); // stored
        put16(&mut h, time);
        put16(&mut h, date);
        put32(&mut h, 0); // CRC: in the descriptor (bit 3)
        let marker = if zip64 { 0xFFFF_FFFF } else { 0 };
        put32(&mut h, marker);
        put32(&mut h, marker);
        put16(&mut h, name.len() as u16);
        put16(&mut h, if zip64 { 20 } else { 0 });
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            // Its presence tells readers the descriptor's sizes are 8 bytes.
            put16(&mut h, ZIP64_EXTRA);
            put16(&mut h, 16);
            put64(&mut h, 0);
            put64(&mut h, 0);
        }
        self.out.write_all(&h)?;

        let mut crc = crc32fast::Hasher::new();
        let mut left = size;
        loop {
            let n = data.read(&mut self.buf)?;
            if n == 0 {
                break;
            }
            if n as u64 > left {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "member longer than its size",
                ));
            }
            crc.update(&self.buf[..n]);
            self.out.write_all(&self.buf[..n])?;
            left -= n as u64;
        }
        if left != 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "member shorter than its size",
            ));
        }
        let crc = crc.finalize();
        let mut d = Vec::with_capacity(24);
        put32(&mut d, DESCRIPTOR);
        put32(&mut d, crc);
        if zip64 {
            put64(&mut d, size);
            put64(&mut d, size);
        } else {
            put32(&mut d, size as u32);
            put32(&mut d, size as u32);
        }
        self.out.write_all(&d)?;
        self.members.push(Member {
            name: name.to_string(),
            crc,
            size,
            offset,
            time,
            date,
            zip64,
        });
        Ok(())
    }

    /// The inner writer, abandoning the archive (to end a download with an error).
    pub fn into_inner(self) -> W {
        self.out.inner
    }

    /// Writes the central directory and end records; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_start = self.out.written;
        for m in &self.members {
            let big_size = m.size >= self.limit;
            let big_offset = m.offset >= self.limit;
            let mut extra = Vec::new();
            if big_size {
                put64(&mut extra, m.size);
                put64(&mut extra, m.size);
            }
            if big_offset {
                put64(&mut extra, m.offset);
            }
            let mut c = Vec::with_capacity(64 + m.name.len());
            put32(&mut c, CENTRAL);
            put16(&mut c, MADE_BY);
            put16(
                &mut c,
                if m.zip64 || big_offset {
                    NEEDS64
                } else {
                    NEEDS
                },
            );
            put16(&mut c, FLAGS);
            put16(&mut c, 0);
            put16(&mut c, m.time);
            put16(&mut c, m.date);
            put32(&mut c, m.crc);
            let size32 = if big_size { 0xFFFF_FFFF } else { m.size as u32 };
            put32(&mut c, size32);
            put32(&mut c, size32);
            put16(&mut c, m.name.len() as u16);
            put16(
                &mut c,
                if extra.is_empty() {
                    0
                } else {
                    4 + extra.len() as u16
                },
            );
            put16(&mut c, 0); // comment
            put16(&mut c, 0); // disk
            put16(&mut c, 0); // internal attributes
            put32(&mut c, UNIX_FILE);
            put32(
                &mut c,
                if big_offset {
                    0xFFFF_FFFF
                } else {
                    m.offset as u32
                },
            );
            c.extend_from_slice(m.name.as_bytes());
            if !extra.is_empty() {
                put16(&mut c, ZIP64_EXTRA);
                put16(&mut c, extra.len() as u16);
                c.extend_from_slice(&extra);
            }
            self.out.write_all(&c)?;
        }
        let cd_end = self.out.written;
        let count = self.members.len() as u64;
        let cd_size = cd_end - cd_start;
        let need64 = count >= 0xFFFF || cd_size >= self.limit || cd_start >= self.limit;
        let mut e = Vec::with_capacity(98);
        if need64 {
            put32(&mut e, END64);
            put64(&mut e, 44); // size of the rest of this record
            put16(&mut e, MADE_BY);
            put16(&mut e, NEEDS64);
            put32(&mut e, 0); // this disk
            put32(&mut e, 0); // disk with the directory
            put64(&mut e, count);
            put64(&mut e, count);
            put64(&mut e, cd_size);
            put64(&mut e, cd_start);
            put32(&mut e, END64_LOCATOR);
            put32(&mut e, 0);
            put64(&mut e, cd_end);
            put32(&mut e, 1); // total disks
        }
        put32(&mut e, END);
        put16(&mut e, 0);
        put16(&mut e, 0);
        let count16 = if need64 { 0xFFFF } else { count as u16 };
        put16(&mut e, count16);
        put16(&mut e, count16);
        put32(&mut e, if need64 { 0xFFFF_FFFF } else { cd_size as u32 });
        put32(&mut e, if need64 { 0xFFFF_FFFF } else { cd_start as u32 });
        put16(&mut e, 0); // comment
        self.out.write_all(&e)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// Longest member name kept, in characters (before a ` (n)` suffix).
const NAME_CHARS: usize = 120;

/// Hands out safe, unique member names.
#[derive(Debug, Default)]
pub struct MemberNames {
    taken: HashSet<String>,
}

impl MemberNames {
    /// A safe form of `wanted` not handed out before: no directories, no
    /// control or reserved characters, never empty, `name (2).ext` on a clash.
    pub fn unique(&mut self, wanted: &str) -> String {
        let base = sanitize(wanted);
        let (stem, ext) = match base.rfind('.') {
            Some(i) if i > 0 => (&base[..i], &base[i..]),
            _ => (base.as_str(), ""),
        };
        let mut n = 1;
        loop {
            let candidate = if n == 1 {
                base.clone()
            } else {
                format!("{stem} ({n}){ext}")
            };
            if self.taken.insert(candidate.to_lowercase()) {
                return candidate;
            }
            n += 1;
        }
    }
}

/// The last path segment of `name`, with control characters removed and the
/// characters Windows refuses in names replaced, trimmed of dots and spaces
/// at the ends (Windows drops them; `..` must not survive), at most
/// [`NAME_CHARS`] characters; `image` when nothing is left.
fn sanitize(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let mut out: String = trimmed.chars().rev().take(NAME_CHARS).collect();
    // Keep the end (the extension) when cutting a long name.
    out = out.chars().rev().collect();
    if out.is_empty() {
        "image".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_unique() {
        let mut n = MemberNames::default();
        assert_eq!(n.unique("a.png"), "a.png");
        assert_eq!(n.unique("A.PNG"), "A (2).PNG");
        assert_eq!(n.unique("a.png"), "a (3).png");
        assert_eq!(n.unique("../../etc/passwd"), "passwd");
        assert_eq!(n.unique("C:\\Users\\x\\shot.jpg"), "shot.jpg");
        assert_eq!(n.unique("bad\u{0}\u{7}\nname?.gif"), "badname_.gif");
        assert_eq!(n.unique(".."), "image");
        assert_eq!(n.unique(""), "image (2)");
        assert_eq!(n.unique(".hidden"), "hidden");
        let long = format!("{}.png", "x".repeat(500));
        let got = n.unique(&long);
        assert!(got.ends_with(".png") && got.chars().count() == NAME_CHARS);
    }

    #[test]
    fn dos_times() {
        // 2024-02-29T13:45:58Z
        let (t, d) = dos_time(1_709_214_358_000);
        assert_eq!(t, (13 << 11) | (45 << 5) | 29);
        assert_eq!(d, ((2024 - 1980) << 9) | (2 << 5) | 29);
        // Before 1980 clamps to its first day.
        assert_eq!(dos_time(0), (0, (1 << 5) | 1));
    }

    /// Finds the end record and reads the central directory back by hand.
    fn directory(zip: &[u8]) -> Vec<(String, u32, u64, u64)> {
        let end = zip.len() - 22;
        assert_eq!(
            u32::from_le_bytes(zip[end..end + 4].try_into().unwrap()),
            END
        );
        let rd16 = |at: usize| u16::from_le_bytes(zip[at..at + 2].try_into().unwrap()) as u64;
        let rd32 = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap()) as u64;
        let rd64 = |at: usize| u64::from_le_bytes(zip[at..at + 8].try_into().unwrap());
        let (mut count, mut at) = (rd16(end + 10), rd32(end + 16));
        if count == 0xFFFF {
            let locator = end - 20;
            assert_eq!(rd32(locator), END64_LOCATOR as u64);
            let e64 = rd64(locator + 8) as usize;
            assert_eq!(rd32(e64), END64 as u64);
            count = rd64(e64 + 32);
            at = rd64(e64 + 48);
        }
        let mut out = Vec::new();
        let mut p = at as usize;
        for _ in 0..count {
            assert_eq!(rd32(p), CENTRAL as u64);
            let crc = rd32(p + 16) as u32;
            let mut size = rd32(p + 24);
            let name_len = rd16(p + 28) as usize;
            let extra_len = rd16(p + 30) as usize;
            let mut offset = rd32(p + 42);
            let name = String::from_utf8(zip[p + 46..p + 46 + name_len].to_vec()).unwrap();
            let mut x = p + 46 + name_len + 4;
            if size == 0xFFFF_FFFF {
                size = rd64(x);
                x += 16;
            }
            if offset == 0xFFFF_FFFF {
                offset = rd64(x);
            }
            out.push((name, crc, size, offset));
            p += 46 + name_len + extra_len;
        }
        out
    }

    fn build(limit: u64, members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut z = ZipWriter::with_zip64_limit(Vec::new(), limit);
        for (name, data) in members {
            z.add(name, data.len() as u64, 1_700_000_000_000, &mut &data[..])
                .unwrap();
        }
        z.finish().unwrap()
    }

    #[test]
    fn members_are_stored_with_their_crc_and_found_through_the_directory() {
        let members = [
            ("a.png", b"hello".to_vec()),
            ("b.png", (0..70_000u32).map(|i| i as u8).collect()),
            ("empty.gif", Vec::new()),
        ];
        for limit in [0xFFFF_FFFF, 3] {
            let zip = build(limit, &members);
            let dir = directory(&zip);
            assert_eq!(dir.len(), 3);
            for ((name, data), (n, crc, size, offset)) in members.iter().zip(&dir) {
                assert_eq!((name, data.len() as u64), (&n.as_str(), *size));
                assert_eq!(*crc, crc32fast::hash(data));
                let at = *offset as usize;
                assert_eq!(&zip[at..at + 4], &LOCAL.to_le_bytes());
                let name_len = u16::from_le_bytes([zip[at + 26], zip[at + 27]]) as usize;
                let extra_len = u16::from_le_bytes([zip[at + 28], zip[at + 29]]) as usize;
                let start = at + 30 + name_len + extra_len;
                assert_eq!(&zip[start..start + data.len()], &data[..]);
            }
        }
    }

    #[test]
    fn a_wrong_length_is_an_error() {
        let mut z = ZipWriter::new(Vec::new());
        assert!(z.add("a", 10, 0, &mut &b"short"[..]).is_err());
        let mut z = ZipWriter::new(Vec::new());
        assert!(z.add("a", 2, 0, &mut &b"too long"[..]).is_err());
    }

    /// Info-ZIP's `unzip -t` (a reader no one here wrote) accepts both forms,
    /// when it is installed.
    #[test]
    fn unzip_accepts_plain_and_zip64_archives() {
        if std::process::Command::new("unzip")
            .arg("-v")
            .output()
            .is_err()
        {
            eprintln!("unzip not installed; skipped");
            return;
        }
        let members = [
            ("a.png", b"hello".to_vec()),
            ("a (2).png", vec![7u8; 100_000]),
        ];
        for limit in [0xFFFF_FFFF, 3] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.zip");
            std::fs::write(&path, build(limit, &members)).unwrap();
            let out = std::process::Command::new("unzip")
                .arg("-t")
                .arg(&path)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "limit {limit}: {text}");
            assert!(text.contains("No errors detected"), "{text}");
        }
    }
}
