//! `pixbin check`: prove the data directory is intact, and repair what is safe.
//!
//! Verified: every image row decodes, has its blob row and both indexes; every
//! blob row's file exists with the recorded size and (with `rehash`) content
//! whose blake3 is its name; refcounts equal the uses of each blob (as an
//! image's bytes or as its thumbnail, see `store::thumbs`); the running totals,
//! and each account's images and usage (`store::owners`), equal what the rows
//! add up to; no blob file lacks a row (orphan); no temp
//! file is left. Runs offline only (the caller holds the database lock), so
//! nothing changes underneath it. The problems themselves are in `problem`.
//!
//! Repair fixes what can be recomputed from what is still there (totals,
//! refcounts, indexes, a blob row whose file is intact, orphans, temps) and never
//! removes an image row: an image whose bytes are gone is reported for a restore
//! from backup, not silently dropped.

use std::collections::{HashMap, HashSet};

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::blobs::{BlobHash, hash_reader};
use super::codec::{BlobRecord, ImageRecord};
use super::gc::{GcPolicy, GcReport};
use super::meta::*;
use super::{Result, Store, get_meta};

mod problem;
#[cfg(test)]
mod tests;

pub use self::problem::{CheckReport, Problem};

/// What `check` should do.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Read every blob and compare its blake3 with its name.
    pub rehash: bool,
    /// Fix what is safe to fix.
    pub repair: bool,
}

