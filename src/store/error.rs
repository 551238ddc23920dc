//! What can go wrong below the HTTP layer: [`StoreError`], and the conversion of
//! redb's large error types into it at the store boundary.
//!
//! The conversions are pure. Whether an error means the database file itself
//! has failed (which redb latches until the file is reopened) is recorded by
//! the store's own handle (`store::db`), not here.

use super::{codec, identity};

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
    /// The file was written by a newer pixbin (a downgrade).
    #[error(
        "the database has schema version {found}, written by a newer pixbin (this one understands up to {expected}); refusing to touch it: downgrades are not supported, run the newer release or restore a backup made before the upgrade"
    )]
    SchemaNewer {
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
    /// An account change refused because of what it would break (the last
    /// admin, a taken name); nothing was written.
    #[error("{message}")]
    Refused {
        /// Machine-readable reason.
        code: &'static str,
        /// Human text.
        message: &'static str,
    },
    /// The owning account's own quota (bytes or images) would be exceeded.
    #[error("the account's quota is reached")]
    AccountQuota(super::quota::Refusal),
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

/// Whether redb reports a failure of its own file. redb then fails every later
/// write of that database (`PreviousIo`) until it is reopened, which for the
/// server means a restart (`store::db` latches it).
pub(crate) fn fails_file(e: &redb::StorageError) -> bool {
    matches!(
        e,
        redb::StorageError::Io(_) | redb::StorageError::PreviousIo
    )
}

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        match e {
            // Kept as I/O so a full disk is still answered 507.
            redb::StorageError::Io(io) => StoreError::Io(io),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk under redb stays recognisable as such (507 to the client);
    /// `PreviousIo` and corruption keep their own kinds.
    #[test]
    fn a_full_disk_stays_recognisable_through_redb() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e: StoreError = redb::CommitError::Storage(redb::StorageError::Io(full)).into();
        assert!(e.is_disk_full(), "{e:?}");
        let e: StoreError = redb::TransactionError::Storage(redb::StorageError::PreviousIo).into();
        assert!(matches!(e, StoreError::Db(_)), "{e:?}");
        let e: StoreError = redb::StorageError::Corrupted("x".into()).into();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        assert!(fails_file(&redb::StorageError::PreviousIo));
        assert!(!fails_file(&redb::StorageError::Corrupted("x".into())));
    }
}
