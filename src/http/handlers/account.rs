//! The account page: change the password (the current one required; every
//! other session ends), list the account's sessions, end one, end them all.

use std::net::{IpAddr, Ipv6Addr};

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::{MAX_PASSWORD_BYTES, password, session};
use crate::clock;
use crate::error::AppError;
use crate::http::body::{self, Body, ok_json, with_cookies};
use crate::http::client_ip;
use crate::http::guard::SessionCtx;
use crate::secret::Secret;
use crate::state::AppState;

/// Shortest new password, as `pixbin user passwd` requires.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Deserialize)]
struct PasswordBody {
    current: String,
    new: String,
}

fn no_content() -> Response<Body> {
    let mut res = Response::new(body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

/// Why `new` is refused, if it is: too short or long, one repeated
/// character, the account name, or the current password again.
pub(crate) fn weakness(new: &str, current: &str, username: &str) -> Option<String> {
    let chars = new.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Some(format!(
            "the new password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if new.len() > MAX_PASSWORD_BYTES {
        return Some(format!(
            "the new password must be at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    let mut cs = new.chars();
    let first = cs.next();
    if cs.all(|c| Some(c) == first) {
        return Some("the new password is one character repeated".into());
    }
    if new.eq_ignore_ascii_case(username) {
        return Some("the new password is the account name".into());
    }
    if new == current {
        return Some("the new password is the current one".into());
    }
    None
}

/// `POST /api/account/password` `{"current", "new"}` → 204. Guesses of the
/// current password are throttled like logins (they are password checks).
pub async fn change_password(
    state: &AppState,
    ctx: SessionCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let client = client_ip::client_of(&req).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let body: PasswordBody =
        body::read_json(req.into_body(), 4 * 1024, state.config.body_idle_timeout).await?;
    if let Some(why) = weakness(&body.new, &body.current, &ctx.username) {
        return Err(AppError::BadRequest {
            code: "weak_password",
            message: why,
        });
    }
    let ok = crate::auth::check_password(
        &state.logins,
        state.store.clone(),
        client,
        &ctx.username,
        Secret::new(body.current),
    )
    .await?;
    if !ok {
        tracing::info!(client = %client, "wrong current password on a password change");
        return Err(AppError::Forbidden {
            code: "wrong_password",
            message: "the current password is wrong",
        });
    }
    let new = Secret::new(body.new);
    let hash = state
        .logins
        .hashing
        .run(move || Ok::<_, AppError>(password::hash(new.expose())))
        .await??;
    let (username, keep) = (ctx.username.clone(), ctx.token_hash);
    let changed = state
        .blocking(move |s| s.change_password(&username, hash, &keep))
        .await?;
    if !changed {
        return Err(AppError::Unauthorized);
    }
    tracing::info!("password changed; other sessions ended");
    Ok(no_content())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionJson {
    id: String,
    created_at: String,
    last_seen_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    current: bool,
}

fn show_ip(octets: [u8; 16]) -> String {
    let v6 = Ipv6Addr::from(octets);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    }
}

/// `GET /api/sessions`: the account's live sessions, newest first.
pub async fn sessions(state: &AppState, ctx: &SessionCtx) -> Result<Response<Body>, AppError> {
    let username = ctx.username.clone();
    let rows = state
        .blocking(move |s| s.sessions_of(&username, clock::now_ms()))
        .await?;
    let list: Vec<SessionJson> = rows
        .into_iter()
        .map(|(hash, r)| SessionJson {
            id: session::session_id(&hash),
            created_at: clock::rfc3339(r.created_at),
            last_seen_at: clock::rfc3339(r.last_seen_at.max(r.created_at)),
            ip: r.ip.map(show_ip),
            user_agent: r.user_agent,
            current: hash.ct_eq(&ctx.token_hash),
        })
        .collect();
    Ok(ok_json(&serde_json::json!({ "sessions": list })))
}

/// `DELETE /api/sessions/{id}`: ends one of the account's sessions (the
/// current one too, which logs this browser out). Another account's session
/// or an unknown handle is 404.
pub async fn end_session(
    state: &AppState,
    ctx: &SessionCtx,
    id: &str,
) -> Result<Response<Body>, AppError> {
    if !session::is_session_id(id) {
        return Err(AppError::NotFound);
    }
    let username = ctx.username.clone();
    let rows = state
        .blocking(move |s| s.sessions_of(&username, clock::now_ms()))
        .await?;
    let Some((hash, _)) = rows
        .into_iter()
        .find(|(h, _)| crate::secret::ct_eq(session::session_id(h).as_bytes(), id.as_bytes()))
    else {
        return Err(AppError::NotFound);
    };
    state.blocking(move |s| s.delete_session(&hash)).await?;
    let res = no_content();
    Ok(if hash.ct_eq(&ctx.token_hash) {
        with_cookies(res, session::clear_cookies(state.config.is_https()))
    } else {
        res
    })
}

/// `POST /api/logout-all`: ends every session of the account, this one too.
pub async fn logout_all(state: &AppState, ctx: &SessionCtx) -> Result<Response<Body>, AppError> {
    let username = ctx.username.clone();
    let n = state
        .blocking(move |s| s.end_sessions_of(&username, None))
        .await?;
    tracing::info!(sessions = n, "logged out everywhere");
    Ok(with_cookies(
        no_content(),
        session::clear_cookies(state.config.is_https()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_named() {
        assert!(weakness("short", "old-password", "admin").is_some());
        assert!(weakness("aaaaaaaaaaaa", "old-password", "admin").is_some());
        assert!(weakness("Administrator", "x", "administrator").is_some());
        assert!(weakness("old-password", "old-password", "admin").is_some());
        assert!(weakness(&"x1".repeat(600), "old", "admin").is_some());
        assert!(weakness("correct horse battery", "old-password", "admin").is_none());
    }
}
