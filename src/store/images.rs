//! Image rows: commit an upload (its blob moved into place and its rows
//! inserted in one transaction, invariant 1, checked against the instance's and
//! its owner's quotas there), look one up by id or uuid, delete one (row first,
//! blob after, invariant 2), and set or clear its private key. The owner's
//! index and usage (`owners`) change in the same transactions.

use redb::{ReadableDatabase, ReadableTable};

use super::blobs::TempBlob;
use super::codec::{BlobRecord, ImageRecord, KeyRecord};
use super::meta::*;
use super::{
    Result, Store, StoreError, albums, get_meta, keyseal, lifecycle, owners, quota, stats, thumbs,
    uuid_key,
};
use crate::secret::KeyHash;

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
pub(super) struct ImageTables<'s> {
    seal: &'s keyseal::KeySeal,
    images: redb::ReadOnlyTable<u64, &'static [u8]>,
    views: redb::ReadOnlyTable<u64, u64>,
    consumed: redb::ReadOnlyTable<u64, (u64, i64)>,
}

impl<'s> ImageTables<'s> {
    pub(super) fn open(r: &redb::ReadTransaction, seal: &'s keyseal::KeySeal) -> Result<Self> {
        Ok(ImageTables {
            seal,
            images: r.open_table(ID_TO_IMAGE)?,
            views: r.open_table(ID_TO_VIEWS)?,
            consumed: r.open_table(ID_TO_CONSUMED_VIEWS)?,
        })
    }

    pub(super) fn load(&self, id: u64) -> Result<Option<StoredImage>> {
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

/// What an upload wants to create; the store fills in the id.
#[derive(Debug)]
pub struct NewImage {
    /// The row to insert (its `hash` names the blob in the temp file).
    pub record: ImageRecord,
    /// The upload key to mark as used, by hash.
    pub key_hash: Option<KeyHash>,
}

impl Store {
    /// Stores `bytes` through the blob store and commits a minimal image row
    /// naming them, as an upload does: the store tests' one way to add an image.
    #[cfg(test)]
    pub(crate) fn test_upload(&self, bytes: &[u8]) -> StoredImage {
        use std::io::Write;
        let mut temp = self.blobs.create_temp().unwrap();
        temp.write_all(bytes).unwrap();
        temp.sync_all().unwrap();
        let new = NewImage {
            record: super::codec::test_record(bytes),
            key_hash: None,
        };
        self.commit_upload(new, temp, None, 1).unwrap()
    }

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
    /// take the charged total past the limit, with `ImageLimit` at an image
    /// count limit, and with `AccountQuota` at the owner's own quota; the check and the increment happen in the same transaction,
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
        if let Some(r) = owners::check(&txn, &rec.owner, rec.size)? {
            return Err(StoreError::AccountQuota(r));
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
            owners::add(&txn, &rec.owner, id, rec.size)?;
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
            albums::forget_image(&txn, id)?;
            quota::count(&txn, &rec.uploader, -1)?;
            owners::remove(&txn, &rec.owner, id, rec.size)?;
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
}
