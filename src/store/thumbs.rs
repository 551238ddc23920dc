//! Thumbnail blobs: attach one to an image row, release it on delete, find the
//! images that still need one.
//!
//! A thumbnail is a content-addressed blob like an original, with its own row in
//! `HASH_TO_BLOB` (so two images with the same thumbnail share one file, counted
//! by refcount) and its bytes in the running `bytes_stored` total. The image row
//! names it in `ImageRecord::thumbnail`. Attaching follows invariant 1 (durable
//! rename before the commit that refers to it), under the same `namespace` lock
//! as uploads and deletes, and re-checks inside the write transaction that the
//! image still exists with the bytes the thumbnail was made from.

use redb::{ReadableDatabase, ReadableTable};

use super::blobs::{BlobHash, TempBlob};
use super::codec::{BlobRecord, ImageRecord};
use super::meta::{HASH_TO_BLOB, ID_TO_IMAGE, NAME_TO_META, UUID_TO_ID, keys};
use super::{Result, Store, StoreError, StoredImage, get_meta, uuid_key};

/// A finished thumbnail waiting in a fsynced temp file.
#[derive(Debug)]
pub struct NewThumbnail {
    /// The temp file holding its bytes.
    pub temp: TempBlob,
    /// blake3 of the bytes.
    pub hash: BlobHash,
    /// Length of the bytes.
    pub size: u64,
    /// `media::ImageType` code (JPEG or WebP).
    pub kind: u8,
}

/// What [`Store::attach_thumbnail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The image now names this thumbnail.
    Stored(BlobHash),
    /// The image already had one (made concurrently); the temp was dropped.
    Already(BlobHash),
    /// The image was deleted, or its bytes changed, in the meantime.
    Gone,
}

/// Takes one reference off a blob row inside a write transaction. Returns the
/// hash when the last reference went, so the caller unlinks the file after the
/// commit (invariant 2).
pub(crate) fn release_blob(
    blobs: &mut redb::Table<&'static [u8], &'static [u8]>,
    meta: &mut redb::Table<&'static str, u64>,
    hash: &BlobHash,
) -> Result<Option<BlobHash>> {
    let found = blobs
        .get(hash.as_slice())?
        .map(|v| BlobRecord::decode(v.value()))
        .transpose()?;
    match found {
        Some(b) if b.refcount > 1 => {
            let b = BlobRecord {
                refcount: b.refcount - 1,
                ..b
            };
            blobs.insert(hash.as_slice(), b.encode().as_slice())?;
            Ok(None)
        }
        Some(b) => {
            blobs.remove(hash.as_slice())?;
            let used = get_meta(meta, keys::BYTES_STORED)?;
            meta.insert(keys::BYTES_STORED, used.saturating_sub(b.size))?;
            Ok(Some(*hash))
        }
        None => Ok(None),
    }
}

impl Store {
    /// Records `thumb` as the thumbnail of image `id`, provided the image still
    /// exists, still holds the blob `made_from`, and has no thumbnail yet. A new
    /// blob is refused with `StorageFull` past `max_storage`, like an upload.
    pub fn attach_thumbnail(
        &self,
        id: u64,
        made_from: &BlobHash,
        thumb: NewThumbnail,
        max_storage: Option<u64>,
    ) -> Result<Attached> {
        let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
        let txn = self.db.begin_write()?;
        let outcome;
        let mut rewritten = None;
        {
            let mut images = txn.open_table(ID_TO_IMAGE)?;
            let current = images
                .get(id)?
                .map(|v| ImageRecord::decode(v.value()))
                .transpose()?;
            let mut rec = match current {
                Some(r) if r.hash == *made_from => r,
                _ => return Ok(Attached::Gone),
            };
            if let Some(existing) = rec.thumbnail {
                return Ok(Attached::Already(existing));
            }
            let mut meta = txn.open_table(NAME_TO_META)?;
            let mut blobs = txn.open_table(HASH_TO_BLOB)?;
            let existing = blobs
                .get(thumb.hash.as_slice())?
                .map(|v| BlobRecord::decode(v.value()))
                .transpose()?;
            let blob = match existing {
                Some(mut b) => {
                    b.refcount += 1;
                    drop(thumb.temp); // the same thumbnail is already stored
                    b
                }
                None => {
                    let used = get_meta(&meta, keys::BYTES_STORED)?;
                    // Charged like an image's blob (`quota`): bytes plus overhead.
                    if let Some(limit) = max_storage {
                        use redb::ReadableTableMetadata;
                        let images = get_meta(&meta, keys::IMAGES)?;
                        let charged = super::quota::charged(used, blobs.len()?, images);
                        if charged.saturating_add(thumb.size + super::quota::BLOB_OVERHEAD) > limit
                        {
                            return Err(StoreError::StorageFull);
                        }
                    }
                    // Durable rename before the row names it (invariant 1).
                    if self.blobs.put(thumb.temp, &thumb.hash)? {
                        rewritten = Some(thumb.hash);
                    }
                    meta.insert(keys::BYTES_STORED, used + thumb.size)?;
                    BlobRecord {
                        size: thumb.size,
                        refcount: 1,
                        kind: thumb.kind,
                    }
                }
            };
            blobs.insert(thumb.hash.as_slice(), blob.encode().as_slice())?;
            rec.thumbnail = Some(thumb.hash);
            images.insert(id, rec.encode().as_slice())?;
            outcome = Attached::Stored(thumb.hash);
        }
        txn.commit()?;
        if let Some(h) = rewritten {
            self.blob_rewritten(&h);
        }
        Ok(outcome)
    }

