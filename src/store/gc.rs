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
use std::time::SystemTime;

use redb::{ReadableDatabase, ReadableTable};

use super::blobs::{BlobEntry, BlobHash, BlobStore};
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

/// What one GC pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Orphan blob files removed.
    pub blobs_removed: u64,
    /// Their total size.
    pub bytes_freed: u64,
    /// Stale temp files removed.
    pub temps_removed: u64,
    /// Unreferenced blobs spared because they were written after the cutoff or
    /// gained a reference before they could be removed.
    pub spared: u64,
    /// True when a backup was running and the pass did nothing.
    pub skipped_for_backup: bool,
}

impl Store {
    /// Whether a backup currently holds blobs in place.
    pub fn blobs_pinned(&self) -> bool {
        self.pins.active()
    }

    /// Removes orphan blobs and temp files last modified before `cutoff`.
    ///
    /// Offline (`pixbin gc`, start-up) the cutoff may be "now": nothing else
    /// writes. In a running server it is "now minus the grace period": a temp
    /// file of an upload in flight is rewritten at least every body-idle timeout.
    pub fn collect_garbage(&self, cutoff: SystemTime) -> Result<GcReport> {
        let mut report = GcReport::default();
        if self.pins.active() {
            report.skipped_for_backup = true;
            return Ok(report);
        }
        // The directory walk and the first filter run without any lock; the
        // decisive check is repeated below under the lock.
        let on_disk = self.blobs.list()?;
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
                    if rows.get(e.hash.as_slice())?.is_some() || !self.still_old(&e.hash, cutoff) {
                        report.spared += 1;
                        continue;
                    }
                    self.blobs.delete(&e.hash)?;
                    report.blobs_removed += 1;
                    report.bytes_freed += e.size;
                }
            }
            txn.abort()?;
        }
        for (path, modified) in self.blobs.list_temps()? {
            if modified < cutoff {
                match std::fs::remove_file(&path) {
                    Ok(()) => report.temps_removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(report)
    }

    /// Whether a blob file still exists and was last written before `cutoff`
    /// (it may have been replaced since the walk).
    fn still_old(&self, hash: &BlobHash, cutoff: SystemTime) -> bool {
        std::fs::metadata(self.blobs.path_of(hash))
            .and_then(|m| m.modified())
            .is_ok_and(|m| m < cutoff)
    }
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

    fn temp_with(store: &Store, bytes: &[u8]) -> crate::store::blobs::TempBlob {
        let (temp, mut f) = store.blobs().create_temp().unwrap();
        f.write_all(bytes).unwrap();
        f.sync_all().unwrap();
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

    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    #[test]
    fn removes_orphans_and_temps_but_never_referenced_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = upload(&store, b"kept bytes");
        // An orphan: a blob file with no row, as a crash after a delete leaves.
        let orphan = *blake3::hash(b"orphan").as_bytes();
        store
            .blobs()
            .put(temp_with(&store, b"orphan"), &orphan)
            .unwrap();
        let (stale, _f) = store.blobs().create_temp().unwrap();
        std::mem::forget(stale); // a temp a crashed upload left behind

        // Before the cutoff nothing is old enough.
        let r = store.collect_garbage(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!((r.blobs_removed, r.temps_removed, r.spared), (0, 0, 1));

        let r = store.collect_garbage(later()).unwrap();
        assert_eq!((r.blobs_removed, r.temps_removed), (1, 1));
        assert_eq!(r.bytes_freed, 6);
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
        let hash = *blake3::hash(b"same bytes").as_bytes();
        store
            .blobs()
            .put(temp_with(&store, b"same bytes"), &hash)
            .unwrap();
        // The upload dedups against the orphan and gives it a row again.
        let again = upload(&store, b"same bytes");
        let r = store.collect_garbage(later()).unwrap();
        assert_eq!(r.blobs_removed, 0);
        assert_eq!(
            std::fs::read(store.blobs().path_of(&hash)).unwrap(),
            b"same bytes"
        );
        assert!(store.image(again).unwrap().is_some());
    }

    #[test]
    fn a_pin_defers_unlinks_and_gc_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = upload(&store, b"pinned bytes");
        let hash = *blake3::hash(b"pinned bytes").as_bytes();
        let pin = store.pins.pin();
        store.delete_image(id).unwrap();
        assert!(store.blobs().exists(&hash), "a backup may still read it");
        assert!(store.collect_garbage(later()).unwrap().skipped_for_backup);
        assert!(store.blobs().exists(&hash));
        drop(pin);
        let r = store.collect_garbage(later()).unwrap();
        assert_eq!(r.blobs_removed, 1);
        assert!(!store.blobs().exists(&hash));
    }
}
