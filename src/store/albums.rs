//! Album rows: create, change (title, description, visibility, expiry, cover,
//! which images and in what order, all through one validated edit), delete,
//! and the image -> albums index that lets deleting an image take it out of
//! every album in the same transaction.
//!
//! An album only names images; it never holds a blob reference, so deleting
//! an album deletes no image and the blob invariants (1, 2) are untouched.
//! Who may do what is decided above, in `crate::albums`.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::codec::AlbumRecord;
use super::images::ImageTables;
use super::meta::*;
use super::{Result, Store, StoredImage};

/// Most images one album holds (a gallery page and a zip are sized by it).
pub const MAX_IMAGES: usize = 10_000;
/// Most albums the server keeps (the list is read whole).
pub const MAX_ALBUMS: usize = 10_000;

/// An album's public id: 128 random bits, written as 22 base64url characters.
/// Unguessable, so an unlisted album's link is its only way in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlbumId([u8; 16]);

impl AlbumId {
    /// A fresh random id.
    pub fn random() -> AlbumId {
        AlbumId(crate::secret::random_bytes::<16>())
    }

    /// The 22-character form and nothing else (no padding, no other alphabet).
    pub fn parse(s: &str) -> Option<AlbumId> {
        if s.len() != 22 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let id = AlbumId(bytes.try_into().ok()?);
        // Base64 has spare bits in the last character: only the canonical
        // spelling names the album, so one album has one URL.
        (id.to_string() == s).then_some(id)
    }

    fn key(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    fn from_key(k: u128) -> AlbumId {
        AlbumId(k.to_be_bytes())
    }
}

impl std::fmt::Display for AlbumId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl std::fmt::Debug for AlbumId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlbumId({self})")
    }
}

/// Why an album change was refused; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlbumError {
    /// No such album.
    #[error("no such album")]
    NotFound,
    /// An image id names no image.
    #[error("image {0} does not exist")]
    UnknownImage(u64),
    /// The same image twice in one album.
    #[error("image {0} is listed twice")]
    Duplicate(u64),
    /// Over [`MAX_IMAGES`].
    #[error("an album holds at most {MAX_IMAGES} images")]
    TooManyImages,
    /// Over [`MAX_ALBUMS`].
    #[error("the server holds at most {MAX_ALBUMS} albums")]
    TooManyAlbums,
    /// The cover is not one of the album's images.
    #[error("the cover must be one of the album's images")]
    CoverNotInAlbum,
}

/// A store call that may be refused for an album reason.
pub type Outcome<T> = std::result::Result<T, AlbumError>;

/// The album stored under `key`, decoded.
fn read(
    albums: &impl ReadableTable<u128, &'static [u8]>,
    key: u128,
) -> Result<Option<AlbumRecord>> {
    Ok(albums
        .get(key)?
        .map(|v| AlbumRecord::decode(v.value()))
        .transpose()?)
}

/// Creates the album tables (at open).
pub(super) fn create_tables(txn: &redb::WriteTransaction) -> Result<()> {
    txn.open_table(ALBUM_TO_ALBUM)?;
    txn.open_table(IMAGE_ALBUM_TO_UNIT)?;
    Ok(())
}

/// Takes a deleted image out of every album that held it, inside the
/// deleting transaction (`Store::delete_image`).
pub(super) fn forget_image(txn: &redb::WriteTransaction, image: u64) -> Result<()> {
    let mut index = txn.open_table(IMAGE_ALBUM_TO_UNIT)?;
    let mut albums = txn.open_table(ALBUM_TO_ALBUM)?;
    let mut holding = Vec::new();
    for e in index.range((image, 0u128)..=(image, u128::MAX))? {
        holding.push(e?.0.value().1);
    }
    for a in holding {
        index.remove((image, a))?;
        if let Some(mut rec) = read(&albums, a)? {
            rec.images.retain(|&i| i != image);
            if rec.cover == Some(image) {
                rec.cover = None;
            }
            albums.insert(a, rec.encode().as_slice())?;
        }
    }
    Ok(())
}