/// Looks at an existing database file without modifying it, before it is opened
/// for writing (which rewrites its header even when nothing else is written):
/// refuses a file in use, of an old format, corrupt, or of another schema
/// version, leaving every byte as it was. A file that needs crash recovery
/// cannot be opened read-only; the writable open recovers it, then checks the
/// schema version itself. Returns the read-only handle (for the identity check)
/// when there was a file to look at and it could be read.
pub(crate) fn precheck(path: &std::path::Path) -> Result<Option<redb::ReadOnlyDatabase>> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => {}
        _ => return Ok(None), // absent or empty: created fresh
    }
    let db = match redb::ReadOnlyDatabase::open(path) {
        Ok(db) => db,
        Err(redb::DatabaseError::RepairAborted) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    {
        let r = db.begin_read()?;
        match r.open_table(NAME_TO_META) {
            Ok(t) => {
                schema_needs_upgrade(get_meta(&t, keys::SCHEMA_VERSION)?)?;
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(db))
}

/// Length and blake3 of a file's content, read in chunks (the database
/// snapshot of a backup; blobs are hashed through their store).
pub(crate) fn hash_file(path: &std::path::Path) -> std::io::Result<(u64, BlobHash)> {
    super::blobs::hash_reader(std::fs::File::open(path)?)
}

impl Store {
    /// One meta counter (a running total or sequence), 0 when unset.
    pub fn meta_counter(&self, key: &str) -> Result<u64> {
        let r = self.db.begin_read()?;
        get_meta(&r.open_table(NAME_TO_META)?, key)
    }

    /// Checks (and with `repair`, fixes) the data directory. Offline only.
    /// Orphans are repaired the way GC treats them, with its defaults.
    pub fn check(&self, opts: CheckOptions) -> Result<CheckReport> {
        self.check_with(opts, &GcPolicy::default())
    }

    /// [`Store::check`], repairing orphans as a GC pass under `gc` would:
    /// into quarantine, only when older than the grace period, and none when
    /// the brake holds (ARCHITECTURE invariant 8).
    pub fn check_with(&self, opts: CheckOptions, gc: &GcPolicy) -> Result<CheckReport> {
        let mut report = self.scan(opts.rehash)?;
        if opts.repair && report.problems.iter().any(Problem::repairable) {
            report.repaired = self.repair(&report.problems, gc)?;
        }
        Ok(report)
    }

    /// Whether a blob file exists with `size` bytes (and, when `rehash`, the
    /// content its name promises).
    fn file_state(&self, hash: &BlobHash, size: u64, rehash: bool) -> Option<Problem> {
        let meta = match self.blobs.stat(hash) {
            Ok(Some(m)) => m,
            _ => return Some(Problem::MissingFile(*hash)),
        };
        if meta.size != size {
            return Some(Problem::WrongFileSize {
                hash: *hash,
                expected: size,
                found: meta.size,
            });
        }
        if rehash {
            match self
                .blobs
                .read_backend(hash)
                .and_then(|r| hash_reader(r.reader))
            {
                Ok((_, h)) if h == *hash => {}
                Ok(_) => return Some(Problem::WrongContent(*hash)),
                Err(_) => return Some(Problem::MissingFile(*hash)),
            }
        }
        None
    }

    fn scan(&self, rehash: bool) -> Result<CheckReport> {
        let mut rep = CheckReport::default();
        let mut problems = Vec::new();
        let r = self.db.begin_read()?;
        let images = r.open_table(ID_TO_IMAGE)?;
        let uuids = r.open_table(UUID_TO_ID)?;
        let times = r.open_table(UPLOADED_AT_TO_ID)?;
        let blobs = r.open_table(HASH_TO_BLOB)?;
        let views = r.open_table(ID_TO_VIEWS)?;
        let meta = r.open_table(NAME_TO_META)?;

        // Images: decode, blob row, indexes; count uses of each blob.
        let mut uses: HashMap<BlobHash, u64> = HashMap::new();
        let mut owned: HashMap<String, (u64, u64)> = HashMap::new();
        let (mut private, mut max_id) = (0u64, 0u64);
        for e in images.iter()? {
            let (k, v) = e?;
            let id = k.value();
            max_id = max_id.max(id);
            rep.images += 1;
            let Ok(rec) = ImageRecord::decode(v.value()) else {
                problems.push(Problem::UndecodableImage(id));
                continue;
            };
            private += u64::from(rec.private_key.is_some());
            *uses.entry(rec.hash).or_default() += 1;
            let mine = owned.entry(rec.owner.clone()).or_default();
            *mine = (mine.0 + 1, mine.1 + rec.size);
            if let Some(t) = rec.thumbnail {
                *uses.entry(t).or_default() += 1;
                if blobs.get(t.as_slice())?.is_none() {
                    problems.push(Problem::MissingThumbnailRow { id, hash: t });
                }
            }
            match blobs.get(rec.hash.as_slice())? {
                Some(b) => match BlobRecord::decode(b.value()) {
                    Ok(b) if b.size != rec.size => problems.push(Problem::SizeDisagrees {
                        id,
                        image: rec.size,
                        blob: b.size,
                    }),
                    _ => {}
                },
                None => problems.push(Problem::MissingBlobRow {
                    id,
                    hash: rec.hash,
                    size: rec.size,
                    kind: rec.kind.code(),
                    file_ok: self.file_state(&rec.hash, rec.size, rehash).is_none(),
                }),
            }
            if uuids.get(u128::from_be_bytes(rec.uuid))?.map(|v| v.value()) != Some(id) {
                problems.push(Problem::MissingUuidIndex(id));
            }
            if times.get((rec.uploaded_at, id))?.is_none() {
                problems.push(Problem::MissingTimeIndex(id));
            }
        }
        let image_of = |id: u64| -> Result<Option<ImageRecord>> {
            Ok(images
                .get(id)?
                .and_then(|v| ImageRecord::decode(v.value()).ok()))
        };
        for e in uuids.iter()? {
            let (k, v) = e?;
            let (u, id) = (k.value(), v.value());
            if image_of(id)?.is_none_or(|rec| u128::from_be_bytes(rec.uuid) != u) {
                problems.push(Problem::DanglingUuidIndex(u));
            }
        }
        for e in times.iter()? {
            let (t, id) = e?.0.value();
            if image_of(id)?.is_none_or(|rec| rec.uploaded_at != t) {
                problems.push(Problem::DanglingTimeIndex(t, id));
            }
        }
        for e in views.iter()? {
            let id = e?.0.value();
            if images.get(id)?.is_none() {
                problems.push(Problem::DanglingViews(id));
            }
        }

        // Blob rows: file, size, content, refcount.
        let mut rows: HashSet<BlobHash> = HashSet::new();
        for e in blobs.iter()? {
            let (k, v) = e?;
            let Ok(hash) = BlobHash::try_from(k.value()) else {
                continue;
            };
            rows.insert(hash);
            rep.blobs += 1;
            let Ok(b) = BlobRecord::decode(v.value()) else {
                problems.push(Problem::UndecodableBlob(hash));
                continue;
            };
            rep.bytes += b.size;
            let actual = uses.get(&hash).copied().unwrap_or(0);
            if b.refcount != actual {
                problems.push(Problem::Refcount {
                    hash,
                    stored: b.refcount,
                    actual,
                });
            }
            problems.extend(self.file_state(&hash, b.size, rehash));
        }

        // Running totals: what the running server reports and enforces.
        let bytes_in_use: u64 = {
            let mut n = 0;
            for e in blobs.iter()? {
                let (k, v) = e?;
                let Ok(hash) = BlobHash::try_from(k.value()) else {
                    continue;
                };
                if let Ok(b) = BlobRecord::decode(v.value())
                    && uses.get(&hash).copied().unwrap_or(0) > 0
                {
                    n += b.size;
                }
            }
            // Image rows whose blob row is missing are re-created by repair.
            n + problems
                .iter()
                .filter_map(|p| match p {
                    Problem::MissingBlobRow {
                        hash,
                        size,
                        file_ok: true,
                        ..
                    } => Some((*hash, *size)),
                    _ => None,
                })
                .collect::<HashMap<_, _>>()
                .values()
                .sum::<u64>()
        };
        for (key, actual) in [
            (keys::IMAGES, rep.images),
            (keys::PRIVATE_IMAGES, private),
            (keys::BYTES_STORED, bytes_in_use),
        ] {
            let stored = get_meta(&meta, key)?;
            if stored != actual {
                problems.push(Problem::Total {
                    key,
                    stored,
                    actual,
                });
            }
        }
        let next = get_meta(&meta, keys::NEXT_IMAGE_ID)?;
        if max_id > 0 && next <= max_id {
            problems.push(Problem::NextId {
                stored: next,
                max: max_id,
            });
        }
        problems.extend(owner_problems(&r, owned)?);
        drop((images, uuids, times, blobs, views, meta));
        drop(r);

        // Files: orphans and temps.
        for e in self.blobs.list()? {
            // Confirmed by a direct look: an object store's listing can show
            // an object whose deletion one replica has not seen yet (a
            // delete cut short by a crash), which a read no longer finds.
            if !rows.contains(&e.hash)
                && !uses.contains_key(&e.hash)
                && !matches!(self.blobs.stat(&e.hash), Ok(None))
            {
                problems.push(Problem::Orphan(e.hash));
            }
        }
        for t in self.blobs.list_temps()? {
            problems.push(Problem::StaleTemp(t));
        }
        rep.problems = problems;
        Ok(rep)
    }

    /// Applies the safe fixes in one write transaction, then moves files:
    /// orphans into quarantine (as GC would), stale temps away.
    fn repair(&self, problems: &[Problem], gc: &GcPolicy) -> Result<Vec<Problem>> {
        let mut fixed = Vec::new();
        let mut orphans_after = Vec::new();
        {
            let _ns = self.namespace.lock().unwrap_or_else(|p| p.into_inner());
            let txn = self.db.begin_write()?;
            for p in problems.iter().filter(|p| p.repairable()) {
                if self.repair_row(&txn, p, &mut orphans_after)? {
                    fixed.push(p.clone());
                }
            }
            txn.commit()?;
        }
        for p in problems {
            if let Problem::StaleTemp(t) = p {
                self.blobs.remove_temp(t)?;
                fixed.push(p.clone());
            }
        }
        // Orphans, and blob rows dropped for having no user, go through the
        // same grace period, brake and quarantine as a GC pass.
        let on_disk = self.blobs.list()?;
        let total = on_disk.len() as u64;
        let unreferenced: HashSet<BlobHash> = problems
            .iter()
            .filter_map(|p| match p {
                Problem::Orphan(h) => Some(*h),
                _ => None,
            })
            .chain(orphans_after)
            .collect();
        let cutoff = gc
            .now
            .checked_sub(gc.grace)
            .unwrap_or(std::time::UNIX_EPOCH);
        let candidates: Vec<_> = on_disk
            .into_iter()
            .filter(|e| unreferenced.contains(&e.hash) && e.modified < cutoff)
            .collect();
        let mut gc_report = GcReport::default();
        let moved = self.quarantine_orphans(&candidates, total, gc, &mut gc_report)?;
        fixed.extend(
            problems
                .iter()
                .filter(|p| matches!(p, Problem::Orphan(h) if moved.contains(h)))
                .cloned(),
        );
        Ok(fixed)
    }

    /// One row-level fix; `true` when applied.
    fn repair_row(
        &self,
        txn: &WriteTransaction,
        p: &Problem,
        orphans_after: &mut Vec<BlobHash>,
    ) -> Result<bool> {
        match p {
            Problem::MissingBlobRow {
                hash,
                size,
                kind,
                file_ok: true,
                ..
            } => {
                let mut blobs = txn.open_table(HASH_TO_BLOB)?;
                // Several images may share the blob: the refcount is set once,
                // from a fresh count.
                if blobs.get(hash.as_slice())?.is_none() {
                    let uses = count_uses(txn, hash)?;
                    let rec = BlobRecord {
                        size: *size,
                        refcount: uses,
                        kind: *kind,
                    };
                    blobs.insert(hash.as_slice(), rec.encode().as_slice())?;
                }
            }
            Problem::Refcount { hash, actual, .. } => {
                let mut blobs = txn.open_table(HASH_TO_BLOB)?;
                let Some(old) = blobs
                    .get(hash.as_slice())?
                    .and_then(|v| BlobRecord::decode(v.value()).ok())
                else {
                    return Ok(false);
                };
                if *actual == 0 {
                    blobs.remove(hash.as_slice())?;
                    orphans_after.push(*hash);
                } else {
                    let rec = BlobRecord {
                        refcount: *actual,
                        ..old
                    };
                    blobs.insert(hash.as_slice(), rec.encode().as_slice())?;
                }
            }
            Problem::MissingUuidIndex(id) | Problem::MissingTimeIndex(id) => {
                let Some(rec) = txn
                    .open_table(ID_TO_IMAGE)?
                    .get(*id)?
                    .and_then(|v| ImageRecord::decode(v.value()).ok())
                else {
                    return Ok(false);
                };
                if matches!(p, Problem::MissingUuidIndex(_)) {
                    txn.open_table(UUID_TO_ID)?
                        .insert(u128::from_be_bytes(rec.uuid), *id)?;
                } else {
                    txn.open_table(UPLOADED_AT_TO_ID)?
                        .insert((rec.uploaded_at, *id), ())?;
                }
            }
            Problem::DanglingUuidIndex(u) => {
                txn.open_table(UUID_TO_ID)?.remove(*u)?;
            }
            Problem::DanglingTimeIndex(t, id) => {
                txn.open_table(UPLOADED_AT_TO_ID)?.remove((*t, *id))?;
            }
            Problem::DanglingViews(id) => {
                txn.open_table(ID_TO_VIEWS)?.remove(*id)?;
            }
            // Rebuilds every account's from the rows; idempotent.
            Problem::OwnerIndex { .. } => super::owners::reindex(txn)?,
            Problem::Total { key, actual, .. } => {
                txn.open_table(NAME_TO_META)?.insert(*key, *actual)?;
            }
            Problem::NextId { max, .. } => {
                txn.open_table(NAME_TO_META)?
                    .insert(keys::NEXT_IMAGE_ID, max + 1)?;
            }
            // Files are handled after the commit.
            Problem::Orphan(_) | Problem::StaleTemp(_) => return Ok(false),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Uses of a blob (as bytes or thumbnail), counted inside a write transaction.
/// Each account's stored usage and index against what its rows add up to.
fn owner_problems(
    r: &redb::ReadTransaction,
    mut actual: HashMap<String, (u64, u64)>,
) -> Result<Vec<Problem>> {
    let mut stored: HashMap<String, (u64, u64)> = HashMap::new();
    for e in r.open_table(OWNER_TO_USAGE)?.iter()? {
        let (k, v) = e?;
        let (bytes, images) = v.value();
        stored.insert(k.value().to_string(), (images, bytes));
    }
    let mut indexed: HashMap<String, u64> = HashMap::new();
    for e in r.open_table(OWNER_ID_TO_IMAGE)?.iter()? {
        *indexed.entry(e?.0.value().0.to_string()).or_default() += 1;
    }
    let mut owners: Vec<String> = stored.keys().chain(actual.keys()).cloned().collect();
    owners.extend(indexed.keys().cloned());
    owners.sort();
    owners.dedup();
    let mut out = Vec::new();
    for owner in owners {
        let want = actual.remove(&owner).unwrap_or_default();
        let have = stored.get(&owner).copied().unwrap_or_default();
        if have != want || indexed.get(&owner).copied().unwrap_or(0) != want.0 {
            out.push(Problem::OwnerIndex {
                owner,
                stored: have,
                actual: want,
            });
        }
    }
    Ok(out)
}

fn count_uses(txn: &WriteTransaction, hash: &BlobHash) -> Result<u64> {
    let mut n = 0;
    for e in txn.open_table(ID_TO_IMAGE)?.iter()? {
        if let Ok(r) = ImageRecord::decode(e?.1.value()) {
            n += u64::from(r.hash == *hash) + u64::from(r.thumbnail == Some(*hash));
        }
    }
    Ok(n)
}
