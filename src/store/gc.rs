//! Garbage collection of orphan blobs and stale temp files, and the pins that
//! hold it (and unlinks after deletes) off while a backup streams blobs.
//!
//! An orphan is a blob file with no row in `HASH_TO_BLOB`: a crash between a
//! delete's commit and its unlink leaves one (ARCHITECTURE invariant 2), so does a
//! delete during a backup. GC is the only other code that unlinks blobs, so it must
//! not race an upload that deduplicates against the very file it is about to remove
//! (the CAS GC bug of quay#6318, floecat#390, OxiCloud#483). Two guards:
//! - a cutoff: only files last written before it are considered (the grace period);
//! - a re-check at unlink time, inside a write transaction and under the
//!   `namespace` lock that `commit_upload` holds from its rename to its commit, so
//!   a blob that gained a row in the meantime is spared.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use redb::{ReadableDatabase, ReadableTable};

use super::blobs::{BlobEntry, BlobHash};
use super::meta::HASH_TO_BLOB;
use super::{Result, Store};

/// Candidates re-checked per write transaction, so the namespace lock (which
/// uploads need for their commit) is never held for long.
const RECHECK_BATCH: usize = 256;

/// Counts live backups. While one runs, deletes leave their blob files in place
/// and GC does nothing: the backup's snapshot may still name those blobs.
#[derive(Debug, Default)]
pub struct Pins(Arc<AtomicUsize>);

impl Pins {
    /// Whether any backup is streaming blobs.
    pub fn active(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }

    pub(crate) fn pin(&self) -> BlobPin {
        self.0.fetch_add(1, Ordering::SeqCst);
        BlobPin(self.0.clone())
    }
}

/// Held by a backup for as long as it reads blob files; releases on drop.
#[derive(Debug)]
pub struct BlobPin(Arc<AtomicUsize>);

impl Drop for BlobPin {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a GC pass judges files.
#[derive(Debug, Clone, Copy)]
pub struct GcPolicy {
    /// The moment the pass runs.
    pub now: SystemTime,
    /// Unreferenced blobs written within this long before `now` are spared.
    pub grace: Duration,
    /// Quarantined blobs are unlinked this long after they were quarantined.
    pub retention: Duration,
    /// Quarantine even when the pass would take more than the brake allows.
    pub force: bool,
    /// Remove every temp file, not only those older than the grace period:
    /// only offline, where the database lock proves no upload is in flight.
    pub all_temps: bool,
}

impl GcPolicy {
    /// The default grace (1 h) and retention (7 days), as of now.
    pub fn new(grace: Duration, retention: Duration) -> Self {
        GcPolicy {
            now: SystemTime::now(),
            grace,
            retention,
            force: false,
            all_temps: false,
        }
    }

    fn cutoff(&self) -> SystemTime {
        self.now
            .checked_sub(self.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn purge_before(&self) -> u64 {
        self.now
            .checked_sub(self.retention)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    }
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy::new(DEFAULT_GRACE, DEFAULT_RETENTION)
    }
}

/// The grace period unless configured (`--gc-grace`).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);
/// How long quarantined blobs are kept unless configured (`--gc-retention`).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The brake: a pass that would quarantine more than this many blobs *and*
/// more than `BRAKE_PERCENT` of all of them quarantines none. Real orphans
/// come from crashes and backups, a few at a time; a large share means the
/// database does not describe these blobs (an old or wrong database).
pub const BRAKE_MIN_BLOBS: u64 = 10;
/// See [`BRAKE_MIN_BLOBS`].
pub const BRAKE_PERCENT: u64 = 10;

/// Why a pass quarantined nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brake {
    /// Unreferenced blobs older than the grace period.
    pub would_quarantine: u64,
    /// Blob files in `blobs/`.
    pub blobs: u64,
}

impl std::fmt::Display for Brake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} blobs have no row in the database: more than {BRAKE_PERCENT}% looks like a wrong or \
             old database, not garbage, so nothing was quarantined. Check the database \
             (`pixbin check`), turn the blobs back into images (`pixbin adopt`), or, if they \
             really are garbage, run `pixbin gc --force`",
            self.would_quarantine, self.blobs
        )
    }
}

/// What one GC pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Orphan blobs moved into quarantine (`trash/`).
    pub quarantined: u64,
    /// Their total size.
    pub bytes_quarantined: u64,
    /// Quarantined blobs unlinked after the retention.
    pub purged: u64,
    /// Their total size.
    pub bytes_purged: u64,
    /// Quarantined blobs that had gained a row again and were put back.
    pub restored: u64,
    /// Stale temp files removed.
    pub temps_removed: u64,
    /// Unreferenced blobs spared because they were written after the cutoff or
    /// gained a reference before they could be moved.
    pub spared: u64,
    /// True when a backup was running and the pass did nothing.
    pub skipped_for_backup: bool,
    /// Set when the brake held: nothing was quarantined.
    pub braked: Option<Brake>,
    /// What is in quarantine after the pass.
    pub trash: TrashSummary,
}

