//! The store's redb handle: the database plus the latch that remembers when its
//! file has failed.
//!
//! redb latches an I/O failure of its own file: every later write transaction
//! fails (`PreviousIo`) until the file is reopened, which for the server means a
//! restart. Write transactions begin and commit through [`Db`], which notes such
//! a failure in a watch channel owned by the store; a failed read latches in
//! redb too, and [`Db::recheck`] (called after a store error) finds it before
//! the next write would. `serve` awaits the channel and exits
//! so that the service manager restarts it (systemd: `Restart=on-failure`),
//! instead of answering 500 to everything while looking alive.

use std::ops::{Deref, DerefMut};

use redb::{CommitError, Database, StorageError, TransactionError, WriteTransaction};
use tokio::sync::watch;

use super::error::fails_file;

/// A redb database whose file failures are latched.
pub(crate) struct Db {
    inner: Database,
    failed: watch::Sender<bool>,
}

impl Db {
    /// Wraps an open database (not failed).
    pub(crate) fn new(inner: Database) -> Self {
        Db {
            inner,
            failed: watch::Sender::new(false),
        }
    }

    /// Begins a write transaction; one refused because the file failed earlier
    /// latches the failure.
    pub(crate) fn begin_write(&self) -> Result<WriteTxn<'_>, TransactionError> {
        match self.inner.begin_write() {
            Ok(txn) => Ok(WriteTxn { txn, db: self }),
            Err(e) => {
                if let TransactionError::Storage(s) = &e {
                    self.note(s);
                }
                Err(e)
            }
        }
    }

    /// Whether the database file has failed an I/O operation.
    pub(crate) fn failed(&self) -> bool {
        *self.failed.borrow()
    }

    /// A receiver that sees `true` once the file has failed.
    pub(crate) fn watch_failure(&self) -> watch::Receiver<bool> {
        self.failed.subscribe()
    }

    /// Asks redb whether it has latched a failure of the file, without
    /// waiting for a write in progress (that one notes a failure itself).
    pub(crate) fn recheck(&self) {
        match self.inner.try_begin_write() {
            Ok(txn) => {
                if let Err(e) = txn.abort() {
                    self.note(&e);
                }
            }
            Err(TransactionError::Storage(s)) => self.note(&s),
            Err(_) => {}
        }
    }

    fn note(&self, e: &StorageError) {
        if fails_file(e) {
            self.failed
                .send_if_modified(|f| !std::mem::replace(f, true));
        }
    }
}

// Reads and everything else go to redb directly: a read never latches a
// failure in redb, so there is nothing to note.
impl Deref for Db {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.inner
    }
}

/// A write transaction of a [`Db`]: committing or aborting it notes a failure
/// of the file.
pub(crate) struct WriteTxn<'a> {
    txn: WriteTransaction,
    db: &'a Db,
}

impl WriteTxn<'_> {
    /// Commits; a failure of the file is latched.
    pub(crate) fn commit(self) -> Result<(), CommitError> {
        let db = self.db;
        self.txn.commit().inspect_err(|e| {
            if let CommitError::Storage(s) = e {
                db.note(s);
            }
        })
    }

    /// Aborts; a failure of the file is latched.
    pub(crate) fn abort(self) -> Result<(), StorageError> {
        let db = self.db;
        self.txn.abort().inspect_err(|e| db.note(e))
    }
}

impl Deref for WriteTxn<'_> {
    type Target = WriteTransaction;
    fn deref(&self) -> &WriteTransaction {
        &self.txn
    }
}

impl DerefMut for WriteTxn<'_> {
    fn deref_mut(&mut self) -> &mut WriteTransaction {
        &mut self.txn
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use redb::backends::InMemoryBackend;
    use redb::{StorageBackend, TableDefinition};

    use super::*;
    use crate::store::StoreError;

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    /// Memory that can be told to fail its syncs like a dying disk.
    #[derive(Debug)]
    struct Failing {
        mem: InMemoryBackend,
        fail: Arc<AtomicBool>,
    }

    impl StorageBackend for Failing {
        fn len(&self) -> std::io::Result<u64> {
            self.mem.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.mem.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.mem.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(std::io::ErrorKind::StorageFull.into());
            }
            self.mem.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.mem.write(offset, data)
        }
    }

    fn write_one(db: &Db, v: u64) -> Result<(), StoreError> {
        let txn = db.begin_write()?;
        txn.open_table(T)?.insert(v, v)?;
        txn.commit()?;
        Ok(())
    }

    /// A failing commit latches the failure in this database's own handle (a
    /// second database in the same process stays healthy), wakes a waiting
    /// receiver, and keeps a full disk recognisable (507 to the client).
    #[test]
    fn a_failed_commit_latches_in_its_own_database() {
        let fail = Arc::new(AtomicBool::new(false));
        let backend = Failing {
            mem: InMemoryBackend::new(),
            fail: fail.clone(),
        };
        let db = Db::new(Database::builder().create_with_backend(backend).unwrap());
        let other = Db::new(
            Database::builder()
                .create_with_backend(InMemoryBackend::new())
                .unwrap(),
        );
        let mut rx = db.watch_failure();
        write_one(&db, 1).unwrap();
        assert!(!db.failed());
        assert!(!rx.has_changed().unwrap());

        fail.store(true, Ordering::SeqCst);
        let e = write_one(&db, 2).unwrap_err();
        assert!(e.is_disk_full(), "{e:?}");
        assert!(db.failed());
        assert!(rx.has_changed().unwrap() && *rx.borrow_and_update());

        // redb refuses every later write until reopened; still latched.
        fail.store(false, Ordering::SeqCst);
        assert!(write_one(&db, 3).is_err());
        assert!(db.failed());

        write_one(&other, 1).unwrap();
        assert!(!other.failed());
    }

    /// A failure that did not pass through this handle (in the server: a
    /// failed read) is found by `recheck`; a healthy database stays healthy.
    #[test]
    fn recheck_finds_a_failure_redb_latched_elsewhere() {
        let fail = Arc::new(AtomicBool::new(false));
        let backend = Failing {
            mem: InMemoryBackend::new(),
            fail: fail.clone(),
        };
        let db = Db::new(Database::builder().create_with_backend(backend).unwrap());
        write_one(&db, 1).unwrap();
        db.recheck();
        assert!(!db.failed());
        fail.store(true, Ordering::SeqCst);
        let txn = db.inner.begin_write().unwrap();
        txn.open_table(T).unwrap().insert(2, 2).unwrap();
        assert!(txn.commit().is_err());
        assert!(!db.failed(), "not through this handle");
        db.recheck();
        assert!(db.failed());
    }
}
