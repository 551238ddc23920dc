//! `pixbin migrate-storage --to s3://bucket/prefix | --to fs`: copy every
//! blob the database names (originals and thumbnails) from the configured
//! storage to another, verified, resumable, and switch over only when all of
//! them are there.
//!
//! Each blob is streamed from the source into a target temp while hashed (a
//! source blob of the wrong length or hash is reported and not copied),
//! stored under its hash, then read back from the target and hashed again:
//! what counts is what the target returns. Nothing is held in memory whole.
//! Workers copy a few blobs at once, since an object store answers each
//! request in milliseconds whatever its size.
//!
//! Resuming: every verified copy is appended to a journal in `tmp/` (one
//! `<hash> <size>` line, synced every few dozen). A later run skips a
//! journaled blob the target still holds at the right length; a blob the
//! target holds but the journal does not name (copied just before an
//! interruption, or left there by an earlier migration) is re-hashed from the
//! target, kept when whole and copied again when not. Losing the journal
//! costs reading, never correctness.
//!
//! The switch, only once every blob is verified in the target: the identity
//! marker goes with the blobs (a bucket's marker object, invariant 8), then
//! one database commit records the new storage (`store::location`). From
//! then on an open with the old `--storage` is refused with a message naming
//! the new one; an interruption before that commit leaves the old storage in
//! force and the next run finishes the job. The source is not touched: the
//! operator removes it once satisfied. Quarantined and orphan blobs stay in
//! the source (the database does not name them). Offline only: the caller
//! holds the database lock, so no upload or delete runs meanwhile.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, bail};

use crate::store::blobs::{BlobHash, BlobStore, hex, parse_hex};
use crate::store::integrity::verify_stored;
use crate::store::{Store, identity, perms};

/// Blobs copied at once.
const WORKERS: usize = 4;
/// Journal lines written between two syncs.
const SYNC_EVERY: usize = 64;

/// What a migration did (so far, while it runs).
#[derive(Debug, Default, Clone)]
pub struct MigrateReport {
    /// Blobs the database names.
    pub blobs: u64,
    /// Blobs copied and verified by this run.
    pub copied: u64,
    /// Their bytes.
    pub bytes_copied: u64,
    /// Blobs found already in the target and whole.
    pub present: u64,
    /// Blobs missing or damaged in the source: not copied.
    pub unreadable: Vec<(BlobHash, String)>,
    /// Whether the database now records the target as its storage.
    pub switched: bool,
}

impl MigrateReport {
    /// Blobs dealt with so far.
    pub fn done(&self) -> u64 {
        self.copied + self.present + self.unreadable.len() as u64
    }
}

/// The journal of one target, in `tmp/`, named after the target.
pub fn journal_path(data_dir: &Path, location: &str) -> PathBuf {
    let tag = hex(blake3::hash(location.as_bytes()).as_bytes());
    data_dir
        .join("tmp")
        .join(format!("migrate-{}.journal", &tag[..16]))
}

/// The verified copies a journal lists; a torn last line is ignored.
fn read_journal(path: &Path) -> io::Result<HashSet<(BlobHash, u64)>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let mut out = HashSet::new();
    for line in BufReader::new(f).lines() {
        let line = line?;
        let mut f = line.split(' ');
        if let (Some(h), Some(size), None) = (f.next(), f.next(), f.next())
            && let (Some(h), Ok(size)) = (parse_hex(h), size.parse::<u64>())
        {
            out.insert((h, size));
        }
    }
    Ok(out)
}

/// The journal being appended to, synced every [`SYNC_EVERY`] lines.
struct Journal {
    out: BufWriter<File>,
    unsynced: usize,
}

impl Journal {
    fn open(path: &Path) -> io::Result<Self> {
        let f = match perms::create_new(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                File::options().append(true).open(path)?
            }
            Err(e) => return Err(e),
        };
        Ok(Journal {
            out: BufWriter::new(f),
            unsynced: 0,
        })
    }

    fn record(&mut self, hash: &BlobHash, size: u64) -> io::Result<()> {
        writeln!(self.out, "{} {size}", hex(hash))?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.unsynced = 0;
        Ok(())
    }
}

/// What happened to one blob.
enum Outcome {
    Copied,
    Present,
    Unreadable(String),
}

