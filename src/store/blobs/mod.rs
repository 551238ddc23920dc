//! Where blob bytes live: one interface, [`BlobStore`], of streams and byte
//! ranges keyed by content hash, with the filesystem as the default backend
//! ([`fs::FsBlobStore`], `blobs/ab/cd/<64-hex blake3>` written through `tmp/`)
//! an S3-compatible one ([`s3::S3BlobStore`], `--storage s3://bucket/prefix`)
//! and an in-memory one ([`memory::MemBlobStore`]) that proves the seam; two
//! wrappers over any of them: a bounded local disk cache of reads
//! ([`cache::CachedBlobStore`], `serve --cache-dir`) and a switchable outage
//! for tests ([`faulty::FaultyBlobStore`]).
//!
//! Nothing of a backend's own world crosses the interface: no `File`, no path,
//! no rename. A blob is named only by its hash (ARCHITECTURE invariant 3), so
//! no user string ever reaches a path or an object key. Writes keep the
//! durable order of invariant 1: stream into a [`TempBlob`] -> `sync_all` ->
//! [`BlobStore::put`] under its hash (dedup when it exists) -> the database
//! row; a row never points at bytes that a crash could take away.
//!
//! The interface is synchronous on purpose: every caller already runs blob
//! work on the blocking pool (next to redb, which is blocking too), the serve
//! path reads its first chunk in the same hop as the open, and a blocking
//! S3 client (one HTTP request per call) fits it as well as a file does. An
//! async trait would need boxed futures on every call and would still block
//! underneath for the filesystem. The one async piece, feeding a temp from an
//! upload stream, is the adapter [`async_temp::AsyncTemp`].

/// Writes [`BlobStore`] methods of a wrapper that pass straight on to
/// `self.inner` once `$check(self)` (an `io::Result<()>`) allowed it; the
/// wrappers differ only in the few methods they write out.
macro_rules! forward_to_inner {
    ($check:expr; $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> $ret {
                ($check)(self)?;
                self.inner.$name($($arg),*)
            }
        )*
    };
}

pub mod async_temp;
pub mod cache;
pub mod faulty;
pub mod fs;
pub mod memory;
pub mod s3;
pub mod storage;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::io::{self, Read, Seek, Write};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use self::faulty::FaultyBlobStore;
pub use self::fs::FsBlobStore;
pub use self::memory::MemBlobStore;

/// A blob digest (blake3, 32 bytes): the name of an image or thumbnail blob.
///
/// A type of its own so a token or key digest (also 32 bytes) cannot be passed
/// where a blob is meant. `transparent` keeps the serde form that of the plain
/// array, so records written before the type existed decode unchanged (the
/// codec's golden bytes pin this).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobHash([u8; 32]);

impl BlobHash {
    /// A digest read back from a table key, a record or a test.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        BlobHash(bytes)
    }

    /// The digest of `bytes`, as the blob holding them is named.
    pub fn of(bytes: &[u8]) -> Self {
        blake3::hash(bytes).into()
    }

    /// The raw digest (table keys, blob names).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The raw digest as a slice: the key of the blob-keyed tables.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<blake3::Hash> for BlobHash {
    fn from(h: blake3::Hash) -> Self {
        BlobHash(*h.as_bytes())
    }
}

impl TryFrom<&[u8]> for BlobHash {
    type Error = std::array::TryFromSliceError;

    /// A digest from a table key of the wrong length is an error, not a panic.
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 32]>::try_from(bytes).map(BlobHash)
    }
}

impl AsRef<[u8]> for BlobHash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

// Hex, as it appears in blob names and logs; 32 decimal bytes help no one.
impl std::fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobHash({})", hex(self))
    }
}

/// Lowercase hex of a digest: a blob hash, or any other bytes named in hex
/// (temp names, backup tags, the key file's digest in a manifest).
pub fn hex<B: AsRef<[u8]> + ?Sized>(bytes: &B) -> String {
    let bytes = bytes.as_ref();
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
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
    Some(BlobHash(out))
}

/// What identifies one stored version of a blob, opaque to callers: it changes
/// whenever the object is written or replaced (by hand, by a repair). The
/// filesystem packs inode and modification time into it; an object store
/// would hash its ETag and Last-Modified into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobVersion([u8; 16]);

