//! Serving image bytes: `GET|HEAD /{uuid}.{ext}` (public, counts views) and
//! `/api/proxy/{uuid}.{ext}` (session, no view).
//!
//! Unknown uuid, wrong extension and wrong or missing key are one identical 404,
//! so a private link cannot be probed. Every blob response carries `nosniff` and
//! `CSP: default-src 'none'; sandbox`, so even a polyglot file cannot run script
//! in our origin.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};
use uuid::Uuid;

use crate::analytics::{self, Audience};
use crate::clock;
use crate::error::AppError;
use crate::http::body::{Body, empty, full};
use crate::http::conditional::{self, Outcome};
use crate::http::dispatch;
use crate::http::handlers::images::decode_key;
use crate::http::query;
use crate::http::range::{self, RangeResult};
use crate::media::ImageType;
use crate::secret;
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::blobs::{BlobStore, hex};
use crate::store::lifecycle::Consume;

/// Files up to this size are read in one call and sent with the headers in one
/// write; larger ones are streamed in chunks of this size. 256 KiB rather than
/// 128 KiB halves the hops to the blocking pool per byte: 1 MiB GETs at 64
/// connections went from about 0.75x to 0.95x nginx (benches/load.sh).
const CHUNK: usize = 256 * 1024;

/// Who is asking, by the one shared rule (`analytics::classify`).
pub fn audience(state: &AppState, req: &Request<Incoming>) -> Audience {
    analytics::classify(req.method(), req.headers(), state.views.admin_prefix())
}

async fn lookup(state: &AppState, uuid: Uuid, kind: ImageType) -> Result<StoredImage, AppError> {
    // The one store call made inline rather than through `state.blocking`: a
    // point read is a redb read transaction of about 2 µs at 100k images
    // (`benches/hot.rs`, lookup_100k), while the hop to the blocking pool and
    // back costs tens of µs of wake-ups and context switches, which
    // `benches/load.sh` measured as most of the CPU of a small GET. Reads take
    // no write lock, so this never waits behind a commit.
    let img = state
        .store
        .image_by_uuid(uuid.as_bytes())?
        .ok_or(AppError::NotFound)?;
    if img.record.kind != kind.code() {
        return Err(AppError::NotFound);
    }
    Ok(img)
}

/// The rule of every public URL of an image (original and thumbnail): gone
/// (expired or out of views) and private-without-its-key are the same 404 as an
/// unknown image, so a link cannot be probed.
pub(crate) fn check_public_access(
    img: &StoredImage,
    req: &Request<Incoming>,
) -> Result<(), AppError> {
    if img.is_gone(clock::now_ms()) {
        return Err(AppError::NotFound);
    }
    if let Some(expected) = &img.record.private_key {
        let presented = query::param(req.uri().query(), "key")
            .ok()
            .flatten()
            .and_then(|k| decode_key(&k));
        match presented {
            Some(k) if secret::ct_eq(&k, expected) => {}
            _ => return Err(AppError::NotFound),
        }
    }
    Ok(())
}

/// `GET|HEAD /{uuid}.{ext}`
pub async fn public(
    state: &AppState,
    uuid: Uuid,
    kind: ImageType,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let img = lookup(state, uuid, kind).await?;
    check_public_access(&img, req)?;
    let who = audience(state, req);
    if let Some(max) = img.record.max_views
        && who.is_view()
    {
        // Consumed durably before the bytes go out; bots, unfurlers (a Discord
        // preview), the admin UI, HEAD and the proxy never reach this.
        let id = img.id;
        let now = clock::now_ms();
        if state
            .blocking(move |s| s.consume_view(id, max, now))
            .await?
            == Consume::Exhausted
        {
            return Err(AppError::NotFound);
        }
    }
    let res = serve_blob(state, &img, req, img.record.private_key.is_some()).await?;
    if analytics::counted_status(res.status()) {
        // Views, and bots and unfurlers (counted apart), go to the batching
        // writer; this never waits.
        state
            .views
            .observe(who, img.id, req.headers(), dispatch::client_of(req));
    }
    Ok(res)
}

/// `GET|HEAD /api/proxy/{uuid}.{ext}` (session checked by dispatch).
pub async fn proxy(
    state: &AppState,
    uuid: Uuid,
    kind: ImageType,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let img = lookup(state, uuid, kind).await?;
    serve_blob(state, &img, req, true).await
}

/// What the blocking read produced.
enum Loaded {
    /// The entire blob, to be cached.
    Cached(Bytes),
    Whole(Bytes),
    Stream(std::fs::File),
}

