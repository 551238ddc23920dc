//! The one ingest pipeline: how bytes become an image, for `POST /api/upload`,
//! `pixbin import` and `pixbin adopt` alike.
//!
//! Three steps, each a method of [`Ingest`], so a caller can do its own work
//! between them (the upload handler reads the form fields and the key that may
//! follow the file part; `import` skips a file whose bytes are stored already):
//! 1. [`Ingest::receive`] streams the bytes into a temp blob while hashing them,
//!    enforcing the size limit and walking the format with `media::Inspector`
//!    (the type comes from the bytes, never the name; a pixel bomb is refused
//!    as soon as its header declares its size);
//! 2. [`Ingest::check`] finishes the inspection, strips metadata (a second
//!    pass over the temp file, `media::strip`), makes the kept bytes durable
//!    and reads their displayed dimensions;
//! 3. [`Ingest::commit`] builds the row (name, privacy, expiry and view limit
//!    under the server's and the upload key's policies) and commits it with
//!    its blob in one transaction (`Store::commit_upload_within`: quota,
//!    dedup, the write order of invariant 1).
//!
//! The bytes come as a stream of chunks that the pipeline pulls (a `Stream` of
//! `Result<chunk, E>`; the source's own error comes back untouched as
//! [`ReceiveError::Source`]), not through a blocking `std::io::Read`: an
//! upload's body arrives from the network at the client's pace, and a
//! blocking reader would hold a blocking-pool thread for as long as the
//! slowest client takes. A file (`import`, `adopt`) becomes such a stream with
//! [`read_chunks`]. Either way memory per file is one chunk plus the write
//! buffer, whatever the file's size (invariant 7).
//!
//! Built from the (effective) configuration and the `Store`, plus the
//! thumbnail pool for uploads, and never from `AppState`: `ops` uses it
//! without `http`.

pub mod names;

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

pub use names::{filename_with_ext, sanitize_filename};

use crate::clock;
use crate::config::Config;
use crate::error::AppError;
use crate::lifecycle;
use crate::media::strip::{self, RewriteError, StripMode};
use crate::media::{Inspector, Limits, MediaError, MediaInfo, inventory};
use crate::secret::{self, Secret};
use crate::store::blobs::async_temp::AsyncTemp;
use crate::store::blobs::{BlobHash, BlobStore, Syncer, TempBlob};
use crate::store::codec::{ImageRecord, KeyPolicy, Uploader};
use crate::store::quota::Quota;
use crate::store::{NewImage, Store, StoreError, StoredImage};
use crate::thumbnails::Thumbnailer;

/// Write buffer between the source and the temp file. 1 MiB rather than 256 KiB
/// means fewer hops to the blocking pool per byte: in back-to-back runs a 50 MiB
/// upload went from 0.60-0.67x to 0.78-0.82x of `dd conv=fdatasync`
/// (benches/load.sh; the disk's rate varies from run to run).
const WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes written between early writebacks of a large file (see `TempWriter::write`).
const EARLY_SYNC: u64 = 8 * 1024 * 1024;
/// Bytes read from a file per chunk (`import`, `adopt`).
pub const READ_CHUNK: usize = 256 * 1024;

/// Why bytes were not taken in.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Over the size limit (found while streaming).
    #[error("file too large (limit {limit} bytes)")]
    TooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// No bytes at all.
    #[error("the file is empty")]
    Empty,
    /// Not an acceptable image (type, structure, pixel count).
    #[error(transparent)]
    Media(#[from] MediaError),
    /// Stripping metadata failed.
    #[error("could not strip metadata: {0}")]
    Strip(RewriteError),
    /// The request asks for what the server's or the key's policy refuses
    /// (expiry, privacy, view limit).
    #[error(transparent)]
    Policy(#[from] crate::lifecycle::LifecycleError),
    /// Storing failed, or a limit of the store (quota, image count) refused it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking step panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<std::io::Error> for IngestError {
    fn from(e: std::io::Error) -> Self {
        IngestError::Store(StoreError::Io(e))
    }
}

impl From<IngestError> for AppError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::TooLarge { .. } => AppError::BadRequest {
                code: "file_too_large",
                message: e.to_string(),
            },
            IngestError::Empty => AppError::bad_request(e.to_string()),
            IngestError::Media(m) => AppError::BadRequest {
                code: m.code(),
                message: m.to_string(),
            },
            IngestError::Strip(RewriteError::Io(io)) => AppError::from(io),
            IngestError::Strip(RewriteError::Invalid(m)) => AppError::Internal(m.to_string()),
            IngestError::Policy(e) => AppError::from(e),
            IngestError::Store(e) => AppError::from(e),
            IngestError::Task(e) => AppError::from(e),
        }
    }
}

