//! Serving thumbnails: `GET|HEAD /thumb/{uuid}.{ext}` (same access rules as the
//! original: public, or `?key=` for a private image) and
//! `/api/proxy/thumb/{uuid}.{ext}` (session, like the proxy route).
//!
//! `{ext}` is the original's extension, so a thumbnail URL is refused exactly
//! when the image URL would be; the response's Content-Type is the thumbnail's
//! own (JPEG or WebP). A thumbnail counts no view. An image without one yet
//! gets it made now, in the bounded worker pool, and the request waits at most
//! [`WAIT`]; if it cannot be made the answer is 404 (clients then show the
//! original), if the pool is saturated 503 with `Retry-After`.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};
use uuid::Uuid;

use crate::error::AppError;
use crate::http::body::Body;
use crate::http::guard::{SessionCtx, check_public_access, check_visible};
use crate::http::send_blob::serve_blob_as;
use crate::media::ImageType;
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::codec::BlobRecord;
use crate::store::integrity::BlobKind;
use crate::thumbnails::Outcome;

/// Longest a request waits for a thumbnail being made.
pub const WAIT: Duration = Duration::from_secs(15);

async fn lookup(
    state: &AppState,
    uuid: Uuid,
    kind: ImageType,
) -> Result<(StoredImage, Option<BlobRecord>), AppError> {
    let (img, blob) = state
        .blocking(move |s| s.image_with_thumbnail(uuid.as_bytes()))
        .await?
        .ok_or(AppError::NotFound)?;
    // Gone (expired, out of views) is judged per route: the public one
    // refuses it (`check_public_access`), a session still sees the tile of an
    // image the sweeper has not removed yet, like its original on the proxy.
    if img.record.kind != kind {
        return Err(AppError::NotFound);
    }
    Ok((img, blob))
}

/// `GET|HEAD /thumb/{uuid}.{ext}`
pub async fn public(
    state: &AppState,
    uuid: Uuid,
    kind: ImageType,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let (img, blob) = lookup(state, uuid, kind).await?;
    check_public_access(&img, req)?;
    // A view-limited link is consumed by views of the original; its preview
    // must not show the picture without spending one, so only a session sees it.
    if img.record.max_views.is_some() {
        return Err(AppError::NotFound);
    }
    let private = img.record.private_key.is_some();
    serve(state, img, blob, req, private).await
}

/// `GET|HEAD /api/proxy/thumb/{uuid}.{ext}` (session checked by dispatch).
pub async fn proxy(
    state: &AppState,
    ctx: &SessionCtx,
    (uuid, kind): (Uuid, ImageType),
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let (img, blob) = lookup(state, uuid, kind).await?;
    check_visible(ctx, &img)?;
    serve(state, img, blob, req, true).await
}

async fn serve(
    state: &AppState,
    img: StoredImage,
    blob: Option<BlobRecord>,
    req: &Request<Incoming>,
    private: bool,
) -> Result<Response<Body>, AppError> {
    let (hash, blob) = match (img.record.thumbnail, blob) {
        (Some(h), Some(b)) => (h, b),
        _ => match state.thumbs.wait(img.id, WAIT).await {
            Ok(Outcome::Ready(h)) => {
                let b = state
                    .blocking(move |s| s.blob(&h))
                    .await?
                    .ok_or(AppError::NotFound)?;
                (h, b)
            }
            Ok(Outcome::Failed | Outcome::Gone) => return Err(AppError::NotFound),
            Err(_busy) => {
                let mut res = crate::http::body::error_response(&AppError::Unavailable(
                    "the thumbnail is being made; try again shortly",
                ));
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return Ok(res);
            }
        },
    };
    // The thumbnail is served like an image whose blob is the thumbnail: its
    // own hash as ETag, its own type and length, the original's caching rules.
    let mut thumb = img;
    thumb.record.hash = hash;
    thumb.record.size = blob.size;
    // A blob row naming no known type is corrupt: no thumbnail (clients then
    // show the original), rather than bytes under a guessed type.
    thumb.record.kind = ImageType::from_code(blob.kind).ok_or(AppError::NotFound)?;
    // Never paid: the public thumbnail of a view-limited image is refused above.
    serve_blob_as(state, &thumb, req, private, None, BlobKind::Thumbnail).await
}
