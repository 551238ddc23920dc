//! Damaged blobs: how a wrong length, a wrong hash or a missing file is
//! recorded, remembered and cleared (ARCHITECTURE invariant 9), and the
//! scrub's persistent position.
//!
//! A detection (by a read that verifies what it serves, by the scrub, by
//! `pixbin repair`) marks the blob in `HASH_TO_DAMAGE` and in an in-memory map,
//! logs one `error` line with the image id and hash, and counts it. Later
//! requests for a marked blob fail at once with `blob_damaged` instead of
//! reading the file again; only a repair, or a check or scrub that finds the
//! file correct again, clears the mark. The map's size sits in an atomic so the
//! serving fast path, with no damage anywhere, costs one relaxed load.
//!
//! The scrub's cursor and last result are plain counters in `NAME_TO_META`
//! (keys below), so a restart resumes where the last pass stopped.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::blobs::{BlobHash, BlobMeta, BlobStore, hash_reader, hex};
use super::codec::{BlobRecord, ImageRecord};
use super::meta::{HASH_TO_BLOB, ID_TO_IMAGE, NAME_TO_META};
use super::{Result, Store, get_meta};

/// Blob hash -> (detected at ms, [`BlobKind`] code, [`Reason`] code, image id).
/// Not part of backups: a restored blob has been verified, so its mark would
/// be wrong there.
pub const HASH_TO_DAMAGE: TableDefinition<&[u8], (i64, u8, u8, u64)> =
    TableDefinition::new("hash_to_damage");

/// Keys of `NAME_TO_META` the scrub keeps.
pub mod scrub_keys {
    /// The image id the running pass continues after.
    pub const CURSOR: &str = "scrub_cursor";
    /// When the running pass started (ms), 0 before the first.
    pub const PASS_STARTED: &str = "scrub_pass_started";
    /// Blobs checked so far in the running pass.
    pub const PASS_CHECKED: &str = "scrub_pass_checked";
    /// Damaged blobs found so far in the running pass.
    pub const PASS_DAMAGED: &str = "scrub_pass_damaged";
    /// When the last complete pass ended (ms), 0 if none has.
    pub const LAST_COMPLETED: &str = "scrub_last_completed";
    /// Blobs the last complete pass checked.
    pub const LAST_CHECKED: &str = "scrub_last_checked";
    /// Damaged blobs the last complete pass found.
    pub const LAST_DAMAGED: &str = "scrub_last_damaged";
    /// When the next pass may start (ms), once the last one is done.
    pub const NEXT_PASS: &str = "scrub_next_pass";
}

/// Which use of a blob was being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// An image's own bytes.
    Original,
    /// An image's thumbnail.
    Thumbnail,
}

impl BlobKind {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            BlobKind::Original => "original",
            BlobKind::Thumbnail => "thumbnail",
        }
    }
    fn code(self) -> u8 {
        match self {
            BlobKind::Original => 0,
            BlobKind::Thumbnail => 1,
        }
    }
    fn from_code(c: u8) -> Self {
        if c == 1 {
            BlobKind::Thumbnail
        } else {
            BlobKind::Original
        }
    }
}

/// What was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The file's length differs from the row's.
    Length,
    /// The bytes do not hash to the blob's name.
    Hash,
    /// The file is gone or unreadable.
    Missing,
}

impl Reason {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Length => "length",
            Reason::Hash => "hash",
            Reason::Missing => "missing",
        }
    }
    fn code(self) -> u8 {
        match self {
            Reason::Length => 0,
            Reason::Hash => 1,
            Reason::Missing => 2,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            0 => Reason::Length,
            1 => Reason::Hash,
            _ => Reason::Missing,
        }
    }
}

const KINDS: [BlobKind; 2] = [BlobKind::Original, BlobKind::Thumbnail];
const REASONS: [Reason; 3] = [Reason::Length, Reason::Hash, Reason::Missing];

/// The mark a damaged blob carries until it is repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DamageMark {
    /// When it was detected (Unix ms).
    pub at: i64,
    /// Which use of the blob found it.
    pub kind: BlobKind,
    /// What was wrong.
    pub reason: Reason,
    /// The image whose read found it (0 when not known).
    pub image: u64,
}

