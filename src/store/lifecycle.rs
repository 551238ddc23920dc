//! Expiry and view limits in the store: consuming a limited view atomically,
//! editing an image's lifecycle, and finding what the sweeper must delete.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec::ImageRecord;
use super::meta::*;
use super::{Result, Store, StoredImage};

/// What a counted view of a view-limited image may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consume {
    /// Serve it; this many views remain after this one.
    Allowed {
        /// Views left after this one.
        left: u64,
    },
    /// The limit was already reached: answer as if the image did not exist.
    Exhausted,
}

/// Removes an image's lifecycle rows; called inside the delete transaction.
pub(super) fn forget(txn: &WriteTransaction, id: u64, rec: &ImageRecord) -> Result<()> {
    let mut index = txn.open_table(EXPIRES_AT_TO_ID)?;
    if let Some(at) = rec.expires_at {
        index.remove((at, id))?;
    }
    let mut consumed = txn.open_table(ID_TO_CONSUMED_VIEWS)?;
    if let Some(v) = consumed.remove(id)? {
        let (_, exhausted_at) = v.value();
        if exhausted_at != 0 {
            index.remove((exhausted_at, id))?;
        }
    }
    Ok(())
}

/// A change to an image's lifecycle: `None` leaves a field as it is,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LifecycleEdit {
    /// New expiry (Unix ms), or clear it.
    pub expires_at: Option<Option<i64>>,
    /// New view limit, or clear it.
    pub max_views: Option<Option<u64>>,
}

impl Store {
    /// Consumes one view of an image limited to `max` views, in its own write
    /// transaction. redb write transactions are exclusive, so two concurrent
    /// viewers cannot both take the last view; and the count is durable before
    /// the bytes go out, so a crash cannot hand a one-time link out twice.
    pub fn consume_view(&self, id: u64, max: u64, now: i64) -> Result<Consume> {
        let txn = self.db.begin_write()?;
        let outcome;
        {
            if txn.open_table(ID_TO_IMAGE)?.get(id)?.is_none() {
                return Ok(Consume::Exhausted);
            }
            let mut t = txn.open_table(ID_TO_CONSUMED_VIEWS)?;
            let (used, _) = t.get(id)?.map(|v| v.value()).unwrap_or((0, 0));
            if used >= max {
                return Ok(Consume::Exhausted);
            }
            let used = used + 1;
            let exhausted_at = if used >= max { now } else { 0 };
            t.insert(id, (used, exhausted_at))?;
            if exhausted_at != 0 {
                // Hand the image to the sweeper; the public link is dead from now.
                txn.open_table(EXPIRES_AT_TO_ID)?
                    .insert((exhausted_at, id), ())?;
            }
            outcome = Consume::Allowed { left: max - used };
        }
        txn.commit()?;
        Ok(outcome)
    }

    /// Changes an image's expiry and/or view limit. Returns the updated image.
    pub fn edit_lifecycle(
        &self,
        id: u64,
        edit: LifecycleEdit,
        now: i64,
    ) -> Result<Option<StoredImage>> {
        let txn = self.db.begin_write()?;
        {
            let mut images = txn.open_table(ID_TO_IMAGE)?;
            let Some(v) = images.get(id)? else {
                return Ok(None);
            };
            let mut rec = ImageRecord::decode(v.value())?;
            drop(v);
            let mut index = txn.open_table(EXPIRES_AT_TO_ID)?;
            if let Some(exp) = edit.expires_at {
                if let Some(old) = rec.expires_at {
                    index.remove((old, id))?;
                }
                if let Some(new) = exp {
                    index.insert((new, id), ())?;
                }
                rec.expires_at = exp;
            }
            if let Some(max) = edit.max_views {
                let mut consumed = txn.open_table(ID_TO_CONSUMED_VIEWS)?;
                let (used, exhausted_at) = consumed.get(id)?.map(|v| v.value()).unwrap_or((0, 0));
                if exhausted_at != 0 {
                    index.remove((exhausted_at, id))?;
                }
                // Views already consumed still count against a new limit.
                let now_exhausted = max.is_some_and(|m| used >= m);
                let stamp = if now_exhausted { now } else { 0 };
                if max.is_some() || used > 0 {
                    consumed.insert(id, (used, stamp))?;
                }
                if now_exhausted {
                    index.insert((stamp, id), ())?;
                }
                rec.max_views = max;
            }
            images.insert(id, rec.encode().as_slice())?;
        }
        txn.commit()?;
        self.image(id)
    }

