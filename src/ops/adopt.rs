//! `pixbin adopt`: turn orphan blobs back into images, so that a data directory
//! whose database was lost, replaced or is older than its blobs loses nothing.
//!
//! Each blob file without a row (and, with `--trash`, each quarantined one) is
//! streamed through the ingest pipeline like an upload (`ingest`: the type
//! comes from the bytes), its content checked against its name on the way.
//! An acceptable image gets a new row through the same commit as uploads and
//! imports (`Store::commit_upload_within`, which finds the bytes already in
//! place and keeps them as they are): a new id and uuid, the name
//! `adopted-<hash prefix>.<ext>`, the file's modification time as its upload
//! time. Its bytes are never rewritten (no metadata stripping) and no size or
//! quota limit applies: they are stored already. Anything else is left where
//! it is and reported, never deleted. Offline only: the caller holds the
//! database lock.

use std::io;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::clock;
use crate::config::Config;
use crate::ingest::{self, Ingest, IngestError, Origin, ReceiveError};
use crate::store::blobs::{BlobHash, TrashEntry, hash_reader, hex};
use crate::store::{Store, StoreError};

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
#[derive(Clone)]
enum Source {
    InPlace,
    Trash(TrashEntry),
}

/// Adopts every orphan blob (and with `opts.trash` every quarantined blob
/// without a row), under the type and pixel limits of `config`.
pub async fn adopt(
    store: &Arc<Store>,
    config: &Config,
    opts: AdoptOptions,
) -> anyhow::Result<AdoptSummary> {
    let ingest = Ingest::new(store.clone(), config.clone()).keeping_bytes();
    let listed = store.clone();
    let work = blocking(move || {
        let store = listed;
        let known = |h: &BlobHash| store.blob(h).map(|r| r.is_some()).map_err(io::Error::other);
        let mut work: Vec<(BlobHash, std::time::SystemTime, Source)> = Vec::new();
        for e in store.blobs().list()? {
            if !known(&e.hash)? {
                work.push((e.hash, e.modified, Source::InPlace));
            }
        }
        if opts.trash {
            for t in store.blobs().list_trash()? {
                let in_place = work.iter().any(|(h, ..)| *h == t.hash);
                if !in_place && !known(&t.hash)? {
                    work.push((t.hash, t.modified, Source::Trash(t)));
                }
            }
        }
        Ok(work)
    })
    .await?;
    let mut summary = AdoptSummary::default();
    for (hash, modified, source) in work {
        match adopt_one(&ingest, opts, &hash, modified, &source).await {
            Ok(()) => match source {
                Source::InPlace => summary.adopted += 1,
                Source::Trash(_) => summary.from_trash += 1,
            },
            Err(why) => summary.refused.push((hex(&hash), why)),
        }
    }
    Ok(summary)
}

/// The reason shown for a blob the pipeline refused.
fn refusal(e: IngestError) -> String {
    match e {
        IngestError::Store(StoreError::Io(e)) => format!("storage error: {e}"),
        IngestError::Store(_) | IngestError::Task(_) | IngestError::Strip(_) => {
            format!("storage error: {e}")
        }
        e => format!("not adopted: {e}"),
    }
}

/// Runs blob-store work on the blocking pool: a backend may block the thread
/// (an S3 client waits on its own runtime, which must not happen on a thread
/// that drives this one).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

async fn adopt_one(
    ingest: &Ingest<'_>,
    opts: AdoptOptions,
    hash: &BlobHash,
    modified: std::time::SystemTime,
    source: &Source,
) -> Result<(), String> {
    let store = ingest.store();
    let io = |e: io::Error| format!("unreadable: {e}");
    let open = || {
        let (blobs, source, hash) = (store.blobs().clone(), source.clone(), *hash);
        blocking(move || match &source {
            Source::InPlace => blobs.read(&hash).map(|r| r.reader),
            Source::Trash(t) => blobs.read_trashed(t),
        })
    };
    let damaged = || "its content does not match its name (damaged); left as it is".to_string();
    let reader = open().await.map_err(io)?;
    let received = match ingest
        .receive(ingest::read_chunks_blocking(reader, ingest::READ_CHUNK))
        .await
    {
        Ok(r) => r,
        Err(ReceiveError::Source(e)) => return Err(io(e)),
        Err(ReceiveError::Refused(e)) => {
            // Refused part way: a damaged blob is reported as damaged, as
            // when its whole content is read (an offline tool can afford to
            // read the rest for the right reason).
            let f = open().await.map_err(io)?;
            let (_, got) = blocking(move || hash_reader(f)).await.map_err(io)?;
            if got != *hash {
                return Err(damaged());
            }
            return Err(refusal(e));
        }
    };
    if received.hash() != *hash {
        return Err(damaged());
    }
    let checked = ingest.check(received).await.map_err(refusal)?;
    let uploaded_at = modified
        .duration_since(UNIX_EPOCH)
        .map_or_else(|_| clock::now_ms(), |d| d.as_millis() as i64);
    // The same durable commit as an upload: for a blob in place the copy is
    // dropped as a duplicate; a quarantined one is written back under blobs/.
    let origin = Origin::Offline {
        uploaded_at,
        private: opts.private,
    };
    ingest
        .commit(checked, &format!("adopted-{}", &hex(hash)[..12]), origin)
        .await
        .map_err(|e| format!("storage error: {e}"))?;
    if let Source::Trash(t) = source {
        // The row and the blob in place are committed: the copy in quarantine
        // is a duplicate now.
        let (blobs, t) = (store.blobs().clone(), t.clone());
        blocking(move || blobs.purge_trashed(&t))
            .await
            .map_err(|e| format!("adopted, but the quarantined copy stayed: {e}"))?;
    }
    Ok(())
}
