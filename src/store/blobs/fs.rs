//! The filesystem backend: `blobs/ab/cd/<64-hex blake3>`, written through
//! `tmp/`, quarantined into `trash/<secs>.<64-hex>`, all under the data
//! directory and on one filesystem so every move is an atomic rename.
//!
//! Durability follows invariant 1: a temp is fsynced by its writer, renamed
//! into place, then the directory that gained the entry is fsynced; new
//! fan-out directories are themselves made durable entries. Files are 0600
//! (a blob keeps its temp's mode through the rename), directories 0700.

use std::any::Any;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use super::{
    BlobEntry, BlobHash, BlobMeta, BlobRead, BlobStore, BlobVersion, Discarder, ReadSeek, Syncer,
    TempBlob, TempEntry, TempWrite, TrashEntry, hex, parse_hex,
};
use crate::store::perms;

/// The quarantine directory inside a data directory (see `store::gc`).
const TRASH: &str = "trash";

/// Blobs as files under a data directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
    trash: PathBuf,
    /// Fault injection for the disk-full test where no small filesystem can
    /// be mounted (SECURITY M6): see [`BlobStore::simulate_disk_full`].
    disk_full: Arc<AtomicBool>,
}

impl FsBlobStore {
    /// Uses `<data_dir>/blobs` and `<data_dir>/tmp`, creating them if needed.
    /// Both live on one filesystem so the rename is atomic.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let store = Self::at(data_dir);
        perms::own_dir(&store.blobs)?;
        perms::own_dir(&store.tmp)?;
        Ok(store)
    }

    /// Only the temps of `data_dir` (`tmp/`, created if needed): local
    /// staging for a backend whose blobs live elsewhere.
    pub fn spool(data_dir: &Path) -> io::Result<Self> {
        let store = Self::at(data_dir);
        perms::own_dir(&store.tmp)?;
        Ok(store)
    }

    /// The store of `data_dir` as it is, creating nothing: for looking
    /// before anything may be written (the identity check at open). Missing
    /// directories read as empty.
    pub fn at(data_dir: &Path) -> Self {
        FsBlobStore {
            blobs: data_dir.join("blobs"),
            tmp: data_dir.join("tmp"),
            trash: data_dir.join(TRASH),
            disk_full: Default::default(),
        }
    }

    /// The on-disk path of a blob: two fan-out levels from the first hash bytes so
    /// no directory grows past 65,536 entries per level. Private: no path of
    /// a blob leaves this backend.
    fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let h = hex(hash);
        self.blobs.join(&h[0..2]).join(&h[2..4]).join(h)
    }

    fn trash_path(&self, entry: &TrashEntry) -> PathBuf {
        self.trash
            .join(format!("{}.{}", entry.quarantined_at, hex(&entry.hash)))
    }

    /// Renames a finished temp to `dest` and syncs the directory.
    fn rename_into(&self, temp: TempBlob, dest: &Path) -> io::Result<()> {
        let mut temp: FsTemp = temp.downcast()?;
        let parent = durable_parent(dest)?;
        // If the rename fails the guard must still clean the temp up, so disarm
        // only after it succeeded.
        fs::rename(&temp.path, dest)?;
        temp.armed = false;
        sync_dir(parent)
    }
}

fn meta_of(m: &fs::Metadata) -> BlobMeta {
    let modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let ino = 0u64;
    // Inode and nanosecond mtime: a file rewritten in place or replaced by a
    // rename gets a new version even at the same length.
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&ino.to_le_bytes());
    v[8..].copy_from_slice(&nanos.to_le_bytes());
    BlobMeta {
        size: m.len(),
        modified,
        version: BlobVersion::new(v),
    }
}

/// The fan-out directory a blob path lives in, created (owner-only) if
/// missing. New fan-out directories must themselves be durable entries, so
/// the two levels above a new one are synced.
fn durable_parent(dest: &Path) -> io::Result<&Path> {
    let parent = dest.parent().expect("blob paths have parents");
    if !parent.exists() {
        perms::create_dir_all(parent)?;
        if let Some(grand) = parent.parent() {
            sync_dir(grand)?;
            if let Some(top) = grand.parent() {
                sync_dir(top)?;
            }
        }
    }
    Ok(parent)
}

