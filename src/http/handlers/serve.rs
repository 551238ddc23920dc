//! Serving image bytes: `GET|HEAD /{uuid}.{ext}` (public, counts views; each
//! delivery of a view-limited image is paid for, see `view_limits`) and
//! `/api/proxy/{uuid}.{ext}` (session, no view; an account's own images, any
//! for an admin, `guard::check_visible`).
//!
//! Unknown uuid, wrong extension and wrong or missing key are one identical 404,
//! so a private link cannot be probed. Every blob response carries `nosniff` and
//! `CSP: default-src 'none'; sandbox`, so even a polyglot file cannot run script
//! in our origin.

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response};
use uuid::Uuid;

use crate::analytics::{self, Audience};
use crate::error::AppError;
use crate::http::body::Body;
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
