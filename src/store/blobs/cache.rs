//! A bounded local disk cache in front of a remote blob store
//! (`--cache-dir`, `--cache-size`): [`CachedBlobStore`] wraps any
//! [`BlobStore`] and keeps whole blobs (originals and thumbnails alike) as
//! files `<cache-dir>/ab/<64-hex hash>.<32-hex version>.<modified ns>`,
//! least recently used evicted first, so hot images are read from local disk
//! and still serve while the bucket is out of reach.
//!
//! - **Filled on the way through, verified.** A whole-blob read that misses
//!   is streamed from the backend to the caller and, beside it, into a temp
//!   file while hashing. Only when the last byte has passed and the blake3 of
//!   the bytes is the blob's name is the temp `sync_all`ed and renamed into
//!   place (atomic: a reader sees no file or a whole one). A fill whose hash
//!   differs is thrown away and logged; the caller got the backend's bytes
//!   unchanged, so its own verification judges them as it judges any
//!   damaged read (`http::verify`), and nothing wrong is ever cached. Ranged
//!   reads that miss pass through without filling.
//! - **Safe under concurrency.** One fill per blob at a time (a second
//!   reader of a blob being filled passes through); every fill writes its own
//!   temp; a removal (delete, replace, quarantine) during a fill makes that
//!   fill's result unwanted, so a stale copy is never installed.
//! - **Bounded.** The total stays under the size given; a blob larger than a
//!   quarter of it is never cached (one huge file would evict everything).
//!   Eviction unlinks the file; a reader that already has it open keeps
//!   reading (Unix semantics).
//! - **Survives restarts.** Nothing is kept outside the directory: the index
//!   is rebuilt at open from the file names (hash, version and modification
//!   time of the object as it was read) and sizes, least recently filled
//!   first. The scan costs one `readdir` per fan-out directory and one
//!   `stat` per file, and the file count is itself bounded by the size
//!   budget over the smallest blob, so it ends in a bounded time (about a
//!   second per 500k files). Leftover temps, empty files and foreign names
//!   are removed; a fill is synced before its rename, so a power cut cannot
//!   leave a name over missing data. A directory that is neither empty nor
//!   marked as a cache (`PIXBIN-CACHE`) is refused, so a mistyped
//!   `--cache-dir` never has its files cleaned away.
//! - **Reads only.** Everything but reads goes to the backend: `stat`,
//!   listings, GC and `check` judge the bucket itself, never the cache.
//!   Write failures of the cache (a full disk) only lose the fill.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::{
    BlobEntry, BlobHash, BlobMeta, BlobRead, BlobStore, BlobVersion, TempBlob, TempEntry,
    TrashEntry, hex, parse_hex,
};
use crate::store::perms;

/// Where the cache lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCacheConfig {
    /// The cache directory (created owner-only when missing).
    pub dir: PathBuf,
    /// The most bytes of blobs kept.
    pub size: u64,
}

/// The file that marks a directory as a cache of ours.
const MARKER: &str = "PIXBIN-CACHE";

/// What the index knows of one cached blob.
#[derive(Debug, Clone, Copy)]
struct Entry {
    meta: BlobMeta,
    /// Its place in the LRU order (higher = used more recently).
    rank: u64,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<BlobHash, Entry>,
    /// rank -> hash, oldest first.
    lru: BTreeMap<u64, BlobHash>,
    next_rank: u64,
    total: u64,
    /// Blobs with a fill under way.
    filling: HashSet<BlobHash>,
}

impl Index {
    fn touch(&mut self, hash: &BlobHash) -> Option<BlobMeta> {
        let rank = self.next_rank;
        let e = self.entries.get_mut(hash)?;
        self.lru.remove(&e.rank);
        e.rank = rank;
        self.lru.insert(rank, *hash);
        self.next_rank += 1;
        Some(e.meta)
    }

