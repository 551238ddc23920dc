//! Creating an account without an admin at hand: with an invite link, or by
//! anyone when registration is open; and setting a password with a one-time
//! reset link. Each has a JSON endpoint and a small server-rendered page (the
//! link an admin hands out opens the page; its form posts back to it).
//!
//! An unknown, expired, used-up or revoked link gets one answer, so a link
//! cannot be probed. The token travels only in `?token=`, which the access log
//! redacts. Every attempt to use a link or to register counts against the
//! client address like a failed login (`--login-attempts` per window, then
//! 429), so neither open registration nor guessing links can be done in bulk.

use std::net::IpAddr;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use crate::clock;
use crate::config::Registration;
use crate::error::AppError;
use crate::http::body::{self, Body, json, ok_json};
use crate::http::client_ip;
use crate::http::handlers::users::{check_new_account, hash_password};
use crate::http::pages;
use crate::http::query;
use crate::secret::TokenHash;
use crate::state::AppState;
use crate::store::codec::{Grant, Role, UserRecord};
use crate::store::invites::LinkRefusal;

fn invalid_link() -> AppError {
    AppError::BadRequest {
        code: "invalid_link",
        message: "this link is not valid: unknown, expired or already used".into(),
    }
}

fn closed() -> AppError {
    AppError::Forbidden {
        code: "registration_closed",
        message: "registration is closed on this server",
    }
}

/// Counts an attempt to register or use a link against the client address
/// (the login limiter's: a later successful login clears it) and against
/// `what` (the name asked for, or the link), never against one key shared by
/// everyone, which a stranger could fill to lock registration for all; 429
/// past it.
fn throttle(state: &AppState, client: IpAddr, what: &str) -> Result<(), AppError> {
    state
        .logins
        .reserve(client, what, Instant::now())
        .map_err(|t| AppError::RateLimited {
            retry_after: t.retry_after_secs,
        })
}

fn client(req: &Request<Incoming>) -> IpAddr {
    client_ip::client_of(req).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Creates `name` with `password`, by an invite token or open registration.
async fn register_with(
    state: &AppState,
    (client, token): (IpAddr, Option<&str>),
    name: &str,
    password: String,
) -> Result<(), AppError> {
    let mode = state.config.registration;
    if mode == Registration::Closed {
        return Err(closed());
    }
    throttle(state, client, name)?;
    if token.is_none() && mode != Registration::Open {
        return Err(AppError::Forbidden {
            code: "invite_required",
            message: "an invite link is needed to create an account here",
        });
    }
    check_new_account(name, &password)?;
    let hash = hash_password(state, password).await?;
    let now = clock::now_ms();
    let quotas = (
        state.config.new_account_quota(Role::Admin),
        state.config.new_account_quota(Role::User),
    );
    // The invite says the role; the role says the quotas.
    let make = move |role| {
        let q = if role == Role::Admin {
            quotas.0
        } else {
            quotas.1
        };
        UserRecord::new(hash, role, q, now)
    };
    let name = name.to_string();
    match token {
        Some(t) => {
            let th = TokenHash::of(t);
            state
                .blocking(move |s| s.redeem_invite(&th, now, &name, make))
                .await?
                .map_err(|LinkRefusal::Invalid| invalid_link())?;
        }
        None => {
            let rec = make(Role::User);
            state.blocking(move |s| s.create_user(&name, &rec)).await?
        }
    }
    tracing::info!(invited = token.is_some(), "account registered");
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    name: String,
    password: String,
    #[serde(default)]
    invite: Option<String>,
}

/// `POST /api/register` `{"name", "password", "invite"?}` -> 201
/// `{"name", "role"}`; then log in as usual.
pub async fn register(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let client = client(&req);
    let b: RegisterBody =
        body::read_json(req.into_body(), 4 * 1024, state.config.body_idle_timeout).await?;
    register_with(state, (client, b.invite.as_deref()), &b.name, b.password).await?;
    let n = b.name.clone();
    let role = state
        .blocking(move |s| s.user(&n))
        .await?
        .map(|u| u.role)
        .unwrap_or_default();
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "name": b.name, "role": role.as_str() }),
    ))
}

/// Sets the password of the account a reset token names; returns its name.
async fn reset_with(
    state: &AppState,
    (client, token): (IpAddr, &str),
    password: String,
) -> Result<String, AppError> {
    // The link's digest, so the key names no secret.
    let th = TokenHash::of(token);
    throttle(state, client, &crate::store::blobs::hex(th.as_slice()))?;
    let now = clock::now_ms();
    // Judge the password against the account it will belong to.
    let Some(Grant::PasswordReset { username }) = state
        .blocking(move |s| s.link(&th, now))
        .await?
        .map(|l| l.grant)
    else {
        return Err(invalid_link());
    };
    check_new_account(&username, &password)?;
    let hash = hash_password(state, password).await?;
    let th = TokenHash::of(token);
    let name = state
        .blocking(move |s| s.redeem_reset(&th, now, hash))
        .await?
        .map_err(|LinkRefusal::Invalid| invalid_link())?;
    tracing::info!("password set with a reset link; the account's sessions ended");
    Ok(name)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    password: String,
}

/// `POST /api/password-reset` `{"token", "password"}` -> `{"name"}`.
pub async fn redeem_reset(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let client = client(&req);
    let b: ResetBody =
        body::read_json(req.into_body(), 4 * 1024, state.config.body_idle_timeout).await?;
    let name = reset_with(state, (client, &b.token), b.password).await?;
    Ok(ok_json(&serde_json::json!({ "name": name })))
}

