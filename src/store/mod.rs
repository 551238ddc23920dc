//! Metadata in redb and bytes in content-addressed blobs: every read and write of
//! persistent state goes through here.
//!
//! All functions are blocking; async callers run them in `spawn_blocking`
//! (`crate::state::AppState::blocking`). redb's error types are converted into
//! [`StoreError`] at this boundary so nothing above sees database internals.

pub mod accounts;
pub mod blobs;
pub mod check;
pub mod codec;
pub mod gc;
pub mod identity;
pub mod integrity;
pub mod keyseal;
pub mod lifecycle;
pub mod listing;
pub mod meta;
pub mod orient;
pub mod perms;
pub mod quota;
pub mod settings;
pub mod snapshot;
pub mod stats;
pub mod thumbs;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use self::blobs::{BlobHash, BlobStore, TempBlob};
use self::codec::{BlobRecord, ImageRecord, KeyRecord, SessionRecord, UserRecord};
pub use self::listing::{ListCursor, ListFilter, Page, SortKey, SortValue, StatusFilter};
use self::meta::*;
use std::sync::Arc;

/// What can go wrong below the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database lock.
    #[error(
        "the database is already open in another pixbin process (stop the server first, or use the admin UI/API)"
    )]
    AlreadyOpen,
    /// The file was written by a different pixbin schema.
    #[error(
        "the database has schema version {found}, this pixbin understands {expected}; refusing to touch it"
    )]
    SchemaMismatch {
        /// In the file.
        found: u64,
        /// In this binary.
        expected: u64,
    },
    /// The redb file format is older than this redb understands.
    #[error(
        "the database file uses an old redb file format (v{0}); upgrade it with the release that wrote it before using this one"
    )]
    UpgradeRequired(u8),
    /// Stored bytes do not decode, or a table is inconsistent.
    #[error("the database is corrupt: {0}")]
    Corrupt(String),
    /// Any other redb failure.
    #[error("database error: {0}")]
    Db(String),
    /// A filesystem failure.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The database seals private keys but the key file is gone.
    #[error(
        "the database's private-image keys are sealed with pixbin.key, which is missing from the data directory; restore it from the backup (without it no private link opens)"
    )]
    KeyFileMissing,
    /// The configured image-count limit (overall or per uploader) is reached.
    #[error("the image limit is reached")]
    ImageLimit,
    /// The configured storage limit would be exceeded.
    #[error("storage limit reached")]
    StorageFull,
    /// The database does not belong to the blobs beside it (invariant 8).
    #[error(transparent)]
    Identity(#[from] identity::Mismatch),
}

impl StoreError {
    /// Whether this is the disk itself being full (ENOSPC / EDQUOT).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded)
    }
}

/// Set once redb reports an I/O failure of its own file. redb then fails every
/// later operation of that database (`PreviousIo`) until it is reopened, which
/// for the server means a restart (see [`database_failed`]).
static DATABASE_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether the database file has failed an I/O operation in this process.
/// `serve` watches this and exits with an error so that the service manager
/// restarts it (systemd: `Restart=on-failure`), instead of answering 500 to
/// everything while looking alive.
pub fn database_failed() -> bool {
    DATABASE_FAILED.load(Ordering::Acquire)
}

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        match e {
            redb::StorageError::Io(io) => {
                DATABASE_FAILED.store(true, Ordering::Release);
                // Kept as I/O so a full disk is still answered 507.
                StoreError::Io(io)
            }
            redb::StorageError::PreviousIo => {
                DATABASE_FAILED.store(true, Ordering::Release);
                StoreError::Db(e.to_string())
            }
            redb::StorageError::Corrupted(m) => StoreError::Corrupt(m),
            other => StoreError::Db(other.to_string()),
        }
    }
}

impl From<redb::TransactionError> for StoreError {
    fn from(e: redb::TransactionError) -> Self {
        match e {
            redb::TransactionError::Storage(s) => s.into(),
            other => StoreError::Db(other.to_string()),
        }
    }
}