    fn remove(&mut self, hash: &BlobHash) -> Option<Entry> {
        let e = self.entries.remove(hash)?;
        self.lru.remove(&e.rank);
        self.total -= e.meta.size;
        Some(e)
    }
}

/// The files and their index; shared by the store and its fills.
#[derive(Debug)]
struct DiskCache {
    dir: PathBuf,
    tmp: PathBuf,
    budget: u64,
    index: Mutex<Index>,
    /// Bumped by every removal: a fill that began before one is not installed.
    removals: AtomicU64,
    /// Hits and fills, for tests and logs.
    hits: AtomicU64,
    fills: AtomicU64,
}

/// The name of a cached blob: hash, version, modification time in ns.
fn file_name(hash: &BlobHash, meta: &BlobMeta) -> String {
    let ns = meta
        .modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}.{}.{ns}", hex(hash), hex(meta.version.as_bytes()))
}

/// Parses [`file_name`] back; `None` for anything else.
fn parse_name(name: &str, size: u64) -> Option<(BlobHash, BlobMeta)> {
    let mut parts = name.split('.');
    let hash = parse_hex(parts.next()?)?;
    let version = parts.next().filter(|v| v.len() == 32)?;
    let mut v = [0u8; 16];
    for (i, pair) in version.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        v[i] = u8::from_str_radix(s, 16).ok()?;
    }
    let ns: u128 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let modified = SystemTime::UNIX_EPOCH
        + Duration::new(
            u64::try_from(ns / 1_000_000_000).ok()?,
            (ns % 1_000_000_000) as u32,
        );
    Some((
        hash,
        BlobMeta {
            size,
            modified,
            version: BlobVersion::new(v),
        },
    ))
}

impl DiskCache {
    fn open(config: &DiskCacheConfig) -> io::Result<DiskCache> {
        let dir = config.dir.clone();
        let tmp = dir.join("tmp");
        perms::own_dir(&dir)?;
        // Opening cleans up what it does not recognise: never in a directory
        // that holds anything but a cache of ours (`--cache-dir /var/cache`).
        let marker = dir.join(MARKER);
        if !marker.exists() {
            if fs::read_dir(&dir)?.next().is_some() {
                return Err(io::Error::other(format!(
                    "{} is not empty and not a pixbin cache: give --cache-dir a new or empty directory",
                    dir.display()
                )));
            }
            fs::write(
                &marker,
                b"pixbin blob cache: files here may be removed at any time\n",
            )?;
        }
        // Temps of an earlier run are fills that never finished.
        let _ = fs::remove_dir_all(&tmp);
        perms::own_dir(&tmp)?;
        let cache = DiskCache {
            dir,
            tmp,
            budget: config.size,
            index: Mutex::default(),
            removals: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            fills: AtomicU64::new(0),
        };
        cache.rebuild()?;
        Ok(cache)
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // Every update leaves the index whole, so a poisoned lock is usable.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path_of(&self, hash: &BlobHash, meta: &BlobMeta) -> PathBuf {
        let name = file_name(hash, meta);
        self.dir.join(&name[..2]).join(name)
    }

    /// Whether a blob of `size` bytes is worth a fill.
    fn wants(&self, size: u64) -> bool {
        size > 0 && size <= self.budget / 4
    }

