//! Opening a data directory: refuse a foreign or damaged database before
//! writing anything, judge the identity of the database and the blobs
//! (invariant 8), seal private-image keys at rest, upgrade an older schema in
//! place (`owners::upgrade`), create the tables.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::blobs::BlobStore;
use super::blobs::cache::{CachedBlobStore, DiskCacheConfig};
use super::blobs::storage::Storage;
use super::codec::ImageRecord;
use super::db::Db;
use super::meta::*;
use super::{
    DB_CACHE, Result, Store, StoreError, albums, check, gc, get_meta, identity, integrity, keyseal,
    owner_stats, owners, perms, quota, snapshot, stats,
};

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
        Self::open_on(data_dir, claim, &Storage::Fs)
    }

    /// [`Store::open_claiming`] with the blobs where `storage` says.
    pub fn open_on(data_dir: &Path, claim: identity::Claim, storage: &Storage) -> Result<Store> {
        Self::open_cached(data_dir, claim, storage, None)
    }

    /// [`Store::open_on`] with a local disk cache in front of the blobs'
    /// reads (`pixbin serve --cache-dir`; commands read the store itself).
    pub fn open_cached(
        data_dir: &Path,
        claim: identity::Claim,
        storage: &Storage,
        cache: Option<&DiskCacheConfig>,
    ) -> Result<Store> {
        let location = storage.location();
        if claim == identity::Claim::Verify {
            super::location::refuse_other_before_open(&Self::db_path(data_dir), &location)?;
        }
        // The backend as it is creates nothing, so the identity is judged
        // before any write.
        let mut blobs = storage.backend(data_dir)?;
        if let Some(c) = cache {
            blobs = Arc::new(CachedBlobStore::open(blobs, c)?);
        }
        let store = Self::open_with(data_dir, claim, blobs)?;
        // After a `migrate-storage`, the old place still holds the blobs as
        // they were: opening it would serve, and collect, the wrong set. A
        // command run without the server's `--storage` is refused the same
        // way. `adopt` is the decision that these blobs are the database's.
        match (claim, store.recorded_location()?) {
            (identity::Claim::Verify, Some(_)) => store.refuse_other_location(&location)?,
            (identity::Claim::Verify, None) | (identity::Claim::Adopt, _) => {
                store.record_location(&location)?
            }
        }
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
        let mut upgrade = false;
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
                    upgrade = schema_needs_upgrade(get_meta(&t, keys::SCHEMA_VERSION)?)?;
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
            albums::create_tables(&txn)?;
            if count_uploaders {
                quota::recount(&txn)?;
            }
            txn.open_table(OWNER_ID_TO_IMAGE)?;
            txn.open_table(OWNER_TO_USAGE)?;
            txn.open_table(TOKEN_HASH_TO_INVITE)?;
            if upgrade {
                // Same transaction as the version bump: a crash leaves the
                // old version, upgraded again at the next start.
                let r = owners::upgrade(&txn)?;
                txn.open_table(NAME_TO_META)?
                    .insert(keys::SCHEMA_VERSION, SCHEMA_VERSION)?;
                tracing::info!(
                    accounts = r.accounts,
                    images = r.images,
                    keys = r.keys,
                    owner = %r.heir,
                    "upgraded the database to schema {SCHEMA_VERSION}: accounts became admins, images and keys got owners"
                );
            }
            // After the upgrade: the fill reads the owners it gives images.
            owner_stats::create_tables(&txn)?;
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
            db: Db::new(db),
            blobs,
            data_dir: data_dir.to_path_buf(),
            namespace: Mutex::new(()),
            pins: gc::Pins::default(),
            integrity,
            seal,
        })
    }
}