/// What is in quarantine, for `pixbin check` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrashSummary {
    /// Quarantined blobs.
    pub blobs: u64,
    /// Their total size.
    pub bytes: u64,
    /// When the oldest was quarantined (Unix seconds).
    pub oldest: Option<u64>,
}

impl Store {
    /// Whether a backup currently holds blobs in place.
    pub fn blobs_pinned(&self) -> bool {
        self.pins.active()
    }

    /// What is in quarantine.
    pub fn trash_summary(&self) -> Result<TrashSummary> {
        let entries = self.blobs.list_trash()?;
        Ok(TrashSummary {
            blobs: entries.len() as u64,
            bytes: entries.iter().map(|e| e.size).sum(),
            oldest: entries.iter().map(|e| e.quarantined_at).min(),
        })
    }

    /// One GC pass: moves orphan blobs older than the grace period into
    /// quarantine (unless the brake holds), unlinks quarantined blobs older than
    /// the retention (putting back any that gained a row again), and removes
    /// stale temp files. No pass deletes a blob from `blobs/` (invariant 8).
    pub fn collect_garbage(&self, policy: &GcPolicy) -> Result<GcReport> {
        let mut report = GcReport::default();
        if self.pins.active() {
            report.skipped_for_backup = true;
            return Ok(report);
        }
        let cutoff = policy.cutoff();
        // The directory walk and the first filter run without any lock; the
        // decisive check is repeated below under the lock.
        let on_disk = self.blobs.list()?;
        let total = on_disk.len() as u64;
        let mut candidates: Vec<BlobEntry> = Vec::new();
        {
            let r = self.db.begin_read()?;
            let rows = r.open_table(HASH_TO_BLOB)?;
            for e in on_disk {
                if rows.get(e.hash.as_slice())?.is_some() {
                    continue;
                }
                if e.modified < cutoff {
                    candidates.push(e);
                } else {
                    report.spared += 1;
                }
            }
        }
        self.quarantine_orphans(&candidates, total, policy, &mut report)?;
        if report.skipped_for_backup {
            return Ok(report);
        }
        self.purge_trash(policy, &mut report)?;
        let temps_before = if policy.all_temps {
            SystemTime::now()
        } else {
            cutoff
        };
        for t in self.blobs.list_temps()? {
            if t.modified < temps_before && self.blobs.remove_temp(&t)? {
                report.temps_removed += 1;
            }
        }
        report.trash = self.trash_summary()?;
        self.forget_unused_marks()?;
        Ok(report)
    }

    /// Drops the damage marks of blobs no row names any more (the last image
    /// using a damaged blob was deleted): nothing serves them, and a mark
    /// that can never be repaired would keep `pixbin_damaged_blobs` up for
    /// good. Marks of blobs that are still used are never touched here.
    fn forget_unused_marks(&self) -> Result<()> {
        if self.integrity().damaged() == 0 {
            return Ok(());
        }
        for (hash, _) in self.integrity().marks() {
            let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
            if self.blob(&hash)?.is_none() {
                self.clear_damage(&hash)?;
            }
        }
        Ok(())
    }

    /// Moves `candidates` (blobs without a row, older than the cutoff, out of
    /// `total` blob files) into quarantine, re-checking each under the lock, or
    /// moves none when the brake holds.
    pub(crate) fn quarantine_orphans(
        &self,
        candidates: &[BlobEntry],
        total: u64,
        policy: &GcPolicy,
        report: &mut GcReport,
    ) -> Result<Vec<BlobHash>> {
        let n = candidates.len() as u64;
        if !policy.force && n > BRAKE_MIN_BLOBS && n * 100 > total * BRAKE_PERCENT {
            let brake = Brake {
                would_quarantine: n,
                blobs: total,
            };
            tracing::error!(
                orphans = n,
                blobs = total,
                "garbage collection stopped: {brake}"
            );
            report.braked = Some(brake);
            report.spared += n;
            return Ok(Vec::new());
        }
        let cutoff = policy.cutoff();
        let mut moved = Vec::new();
        for batch in candidates.chunks(RECHECK_BATCH) {
            let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
            if self.pins.active() {
                report.skipped_for_backup = true;
                break;
            }
            // A write transaction excludes every other writer while we decide;
            // nothing is written, so it is aborted.
            let txn = self.db.begin_write()?;
            {
                let rows = txn.open_table(HASH_TO_BLOB)?;
                for e in batch {
                    if rows.get(e.hash.as_slice())?.is_some() {
                        report.spared += 1;
                        continue;
                    }
                    match self.still_old(&e.hash, cutoff) {
                        Still::Old => {}
                        Still::Gone => continue,
                        Still::Recent => {
                            report.spared += 1;
                            continue;
                        }
                    }
                    let t = self.blobs.quarantine(&e.hash, policy.now)?;
                    report.quarantined += 1;
                    report.bytes_quarantined += t.size;
                    moved.push(e.hash);
                }
            }
            txn.abort()?;
        }
        Ok(moved)
    }

