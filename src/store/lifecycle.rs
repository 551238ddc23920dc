//! Expiry and view limits in the store: consuming a limited view atomically,
//! editing an image's lifecycle, and finding what the sweeper must delete.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec::ImageRecord;
use super::meta::*;
use super::{Result, Store, StoredImage};

/// What has been spent on one view-limited image: views against its
/// `max_views`, and link-preview fetches against its preview budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// Views consumed.
    pub views: u64,
    /// Link-preview fetches served without consuming a view.
    pub previews: u64,
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
    txn.open_table(ID_TO_PREVIEWS_SPENT)?.remove(id)?;
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
    /// What has been spent on an image so far (zero for an unknown one).
    pub fn spent(&self, id: u64) -> Result<Spent> {
        let r = self.db.begin_read()?;
        let views = r
            .open_table(ID_TO_CONSUMED_VIEWS)?
            .get(id)?
            .map_or(0, |v| v.value().0);
        let previews = r
            .open_table(ID_TO_PREVIEWS_SPENT)?
            .get(id)?
            .map_or(0, |v| v.value());
        Ok(Spent { views, previews })
    }

    /// Adds what a group of fetches spent, image by image, in one write
    /// transaction (one fsync for the whole group). The caller (the view
    /// ledger, `view_limits`) has already checked every limit; an image whose
    /// count reaches its current `max_views` here is handed to the sweeper.
    /// Deleted images are skipped.
    pub fn record_spent(&self, spent: &[(u64, Spent)], now: i64) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let images = txn.open_table(ID_TO_IMAGE)?;
            let mut consumed = txn.open_table(ID_TO_CONSUMED_VIEWS)?;
            let mut previews = txn.open_table(ID_TO_PREVIEWS_SPENT)?;
            let mut index = txn.open_table(EXPIRES_AT_TO_ID)?;
            for &(id, add) in spent {
                let Some(v) = images.get(id)? else {
                    continue;
                };
                let max = ImageRecord::decode(v.value())?.max_views;
                drop(v);
                if add.views > 0 {
                    let (used, stamp) = consumed.get(id)?.map_or((0, 0), |v| v.value());
                    let used = used.saturating_add(add.views);
                    let stamp = match max {
                        Some(m) if used >= m && stamp == 0 => {
                            // The public link is dead from now; the sweeper reclaims it.
                            index.insert((now, id), ())?;
                            now
                        }
                        _ => stamp,
                    };
                    consumed.insert(id, (used, stamp))?;
                }
                if add.previews > 0 {
                    let n = previews.get(id)?.map_or(0, |v| v.value());
                    previews.insert(id, n.saturating_add(add.previews))?;
                }
            }
        }
        txn.commit()?;
        Ok(())
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
pub(crate) mod tests {
    use super::*;
    use crate::store::NewImage;
    use std::io::Write;

    /// Commits an image row with these bytes and lifecycle; returns its id.
    pub(crate) fn image(
        store: &Store,
        bytes: &[u8],
        expires_at: Option<i64>,
        max_views: Option<u64>,
    ) -> u64 {
        let mut temp = store.blobs().create_temp().unwrap();
        temp.write_all(bytes).unwrap();
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

    fn views(n: u64) -> Spent {
        Spent {
            views: n,
            previews: 0,
        }
    }

    #[test]
    fn spent_views_accumulate_and_the_last_one_hands_the_image_to_the_sweeper() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = image(&store, b"a", None, Some(3));
        store.record_spent(&[(id, views(1))], 10).unwrap();
        assert!(store.due_for_sweep(100, 10).unwrap().is_empty());
        store
            .record_spent(
                &[(
                    id,
                    Spent {
                        views: 2,
                        previews: 3,
                    },
                )],
                20,
            )
            .unwrap();
        assert_eq!(
            store.spent(id).unwrap(),
            Spent {
                views: 3,
                previews: 3
            }
        );
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
        assert_eq!(img.views_left(), Some(2));
        assert!(store.due_for_sweep(100, 10).unwrap().is_empty());
        // Delete clears every lifecycle row; spending on a deleted image is a no-op.
        store.delete_image(id).unwrap();
        assert_eq!(store.spent(id).unwrap(), Spent::default());
        store.record_spent(&[(id, views(1))], 50).unwrap();
        assert_eq!(store.spent(id).unwrap(), Spent::default());
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