/// Copies every blob of `store` into `target` and, when all are there and
/// verified, records `location` as the store's storage. `keep_going` is asked
/// after each blob with the report so far; `false` stops the run there (an
/// interruption, for tests and progress display alike).
pub fn migrate(
    store: &Store,
    target: &dyn BlobStore,
    location: &str,
    keep_going: &mut (dyn FnMut(&MigrateReport) -> bool + Send),
) -> anyhow::Result<MigrateReport> {
    let id = identity::read_marker(store.data_dir())?
        .context("the data directory has no identity marker; open it once with `pixbin check`")?;
    if let Some(theirs) = identity::remote_id(target)?
        && theirs != id
    {
        bail!(
            "{location} already belongs to another pixbin data directory (identity {theirs:016x}, \
             this one's is {id:016x}); migrate to an empty bucket or prefix (nothing was copied)"
        );
    }
    let rows = store.blob_rows()?;
    let journal_file = journal_path(store.data_dir(), location);
    let journaled = read_journal(&journal_file)?;
    let journal = Mutex::new(Journal::open(&journal_file)?);
    let report = Mutex::new(MigrateReport {
        blobs: rows.len() as u64,
        ..Default::default()
    });
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let keep_going = Mutex::new(keep_going);
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(rows.len()) {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let Some(&(hash, size)) = rows.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let outcome = copy_one(store.blobs().as_ref(), target, &hash, size, &journaled)
                        .and_then(|o| {
                            let new = !journaled.contains(&(hash, size));
                            if new && !matches!(o, Outcome::Unreadable(_)) {
                                lock(&journal).record(&hash, size)?;
                            }
                            Ok(o)
                        });
                    let mut r = lock(&report);
                    match outcome {
                        Ok(Outcome::Copied) => {
                            r.copied += 1;
                            r.bytes_copied += size;
                        }
                        Ok(Outcome::Present) => r.present += 1,
                        Ok(Outcome::Unreadable(why)) => r.unreadable.push((hash, why)),
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            lock(&failed).get_or_insert(e);
                            break;
                        }
                    }
                    if !(lock(&keep_going))(&r) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    lock(&journal).sync()?;
    if let Some(e) = lock(&failed).take() {
        return Err(e);
    }
    let mut report = report.into_inner().unwrap_or_else(|p| p.into_inner());
    if report.done() < report.blobs || !report.unreadable.is_empty() {
        return Ok(report);
    }
    // Every blob is in the target, verified: the switch. The marker first,
    // so the commit never names a storage that does not carry it.
    target.write_remote_marker(&identity::marker_text(id))?;
    store.record_location(location)?;
    report.switched = true;
    let _ = std::fs::remove_file(&journal_file);
    Ok(report)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes sure `target` holds the blob `hash` of `size` bytes, whole.
/// An error is the target failing (or the local spool): the run stops.
fn copy_one(
    source: &dyn BlobStore,
    target: &dyn BlobStore,
    hash: &BlobHash,
    size: u64,
    journaled: &HashSet<(BlobHash, u64)>,
) -> anyhow::Result<Outcome> {
    let there = target.stat(hash)?;
    if let Some(m) = &there
        && m.size == size
        && (journaled.contains(&(*hash, size)) || verify_stored(target, hash, size).is_none())
    {
        return Ok(Outcome::Present);
    }
    let opened = match source.read(hash) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Outcome::Unreadable("missing in the source".into()));
        }
        Err(e) => return Err(e).context("reading the source"),
    };
    let mut temp = target.create_temp()?;
    let mut hasher = blake3::Hasher::new();
    let mut len = 0u64;
    // One byte past the row's size is enough to tell a longer blob.
    let mut r = opened.reader.take(size.saturating_add(1));
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the source"),
        };
        hasher.update(&buf[..n]);
        temp.write_all(&buf[..n])?;
        len += n as u64;
    }
    if len != size || hasher.finalize().as_bytes() != hash.as_bytes() {
        return Ok(Outcome::Unreadable(
            "damaged in the source (its bytes do not match its name)".into(),
        ));
    }
    temp.sync_all()?;
    if there.is_some() {
        // A wrong object under this name (a torn copy, a hand edit).
        target.replace(temp, hash)?;
    } else {
        target.put(temp, hash)?;
    }
    if let Some(why) = verify_stored(target, hash, size) {
        bail!(
            "the target does not give blob {} back as written ({}); nothing was switched",
            hex(hash),
            why.label()
        );
    }
    Ok(Outcome::Copied)
}