/// Why [`Ingest::receive`] stopped.
#[derive(Debug)]
pub enum ReceiveError<E> {
    /// The source failed (a cut-off body, an unreadable file): its own error.
    Source(E),
    /// The bytes were refused, or could not be written.
    Refused(IngestError),
}

/// Chunks of at most `size` bytes read from `reader`, for [`Ingest::receive`].
pub fn read_chunks<R: AsyncRead + Unpin>(
    reader: R,
    size: usize,
) -> impl Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::try_unfold(reader, move |mut r| async move {
        let mut buf = vec![0; size];
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((buf, r)))
    })
}

/// Chunks of at most `size` bytes from a blocking reader (a blob store's),
/// each read on the blocking pool, for [`Ingest::receive`].
pub fn read_chunks_blocking<R: std::io::Read + Send + 'static>(
    reader: R,
    size: usize,
) -> impl Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::try_unfold(reader, move |mut r| async move {
        let (r, buf) = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0; size];
            let n = r.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((r, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok((!buf.is_empty()).then_some((buf, r)))
    })
}

/// What the client asked for besides the bytes, as sent (form fields or
/// `X-Pixbin-*` headers); [`Ingest::commit`] parses and resolves it under the
/// policies.
#[derive(Debug, Default)]
pub struct Asked {
    /// `private`: `None` when not sent (the defaults decide).
    pub private: Option<bool>,
    /// `expires`: a duration, an RFC 3339 time or `never`.
    pub expires: Option<String>,
    /// `max_views`.
    pub max_views: Option<String>,
}

/// Where the bytes come from, which decides who owns the row and which rules
/// shape it.
#[derive(Debug)]
pub enum Origin<'p> {
    /// An upload over HTTP.
    Upload {
        /// Recorded on the image.
        uploader: Uploader,
        /// The account the image belongs to (the key's owner, or the user).
        owner: String,
        /// The upload key's hash, to mark it used.
        key_hash: Option<crate::secret::KeyHash>,
        /// The key's upload policy (`None` for a logged-in user).
        policy: Option<&'p KeyPolicy>,
        /// What the request asked for.
        asked: &'p Asked,
    },
    /// An offline tool (`import`, `adopt`): no uploader, no deletion token,
    /// no expiry or view limit; owned by the oldest admin (none without one).
    Offline {
        /// Its upload time (the file's modification time).
        uploaded_at: i64,
        /// Make it private.
        private: bool,
    },
}

/// The pipeline, configured for one kind of intake.
pub struct Ingest<'a> {
    store: Arc<Store>,
    /// The effective configuration (runtime settings applied): upload defaults
    /// and maxima for [`Origin::Upload`].
    config: Config,
    limits: Limits,
    max_bytes: u64,
    /// `None`: keep the bytes exactly as received (no stripping, no trailer cut).
    strip: Option<StripMode>,
    quota: Quota,
    thumbs: Option<&'a Thumbnailer>,
}

impl std::fmt::Debug for Ingest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("max_bytes", &self.max_bytes)
            .field("strip", &self.strip)
            .finish()
    }
}

