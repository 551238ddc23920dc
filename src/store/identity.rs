//! The identity that binds a database to its blobs (ARCHITECTURE invariant 8).
//!
//! A data directory gets a random 64-bit id, kept twice: in the database's meta
//! table and in a marker file, `pixbin.id`, beside `blobs/`. Every open compares
//! the two before anything is written, because a database that does not belong
//! to the blobs beside it (a wrong mount, a file deleted by hand, a copy from
//! another instance) sees every blob as an orphan, and the next GC pass would
//! throw the whole library away. Such a pair is refused with a message that
//! names the problem and the way out; `pixbin adopt` is the explicit decision
//! that binds them again.
//!
//! Backups carry the id inside the database, so a restored directory gets the
//! marker of the database it restored. Data directories from before the id
//! existed are bound on their first open, but only when the database is
//! plausibly theirs: it knows at least one blob on disk, or there are none.
//!
//! Blobs kept in a bucket carry the marker with them as an object (see
//! [`BlobStore::remote_marker`]), so a bucket pointed at by a new or missing
//! database is refused exactly as a directory of blobs is.
//!
//! The marker file and the database are the data directory's own files and
//! are read here as files; the blobs are only ever looked at through the
//! `BlobStore` the store opens with, so the same judgement holds whatever
//! backend keeps them.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTableMetadata};

use super::blobs::BlobStore;
use super::meta::{HASH_TO_BLOB, ID_TO_IMAGE, NAME_TO_META, keys};
use super::{Result, StoreError, get_meta};

/// The marker file inside a data directory.
pub const MARKER: &str = "pixbin.id";

const MARKER_PREFIX: &str = "pixbin-data-dir ";

/// Why a database and the blobs beside it were not opened together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Blobs (or the marker) exist, the database file does not.
    #[error(
        "{dir} holds image blobs but no database ({db} is missing); refusing to start, \
         because a new database would see every blob as garbage. Put the right pixbin.redb \
         back, or restore a backup into a new directory (`pixbin restore FILE --data-dir NEW`), \
         or turn the blobs back into images with `pixbin adopt`. Nothing was changed."
    )]
    DatabaseMissing {
        /// The data directory.
        dir: String,
        /// The database file.
        db: String,
    },
    /// The database holds no images although blobs exist.
    #[error(
        "the database in {dir} is new or empty but the directory holds image blobs; \
         refusing to start, because they would all be collected as garbage. Put the right \
         pixbin.redb back, or restore a backup (`pixbin restore`), or turn the blobs back into \
         images with `pixbin adopt`. Nothing was changed."
    )]
    DatabaseNew {
        /// The data directory.
        dir: String,
    },
    /// The database belongs to another data directory.
    #[error(
        "the database in {dir} belongs to another pixbin data directory (database id {db}, \
         blobs id {marker}); refusing to start, because its rows do not describe these blobs. \
         Put this directory's own pixbin.redb back, or restore a backup (`pixbin restore`), or \
         bind the blobs to this database with `pixbin adopt`. Nothing was changed."
    )]
    Foreign {
        /// The data directory.
        dir: String,
        /// The id in the database (hex), or `none`.
        db: String,
        /// The id of the blobs (hex), or `none`.
        marker: String,
    },
    /// The database file cannot be read as a pixbin database at all.
    #[error(
        "{db} cannot be read as a pixbin database ({why}); refusing to start and leaving it \
         as it is. Put the right pixbin.redb back, or restore a backup into a new directory \
         (`pixbin restore FILE --data-dir NEW`); if the database is lost, move this file aside \
         and turn the blobs back into images with `pixbin adopt`."
    )]
    DatabaseUnreadable {
        /// The database file.
        db: String,
        /// What redb said.
        why: String,
    },
    /// The database records its blobs elsewhere than where it was opened.
    #[error(
        "this database's blobs live in {recorded} (recorded {at}), but pixbin was started with \
         storage {given}; refusing to start, because the blobs there are not (or no longer) this \
         database's (`pixbin migrate-storage` moves them and records the new storage). Start it with \
         --storage {recorded} (or PIXBIN_STORAGE, or `storage` in the config file). Nothing was \
         changed."
    )]
    StorageMoved {
        /// Where the database says its blobs are.
        recorded: String,
        /// When that was recorded (RFC 3339).
        at: String,
        /// Where it was opened with.
        given: String,
    },
    /// The marker file cannot be read as one.
    #[error(
        "{path} is not a pixbin identity marker; refusing to start. Restore it from a \
         backup of this directory, or run `pixbin adopt` to bind the blobs to the database \
         again. Nothing was changed."
    )]
    MarkerUnreadable {
        /// The marker file.
        path: String,
    },
}

/// What an open does about the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Refuse a database that does not belong to the blobs (every command but one).
    Verify,
    /// Bind the blobs to this database whatever their ids say (`pixbin adopt`).
    Adopt,
}

/// What to do once the database is open for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The pair matches: nothing to write.
    Keep,
    /// Write this id into the database (if it differs) and the marker.
    Bind(u64),
}

