//! The guards in front of handlers: the session of a request (only while its
//! account is enabled), its CSRF token, the admin role, upload credentials (an
//! upload key or a session), the control token presented from this machine,
//! the key rule of public image links, and ownership: which images, keys and
//! statistics a session may see. `dispatch` applies them per route; a handler
//! that checks its own credentials, or names an object, calls them here.
//!
//! Ownership answers one way for everything a session may not see: the same
//! 404 as a missing object, so another account's images cannot be probed.

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};

use crate::auth::{session, upload_key};
use crate::clock;
use crate::error::{AppError, OptionExt};
use crate::http::client_ip;
use crate::http::image_json::decode_key;
use crate::http::query;
use crate::http::router::ImageRef;
use crate::secret::{self, KeyHash, Secret, TokenHash};
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::codec::{Role, Uploader};

/// Who is uploading, once known.
#[derive(Debug, Clone)]
pub struct UploadAuth {
    /// Recorded on the image.
    pub uploader: Uploader,
    /// The account the image will belong to.
    pub owner: String,
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
    /// The account's role.
    pub role: Role,
}

impl SessionCtx {
    /// Whether the account is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whose objects a listing shows: `None` (everyone's) for an admin, the
    /// account's own otherwise.
    pub fn scope(&self) -> Option<&str> {
        (!self.is_admin()).then_some(self.username.as_str())
    }

    /// Whether the session may see and manage an object of `owner`.
    pub fn may_see(&self, owner: &str) -> bool {
        self.is_admin() || self.username == owner
    }
}

/// The image `r` names, when `ctx` may see it. Unknown, and another
/// account's, are the same 404; a malformed reference is a 400 whoever asks.
pub async fn visible_image(
    state: &AppState,
    ctx: &SessionCtx,
    r: ImageRef,
) -> Result<StoredImage, AppError> {
    let img = state
        .blocking(move |s| match r {
            ImageRef::Id(id) => s.image(id),
            ImageRef::Uuid(u) => s.image_by_uuid(u.as_bytes()),
            ImageRef::Malformed => Ok(None),
        })
        .await?;
    if r == ImageRef::Malformed {
        return Err(AppError::bad_request(
            "image id must be a positive number or a uuid",
        ));
    }
    let img = img.or_not_found()?;
    check_visible(ctx, &img)?;
    Ok(img)
}

/// The same 404 as a missing image unless `ctx` may see `img`.
pub fn check_visible(ctx: &SessionCtx, img: &StoredImage) -> Result<(), AppError> {
    if ctx.may_see(&img.record.owner) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Whose objects a listing (images, keys, statistics) shows, from its
/// `user` parameter: absent is everyone's for an admin and the account's
/// own otherwise; `*` is everyone's and a name is that account's, for an
/// admin only (anyone else asking for another account gets 403, whether it
/// exists or not). `None` means everyone's.
pub fn scope_of(ctx: &SessionCtx, query: Option<&str>) -> Result<Option<String>, AppError> {
    let asked = query::param(query, "user")
        .map_err(|_| AppError::bad_request("malformed user parameter"))?
        .filter(|u| !u.is_empty());
    match asked.as_deref() {
        None => Ok(ctx.scope().map(str::to_string)),
        Some(u) if u == ctx.username => Ok(Some(u.to_string())),
        Some(u) => {
            admin_only(ctx)?;
            Ok((u != "*").then(|| u.to_string()))
        }
    }
}

/// Requires a session of an admin; any other session gets 403.
pub async fn require_admin(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<SessionCtx, AppError> {
    let ctx = require_session(state, req).await?;
    admin_only(&ctx)?;
    Ok(ctx)
}

/// 403 unless the session is an admin's.
pub fn admin_only(ctx: &SessionCtx) -> Result<(), AppError> {
    if ctx.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            code: "admin_only",
            message: "only an admin may do this",
        })
    }
}

/// The control token from this machine, or else an admin's session: for
/// instance-wide operations (backup, integrity). A bearer token that is not
/// the control token is 401.
pub async fn admin_or_control(state: &AppState, req: &Request<Incoming>) -> Result<(), AppError> {
    if bearer(req.headers()).is_some() {
        return if local_control(state, req) {
            Ok(())
        } else {
            Err(AppError::Unauthorized)
        };
    }
    match session_of(state, req).await? {
        Some(ctx) => admin_only(&ctx),
        None => Err(AppError::Unauthorized),
    }
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
    // The account is read with the session: a disabled or deleted account's
    // sessions stop at its next request.
    let rec = state
        .blocking(move |s| s.session_account(&hash, now))
        .await?;
    if rec
        .as_ref()
        .is_some_and(|(r, _)| now - r.last_seen_at >= session::TOUCH_EVERY_MS)
    {
        // Activity for the account page's session list, at most every few
        // minutes per session.
        state.blocking(move |s| s.touch_session(&hash, now)).await?;
    }
    Ok(rec.map(|(r, u)| SessionCtx {
        token,
        token_hash: hash,
        username: r.username,
        expires_at: r.expires_at,
        role: u.role,
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
    // Refused like an unknown key while its account is disabled.
    let rec = state.blocking(move |s| s.live_key(&hash)).await?;
    // The lookup is by digest, so no secret is compared byte by byte.
    match rec {
        Some(k) => Ok(UploadAuth {
            uploader: Uploader::Key(k.id),
            owner: k.owner,
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
            owner: ctx.username.clone(),
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