impl<'a> Ingest<'a> {
    /// The rules of `config` (allowed types, pixel and size limits, metadata
    /// stripping, quota, upload defaults) over `store`.
    pub fn new(store: Arc<Store>, config: Config) -> Self {
        let limits = Limits {
            allowed: config.allowed_types.clone(),
            max_pixels: config.max_pixels,
            ..Limits::default()
        };
        Ingest {
            store,
            limits,
            max_bytes: config.max_upload_bytes,
            strip: Some(config.strip_metadata),
            quota: config.quota(),
            config,
            thumbs: None,
        }
    }

    /// Queues a thumbnail for each committed image on `pool`, when the
    /// configuration asks for thumbnails at upload time.
    pub fn with_thumbnails(mut self, pool: &'a Thumbnailer) -> Self {
        if self.config.thumbnail_on_upload {
            self.thumbs = Some(pool);
        }
        self
    }

    /// For bytes that are the store's own already (`adopt`): kept exactly as
    /// they are (no stripping, no trailer cut), under no size or quota limit.
    pub fn keeping_bytes(mut self) -> Self {
        self.strip = None;
        self.max_bytes = u64::MAX;
        self.quota = Quota::default();
        self
    }

    /// The size limit of one file, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The store the pipeline commits to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Step 1: streams `chunks` into a temp blob, checking each chunk on its
    /// way (size limit, type and structure from the bytes) and hashing it.
    /// Nothing is left behind when it fails: the temp blob removes itself.
    pub async fn receive<S, B, E>(&self, chunks: S) -> Result<Received, ReceiveError<E>>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
    {
        let mut gate = Gate {
            inspector: Inspector::new(&self.limits),
            hasher: blake3::Hasher::new(),
            size: 0,
            max: self.max_bytes,
        };
        let writer = write_temp(self.store.blobs(), chunks, &mut gate).await?;
        Ok(Received { writer, gate })
    }

    /// Step 2: validates the whole file, strips metadata, and makes the bytes
    /// that are kept durable (fsync) before anything refers to them.
    /// Stripping is a second pass over the temp file into a new one, so the
    /// hash and size of the result are those of the bytes stored; the
    /// unstripped temp is removed when dropped.
    pub async fn check(&self, received: Received) -> Result<Checked, IngestError> {
        let Received { mut writer, gate } = received;
        if gate.size == 0 {
            return Err(IngestError::Empty);
        }
        let (info, hash, size) = gate.finish()?;
        writer.file.flush().await?;
        let mut rewritten = None;
        if let Some(mode) = self.strip
            && (mode != StripMode::None || info.trailer_at.is_some())
        {
            let src = writer.file.get_mut().reader().await?;
            let (limits, blobs) = (self.limits.clone(), self.store.blobs().clone());
            rewritten = tokio::task::spawn_blocking(move || {
                strip::rewrite(src, size, &info, mode, &limits, || blobs.create_temp())
            })
            .await?
            .map_err(IngestError::Strip)?;
        }
        let (temp, hash, size, stripped) = match rewritten {
            Some(r) => (r.temp, BlobHash::from_bytes(r.hash), r.size, r.stripped),
            None => (writer.durable().await?, hash, size, Vec::new()),
        };
        // Stored as displayed (EXIF orientation applied), read from the bytes
        // that are kept.
        let (width, height) = {
            let (bytes, kind) = (temp.reader()?, info.kind);
            let (w, h) = (info.width, info.height);
            tokio::task::spawn_blocking(move || inventory::displayed_dims(bytes, kind, w, h))
                .await?
        };
        Ok(Checked {
            temp,
            hash,
            size,
            info,
            width,
            height,
            stripped,
        })
    }

