//! Login, refresh, logout and session info.

use std::net::IpAddr;

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};

use crate::auth::session;
use crate::clock;
use crate::error::AppError;
use crate::http::body::{self, Body, ok_json, with_cookies};
use crate::http::client_ip;
use crate::http::guard::SessionCtx;
use crate::secret::{self, Secret, TokenHash};
use crate::state::AppState;
use crate::store::codec::{Role, SessionRecord};

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

/// The session JSON (login, refresh and `GET /api/session`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionJson<'a> {
    username: &'a str,
    /// `admin` or `user`.
    role: &'static str,
    csrf_token: String,
    expires_at: String,
    base_url: &'a str,
    version: &'static str,
}

fn session_json(
    state: &AppState,
    (username, role): (&str, Role),
    token: &str,
    expires_at: i64,
) -> Response<Body> {
    ok_json(&SessionJson {
        username,
        role: role.as_str(),
        csrf_token: session::csrf_for(token),
        expires_at: clock::rfc3339(expires_at),
        base_url: state.config.base_url(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Where a session was started from, for the account page's list.
fn client_facts(req: &Request<Incoming>) -> (Option<[u8; 16]>, Option<String>) {
    let ip = client_ip::client_of(req).map(|ip| match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    });
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|s| !s.is_empty());
    (ip, agent)
}

/// Starts a new session for `username`, replacing `old` (its hash) if given.
async fn start_session(
    state: &AppState,
    username: String,
    old: Option<TokenHash>,
    (ip, user_agent): (Option<[u8; 16]>, Option<String>),
) -> Result<Response<Body>, AppError> {
    let token = secret::random_token();
    let now = clock::now_ms();
    let ttl = state.config.session_ttl.as_millis() as i64;
    let rec = SessionRecord {
        username: username.clone(),
        created_at: now,
        expires_at: now + ttl,
        last_seen_at: now,
        ip,
        user_agent,
    };
    let hash = TokenHash::of(token.expose());
    let rec2 = rec.clone();
    let name = username.clone();
    let role = state
        .blocking(move |s| {
            s.rotate_session(old.as_ref(), &hash, &rec2)?;
            s.user(&name)
        })
        .await?
        .map(|u| u.role)
        .ok_or(AppError::Unauthorized)?;
    let res = session_json(state, (&username, role), token.expose(), rec.expires_at);
    Ok(with_cookies(
        res,
        session::set_cookies(token.expose(), ttl / 1000, state.config.is_https()),
    ))
}

/// `POST /api/login` `{"username","password"}`. Always issues a fresh token
/// (never adopts a cookie the client brought: session fixation, WSTG-SESS-03).
pub async fn login(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, AppError> {
    let https = state.config.is_https();
    let previous = session::token_from(req.headers(), https).map(|t| TokenHash::of(t.expose()));
    let client = client_ip::client_of(&req).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let facts = client_facts(&req);
    let body: LoginBody =
        body::read_json(req.into_body(), 8 * 1024, state.config.body_idle_timeout).await?;
    // Throttled before the password is checked: during a lockout the right
    // password is refused too, so guessing gains nothing (SECURITY.md A30).
    let ok = crate::auth::check_password(
        &state.logins,
        state.store.clone(),
        client,
        &body.username,
        Secret::new(body.password),
    )
    .await?;
    if !ok {
        tracing::info!(client = %client, "failed login");
        return Err(AppError::InvalidCredentials);
    }
    start_session(state, body.username, previous, facts).await
}

/// `POST /api/refresh`: rotates the session token and its CSRF token.
pub async fn refresh(
    state: &AppState,
    ctx: SessionCtx,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    start_session(state, ctx.username, Some(ctx.token_hash), client_facts(req)).await
}

/// `POST /api/logout`: kills the session server-side and clears the cookies.
pub async fn logout(state: &AppState, ctx: SessionCtx) -> Result<Response<Body>, AppError> {
    let hash = ctx.token_hash;
    state.blocking(move |s| s.delete_session(&hash)).await?;
    Ok(with_cookies(
        ok_json(&serde_json::json!({ "ok": true })),
        session::clear_cookies(state.config.is_https()),
    ))
}

/// `GET /api/session`
pub fn info(state: &AppState, ctx: &SessionCtx) -> Response<Body> {
    session_json(
        state,
        (&ctx.username, ctx.role),
        ctx.token.expose(),
        ctx.expires_at,
    )
}