/// fsync a directory so a rename or create inside it survives power loss.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `read_dir` that reads a missing directory as empty.
fn read_dir_or_empty(dir: &Path) -> io::Result<Option<fs::ReadDir>> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(Some(rd)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A temp file in `tmp/`, removed on drop unless a put renamed it.
struct FsTemp {
    /// Where writes go: the temp itself, or `/dev/full` under the test hook.
    file: File,
    path: PathBuf,
    armed: bool,
}

impl Drop for FsTemp {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Write for FsTemp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl TempWrite for FsTemp {
    fn sync_all(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
    fn syncer(&self) -> io::Result<Syncer> {
        let f = self.file.try_clone()?;
        Ok(Arc::new(move || f.sync_data()))
    }
    fn reader(&self) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(File::open(&self.path)?))
    }
    fn discarder(&self) -> Discarder {
        // Unlinking under an open handle is fine: writes still in flight
        // land in the unlinked inode, and the guard's later unlink finds
        // nothing.
        let path = self.path.clone();
        Box::new(move || {
            let _ = fs::remove_file(path);
        })
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl BlobStore for FsBlobStore {
    fn create_temp(&self) -> io::Result<TempBlob> {
        let name = format!("upload-{}", hex(&crate::secret::random_bytes::<32>()));
        let path = self.tmp.join(&name[..40]);
        // 0600: the blob keeps this file's mode after its rename.
        let mut file = perms::create_new(&path)?;
        if self.disk_full.load(Ordering::SeqCst) {
            // /dev/full answers every write with ENOSPC.
            file = fs::OpenOptions::new().write(true).open("/dev/full")?;
        }
        Ok(TempBlob::new(FsTemp {
            file,
            path,
            armed: true,
        }))
    }

    fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool> {
        let dest = self.path_of(hash);
        if dest.exists() {
            drop(temp); // removes the duplicate bytes
            return Ok(false);
        }
        self.rename_into(temp, &dest)?;
        Ok(true)
    }

    fn replace(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<()> {
        // A rename over the old file: readers see the old or the new one.
        self.rename_into(temp, &self.path_of(hash))
    }

    fn read_range(&self, hash: &BlobHash, start: u64, len: u64) -> io::Result<BlobRead> {
        let mut f = File::open(self.path_of(hash))?;
        let meta = meta_of(&f.metadata()?);
        if start > 0 {
            f.seek(SeekFrom::Start(start))?;
        }
        // A boxed `Take<File>`: reads go straight into the caller's buffer.
        Ok(BlobRead {
            meta,
            reader: Box::new(f.take(len)),
        })
    }

    fn stat(&self, hash: &BlobHash) -> io::Result<Option<BlobMeta>> {
        match fs::metadata(self.path_of(hash)) {
            Ok(m) if m.is_file() => Ok(Some(meta_of(&m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, hash: &BlobHash) -> io::Result<()> {
        let path = self.path_of(hash);
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    let _ = sync_dir(parent);
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn scan(&self, visit: &mut dyn FnMut(BlobEntry) -> io::Result<bool>) -> io::Result<bool> {
        let Some(l1s) = read_dir_or_empty(&self.blobs)? else {
            return Ok(false);
        };
        for l1 in l1s {
            let l1 = l1?;
            if !l1.file_type()?.is_dir() {
                continue;
            }
            for l2 in fs::read_dir(l1.path())? {
                let l2 = l2?;
                if !l2.file_type()?.is_dir() {
                    continue;
                }
                for f in fs::read_dir(l2.path())? {
                    let f = f?;
                    let meta = f.metadata()?;
                    if !meta.is_file() {
                        continue;
                    }
                    if let Some(hash) = f.file_name().to_str().and_then(parse_hex) {
                        let entry = BlobEntry {
                            hash,
                            size: meta.len(),
                            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        };
                        if visit(entry)? {
                            return Ok(true);
                        }
                    }
                }
            }
        }
        Ok(false)
    }

    /// A rename on the same filesystem, with both directories synced so the
    /// move survives power loss as a whole.
    fn quarantine(&self, hash: &BlobHash, at: SystemTime) -> io::Result<TrashEntry> {
        let from = self.path_of(hash);
        let meta = fs::metadata(&from)?;
        if !self.trash.is_dir() {
            perms::create_dir_all(&self.trash)?;
            if let Some(parent) = self.trash.parent() {
                sync_dir(parent)?;
            }
        }
        let entry = TrashEntry {
            hash: *hash,
            size: meta.len(),
            quarantined_at: at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        };
        fs::rename(&from, self.trash_path(&entry))?;
        sync_dir(&self.trash)?;
        if let Some(parent) = from.parent() {
            sync_dir(parent)?;
        }
        Ok(entry)
    }

    fn list_trash(&self) -> io::Result<Vec<TrashEntry>> {
        let Some(rd) = read_dir_or_empty(&self.trash)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for f in rd {
            let f = f?;
            let meta = f.metadata()?;
            let name = f.file_name();
            let parsed = name.to_str().and_then(|n| {
                let (at, h) = n.split_once('.')?;
                Some((at.parse::<u64>().ok()?, parse_hex(h)?))
            });
            if let (true, Some((quarantined_at, hash))) = (meta.is_file(), parsed) {
                out.push(TrashEntry {
                    hash,
                    size: meta.len(),
                    quarantined_at,
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        out.sort_by_key(|e| (e.quarantined_at, e.hash));
        Ok(out)
    }

    fn restore_trashed(&self, entry: &TrashEntry) -> io::Result<()> {
        let dest = self.path_of(&entry.hash);
        if dest.exists() {
            return self.purge_trashed(entry);
        }
        let parent = durable_parent(&dest)?;
        fs::rename(self.trash_path(entry), &dest)?;
        sync_dir(parent)?;
        sync_dir(&self.trash)
    }

    fn read_trashed(&self, entry: &TrashEntry) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(self.trash_path(entry))?))
    }

    /// Only ever a path inside `trash/`: nothing here can reach a file under
    /// `blobs/`.
    fn purge_trashed(&self, entry: &TrashEntry) -> io::Result<()> {
        match fs::remove_file(self.trash_path(entry)) {
            Ok(()) => sync_dir(&self.trash),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list_temps(&self) -> io::Result<Vec<TempEntry>> {
        let Some(rd) = read_dir_or_empty(&self.tmp)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for f in rd {
            let f = f?;
            let meta = f.metadata()?;
            if let (true, Some(name)) = (meta.is_file(), f.file_name().to_str()) {
                out.push(TempEntry {
                    name: format!("tmp/{name}"),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(out)
    }

    fn remove_temp(&self, temp: &TempEntry) -> io::Result<bool> {
        // Only a plain name inside `tmp/`, whatever the entry says.
        let name = temp.name.strip_prefix("tmp/").unwrap_or(&temp.name);
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a temp name",
            ));
        }
        match fs::remove_file(self.tmp.join(name)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn simulate_disk_full(&self, on: bool) {
        self.disk_full.store(on, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout other tools and older releases rely on: two fan-out levels,
    /// files 0600.
    #[test]
    fn blobs_land_at_their_fan_out_path_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let hash = BlobHash::of(b"hello");
        let mut t = store.create_temp().unwrap();
        t.write_all(b"hello").unwrap();
        t.sync_all().unwrap();
        assert!(store.put(t, &hash).unwrap());
        let h = hex(&hash);
        let path = dir
            .path()
            .join("blobs")
            .join(&h[..2])
            .join(&h[2..4])
            .join(&h);
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let q = store.quarantine(&hash, SystemTime::now()).unwrap();
        assert!(
            dir.path()
                .join("trash")
                .join(format!("{}.{h}", q.quarantined_at))
                .is_file()
        );
    }

    #[test]
    fn a_rewritten_file_gets_a_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let hash = BlobHash::of(b"abc");
        let mut t = store.create_temp().unwrap();
        t.write_all(b"abc").unwrap();
        store.put(t, &hash).unwrap();
        let before = store.stat(&hash).unwrap().unwrap();
        let mut t = store.create_temp().unwrap();
        t.write_all(b"abd").unwrap();
        store.replace(t, &hash).unwrap();
        let after = store.stat(&hash).unwrap().unwrap();
        assert_eq!(before.size, after.size);
        assert_ne!(before.version, after.version, "a new inode");
    }

    #[test]
    fn remove_temp_never_leaves_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        fs::write(dir.path().join("precious"), b"x").unwrap();
        for name in ["tmp/../precious", "../precious", "", ".."] {
            let e = TempEntry {
                name: name.into(),
                modified: SystemTime::now(),
            };
            assert!(store.remove_temp(&e).is_err(), "{name:?}");
        }
        assert!(dir.path().join("precious").exists());
    }
}