    /// Step 3: builds the row for `checked` under the rules of `origin` and
    /// commits it with the blob. `name` is the client's (or the file's) name,
    /// sanitised here; its extension follows the detected type.
    pub async fn commit(
        &self,
        checked: Checked,
        name: &str,
        origin: Origin<'_>,
    ) -> Result<Ingested, IngestError> {
        let now = clock::now_ms();
        let Checked {
            temp,
            hash,
            size,
            info,
            width,
            height,
            stripped,
        } = checked;
        let (owner, key_hash, deletion_token) = match origin {
            Origin::Upload {
                uploader,
                owner: account,
                key_hash,
                policy: key,
                asked,
            } => {
                let private =
                    lifecycle::resolve_private(asked.private, &self.config, key).map_err(policy)?;
                let expiry = asked
                    .expires
                    .as_deref()
                    .map(lifecycle::parse_spec)
                    .transpose()
                    .map_err(policy)?;
                let expires_at =
                    lifecycle::resolve_expiry(expiry, &self.config, key, now).map_err(policy)?;
                let max_views = asked
                    .max_views
                    .as_deref()
                    .map(lifecycle::parse_max_views)
                    .transpose()
                    .map_err(policy)?;
                let token = secret::random_token();
                let owner = Owner {
                    uploaded_at: now,
                    private,
                    deletion_hash: secret::TokenHash::of(token.expose()),
                    uploader,
                    account: Some(account),
                    expires_at,
                    max_views,
                };
                (owner, key_hash, Some(token))
            }
            Origin::Offline {
                uploaded_at,
                private,
            } => {
                let owner = Owner {
                    uploaded_at,
                    private,
                    // Nobody holds a deletion token for it: delete it in the UI.
                    deletion_hash: secret::TokenHash::from_bytes(secret::random_bytes::<32>()),
                    uploader: Uploader::Import,
                    account: None,
                    expires_at: None,
                    max_views: None,
                };
                (owner, None, None)
            }
        };
        let record = ImageRecord {
            uuid: *uuid::Uuid::new_v4().as_bytes(),
            filename: filename_with_ext(&sanitize_filename(name), info.kind.ext()),
            kind: info.kind,
            size,
            width,
            height,
            hash,
            uploaded_at: owner.uploaded_at,
            private_key: owner.private.then(secret::random_bytes::<16>),
            deletion_hash: owner.deletion_hash,
            uploader: owner.uploader,
            thumbnail: None,
            expires_at: owner.expires_at,
            max_views: owner.max_views,
            stripped: stripped.iter().map(|s| s.to_string()).collect(),
            owner: owner.account.clone().unwrap_or_default(),
        };
        let mut new = NewImage { record, key_hash };
        let (store, quota) = (self.store.clone(), self.quota);
        let offline = owner.account.is_none();
        let stored = tokio::task::spawn_blocking(move || {
            if offline {
                new.record.owner = store.oldest_admin()?.unwrap_or_default();
            }
            store.commit_upload_within(new, temp, &quota, now)
        })
        .await??;
        // Off the request path: the pool makes it after the response (or the
        // first request for it does, if the queue is full). Never fails the
        // upload.
        if let Some(pool) = self.thumbs {
            pool.enqueue(stored.id);
        }
        Ok(Ingested {
            stored,
            deletion_token,
            stripped,
        })
    }
}

/// A refusal by the upload policy.
fn policy(e: crate::lifecycle::LifecycleError) -> IngestError {
    IngestError::Policy(e)
}

/// Who owns a new row and what limits it carries.
struct Owner {
    uploaded_at: i64,
    private: bool,
    deletion_hash: secret::TokenHash,
    uploader: Uploader,
    /// `None` for an offline tool: the oldest admin, looked up at commit.
    account: Option<String>,
    expires_at: Option<i64>,
    max_views: Option<u64>,
}

/// Bytes streamed into a temp blob, checked chunk by chunk (step 1).
pub struct Received {
    writer: TempWriter,
    gate: Gate,
}

impl Received {
    /// Bytes received.
    pub fn size(&self) -> u64 {
        self.gate.size
    }

    /// blake3 of the bytes received.
    pub fn hash(&self) -> BlobHash {
        self.gate.hasher.finalize().into()
    }
}

/// Bytes that passed every check, durable in a temp blob, as they will be
/// stored (step 2).
#[derive(Debug)]
pub struct Checked {
    temp: TempBlob,
    hash: BlobHash,
    size: u64,
    info: MediaInfo,
    width: u32,
    height: u32,
    stripped: Vec<&'static str>,
}

