//! The in-memory backend: blobs, trash and temps in maps behind one mutex.
//! Nothing survives the process, so it serves tests only, but it runs the same
//! contract tests as the filesystem (`blobs::tests`) and so proves that the
//! interface carries no file or path. Like a bucket, it keeps the identity
//! marker with the blobs ([`BlobStore::remote_marker`]).
//!
//! Compiled always, not under `cfg(test)`: integration tests and benches link
//! the library without `cfg(test)`, and a backend that only the unit tests
//! build would let the trait drift from it unnoticed in ordinary builds.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Cursor, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::{
    BlobEntry, BlobHash, BlobMeta, BlobRead, BlobStore, BlobVersion, Discarder, ReadSeek, Syncer,
    TempBlob, TempEntry, TempWrite, TrashEntry,
};

/// One stored object: shared bytes, so an open range reads the version it
/// opened even if the blob is replaced meanwhile (as an open file would).
#[derive(Debug, Clone)]
struct Object {
    bytes: Arc<Vec<u8>>,
    modified: SystemTime,
    generation: u64,
}

impl Object {
    fn meta(&self) -> BlobMeta {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&self.generation.to_le_bytes());
        BlobMeta {
            size: self.bytes.len() as u64,
            modified: self.modified,
            version: BlobVersion::new(v),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    blobs: HashMap<BlobHash, Object>,
    trash: BTreeMap<(u64, BlobHash), Object>,
    temps: HashMap<u64, (Vec<u8>, SystemTime)>,
    /// The identity marker, kept with the blobs as a bucket keeps it.
    marker: Option<String>,
}

/// Blobs in memory. Clones share the same contents.
#[derive(Debug, Clone, Default)]
pub struct MemBlobStore {
    inner: Arc<Mutex<Inner>>,
    next: Arc<AtomicU64>,
    disk_full: Arc<AtomicBool>,
}

impl MemBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn object(&self, bytes: Vec<u8>) -> Object {
        Object {
            bytes: Arc::new(bytes),
            modified: SystemTime::now(),
            generation: self.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn take_temp(&self, temp: TempBlob) -> io::Result<Vec<u8>> {
        let mut t: MemTemp = temp.downcast()?;
        t.armed = false;
        self.lock()
            .temps
            .remove(&t.id)
            .map(|(bytes, _)| bytes)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "temp removed under its writer"))
    }
}

/// A temp: bytes written land in the store's temp map at once, so
/// `list_temps` sees it as a directory listing would.
struct MemTemp {
    store: MemBlobStore,
    id: u64,
    full: bool,
    armed: bool,
}

impl Drop for MemTemp {
    fn drop(&mut self) {
        if self.armed {
            self.store.lock().temps.remove(&self.id);
        }
    }
}

