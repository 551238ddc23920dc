//! `pixbin adopt`: turn orphan blobs back into images, so that a data directory
//! whose database was lost, replaced or is older than its blobs loses nothing.
//!
//! Each blob file without a row (and, with `--trash`, each quarantined one) is
//! read, its content checked against its name, and inspected like an upload
//! (`media::inspect`: the type comes from the bytes). An acceptable image gets a
//! new row through the same commit as uploads and imports (`Store::commit_upload`,
//! which finds the bytes already in place and keeps them as they are): a new id
//! and uuid, the name `adopted-<hash prefix>.<ext>`, the file's modification time
//! as its upload time. Its bytes are never rewritten (no metadata stripping).
//! Anything else is left where it is and reported, never deleted. Offline only:
//! the caller holds the database lock.

use std::io::{Read, Write};
use std::time::UNIX_EPOCH;

use crate::clock;
use crate::media::{self, Limits};
use crate::store::blobs::{BlobHash, TrashEntry, hex};
use crate::store::{NewImage, Store};

/// Adopt choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdoptOptions {
    /// Also adopt blobs in quarantine (`trash/`), moving them back.
    pub trash: bool,
    /// Make the adopted images private.
    pub private: bool,
}

/// What an adoption did.
#[derive(Debug, Default)]
pub struct AdoptSummary {
    /// New images from blobs in place.
    pub adopted: u64,
    /// New images from quarantined blobs, now back in place.
    pub from_trash: u64,
    /// Blobs left as they were (hex hash, reason).
    pub refused: Vec<(String, String)>,
}

/// Where an orphan's bytes are.
enum Source {
    InPlace,
    Trash(TrashEntry),
}

/// Adopts every orphan blob (and with `opts.trash` every quarantined blob
/// without a row).
pub fn adopt(store: &Store, limits: &Limits, opts: AdoptOptions) -> anyhow::Result<AdoptSummary> {
    let mut work: Vec<(BlobHash, std::time::SystemTime, Source)> = Vec::new();
    for e in store.blobs().list()? {
        if store.blob(&e.hash)?.is_none() {
            work.push((e.hash, e.modified, Source::InPlace));
        }
    }
    if opts.trash {
        for t in store.blobs().list_trash()? {
            let in_place = work.iter().any(|(h, ..)| *h == t.hash);
            if !in_place && store.blob(&t.hash)?.is_none() {
                work.push((t.hash, t.modified, Source::Trash(t)));
            }
        }
    }
    let mut summary = AdoptSummary::default();
    for (hash, modified, source) in work {
        match adopt_one(store, limits, opts, &hash, modified, &source) {
            Ok(()) => match source {
                Source::InPlace => summary.adopted += 1,
                Source::Trash(_) => summary.from_trash += 1,
            },
            Err(why) => summary.refused.push((hex(&hash), why)),
        }
    }
    Ok(summary)
}

fn adopt_one(
    store: &Store,
    limits: &Limits,
    opts: AdoptOptions,
    hash: &BlobHash,
    modified: std::time::SystemTime,
    source: &Source,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("unreadable: {e}");
    let mut file = match source {
        Source::InPlace => store.blobs().read(hash).map(|r| r.reader),
        Source::Trash(t) => store.blobs().read_trashed(t),
    }
    .map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    if blake3::hash(&bytes).as_bytes() != hash {
        return Err("its content does not match its name (damaged); left as it is".into());
    }
    let info = media::inspect(&bytes, limits).map_err(|e| format!("not adopted: {e}"))?;
    // The same durable commit as an upload: for a blob in place the copy is
    // dropped as a duplicate; a quarantined one is written back under blobs/.
    let storage = |e: std::io::Error| format!("storage error: {e}");
    let mut temp = store.blobs().create_temp().map_err(storage)?;
    temp.write_all(&bytes).map_err(storage)?;
    temp.sync_all().map_err(storage)?;
    let uploaded_at = modified
        .duration_since(UNIX_EPOCH)
        .map_or_else(|_| clock::now_ms(), |d| d.as_millis() as i64);
    // As displayed (EXIF orientation applied), like every other row.
    let dims = media::inventory::displayed_dims(
        std::io::Cursor::new(&bytes),
        info.kind,
        info.width,
        info.height,
    );
    let record = super::import::offline_record(
        format!("adopted-{}.{}", &hex(hash)[..12], info.kind.ext()),
        &info,
        dims,
        *hash,
        bytes.len() as u64,
        uploaded_at,
        opts.private,
        // Adopted bytes are kept exactly as found.
        Vec::new(),
    );
    let new = NewImage {
        record,
        key_hash: None,
    };
    store
        .commit_upload(new, temp, None, clock::now_ms())
        .map_err(|e| format!("storage error: {e}"))?;
    if let Source::Trash(t) = source {
        // The row and the blob in place are committed: the copy in quarantine
        // is a duplicate now.
        store
            .blobs()
            .purge_trashed(t)
            .map_err(|e| format!("adopted, but the quarantined copy stayed: {e}"))?;
    }
    Ok(())
}