/// The token of the page's URL, if it has one of a plausible length.
fn page_token(req: &Request<Incoming>) -> Option<String> {
    query::param(req.uri().query(), "token")
        .ok()
        .flatten()
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .map(|t| t.into_owned())
}

/// The fields of a form post (`application/x-www-form-urlencoded`).
async fn form(state: &AppState, req: Request<Incoming>) -> Result<(String, String), AppError> {
    let raw = body::read_limited(req.into_body(), 4 * 1024, state.config.body_idle_timeout).await?;
    let raw = String::from_utf8(raw.to_vec()).map_err(|_| AppError::bad_request("not a form"))?;
    // Form encoding writes spaces as `+`.
    let raw = raw.replace('+', "%20");
    let field = |k: &str| -> String {
        query::param(Some(&raw), k)
            .ok()
            .flatten()
            .map(|v| v.into_owned())
            .unwrap_or_default()
    };
    Ok((field("name"), field("password")))
}

fn form_page(title: &str, intro: &str, action: &str, with_name: bool) -> Response<Body> {
    let name = if with_name {
        "<p><label>Account name<br><input name=\"name\" required maxlength=\"64\" \
         pattern=\"[A-Za-z0-9_\\-][A-Za-z0-9._\\-]*\" autocomplete=\"username\"></label></p>"
    } else {
        ""
    };
    let body = format!(
        "<p>{intro}</p><form method=\"post\" action=\"{action}\">{name}\
         <p><label>Password (8 characters or more)<br><input name=\"password\" type=\"password\" \
         required minlength=\"8\" autocomplete=\"new-password\"></label></p>\
         <button type=\"submit\">{title}</button></form>",
        intro = pages::escape(intro),
        action = pages::escape(action),
    );
    pages::page(StatusCode::OK, title, &body)
}

fn message_page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    pages::page(status, title, &format!("<p>{}</p>", pages::escape(text)))
}

/// The page's answer to a refusal: its message, on a page.
fn refusal_page(e: &AppError) -> Response<Body> {
    let (status, _) = e.status_and_code();
    message_page(status, "Not done", &e.to_string())
}

/// The two pages a link opens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkPage {
    /// `/invite`: pick a name and a password.
    Invite,
    /// `/reset-password`: pick a new password.
    Reset,
}

impl LinkPage {
    fn path(self) -> &'static str {
        match self {
            LinkPage::Invite => "/invite",
            LinkPage::Reset => "/reset-password",
        }
    }

    /// Whether a link granting `g` opens this page.
    fn opens(self, g: &Grant) -> bool {
        matches!(
            (self, g),
            (LinkPage::Invite, Grant::Invite { .. })
                | (LinkPage::Reset, Grant::PasswordReset { .. })
        )
    }

    /// Does what the form asks; the account's name.
    async fn submit(
        self,
        state: &AppState,
        (client, token): (IpAddr, &str),
        name: String,
        pw: String,
    ) -> Result<String, AppError> {
        match self {
            LinkPage::Invite => register_with(state, (client, Some(token)), &name, pw)
                .await
                .map(|()| name),
            LinkPage::Reset => reset_with(state, (client, token), pw).await,
        }
    }
}

/// `GET|POST /invite?token=`: pick a name and a password with an invite.
pub async fn invite_page(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    link_page(state, req, LinkPage::Invite).await
}

/// `GET|POST /reset-password?token=`: set a new password with a reset link.
pub async fn reset_page(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    link_page(state, req, LinkPage::Reset).await
}

/// A link's page: the form for a usable link (GET), what the form asked
/// done (POST), or the one refusal for any link that is not.
async fn link_page(
    state: &AppState,
    req: Request<Incoming>,
    page: LinkPage,
) -> Result<Response<Body>, AppError> {
    let Some(token) = page_token(&req) else {
        return Ok(refusal_page(&invalid_link()));
    };
    if page == LinkPage::Invite && state.config.registration == Registration::Closed {
        return Ok(refusal_page(&closed()));
    }
    if req.method() == hyper::Method::POST {
        let client = client(&req);
        let (name, pw) = form(state, req).await?;
        return match page.submit(state, (client, &token), name, pw).await {
            Ok(name) => Ok(match page {
                LinkPage::Invite => message_page(
                    StatusCode::CREATED,
                    "Account created",
                    &format!("The account {name} is ready. Log in at /admin/."),
                ),
                LinkPage::Reset => message_page(
                    StatusCode::OK,
                    "Password set",
                    &format!("The password of {name} is set. Log in at /admin/."),
                ),
            }),
            Err(e @ AppError::Internal(_)) => Err(e),
            Err(e) => Ok(refusal_page(&e)),
        };
    }
    let th = TokenHash::of(&token);
    let now = clock::now_ms();
    let link = state.blocking(move |s| s.link(&th, now)).await?;
    if !link.is_some_and(|l| page.opens(&l.grant)) {
        return Ok(refusal_page(&invalid_link()));
    }
    let action = format!("{}?token={token}", page.path());
    Ok(match page {
        LinkPage::Invite => form_page(
            "Create your account",
            "You were invited to this pixbin. Choose a name and a password.",
            &action,
            true,
        ),
        LinkPage::Reset => form_page(
            "Set your password",
            "Choose a new password. Every browser logged in to this account will be logged out.",
            &action,
            false,
        ),
    })
}