    /// Scans the directory into the index, oldest fill first.
    fn rebuild(&self) -> io::Result<()> {
        let mut found = Vec::new();
        for fan in fs::read_dir(&self.dir)? {
            let fan = fan?;
            if fan.file_name() == "tmp" || !fan.file_type()?.is_dir() {
                continue;
            }
            for file in fs::read_dir(fan.path())? {
                let file = file?;
                let m = file.metadata()?;
                let parsed = file
                    .file_name()
                    .to_str()
                    .and_then(|n| parse_name(n, m.len()))
                    // Only a name where `path_of` would put it counts.
                    .filter(|(h, meta)| self.path_of(h, meta) == file.path());
                match parsed {
                    Some((hash, meta)) if m.is_file() && meta.size > 0 => {
                        let filled = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                        found.push((filled, hash, meta));
                    }
                    _ => {
                        let _ = fs::remove_file(file.path());
                    }
                }
            }
        }
        found.sort_by_key(|(filled, ..)| *filled);
        let mut index = self.lock();
        for (_, hash, meta) in found {
            // Two versions of one blob (a replace while down): keep the later.
            if let Some(old) = index.remove(&hash) {
                let _ = fs::remove_file(self.path_of(&hash, &old.meta));
            }
            let rank = index.next_rank;
            index.next_rank += 1;
            index.total += meta.size;
            index.lru.insert(rank, hash);
            index.entries.insert(hash, Entry { meta, rank });
        }
        self.evict(&mut index);
        Ok(())
    }

    /// Evicts least recently used blobs until the total fits.
    fn evict(&self, index: &mut Index) {
        while index.total > self.budget {
            let Some((_, victim)) = index.lru.pop_first() else {
                break;
            };
            if let Some(e) = index.entries.remove(&victim) {
                index.total -= e.meta.size;
                let _ = fs::remove_file(self.path_of(&victim, &e.meta));
            }
        }
    }

    /// `len` bytes from `start` of a cached blob, or `None` on a miss.
    fn read(&self, hash: &BlobHash, start: u64, len: u64) -> Option<BlobRead> {
        let meta = self.lock().touch(hash)?;
        let path = self.path_of(hash, &meta);
        let opened = File::open(&path).and_then(|mut f| {
            f.seek(io::SeekFrom::Start(start.min(meta.size)))?;
            Ok(f)
        });
        match opened {
            Ok(f) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(BlobRead {
                    meta,
                    reader: Box::new(f.take(len)),
                })
            }
            Err(e) => {
                // Removed from under the index (by hand): forget it.
                tracing::warn!(error = %e, blob = %hex(hash), "a cached blob could not be opened");
                self.forget(hash);
                None
            }
        }
    }

    /// Drops a blob from the cache (it was deleted, replaced or moved).
    fn forget(&self, hash: &BlobHash) {
        self.removals.fetch_add(1, Ordering::SeqCst);
        let removed = self.lock().remove(hash);
        if let Some(e) = removed {
            let _ = fs::remove_file(self.path_of(hash, &e.meta));
        }
    }

    /// Starts a fill of `hash` unless one is under way or it is too large.
    fn begin_fill(self: &Arc<Self>, hash: &BlobHash, meta: &BlobMeta) -> Option<Fill> {
        if !self.wants(meta.size) {
            return None;
        }
        let removals = self.removals.load(Ordering::SeqCst);
        if !self.lock().filling.insert(*hash) {
            return None;
        }
        let name = format!("fill-{}", hex(&crate::secret::random_bytes::<16>()));
        let path = self.tmp.join(name);
        match perms::create_new(&path) {
            Ok(file) => Some(Fill {
                cache: self.clone(),
                hash: *hash,
                meta: *meta,
                file,
                path,
                hasher: blake3::Hasher::new(),
                written: 0,
                removals,
                done: false,
            }),
            Err(e) => {
                tracing::debug!(error = %e, "cache fill not started");
                self.lock().filling.remove(hash);
                None
            }
        }
    }
}

/// One blob on its way into the cache, written as the caller reads it.
struct Fill {
    cache: Arc<DiskCache>,
    hash: BlobHash,
    meta: BlobMeta,
    file: File,
    path: PathBuf,
    hasher: blake3::Hasher,
    written: u64,
    removals: u64,
    done: bool,
}