impl BlobVersion {
    /// A version from a backend's own 16 bytes.
    pub fn new(bytes: [u8; 16]) -> Self {
        BlobVersion(bytes)
    }

    /// The backend's bytes (a cache names its copy by them).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// What a backend knows about one stored blob without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobMeta {
    /// Its length in bytes.
    pub size: u64,
    /// When its bytes were last written.
    pub modified: SystemTime,
    /// Which version of the object this is (see [`BlobVersion`]).
    pub version: BlobVersion,
}

/// One blob found by [`BlobStore::list`].
#[derive(Debug, Clone)]
pub struct BlobEntry {
    /// Its name, parsed.
    pub hash: BlobHash,
    /// Its length.
    pub size: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// An open range of a blob: the reader and what the blob was as it was opened
/// (one `fstat`, or the headers of one ranged GET), so a length check and the
/// bytes describe the same version.
pub struct BlobRead {
    /// The whole blob's metadata (not the range's).
    pub meta: BlobMeta,
    /// Yields the requested range, shorter when the blob ends first.
    pub reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead")
            .field("meta", &self.meta)
            .finish()
    }
}

/// One blob in quarantine: GC moved it aside and purges it after the
/// retention, unless it is wanted again first. The fields are all a backend
/// needs to name it (the filesystem: `trash/<quarantined-at secs>.<64-hex>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    /// The blob's hash.
    pub hash: BlobHash,
    /// Its length.
    pub size: u64,
    /// When it was quarantined (Unix seconds).
    pub quarantined_at: u64,
    /// When its bytes were last written (kept by the move).
    pub modified: SystemTime,
}

/// A temp left behind (a crash mid-upload), named the backend's way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempEntry {
    /// The backend's name for it, for reports and for [`BlobStore::remove_temp`].
    pub name: String,
    /// When it was last written.
    pub modified: SystemTime,
}

/// A reader that can also seek (the strip and orientation passes re-read a
/// temp out of order).
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Makes what a temp holds so far durable, from another thread while writes
/// go on (an upload starts writeback early).
pub type Syncer = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// What a backend implements for its temps; callers see [`TempBlob`].
pub trait TempWrite: Write + Send {
    /// Makes everything written durable (fsync).
    fn sync_all(&mut self) -> io::Result<()>;
    /// A handle that syncs what is written so far, usable beside the writes.
    fn syncer(&self) -> io::Result<Syncer>;
    /// A fresh reader over what is written so far (flushed writes only).
    fn reader(&self) -> io::Result<Box<dyn ReadSeek>>;
    /// A handle that throws the temp's bytes away now, even while a write
    /// to it is still running elsewhere (an upload abandoned mid-write).
    fn discarder(&self) -> Discarder;
    /// For the backend's [`BlobStore::put`] to get its own type back.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// See [`TempWrite::discarder`].
pub type Discarder = Box<dyn FnOnce() + Send + Sync>;

/// Bytes on their way into a store, before they have a name. Dropping it
/// throws them away (the backend's temp goes), unless [`BlobStore::put`] took
/// it.
pub struct TempBlob(Box<dyn TempWrite>);

impl std::fmt::Debug for TempBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TempBlob")
    }
}

impl TempBlob {
    /// Wraps a backend's temp.
    pub fn new(inner: impl TempWrite + 'static) -> Self {
        TempBlob(Box::new(inner))
    }
    /// Makes everything written durable; call before [`BlobStore::put`].
    pub fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
    /// See [`TempWrite::syncer`].
    pub fn syncer(&self) -> io::Result<Syncer> {
        self.0.syncer()
    }
    /// See [`TempWrite::reader`].
    pub fn reader(&self) -> io::Result<Box<dyn ReadSeek>> {
        self.0.reader()
    }
    /// See [`TempWrite::discarder`].
    pub fn discarder(&self) -> Discarder {
        self.0.discarder()
    }
    /// The backend's own temp, or an error (and the temp dropped) when it
    /// came from another kind of store.
    pub fn downcast<T: 'static>(self) -> io::Result<T> {
        self.0
            .into_any()
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| io::Error::other("a temp from another kind of blob store"))
    }
}

