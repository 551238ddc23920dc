//! `pixbin import DIR`: bring a folder of existing screenshots into the store.
//!
//! Each file is streamed through the upload's own pipeline (`ingest`): the
//! size limit, the type and structure checks on its bytes (never the
//! extension), the configured metadata stripping, a temp file fsynced before
//! the row commits; memory per file is one read chunk, whatever its size.
//! Its modification time becomes its upload time, so the library keeps the
//! original order. A file whose stored bytes already exist is a duplicate and
//! is skipped, so importing the same folder twice imports each file once.
//! Offline only: the caller holds the database lock.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::clock;
use crate::ingest::{self, Ingest, IngestError, Origin, ReceiveError};
use crate::store::StoreError;

/// Import choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Make every imported image private.
    pub private: bool,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// Files stored as new images.
    pub imported: u64,
    /// Files whose bytes were already stored.
    pub duplicates: u64,
    /// Files not imported, with the reason.
    pub refused: Vec<(PathBuf, String)>,
}

/// Every regular file under `dir`, sorted. Symbolic links to files are
/// followed; links to directories are not (no cycles).
pub fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() || (t.is_symlink() && e.path().is_file()) {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

enum Outcome {
    Imported,
    Duplicate,
}

/// The reason shown for a file the pipeline refused.
fn reason(e: IngestError) -> String {
    match e {
        IngestError::Store(StoreError::StorageFull) => "the storage limit is reached".into(),
        IngestError::Store(StoreError::ImageLimit) => "the image limit is reached".into(),
        IngestError::Store(StoreError::Io(e)) => format!("storage error: {e}"),
        IngestError::Store(e) => format!("storage error: {e}"),
        other => other.to_string(),
    }
}

/// Imports one file, streamed in chunks of [`ingest::READ_CHUNK`].
async fn import_file(
    ingest: &Ingest<'_>,
    opts: ImportOptions,
    path: &Path,
) -> Result<Outcome, String> {
    let unreadable = |e: std::io::Error| format!("unreadable: {e}");
    let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let meta = file.metadata().await.map_err(unreadable)?;
    if meta.len() == 0 {
        return Err("the file is empty".into());
    }
    let max = ingest.max_bytes();
    if meta.len() > max {
        return Err(format!("larger than the upload limit ({max} bytes)"));
    }
    let received = ingest
        .receive(ingest::read_chunks(file, ingest::READ_CHUNK))
        .await
        .map_err(|e| match e {
            ReceiveError::Source(e) => unreadable(e),
            ReceiveError::Refused(e) => reason(e),
        })?;
    let checked = ingest.check(received).await.map_err(reason)?;
    if ingest
        .store()
        .blob(checked.hash())
        .map_err(|e| format!("database error: {e}"))?
        .is_some()
    {
        return Ok(Outcome::Duplicate);
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or_else(clock::now_ms);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let origin = Origin::Offline {
        uploaded_at: modified,
        private: opts.private,
    };
    ingest
        .commit(checked, &name, origin)
        .await
        .map_err(reason)?;
    Ok(Outcome::Imported)
}

/// Imports every file under `dir` through `ingest` (built from the serve
/// configuration, runtime settings applied); `progress(done, total)` is
/// called after each.
pub async fn import_dir(
    ingest: &Ingest<'_>,
    dir: &Path,
    opts: ImportOptions,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ImportSummary> {
    let files = walk(dir)?;
    let mut summary = ImportSummary::default();
    for (i, path) in files.iter().enumerate() {
        match import_file(ingest, opts, path).await {
            Ok(Outcome::Imported) => summary.imported += 1,
            Ok(Outcome::Duplicate) => summary.duplicates += 1,
            Err(why) => summary.refused.push((path.clone(), why)),
        }
        progress(i + 1, files.len());
    }
    Ok(summary)
}