impl Fill {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        if self.written == self.meta.size {
            self.install()?;
        }
        Ok(())
    }

    /// Verifies, syncs and renames the finished temp into place.
    fn install(&mut self) -> io::Result<()> {
        self.done = true;
        if BlobHash::from(self.hasher.finalize()) != self.hash {
            tracing::warn!(
                blob = %hex(&self.hash),
                "bytes read from the blob store do not match their hash; not cached"
            );
            return Ok(());
        }
        // Durable before the name appears, so a power cut leaves no file or
        // a whole one, never a name over missing data.
        self.file.sync_all()?;
        let cache = &self.cache;
        let dest = cache.path_of(&self.hash, &self.meta);
        perms::own_dir(dest.parent().expect("cache paths have a parent"))?;
        let mut index = cache.lock();
        if cache.removals.load(Ordering::SeqCst) != self.removals {
            return Ok(()); // removed meanwhile: this copy may be stale
        }
        fs::rename(&self.path, &dest)?;
        // Another version of the blob (replaced in the store since): its
        // file goes; the same version was just renamed over.
        if let Some(old) = index.remove(&self.hash)
            && old.meta != self.meta
        {
            let _ = fs::remove_file(cache.path_of(&self.hash, &old.meta));
        }
        let rank = index.next_rank;
        index.next_rank += 1;
        index.total += self.meta.size;
        index.lru.insert(rank, self.hash);
        index.entries.insert(
            self.hash,
            Entry {
                meta: self.meta,
                rank,
            },
        );
        cache.evict(&mut index);
        cache.fills.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        // Installed or not, the temp name goes (after a rename it names
        // nothing) and the blob may be filled again.
        let _ = fs::remove_file(&self.path);
        self.cache.lock().filling.remove(&self.hash);
    }
}

/// The backend's reader, teeing every byte into a [`Fill`].
struct Tee {
    inner: Box<dyn Read + Send>,
    fill: Option<Fill>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(fill) = &mut self.fill {
            // A cache that cannot be written loses the fill, not the read.
            if n == 0 || fill.write(&buf[..n]).is_err() || fill.done {
                self.fill = None;
            }
        }
        Ok(n)
    }
}

/// A [`BlobStore`] with a disk cache in front of its reads.
pub struct CachedBlobStore {
    inner: Arc<dyn BlobStore>,
    cache: Arc<DiskCache>,
}

impl std::fmt::Debug for CachedBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedBlobStore")
            .field("inner", &self.inner)
            .field("dir", &self.cache.dir)
            .field("size", &self.cache.budget)
            .finish()
    }
}

impl CachedBlobStore {
    /// Wraps `inner` with the cache at `config.dir`, indexing what an
    /// earlier run left there.
    pub fn open(inner: Arc<dyn BlobStore>, config: &DiskCacheConfig) -> io::Result<Self> {
        Ok(CachedBlobStore {
            inner,
            cache: Arc::new(DiskCache::open(config)?),
        })
    }

    /// Bytes of blobs held.
    pub fn cached_bytes(&self) -> u64 {
        self.cache.lock().total
    }

    /// Whether `hash` is in the cache.
    pub fn holds(&self, hash: &BlobHash) -> bool {
        self.cache.lock().entries.contains_key(hash)
    }

    /// Reads answered from the cache, and fills installed, so far.
    pub fn hits_and_fills(&self) -> (u64, u64) {
        (
            self.cache.hits.load(Ordering::Relaxed),
            self.cache.fills.load(Ordering::Relaxed),
        )
    }
}