    /// Ids due for deletion at `now` (expired or out of views), oldest first,
    /// at most `limit`.
    pub fn due_for_sweep(&self, now: i64, limit: usize) -> Result<Vec<u64>> {
        let r = self.db.begin_read()?;
        let index = r.open_table(EXPIRES_AT_TO_ID)?;
        let mut out = Vec::new();
        for e in index.range((i64::MIN, 0)..=(now, u64::MAX))? {
            let (_, id) = e?.0.value();
            if !out.contains(&id) {
                out.push(id);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewImage;
    use crate::store::blobs::BlobStore;
    use std::io::Write;

    fn image(store: &Store, bytes: &[u8], expires_at: Option<i64>, max_views: Option<u64>) -> u64 {
        let (temp, mut f) = store.blobs().create_temp().unwrap();
        f.write_all(bytes).unwrap();
        let rec = ImageRecord {
            expires_at,
            max_views,
            ..crate::store::codec::test_record(bytes)
        };
        store
            .commit_upload(
                NewImage {
                    record: rec,
                    key_hash: None,
                },
                temp,
                None,
                1,
            )
            .unwrap()
            .id
    }

    #[test]
    fn views_are_consumed_exactly_once_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = image(&store, b"a", None, Some(2));
        assert_eq!(
            store.consume_view(id, 2, 10).unwrap(),
            Consume::Allowed { left: 1 }
        );
        assert!(store.due_for_sweep(100, 10).unwrap().is_empty());
        assert_eq!(
            store.consume_view(id, 2, 20).unwrap(),
            Consume::Allowed { left: 0 }
        );
        assert_eq!(store.consume_view(id, 2, 30).unwrap(), Consume::Exhausted);
        let img = store.image(id).unwrap().unwrap();
        assert_eq!(img.views_left(), Some(0));
        assert!(img.is_gone(0));
        assert_eq!(store.due_for_sweep(19, 10).unwrap(), Vec::<u64>::new());
        assert_eq!(store.due_for_sweep(20, 10).unwrap(), vec![id]);
        // Raising the limit revives it and takes it off the sweep list.
        let img = store
            .edit_lifecycle(
                id,
                LifecycleEdit {
                    max_views: Some(Some(5)),
                    ..Default::default()
                },
                40,
            )
            .unwrap()
            .unwrap();
        assert_eq!(img.views_left(), Some(3));
        assert!(store.due_for_sweep(100, 10).unwrap().is_empty());
        // Delete clears every lifecycle row.
        store.delete_image(id).unwrap();
        assert_eq!(store.consume_view(id, 5, 50).unwrap(), Consume::Exhausted);
    }

    #[test]
    fn expiry_is_indexed_and_editable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = image(&store, b"a", Some(100), None);
        let b = image(&store, b"b", Some(50), None);
        let _c = image(&store, b"c", None, None);
        assert_eq!(store.due_for_sweep(99, 10).unwrap(), vec![b]);
        assert_eq!(store.due_for_sweep(100, 10).unwrap(), vec![b, a]);
        assert_eq!(store.due_for_sweep(100, 1).unwrap(), vec![b]);
        store
            .edit_lifecycle(
                b,
                LifecycleEdit {
                    expires_at: Some(None),
                    ..Default::default()
                },
                0,
            )
            .unwrap();
        assert_eq!(store.due_for_sweep(1000, 10).unwrap(), vec![a]);
        store
            .edit_lifecycle(
                a,
                LifecycleEdit {
                    expires_at: Some(Some(5000)),
                    ..Default::default()
                },
                0,
            )
            .unwrap();
        assert_eq!(store.due_for_sweep(1000, 10).unwrap(), Vec::<u64>::new());
        store.delete_image(a).unwrap();
        assert_eq!(
            store.due_for_sweep(i64::MAX, 10).unwrap(),
            Vec::<u64>::new()
        );
    }
}
