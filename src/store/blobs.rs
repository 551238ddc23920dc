//! Content-addressed blob files: `blobs/ab/cd/<64-hex blake3>`, written through `tmp/`.
//!
//! The path of a blob derives only from its hash (ARCHITECTURE invariant 3): no
//! user string ever reaches the filesystem. Writes follow the durable order of
//! invariant 1: temp file -> fsync -> rename into place -> fsync directory; the
//! database row is committed only after that, so a row never points at a blob
//! that a crash could take away.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The quarantine directory inside a data directory (see `store::gc`).
pub const TRASH: &str = "trash";

/// A blob digest (blake3, 32 bytes).
pub type BlobHash = [u8; 32];

/// Lowercase hex of a digest.
pub fn hex(hash: &BlobHash) -> String {
    let mut s = String::with_capacity(64);
    for b in hash {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

/// Parses 64 lowercase hex characters back into a digest.
pub fn parse_hex(s: &str) -> Option<BlobHash> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        if pair.iter().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// One blob file found on disk.
#[derive(Debug, Clone)]
pub struct BlobEntry {
    /// Its name, parsed.
    pub hash: BlobHash,
    /// Its length.
    pub size: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// Where blob bytes live. The filesystem is the default; the trait keeps the door
/// open for an object-store backend without touching the handlers.
pub trait BlobStore: Send + Sync + 'static {
    /// Creates an empty temp file to stream an upload into. The guard removes it
    /// on drop unless it was consumed by [`BlobStore::put`].
    fn create_temp(&self) -> io::Result<(TempBlob, File)>;
    /// Moves a finished, already fsynced temp file under its hash. Returns `false`
    /// when a blob with that hash already existed (the temp is dropped: dedup).
    fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool>;
    /// Opens a blob for reading.
    fn open(&self, hash: &BlobHash) -> io::Result<File>;
    /// Whether the blob file exists.
    fn exists(&self, hash: &BlobHash) -> bool;
    /// Removes a blob file; a missing file is not an error.
    fn delete(&self, hash: &BlobHash) -> io::Result<()>;
    /// Every blob file on disk (for GC and `check`, never on a request path).
    fn list(&self) -> io::Result<Vec<BlobEntry>>;
    /// Every temp file with its modification time (for GC and start-up cleanup).
    fn list_temps(&self) -> io::Result<Vec<(PathBuf, SystemTime)>>;
}

/// A temp file that is deleted when dropped, unless handed to [`BlobStore::put`].
#[derive(Debug)]
pub struct TempBlob {
    path: PathBuf,
    armed: bool,
}

impl TempBlob {
    /// The temp file's location.
    pub fn path(&self) -> &Path {
        &self.path
    }
    fn disarm(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// One blob in quarantine (`trash/<quarantined-at secs>.<64-hex>`): GC moved
/// it out of `blobs/` and unlinks it after the retention, unless it is wanted
/// again first. The name keeps all that is needed to put it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    /// The blob's hash (its name in `blobs/`).
    pub hash: BlobHash,
    /// Its length.
    pub size: u64,
    /// When it was quarantined (Unix seconds).
    pub quarantined_at: u64,
    /// When its bytes were last written (kept by the rename).
    pub modified: SystemTime,
}

impl TrashEntry {
    fn name(&self) -> String {
        format!("{}.{}", self.quarantined_at, hex(&self.hash))
    }
}

/// Blobs as files under a data directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
    trash: PathBuf,
    /// Fault injection for the disk-full test where no small filesystem can
    /// be mounted (SECURITY M6): see [`FsBlobStore::simulate_disk_full`].
    disk_full: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FsBlobStore {
    /// Uses `<data_dir>/blobs` and `<data_dir>/tmp`, creating them if needed.
    /// Both live on one filesystem so the rename is atomic.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let blobs = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        super::perms::own_dir(&blobs)?;
        super::perms::own_dir(&tmp)?;
        Ok(FsBlobStore {
            blobs,
            tmp,
            trash: data_dir.join(TRASH),
            disk_full: Default::default(),
        })
    }

    /// Test hook: while on, writes to new temp files fail with ENOSPC, as on a
    /// full disk.
    #[doc(hidden)]
    pub fn simulate_disk_full(&self, on: bool) {
        self.disk_full
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The on-disk path of a blob: two fan-out levels from the first hash bytes so
    /// no directory grows past 65,536 entries per level.
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let h = hex(hash);
        self.blobs.join(&h[0..2]).join(&h[2..4]).join(h)
    }
}

impl FsBlobStore {
    /// Moves a blob into quarantine, on the same filesystem (a rename), with
    /// both directories synced so the move survives power loss as a whole.
    pub fn quarantine(&self, hash: &BlobHash, at: SystemTime) -> io::Result<TrashEntry> {
        let from = self.path_of(hash);
        let meta = fs::metadata(&from)?;
        if !self.trash.is_dir() {
            super::perms::create_dir_all(&self.trash)?;
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
        fs::rename(&from, self.trash.join(entry.name()))?;
        sync_dir(&self.trash)?;
        if let Some(parent) = from.parent() {
            sync_dir(parent)?;
        }
        Ok(entry)
    }

    /// Every blob in quarantine, oldest quarantine first.
    pub fn list_trash(&self) -> io::Result<Vec<TrashEntry>> {
        let rd = match fs::read_dir(&self.trash) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
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

    /// Puts a quarantined blob back under its hash. When `blobs/` already has
    /// it (written again by an upload), the quarantined copy is dropped instead.
    pub fn unquarantine(&self, entry: &TrashEntry) -> io::Result<()> {
        let dest = self.path_of(&entry.hash);
        let from = self.trash.join(entry.name());
        if dest.exists() {
            return self.purge_trashed(entry);
        }
        let parent = durable_parent(&dest)?;
        fs::rename(from, &dest)?;
        sync_dir(parent)?;
        sync_dir(&self.trash)
    }

    /// Opens a quarantined blob for reading.
    pub fn open_trashed(&self, entry: &TrashEntry) -> io::Result<File> {
        File::open(self.trash.join(entry.name()))
    }

    /// Unlinks a quarantined blob. Only ever a path inside `trash/`: nothing
    /// here can reach a file under `blobs/`.
    pub fn purge_trashed(&self, entry: &TrashEntry) -> io::Result<()> {
        match fs::remove_file(self.trash.join(entry.name())) {
            Ok(()) => sync_dir(&self.trash),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The fan-out directory a blob path lives in, created (owner-only) if
/// missing. New fan-out directories must themselves be durable entries, so
/// the two levels above a new one are synced.
fn durable_parent(dest: &Path) -> io::Result<&Path> {
    let parent = dest.parent().expect("blob paths have parents");
    if !parent.exists() {
        super::perms::create_dir_all(parent)?;
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

impl BlobStore for FsBlobStore {
    fn create_temp(&self) -> io::Result<(TempBlob, File)> {
        let name = format!("upload-{}", hex(&crate::secret::random_bytes::<32>()));
        let path = self.tmp.join(&name[..40]);
        // 0600: the blob keeps this file's mode after its rename.
        let file = super::perms::create_new(&path)?;
        let temp = TempBlob { path, armed: true };
        if self.disk_full.load(std::sync::atomic::Ordering::SeqCst) {
            // /dev/full answers every write with ENOSPC.
            let full = fs::OpenOptions::new().write(true).open("/dev/full")?;
            return Ok((temp, full));
        }
        Ok((temp, file))
    }

    fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool> {
        let dest = self.path_of(hash);
        if dest.exists() {
            drop(temp); // removes the duplicate bytes
            return Ok(false);
        }
        let parent = durable_parent(&dest)?;
        // If the rename fails the guard must still clean the temp up, so disarm
        // only after it succeeded.
        fs::rename(temp.path(), &dest)?;
        temp.disarm();
        sync_dir(parent)?;
        Ok(true)
    }

    fn open(&self, hash: &BlobHash) -> io::Result<File> {
        File::open(self.path_of(hash))
    }

    fn exists(&self, hash: &BlobHash) -> bool {
        self.path_of(hash).is_file()
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

    fn list(&self) -> io::Result<Vec<BlobEntry>> {
        let mut out = Vec::new();
        for l1 in fs::read_dir(&self.blobs)? {
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
                        out.push(BlobEntry {
                            hash,
                            size: meta.len(),
                            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    fn list_temps(&self) -> io::Result<Vec<(PathBuf, SystemTime)>> {
        let mut out = Vec::new();
        for f in fs::read_dir(&self.tmp)? {
            let f = f?;
            let meta = f.metadata()?;
            if meta.is_file() {
                out.push((f.path(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hex_round_trips_and_rejects_uppercase() {
        let h = *blake3::hash(b"x").as_bytes();
        assert_eq!(parse_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hex(&hex(&h).to_uppercase()), None);
        assert_eq!(parse_hex("zz"), None);
    }

    #[test]
    fn put_dedups_and_temp_guard_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let hash = *blake3::hash(b"hello").as_bytes();
        for expected_new in [true, false] {
            let (temp, mut f) = store.create_temp().unwrap();
            f.write_all(b"hello").unwrap();
            f.sync_all().unwrap();
            assert_eq!(store.put(temp, &hash).unwrap(), expected_new);
        }
        assert_eq!(store.list_temps().unwrap().len(), 0);
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].hash, hash);
        assert_eq!(fs::read(store.path_of(&hash)).unwrap(), b"hello");
        assert!(store.path_of(&hash).ends_with(format!(
            "{}/{}/{}",
            &hex(&hash)[..2],
            &hex(&hash)[2..4],
            hex(&hash)
        )));

        let (temp, _f) = store.create_temp().unwrap();
        assert_eq!(store.list_temps().unwrap().len(), 1);
        drop(temp);
        assert_eq!(store.list_temps().unwrap().len(), 0);

        store.delete(&hash).unwrap();
        store.delete(&hash).unwrap();
        assert!(!store.exists(&hash));
    }
}