impl BlobStore for CachedBlobStore {
    forward_to_inner!(|_: &Self| io::Result::Ok(());
        fn create_temp(&self) -> io::Result<TempBlob>;
        fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool>;
        fn stat(&self, hash: &BlobHash) -> io::Result<Option<BlobMeta>>;
        fn scan(&self, visit: &mut dyn FnMut(BlobEntry) -> io::Result<bool>) -> io::Result<bool>;
        fn list_trash(&self) -> io::Result<Vec<TrashEntry>>;
        fn restore_trashed(&self, entry: &TrashEntry) -> io::Result<()>;
        fn read_trashed(&self, entry: &TrashEntry) -> io::Result<Box<dyn Read + Send>>;
        fn purge_trashed(&self, entry: &TrashEntry) -> io::Result<()>;
        fn list_temps(&self) -> io::Result<Vec<TempEntry>>;
        fn remove_temp(&self, temp: &TempEntry) -> io::Result<bool>;
        fn remote_marker(&self) -> io::Result<Option<String>>;
        fn write_remote_marker(&self, text: &str) -> io::Result<()>;
        fn probe(&self) -> io::Result<()>;
        fn presign(&self, hash: &BlobHash, ttl: Duration) -> io::Result<Option<String>>;
    );

    fn replace(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<()> {
        let r = self.inner.replace(temp, hash);
        self.cache.forget(hash);
        r
    }

    fn read_range(&self, hash: &BlobHash, start: u64, len: u64) -> io::Result<BlobRead> {
        if let Some(hit) = self.cache.read(hash, start, len) {
            return Ok(hit);
        }
        let opened = self.inner.read_range(hash, start, len)?;
        let whole = start == 0 && len >= opened.meta.size;
        let fill = if whole {
            self.cache.begin_fill(hash, &opened.meta)
        } else {
            None
        };
        Ok(match fill {
            None => opened,
            Some(fill) => BlobRead {
                meta: opened.meta,
                reader: Box::new(Tee {
                    inner: opened.reader,
                    fill: Some(fill),
                }),
            },
        })
    }

    fn delete(&self, hash: &BlobHash) -> io::Result<()> {
        self.cache.forget(hash);
        self.inner.delete(hash)
    }

    fn quarantine(&self, hash: &BlobHash, at: SystemTime) -> io::Result<TrashEntry> {
        self.cache.forget(hash);
        self.inner.quarantine(hash, at)
    }

    fn simulate_disk_full(&self, on: bool) {
        self.inner.simulate_disk_full(on)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FaultyBlobStore, MemBlobStore, is_unavailable};
    use super::*;

    fn put(store: &dyn BlobStore, bytes: &[u8]) -> BlobHash {
        let mut t = store.create_temp().unwrap();
        t.write_all(bytes).unwrap();
        t.sync_all().unwrap();
        let hash = BlobHash::of(bytes);
        store.put(t, &hash).unwrap();
        hash
    }

    fn read(store: &dyn BlobStore, hash: &BlobHash, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        store
            .read_range(hash, start, len)?
            .reader
            .read_to_end(&mut v)?;
        Ok(v)
    }

    fn whole(store: &dyn BlobStore, hash: &BlobHash) -> Vec<u8> {
        read(store, hash, 0, u64::MAX).unwrap()
    }

    struct Setup {
        backend: FaultyBlobStore,
        cached: CachedBlobStore,
        config: DiskCacheConfig,
        _dir: tempfile::TempDir,
    }

    fn setup(size: u64) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let backend = FaultyBlobStore::new(Arc::new(MemBlobStore::new()));
        let config = DiskCacheConfig {
            dir: dir.path().join("cache"),
            size,
        };
        let cached = CachedBlobStore::open(Arc::new(backend.clone()), &config).unwrap();
        Setup {
            backend,
            cached,
            config,
            _dir: dir,
        }
    }