/// The marker file of a data directory.
pub fn marker_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MARKER)
}

fn hex_id(id: u64) -> String {
    format!("{id:016x}")
}

/// The id in the marker file; `None` when there is none.
pub fn read_marker(data_dir: &Path) -> Result<Option<u64>> {
    let path = marker_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(e.into()),
    };
    parse_marker(&text, &path.display().to_string()).map(Some)
}

/// The marker's text for `id`.
pub fn marker_text(id: u64) -> String {
    format!("{MARKER_PREFIX}{}\n", hex_id(id))
}

fn parse_marker(text: &str, path: &str) -> Result<u64> {
    text.strip_prefix(MARKER_PREFIX)
        .map(|s| s.trim_end_matches('\n'))
        .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .filter(|&id| id != 0)
        .ok_or_else(|| {
            StoreError::Identity(Mismatch::MarkerUnreadable {
                path: path.to_string(),
            })
        })
}

/// The id in the marker kept with the blobs themselves (a bucket's), if any.
pub fn remote_id(blobs: &dyn BlobStore) -> Result<Option<u64>> {
    match blobs.remote_marker()? {
        Some(text) => parse_marker(&text, "the identity marker in the bucket").map(Some),
        None => Ok(None),
    }
}

/// The id of the blobs: the marker file, and the copy kept with the blobs
/// when they live apart from the data directory (an object store), which
/// must agree. Either alone is enough: a bucket full of blobs keeps its
/// identity when the data directory beside it is new.
fn blobs_id(data_dir: &Path, blobs: &dyn BlobStore) -> Result<Option<u64>> {
    let local = read_marker(data_dir)?;
    let remote = remote_id(blobs)?;
    match (local, remote) {
        (Some(l), Some(r)) if l != r => Err(StoreError::Identity(Mismatch::Foreign {
            dir: data_dir.display().to_string(),
            db: hex_id(l),
            marker: hex_id(r),
        })),
        (l, r) => Ok(l.or(r)),
    }
}

