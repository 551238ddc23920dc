//! Metadata in redb and bytes in content-addressed blobs: every read and write of
//! persistent state goes through here.
//!
//! All functions are blocking; async callers run them in `spawn_blocking`
//! (`crate::state::AppState::blocking`). redb's error types are converted into
//! [`StoreError`] at this boundary (`error`) so nothing above sees database
//! internals. Images, accounts, opening and the other concerns live in their
//! own files, each one `impl Store`.

pub mod accounts;
pub mod albums;
pub mod blobs;
pub mod check;
pub mod codec;
mod db;
pub mod error;
pub mod gc;
pub mod identity;
pub mod images;
pub mod integrity;
pub mod invites;
pub mod keyseal;
pub mod lifecycle;
pub mod listing;
pub mod location;
pub mod meta;
mod open;
pub mod orient;
pub mod owner_stats;
pub mod owners;
pub mod perms;
pub mod quota;
pub mod settings;
pub mod snapshot;
pub mod stats;
pub mod thumbs;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{ReadableDatabase, ReadableTable};

use self::blobs::{BlobHash, BlobStore};
use self::codec::BlobRecord;
use self::db::Db;
pub use self::error::{Result, StoreError};
use self::images::ImageTables;
pub use self::images::{NewImage, StoredImage};
pub use self::listing::{ListCursor, ListFilter, Page, SortKey, SortValue, StatusFilter};
use self::meta::*;

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

/// The open data directory.
pub struct Store {
    db: Db,
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

    /// Whether the database file has failed an I/O operation since it was
    /// opened (see `db`): redb refuses every later write until it is reopened.
    pub fn database_failed(&self) -> bool {
        self.db.failed()
    }

    /// Sees `true` once the database file has failed an I/O operation;
    /// `serve` awaits it to stop and be restarted by its service manager.
    pub fn database_failure(&self) -> tokio::sync::watch::Receiver<bool> {
        self.db.watch_failure()
    }

    /// After an error of a store call: whether the database file has failed
    /// is asked of redb, for failures that no write transaction has seen yet
    /// (a failed read). Errors that are decisions (limits) ask nothing.
    pub fn recheck_after(&self, e: &StoreError) {
        if matches!(
            e,
            StoreError::Io(_) | StoreError::Db(_) | StoreError::Corrupt(_)
        ) {
            self.db.recheck();
        }
    }

    /// A cheap read transaction, for readiness checks.
    pub fn ping(&self) -> Result<()> {
        self.totals().map(|_| ())
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
