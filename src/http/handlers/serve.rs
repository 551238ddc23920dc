//! Serving image bytes: `GET|HEAD /{uuid}.{ext}` (public, counts views; each
//! delivery of a view-limited image is paid for, see `view_limits`) and
//! `/api/proxy/{uuid}.{ext}` (session, no view).
//!
//! Unknown uuid, wrong extension and wrong or missing key are one identical 404,
//! so a private link cannot be probed. Every blob response carries `nosniff` and
//! `CSP: default-src 'none'; sandbox`, so even a polyglot file cannot run script
//! in our origin.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};
use uuid::Uuid;

use crate::analytics::{self, Audience};
use crate::clock;
use crate::error::AppError;
use crate::http::body::{Body, empty, full};
use crate::http::cache_policy::CachePolicy;
use crate::http::chunks::ChunkPool;
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
use crate::view_limits::Payer;

/// Files up to this size are read in one call and sent with the headers in one
/// write; larger ones are streamed in chunks of this size. 256 KiB rather than
/// 128 KiB halves the hops to the blocking pool per byte: 1 MiB GETs at 64
/// connections went from about 0.75x to 0.95x nginx (benches/load.sh). The
/// buffers come from `state.chunks`, which caps how many exist at once and
/// falls back to small reads beyond that (`http::chunks`).
pub const CHUNK: usize = 256 * 1024;

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
    if state.view_limits.exhausted(&img) {
        // Its last view is reserved, though the row may not say so yet.
        return Err(AppError::NotFound);
    }
    let who = audience(state, req);
    // Headers are not identity: on the public link everyone pays, whatever
    // the Referer; a preview User-Agent only draws on the small preview budget.
    let payer = match analytics::classify_agent(
        req.headers().get(header::USER_AGENT).map(|v| v.as_bytes()),
    ) {
        analytics::AgentClass::Unfurler(_) => Payer::Preview,
        _ => Payer::Viewer,
    };
    let private = img.record.private_key.is_some();
    let res = serve_blob(state, &img, req, private, Some(payer)).await?;
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
    serve_blob(state, &img, req, true, None).await
}

/// What the blocking read produced.
enum Loaded {
    /// The entire blob, to be cached.
    Cached(Bytes),
    /// The first chunk of the requested bytes, and the file positioned after
    /// it if more remain.
    Chunk(Bytes, Option<std::fs::File>),
}

