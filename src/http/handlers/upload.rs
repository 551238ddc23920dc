//! `POST /api/upload`: multipart or raw body, streamed to a temp file while hashing
//! and inspecting, then committed durably.
//!
//! Memory does not grow with upload size: chunks go straight to disk, the
//! inspector keeps a bounded header, and the size limit is enforced both from
//! `Content-Length` (before reading) and while streaming (for chunked bodies).

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use tokio::io::AsyncWriteExt;

use crate::clock;
use crate::config::Config;
use crate::error::AppError;
use crate::http::body::{Body, body_stream, full, ok_json};
use crate::http::guard;
use crate::http::image_json::{ImageJson, image_json, public_url};
use crate::http::multipart::{self, FormLimits, Part};
use crate::http::query;
use crate::lifecycle;
use crate::media::inventory;
use crate::media::strip::{self, StripMode};
use crate::media::{Inspector, Limits, MediaError, MediaInfo};
use crate::secret;
use crate::state::AppState;
use crate::store::NewImage;
use crate::store::blobs::async_temp::AsyncTemp;
use crate::store::blobs::{BlobStore, Syncer, TempBlob};
use crate::store::codec::ImageRecord;

/// Slack for multipart boundaries and small text fields on top of the file limit.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// Longest stored file name, in characters.
const MAX_FILENAME: usize = 255;
/// Write buffer between the network and the temp file. 1 MiB rather than 256 KiB
/// means fewer hops to the blocking pool per byte: in back-to-back runs a 50 MiB
/// upload went from 0.60-0.67x to 0.78-0.82x of `dd conv=fdatasync`
/// (benches/load.sh; the disk's rate varies from run to run).
const WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes written between early writebacks of a large upload (see `Sink::write`).
const EARLY_SYNC: u64 = 8 * 1024 * 1024;