/// Writes the marker durably (0600, like every file pixbin makes): temp file,
/// fsync, rename over, fsync the directory, so a crash leaves the old marker or
/// the new one, never half of one.
pub fn write_marker(data_dir: &Path, id: u64) -> io::Result<()> {
    let tmp = data_dir.join(format!("{MARKER}.tmp"));
    {
        let mut f = super::perms::create_file(&tmp)?;
        f.write_all(marker_text(id).as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, marker_path(data_dir))?;
    File::open(data_dir)?.sync_all()
}

/// The id kept in a database, if it has one.
pub fn database_id(db: &impl ReadableDatabase) -> Result<Option<u64>> {
    let r = db.begin_read()?;
    match r.open_table(NAME_TO_META) {
        Ok(t) => Ok(Some(get_meta(&t, keys::IDENTITY)?).filter(|&id| id != 0)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a database holds any image or blob row.
fn populated(db: &impl ReadableDatabase) -> Result<bool> {
    fn rows<K: redb::Key + 'static, V: redb::Value + 'static>(
        r: &redb::ReadTransaction,
        t: redb::TableDefinition<K, V>,
    ) -> Result<u64> {
        match r.open_table(t) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
    let r = db.begin_read()?;
    Ok(rows(&r, ID_TO_IMAGE)? + rows(&r, HASH_TO_BLOB)? > 0)
}

/// Whether any blob (in place or quarantined) exists.
pub fn blobs_exist(blobs: &dyn BlobStore) -> Result<bool> {
    Ok(blobs.scan(&mut |_| Ok(true))? || !blobs.list_trash()?.is_empty())
}

/// Whether the database has a row for at least one blob on disk.
fn knows_a_blob(db: &impl ReadableDatabase, blobs: &dyn BlobStore) -> Result<bool> {
    let r = db.begin_read()?;
    let rows = match r.open_table(HASH_TO_BLOB) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut failed = None;
    let found = blobs.scan(&mut |e| match rows.get(e.hash.as_slice()) {
        Ok(v) => Ok(v.is_some()),
        Err(err) => {
            failed = Some(err);
            Ok(true)
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if found {
        return Ok(true);
    }
    for t in blobs.list_trash()? {
        if rows.get(t.hash.as_slice())?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A fresh random id (never 0, which reads as "none").
fn new_id() -> u64 {
    u64::from_le_bytes(crate::secret::random_bytes::<8>()).max(1)
}

/// Decides, without writing anything, whether `db` may be opened with the blobs
/// of `data_dir`. `db` is `None` when the database file is absent or empty.
pub(crate) fn judge(
    db: Option<&impl ReadableDatabase>,
    data_dir: &Path,
    blobs: &dyn BlobStore,
    claim: Claim,
) -> Result<Decision> {
    let marker = match (blobs_id(data_dir, blobs), claim) {
        (Ok(m), _) => m,
        (Err(_), Claim::Adopt) => None,
        (Err(e), Claim::Verify) => return Err(e),
    };
    let db_id = db.map(database_id).transpose()?.flatten();
    let dir = data_dir.display().to_string();
    if claim == Claim::Adopt {
        let id = db_id.or(marker).unwrap_or_else(new_id);
        return Ok(if Some(id) == db_id && Some(id) == marker {
            Decision::Keep
        } else {
            Decision::Bind(id)
        });
    }
    let Some(db) = db else {
        if marker.is_some() || blobs_exist(blobs)? {
            return Err(StoreError::Identity(Mismatch::DatabaseMissing {
                db: super::Store::db_path(data_dir).display().to_string(),
                dir,
            }));
        }
        return Ok(Decision::Bind(new_id()));
    };
    let foreign = || {
        StoreError::Identity(Mismatch::Foreign {
            dir: dir.clone(),
            db: db_id.map(hex_id).unwrap_or_else(|| "none".into()),
            marker: marker.map(hex_id).unwrap_or_else(|| "none".into()),
        })
    };
    match (marker, db_id) {
        (Some(m), Some(d)) if m == d => Ok(Decision::Keep),
        (Some(_), Some(_)) => Err(foreign()),
        // Blobs bound before, the database is new, empty or older than ids.
        (Some(m), None) => {
            if !populated(db)? {
                Err(StoreError::Identity(Mismatch::DatabaseNew { dir }))
            } else if knows_a_blob(db, blobs)? {
                Ok(Decision::Bind(m))
            } else {
                Err(foreign())
            }
        }
        // No marker: a directory from before ids, or a lost marker.
        (None, id) => {
            if !blobs_exist(blobs)? {
                Ok(Decision::Bind(id.unwrap_or_else(new_id)))
            } else if !populated(db)? {
                Err(StoreError::Identity(Mismatch::DatabaseNew { dir }))
            } else if knows_a_blob(db, blobs)? {
                Ok(Decision::Bind(id.unwrap_or_else(new_id)))
            } else {
                Err(foreign())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A store with one image, closed again; returns its id.
    fn store_with_an_image(dir: &Path) -> u64 {
        let store = Store::open(dir).unwrap();
        let bytes = b"image bytes";
        let mut temp = store.blobs().create_temp().unwrap();
        temp.write_all(bytes).unwrap();
        temp.sync_all().unwrap();
        let new = crate::store::NewImage {
            record: crate::store::codec::test_record(bytes),
            key_hash: None,
        };
        store.commit_upload(new, temp, None, 1).unwrap();
        let id = database_id(&*store.db).unwrap().unwrap();
        assert_eq!(read_marker(dir).unwrap(), Some(id));
        id
    }

    fn forget_db_id(dir: &Path) {
        let db = redb::Database::open(Store::db_path(dir)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(NAME_TO_META)
            .unwrap()
            .remove(keys::IDENTITY)
            .unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn a_lost_marker_is_rewritten_from_a_database_that_knows_the_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let id = store_with_an_image(dir.path());
        std::fs::remove_file(marker_path(dir.path())).unwrap();
        drop(Store::open(dir.path()).unwrap());
        assert_eq!(read_marker(dir.path()).unwrap(), Some(id));
    }

    #[test]
    fn an_older_copy_without_an_id_takes_the_id_of_its_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let id = store_with_an_image(dir.path());
        forget_db_id(dir.path());
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(database_id(&*store.db).unwrap(), Some(id));
        assert_eq!(read_marker(dir.path()).unwrap(), Some(id));
    }

    #[test]
    fn a_database_with_an_id_but_no_rows_next_to_blobs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        store_with_an_image(dir.path());
        let other = tempfile::tempdir().unwrap();
        drop(Store::open(other.path()).unwrap());
        std::fs::copy(Store::db_path(other.path()), Store::db_path(dir.path())).unwrap();
        std::fs::remove_file(marker_path(dir.path())).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::Identity(Mismatch::DatabaseNew { .. })),
            "{err:?}"
        );
        assert!(!marker_path(dir.path()).exists(), "nothing written");
    }

    #[test]
    fn adopt_binds_whatever_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let id = store_with_an_image(dir.path());
        std::fs::remove_file(Store::db_path(dir.path())).unwrap();
        assert!(matches!(
            Store::open(dir.path()).unwrap_err(),
            StoreError::Identity(Mismatch::DatabaseMissing { .. })
        ));
        let store = Store::open_claiming(dir.path(), Claim::Adopt).unwrap();
        assert_eq!(database_id(&*store.db).unwrap(), Some(id));
        drop(store);
        drop(Store::open(dir.path()).unwrap());
    }

    #[test]
    fn markers_round_trip_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_marker(dir.path()).unwrap(), None);
        write_marker(dir.path(), 0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(
            read_marker(dir.path()).unwrap(),
            Some(0x0123_4567_89ab_cdef)
        );
        for bad in [
            "",
            "pixbin-data-dir 0000000000000000\n",
            "x 0123456789abcdef\n",
        ] {
            std::fs::write(marker_path(dir.path()), bad).unwrap();
            assert!(
                matches!(
                    read_marker(dir.path()),
                    Err(StoreError::Identity(Mismatch::MarkerUnreadable { .. }))
                ),
                "{bad:?}"
            );
        }
    }
}