impl From<redb::TableError> for StoreError {
    fn from(e: redb::TableError) -> Self {
        match e {
            redb::TableError::Storage(s) => s.into(),
            other => StoreError::Db(other.to_string()),
        }
    }
}

impl From<redb::CommitError> for StoreError {
    fn from(e: redb::CommitError) -> Self {
        match e {
            redb::CommitError::Storage(s) => s.into(),
            other => StoreError::Db(other.to_string()),
        }
    }
}

impl From<redb::DatabaseError> for StoreError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen,
            redb::DatabaseError::UpgradeRequired(v) => StoreError::UpgradeRequired(v),
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)) => {
                StoreError::Corrupt(m)
            }
            other => StoreError::Db(other.to_string()),
        }
    }
}

impl From<codec::DecodeError> for StoreError {
    fn from(e: codec::DecodeError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Result alias for store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An image row with its id and committed view count.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// Numeric id.
    pub id: u64,
    /// The row.
    pub record: ImageRecord,
    /// Views counted so far (flushed ones).
    pub views: u64,
    /// Views consumed against `record.max_views` (0 without a limit).
    pub consumed: u64,
}

impl StoredImage {
    /// Views still allowed, when the image has a view limit.
    pub fn views_left(&self) -> Option<u64> {
        self.record
            .max_views
            .map(|m| m.saturating_sub(self.consumed))
    }

    /// Whether the public link is dead: past its expiry, or out of views.
    pub fn is_gone(&self, now: i64) -> bool {
        self.record.expires_at.is_some_and(|t| t <= now) || self.views_left() == Some(0)
    }
}

/// The tables an image is assembled from, opened once per read transaction.
struct ImageTables<'s> {
    seal: &'s keyseal::KeySeal,
    images: redb::ReadOnlyTable<u64, &'static [u8]>,
    views: redb::ReadOnlyTable<u64, u64>,
    consumed: redb::ReadOnlyTable<u64, (u64, i64)>,
}

impl<'s> ImageTables<'s> {
    fn open(r: &redb::ReadTransaction, seal: &'s keyseal::KeySeal) -> Result<Self> {
        Ok(ImageTables {
            seal,
            images: r.open_table(ID_TO_IMAGE)?,
            views: r.open_table(ID_TO_VIEWS)?,
            consumed: r.open_table(ID_TO_CONSUMED_VIEWS)?,
        })
    }

    fn load(&self, id: u64) -> Result<Option<StoredImage>> {
        let Some(v) = self.images.get(id)? else {
            return Ok(None);
        };
        let mut record = ImageRecord::decode(v.value())?;
        record.private_key = record
            .private_key
            .map(|k| self.seal.unseal(&record.uuid, k));
        let views = self.views.get(id)?.map(|v| v.value()).unwrap_or(0);
        let consumed = if record.max_views.is_some() {
            self.consumed.get(id)?.map(|v| v.value().0).unwrap_or(0)
        } else {
            0
        };
        Ok(Some(StoredImage {
            id,
            record,
            views,
            consumed,
        }))
    }
}

/// Running totals kept in the meta table (never computed by walking directories).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Deduplicated bytes of all blobs.
    pub bytes_stored: u64,
    /// Image rows.
    pub images: u64,
    /// Private image rows.
    pub private_images: u64,
}

/// What an upload wants to create; the store fills in the id.
#[derive(Debug)]
pub struct NewImage {
    /// The row to insert (its `hash` names the blob in the temp file).
    pub record: ImageRecord,
    /// The upload key to mark as used, by hash.
    pub key_hash: Option<[u8; 32]>,
}