impl Write for MemTemp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.full {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        match self.store.lock().temps.get_mut(&self.id) {
            Some((bytes, modified)) => {
                bytes.extend_from_slice(buf);
                *modified = SystemTime::now();
                Ok(buf.len())
            }
            None => Err(io::Error::new(io::ErrorKind::NotFound, "temp removed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TempWrite for MemTemp {
    fn sync_all(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn syncer(&self) -> io::Result<Syncer> {
        Ok(Arc::new(|| Ok(())))
    }
    fn reader(&self) -> io::Result<Box<dyn ReadSeek>> {
        let bytes = match self.store.lock().temps.get(&self.id) {
            Some((b, _)) => b.clone(),
            None => return Err(io::Error::new(io::ErrorKind::NotFound, "temp removed")),
        };
        Ok(Box::new(Cursor::new(bytes)))
    }
    fn discarder(&self) -> Discarder {
        let (store, id) = (self.store.clone(), self.id);
        Box::new(move || {
            store.lock().temps.remove(&id);
        })
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// Reads a range of shared bytes without copying them first.
struct RangeReader {
    bytes: Arc<Vec<u8>>,
    pos: usize,
    end: usize,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.end - self.pos);
        buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such blob")
}

impl BlobStore for MemBlobStore {
    fn create_temp(&self) -> io::Result<TempBlob> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .temps
            .insert(id, (Vec::new(), SystemTime::now()));
        Ok(TempBlob::new(MemTemp {
            store: self.clone(),
            id,
            full: self.disk_full.load(Ordering::SeqCst),
            armed: true,
        }))
    }

    fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool> {
        let bytes = self.take_temp(temp)?;
        let obj = self.object(bytes);
        let mut inner = self.lock();
        if inner.blobs.contains_key(hash) {
            return Ok(false);
        }
        inner.blobs.insert(*hash, obj);
        Ok(true)
    }

    fn replace(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<()> {
        let bytes = self.take_temp(temp)?;
        let obj = self.object(bytes);
        self.lock().blobs.insert(*hash, obj);
        Ok(())
    }

    fn read_range(&self, hash: &BlobHash, start: u64, len: u64) -> io::Result<BlobRead> {
        let obj = self.lock().blobs.get(hash).cloned().ok_or_else(not_found)?;
        let size = obj.bytes.len();
        let pos = usize::try_from(start).unwrap_or(usize::MAX).min(size);
        let end = pos
            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
            .min(size);
        Ok(BlobRead {
            meta: obj.meta(),
            reader: Box::new(RangeReader {
                bytes: obj.bytes,
                pos,
                end,
            }),
        })
    }

    fn stat(&self, hash: &BlobHash) -> io::Result<Option<BlobMeta>> {
        Ok(self.lock().blobs.get(hash).map(Object::meta))
    }

    fn delete(&self, hash: &BlobHash) -> io::Result<()> {
        self.lock().blobs.remove(hash);
        Ok(())
    }

    fn scan(&self, visit: &mut dyn FnMut(BlobEntry) -> io::Result<bool>) -> io::Result<bool> {
        // A snapshot first: `visit` may call back into the store.
        let entries: Vec<BlobEntry> = self
            .lock()
            .blobs
            .iter()
            .map(|(h, o)| BlobEntry {
                hash: *h,
                size: o.bytes.len() as u64,
                modified: o.modified,
            })
            .collect();
        for e in entries {
            if visit(e)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn quarantine(&self, hash: &BlobHash, at: SystemTime) -> io::Result<TrashEntry> {
        let mut inner = self.lock();
        let obj = inner.blobs.remove(hash).ok_or_else(not_found)?;
        let entry = TrashEntry {
            hash: *hash,
            size: obj.bytes.len() as u64,
            quarantined_at: at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            modified: obj.modified,
        };
        inner.trash.insert((entry.quarantined_at, *hash), obj);
        Ok(entry)
    }

    fn list_trash(&self) -> io::Result<Vec<TrashEntry>> {
        Ok(self
            .lock()
            .trash
            .iter()
            .map(|((at, h), o)| TrashEntry {
                hash: *h,
                size: o.bytes.len() as u64,
                quarantined_at: *at,
                modified: o.modified,
            })
            .collect())
    }

    fn restore_trashed(&self, entry: &TrashEntry) -> io::Result<()> {
        let mut inner = self.lock();
        let obj = inner
            .trash
            .remove(&(entry.quarantined_at, entry.hash))
            .ok_or_else(not_found)?;
        inner.blobs.entry(entry.hash).or_insert(obj);
        Ok(())
    }

    fn read_trashed(&self, entry: &TrashEntry) -> io::Result<Box<dyn Read + Send>> {
        let obj = self
            .lock()
            .trash
            .get(&(entry.quarantined_at, entry.hash))
            .cloned()
            .ok_or_else(not_found)?;
        let end = obj.bytes.len();
        Ok(Box::new(RangeReader {
            bytes: obj.bytes,
            pos: 0,
            end,
        }))
    }

    fn purge_trashed(&self, entry: &TrashEntry) -> io::Result<()> {
        self.lock()
            .trash
            .remove(&(entry.quarantined_at, entry.hash));
        Ok(())
    }

    fn list_temps(&self) -> io::Result<Vec<TempEntry>> {
        Ok(self
            .lock()
            .temps
            .iter()
            .map(|(id, (_, modified))| TempEntry {
                name: format!("temp {id}"),
                modified: *modified,
            })
            .collect())
    }

    fn remove_temp(&self, temp: &TempEntry) -> io::Result<bool> {
        let id = temp
            .name
            .strip_prefix("temp ")
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a temp name"))?;
        Ok(self.lock().temps.remove(&id).is_some())
    }

    fn remote_marker(&self) -> io::Result<Option<String>> {
        Ok(self.lock().marker.clone())
    }

    fn write_remote_marker(&self, text: &str) -> io::Result<()> {
        self.lock().marker = Some(text.to_string());
        Ok(())
    }

    fn simulate_disk_full(&self, on: bool) {
        self.disk_full.store(on, Ordering::SeqCst);
    }
}
