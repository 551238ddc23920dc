//! The guards in front of handlers: the session of a request, its CSRF token,
//! upload credentials (an upload key or a session), the control token presented
//! from this machine, and the key rule of public image links. `dispatch` applies
//! them per route; a handler that checks its own credentials calls them here.

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};

use crate::auth::{session, upload_key};
use crate::clock;
use crate::error::AppError;
use crate::http::client_ip;
use crate::http::image_json::decode_key;
use crate::http::query;
use crate::secret::{self, KeyHash, Secret, TokenHash};
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::codec::Uploader;

/// Who is uploading, once known.
#[derive(Debug, Clone)]
pub struct UploadAuth {
    /// Recorded on the image.
    pub uploader: Uploader,
    /// The upload key's hash, to mark it used.
    pub key_hash: Option<KeyHash>,
    /// The key's upload policy (`None` for a logged-in user).
    pub policy: Option<crate::store::codec::KeyPolicy>,
}

/// A live session attached to a request.
#[derive(Debug)]
pub struct SessionCtx {
    /// The raw token from the cookie (to derive the CSRF token).
    pub token: Secret,
    /// Its stored hash.
    pub token_hash: TokenHash,
    /// The account.
    pub username: String,
    /// Unix ms.
    pub expires_at: i64,
}

/// The session of the request's cookie, if it names a live one.
pub async fn session_of(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<Option<SessionCtx>, AppError> {
    let Some(token) = session::token_from(req.headers(), state.config.is_https()) else {
        return Ok(None);
    };
    let hash = TokenHash::of(token.expose());
    let now = clock::now_ms();
    let rec = state.blocking(move |s| s.session(&hash, now)).await?;
    if rec
        .as_ref()
        .is_some_and(|r| now - r.last_seen_at >= session::TOUCH_EVERY_MS)
    {
        // Activity for the account page's session list, at most every few
        // minutes per session.
        state.blocking(move |s| s.touch_session(&hash, now)).await?;
    }
    Ok(rec.map(|r| SessionCtx {
        token,
        token_hash: hash,
        username: r.username,
        expires_at: r.expires_at,
    }))
}

/// Requires a session. An upload key alone gets 403: keys can upload, nothing else.
pub async fn require_session(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<SessionCtx, AppError> {
    match session_of(state, req).await? {
        Some(s) => Ok(s),
        None if upload_key::from_headers(req.headers()).is_some() => Err(AppError::Forbidden {
            code: "forbidden",
            message: "upload keys can only upload; log in for this",
        }),
        None => Err(AppError::Unauthorized),
    }
}

/// Requires the session's CSRF token in `X-CSRF-Token`.
pub fn require_csrf(ctx: &SessionCtx, req: &Request<Incoming>) -> Result<(), AppError> {
    let presented = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    if session::csrf_ok(ctx.token.expose(), presented) {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            code: "csrf",
            message: "missing or wrong X-CSRF-Token",
        })
    }
}

/// A session with a valid CSRF token: for every state-changing call.
pub async fn require_session_csrf(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<SessionCtx, AppError> {
    let ctx = require_session(state, req).await?;
    require_csrf(&ctx, req)?;
    Ok(ctx)
}

/// Resolves an upload key string to an uploader, or 401.
pub async fn upload_auth_from_key(state: &AppState, key: &str) -> Result<UploadAuth, AppError> {
    let key = upload_key::valid(key).map_err(|_| AppError::Unauthorized)?;
    let hash = upload_key::hash(key.expose());
    let rec = state.blocking(move |s| s.key_by_hash(&hash)).await?;
    // The lookup is by digest, so no secret is compared byte by byte.
    match rec {
        Some(k) => Ok(UploadAuth {
            uploader: Uploader::Key(k.id),
            key_hash: Some(hash),
            policy: Some(k.policy),
        }),
        None => Err(AppError::Unauthorized),
    }
}

/// Upload auth from headers: an upload key (`Authorization: Bearer` or
/// `X-Upload-Key`), else a session with its CSRF token. `None` means the body
/// may still carry a `key` field.
pub async fn upload_auth_from_headers(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<Option<UploadAuth>, AppError> {
    match upload_key::from_headers(req.headers()) {
        Some(Ok(key)) => return upload_auth_from_key(state, key.expose()).await.map(Some),
        Some(Err(_)) => return Err(AppError::Unauthorized),
        None => {}
    }
    if let Some(ctx) = session_of(state, req).await? {
        require_csrf(&ctx, req)?;
        return Ok(Some(UploadAuth {
            uploader: Uploader::User(ctx.username),
            key_hash: None,
            policy: None,
        }));
    }
    Ok(None)
}

/// The token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether the request carries this server's control token (`ops::control`)
/// from this machine: a loopback address, or the address the server listens on.
pub fn local_control(state: &AppState, req: &Request<Incoming>) -> bool {
    let Some(token) = bearer(req.headers()) else {
        return false;
    };
    let listen = state.config.listen.ip();
    let local = client_ip::client_of(req).is_some_and(|ip| ip.is_loopback() || ip == listen);
    local && state.control.accepts(token)
}

/// The rule of every public URL of an image (original and thumbnail): gone
/// (expired or out of views) and private-without-its-key are the same 404 as an
/// unknown image, so a link cannot be probed.
pub fn check_public_access(img: &StoredImage, req: &Request<Incoming>) -> Result<(), AppError> {
    check_link(img, req.uri().query())
}

/// [`check_public_access`] for a link's query string (`?key=…`), wherever
/// the link came from (a request, or the `url` an oEmbed client names).
pub fn check_link(img: &StoredImage, query_string: Option<&str>) -> Result<(), AppError> {
    if img.is_gone(clock::now_ms()) {
        return Err(AppError::NotFound);
    }
    if let Some(expected) = &img.record.private_key {
        let presented = query::param(query_string, "key")
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
