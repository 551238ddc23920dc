//! Serving image bytes: `GET|HEAD /{uuid}.{ext}` (public, counts views; each
//! delivery of a view-limited image is paid for, see `view_limits`) and
//! `/api/proxy/{uuid}.{ext}` (session, no view; an account's own images, any
//! for an admin, `guard::check_visible`).
//!
//! With `--s3-redirect`, a public GET of an image that never stops being
//! served (no key, no expiry, no view limit) answers `302` to a presigned URL
//! of its object, after the same checks and with the view counted, so the
//! bucket (or its CDN) carries the bytes. Everything else keeps serving
//! through pixbin exactly as without it: a presigned URL works for anyone
//! who has it until it expires, so it would outlive a key's rotation, an
//! expiry or a view limit by up to its lifetime.
//!
//! Unknown uuid, wrong extension and wrong or missing key are one identical 404,
//! so a private link cannot be probed. Every blob response carries `nosniff` and
//! `CSP: default-src 'none'; sandbox`, so even a polyglot file cannot run script
//! in our origin.

use hyper::body::Incoming;
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};
use uuid::Uuid;

use crate::analytics::{self, Audience};
use crate::clock;
use crate::error::AppError;
use crate::http::body::{Body, empty};
use crate::http::cache_policy::CachePolicy;
use crate::http::client_ip;
use crate::http::guard::{SessionCtx, check_public_access, check_visible};
use crate::http::send_blob::serve_blob_as;
use crate::media::ImageType;
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::integrity::BlobKind;
use crate::view_limits::Payer;

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
    if img.record.kind != kind {
        return Err(AppError::NotFound);
    }
    Ok(img)
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
    if let Some(res) = redirect_to_store(state, &img, req, private)? {
        state
            .views
            .observe(who, img.id, req.headers(), client_ip::client_of(req));
        return Ok(res);
    }
    let res = serve_blob(state, &img, req, private, Some(payer)).await?;
    if analytics::counted_status(res.status()) {
        // Views, and bots and unfurlers (counted apart), go to the batching
        // writer; this never waits.
        state
            .views
            .observe(who, img.id, req.headers(), client_ip::client_of(req));
    }
    Ok(res)
}

/// The `302` of `--s3-redirect`, when this request may have one: a GET
/// without validators (HEAD, `304` and `412` cost nothing here) of an image
/// whose responses any cache may keep for good, whose blob is not known to
/// be damaged, on a backend that can sign. `None` serves as usual.
fn redirect_to_store(
    state: &AppState,
    img: &StoredImage,
    req: &Request<Incoming>,
    private: bool,
) -> Result<Option<Response<Body>>, AppError> {
    let Some(ttl) = state.config.s3_redirect else {
        return Ok(None);
    };
    let h = req.headers();
    if req.method() != Method::GET
        || h.contains_key(header::IF_NONE_MATCH)
        || h.contains_key(header::IF_MODIFIED_SINCE)
        || CachePolicy::for_image(&img.record, private, clock::now_ms())
            != CachePolicy::PublicForever
    {
        return Ok(None);
    }
    if state.store.integrity().is_damaged(&img.record.hash) {
        return Err(AppError::BlobDamaged);
    }
    let url = match state.store.blobs().presign(&img.record.hash, ttl) {
        Ok(Some(url)) => url,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "could not presign a redirect; serving the bytes");
            return Ok(None);
        }
    };
    // A browser may reuse the redirect, but never past half the URL's life
    // (clock skew between us, the client and the store eats the rest).
    let keep = ttl.as_secs() / 2;
    let res = Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, url)
        .header(header::CACHE_CONTROL, format!("private, max-age={keep}"))
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_LENGTH, 0)
        .body(empty())
        .map_err(|_| AppError::Internal("a presigned URL is not a header value".into()))?;
    Ok(Some(res))
}

/// `GET|HEAD /api/proxy/{uuid}.{ext}` (session checked by dispatch).
pub async fn proxy(
    state: &AppState,
    ctx: &SessionCtx,
    (uuid, kind): (Uuid, ImageType),
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let img = lookup(state, uuid, kind).await?;
    check_visible(ctx, &img)?;
    serve_blob(state, &img, req, true, None).await
}

/// Sends an image's own bytes (see [`serve_blob_as`]).
pub(crate) async fn serve_blob(
    state: &AppState,
    img: &StoredImage,
    req: &Request<Incoming>,
    private: bool,
    payer: Option<Payer>,
) -> Result<Response<Body>, AppError> {
    serve_blob_as(state, img, req, private, payer, BlobKind::Original).await
}