    /// An image by uuid together with its thumbnail's blob row, if it has one,
    /// read in one transaction.
    pub fn image_with_thumbnail(
        &self,
        uuid: &[u8; 16],
    ) -> Result<Option<(StoredImage, Option<BlobRecord>)>> {
        let Some(img) = self.image_by_uuid(uuid)? else {
            return Ok(None);
        };
        let Some(hash) = img.record.thumbnail else {
            return Ok(Some((img, None)));
        };
        let r = self.db.begin_read()?;
        let blob = r
            .open_table(HASH_TO_BLOB)?
            .get(hash.as_slice())?
            .map(|v| BlobRecord::decode(v.value()))
            .transpose()?;
        Ok(Some((img, blob)))
    }

    /// Up to `limit` ids of images without a thumbnail, after id `after`, in id
    /// order (for the backfill).
    pub fn images_without_thumbnail(&self, after: u64, limit: usize) -> Result<Vec<u64>> {
        let r = self.db.begin_read()?;
        let images = r.open_table(ID_TO_IMAGE)?;
        let mut out = Vec::new();
        for e in images.range(after.saturating_add(1)..)? {
            let (k, v) = e?;
            if ImageRecord::decode(v.value())?.thumbnail.is_none() {
                out.push(k.value());
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The numeric id of an image uuid.
    pub fn image_id(&self, uuid: &[u8; 16]) -> Result<Option<u64>> {
        let r = self.db.begin_read()?;
        Ok(r.open_table(UUID_TO_ID)?
            .get(uuid_key(uuid))?
            .map(|v| v.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewImage;
    use crate::store::codec::Uploader;
    use std::io::Write;

    fn temp_with(store: &Store, bytes: &[u8]) -> TempBlob {
        let mut temp = store.blobs().create_temp().unwrap();
        temp.write_all(bytes).unwrap();
        temp.sync_all().unwrap();
        temp
    }

    fn upload(store: &Store, bytes: &[u8]) -> StoredImage {
        let hash = BlobHash::of(bytes);
        let record = ImageRecord {
            uuid: *uuid::Uuid::new_v4().as_bytes(),
            filename: "a.png".into(),
            kind: crate::media::ImageType::Png,
            size: bytes.len() as u64,
            width: 1,
            height: 1,
            hash,
            uploaded_at: 1,
            private_key: None,
            deletion_hash: crate::secret::TokenHash::from_bytes([0; 32]),
            uploader: Uploader::Import,
            thumbnail: None,
            expires_at: None,
            max_views: None,
            stripped: Vec::new(),
            owner: String::new(),
        };
        let new = NewImage {
            record,
            key_hash: None,
        };
        store
            .commit_upload(new, temp_with(store, bytes), None, 1)
            .unwrap()
    }

    fn thumb(store: &Store, bytes: &[u8]) -> NewThumbnail {
        NewThumbnail {
            temp: temp_with(store, bytes),
            hash: BlobHash::of(bytes),
            size: bytes.len() as u64,
            kind: 2,
        }
    }

    #[test]
    fn shared_thumbnails_are_refcounted_and_freed_with_the_last_image() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = upload(&store, b"original a");
        let b = upload(&store, b"original b");
        let t = thumb(&store, b"thumb");
        let th = t.hash;
        assert_eq!(
            store
                .attach_thumbnail(a.id, &a.record.hash, t, None)
                .unwrap(),
            Attached::Stored(th)
        );
        let t = thumb(&store, b"thumb");
        assert_eq!(
            store
                .attach_thumbnail(b.id, &b.record.hash, t, None)
                .unwrap(),
            Attached::Stored(th)
        );
        let t = thumb(&store, b"other");
        assert_eq!(
            store
                .attach_thumbnail(b.id, &b.record.hash, t, None)
                .unwrap(),
            Attached::Already(th)
        );
        assert_eq!(store.blob(&th).unwrap().unwrap().refcount, 2);
        assert_eq!(store.totals().unwrap().bytes_stored, 10 + 10 + 5);
        assert!(store.images_without_thumbnail(0, 10).unwrap().is_empty());
        assert_eq!(store.blobs().list_temps().unwrap().len(), 0);

        store.delete_image(a.id).unwrap();
        assert!(store.blobs().exists(&th));
        store.delete_image(b.id).unwrap();
        assert!(!store.blobs().exists(&th), "last image frees its thumbnail");
        assert_eq!(store.blob(&th).unwrap(), None);
        assert_eq!(store.totals().unwrap().bytes_stored, 0);
        assert!(store.blobs().list().unwrap().is_empty());
    }

    #[test]
    fn a_deleted_image_gets_no_thumbnail_and_the_limit_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = upload(&store, b"original a");
        assert_eq!(store.images_without_thumbnail(0, 10).unwrap(), vec![a.id]);
        let t = thumb(&store, b"thumb");
        assert!(matches!(
            store.attach_thumbnail(a.id, &a.record.hash, t, Some(12)),
            Err(StoreError::StorageFull)
        ));
        store.delete_image(a.id).unwrap();
        let t = thumb(&store, b"thumb");
        assert_eq!(
            store
                .attach_thumbnail(a.id, &a.record.hash, t, None)
                .unwrap(),
            Attached::Gone
        );
        assert!(store.blobs().list().unwrap().is_empty());
        assert_eq!(store.blobs().list_temps().unwrap().len(), 0);
    }
}