/// The scrub's position and last result, as shown in `/metrics`, the dashboard
/// and `pixbin check`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrubStatus {
    /// The image id the running pass continues after.
    pub cursor: u64,
    /// The highest image id handed out so far (the end of a pass).
    pub end: u64,
    /// When the running pass started (ms), 0 before the first.
    pub pass_started: i64,
    /// Blobs checked so far in the running pass.
    pub pass_checked: u64,
    /// Damaged blobs found so far in the running pass.
    pub pass_damaged: u64,
    /// When the last complete pass ended (ms), 0 if none has.
    pub last_completed: i64,
    /// Blobs the last complete pass checked.
    pub last_checked: u64,
    /// Damaged blobs the last complete pass found.
    pub last_damaged: u64,
    /// When the next pass may start (ms), while none is running.
    pub next_pass: i64,
}

impl ScrubStatus {
    /// How far the running pass is, 0.0 to 1.0.
    pub fn progress(&self) -> f64 {
        if self.end == 0 {
            return 0.0;
        }
        (self.cursor as f64 / self.end as f64).clamp(0.0, 1.0)
    }
}

/// One blob a scrub step looks at.
#[derive(Debug, Clone, Copy)]
pub struct ScrubItem {
    /// The image that uses it.
    pub image: u64,
    /// Its hash.
    pub hash: BlobHash,
    /// Its recorded length.
    pub size: u64,
    /// How the image uses it.
    pub kind: BlobKind,
}

/// How long a large blob that streamed whole with the right hash counts as
/// verified, while its file is unchanged. Within it, further reads of that
/// blob check its length only: hashing every byte of every large GET halved
/// large-file throughput (`benches/load.sh`), and a hot image is read many
/// times a minute. Damage inside this window is the scrub's to find.
pub const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Entries of the verified set at most; it is emptied when full.
const VERIFIED_MAX: usize = 65_536;

/// In-memory side of the marks, and the detection counters.
#[derive(Debug, Default)]
pub struct Integrity {
    marks: RwLock<HashMap<BlobHash, DamageMark>>,
    count: AtomicUsize,
    detected: [[AtomicU64; 3]; 2],
    scrub: RwLock<ScrubStatus>,
    verified: std::sync::Mutex<HashMap<BlobHash, (BlobMeta, std::time::Instant)>>,
}

impl Integrity {
    /// Whether a blob carries a damage mark. One atomic load when none does.
    pub fn is_damaged(&self, hash: &BlobHash) -> bool {
        if self.count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.marks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(hash)
    }

    /// Whether this version of a large blob streamed whole with the right
    /// hash within [`VERIFIED_FOR`]. The version is the backend's whole
    /// [`BlobMeta`] (length, modification time, version token), so a blob
    /// rewritten or replaced (by hand, by a repair) is hashed again.
    pub fn recently_verified(&self, hash: &BlobHash, stamp: &BlobMeta) -> bool {
        let v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        v.get(hash)
            .is_some_and(|(s, at)| s == stamp && at.elapsed() < VERIFIED_FOR)
    }

    /// Records that this version of a blob hashed right just now.
    pub fn note_verified(&self, hash: &BlobHash, stamp: BlobMeta) {
        let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() >= VERIFIED_MAX {
            v.clear();
        }
        v.insert(*hash, (stamp, std::time::Instant::now()));
    }

