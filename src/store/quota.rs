//! What an image costs against the storage quota, and how many images each
//! uploader holds.
//!
//! Counting only deduplicated blob bytes let the quota be walked around: the same
//! file under thousands of long names costs rows, index entries and names in the
//! database but no new bytes, and thousands of tiny distinct files each take a
//! whole file-system block plus fan-out directories while counting a few dozen
//! bytes. The charge below is derived from running totals that are already kept
//! (bytes stored, blob rows, image rows), so it is exact after a restart and
//! `check` repairs it along with them.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::Result;
use super::codec::{ImageRecord, Uploader};
use super::meta::{HASH_TO_BLOB, ID_TO_IMAGE, NAME_TO_META, keys};

/// The file-system block a blob's last partial block rounds up to.
pub const BLOCK: u64 = 4096;
/// Charged per blob on top of its bytes: its last block rounded up (charged as a
/// whole block, whatever the size) and, at worst, the two fan-out directories
/// (`blobs/ab/cd/`) it is the first to need.
pub const BLOB_OVERHEAD: u64 = 3 * BLOCK;
/// Charged per image row: the row with its file name (at most 255 characters),
/// its uuid, time and expiry index entries, and its statistics rows.
pub const ROW_OVERHEAD: u64 = BLOCK;

/// Limits an upload is checked against; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Charged bytes in all (see [`charged`]).
    pub bytes: Option<u64>,
    /// Image rows in all.
    pub images: Option<u64>,
    /// Image rows per uploader (each upload key, each user).
    pub images_per_uploader: Option<u64>,
}

/// What a new image of `size` bytes is charged when its blob is new: its bytes,
/// [`BLOB_OVERHEAD`] and [`ROW_OVERHEAD`]. A duplicate of stored bytes is charged
/// only the row, but it is *checked* against this full cost, so whether an
/// upload fits never tells the uploader whether the bytes were already there.
pub fn upload_cost(size: u64) -> u64 {
    size.saturating_add(BLOB_OVERHEAD + ROW_OVERHEAD)
}

/// The charged total from the running totals: blob bytes, plus
/// [`BLOB_OVERHEAD`] per blob row (thumbnails included) and [`ROW_OVERHEAD`] per
/// image row.
pub fn charged(bytes_stored: u64, blob_rows: u64, image_rows: u64) -> u64 {
    bytes_stored
        .saturating_add(blob_rows.saturating_mul(BLOB_OVERHEAD))
        .saturating_add(image_rows.saturating_mul(ROW_OVERHEAD))
}

impl super::Store {
    /// The charged total ([`charged`]) the storage quota is checked against.
    pub fn quota_used(&self) -> Result<u64> {
        use redb::ReadableDatabase;
        let r = self.db.begin_read()?;
        let meta = r.open_table(NAME_TO_META)?;
        let get = |k: &str| -> Result<u64> { Ok(meta.get(k)?.map(|v| v.value()).unwrap_or(0)) };
        let blob_rows = r.open_table(HASH_TO_BLOB)?.len()?;
        Ok(charged(
            get(keys::BYTES_STORED)?,
            blob_rows,
            get(keys::IMAGES)?,
        ))
    }
}

/// Uploader -> number of image rows it holds.
pub const UPLOADER_TO_IMAGES: TableDefinition<&[u8], u64> =
    TableDefinition::new("uploader_to_images");

/// The key of an uploader in [`UPLOADER_TO_IMAGES`].
fn uploader_key(u: &Uploader) -> Vec<u8> {
    match u {
        Uploader::Key(id) => {
            let mut k = vec![b'k'];
            k.extend(id.to_be_bytes());
            k
        }
        Uploader::User(name) => {
            let mut k = vec![b'u'];
            k.extend(name.as_bytes());
            k
        }
        Uploader::Import => vec![b'i'],
    }
}

/// Why an upload does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The charged bytes would pass the limit.
    Bytes,
    /// The image count (overall or the uploader's) would pass its limit.
    Images,
}

/// Checks a new image of `size` bytes by `uploader` against `quota`, inside the
/// write transaction that will insert it (so parallel uploads cannot overshoot
/// together). `Import` rows count only against the overall limits.
pub fn check(
    txn: &WriteTransaction,
    quota: &Quota,
    uploader: &Uploader,
    size: u64,
) -> Result<Option<Refusal>> {
    let meta = txn.open_table(NAME_TO_META)?;
    let get = |k: &str| -> Result<u64> { Ok(meta.get(k)?.map(|v| v.value()).unwrap_or(0)) };
    let images = get(keys::IMAGES)?;
    if quota.images.is_some_and(|max| images >= max) {
        return Ok(Some(Refusal::Images));
    }
    if let Some(max) = quota.images_per_uploader
        && *uploader != Uploader::Import
        && held(txn, uploader)? >= max
    {
        return Ok(Some(Refusal::Images));
    }
    if let Some(limit) = quota.bytes {
        let blob_rows = txn.open_table(HASH_TO_BLOB)?.len()?;
        let used = charged(get(keys::BYTES_STORED)?, blob_rows, images);
        if used.saturating_add(upload_cost(size)) > limit {
            return Ok(Some(Refusal::Bytes));
        }
    }
    Ok(None)
}

/// Images `uploader` holds.
pub fn held(txn: &WriteTransaction, uploader: &Uploader) -> Result<u64> {
    let t = txn.open_table(UPLOADER_TO_IMAGES)?;
    let n = t.get(uploader_key(uploader).as_slice())?.map(|v| v.value());
    Ok(n.unwrap_or(0))
}

/// Adds `delta` (+1 on insert, -1 on delete) to `uploader`'s image count.
pub fn count(txn: &WriteTransaction, uploader: &Uploader, delta: i64) -> Result<()> {
    let mut t = txn.open_table(UPLOADER_TO_IMAGES)?;
    let key = uploader_key(uploader);
    let n = t.get(key.as_slice())?.map(|v| v.value()).unwrap_or(0);
    let n = n.saturating_add_signed(delta);
    if n == 0 {
        t.remove(key.as_slice())?;
    } else {
        t.insert(key.as_slice(), n)?;
    }
    Ok(())
}

/// Recounts every uploader's images from the image rows: for a database written
/// before the counts existed, and for `check` repairs.
pub fn recount(txn: &WriteTransaction) -> Result<()> {
    let mut counts = std::collections::BTreeMap::<Vec<u8>, u64>::new();
    for e in txn.open_table(ID_TO_IMAGE)?.iter()? {
        let rec = ImageRecord::decode(e?.1.value())?;
        *counts.entry(uploader_key(&rec.uploader)).or_default() += 1;
    }
    let mut t = txn.open_table(UPLOADER_TO_IMAGES)?;
    t.retain(|_, _| false)?;
    for (k, n) in counts {
        t.insert(k.as_slice(), n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_file_costs_its_blocks_and_rows() {
        assert_eq!(upload_cost(67), 67 + 4 * 4096);
        assert_eq!(charged(67, 1, 1), upload_cost(67));
        // A duplicate adds a row, not a blob.
        assert_eq!(charged(67, 1, 2) - charged(67, 1, 1), ROW_OVERHEAD);
    }

    #[test]
    fn uploader_keys_do_not_collide() {
        let a = uploader_key(&Uploader::Key(0x7500));
        let b = uploader_key(&Uploader::User("\0\0\0\0\0\0\u{75}\0".into()));
        assert_ne!(a, b);
        assert_ne!(
            uploader_key(&Uploader::Import),
            uploader_key(&Uploader::Key(0))
        );
    }
}