/// Sends a blob with validators, conditional and range handling. `private`
/// responses send no Referer onwards; who may cache what is
/// `http::cache_policy` (nothing that can stop being served is shared).
/// With a `payer`, a response that carries bytes of a view-limited image is
/// paid for (`view_limits`) before they go out.
pub(crate) async fn serve_blob(
    state: &AppState,
    img: &StoredImage,
    req: &Request<Incoming>,
    private: bool,
    payer: Option<Payer>,
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
            CachePolicy::for_image(rec, private, clock::now_ms()).header_value(),
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
    if let Some(payer) = payer {
        // Every response with bytes, 200 or 206, from memory or streamed, is
        // paid for here; HEAD, 304, 412 and 416 carry none and cost nothing.
        state.view_limits.spend(img, payer).await?;
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
    // Opening and the first read share one hop to the blocking pool.
    let first = (!cacheable).then(|| state.chunks.take(count as usize));
    let loaded = tokio::task::spawn_blocking(move || -> std::io::Result<Loaded> {
        let mut f = store.blobs().open(&hash)?;
        let Some(mut buf) = first else {
            // Read the whole blob once (one read call, size known) so later
            // requests, ranges included, are served from memory.
            let mut buf = vec![0u8; len as usize];
            f.read_exact(&mut buf)?;
            return Ok(Loaded::Cached(Bytes::from(buf)));
        };
        if start > 0 {
            f.seek(SeekFrom::Start(start))?;
        }
        let n = buf.capacity().min(count as usize);
        buf.fill(&mut f, n)?;
        let rest = (n as u64) < count;
        Ok(Loaded::Chunk(buf.freeze(n), rest.then_some(f)))
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
        Loaded::Chunk(b, None) => full(b),
        Loaded::Chunk(b, Some(f)) => {
            let sent = b.len() as u64;
            file_stream(state.chunks.clone(), b, f, count - sent)
        }
    };
    Ok(builder.body(body).expect("valid response"))
}

/// Streams `first`, then `remaining` more bytes of an open file, each chunk
/// read on the blocking pool into a buffer from `pool`.
fn file_stream(pool: ChunkPool, first: Bytes, file: std::fs::File, remaining: u64) -> Body {
    let head = stream::once(async move { Ok::<_, std::io::Error>(Frame::data(first)) });
    let tail = stream::unfold((Some(file), remaining), move |(file, remaining)| {
        let pool = pool.clone();
        async move {
            let mut f = file?;
            if remaining == 0 {
                return None;
            }
            let mut buf = pool.take(usize::try_from(remaining).unwrap_or(usize::MAX));
            let n = buf
                .capacity()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let res = tokio::task::spawn_blocking(move || {
                buf.fill(&mut f, n)?;
                Ok::<_, std::io::Error>((f, buf.freeze(n)))
            })
            .await;
            match res {
                Ok(Ok((f, bytes))) => {
                    Some((Ok(Frame::data(bytes)), (Some(f), remaining - n as u64)))
                }
                // A blob shorter than its row says ends the response early;
                // the client sees a cut body, never wrong bytes.
                Ok(Err(e)) => Some((Err(e), (None, 0))),
                Err(e) => Some((Err(std::io::Error::other(e)), (None, 0))),
            }
        }
    });
    StreamBody::new(head.chain(tail)).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `data[skip..]` through `file_stream` after a first chunk of
    /// `data[..skip]`, the way `serve_blob` calls it.
    async fn stream_all(pool: &ChunkPool, data: &[u8], skip: usize) -> (Vec<u8>, Vec<usize>) {
        let mut tmp = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut tmp, data).unwrap();
        tmp.seek(SeekFrom::Start(skip as u64)).unwrap();
        let first = Bytes::copy_from_slice(&data[..skip]);
        let mut body = file_stream(pool.clone(), first, tmp, (data.len() - skip) as u64);
        let (mut out, mut sizes) = (Vec::new(), Vec::new());
        while let Some(frame) = body.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            sizes.push(chunk.len());
            out.extend_from_slice(&chunk);
        }
        (out, sizes)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn streams_exact_bytes_in_pooled_chunks_and_returns_them() {
        let pool = ChunkPool::new(4 * 65536, 65536);
        let data = pattern(300_000);
        let (out, sizes) = stream_all(&pool, &data, 1000).await;
        assert_eq!(out, data);
        assert_eq!(sizes[0], 1000);
        assert!(
            sizes[1..sizes.len() - 1].iter().all(|&n| n == 65536),
            "{sizes:?}"
        );
        assert_eq!(pool.available(), 4, "every buffer went back to the pool");
    }

    #[tokio::test]
    async fn an_exhausted_pool_falls_back_to_small_chunks_without_waiting() {
        let pool = ChunkPool::new(65536, 65536);
        let held = pool.take(1 << 20);
        assert_eq!(pool.available(), 0);
        let data = pattern(200_000);
        let (out, sizes) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream_all(&pool, &data, 10),
        )
        .await
        .expect("streaming never waits for a slot");
        assert_eq!(out, data);
        assert!(
            sizes[1..].iter().all(|&n| n <= crate::http::chunks::SMALL),
            "{sizes:?}"
        );
        drop(held);
        assert_eq!(pool.available(), 1);
    }

    #[tokio::test]
    async fn a_blob_shorter_than_its_row_ends_in_an_error_not_wrong_bytes() {
        let pool = ChunkPool::new(65536, 65536);
        let data = pattern(100_000);
        let mut tmp = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut tmp, &data).unwrap();
        tmp.seek(SeekFrom::Start(0)).unwrap();
        let mut body = file_stream(pool.clone(), Bytes::new(), tmp, 150_000);
        let mut got = 0;
        let mut failed = false;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => got += f.into_data().unwrap().len(),
                Err(_) => failed = true,
            }
        }
        assert!(failed, "the short read is reported");
        assert!(got < 150_000);
        assert_eq!(pool.available(), 1);
    }
}
