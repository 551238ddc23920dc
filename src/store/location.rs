//! Where this database's blobs live, recorded in the database itself: by
//! the first open with `--storage` (`Store::open_on`), by `pixbin adopt`, by
//! `pixbin restore` (the storage it restored onto) and by `pixbin
//! migrate-storage` when it switches over; checked by every other open.
//!
//! Kept in the meta table as one name, `storage.<location>` (the location as
//! `Storage::location` writes it: `fs` or `s3://bucket/prefix/`), whose value
//! is when it was recorded (ms). A name rather than a value, because meta
//! values are numbers; one name at most, because recording replaces the
//! others in the same commit. The endpoint is not part of it: a bucket may
//! move to another server or address and stay the same bucket.
//!
//! The check is what makes a migration's switch-over stick: the source is
//! left in place, complete as of the migration, and a server started with
//! the old `--storage` would serve it without the images uploaded since and
//! its GC would see those as orphans. A CLI command run without the server's
//! `--storage` (a shell without its environment) would judge the wrong
//! blobs the same way. Both are refused with a message naming the recorded
//! storage instead.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable};

use super::identity::Mismatch;
use super::meta::NAME_TO_META;
use super::{Result, Store, StoreError};

/// Prefix of the recorded location's name in the meta table.
const PREFIX: &str = "storage.";
/// The first name after every `storage.…`.
const PAST: &str = "storage/";

/// The location `db` records and when (ms), if any.
fn recorded_in(db: &impl ReadableDatabase) -> Result<Option<(String, i64)>> {
    let r = db.begin_read()?;
    let meta = match r.open_table(NAME_TO_META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let found = meta.range(PREFIX..PAST)?.next().transpose()?;
    Ok(found.and_then(|(k, v)| {
        let at = i64::try_from(v.value()).unwrap_or(i64::MAX);
        k.value().strip_prefix(PREFIX).map(|l| (l.to_string(), at))
    }))
}

/// The refusal of `given` when `recorded` names another location.
fn refusal(recorded: Option<(String, i64)>, given: &str) -> Result<()> {
    match recorded {
        Some((recorded, at)) if recorded != given => {
            Err(StoreError::Identity(Mismatch::StorageMoved {
                recorded,
                at: crate::clock::rfc3339(at),
                given: given.to_string(),
            }))
        }
        _ => Ok(()),
    }
}

/// Refuses `given` from a read-only look at the database file, before the
/// blob store is asked anything: a bucket named by mistake may not even be
/// reachable, and the message should be about the mistake. Any trouble
/// reading the file is left to the open that follows, which names it.
pub(crate) fn refuse_other_before_open(db: &Path, given: &str) -> Result<()> {
    match super::check::precheck(db) {
        Ok(Some(ro)) => refusal(recorded_in(&ro).unwrap_or(None), given),
        _ => Ok(()),
    }
}

impl Store {
    /// The recorded location and when it was recorded (ms), if any.
    pub fn recorded_location(&self) -> Result<Option<(String, i64)>> {
        recorded_in(&*self.db)
    }

    /// Records `location` as where the blobs live from now on, replacing any
    /// other in the same commit.
    pub fn record_location(&self, location: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(NAME_TO_META)?;
            let old: Vec<String> = meta
                .range(PREFIX..PAST)?
                .map(|e| e.map(|(k, _)| k.value().to_string()))
                .collect::<std::result::Result<_, _>>()?;
            for name in old {
                meta.remove(name.as_str())?;
            }
            let now = crate::clock::now_ms().max(0) as u64;
            meta.insert(format!("{PREFIX}{location}").as_str(), now)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Refuses `location` when the database records another one.
    pub fn refuse_other_location(&self, location: &str) -> Result<()> {
        refusal(self.recorded_location()?, location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::identity::Claim;

    #[test]
    fn the_first_open_records_the_storage_and_another_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.recorded_location().unwrap().unwrap().0, "fs");
        store.record_location("s3://pix/img/").unwrap();
        assert_eq!(
            store.recorded_location().unwrap().unwrap().0,
            "s3://pix/img/",
            "one name replaces the other"
        );
        // Runtime settings live beside it in the same table, untouched.
        store.put_runtime_settings(&[("x", 1)]).unwrap();
        store.refuse_other_location("s3://pix/img/").unwrap();
        drop(store);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Identity(Mismatch::StorageMoved { recorded, given, .. })
                if recorded == "s3://pix/img/" && given == "fs"),
            "{err:?}"
        );
        assert!(err.to_string().contains("--storage s3://pix/img/"), "{err}");
        // `adopt` binds the blobs it is given, and records where they are.
        let store = Store::open_claiming(dir.path(), Claim::Adopt).unwrap();
        assert_eq!(store.recorded_location().unwrap().unwrap().0, "fs");
        assert_eq!(store.runtime_settings().unwrap().get("x"), Some(&1));
    }
}