/// Hands the albums of a deleted account `from` to `heir` (with its images,
/// as a transfer does), or deletes them when there is none (their images
/// are deleted just before). Inside the transaction that removes the account,
/// so no album is left owned by a name that no longer exists. Returns how
/// many albums moved or went.
pub(super) fn hand_over(
    txn: &redb::WriteTransaction,
    from: &str,
    heir: Option<&str>,
) -> Result<u64> {
    let mut albums = txn.open_table(ALBUM_TO_ALBUM)?;
    let mut owned = Vec::new();
    for e in albums.iter()? {
        let (k, v) = e?;
        let rec = AlbumRecord::decode(v.value())?;
        if rec.owner == from {
            owned.push((k.value(), rec));
        }
    }
    let mut index = txn.open_table(IMAGE_ALBUM_TO_UNIT)?;
    for (key, mut rec) in owned.iter().cloned() {
        match heir {
            Some(h) => {
                rec.owner = h.to_string();
                albums.insert(key, rec.encode().as_slice())?;
            }
            None => {
                albums.remove(key)?;
                for i in rec.images {
                    index.remove((i, key))?;
                }
            }
        }
    }
    Ok(owned.len() as u64)
}

/// The checks every stored album passes: unique, existing images within the
/// cap, and a cover among them.
fn validate(
    rec: &AlbumRecord,
    images: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<Outcome<()>> {
    if rec.images.len() > MAX_IMAGES {
        return Ok(Err(AlbumError::TooManyImages));
    }
    let mut seen = BTreeSet::new();
    for &id in &rec.images {
        if !seen.insert(id) {
            return Ok(Err(AlbumError::Duplicate(id)));
        }
        if images.get(id)?.is_none() {
            return Ok(Err(AlbumError::UnknownImage(id)));
        }
    }
    if rec.cover.is_some_and(|c| !seen.contains(&c)) {
        return Ok(Err(AlbumError::CoverNotInAlbum));
    }
    Ok(Ok(()))
}

impl Store {
    /// Stores a new album under `id` (callers make it with [`AlbumId::random`]).
    pub fn create_album(&self, id: AlbumId, rec: &AlbumRecord) -> Result<Outcome<()>> {
        let txn = self.db.begin_write()?;
        {
            let mut albums = txn.open_table(ALBUM_TO_ALBUM)?;
            if albums.len()? as usize >= MAX_ALBUMS {
                return Ok(Err(AlbumError::TooManyAlbums));
            }
            if let Err(e) = validate(rec, &txn.open_table(ID_TO_IMAGE)?)? {
                return Ok(Err(e));
            }
            albums.insert(id.key(), rec.encode().as_slice())?;
            let mut index = txn.open_table(IMAGE_ALBUM_TO_UNIT)?;
            for &i in &rec.images {
                index.insert((i, id.key()), ())?;
            }
        }
        txn.commit()?;
        Ok(Ok(()))
    }

    /// One album, expired or not (callers judge expiry with the clock).
    pub fn album(&self, id: AlbumId) -> Result<Option<AlbumRecord>> {
        let r = self.db.begin_read()?;
        read(&r.open_table(ALBUM_TO_ALBUM)?, id.key())
    }

    /// Every album (at most [`MAX_ALBUMS`]), in id order.
    pub fn albums(&self) -> Result<Vec<(AlbumId, AlbumRecord)>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(ALBUM_TO_ALBUM)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            out.push((
                AlbumId::from_key(k.value()),
                AlbumRecord::decode(v.value())?,
            ));
        }
        Ok(out)
    }

    /// Changes an album with `edit` and stores the result if it passes the
    /// album checks; the image index follows the images added and removed.
    /// Returns the stored album.
    pub fn update_album(
        &self,
        id: AlbumId,
        edit: impl FnOnce(&mut AlbumRecord),
    ) -> Result<Outcome<AlbumRecord>> {
        let txn = self.db.begin_write()?;
        let rec;
        {
            let mut albums = txn.open_table(ALBUM_TO_ALBUM)?;
            let Some(old) = read(&albums, id.key())? else {
                return Ok(Err(AlbumError::NotFound));
            };
            let mut new = old.clone();
            edit(&mut new);
            if let Err(e) = validate(&new, &txn.open_table(ID_TO_IMAGE)?)? {
                return Ok(Err(e));
            }
            let before: BTreeSet<u64> = old.images.iter().copied().collect();
            let after: BTreeSet<u64> = new.images.iter().copied().collect();
            let mut index = txn.open_table(IMAGE_ALBUM_TO_UNIT)?;
            for i in before.difference(&after) {
                index.remove((*i, id.key()))?;
            }
            for i in after.difference(&before) {
                index.insert((*i, id.key()), ())?;
            }
            albums.insert(id.key(), new.encode().as_slice())?;
            rec = new;
        }
        txn.commit()?;
        Ok(Ok(rec))
    }

    /// Deletes an album (never its images). `false` when there was none.
    pub fn delete_album(&self, id: AlbumId) -> Result<bool> {
        let txn = self.db.begin_write()?;
        {
            let mut albums = txn.open_table(ALBUM_TO_ALBUM)?;
            let Some(rec) = albums
                .remove(id.key())?
                .map(|v| AlbumRecord::decode(v.value()))
                .transpose()?
            else {
                return Ok(false);
            };
            let mut index = txn.open_table(IMAGE_ALBUM_TO_UNIT)?;
            for i in rec.images {
                index.remove((i, id.key()))?;
            }
        }
        txn.commit()?;
        Ok(true)
    }

    /// Deletes every album expired at `now`; returns how many.
    pub fn purge_expired_albums(&self, now: i64) -> Result<usize> {
        let due: Vec<AlbumId> = self
            .albums()?
            .into_iter()
            .filter(|(_, a)| a.expires_at.is_some_and(|t| t <= now))
            .map(|(id, _)| id)
            .collect();
        for id in &due {
            self.delete_album(*id)?;
        }
        Ok(due.len())
    }

    /// The images of `ids` that exist, in that order, read in one transaction.
    pub fn images_by_ids(&self, ids: &[u64]) -> Result<Vec<StoredImage>> {
        let r = self.db.begin_read()?;
        let t = ImageTables::open(&r, &self.seal)?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(img) = t.load(id)? {
                out.push(img);
            }
        }
        Ok(out)
    }

    /// The albums holding an image.
    pub fn albums_of_image(&self, image: u64) -> Result<Vec<AlbumId>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(IMAGE_ALBUM_TO_UNIT)?;
        let mut out = Vec::new();
        for e in t.range((image, 0u128)..=(image, u128::MAX))? {
            out.push(AlbumId::from_key(e?.0.value().1));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::Visibility;

    fn album(images: Vec<u64>) -> AlbumRecord {
        AlbumRecord {
            owner: "admin".into(),
            title: "Trip".into(),
            description: String::new(),
            visibility: Visibility::Unlisted,
            created_at: 1,
            updated_at: 1,
            expires_at: None,
            cover: None,
            images,
        }
    }

    fn store_with(n: usize) -> (tempfile::TempDir, Store, Vec<u64>) {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ids = (0..n)
            .map(|i| {
                let bytes = [i as u8; 40];
                let mut temp = store.blobs().create_temp().unwrap();
                temp.write_all(&bytes).unwrap();
                temp.sync_all().unwrap();
                let new = crate::store::NewImage {
                    record: crate::store::codec::test_record(&bytes),
                    key_hash: None,
                };
                store.commit_upload(new, temp, None, 1).unwrap().id
            })
            .collect();
        (dir, store, ids)
    }

    #[test]
    fn ids_are_22_canonical_characters_and_random() {
        let a = AlbumId::random();
        let s = a.to_string();
        assert_eq!(s.len(), 22);
        assert_eq!(AlbumId::parse(&s), Some(a));
        assert_ne!(AlbumId::random(), a);
        for bad in [
            "",
            "short",
            &format!("{s}="),
            &s[..21],
            "AAAAAAAAAAAAAAAAAAAAA/",
        ] {
            assert_eq!(AlbumId::parse(bad), None, "{bad}");
        }
        // The last character carries 4 spare bits: only one spelling is accepted.
        let mut alt = s.clone().into_bytes();
        let last = alt[21];
        alt[21] = if last == b'A' { b'B' } else { b'A' };
        let alt = String::from_utf8(alt).unwrap();
        if let Some(other) = AlbumId::parse(&alt) {
            assert_ne!(other, a);
        }
    }

    #[test]
    fn deleting_an_image_takes_it_out_of_every_album_and_albums_never_delete_images() {
        let (_d, store, ids) = store_with(3);
        let (a, b) = (AlbumId::random(), AlbumId::random());
        let mut rec = album(vec![ids[0], ids[1]]);
        rec.cover = Some(ids[1]);
        store.create_album(a, &rec).unwrap().unwrap();
        store
            .create_album(b, &album(vec![ids[1], ids[2]]))
            .unwrap()
            .unwrap();
        assert_eq!(store.albums_of_image(ids[1]).unwrap().len(), 2);
        store.delete_image(ids[1]).unwrap().unwrap();
        let a_now = store.album(a).unwrap().unwrap();
        assert_eq!(a_now.images, vec![ids[0]]);
        assert_eq!(a_now.cover, None);
        assert_eq!(store.album(b).unwrap().unwrap().images, vec![ids[2]]);
        assert!(store.albums_of_image(ids[1]).unwrap().is_empty());
        assert!(store.delete_album(a).unwrap());
        assert!(!store.delete_album(a).unwrap());
        assert!(store.image(ids[0]).unwrap().is_some());
        assert!(store.albums_of_image(ids[0]).unwrap().is_empty());
    }

    #[test]
    fn edits_are_validated_and_keep_the_index() {
        let (_d, store, ids) = store_with(3);
        let a = AlbumId::random();
        store
            .create_album(a, &album(vec![ids[0]]))
            .unwrap()
            .unwrap();
        let refused = [
            (vec![ids[0], ids[0]], None, AlbumError::Duplicate(ids[0])),
            (vec![ids[0], 999], None, AlbumError::UnknownImage(999)),
            (vec![ids[0]], Some(ids[2]), AlbumError::CoverNotInAlbum),
        ];
        for (images, cover, want) in refused {
            let got = store
                .update_album(a, |r| {
                    r.images = images.clone();
                    r.cover = cover;
                })
                .unwrap();
            assert_eq!(got, Err(want));
        }
        assert_eq!(store.album(a).unwrap().unwrap().images, vec![ids[0]]);
        let rec = store
            .update_album(a, |r| {
                r.images = vec![ids[2], ids[1]];
                r.title = "New".into();
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            (rec.images, rec.title.as_str()),
            (vec![ids[2], ids[1]], "New")
        );
        assert!(store.albums_of_image(ids[0]).unwrap().is_empty());
        assert_eq!(store.albums_of_image(ids[2]).unwrap(), vec![a]);
        assert_eq!(
            store.update_album(AlbumId::random(), |_| {}).unwrap(),
            Err(AlbumError::NotFound)
        );
        let mut big = album(Vec::new());
        big.images = (1..=MAX_IMAGES as u64 + 1).collect();
        assert_eq!(
            store.create_album(AlbumId::random(), &big).unwrap(),
            Err(AlbumError::TooManyImages)
        );
    }

    #[test]
    fn expired_albums_are_purged() {
        let (_d, store, ids) = store_with(1);
        let (a, b) = (AlbumId::random(), AlbumId::random());
        let mut old = album(vec![ids[0]]);
        old.expires_at = Some(10);
        store.create_album(a, &old).unwrap().unwrap();
        store
            .create_album(b, &album(vec![ids[0]]))
            .unwrap()
            .unwrap();
        assert_eq!(store.purge_expired_albums(11).unwrap(), 1);
        assert!(store.album(a).unwrap().is_none());
        assert!(store.album(b).unwrap().is_some());
        assert_eq!(store.albums_of_image(ids[0]).unwrap(), vec![b]);
    }
}