/// Turns a client file name into something safe to store and display: no path,
/// no control or bidi-override characters, at most 255 characters. HTML escaping
/// is the job of whoever renders it; this keeps the JSON and logs clean.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
        .take(MAX_FILENAME)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "upload".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Parses a form/header boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`,
/// any case. Anything else, the empty string included, is `None`: an option the
/// client sent but left blank is a mistake to report, never a silent "false"
/// (an empty `private=` must not make an upload public).
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The 400 for a boolean option with an empty or unknown value, naming it.
fn bad_bool(name: &str) -> AppError {
    AppError::bad_request(format!(
        "{name} must be one of true, false, 1, 0, yes, no, on, off"
    ))
}

fn media_error(e: MediaError) -> AppError {
    AppError::BadRequest {
        code: e.code(),
        message: e.to_string(),
    }
}

fn too_large(limit: u64) -> AppError {
    AppError::BadRequest {
        code: "file_too_large",
        message: format!("file too large (limit {limit} bytes)"),
    }
}

/// Bytes on their way to a blob-store temp, hashed and inspected as they pass.
struct Sink {
    file: tokio::io::BufWriter<AsyncTemp>,
    hasher: blake3::Hasher,
    inspector: Inspector,
    size: u64,
    max: u64,
    /// What metadata to strip, and what the stripped copy must still pass.
    strip: StripMode,
    limits: Limits,
    blobs: std::sync::Arc<dyn BlobStore>,
    /// Syncs the temp beside the writes (fdatasync on a second handle).
    sync_handle: Syncer,
    /// Bytes written since the last early writeback started.
    unsynced: u64,
    /// The early writeback in flight, if any.
    syncing: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Sink {
    fn create(state: &AppState, config: &Config) -> Result<Sink, AppError> {
        let temp = state.store.blobs().create_temp()?;
        let sync_handle = temp.syncer()?;
        let limits = Limits {
            allowed: config.allowed_types.clone(),
            max_pixels: state.config.max_pixels,
            ..Limits::default()
        };
        Ok(Sink {
            file: tokio::io::BufWriter::with_capacity(WRITE_BUFFER, AsyncTemp::new(temp)),
            hasher: blake3::Hasher::new(),
            inspector: Inspector::new(&limits),
            size: 0,
            max: state.config.max_upload_bytes,
            strip: config.strip_metadata,
            limits,
            blobs: state.store.blobs().clone(),
            sync_handle,
            unsynced: 0,
            syncing: None,
        })
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(too_large(self.max));
        }
        self.inspector.update(chunk).map_err(media_error)?;
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        self.unsynced += chunk.len() as u64;
        if self.unsynced >= EARLY_SYNC && self.syncing.as_ref().is_none_or(|h| h.is_finished()) {
            // Start flushing what is written so far to disk while the rest is
            // still arriving, so the final fsync only waits for the tail: a
            // large upload then costs about max(network, disk) instead of
            // their sum (benches/load.sh, upload rows against dd).
            if let Some(h) = self.syncing.take() {
                h.await??;
            }
            self.file.flush().await?;
            let f = self.sync_handle.clone();
            self.syncing = Some(tokio::task::spawn_blocking(move || f()));
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Validates, strips metadata, then makes the bytes durable (fsync) before
    /// anything refers to them. Stripping is a second pass over the temp
    /// into a new one (`media::strip`), so the hash and size returned are those
    /// of the bytes stored; the unstripped temp is removed when dropped.
    #[allow(clippy::type_complexity)]
    async fn finish(
        mut self,
    ) -> Result<(TempBlob, [u8; 32], u64, MediaInfo, Vec<&'static str>), AppError> {
        let info = self.inspector.finish().map_err(media_error)?;
        self.file.flush().await?;
        if self.strip != StripMode::None || info.trailer_at.is_some() {
            let src = self.file.get_mut().reader().await?;
            let (size, mode, limits, blobs) = (
                self.size,
                self.strip,
                self.limits.clone(),
                self.blobs.clone(),
            );
            let rewritten = tokio::task::spawn_blocking(move || {
                strip::rewrite(src, size, &info, mode, &limits, || blobs.create_temp())
            })
            .await?
            .map_err(|e| match e {
                strip::RewriteError::Io(io) => AppError::from(io),
                strip::RewriteError::Invalid(m) => AppError::Internal(m.to_string()),
            })?;
            if let Some(r) = rewritten {
                return Ok((r.temp, r.hash, r.size, info, r.stripped));
            }
        }
        if let Some(h) = self.syncing.take() {
            h.await??;
        }
        self.file.get_mut().sync_all().await?;
        Ok((
            self.file.into_inner().into_temp().await?,
            *self.hasher.finalize().as_bytes(),
            self.size,
            info,
            Vec::new(),
        ))
    }
}

/// What the form said besides the file.
#[derive(Default)]
struct Fields {
    private: Option<bool>,
    expires: Option<String>,
    max_views: Option<String>,
}

impl Fields {
    /// `X-Pixbin-Expires`, `X-Pixbin-Max-Views` and `X-Pixbin-Private` headers,
    /// for clients that cannot add form fields (raw bodies, iOS Shortcuts).
    fn from_headers(h: &hyper::HeaderMap) -> Result<Fields, AppError> {
        let get = |name: &str| -> Result<Option<String>, AppError> {
            h.get(name)
                .map(|v| {
                    v.to_str()
                        .map(|s| s.to_string())
                        .map_err(|_| AppError::bad_request(format!("{name} must be ASCII")))
                })
                .transpose()
        };
        let private = match get("x-pixbin-private")? {
            Some(v) => Some(parse_bool(&v).ok_or_else(|| bad_bool("X-Pixbin-Private"))?),
            None => None,
        };
        Ok(Fields {
            private,
            expires: get("x-pixbin-expires")?,
            max_views: get("x-pixbin-max-views")?,
        })
    }
}

/// `POST /api/upload`
pub async fn upload(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, AppError> {
    // The upload defaults in force now (runtime settings applied).
    let config = state.settings.effective(&state.config);
    let max = state.config.max_upload_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max + MULTIPART_OVERHEAD) {
        // Answer without reading: hyper then sends no `100 Continue`.
        return Err(AppError::PayloadTooLarge { limit: max });
    }
    // Header auth first, before a byte of the body is kept.
    let mut auth = match guard::upload_auth_from_headers(state, &req).await {
        Ok(a) => a,
        Err(e) => {
            return Err(refuse_unread(req, declared, state.config.body_idle_timeout, e).await);
        }
    };

    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let header_fields = match Fields::from_headers(req.headers()) {
        Ok(f) => f,
        Err(e) => {
            return Err(refuse_unread(req, declared, state.config.body_idle_timeout, e).await);
        }
    };
    let text_response = wants_text(&req);
    let query_name = query::param(req.uri().query(), "filename")
        .ok()
        .flatten()
        .map(|s| s.into_owned());
    let idle = state.config.body_idle_timeout;

    let (sink, filename, fields) = if mime == "multipart/form-data" {
        // The form rules (boundary, part count, one file, bounded part headers
        // and text fields) live in `multipart`, where they are property-tested.
        let boundary = multipart::boundary(&content_type).map_err(|e| e.into_app_error(max))?;
        let mut form = multipart::FormReader::new(
            body_stream(req.into_body(), idle),
            boundary,
            FormLimits::for_upload(max, MULTIPART_OVERHEAD),
        );
        let mut fields = header_fields;
        let mut file: Option<(Sink, String)> = None;
        while let Some(part) = form.next().await.map_err(|e| e.into_app_error(max))? {
            let (name, value) = match part {
                Part::File {
                    file_name,
                    mut data,
                } => {
                    if auth.is_none() {
                        return Err(AppError::Unauthorized);
                    }
                    let name = sanitize_filename(&file_name);
                    let mut sink = Sink::create(state, &config)?;
                    while let Some(chunk) = data.chunk().await.map_err(|e| e.into_app_error(max))? {
                        sink.write(&chunk).await?;
                    }
                    file = Some((sink, name));
                    continue;
                }
                Part::Text { name, value } => (name, value),
            };
            match name.as_str() {
                "key" if auth.is_none() => {
                    auth = Some(guard::upload_auth_from_key(state, value.trim()).await?);
                }
                "private" => {
                    fields.private = Some(parse_bool(&value).ok_or_else(|| bad_bool("private"))?);
                }
                "expires" => fields.expires = Some(value),
                "max_views" | "maxViews" => fields.max_views = Some(value),
                // Unknown fields (including any URL to fetch) are ignored: pixbin
                // never makes outbound requests on a client's behalf.
                _ => {}
            }
        }
        form.finish().await.map_err(|e| e.into_app_error(max))?;
        let (sink, name) = file.ok_or_else(|| {
            AppError::bad_request("no file in the upload (send a part with a filename)")
        })?;
        (sink, name, fields)
    } else if mime.starts_with("image/") || mime == "application/octet-stream" {
        if auth.is_none() {
            return Err(AppError::Unauthorized);
        }
        let mut sink = Sink::create(state, &config)?;
        let mut body = std::pin::pin!(body_stream(req.into_body(), idle));
        use futures_util::StreamExt;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                AppError::bad_request(if e.kind() == std::io::ErrorKind::TimedOut {
                    "request body timed out"
                } else {
                    "request body was cut off"
                })
            })?;
            sink.write(&chunk).await?;
        }
        let name = sanitize_filename(query_name.as_deref().unwrap_or("upload"));
        (sink, name, header_fields)
    } else if mime.is_empty() {
        let e = AppError::bad_request(
            "missing Content-Type: send multipart/form-data or an image body",
        );
        return Err(refuse_unread(req, declared, idle, e).await);
    } else {
        let e = AppError::bad_request(format!(
            "unsupported Content-Type {:?}: send multipart/form-data or an image body",
            truncate(&mime)
        ));
        return Err(refuse_unread(req, declared, idle, e).await);
    };
    let auth = auth.ok_or(AppError::Unauthorized)?;

    if sink.size == 0 {
        return Err(AppError::BadRequest {
            code: "invalid_request",
            message: "the file is empty".into(),
        });
    }
    let (temp, hash, size, info, stripped) = sink.finish().await?;
    // `width` and `height` are stored as displayed (EXIF orientation applied),
    // read from the bytes that are kept.
    let (width, height) = {
        let (bytes, kind) = (temp.reader()?, info.kind);
        let (w, h) = (info.width, info.height);
        tokio::task::spawn_blocking(move || inventory::displayed_dims(bytes, kind, w, h)).await?
    };
    let now = clock::now_ms();
    let policy = auth.policy.as_ref();
    let private = lifecycle::resolve_private(fields.private, &config, policy)?;
    let expiry = fields
        .expires
        .as_deref()
        .map(lifecycle::parse_spec)
        .transpose()?;
    let expires_at = lifecycle::resolve_expiry(expiry, &config, policy, now)?;
    let max_views = fields
        .max_views
        .as_deref()
        .map(lifecycle::parse_max_views)
        .transpose()?;
    let deletion_token = secret::random_token();
    let record = ImageRecord {
        uuid: *uuid::Uuid::new_v4().as_bytes(),
        filename: filename_with_ext(&filename, info.kind.ext()),
        kind: info.kind,
        size,
        width,
        height,
        hash,
        uploaded_at: now,
        private_key: private.then(secret::random_bytes::<16>),
        deletion_hash: secret::token_hash(deletion_token.expose()),
        uploader: auth.uploader,
        thumbnail: None,
        expires_at,
        max_views,
        stripped: stripped.iter().map(|s| s.to_string()).collect(),
    };
    let new = NewImage {
        record,
        key_hash: auth.key_hash,
    };
    let quota = state.config.quota();
    let stored = state
        .blocking(move |s| s.commit_upload_within(new, temp, &quota, now))
        .await?;
    tracing::info!(image = stored.id, size, kind = info.kind.ext(), "uploaded");
    // Off the request path: the pool makes it after this response (or the
    // first request for it does, if the queue is full). Never fails the upload.
    if state.config.thumbnail_on_upload {
        state.thumbs.enqueue(stored.id);
    }

    let json = UploadJson {
        image: image_json(state, &stored, Some(deletion_token.expose())),
        metadata_stripped: stripped,
    };
    if text_response {
        let url = public_url(state, &stored);
        let mut res = Response::new(full(format!("{url}\n")));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return Ok(res);
    }
    let mut res = ok_json(&json);
    *res.status_mut() = StatusCode::OK;
    Ok(res)
}

/// The upload response: the image JSON plus what metadata was removed
/// (`"metadataStripped": ["gps", "serial"]`, empty when nothing was).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadJson {
    #[serde(flatten)]
    image: ImageJson,
    metadata_stripped: Vec<&'static str>,
}

/// Largest unwanted body read and discarded before an early refusal.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Reads and throws away a small request body before answering `err`.
///
/// A server that answers and closes while request bytes are still unread makes
/// the kernel reset the connection, and many clients (ShareX's .NET stack,
/// Node's fetch) then report a network error instead of the JSON answer, so a
/// wrong key shows up as "connection reset". Bodies over `DRAIN_LIMIT` (or of
/// unknown length that turn out larger) are not read: hyper closes those.
async fn refuse_unread(
    req: Request<Incoming>,
    declared: Option<u64>,
    idle: Duration,
    err: AppError,
) -> AppError {
    if declared.is_none_or(|n| n <= DRAIN_LIMIT) {
        let _ = crate::http::body::read_limited(req.into_body(), DRAIN_LIMIT as usize, idle).await;
    }
    err
}

/// ksnip-style clients want only the link: `?format=text` or `Accept: text/plain`.
fn wants_text(req: &Request<Incoming>) -> bool {
    if let Ok(Some(f)) = query::param(req.uri().query(), "format") {
        return f == "text";
    }
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim() == "text/plain")
}

/// Keeps the sanitised name but makes its extension match the detected type, so
/// a download of `x.png` that is really a JPEG is not misnamed.
fn filename_with_ext(name: &str, ext: &str) -> String {
    let stem = match name.rsplit_once('.') {
        Some((stem, e)) if !stem.is_empty() && e.len() <= 5 => stem,
        _ => name,
    };
    let mut out: String = stem.chars().take(MAX_FILENAME - ext.len() - 1).collect();
    out.push('.');
    out.push_str(ext);
    out
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filenames_are_sanitised() {
        assert_eq!(sanitize_filename("../../../etc/cron.d/x"), "x");
        assert_eq!(sanitize_filename("C:\\Users\\me\\shot.png"), "shot.png");
        assert_eq!(sanitize_filename("a\0.png"), "a.png");
        assert_eq!(sanitize_filename("a\r\nX-Evil: 1.png"), "aX-Evil: 1.png");
        assert_eq!(sanitize_filename("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(sanitize_filename(""), "upload");
        assert_eq!(sanitize_filename(".."), "upload");
        assert_eq!(sanitize_filename(&"a".repeat(4096)).chars().count(), 255);
        assert_eq!(
            sanitize_filename("<img src=x onerror=alert(1)>.png"),
            "<img src=x onerror=alert(1)>.png"
        );
    }

    #[test]
    fn extensions_follow_the_bytes() {
        assert_eq!(filename_with_ext("photo.png", "jpg"), "photo.jpg");
        assert_eq!(filename_with_ext("photo", "png"), "photo.png");
        assert_eq!(
            filename_with_ext("my.holiday.photo.jpeg", "jpg"),
            "my.holiday.photo.jpg"
        );
        assert_eq!(
            filename_with_ext(&"a".repeat(255), "webp").chars().count(),
            255
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
        assert_eq!(parse_bool("  "), None);
    }

    proptest! {
        #[test]
        fn sanitised_names_have_no_path_or_controls(s in "\\PC{0,300}|[\\x00-\\x7f]{0,300}") {
            let n = sanitize_filename(&s);
            prop_assert!(!n.is_empty() && n.chars().count() <= MAX_FILENAME);
            prop_assert!(!n.contains('/') && !n.contains('\\'));
            prop_assert!(!n.chars().any(|c| c.is_control()));
        }
    }
}
