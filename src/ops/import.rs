//! `pixbin import DIR`: bring a folder of existing screenshots into the store.
//!
//! Each file goes through what an upload goes through: the size limit, the type
//! and structure checks on its bytes (`media::inspect`, never the extension), the
//! configured metadata stripping, a temp file fsynced before the row commits.
//! Its modification time becomes its upload time, so the library keeps the
//! original order. A file whose stored bytes already exist is a duplicate and is
//! skipped, so importing the same folder twice imports each file once. Offline
//! only: the caller holds the database lock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::clock;
use crate::config::Config;
use crate::ingest::sanitize_filename;
use crate::media::strip::{self, StripMode};
use crate::media::{self, ImageType, Limits};
use crate::secret;
use crate::store::blobs::BlobStore;
use crate::store::codec::{ImageRecord, Uploader};
use crate::store::{NewImage, Store, StoreError};

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

/// Keeps the file's name but makes its extension match the detected type.
fn display_name(path: &Path, kind: ImageType) -> String {
    let name = sanitize_filename(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem,
        _ => name.as_str(),
    };
    let stem: String = stem.chars().take(250).collect();
    format!("{stem}.{}", kind.ext())
}

/// The row of an image that enters the store offline, with no uploader
/// (`import`, `adopt`): a new id and uuid, type and size from the bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn offline_record(
    filename: String,
    info: &media::MediaInfo,
    (width, height): (u32, u32),
    hash: crate::store::blobs::BlobHash,
    size: u64,
    uploaded_at: i64,
    private: bool,
    stripped: Vec<String>,
) -> ImageRecord {
    ImageRecord {
        uuid: *uuid::Uuid::new_v4().as_bytes(),
        filename,
        kind: info.kind,
        size,
        width,
        height,
        hash,
        uploaded_at,
        private_key: private.then(secret::random_bytes::<16>),
        // Nobody holds a deletion token for it: delete it in the UI.
        deletion_hash: secret::random_bytes::<32>(),
        uploader: Uploader::Import,
        thumbnail: None,
        expires_at: None,
        max_views: None,
        stripped,
    }
}

enum Outcome {
    Imported,
    Duplicate,
}

/// Imports one file.
fn import_file(
    store: &Store,
    config: &Config,
    opts: ImportOptions,
    path: &Path,
) -> Result<Outcome, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("unreadable: {e}"))?;
    if meta.len() == 0 {
        return Err("the file is empty".into());
    }
    if meta.len() > config.max_upload_bytes {
        return Err(format!(
            "larger than the upload limit ({} bytes)",
            config.max_upload_bytes
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("unreadable: {e}"))?;
    let limits = Limits {
        allowed: config.allowed_types.clone(),
        max_pixels: config.max_pixels,
        ..Limits::default()
    };
    let info = media::inspect(&bytes, &limits).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("storage error: {e}");
    let (temp, mut file) = store.blobs().create_temp().map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    let (mut temp, mut hash, mut size) = (temp, *blake3::hash(&bytes).as_bytes(), meta.len());
    let mut stripped = Vec::new();
    if config.strip_metadata != StripMode::None || info.trailer_at.is_some() {
        let rewritten = strip::rewrite(
            temp.path(),
            size,
            &info,
            config.strip_metadata,
            &limits,
            || store.blobs().create_temp(),
        )
        .map_err(|e| format!("could not strip metadata: {e}"))?;
        if let Some(r) = rewritten {
            (temp, hash, size) = (r.temp, r.hash, r.size);
            stripped = r.stripped.iter().map(|s| s.to_string()).collect();
        }
    }
    if store
        .blob(&hash)
        .map_err(|e| format!("database error: {e}"))?
        .is_some()
    {
        return Ok(Outcome::Duplicate);
    }
    let (width, height) =
        media::inventory::displayed_dims(temp.path(), info.kind, info.width, info.height);
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or_else(clock::now_ms);
    let record = offline_record(
        display_name(path, info.kind),
        &info,
        (width, height),
        hash,
        size,
        modified,
        opts.private,
        stripped,
    );
    let new = NewImage {
        record,
        key_hash: None,
    };
    match store.commit_upload_within(new, temp, &config.quota(), clock::now_ms()) {
        Ok(_) => Ok(Outcome::Imported),
        Err(StoreError::StorageFull) => Err("the storage limit is reached".into()),
        Err(StoreError::ImageLimit) => Err("the image limit is reached".into()),
        Err(e) => Err(format!("storage error: {e}")),
    }
}

/// Imports every file under `dir`; `progress(done, total)` is called after each.
pub fn import_dir(
    store: &Store,
    config: &Config,
    dir: &Path,
    opts: ImportOptions,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ImportSummary> {
    let files = walk(dir)?;
    let mut summary = ImportSummary::default();
    for (i, path) in files.iter().enumerate() {
        match import_file(store, config, opts, path) {
            Ok(Outcome::Imported) => summary.imported += 1,
            Ok(Outcome::Duplicate) => summary.duplicates += 1,
            Err(why) => summary.refused.push((path.clone(), why)),
        }
        progress(i + 1, files.len());
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_bytes() {
        assert_eq!(
            display_name(Path::new("/x/shot.PNG"), ImageType::Jpeg),
            "shot.jpg"
        );
        assert_eq!(
            display_name(Path::new("/x/no-extension"), ImageType::Png),
            "no-extension.png"
        );
    }
}
