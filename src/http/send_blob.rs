//! Sending a blob's bytes: validators, conditional and range requests, the
//! in-memory cache, verified reads and streaming in pooled chunks. Used for
//! originals (`handlers::serve`) and thumbnails (`handlers::thumbs`) alike.

use std::io::Read;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};

use crate::clock;
use crate::error::AppError;
use crate::http::body::{Body, empty, full};
use crate::http::cache_policy::CachePolicy;
use crate::http::chunks::ChunkPool;
use crate::http::conditional::{self, Outcome};
use crate::http::range::{self, RangeResult};
use crate::http::verify::{Bad, StreamCheck, Subject};
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::blobs::hex;
use crate::store::integrity::BlobKind;
use crate::view_limits::Payer;

/// An open range of a blob, from the store's backend.
type BlobReader = Box<dyn Read + Send>;

/// What the blocking read produced.
enum Loaded {
    /// The entire blob, verified, to be cached.
    Cached(Bytes),
    /// The first chunk of the requested bytes, and the range reader
    /// positioned after it if more remain, with the running hash when the
    /// whole blob is sent.
    Chunk(Bytes, Option<(BlobReader, Option<Box<StreamCheck>>)>),
    /// Wrong length or hash, or missing: reported, nothing may be sent.
    Damaged,
    /// The bytes were a local copy's, found wrong and dropped: read again.
    LocalCopy,
    /// The file went with its row (deleted under this request).
    Gone,
    /// The backend did not answer (an object store out of reach): no
    /// judgement on the blob.
    Unavailable,
}

impl From<Bad> for Loaded {
    fn from(bad: Bad) -> Loaded {
        match bad {
            Bad::Damaged => Loaded::Damaged,
            Bad::LocalCopy => Loaded::LocalCopy,
        }
    }
}

/// Sends a blob with validators, conditional and range handling. `private`
/// responses send no Referer onwards; who may cache what is
/// `http::cache_policy` (nothing that can stop being served is shared).
/// What is read is verified (`http::verify`); a blob marked damaged answers
/// `blob_damaged` at once. With a `payer`, a response that carries bytes of a
/// view-limited image is paid for (`view_limits`) before they go out, and
/// only once they passed the checks: a damaged blob costs no view.
pub async fn serve_blob_as(
    state: &AppState,
    img: &StoredImage,
    req: &Request<Incoming>,
    private: bool,
    payer: Option<Payer>,
    blob_kind: BlobKind,
) -> Result<Response<Body>, AppError> {
    let rec = &img.record;
    if state.store.integrity().is_damaged(&rec.hash) {
        return Err(AppError::BlobDamaged);
    }
    let kind = rec.kind;
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
    // Every response with bytes, 200 or 206, from memory or streamed, is paid
    // for before they go out; HEAD, 304, 412 and 416 carry none and cost
    // nothing, and neither does a blob found damaged.
    let pay = || async {
        if let Some(payer) = payer {
            state.view_limits.spend(img, payer).await?;
        }
        Ok::<_, AppError>(())
    };

    let hash = rec.hash;
    // Small hot blobs come from memory. The row was checked above on this very
    // request, so a deleted, expired or newly private image never gets here.
    if let Some(bytes) = state.blob_cache.get(&hash) {
        pay().await?;
        let body = bytes.slice(start as usize..(start + count) as usize);
        return Ok(builder.body(full(body)).expect("valid response"));
    }
    let cacheable = state.blob_cache.wants(len);
    let store = state.store.clone();
    // Opening and the first read share one hop to the blocking pool.
    let streamed = (!cacheable).then(|| state.chunks.clone());
    let subject = Subject {
        store: state.store.clone(),
        hash,
        kind: blob_kind,
        image: img.id,
    };
    let whole = start == 0 && count == len;
    let loaded = tokio::task::spawn_blocking(move || -> Loaded {
        let read = || -> std::io::Result<Loaded> {
            // Exactly the bytes this response sends, from the backend; the
            // whole blob when it is to be cached.
            let (from, want) = if streamed.is_some() {
                (start, count)
            } else {
                (0, len)
            };
            let opened = store.blobs().read_range(&hash, from, want)?;
            let (meta, mut f) = (opened.meta, opened.reader);
            // Before any header: a blob of the wrong length is never served.
            if let Err(bad) = subject.check_length(&meta, len) {
                return Ok(bad.into());
            }
            let Some(pool) = &streamed else {
                // Read the whole blob once (one read call, size known) so later
                // requests, ranges included, are served from memory; hashed
                // once here, so only verified bytes ever enter the cache.
                let mut buf = vec![0u8; len as usize];
                f.read_exact(&mut buf)?;
                if let Err(bad) = subject.check_bytes(&buf) {
                    return Ok(bad.into());
                }
                return Ok(Loaded::Cached(Bytes::from(buf)));
            };
            let mut buf = pool.take(count as usize);
            let n = buf.capacity().min(count as usize);
            buf.fill(&mut f, n)?;
            let rest = (n as u64) < count;
            let bytes = buf.freeze(n);
            if !whole {
                return Ok(Loaded::Chunk(bytes, rest.then_some((f, None))));
            }
            if !rest {
                if let Err(bad) = subject.check_bytes(&bytes) {
                    return Ok(bad.into());
                }
                return Ok(Loaded::Chunk(bytes, None));
            }
            // Boxed: the hasher state is about 2 KiB and moves with every chunk.
            let check = StreamCheck::new(subject.clone(), meta, &bytes).map(Box::new);
            Ok(Loaded::Chunk(bytes, Some((f, check))))
        };
        let judged = |r: std::io::Result<Loaded>| match r {
            Ok(l) => l,
            Err(e) if crate::store::blobs::is_unavailable(&e) => Loaded::Unavailable,
            Err(e) => subject.io_failed(&e).map_or(Loaded::Gone, Loaded::from),
        };
        // A wrong local copy is gone now: once more, from the store itself.
        match judged(read()) {
            Loaded::LocalCopy => judged(read()),
            l => l,
        }
    })
    .await?;
    let body = match loaded {
        // A second local copy found wrong within one request: a cache that
        // keeps failing its checks is no reason to mark the blob.
        Loaded::LocalCopy => {
            return Err(AppError::Unavailable(
                "the image could not be read, try again shortly",
            ));
        }
        Loaded::Damaged => return Err(AppError::BlobDamaged),
        Loaded::Unavailable => {
            return Err(AppError::Unavailable(
                "the image storage is unreachable, try again shortly",
            ));
        }
        // Deleted under this request: as if it did not exist.
        Loaded::Gone => return Err(AppError::NotFound),
        Loaded::Cached(b) => {
            state.blob_cache.insert(hash, b.clone());
            full(b.slice(start as usize..(start + count) as usize))
        }
        Loaded::Chunk(b, None) => full(b),
        Loaded::Chunk(b, Some((f, check))) => {
            let sent = b.len() as u64;
            file_stream(state.chunks.clone(), b, f, count - sent, check)
        }
    };
    // The body is not sent (nor the rest of a stream read) before this.
    pay().await?;
    Ok(builder.body(body).expect("valid response"))
}