    /// Every mark, by hash.
    pub fn marks(&self) -> Vec<(BlobHash, DamageMark)> {
        let mut v: Vec<_> = self
            .marks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(h, m)| (*h, *m))
            .collect();
        v.sort_by_key(|(h, _)| *h);
        v
    }

    /// Number of damaged blobs.
    pub fn damaged(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Detections since start, by kind and reason.
    pub fn detected(&self, kind: BlobKind, reason: Reason) -> u64 {
        self.detected[kind.code() as usize][reason.code() as usize].load(Ordering::Relaxed)
    }

    /// The scrub's last known position and result.
    pub fn scrub_status(&self) -> ScrubStatus {
        *self.scrub.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_scrub_status(&self, s: ScrubStatus) {
        *self.scrub.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Inserts a mark; `true` when the blob was not marked before.
    fn insert(&self, hash: BlobHash, mark: DamageMark) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&hash);
        let mut m = self.marks.write().unwrap_or_else(|p| p.into_inner());
        let new = m.insert(hash, mark).is_none();
        self.count.store(m.len(), Ordering::Relaxed);
        new
    }

    fn remove(&self, hash: &BlobHash) -> bool {
        let mut m = self.marks.write().unwrap_or_else(|p| p.into_inner());
        let had = m.remove(hash).is_some();
        self.count.store(m.len(), Ordering::Relaxed);
        had
    }

    /// Appends the integrity series to a Prometheus exposition.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# HELP pixbin_blob_damage_detected_total Damaged blobs detected since start (wrong length, wrong hash or missing), by use and reason.\n# TYPE pixbin_blob_damage_detected_total counter"
        );
        for kind in KINDS {
            for reason in REASONS {
                let _ = writeln!(
                    out,
                    "pixbin_blob_damage_detected_total{{kind=\"{}\",reason=\"{}\"}} {}",
                    kind.label(),
                    reason.label(),
                    self.detected(kind, reason)
                );
            }
        }
        let s = self.scrub_status();
        for (name, kind, help, value) in [
            (
                "pixbin_damaged_blobs",
                "gauge",
                "Blobs marked damaged and not yet repaired (they answer 500 blob_damaged).",
                self.damaged() as f64,
            ),
            (
                "pixbin_scrub_progress_ratio",
                "gauge",
                "How far the running scrub pass is through the images, 0 to 1.",
                s.progress(),
            ),
            (
                "pixbin_scrub_pass_checked_blobs",
                "gauge",
                "Blobs the running scrub pass has re-hashed so far.",
                s.pass_checked as f64,
            ),
            (
                "pixbin_scrub_last_completed_timestamp_seconds",
                "gauge",
                "When the last complete scrub pass ended (Unix seconds, 0 if none).",
                s.last_completed as f64 / 1000.0,
            ),
            (
                "pixbin_scrub_last_checked_blobs",
                "gauge",
                "Blobs the last complete scrub pass re-hashed.",
                s.last_checked as f64,
            ),
            (
                "pixbin_scrub_last_damaged_blobs",
                "gauge",
                "Damaged blobs the last complete scrub pass found.",
                s.last_damaged as f64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}

/// Creates the table (at open).
pub(crate) fn create_tables(txn: &redb::WriteTransaction) -> Result<()> {
    txn.open_table(HASH_TO_DAMAGE)?;
    Ok(())
}

/// Reads the marks and the scrub status into a fresh [`Integrity`] (at open).
pub(crate) fn load(db: &redb::Database) -> Result<Integrity> {
    let integrity = Integrity::default();
    let r = db.begin_read()?;
    for e in r.open_table(HASH_TO_DAMAGE)?.iter()? {
        let (k, v) = e?;
        let Ok(hash) = BlobHash::try_from(k.value()) else {
            continue;
        };
        let (at, kind, reason, image) = v.value();
        integrity.insert(
            hash,
            DamageMark {
                at,
                kind: BlobKind::from_code(kind),
                reason: Reason::from_code(reason),
                image,
            },
        );
    }
    integrity.set_scrub_status(read_scrub(&r.open_table(NAME_TO_META)?)?);
    Ok(integrity)
}

fn read_scrub(m: &impl ReadableTable<&'static str, u64>) -> Result<ScrubStatus> {
    use scrub_keys::*;
    Ok(ScrubStatus {
        cursor: get_meta(m, CURSOR)?,
        end: get_meta(m, super::meta::keys::NEXT_IMAGE_ID)?.saturating_sub(1),
        pass_started: get_meta(m, PASS_STARTED)? as i64,
        pass_checked: get_meta(m, PASS_CHECKED)?,
        pass_damaged: get_meta(m, PASS_DAMAGED)?,
        last_completed: get_meta(m, LAST_COMPLETED)? as i64,
        last_checked: get_meta(m, LAST_CHECKED)?,
        last_damaged: get_meta(m, LAST_DAMAGED)?,
        next_pass: get_meta(m, NEXT_PASS)? as i64,
    })
}

/// What is wrong with the blob of `size` bytes named `hash` in `blobs`, if
/// anything, judged by reading all of it.
pub fn verify_stored(blobs: &dyn BlobStore, hash: &BlobHash, size: u64) -> Option<Reason> {
    let read = match blobs.read_backend(hash) {
        Ok(r) if r.meta.size != size => return Some(Reason::Length),
        Ok(r) => r,
        Err(_) => return Some(Reason::Missing),
    };
    match hash_reader(read.reader) {
        Ok((len, _)) if len != size => Some(Reason::Length),
        Ok((_, h)) if h != *hash => Some(Reason::Hash),
        Ok(_) => None,
        Err(_) => Some(Reason::Missing),
    }
}

impl Store {
    /// The damage marks and scrub status of this data directory.
    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    /// Records a detection: marks the blob (in memory at once, then durably),
    /// and, the first time only, logs one `error` line and counts it. Returns
    /// whether this was the first detection. Blocking (one write transaction).
    pub fn report_damage(
        &self,
        hash: &BlobHash,
        kind: BlobKind,
        reason: Reason,
        image: u64,
    ) -> bool {
        let mark = DamageMark {
            at: crate::clock::now_ms(),
            kind,
            reason,
            image,
        };
        if !self.integrity.insert(*hash, mark) {
            return false;
        }
        self.integrity.detected[kind.code() as usize][reason.code() as usize]
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            image,
            hash = %hex(hash),
            kind = kind.label(),
            reason = reason.label(),
            "damaged blob detected: it answers 500 blob_damaged until `pixbin repair --from BACKUP` puts it back"
        );
        if let Err(e) = self.persist_mark(hash, &mark) {
            tracing::warn!(error = %e, hash = %hex(hash), "could not record the damage mark durably");
        }
        true
    }

    fn persist_mark(&self, hash: &BlobHash, m: &DamageMark) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(HASH_TO_DAMAGE)?.insert(
            hash.as_slice(),
            (m.at, m.kind.code(), m.reason.code(), m.image),
        )?;
        txn.commit()?;
        Ok(())
    }

    /// Removes a blob's damage mark; `true` if it had one.
    pub fn clear_damage(&self, hash: &BlobHash) -> Result<bool> {
        let had = self.integrity.remove(hash);
        let txn = self.db.begin_write()?;
        let durable = txn
            .open_table(HASH_TO_DAMAGE)?
            .remove(hash.as_slice())?
            .is_some();
        txn.commit()?;
        if had || durable {
            tracing::info!(hash = %hex(hash), "damage mark cleared");
        }
        Ok(had || durable)
    }

    /// Clears a stale mark when a blob file is written anew (an upload or a
    /// thumbnail brought the bytes back after the last user went away).
    pub(crate) fn blob_rewritten(&self, hash: &BlobHash) {
        if self.integrity.is_damaged(hash)
            && let Err(e) = self.clear_damage(hash)
        {
            tracing::warn!(error = %e, "could not clear a damage mark");
        }
    }

    /// Reads the whole blob file and reports what is wrong with it against its
    /// row, if anything. `None` also when the blob has no row (nothing to judge).
    pub fn verify_blob(&self, hash: &BlobHash) -> Result<Option<(u64, Option<Reason>)>> {
        let Some(rec) = self.blob(hash)? else {
            return Ok(None);
        };
        Ok(Some((
            rec.size,
            verify_stored(&*self.blobs, hash, rec.size),
        )))
    }

    /// Every blob row: hash and recorded size.
    pub fn blob_rows(&self) -> Result<Vec<(BlobHash, u64)>> {
        let r = self.db.begin_read()?;
        let mut out = Vec::new();
        for e in r.open_table(HASH_TO_BLOB)?.iter()? {
            let (k, v) = e?;
            if let (Ok(h), Ok(b)) = (BlobHash::try_from(k.value()), BlobRecord::decode(v.value())) {
                out.push((h, b.size));
            }
        }
        Ok(out)
    }

    /// The blobs of up to `limit` images after id `after`, in id order (each
    /// image's bytes, then its thumbnail), and the last image id looked at.
    pub fn scrub_batch(&self, after: u64, limit: usize) -> Result<(Vec<ScrubItem>, Option<u64>)> {
        let r = self.db.begin_read()?;
        let images = r.open_table(ID_TO_IMAGE)?;
        let blobs = r.open_table(HASH_TO_BLOB)?;
        let mut out = Vec::new();
        let mut last = None;
        for e in images.range(after.saturating_add(1)..)?.take(limit) {
            let (k, v) = e?;
            let id = k.value();
            last = Some(id);
            let Ok(rec) = ImageRecord::decode(v.value()) else {
                continue;
            };
            out.push(ScrubItem {
                image: id,
                hash: rec.hash,
                size: rec.size,
                kind: BlobKind::Original,
            });
            if let Some(t) = rec.thumbnail
                && let Some(b) = blobs.get(t.as_slice())?
                && let Ok(b) = BlobRecord::decode(b.value())
            {
                out.push(ScrubItem {
                    image: id,
                    hash: t,
                    size: b.size,
                    kind: BlobKind::Thumbnail,
                });
            }
        }
        Ok((out, last))
    }

    /// Persists the scrub's position and result, and shows it.
    pub fn save_scrub(&self, s: &ScrubStatus) -> Result<()> {
        use scrub_keys::*;
        let txn = self.db.begin_write()?;
        let end;
        {
            let mut m = txn.open_table(NAME_TO_META)?;
            m.insert(CURSOR, s.cursor)?;
            m.insert(PASS_STARTED, s.pass_started.max(0) as u64)?;
            m.insert(PASS_CHECKED, s.pass_checked)?;
            m.insert(PASS_DAMAGED, s.pass_damaged)?;
            m.insert(LAST_COMPLETED, s.last_completed.max(0) as u64)?;
            m.insert(LAST_CHECKED, s.last_checked)?;
            m.insert(LAST_DAMAGED, s.last_damaged)?;
            m.insert(NEXT_PASS, s.next_pass.max(0) as u64)?;
            end = get_meta(&m, super::meta::keys::NEXT_IMAGE_ID)?.saturating_sub(1);
        }
        txn.commit()?;
        self.integrity.set_scrub_status(ScrubStatus { end, ..*s });
        Ok(())
    }

    /// The scrub status with a fresh end of pass (the highest image id).
    pub fn scrub_status(&self) -> Result<ScrubStatus> {
        let r = self.db.begin_read()?;
        read_scrub(&r.open_table(NAME_TO_META)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_survive_a_reopen_and_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let h = BlobHash::of(b"x");
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.integrity().is_damaged(&h));
            assert!(store.report_damage(&h, BlobKind::Thumbnail, Reason::Hash, 7));
            assert!(!store.report_damage(&h, BlobKind::Thumbnail, Reason::Hash, 7));
            assert_eq!(
                store
                    .integrity()
                    .detected(BlobKind::Thumbnail, Reason::Hash),
                1
            );
            assert!(store.integrity().is_damaged(&h));
        }
        let store = Store::open(dir.path()).unwrap();
        let marks = store.integrity().marks();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].0, h);
        assert_eq!(
            (marks[0].1.kind, marks[0].1.reason, marks[0].1.image),
            (BlobKind::Thumbnail, Reason::Hash, 7)
        );
        assert!(store.clear_damage(&h).unwrap());
        assert!(!store.integrity().is_damaged(&h));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.integrity().damaged(), 0);
    }

    #[test]
    fn verify_stored_names_the_reason() {
        use crate::store::blobs::MemBlobStore;
        use std::io::Write;
        let blobs = MemBlobStore::new();
        let data = b"hello world".to_vec();
        let h = BlobHash::of(&data);
        let put = |bytes: &[u8]| {
            let mut t = blobs.create_temp().unwrap();
            t.write_all(bytes).unwrap();
            blobs.replace(t, &h).unwrap();
        };
        assert_eq!(verify_stored(&blobs, &h, 11), Some(Reason::Missing));
        put(&data);
        assert_eq!(verify_stored(&blobs, &h, 11), None);
        assert_eq!(verify_stored(&blobs, &h, 12), Some(Reason::Length));
        put(b"hello World");
        assert_eq!(verify_stored(&blobs, &h, 11), Some(Reason::Hash));
    }
}