/// Sends a blob with validators, conditional and range handling. `private`
/// responses are never cached by shared caches and send no Referer onwards.
pub(crate) async fn serve_blob(
    state: &AppState,
    img: &StoredImage,
    req: &Request<Incoming>,
    private: bool,
) -> Result<Response<Body>, AppError> {
    let rec = &img.record;
    let kind = ImageType::from_code(rec.kind).unwrap_or(ImageType::Png);
    let etag = format!("\"{}\"", hex(&rec.hash));
    let last_modified = rec.uploaded_at.div_euclid(1000);
    let len = rec.size;

    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, conditional::http_date(last_modified))
        .header(
            header::CACHE_CONTROL,
            if private {
                "private, no-store"
            } else {
                "public, max-age=31536000, immutable"
            },
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        )
        .header(header::ACCEPT_RANGES, "bytes");
    if private {
        builder = builder.header(header::REFERRER_POLICY, "no-referrer");
    }

    match conditional::evaluate(req.headers(), &etag, last_modified) {
        Outcome::NotModified => {
            return Ok(builder
                .status(StatusCode::NOT_MODIFIED)
                .body(empty())
                .expect("valid response"));
        }
        Outcome::Failed => {
            return Ok(builder
                .status(StatusCode::PRECONDITION_FAILED)
                .body(empty())
                .expect("valid response"));
        }
        Outcome::Proceed => {}
    }

    let range = if conditional::if_range_allows(req.headers(), &etag, last_modified) {
        range::parse(
            req.headers()
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok()),
            len,
        )
    } else {
        RangeResult::Full
    };
    let (status, start, end) = match range {
        RangeResult::Full => (StatusCode::OK, 0, len.saturating_sub(1)),
        RangeResult::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeResult::Unsatisfiable => {
            return Ok(builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(full(
                    r#"{"error":"range not satisfiable","code":"range_not_satisfiable"}"#,
                ))
                .expect("valid response"));
        }
    };
    let count = end - start + 1;
    builder = builder
        .status(status)
        .header(header::CONTENT_TYPE, kind.content_type())
        .header(header::CONTENT_LENGTH, count);
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    if req.method() == Method::HEAD {
        return Ok(builder.body(empty()).expect("valid response"));
    }

    let hash = rec.hash;
    // Small hot blobs come from memory. The row was checked above on this very
    // request, so a deleted, expired or newly private image never gets here.
    if let Some(bytes) = state.blob_cache.get(&hash) {
        let body = bytes.slice(start as usize..(start + count) as usize);
        return Ok(builder.body(full(body)).expect("valid response"));
    }
    let cacheable = state.blob_cache.wants(len);
    let store = state.store.clone();
    let loaded = tokio::task::spawn_blocking(move || -> std::io::Result<Loaded> {
        let mut f = store.blobs().open(&hash)?;
        if cacheable {
            // Read the whole blob once (one read call, size known) so later
            // requests, ranges included, are served from memory.
            let mut buf = vec![0u8; len as usize];
            f.read_exact(&mut buf)?;
            return Ok(Loaded::Cached(Bytes::from(buf)));
        }
        if start > 0 {
            f.seek(SeekFrom::Start(start))?;
        }
        if count <= CHUNK as u64 {
            let mut buf = vec![0u8; count as usize];
            f.read_exact(&mut buf)?;
            Ok(Loaded::Whole(Bytes::from(buf)))
        } else {
            Ok(Loaded::Stream(f))
        }
    })
    .await?;
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            // A row without its blob (removed by hand, or a failing disk): report
            // and answer as if the image did not exist; other images are unaffected.
            tracing::error!(image = img.id, error = %e, "blob unreadable");
            return Err(AppError::NotFound);
        }
    };
    let body = match loaded {
        Loaded::Cached(b) => {
            state.blob_cache.insert(hash, b.clone());
            full(b.slice(start as usize..(start + count) as usize))
        }
        Loaded::Whole(b) => full(b),
        Loaded::Stream(f) => file_stream(f, count),
    };
    Ok(builder.body(body).expect("valid response"))
}

/// Streams `remaining` bytes of an open file in chunks read on the blocking pool.
fn file_stream(file: std::fs::File, remaining: u64) -> Body {
    let s = stream::unfold((Some(file), remaining), |(file, remaining)| async move {
        let file = file?;
        if remaining == 0 {
            return None;
        }
        let want = remaining.min(CHUNK as u64) as usize;
        let res = tokio::task::spawn_blocking(move || {
            let mut f = file;
            let mut buf = vec![0u8; want];
            let mut got = 0;
            while got < want {
                match f.read(&mut buf[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if got < want {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "blob shorter than recorded",
                ));
            }
            buf.truncate(got);
            Ok((f, buf))
        })
        .await;
        match res {
            Ok(Ok((f, buf))) => {
                let n = buf.len() as u64;
                Some((Ok(Frame::data(Bytes::from(buf))), (Some(f), remaining - n)))
            }
            Ok(Err(e)) => Some((Err(e), (None, 0))),
            Err(e) => Some((Err(std::io::Error::other(e)), (None, 0))),
        }
    });
    StreamBody::new(s).boxed_unsync()
}