    /// Unlinks quarantined blobs past the retention. One that has a row again
    /// is put back under `blobs/` at once, whatever its age (a database put
    /// back from before its orphaning needs it now), or dropped past the
    /// retention when `blobs/` has it already.
    fn purge_trash(&self, policy: &GcPolicy, report: &mut GcReport) -> Result<()> {
        let before = policy.purge_before();
        let trash = self.blobs.list_trash()?;
        for batch in trash.chunks(RECHECK_BATCH) {
            let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
            let txn = self.db.begin_write()?;
            {
                let rows = txn.open_table(HASH_TO_BLOB)?;
                for e in batch {
                    let due = e.quarantined_at < before;
                    if rows.get(e.hash.as_slice())?.is_some() {
                        if due || !self.blobs.exists(&e.hash) {
                            self.blobs.restore_trashed(e)?;
                            report.restored += 1;
                        }
                    } else if due {
                        self.blobs.purge_trashed(e)?;
                        report.purged += 1;
                        report.bytes_purged += e.size;
                    }
                }
            }
            txn.abort()?;
        }
        Ok(())
    }

    /// Whether a blob still exists and was last written before `cutoff`
    /// (it may have been replaced since the walk). A blob that a direct look
    /// no longer finds is gone, not spared: deleted since the walk, or, on an
    /// object store, listed by a replica that has not yet seen its deletion
    /// (a delete cut short by a crash can leave one behind for a while).
    /// A look that fails spares it.
    fn still_old(&self, hash: &BlobHash, cutoff: SystemTime) -> Still {
        match self.blobs.stat(hash) {
            Ok(None) => Still::Gone,
            Ok(Some(m)) if m.modified < cutoff => Still::Old,
            _ => Still::Recent,
        }
    }
}

/// What [`Store::still_old`] found.
enum Still {
    /// There and older than the cutoff: an orphan to move.
    Old,
    /// Not there any more: nothing to do.
    Gone,
    /// Written since the cutoff, or not looked at: spared.
    Recent,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    use crate::store::NewImage;
    use crate::store::codec::ImageRecord;

    fn record(bytes: &[u8]) -> ImageRecord {
        crate::store::codec::test_record(bytes)
    }