/// The open data directory.
pub struct Store {
    db: Database,
    /// The bytes, behind the backend-neutral interface.
    blobs: Arc<dyn BlobStore>,
    data_dir: PathBuf,
    /// Serialises "blob file appears/disappears" with the row change that
    /// justifies it: an upload's rename+commit and a delete's commit+unlink. Without
    /// it a delete could unlink a blob that a concurrent upload just deduplicated
    /// against (the CAS GC race of quay#6318).
    namespace: Mutex<()>,
    /// Backups in progress: while one runs, deletes leave blob files for GC.
    pins: gc::Pins,
    /// Damage marks and scrub status (see `integrity`).
    integrity: integrity::Integrity,
    /// Seals private-image keys in rows (`keyseal`).
    seal: keyseal::KeySeal,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

/// redb's page cache.
const DB_CACHE: usize = 32 * 1024 * 1024;

fn uuid_key(uuid: &[u8; 16]) -> u128 {
    u128::from_be_bytes(*uuid)
}

fn get_meta(table: &impl ReadableTable<&'static str, u64>, key: &str) -> Result<u64> {
    Ok(table.get(key)?.map(|v| v.value()).unwrap_or(0))
}

impl Store {
    /// The database file inside a data directory.
    pub fn db_path(data_dir: &Path) -> PathBuf {
        data_dir.join("pixbin.redb")
    }

    /// Opens (or creates) the data directory. Refuses, without writing anything,
    /// a database of another schema version, an old file format, a corrupt file,
    /// one that another process has open, or one that does not belong to the
    /// blobs beside it (`identity`).
    pub fn open(data_dir: &Path) -> Result<Store> {
        Self::open_claiming(data_dir, identity::Claim::Verify)
    }

    /// [`Store::open`], saying what to do about the identity: `Claim::Adopt`
    /// binds the blobs to this database whatever their ids say (`pixbin adopt`).
    pub fn open_claiming(data_dir: &Path, claim: identity::Claim) -> Result<Store> {
        Self::open_on(data_dir, claim, &blobs::storage::Storage::Fs)
    }

    /// [`Store::open_claiming`] with the blobs where `storage` says.
    pub fn open_on(
        data_dir: &Path,
        claim: identity::Claim,
        storage: &blobs::storage::Storage,
    ) -> Result<Store> {
        // The backend as it is creates nothing, so the identity is judged
        // before any write.
        let store = Self::open_with(data_dir, claim, storage.backend(data_dir)?)?;
        // Now that the directory is ours: `blobs/` and `tmp/`, owner-only.
        storage.prepare(data_dir)?;
        Ok(store)
    }