/// Streams `first`, then `remaining` more bytes of an open range, each chunk
/// read on the blocking pool into a buffer from `pool`. With a `check`, every
/// chunk is hashed as it is read and the last one is sent only if the digest
/// is right; otherwise the body ends in an error and the client never sees a
/// complete response.
fn file_stream(
    pool: ChunkPool,
    first: Bytes,
    file: BlobReader,
    remaining: u64,
    check: Option<Box<StreamCheck>>,
) -> Body {
    let head = stream::once(async move { Ok::<_, std::io::Error>(Frame::data(first)) });
    let tail = stream::unfold(
        (Some((file, check)), remaining),
        move |(open, remaining)| {
            let pool = pool.clone();
            async move {
                let (mut f, mut check) = open?;
                if remaining == 0 {
                    return None;
                }
                let mut buf = pool.take(usize::try_from(remaining).unwrap_or(usize::MAX));
                let n = buf
                    .capacity()
                    .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let last = n as u64 == remaining;
                let res = tokio::task::spawn_blocking(move || {
                    buf.fill(&mut f, n)?;
                    let bytes = buf.freeze(n);
                    if let Some(c) = check.as_mut() {
                        c.update(&bytes);
                        if last && !c.finish() {
                            return Err(std::io::Error::other("blob damaged: hash mismatch"));
                        }
                    }
                    Ok::<_, std::io::Error>((f, check, bytes))
                })
                .await;
                match res {
                    Ok(Ok((f, check, bytes))) => Some((
                        Ok(Frame::data(bytes)),
                        (Some((f, check)), remaining - n as u64),
                    )),
                    // A blob shorter than its row says, or whose bytes are not
                    // its hash, ends the response early; the client sees a cut
                    // body, never a complete wrong one.
                    Ok(Err(e)) => Some((Err(e), (None, 0))),
                    Err(e) => Some((Err(std::io::Error::other(e)), (None, 0))),
                }
            }
        },
    );
    StreamBody::new(head.chain(tail)).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `data[skip..]` through `file_stream` after a first chunk of
    /// `data[..skip]`, the way `serve_blob` calls it.
    async fn stream_all(pool: &ChunkPool, data: &[u8], skip: usize) -> (Vec<u8>, Vec<usize>) {
        let rest: BlobReader = Box::new(std::io::Cursor::new(data[skip..].to_vec()));
        let first = Bytes::copy_from_slice(&data[..skip]);
        let mut body = file_stream(pool.clone(), first, rest, (data.len() - skip) as u64, None);
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
        let short: BlobReader = Box::new(std::io::Cursor::new(data));
        let mut body = file_stream(pool.clone(), Bytes::new(), short, 150_000, None);
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