    /// Every cached file (temps aside).
    fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for fan in fs::read_dir(dir).unwrap() {
            let fan = fan.unwrap().path();
            if fan.is_dir() && !fan.ends_with("tmp") {
                out.extend(fs::read_dir(&fan).unwrap().map(|f| f.unwrap().path()));
            }
        }
        out
    }

    fn blob(n: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31) ^ n).collect()
    }

    #[test]
    fn a_filled_blob_serves_whole_and_by_range_while_the_backend_is_down() {
        let s = setup(1 << 20);
        let data = blob(1, 5000);
        let hash = put(&s.cached, &data);
        let cold = put(&s.cached, &blob(2, 100));
        assert!(!s.cached.holds(&hash), "uploads do not fill");
        assert_eq!(whole(&s.cached, &hash), data);
        assert!(s.cached.holds(&hash));
        assert_eq!(s.cached.cached_bytes(), 5000);
        s.backend.set_down(true);
        assert_eq!(whole(&s.cached, &hash), data);
        assert_eq!(read(&s.cached, &hash, 4990, 100).unwrap(), &data[4990..]);
        assert!(read(&s.cached, &hash, 6000, 1).unwrap().is_empty());
        let meta = s.cached.read_range(&hash, 10, 1).unwrap().meta;
        assert_eq!(meta.size, 5000, "the whole blob's meta");
        let err = read(&s.cached, &cold, 0, u64::MAX).unwrap_err();
        assert!(is_unavailable(&err), "a cold blob is unavailable: {err}");
        s.backend.set_down(false);
        assert_eq!(
            s.backend.stat(&hash).unwrap(),
            Some(meta),
            "the cache keeps the backend's own version"
        );
    }

    #[test]
    fn bytes_that_do_not_match_their_hash_pass_through_and_are_never_cached() {
        let s = setup(1 << 20);
        let hash = put(&s.cached, b"the right bytes");
        let mut t = s.cached.create_temp().unwrap();
        t.write_all(b"the wrong bytes").unwrap();
        s.cached.replace(t, &hash).unwrap();
        assert_eq!(whole(&s.cached, &hash), b"the wrong bytes");
        assert!(!s.cached.holds(&hash));
        assert!(files_in(&s.config.dir).is_empty());
        assert_eq!(fs::read_dir(s.config.dir.join("tmp")).unwrap().count(), 0);
        assert_eq!(s.cached.hits_and_fills().1, 0);
    }

    #[test]
    fn replace_and_delete_drop_the_cached_copy() {
        let s = setup(1 << 20);
        let hash = put(&s.cached, b"kept for a while");
        whole(&s.cached, &hash);
        assert!(s.cached.holds(&hash));
        s.cached.delete(&hash).unwrap();
        assert!(!s.cached.holds(&hash));
        assert!(read(&s.cached, &hash, 0, 5).unwrap_err().kind() == io::ErrorKind::NotFound);
        assert!(files_in(&s.config.dir).is_empty());
    }

    #[test]
    fn a_removal_during_a_fill_keeps_the_fill_out() {
        let s = setup(1 << 20);
        let data = blob(3, 3000);
        let hash = put(&s.cached, &data);
        let mut r = s.cached.read_range(&hash, 0, u64::MAX).unwrap().reader;
        let mut head = [0u8; 100];
        r.read_exact(&mut head).unwrap();
        s.cached.delete(&hash).unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest.len(), 2900, "the open read still finishes");
        assert!(!s.cached.holds(&hash), "a deleted blob is not installed");
    }

    #[test]
    fn concurrent_reads_of_one_blob_fill_it_once() {
        let s = setup(1 << 20);
        let data = blob(4, 4000);
        let hash = put(&s.cached, &data);
        let mut a = s.cached.read_range(&hash, 0, u64::MAX).unwrap().reader;
        let mut b = s.cached.read_range(&hash, 0, u64::MAX).unwrap().reader;
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        b.read_to_end(&mut vb).unwrap();
        a.read_to_end(&mut va).unwrap();
        assert_eq!((va == data, vb == data), (true, true));
        assert!(s.cached.holds(&hash));
        assert_eq!(s.cached.hits_and_fills().1, 1);
        assert_eq!(files_in(&s.config.dir).len(), 1);
    }

    #[test]
    fn ranged_misses_and_large_blobs_do_not_fill() {
        let s = setup(4000);
        let small = put(&s.cached, &blob(5, 500));
        let large = put(&s.cached, &blob(6, 1001));
        assert_eq!(read(&s.cached, &small, 10, 20).unwrap().len(), 20);
        assert!(!s.cached.holds(&small), "a range does not fill");
        whole(&s.cached, &large);
        assert!(!s.cached.holds(&large), "over a quarter of the budget");
        whole(&s.cached, &small);
        assert!(s.cached.holds(&small));
    }

    #[test]
    fn eviction_keeps_the_total_under_the_size_least_recently_used_first() {
        let s = setup(4000);
        let hashes: Vec<BlobHash> = (0..5).map(|n| put(&s.cached, &blob(n, 1000))).collect();
        for h in &hashes[..4] {
            whole(&s.cached, h);
        }
        assert_eq!(s.cached.cached_bytes(), 4000);
        whole(&s.cached, &hashes[0]); // a hit: now the most recent
        whole(&s.cached, &hashes[4]);
        assert_eq!(s.cached.cached_bytes(), 4000);
        let held: Vec<bool> = hashes.iter().map(|h| s.cached.holds(h)).collect();
        assert_eq!(held, [true, false, true, true, true]);
        let total: u64 = files_in(&s.config.dir)
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(total, 4000, "evicted files are gone from disk");
    }

    #[test]
    fn the_index_is_rebuilt_from_the_directory_after_a_restart() {
        let s = setup(1 << 20);
        let data = blob(7, 2000);
        let hash = put(&s.cached, &data);
        whole(&s.cached, &hash);
        let meta = s.cached.read_range(&hash, 0, 1).unwrap().meta;
        drop(s.cached);
        // Debris an earlier run could leave: a temp and a foreign file.
        fs::write(s.config.dir.join("tmp").join("fill-x"), b"partial").unwrap();
        fs::create_dir_all(s.config.dir.join("zz")).unwrap();
        fs::write(s.config.dir.join("zz").join("not-a-blob"), b"?").unwrap();
        s.backend.set_down(true);
        let again = CachedBlobStore::open(Arc::new(s.backend.clone()), &s.config).unwrap();
        assert!(again.holds(&hash));
        assert_eq!(whole(&again, &hash), data);
        assert_eq!(again.read_range(&hash, 0, 1).unwrap().meta, meta);
        assert_eq!(files_in(&s.config.dir).len(), 1, "debris removed");
        assert_eq!(fs::read_dir(s.config.dir.join("tmp")).unwrap().count(), 0);
        // A smaller size on restart evicts down to it.
        drop(again);
        let small = DiskCacheConfig {
            size: 1000,
            ..s.config.clone()
        };
        let shrunk = CachedBlobStore::open(Arc::new(s.backend.clone()), &small).unwrap();
        assert_eq!(shrunk.cached_bytes(), 0);
        assert!(files_in(&s.config.dir).is_empty());
    }

    #[test]
    fn a_directory_that_is_not_a_cache_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("ab")).unwrap();
        fs::write(dir.path().join("ab").join("precious"), b"keep").unwrap();
        let config = DiskCacheConfig {
            dir: dir.path().to_path_buf(),
            size: 1 << 20,
        };
        let err = CachedBlobStore::open(Arc::new(MemBlobStore::new()), &config).unwrap_err();
        assert!(err.to_string().contains("not a pixbin cache"), "{err}");
        assert_eq!(
            fs::read(dir.path().join("ab").join("precious")).unwrap(),
            b"keep"
        );
    }

    #[test]
    fn names_round_trip() {
        let meta = BlobMeta {
            size: 9,
            modified: SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123),
            version: BlobVersion::new([7; 16]),
        };
        let hash = BlobHash::of(b"n");
        assert_eq!(parse_name(&file_name(&hash, &meta), 9), Some((hash, meta)));
        assert_eq!(parse_name("abc", 1), None);
        assert_eq!(parse_name(&format!("{}.x.1", hex(&hash)), 1), None);
    }
}
