//! A consistent copy of the whole database as of one read transaction: the first
//! half of a backup taken while the server keeps serving and accepting uploads.
//!
//! redb has no online-backup call (ECOSYSTEM §3.7), and copying the live file
//! while commits land could capture a torn state. So every table is copied, row
//! by row, from one read transaction into a fresh database file. Tables are typed
//! in redb, so each one is listed below; a table this list does not know makes
//! the backup fail loudly instead of silently leaving data out (a unit test also
//! catches it).

use std::collections::HashSet;
use std::path::Path;

use redb::{
    Database, Key, MultimapTableHandle, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, TableDefinition, TableHandle, Value, WriteTransaction,
};

use super::blobs::BlobHash;
use super::codec::ImageRecord;
use super::gc::BlobPin;
use super::meta::*;
use super::perms;
use super::quota::UPLOADER_TO_IMAGES;
use super::{Result, Store, StoreError};

/// Copies one table; returns its name. A table absent from the source is skipped.
fn copy<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<String> {
    let name = def.name().to_string();
    let src = match from.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(name),
        Err(e) => return Err(e.into()),
    };
    let mut dst = to.open_table(def)?;
    for e in src.iter()? {
        let (k, v) = e?;
        dst.insert(k.value(), v.value())?;
    }
    Ok(name)
}

/// Every table of `meta`. Adding a table there means adding it here.
fn copy_all(from: &ReadTransaction, to: &WriteTransaction) -> Result<HashSet<String>> {
    macro_rules! tables {
        ($($t:ident),* $(,)?) => {{
            let mut names = HashSet::new();
            $( names.insert(copy(from, to, $t)?); )*
            names
        }};
    }
    Ok(tables!(
        ID_TO_IMAGE,
        UUID_TO_ID,
        UPLOADED_AT_TO_ID,
        HASH_TO_BLOB,
        NAME_TO_USER,
        TOKEN_HASH_TO_SESSION,
        KEY_HASH_TO_UPLOAD_KEY,
        ID_TO_VIEWS,
        EXPIRES_AT_TO_ID,
        ID_TO_CONSUMED_VIEWS,
        ID_TO_PREVIEWS_SPENT,
        ALBUM_TO_ALBUM,
        IMAGE_ALBUM_TO_UNIT,
        NAME_TO_META,
        DAY_METRIC_TO_COUNT,
        IMAGE_DAY_METRIC_TO_COUNT,
        COUNTRY_TO_VIEWS,
        IMAGE_COUNTRY_TO_VIEWS,
        REFERRER_TO_VIEWS,
        IMAGE_REFERRER_TO_VIEWS,
        SEQ_TO_RECENT_VIEW,
        UPLOADER_TO_IMAGES,
        OWNER_ID_TO_IMAGE,
        OWNER_TO_USAGE,
        TOKEN_HASH_TO_INVITE,
        OWNER_DAY_METRIC_TO_COUNT,
        OWNER_METRIC_TO_COUNT,
    ))
}