    /// [`Store::open_claiming`] with the blobs in `blobs` rather than in the
    /// data directory (which still holds the database and the marker).
    pub fn open_with(
        data_dir: &Path,
        claim: identity::Claim,
        blobs: Arc<dyn BlobStore>,
    ) -> Result<Store> {
        let path = Self::db_path(data_dir);
        let has_file = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        // Opening for writing rewrites the header: look first, read-only, and
        // judge the identity before anything is created or written.
        let unreadable = |e: StoreError| match e {
            StoreError::Corrupt(why) | StoreError::Db(why) => {
                StoreError::Identity(identity::Mismatch::DatabaseUnreadable {
                    db: path.display().to_string(),
                    why,
                })
            }
            other => other,
        };
        let decision = match check::precheck(&path).map_err(unreadable)? {
            Some(ro) => Some(identity::judge(Some(&ro), data_dir, &*blobs, claim)?),
            None if !has_file => Some(identity::judge(
                None::<&redb::ReadOnlyDatabase>,
                data_dir,
                &*blobs,
                claim,
            )?),
            // A file that needs crash recovery is judged once recovered below.
            None => None,
        };
        perms::own_dir(data_dir)?;
        // redb creates its file with the umask's mode: create it 0600 first
        // (redb initialises an empty file), and tighten one an older version made.
        match perms::create_new(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let mut db = Database::builder().set_cache_size(DB_CACHE).create(&path)?;
        perms::restrict(&path, perms::FILE_MODE)?;
        // Check the version before any write so a foreign file is left untouched.
        let count_uploaders;
        let mut sealed = false;
        {
            let read = db.begin_read()?;
            // Per-uploader image counts came after schema 1's first release:
            // a file without them gets them counted once, below.
            count_uploaders = matches!(
                read.open_table(quota::UPLOADER_TO_IMAGES),
                Err(redb::TableError::TableDoesNotExist(_))
            );
            match read.open_table(NAME_TO_META) {
                Ok(t) => {
                    let found = get_meta(&t, keys::SCHEMA_VERSION)?;
                    if found != SCHEMA_VERSION {
                        return Err(StoreError::SchemaMismatch {
                            found,
                            expected: SCHEMA_VERSION,
                        });
                    }
                    sealed = get_meta(&t, keyseal::KEYS_SEALED)? == 1;
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let decision = match decision {
            Some(d) => d,
            None => identity::judge(Some(&db), data_dir, &*blobs, claim)?,
        };
        // The identity before the key file: a refused directory gets none.
        let seal = match keyseal::load(data_dir)? {
            Some(s) => s,
            None if sealed => return Err(StoreError::KeyFileMissing),
            None => keyseal::create(data_dir)?,
        };
        let mut resealed = 0;
        let txn = db.begin_write()?;
        {
            txn.open_table(ID_TO_IMAGE)?;
            if !sealed {
                // A database from before sealing (or a new one): seal every
                // private key, once, in this transaction.
                let mut images = txn.open_table(ID_TO_IMAGE)?;
                let mut plain = Vec::new();
                for e in images.iter()? {
                    let (k, v) = e?;
                    let rec = ImageRecord::decode(v.value())?;
                    if rec.private_key.is_some() {
                        plain.push((k.value(), rec));
                    }
                }
                for (id, mut rec) in plain {
                    rec.private_key = rec.private_key.map(|k| seal.seal(&rec.uuid, k));
                    images.insert(id, rec.encode().as_slice())?;
                    resealed += 1;
                }
                txn.open_table(NAME_TO_META)?
                    .insert(keyseal::KEYS_SEALED, 1)?;
            }
            txn.open_table(UUID_TO_ID)?;
            txn.open_table(UPLOADED_AT_TO_ID)?;
            txn.open_table(HASH_TO_BLOB)?;
            txn.open_table(NAME_TO_USER)?;
            txn.open_table(TOKEN_HASH_TO_SESSION)?;
            txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
            txn.open_table(ID_TO_VIEWS)?;
            stats::create_tables(&txn)?;
            txn.open_table(EXPIRES_AT_TO_ID)?;
            txn.open_table(ID_TO_CONSUMED_VIEWS)?;
            integrity::create_tables(&txn)?;
            txn.open_table(ID_TO_PREVIEWS_SPENT)?;
            if count_uploaders {
                quota::recount(&txn)?;
            }
            let mut m = txn.open_table(NAME_TO_META)?;
            if m.get(keys::SCHEMA_VERSION)?.is_none() {
                m.insert(keys::SCHEMA_VERSION, SCHEMA_VERSION)?;
                m.insert(keys::NEXT_IMAGE_ID, 1)?;
                m.insert(keys::NEXT_KEY_ID, 1)?;
            }
            if let identity::Decision::Bind(id) = decision {
                m.insert(keys::IDENTITY, id)?;
            }
        }
        txn.commit()?;
        // The database first: a crash before the marker is written leaves a
        // database that knows its blobs, which the next open binds again.
        if let identity::Decision::Bind(id) = decision {
            identity::write_marker(data_dir, id)?;
            blobs.write_remote_marker(&identity::marker_text(id))?;
            tracing::info!(id = %format!("{id:016x}"), "bound the database and the blobs to one identity");
        }
        if resealed > 0 {
            // The keys in the clear are still in freed pages: copy the live
            // rows into a fresh file, once.
            db = snapshot::rewrite_clean(db, &path, DB_CACHE)?;
            tracing::info!(images = resealed, "sealed private-image keys at rest");
        }
        let integrity = integrity::load(&db)?;
        Ok(Store {
            db,
            blobs,
            data_dir: data_dir.to_path_buf(),
            namespace: Mutex::new(()),
            pins: gc::Pins::default(),
            integrity,
            seal,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The blob store.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Removes every temp file. Only safe when no upload is in flight: at start-up,
    /// while this process holds the database lock.
    pub fn purge_temps(&self) -> Result<usize> {
        let temps = self.blobs.list_temps()?;
        for t in &temps {
            let _ = self.blobs.remove_temp(t);
        }
        Ok(temps.len())
    }

    /// Running totals.
    pub fn totals(&self) -> Result<Totals> {
        let r = self.db.begin_read()?;
        let m = r.open_table(NAME_TO_META)?;
        Ok(Totals {
            bytes_stored: get_meta(&m, keys::BYTES_STORED)?,
            images: get_meta(&m, keys::IMAGES)?,
            private_images: get_meta(&m, keys::PRIVATE_IMAGES)?,
        })
    }

    /// A cheap read transaction, for readiness checks.
    pub fn ping(&self) -> Result<()> {
        self.totals().map(|_| ())
    }

    // ---- images -------------------------------------------------------------

    /// [`Store::commit_upload_within`] with only a limit on charged bytes.
    pub fn commit_upload(
        &self,
        new: NewImage,
        temp: TempBlob,
        max_storage: Option<u64>,
        now: i64,
    ) -> Result<StoredImage> {
        let quota = quota::Quota {
            bytes: max_storage,
            ..Default::default()
        };
        self.commit_upload_within(new, temp, &quota, now)
    }

    /// Commits an upload whose bytes sit, fsynced, in `temp`: moves the blob into
    /// place (or drops it as a duplicate) and inserts the rows, in one write
    /// transaction. Refuses with `StorageFull` when the image's full cost
    /// (`quota::upload_cost`, whether or not its bytes are already stored) would
    /// take the charged total past the limit, and with `ImageLimit` at an image
    /// count limit; the check and the increment happen in the same transaction,
    /// so parallel uploads cannot overshoot a limit together.
    pub fn commit_upload_within(
        &self,
        new: NewImage,
        temp: TempBlob,
        limits: &quota::Quota,
        now: i64,
    ) -> Result<StoredImage> {
        let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
        let rec = new.record;
        let txn = self.db.begin_write()?;
        match quota::check(&txn, limits, &rec.uploader, rec.size)? {
            Some(quota::Refusal::Bytes) => return Err(StoreError::StorageFull),
            Some(quota::Refusal::Images) => return Err(StoreError::ImageLimit),
            None => {}
        }
        quota::count(&txn, &rec.uploader, 1)?;
        let id;
        let mut wrote = false;
        {
            let mut meta = txn.open_table(NAME_TO_META)?;
            let mut blobs = txn.open_table(HASH_TO_BLOB)?;
            let existing = blobs
                .get(rec.hash.as_slice())?
                .map(|v| BlobRecord::decode(v.value()))
                .transpose()?;
            let blob = match existing {
                Some(mut b) => {
                    b.refcount += 1;
                    drop(temp); // identical bytes already stored
                    b
                }
                None => {
                    let used = get_meta(&meta, keys::BYTES_STORED)?;
                    // Durable rename before the row exists (invariant 1).
                    wrote = self.blobs.put(temp, &rec.hash)?;
                    meta.insert(keys::BYTES_STORED, used + rec.size)?;
                    BlobRecord {
                        size: rec.size,
                        refcount: 1,
                        kind: rec.kind.code(),
                    }
                }
            };
            blobs.insert(rec.hash.as_slice(), blob.encode().as_slice())?;

            id = get_meta(&meta, keys::NEXT_IMAGE_ID)?.max(1);
            meta.insert(keys::NEXT_IMAGE_ID, id + 1)?;
            let images = get_meta(&meta, keys::IMAGES)?;
            meta.insert(keys::IMAGES, images + 1)?;
            if rec.private_key.is_some() {
                let p = get_meta(&meta, keys::PRIVATE_IMAGES)?;
                meta.insert(keys::PRIVATE_IMAGES, p + 1)?;
            }
            let mut row = rec.clone();
            row.private_key = rec.private_key.map(|k| self.seal.seal(&rec.uuid, k));
            txn.open_table(ID_TO_IMAGE)?
                .insert(id, row.encode().as_slice())?;
            txn.open_table(UUID_TO_ID)?
                .insert(uuid_key(&rec.uuid), id)?;
            txn.open_table(UPLOADED_AT_TO_ID)?
                .insert((rec.uploaded_at, id), ())?;
            if let Some(at) = rec.expires_at {
                txn.open_table(EXPIRES_AT_TO_ID)?.insert((at, id), ())?;
            }
            if let Some(kh) = new.key_hash {
                let mut keys_t = txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
                let found = keys_t
                    .get(kh.as_slice())?
                    .map(|v| KeyRecord::decode(v.value()))
                    .transpose()?;
                if let Some(mut k) = found {
                    k.last_used_at = Some(now);
                    keys_t.insert(kh.as_slice(), k.encode().as_slice())?;
                }
            }
        }
        txn.commit()?;
        if wrote {
            self.blob_rewritten(&rec.hash);
        }
        Ok(StoredImage {
            id,
            record: rec,
            views: 0,
            consumed: 0,
        })
    }

    /// Looks an image up by numeric id.
    pub fn image(&self, id: u64) -> Result<Option<StoredImage>> {
        let r = self.db.begin_read()?;
        ImageTables::open(&r, &self.seal)?.load(id)
    }

    /// Looks an image up by uuid.
    pub fn image_by_uuid(&self, uuid: &[u8; 16]) -> Result<Option<StoredImage>> {
        let r = self.db.begin_read()?;
        let Some(id) = r
            .open_table(UUID_TO_ID)?
            .get(uuid_key(uuid))?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        ImageTables::open(&r, &self.seal)?.load(id)
    }

    /// Deletes an image: the row removal and refcount decrement commit first; the
    /// blob file is unlinked only after that commit, and only when no other image
    /// uses it (invariant 2). A crash in between leaves an orphan, never a dangling
    /// row. Returns the removed row, or `None` when there was none.
    pub fn delete_image(&self, id: u64) -> Result<Option<ImageRecord>> {
        let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
        let txn = self.db.begin_write()?;
        let removed;
        let mut unlink = None;
        let mut unlink_thumb = None;
        {
            let mut images = txn.open_table(ID_TO_IMAGE)?;
            let Some(v) = images.remove(id)? else {
                return Ok(None);
            };
            let rec = ImageRecord::decode(v.value())?;
            drop(v);
            txn.open_table(UUID_TO_ID)?.remove(uuid_key(&rec.uuid))?;
            txn.open_table(UPLOADED_AT_TO_ID)?
                .remove((rec.uploaded_at, id))?;
            txn.open_table(ID_TO_VIEWS)?.remove(id)?;
            lifecycle::forget(&txn, id, &rec)?;
            stats::forget(&txn, id)?;
            quota::count(&txn, &rec.uploader, -1)?;
            let mut meta = txn.open_table(NAME_TO_META)?;
            let n = get_meta(&meta, keys::IMAGES)?;
            meta.insert(keys::IMAGES, n.saturating_sub(1))?;
            if rec.private_key.is_some() {
                let p = get_meta(&meta, keys::PRIVATE_IMAGES)?;
                meta.insert(keys::PRIVATE_IMAGES, p.saturating_sub(1))?;
            }
            let mut blobs = txn.open_table(HASH_TO_BLOB)?;
            let blob = blobs
                .get(rec.hash.as_slice())?
                .map(|v| BlobRecord::decode(v.value()))
                .transpose()?;
            match blob {
                Some(b) if b.refcount > 1 => {
                    let b = BlobRecord {
                        refcount: b.refcount - 1,
                        ..b
                    };
                    blobs.insert(rec.hash.as_slice(), b.encode().as_slice())?;
                }
                Some(b) => {
                    blobs.remove(rec.hash.as_slice())?;
                    let used = get_meta(&meta, keys::BYTES_STORED)?;
                    meta.insert(keys::BYTES_STORED, used.saturating_sub(b.size))?;
                    unlink = Some(rec.hash);
                }
                None => {
                    tracing::warn!(image = id, "deleted image had no blob row");
                }
            }
            // The thumbnail is a refcounted blob of its own.
            if let Some(t) = &rec.thumbnail {
                unlink_thumb = thumbs::release_blob(&mut blobs, &mut meta, t)?;
            }
            removed = ImageRecord {
                private_key: rec.private_key.map(|k| self.seal.unseal(&rec.uuid, k)),
                ..rec
            };
        }
        txn.commit()?;
        // A running backup may still copy this blob: leave it for GC then.
        for hash in unlink.iter().chain(unlink_thumb.iter()) {
            if !self.pins.active()
                && let Err(e) = self.blobs.delete(hash)
            {
                // The row is gone, so this is only an orphan for GC to reclaim.
                tracing::warn!(error = %e, "could not unlink blob after delete");
            }
        }
        Ok(Some(removed))
    }

    /// Sets or clears an image's private key. Returns the updated image.
    pub fn set_private_key(&self, id: u64, key: Option<[u8; 16]>) -> Result<Option<StoredImage>> {
        let txn = self.db.begin_write()?;
        {
            let mut images = txn.open_table(ID_TO_IMAGE)?;
            let Some(v) = images.get(id)? else {
                return Ok(None);
            };
            let mut rec = ImageRecord::decode(v.value())?;
            drop(v);
            let delta: i64 = match (rec.private_key.is_some(), key.is_some()) {
                (false, true) => 1,
                (true, false) => -1,
                _ => 0,
            };
            rec.private_key = key.map(|k| self.seal.seal(&rec.uuid, k));
            images.insert(id, rec.encode().as_slice())?;
            if delta != 0 {
                let mut meta = txn.open_table(NAME_TO_META)?;
                let p = get_meta(&meta, keys::PRIVATE_IMAGES)?;
                meta.insert(keys::PRIVATE_IMAGES, p.saturating_add_signed(delta))?;
            }
        }
        txn.commit()?;
        self.image(id)
    }

    // ---- users and sessions -----------------------------------------------

    /// Number of accounts.
    pub fn user_count(&self) -> Result<u64> {
        let r = self.db.begin_read()?;
        Ok(r.open_table(NAME_TO_USER)?.len()?)
    }

    /// An account by name.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(NAME_TO_USER)?;
        Ok(t.get(name)?
            .map(|v| UserRecord::decode(v.value()))
            .transpose()?)
    }

    /// Creates or replaces an account. Replacing also ends its sessions, so a
    /// password change logs every browser out.
    pub fn put_user(&self, name: &str, rec: &UserRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(NAME_TO_USER)?
                .insert(name, rec.encode().as_slice())?;
            let mut sessions = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            sessions.retain(|_, v| SessionRecord::decode(v).is_ok_and(|s| s.username != name))?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores a new session under the hash of its token.
    pub fn put_session(&self, token_hash: &[u8; 32], rec: &SessionRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(TOKEN_HASH_TO_SESSION)?
            .insert(token_hash.as_slice(), rec.encode().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Replaces one session by another in one transaction (refresh, login over an
    /// existing session).
    pub fn rotate_session(
        &self,
        old: Option<&[u8; 32]>,
        new: &[u8; 32],
        rec: &SessionRecord,
    ) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            if let Some(old) = old {
                t.remove(old.as_slice())?;
            }
            t.insert(new.as_slice(), rec.encode().as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// A live session by token hash (expired ones read as absent).
    pub fn session(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<SessionRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(TOKEN_HASH_TO_SESSION)?;
        let s = t
            .get(token_hash.as_slice())?
            .map(|v| SessionRecord::decode(v.value()))
            .transpose()?;
        Ok(s.filter(|s| s.expires_at > now))
    }

    /// Ends a session.
    pub fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let existed = txn
            .open_table(TOKEN_HASH_TO_SESSION)?
            .remove(token_hash.as_slice())?
            .is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Drops expired sessions; returns how many.
    pub fn purge_sessions(&self, now: i64) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let mut n = 0;
        {
            let mut t = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            t.retain(|_, v| {
                let live = SessionRecord::decode(v).is_ok_and(|s| s.expires_at > now);
                n += u64::from(!live);
                live
            })?;
        }
        txn.commit()?;
        Ok(n)
    }

    // ---- upload keys ------------------------------------------------------

    /// Stores a new upload key under its hash, assigning the next id.
    pub fn create_key(
        &self,
        key_hash: &[u8; 32],
        name: &str,
        prefix: &str,
        now: i64,
        policy: codec::KeyPolicy,
    ) -> Result<KeyRecord> {
        let txn = self.db.begin_write()?;
        let rec;
        {
            let mut meta = txn.open_table(NAME_TO_META)?;
            let id = get_meta(&meta, keys::NEXT_KEY_ID)?.max(1);
            meta.insert(keys::NEXT_KEY_ID, id + 1)?;
            rec = KeyRecord {
                id,
                name: name.to_string(),
                prefix: prefix.to_string(),
                created_at: now,
                last_used_at: None,
                policy,
            };
            txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?
                .insert(key_hash.as_slice(), rec.encode().as_slice())?;
        }
        txn.commit()?;
        Ok(rec)
    }

    /// The upload key with this hash, if it exists.
    pub fn key_by_hash(&self, key_hash: &[u8; 32]) -> Result<Option<KeyRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
        Ok(t.get(key_hash.as_slice())?
            .map(|v| KeyRecord::decode(v.value()))
            .transpose()?)
    }

    /// All upload keys, by id.
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            out.push(KeyRecord::decode(e?.1.value())?);
        }
        out.sort_by_key(|k| k.id);
        Ok(out)
    }

    /// Revokes (deletes) the upload key with this id; `false` when none had it.
    pub fn revoke_key(&self, id: u64) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let mut found = false;
        {
            let mut t = txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
            t.retain(|_, v| {
                let hit = KeyRecord::decode(v).is_ok_and(|k| k.id == id);
                found |= hit;
                !hit
            })?;
        }
        txn.commit()?;
        Ok(found)
    }

    /// Number of upload keys.
    pub fn key_count(&self) -> Result<u64> {
        let r = self.db.begin_read()?;
        Ok(r.open_table(KEY_HASH_TO_UPLOAD_KEY)?.len()?)
    }

    /// The blob row for a hash (size, refcount), if any.
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<BlobRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(HASH_TO_BLOB)?;
        Ok(t.get(hash.as_slice())?
            .map(|v| BlobRecord::decode(v.value()))
            .transpose()?)
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;

    /// redb latches an I/O failure of its file; the store reports it through
    /// `database_failed` (which `serve` turns into a restart) and keeps a full
    /// disk recognisable as such (507 to the client).
    #[test]
    fn redb_io_failures_are_latched_and_a_full_disk_stays_recognisable() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e: StoreError = redb::CommitError::Storage(redb::StorageError::Io(full)).into();
        assert!(e.is_disk_full(), "{e:?}");
        assert!(database_failed());
        let e: StoreError = redb::TransactionError::Storage(redb::StorageError::PreviousIo).into();
        assert!(matches!(e, StoreError::Db(_)), "{e:?}");
        let e: StoreError = redb::StorageError::Corrupted("x".into()).into();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
    }
}