impl Write for TempBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Where blob bytes live. Every method can be filled by an S3-compatible
/// object store as well as by a filesystem:
///
/// - Temps are local staging (a file in a spool directory, or memory): a
///   blob's name is its hash, known only after the last byte, and uploads are
///   re-read once (metadata stripping). `put` then uploads the staged bytes
///   with `PutObject` under `If-None-Match: *` (or a `HeadObject` first) for
///   dedup; no rename is needed. `replace` is a plain `PutObject`.
/// - `read_range` is a `GetObject` with an HTTP `Range` header; its response
///   carries the total length (`Content-Range`) and the `ETag` that make the
///   [`BlobMeta`], so checking and reading take one request. `stat` is a
///   `HeadObject`.
/// - `list`, `list_trash` are `ListObjectsV2` under a prefix (`blobs/`,
///   `trash/`), which returns size, `LastModified` and `ETag` per key.
/// - Quarantine is copy-then-delete to `trash/<secs>.<hash>` (S3 has no
///   rename); a crash between the two leaves both copies, which GC's next
///   pass resolves as it resolves a quarantined blob that has a row again.
/// - Nothing here needs an inode, a directory fsync or a rename; those stay
///   inside the filesystem backend.
pub trait BlobStore: std::fmt::Debug + Send + Sync + 'static {
    /// A new, empty temp to stream bytes into; dropped, it goes away.
    fn create_temp(&self) -> io::Result<TempBlob>;
    /// Stores a finished, already synced temp under its hash. Returns `false`
    /// when a blob with that hash already existed: the new bytes are dropped
    /// (dedup). Durable when it returns.
    fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool>;
    /// Stores a temp under its hash over whatever is there (repair of a
    /// damaged blob); readers see the old bytes or the new, never a mix.
    fn replace(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<()>;
    /// Opens `len` bytes from `start` (fewer when the blob ends first; none
    /// when `start` is at or past its end). `NotFound` when there is no blob.
    fn read_range(&self, hash: &BlobHash, start: u64, len: u64) -> io::Result<BlobRead>;
    /// The blob's metadata, `None` when it does not exist.
    fn stat(&self, hash: &BlobHash) -> io::Result<Option<BlobMeta>>;
    /// Removes a blob; a missing one is not an error.
    fn delete(&self, hash: &BlobHash) -> io::Result<()>;
    /// Calls `visit` with every stored blob until it returns `Ok(true)`;
    /// returns whether it stopped early. For GC, `check` and start-up
    /// identity checks, never on a request path.
    fn scan(&self, visit: &mut dyn FnMut(BlobEntry) -> io::Result<bool>) -> io::Result<bool>;
    /// Moves a blob into quarantine, durably as a whole.
    fn quarantine(&self, hash: &BlobHash, at: SystemTime) -> io::Result<TrashEntry>;
    /// Every blob in quarantine, oldest quarantine first.
    fn list_trash(&self) -> io::Result<Vec<TrashEntry>>;
    /// Puts a quarantined blob back under its hash; when a blob with that
    /// hash exists again (written anew by an upload), drops the quarantined
    /// copy instead.
    fn restore_trashed(&self, entry: &TrashEntry) -> io::Result<()>;
    /// Reads a quarantined blob whole.
    fn read_trashed(&self, entry: &TrashEntry) -> io::Result<Box<dyn Read + Send>>;
    /// Removes a quarantined blob for good; a missing one is not an error.
    /// Never touches a blob in place.
    fn purge_trashed(&self, entry: &TrashEntry) -> io::Result<()>;
    /// Every temp left behind, with when it was last written.
    fn list_temps(&self) -> io::Result<Vec<TempEntry>>;
    /// Removes one temp; `false` when it was already gone.
    fn remove_temp(&self, temp: &TempEntry) -> io::Result<bool>;
    /// The identity marker kept with the blobs, for a backend whose blobs
    /// live apart from the data directory (see `store::identity`); `None`
    /// when there is none or the blobs sit beside the marker file.
    fn remote_marker(&self) -> io::Result<Option<String>> {
        Ok(None)
    }
    /// Writes the identity marker with the blobs (see
    /// [`BlobStore::remote_marker`]); nothing for a local backend.
    fn write_remote_marker(&self, _text: &str) -> io::Result<()> {
        Ok(())
    }
    /// Whether the backend answers at all, in bounded time and without
    /// retries (`/readyz`); a local backend always does.
    fn probe(&self) -> io::Result<()> {
        Ok(())
    }
    /// A URL that lets anyone GET the blob directly from the backend for
    /// `ttl` (`--s3-redirect`); `None` when the backend cannot sign one.
    fn presign(&self, _hash: &BlobHash, _ttl: std::time::Duration) -> io::Result<Option<String>> {
        Ok(None)
    }
    /// Test hook: while on, writes to new temps fail with ENOSPC, as on a
    /// full disk.
    #[doc(hidden)]
    fn simulate_disk_full(&self, on: bool);

    /// Opens a whole blob.
    fn read(&self, hash: &BlobHash) -> io::Result<BlobRead> {
        self.read_range(hash, 0, u64::MAX)
    }
    /// Whether the blob exists (an error reads as absent).
    fn exists(&self, hash: &BlobHash) -> bool {
        matches!(self.stat(hash), Ok(Some(_)))
    }
    /// Every stored blob.
    fn list(&self) -> io::Result<Vec<BlobEntry>> {
        let mut out = Vec::new();
        self.scan(&mut |e| {
            out.push(e);
            Ok(false)
        })?;
        Ok(out)
    }
}

