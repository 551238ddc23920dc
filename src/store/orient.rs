//! Stored `width` and `height` are the displayed sides (EXIF orientation
//! applied). Rows written before that rule are corrected once, at start, from
//! their blobs' headers; `keys::DIMS_ORIENTED` marks a database as done.

use std::io::BufReader;

use redb::{ReadableDatabase, ReadableTable};

use super::blobs::{BlobCursor, BlobHash};
use super::codec::ImageRecord;
use super::meta::{ID_TO_IMAGE, NAME_TO_META};
use super::{Result, Store, get_meta};
use crate::media::ImageType;
use crate::media::inventory;

/// `NAME_TO_META` key: 1 once every row's sides are the displayed ones.
pub const DIMS_ORIENTED: &str = "dims_oriented";

/// Rows rewritten per write transaction.
const BATCH: usize = 1000;

impl Store {
    /// Swaps width and height of the rows whose blob carries an EXIF
    /// orientation that turns the picture a quarter, once per database.
    /// Returns how many rows changed. A blob that cannot be read is left as
    /// it is (`check` reports missing blobs).
    pub fn orient_dimensions(&self) -> Result<u64> {
        let candidates: Vec<(u64, BlobHash, ImageType)> = {
            let r = self.db.begin_read()?;
            if get_meta(&r.open_table(NAME_TO_META)?, DIMS_ORIENTED)? == 1 {
                return Ok(0);
            }
            let images = r.open_table(ID_TO_IMAGE)?;
            let mut out = Vec::new();
            for e in images.iter()? {
                let (id, v) = e?;
                let rec = ImageRecord::decode(v.value())?;
                if let k @ (ImageType::Jpeg | ImageType::Png | ImageType::Webp) = rec.kind {
                    out.push((id.value(), rec.hash, k));
                }
            }
            out
        };
        let turned: Vec<(u64, BlobHash)> = candidates
            .into_iter()
            .filter(|(_, hash, kind)| {
                let Ok(cursor) = BlobCursor::open(self.blobs.clone(), hash) else {
                    return false;
                };
                let len = cursor.meta().size;
                inventory::inventory(&mut BufReader::new(cursor), len, *kind)
                    .is_ok_and(|inv| inventory::swaps_sides(inv.orientation))
            })
            .map(|(id, hash, _)| (id, hash))
            .collect();
        let mut changed = 0;
        for batch in turned.chunks(BATCH) {
            let txn = self.db.begin_write()?;
            {
                let mut images = txn.open_table(ID_TO_IMAGE)?;
                for (id, hash) in batch {
                    let Some(mut rec) = images
                        .get(*id)?
                        .map(|v| ImageRecord::decode(v.value()))
                        .transpose()?
                    else {
                        continue;
                    };
                    // Only the bytes that were looked at decide the swap.
                    if rec.hash != *hash {
                        continue;
                    }
                    (rec.width, rec.height) = (rec.height, rec.width);
                    images.insert(*id, rec.encode().as_slice())?;
                    changed += 1;
                }
            }
            txn.commit()?;
        }
        let txn = self.db.begin_write()?;
        txn.open_table(NAME_TO_META)?.insert(DIMS_ORIENTED, 1)?;
        txn.commit()?;
        Ok(changed)
    }
}