    fn read_blob(store: &Store, hash: &BlobHash) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut store.blobs().read(hash).unwrap().reader, &mut out)
            .unwrap();
        out
    }

    fn temp_with(store: &Store, bytes: &[u8]) -> crate::store::blobs::TempBlob {
        let mut temp = store.blobs().create_temp().unwrap();
        temp.write_all(bytes).unwrap();
        temp.sync_all().unwrap();
        temp
    }

    fn upload(store: &Store, bytes: &[u8]) -> u64 {
        let new = NewImage {
            record: record(bytes),
            key_hash: None,
        };
        let temp = temp_with(store, bytes);
        store.commit_upload(new, temp, None, 1).unwrap().id
    }

    /// A pass as of `now`, with no grace and a retention of a day.
    fn at(now: SystemTime) -> GcPolicy {
        GcPolicy {
            now,
            grace: Duration::ZERO,
            retention: DAY,
            force: false,
            all_temps: false,
        }
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn later() -> GcPolicy {
        at(SystemTime::now() + Duration::from_secs(60))
    }

    fn put_orphan(store: &Store, bytes: &[u8]) -> BlobHash {
        let hash = BlobHash::of(bytes);
        store.blobs().put(temp_with(store, bytes), &hash).unwrap();
        hash
    }

    #[test]
    fn a_listed_blob_that_a_direct_look_does_not_find_is_neither_spared_nor_an_orphan() {
        use crate::store::blobs::{BlobEntry, FaultyBlobStore, MemBlobStore};
        use crate::store::identity::Claim;
        let dir = tempfile::tempdir().unwrap();
        let blobs = FaultyBlobStore::new(Arc::new(MemBlobStore::new()));
        let store = Store::open_with(dir.path(), Claim::Adopt, Arc::new(blobs.clone())).unwrap();
        upload(&store, b"kept");
        let real_orphan = BlobHash::of(b"a real orphan");
        store
            .blobs()
            .put(temp_with(&store, b"a real orphan"), &real_orphan)
            .unwrap();
        // An object whose deletion one replica has not seen: listed, but a
        // HEAD (or read) finds nothing.
        blobs.add_ghost(BlobEntry {
            hash: BlobHash::of(b"deleted, listed by a stale replica"),
            size: 35,
            modified: SystemTime::UNIX_EPOCH,
        });
        let problems = store
            .check(crate::store::check::CheckOptions {
                rehash: false,
                repair: false,
            })
            .unwrap()
            .problems;
        assert!(
            matches!(problems.as_slice(), [crate::store::check::Problem::Orphan(h)] if *h == real_orphan),
            "{problems:?}"
        );
        let later = SystemTime::now() + Duration::from_secs(60);
        let r = store.collect_garbage(&at(later)).unwrap();
        assert_eq!((r.quarantined, r.spared), (1, 0), "{r:?}");
    }

    #[test]
    fn quarantines_orphans_and_unlinks_them_only_after_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = upload(&store, b"kept bytes");
        let orphan = put_orphan(&store, b"an orphan");
        let r = store.collect_garbage(&later()).unwrap();
        assert_eq!((r.quarantined, r.purged), (1, 0));
        assert!(!store.blobs().exists(&orphan), "moved out of blobs/");
        let trash = store.blobs().list_trash().unwrap();
        assert_eq!(trash.len(), 1);
        assert_eq!(trash[0].hash, orphan);
        assert_eq!(
            std::fs::read(dir.path().join("trash").join(format!(
                "{}.{}",
                trash[0].quarantined_at,
                super::super::blobs::hex(&orphan)
            )))
            .unwrap(),
            b"an orphan"
        );
        // Within the retention it stays, however many passes run.
        let r = store
            .collect_garbage(&at(SystemTime::now() + DAY / 2))
            .unwrap();
        assert_eq!((r.quarantined, r.purged), (0, 0));
        assert_eq!(store.trash_summary().unwrap().blobs, 1);
        // Past it, it is unlinked; the referenced blob never moves.
        let r = store
            .collect_garbage(&at(SystemTime::now() + DAY * 2))
            .unwrap();
        assert_eq!((r.purged, r.bytes_purged), (1, 9));
        assert_eq!(store.trash_summary().unwrap(), TrashSummary::default());
        let img = store.image(kept).unwrap().unwrap();
        assert!(store.blobs().exists(&img.record.hash));
    }

    #[test]
    fn a_quarantined_blob_that_gains_a_row_again_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hash = put_orphan(&store, b"wanted again");
        assert_eq!(store.collect_garbage(&later()).unwrap().quarantined, 1);
        // Re-uploaded: written again under blobs/ as a new blob.
        let id = upload(&store, b"wanted again");
        assert!(store.blobs().exists(&hash));
        let r = store
            .collect_garbage(&at(SystemTime::now() + DAY * 2))
            .unwrap();
        assert_eq!((r.restored, r.purged), (1, 0));
        assert!(store.blobs().list_trash().unwrap().is_empty());
        assert_eq!(read_blob(&store, &hash), b"wanted again");
        assert!(store.image(id).unwrap().is_some());
    }

    #[test]
    fn a_quarantined_blob_a_row_needs_comes_back_at_the_next_pass() {
        // A database put back from before the blob's orphaning has its row
        // again while the file sits in trash/: no waiting out the retention.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = upload(&store, b"needed again");
        let hash = store.image(id).unwrap().unwrap().record.hash;
        store
            .blobs()
            .quarantine(&hash, SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        assert!(!store.blobs().exists(&hash));
        let r = store.collect_garbage(&later()).unwrap();
        assert_eq!((r.restored, r.purged, r.quarantined), (1, 0, 0));
        assert_eq!(read_blob(&store, &hash), b"needed again");
        assert_eq!(store.trash_summary().unwrap(), TrashSummary::default());
    }

    #[test]
    fn a_blob_marked_damaged_is_not_garbage() {
        // The mark says its bytes are wrong, not that nobody needs them: it
        // stays in place for `pixbin repair` to rewrite.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = upload(&store, b"damaged but needed");
        let hash = store.image(id).unwrap().unwrap().record.hash;
        store
            .blobs()
            .replace(temp_with(&store, b"damaged but NEEDED"), &hash)
            .unwrap();
        store.report_damage(
            &hash,
            crate::store::integrity::BlobKind::Original,
            crate::store::integrity::Reason::Hash,
            id,
        );
        let r = store.collect_garbage(&later()).unwrap();
        assert_eq!((r.quarantined, r.purged), (0, 0));
        assert!(store.blobs().exists(&hash));
        assert!(store.blobs().list_trash().unwrap().is_empty());
        assert!(store.integrity().is_damaged(&hash));
    }

    #[test]
    fn the_mark_of_a_blob_no_image_uses_goes_with_its_last_image() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = upload(&store, b"damaged, then deleted");
        let hash = store.image(id).unwrap().unwrap().record.hash;
        store.report_damage(
            &hash,
            crate::store::integrity::BlobKind::Original,
            crate::store::integrity::Reason::Length,
            id,
        );
        store.collect_garbage(&later()).unwrap();
        assert!(store.integrity().is_damaged(&hash), "still used: kept");
        store.delete_image(id).unwrap();
        store.collect_garbage(&later()).unwrap();
        assert_eq!(store.integrity().damaged(), 0);
    }

    #[test]
    fn the_brake_holds_when_most_blobs_lost_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..5u32 {
            upload(&store, format!("kept {i}").as_bytes());
        }
        let orphans: Vec<_> = (0..20u32)
            .map(|i| put_orphan(&store, format!("orphan {i}").as_bytes()))
            .collect();
        let r = store.collect_garbage(&later()).unwrap();
        assert_eq!(r.quarantined, 0);
        assert_eq!(
            r.braked,
            Some(Brake {
                would_quarantine: 20,
                blobs: 25
            })
        );
        assert!(r.braked.unwrap().to_string().contains("pixbin gc --force"));
        assert!(orphans.iter().all(|h| store.blobs().exists(h)));
        assert!(store.blobs().list_trash().unwrap().is_empty());
        // An explicit --force overrides it, still through quarantine.
        let forced = GcPolicy {
            force: true,
            ..later()
        };
        assert_eq!(store.collect_garbage(&forced).unwrap().quarantined, 20);
        assert_eq!(store.trash_summary().unwrap().blobs, 20);
    }

    #[test]
    fn removes_orphans_and_temps_but_never_referenced_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = upload(&store, b"kept bytes");
        // An orphan: a blob file with no row, as a crash after a delete leaves.
        let orphan = BlobHash::of(b"orphan");
        store
            .blobs()
            .put(temp_with(&store, b"orphan"), &orphan)
            .unwrap();
        let stale = store.blobs().create_temp().unwrap();
        std::mem::forget(stale); // a temp a crashed upload left behind

        // Before the cutoff nothing is old enough.
        let r = store.collect_garbage(&at(SystemTime::UNIX_EPOCH)).unwrap();
        assert_eq!((r.quarantined, r.temps_removed, r.spared), (0, 0, 1));

        let r = store.collect_garbage(&later()).unwrap();
        assert_eq!((r.quarantined, r.temps_removed), (1, 1));
        assert_eq!(r.bytes_quarantined, 6);
        assert!(!store.blobs().exists(&orphan));
        let img = store.image(kept).unwrap().unwrap();
        assert!(store.blobs().exists(&img.record.hash));
        assert!(store.blobs().list_temps().unwrap().is_empty());
    }

    #[test]
    fn a_blob_re_uploaded_before_the_recheck_survives() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = upload(&store, b"same bytes");
        store.delete_image(id).unwrap();
        // Put the file back as an orphan (a crash between commit and unlink).
        let hash = BlobHash::of(b"same bytes");
        store
            .blobs()
            .put(temp_with(&store, b"same bytes"), &hash)
            .unwrap();
        // The upload dedups against the orphan and gives it a row again.
        let again = upload(&store, b"same bytes");
        let r = store.collect_garbage(&later()).unwrap();
        assert_eq!(r.quarantined, 0);
        assert_eq!(read_blob(&store, &hash), b"same bytes");
        assert!(store.image(again).unwrap().is_some());
    }

    #[test]
    fn a_pin_defers_unlinks_and_gc_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = upload(&store, b"pinned bytes");
        let hash = BlobHash::of(b"pinned bytes");
        let pin = store.pins.pin();
        store.delete_image(id).unwrap();
        assert!(store.blobs().exists(&hash), "a backup may still read it");
        assert!(store.collect_garbage(&later()).unwrap().skipped_for_backup);
        assert!(store.blobs().exists(&hash));
        drop(pin);
        let r = store.collect_garbage(&later()).unwrap();
        assert_eq!(r.quarantined, 1);
        assert!(!store.blobs().exists(&hash));
    }
}
