//! A backend that can be taken down: [`FaultyBlobStore`] wraps another and,
//! while switched off, fails every call the way an unreachable object store
//! does ([`Unavailable`](super::Unavailable)); its probe can also be made to
//! hang. Tests use it to prove the serve path, the disk cache and `/readyz`
//! against an outage without a cluster. Local temps stay usable, as the S3
//! backend's spool does when the bucket is gone.
//!
//! Compiled always (like `memory`): integration tests link the library
//! without `cfg(test)`.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::{
    BlobEntry, BlobHash, BlobMeta, BlobRead, BlobStore, TempBlob, TempEntry, TrashEntry,
    Unavailable, hex,
};

/// A switchable wrapper; clones share the switch.
#[derive(Debug, Clone)]
pub struct FaultyBlobStore {
    inner: Arc<dyn BlobStore>,
    down: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
    /// When set, [`BlobStore::presign`] answers `<base><hex>?ttl=<secs>`.
    presign_base: Option<String>,
    /// Entries the listing shows although no blob is there: an object
    /// store replica that has not yet seen a deletion.
    ghosts: Arc<std::sync::Mutex<Vec<BlobEntry>>>,
}

impl FaultyBlobStore {
    /// Wraps `inner`, up.
    pub fn new(inner: Arc<dyn BlobStore>) -> Self {
        FaultyBlobStore {
            inner,
            down: Arc::default(),
            hang: Arc::default(),
            presign_base: None,
            ghosts: Arc::default(),
        }
    }

    /// Signs URLs under `base` (a stand-in for a bucket's endpoint).
    pub fn presigning(mut self, base: &str) -> Self {
        self.presign_base = Some(base.to_string());
        self
    }

    /// Takes the backend down (`true`) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Makes probes hang (5 s each, past any caller's patience) instead of
    /// answering.
    pub fn set_hanging(&self, hang: bool) {
        self.hang.store(hang, Ordering::SeqCst);
    }

    /// Makes the listing show `entry` too, while reads and stats find
    /// nothing of it (a stale replica's listing).
    pub fn add_ghost(&self, entry: BlobEntry) {
        self.ghosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
    }

    fn up(&self) -> io::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Unavailable::io("the test backend is down"));
        }
        Ok(())
    }
}

impl BlobStore for FaultyBlobStore {
    // Local temps stay usable, as the S3 backend's spool does.
    forward_to_inner!(|_: &Self| io::Result::Ok(());
        fn create_temp(&self) -> io::Result<TempBlob>;
        fn list_temps(&self) -> io::Result<Vec<TempEntry>>;
        fn remove_temp(&self, temp: &TempEntry) -> io::Result<bool>;
    );
    forward_to_inner!(Self::up;
        fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool>;
        fn replace(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<()>;
        fn read_range(&self, hash: &BlobHash, start: u64, len: u64) -> io::Result<BlobRead>;
        fn read_backend(&self, hash: &BlobHash) -> io::Result<BlobRead>;
        fn stat(&self, hash: &BlobHash) -> io::Result<Option<BlobMeta>>;
        fn delete(&self, hash: &BlobHash) -> io::Result<()>;
        fn quarantine(&self, hash: &BlobHash, at: SystemTime) -> io::Result<TrashEntry>;
        fn list_trash(&self) -> io::Result<Vec<TrashEntry>>;
        fn restore_trashed(&self, entry: &TrashEntry) -> io::Result<()>;
        fn read_trashed(&self, entry: &TrashEntry) -> io::Result<Box<dyn Read + Send>>;
        fn purge_trashed(&self, entry: &TrashEntry) -> io::Result<()>;
        fn remote_marker(&self) -> io::Result<Option<String>>;
        fn write_remote_marker(&self, text: &str) -> io::Result<()>;
    );
    fn scan(&self, visit: &mut dyn FnMut(BlobEntry) -> io::Result<bool>) -> io::Result<bool> {
        self.up()?;
        if self.inner.scan(visit)? {
            return Ok(true);
        }
        let ghosts = self
            .ghosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for g in ghosts {
            if visit(g)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
    fn simulate_disk_full(&self, on: bool) {
        self.inner.simulate_disk_full(on)
    }
    fn drop_local_copy(&self, hash: &BlobHash) -> bool {
        self.inner.drop_local_copy(hash)
    }
    fn probe(&self) -> io::Result<()> {
        if self.hang.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(5));
        }
        self.up()?;
        self.inner.probe()
    }
    fn presign(&self, hash: &BlobHash, ttl: Duration) -> io::Result<Option<String>> {
        Ok(self
            .presign_base
            .as_ref()
            .map(|base| format!("{base}{}?ttl={}", hex(hash), ttl.as_secs())))
    }
}