/// Rewrites the database at `path` (open as `db`) into a fresh file and puts
/// that in its place, returning it opened. Only live rows are copied, so what
/// an earlier version of a row held (a private key in the clear, before
/// `keyseal`) does not survive in freed pages of the old file.
pub(super) fn rewrite_clean(db: Database, path: &Path, cache: usize) -> Result<Database> {
    let fresh = path.with_extension("redb.rewrite");
    match std::fs::remove_file(&fresh) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    perms::create_new(&fresh)?;
    {
        let copy_db = Database::builder().create(&fresh)?;
        let read = db.begin_read()?;
        let txn = copy_db.begin_write()?;
        let mut copied = copy_all(&read, &txn)?;
        // Unlike a backup, the same data directory goes on with this file:
        // its damage marks stay.
        copied.insert(copy(&read, &txn, super::integrity::HASH_TO_DAMAGE)?);
        if let Some(name) = read
            .list_tables()?
            .map(|t| t.name().to_string())
            .find(|n| !copied.contains(n))
        {
            return Err(StoreError::Db(format!(
                "table {name:?} is not covered by a rewrite; refusing to drop it"
            )));
        }
        txn.commit()?;
        copy_db.close()?;
    }
    std::fs::File::open(&fresh)?.sync_all()?;
    drop(db);
    std::fs::rename(&fresh, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(Database::builder().set_cache_size(cache).create(path)?)
}

impl Store {
    /// Writes every table, as of one moment, into a new database file at `dest`
    /// (which must not exist). Returns a pin that keeps every blob file in place
    /// (deletes defer their unlink, GC pauses) until the caller has copied the
    /// blobs the snapshot names.
    pub fn snapshot_to(&self, dest: &Path) -> Result<BlobPin> {
        let (pin, read) = {
            // Under the namespace lock: a delete has either unlinked before the
            // snapshot (and is not in it) or sees the pin and leaves the file.
            let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
            (self.pins.pin(), self.db.begin_read()?)
        };
        // Owner-only from the first byte: it holds every row (redb would
        // create it with the umask's mode).
        perms::create_new(dest)?;
        let copy_db = Database::builder().create(dest)?;
        let txn = copy_db.begin_write()?;
        let mut copied = copy_all(&read, &txn)?;
        // Damage marks stay behind (the table goes, empty): every blob in a
        // backup is verified, so a restored one is whole (`store::integrity`).
        txn.open_table(super::integrity::HASH_TO_DAMAGE)?;
        copied.insert(super::integrity::HASH_TO_DAMAGE.name().to_string());
        let unknown = read
            .list_tables()?
            .map(|t| t.name().to_string())
            .chain(read.list_multimap_tables()?.map(|t| t.name().to_string()))
            .find(|n| !copied.contains(n));
        if let Some(name) = unknown {
            return Err(StoreError::Db(format!(
                "table {name:?} is not covered by backups; refusing to write an incomplete one"
            )));
        }
        txn.commit()?;
        // A clean close, so the copy opens without a repair.
        copy_db.close()?;
        Ok(pin)
    }
}

/// Calls `f(hash, size)` for every blob a database file (a snapshot) references:
/// each blob row (with its recorded size), and any thumbnail an image names that
/// has no row of its own (size unknown).
pub fn for_each_blob(
    db_file: &Path,
    mut f: impl FnMut(BlobHash, Option<u64>) -> std::io::Result<()>,
) -> Result<()> {
    let db = ReadOnlyDatabase::open(db_file)?;
    let r = db.begin_read()?;
    let blobs = r.open_table(HASH_TO_BLOB)?;
    let mut seen = HashSet::new();
    for e in blobs.iter()? {
        let (k, v) = e?;
        let hash = BlobHash::try_from(k.value())
            .map_err(|_| StoreError::Corrupt("blob key is not 32 bytes".into()))?;
        let rec = super::codec::BlobRecord::decode(v.value())?;
        seen.insert(hash);
        f(hash, Some(rec.size))?;
    }
    for e in r.open_table(ID_TO_IMAGE)?.iter()? {
        let rec = ImageRecord::decode(e?.1.value())?;
        if let Some(t) = rec.thumbnail
            && seen.insert(t)
        {
            f(t, None)?;
        }
    }
    Ok(())
}

/// The schema version recorded in a database file, read without modifying it.
pub fn schema_version_of(db_file: &Path) -> Result<u64> {
    let db = ReadOnlyDatabase::open(db_file)?;
    let r = db.begin_read()?;
    super::get_meta(&r.open_table(NAME_TO_META)?, keys::SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    #[test]
    fn every_table_the_store_creates_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .create_key(
                &crate::secret::KeyHash::from_bytes([1; 32]),
                ("k", "a"),
                "p",
                1,
                Default::default(),
            )
            .unwrap();
        let dest = dir.path().join("copy.redb");
        drop(store.snapshot_to(&dest).unwrap());
        let copy = ReadOnlyDatabase::open(&dest).unwrap();
        let r = copy.begin_read().unwrap();
        let live = store.db.begin_read().unwrap();
        let names = |t: &ReadTransaction| {
            let mut v: Vec<String> = t
                .list_tables()
                .unwrap()
                .map(|t| t.name().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&r), names(&live));
        assert_eq!(
            r.open_table(KEY_HASH_TO_UPLOAD_KEY).unwrap().len().unwrap(),
            1
        );
        assert_eq!(schema_version_of(&dest).unwrap(), SCHEMA_VERSION);
        // A backup carries no damage marks: its blobs are verified.
        store.report_damage(
            &BlobHash::from_bytes([7; 32]),
            super::super::integrity::BlobKind::Original,
            super::super::integrity::Reason::Hash,
            1,
        );
        let again = dir.path().join("again.redb");
        drop(store.snapshot_to(&again).unwrap());
        let copy = ReadOnlyDatabase::open(&again).unwrap();
        let r = copy.begin_read().unwrap();
        let marks = r.open_table(super::super::integrity::HASH_TO_DAMAGE);
        assert_eq!(marks.unwrap().len().unwrap(), 0);
    }

    #[test]
    fn a_rewrite_in_place_keeps_the_damage_marks() {
        // Unlike a backup, the data directory goes on with the rewritten file
        // (the reseal at an upgrade): a damaged blob must stay marked.
        let dir = tempfile::tempdir().unwrap();
        let h = BlobHash::from_bytes([9; 32]);
        {
            let store = Store::open(dir.path()).unwrap();
            store.report_damage(
                &h,
                super::super::integrity::BlobKind::Thumbnail,
                super::super::integrity::Reason::Length,
                3,
            );
        }
        let path = Store::db_path(dir.path());
        drop(rewrite_clean(Database::open(&path).unwrap(), &path, 1 << 20).unwrap());
        let store = Store::open(dir.path()).unwrap();
        assert!(store.integrity().is_damaged(&h));
    }
}