/// Why a backend could not answer at all (a timeout, a refused connection,
/// an object store without quorum), carried inside an `io::Error`: it says
/// nothing about the blob, so it is never judged as damage, and a client is
/// asked to come back (`503` with `Retry-After`) rather than told it failed.
#[derive(Debug, thiserror::Error)]
#[error("the blob store is unavailable: {0}")]
pub struct Unavailable(pub String);

impl Unavailable {
    /// An `io::Error` carrying this.
    pub fn io(why: impl Into<String>) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, Unavailable(why.into()))
    }
}

/// Whether `e` is a backend that could not be reached ([`Unavailable`]).
pub fn is_unavailable(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Unavailable>())
}

/// Length and blake3 of everything `r` yields, read in large chunks.
pub fn hash_reader(mut r: impl Read) -> io::Result<(u64, BlobHash)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((len, hasher.finalize().into()))
}

/// Random access over a blob made of range reads, for the parsers that seek
/// (thumbnails, orientation, the metadata list). A seek forward by a little
/// reads on; any other seek opens a new range (on S3, one ranged GET), so put
/// a `BufReader` on top.
pub struct BlobCursor {
    store: Arc<dyn BlobStore>,
    hash: BlobHash,
    meta: BlobMeta,
    pos: u64,
    /// The open range and where it is, when one is open.
    open: Option<Box<dyn Read + Send>>,
}

/// How far forward a seek reads on instead of opening a new range.
const SKIP_BY_READING: u64 = 64 * 1024;

impl BlobCursor {
    /// Opens `hash` at its start.
    pub fn open(store: Arc<dyn BlobStore>, hash: &BlobHash) -> io::Result<Self> {
        let first = store.read(hash)?;
        Ok(BlobCursor {
            store,
            hash: *hash,
            meta: first.meta,
            pos: 0,
            open: Some(first.reader),
        })
    }

    /// The blob's metadata as first opened.
    pub fn meta(&self) -> &BlobMeta {
        &self.meta
    }
}

impl Read for BlobCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.open.is_none() {
            let r = self.store.read_range(&self.hash, self.pos, u64::MAX)?;
            if r.meta != self.meta {
                return Err(io::Error::other("the blob changed while it was read"));
            }
            self.open = Some(r.reader);
        }
        let n = self.open.as_mut().map_or(Ok(0), |r| r.read(buf))?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobCursor {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(p) => Some(p),
            io::SeekFrom::End(d) => self.meta.size.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if target > self.pos && target - self.pos <= SKIP_BY_READING && self.open.is_some() {
            let skip = target - self.pos;
            let read = io::copy(&mut (&mut *self).take(skip), &mut io::sink())?;
            if read == skip {
                return Ok(self.pos);
            }
        }
        if target != self.pos {
            self.open = None;
            self.pos = target;
        }
        Ok(self.pos)
    }
}

impl crate::media::strip::DurableWrite for TempBlob {
    fn sync_all(&mut self) -> io::Result<()> {
        TempBlob::sync_all(self)
    }
}