impl Checked {
    /// blake3 of the bytes to store.
    pub fn hash(&self) -> &BlobHash {
        &self.hash
    }

    /// What the bytes are.
    pub fn info(&self) -> &MediaInfo {
        &self.info
    }
}

/// A committed image (step 3).
#[derive(Debug)]
pub struct Ingested {
    /// The row as stored.
    pub stored: StoredImage,
    /// The deletion token of an upload, shown once (the row keeps its hash).
    pub deletion_token: Option<Secret>,
    /// What metadata was removed (`["gps", "serial"]`, empty when nothing was).
    pub stripped: Vec<&'static str>,
}

/// The checks every chunk passes before it is written: the size limit, the
/// inspector (type, structure, pixel count) and the hash.
struct Gate {
    inspector: Inspector,
    hasher: blake3::Hasher,
    size: u64,
    max: u64,
}

impl Gate {
    fn pass(&mut self, chunk: &[u8]) -> Result<(), IngestError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(IngestError::TooLarge { limit: self.max });
        }
        self.inspector.update(chunk)?;
        self.hasher.update(chunk);
        Ok(())
    }

    fn finish(self) -> Result<(MediaInfo, BlobHash, u64), IngestError> {
        let info = self.inspector.finish()?;
        Ok((info, self.hasher.finalize().into(), self.size))
    }
}

/// Step 1's writing: the only place the pipeline writes bytes into the blob
/// store (temp blob, write, flush); `TempWriter::durable` fsyncs them, and
/// `Store::commit_upload_within` moves them under their hash in the same
/// transaction as the row (invariant 1).
async fn write_temp<S, B, E>(
    blobs: &Arc<dyn BlobStore>,
    chunks: S,
    gate: &mut Gate,
) -> Result<TempWriter, ReceiveError<E>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    let refused = |e: std::io::Error| ReceiveError::Refused(IngestError::from(e));
    let mut writer = TempWriter::create(blobs).map_err(refused)?;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(ReceiveError::Source)?;
        gate.pass(chunk.as_ref()).map_err(ReceiveError::Refused)?;
        writer.write(chunk.as_ref()).await.map_err(refused)?;
    }
    Ok(writer)
}

/// A temp blob being written.
struct TempWriter {
    file: tokio::io::BufWriter<AsyncTemp>,
    /// Syncs the temp beside the writes (fdatasync on a second handle).
    sync_handle: Syncer,
    /// Bytes written since the last early writeback started.
    unsynced: u64,
    /// The early writeback in flight, if any.
    syncing: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TempWriter {
    fn create(blobs: &Arc<dyn BlobStore>) -> std::io::Result<TempWriter> {
        let temp = blobs.create_temp()?;
        let sync_handle = temp.syncer()?;
        Ok(TempWriter {
            file: tokio::io::BufWriter::with_capacity(WRITE_BUFFER, AsyncTemp::new(temp)),
            sync_handle,
            unsynced: 0,
            syncing: None,
        })
    }

    async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk).await?;
        self.unsynced += chunk.len() as u64;
        if self.unsynced >= EARLY_SYNC && self.syncing.as_ref().is_none_or(|h| h.is_finished()) {
            // Start flushing what is written so far to disk while the rest is
            // still arriving, so the final fsync only waits for the tail: a
            // large upload then costs about max(network, disk) instead of
            // their sum (benches/load.sh, upload rows against dd).
            if let Some(h) = self.syncing.take() {
                h.await.map_err(std::io::Error::other)??;
            }
            self.file.flush().await?;
            let f = self.sync_handle.clone();
            self.syncing = Some(tokio::task::spawn_blocking(move || f()));
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Flushes and fsyncs the file: its bytes survive power loss from here on.
    async fn durable(mut self) -> std::io::Result<TempBlob> {
        self.file.flush().await?;
        if let Some(h) = self.syncing.take() {
            h.await.map_err(std::io::Error::other)??;
        }
        self.file.get_mut().sync_all().await?;
        self.file.into_inner().into_temp().await
    }
}

#[cfg(test)]
mod tests;
