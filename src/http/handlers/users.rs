//! Accounts over the API: `GET /api/me` for everyone; for admins, the users
//! list with usage and quotas, create, change (role, disabled, quotas),
//! delete (images deleted or transferred), one-time password-reset links,
//! and invite links. The rules that protect the instance (never the last
//! admin; a disabled account stops at once) live in `store::users`.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::password;
use crate::clock;
use crate::config::Registration;
use crate::error::{AppError, OptionExt};
use crate::http::body::{self, Body, json, ok_json};
use crate::http::guard::SessionCtx;
use crate::http::handlers::account::weakness;
use crate::http::query;
use crate::http::router::is_account_name;
use crate::secret::{self, Secret, TokenHash};
use crate::state::AppState;
use crate::store::codec::{Grant, InviteRecord, Role, UserRecord};
use crate::store::users::{Account, Leftovers, UserEdit};

/// Largest JSON body these routes read.
const BODY_LIMIT: usize = 4 * 1024;
/// How long a password-reset link works unless asked otherwise.
pub const RESET_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long an invite link works unless asked otherwise.
pub const INVITE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most uses one invite may allow.
pub const MAX_INVITE_USES: u64 = 1000;

#[derive(Serialize)]
struct UsageJson {
    bytes: u64,
    images: u64,
}

#[derive(Serialize)]
struct QuotaJson {
    /// `null`: unlimited.
    bytes: Option<u64>,
    /// `null`: unlimited.
    images: Option<u64>,
}

/// An account as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserJson {
    name: String,
    role: &'static str,
    disabled: bool,
    created_at: String,
    last_seen_at: Option<String>,
    usage: UsageJson,
    quota: QuotaJson,
}

fn user_json(a: &Account) -> UserJson {
    let r = &a.record;
    UserJson {
        name: a.name.clone(),
        role: r.role.as_str(),
        disabled: r.disabled,
        created_at: clock::rfc3339(r.created_at),
        last_seen_at: r.last_seen_at.map(clock::rfc3339),
        usage: UsageJson {
            bytes: a.usage.bytes,
            images: a.usage.images,
        },
        quota: QuotaJson {
            bytes: r.quota_bytes,
            images: r.quota_images,
        },
    }
}

async fn account(state: &AppState, name: String) -> Result<Account, AppError> {
    state
        .blocking(move |s| s.account(&name))
        .await?
        .or_not_found()
}

/// `GET /api/me`: the session's account, usage and quota.
pub async fn me(state: &AppState, ctx: &SessionCtx) -> Result<Response<Body>, AppError> {
    let a = account(state, ctx.username.clone()).await?;
    Ok(ok_json(&user_json(&a)))
}

/// `GET /api/users`: every account, by name.
pub async fn list(state: &AppState) -> Result<Response<Body>, AppError> {
    let all = state.blocking(|s| s.accounts()).await?;
    let users: Vec<UserJson> = all.iter().map(user_json).collect();
    Ok(ok_json(&serde_json::json!({ "users": users })))
}

/// `GET /api/users/{name}`
pub async fn get(state: &AppState, name: String) -> Result<Response<Body>, AppError> {
    Ok(ok_json(&user_json(&account(state, name).await?)))
}

async fn read_object(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Map<String, Value>, AppError> {
    body::read_json(req.into_body(), BODY_LIMIT, state.config.body_idle_timeout).await
}

/// Refuses any field not in `known`, so a misspelt field is not silently
/// ignored.
fn only_fields(body: &Map<String, Value>, known: &[&str]) -> Result<(), AppError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(AppError::bad_request(format!(
            "unknown field {:?}",
            k.chars().take(40).collect::<String>()
        ))),
        None => Ok(()),
    }
}

fn string_field<'a>(body: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, AppError> {
    match body.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AppError::bad_request(format!("{k} must be a string"))),
    }
}

/// A quota field: absent is `None`, `null` is `Some(None)` (unlimited), a
/// whole number is that limit.
fn limit_field(body: &Map<String, Value>, k: &str) -> Result<Option<Option<u64>>, AppError> {
    match body.get(k) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v
            .as_u64()
            .map(|n| Some(Some(n)))
            .ok_or_else(|| AppError::bad_request(format!("{k} must be a whole number or null"))),
    }
}

fn role_field(body: &Map<String, Value>) -> Result<Option<Role>, AppError> {
    string_field(body, "role")?
        .map(|r| Role::parse(r).ok_or_else(|| AppError::bad_request("role must be admin or user")))
        .transpose()
}

fn duration_field(
    body: &Map<String, Value>,
    k: &str,
    default: Duration,
) -> Result<Duration, AppError> {
    match string_field(body, k)? {
        None => Ok(default),
        Some(s) => crate::duration::expiry_duration(s)
            .ok()
            .filter(|d| *d <= Duration::from_secs(366 * 24 * 3600))
            .ok_or_else(|| {
                AppError::bad_request(format!(
                    "{k} must be a duration such as 12h or 7d, at most a year"
                ))
            }),
    }
}

/// Checks a new account's name and password.
pub(crate) fn check_new_account(name: &str, password: &str) -> Result<(), AppError> {
    if !is_account_name(name) {
        return Err(AppError::BadRequest {
            code: "invalid_name",
            message: "names are 1 to 64 letters, digits, dots, dashes or underscores".into(),
        });
    }
    if let Some(why) = weakness(password, "", name) {
        return Err(AppError::BadRequest {
            code: "weak_password",
            message: why,
        });
    }
    Ok(())
}

/// Hashes a password in the bounded hashing pool (argon2 is deliberately slow).
pub(crate) async fn hash_password(state: &AppState, pw: String) -> Result<String, AppError> {
    let pw = Secret::new(pw);
    state
        .logins
        .hashing
        .run(move || Ok::<_, AppError>(password::hash(pw.expose())))
        .await?
}

/// `POST /api/users` `{"name", "password", "role"?, "quotaBytes"?, "quotaImages"?}`
/// -> 201 with the account. Quotas absent take the defaults for new users.
pub async fn create(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, AppError> {
    let body = read_object(state, req).await?;
    only_fields(
        &body,
        &["name", "password", "role", "quotaBytes", "quotaImages"],
    )?;
    let name = string_field(&body, "name")?.unwrap_or_default().to_string();
    let pw = string_field(&body, "password")?
        .unwrap_or_default()
        .to_string();
    check_new_account(&name, &pw)?;
    let role = role_field(&body)?.unwrap_or(Role::User);
    let (qb, qi) = state.config.new_account_quota(role);
    let quota = (
        limit_field(&body, "quotaBytes")?.unwrap_or(qb),
        limit_field(&body, "quotaImages")?.unwrap_or(qi),
    );
    let hash = hash_password(state, pw).await?;
    let rec = UserRecord::new(hash, role, quota, clock::now_ms());
    let n = name.clone();
    state.blocking(move |s| s.create_user(&n, &rec)).await?;
    tracing::info!(role = role.as_str(), "account created by an admin");
    let a = account(state, name).await?;
    Ok(json(StatusCode::CREATED, &user_json(&a)))
}

/// `PATCH /api/users/{name}` `{"role"?, "disabled"?, "quotaBytes"?, "quotaImages"?}`:
/// absent fields stay; a quota of `null` is unlimited.
pub async fn edit(
    state: &AppState,
    name: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body = read_object(state, req).await?;
    only_fields(&body, &["role", "disabled", "quotaBytes", "quotaImages"])?;
    let disabled = match body.get("disabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(AppError::bad_request("disabled must be true or false")),
    };
    let edit = UserEdit {
        role: role_field(&body)?,
        disabled,
        quota_bytes: limit_field(&body, "quotaBytes")?,
        quota_images: limit_field(&body, "quotaImages")?,
    };
    let n = name.clone();
    state
        .blocking(move |s| s.edit_user(&n, &edit))
        .await?
        .or_not_found()?;
    Ok(ok_json(&user_json(&account(state, name).await?)))
}

/// `DELETE /api/users/{name}?images=delete` or `?images=transfer&to={other}`:
/// the account's sessions and keys end at once; its images are deleted or
/// become `other`'s. Saying which is required: no default loses images.
pub async fn delete(
    state: &AppState,
    name: String,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let q = req.uri().query();
    let p = |k: &str| {
        query::param(q, k)
            .map_err(|_| AppError::bad_request(format!("malformed {k} parameter")))
            .map(|v| v.map(|v| v.into_owned()))
    };
    let leftovers = match (p("images")?.as_deref(), p("to")?) {
        (Some("delete"), None) => Leftovers::Delete,
        (Some("transfer"), Some(to)) if is_account_name(&to) => Leftovers::TransferTo(to),
        _ => {
            return Err(AppError::bad_request(
                "say what happens to the images: images=delete, or images=transfer&to=<account>",
            ));
        }
    };
    let to = match &leftovers {
        Leftovers::TransferTo(t) => Some(t.clone()),
        Leftovers::Delete => None,
    };
    let n = state
        .blocking(move |s| s.delete_user(&name, &leftovers))
        .await?
        .or_not_found()?;
    tracing::info!(
        images = n,
        transferred = to.is_some(),
        "account deleted by an admin"
    );
    Ok(ok_json(&serde_json::json!({
        "deleted": true,
        "images": n,
        "transferredTo": to,
    })))
}

/// A new link token and the absolute URL of `page` carrying it.
fn link(state: &AppState, page: &str) -> (Secret, TokenHash, String) {
    let token = secret::random_token();
    let hash = TokenHash::of(token.expose());
    let url = format!("{}{page}?token={}", state.config.base_url(), token.expose());
    (token, hash, url)
}

/// `POST /api/users/{name}/password-reset` `{"expiresIn"?: "24h"}` -> 201
/// `{"url", "expiresAt"}`: a link that sets the account's password once.
/// The account's password and sessions are untouched until it is used.
pub async fn reset_link(
    state: &AppState,
    ctx: &SessionCtx,
    name: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body = read_object(state, req).await?;
    only_fields(&body, &["expiresIn"])?;
    let ttl = duration_field(&body, "expiresIn", RESET_TTL)?;
    account(state, name.clone()).await?;
    let now = clock::now_ms();
    let (_token, hash, url) = link(state, "/reset-password");
    let rec = InviteRecord {
        id: 0,
        grant: Grant::PasswordReset { username: name },
        created_by: ctx.username.clone(),
        created_at: now,
        expires_at: now + ttl.as_millis() as i64,
        max_uses: 1,
        uses: 0,
    };
    let rec = state.blocking(move |s| s.create_link(&hash, rec)).await?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "url": url, "expiresAt": clock::rfc3339(rec.expires_at) }),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InviteJson {
    id: u64,
    role: &'static str,
    uses: u32,
    max_uses: u32,
    created_by: String,
    created_at: String,
    expires_at: String,
    /// Only in the answer that created it: the token is not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

fn invite_json(i: &InviteRecord, url: Option<String>) -> InviteJson {
    let role = match i.grant {
        Grant::Invite { role } => role,
        Grant::PasswordReset { .. } => Role::User,
    };
    InviteJson {
        id: i.id,
        role: role.as_str(),
        uses: i.uses,
        max_uses: i.max_uses,
        created_by: i.created_by.clone(),
        created_at: clock::rfc3339(i.created_at),
        expires_at: clock::rfc3339(i.expires_at),
        url,
    }
}

/// `GET /api/invites`: the invites still usable, newest first.
pub async fn invites(state: &AppState) -> Result<Response<Body>, AppError> {
    let now = clock::now_ms();
    let all = state.blocking(move |s| s.invites(now)).await?;
    let invites: Vec<InviteJson> = all.iter().map(|i| invite_json(i, None)).collect();
    Ok(ok_json(&serde_json::json!({
        "invites": invites,
        "registration": state.config.registration.as_str(),
    })))
}

/// `POST /api/invites` `{"maxUses"?: 1, "expiresIn"?: "7d", "role"?: "user"}`
/// -> 201 with the invite and its `url` (shown only now). Refused with 409
/// `registration_closed` while registration is closed.
pub async fn create_invite(
    state: &AppState,
    ctx: &SessionCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body = read_object(state, req).await?;
    only_fields(&body, &["maxUses", "expiresIn", "role"])?;
    if state.config.registration == Registration::Closed {
        return Err(registration_closed());
    }
    let max_uses = match body.get("maxUses") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_INVITE_USES).contains(n))
            .ok_or_else(|| {
                AppError::bad_request(format!("maxUses must be from 1 to {MAX_INVITE_USES}"))
            })?,
    };
    let ttl = duration_field(&body, "expiresIn", INVITE_TTL)?;
    let role = role_field(&body)?.unwrap_or(Role::User);
    let now = clock::now_ms();
    let (_token, hash, url) = link(state, "/invite");
    let rec = InviteRecord {
        id: 0,
        grant: Grant::Invite { role },
        created_by: ctx.username.clone(),
        created_at: now,
        expires_at: now + ttl.as_millis() as i64,
        max_uses: max_uses as u32,
        uses: 0,
    };
    let rec = state.blocking(move |s| s.create_link(&hash, rec)).await?;
    Ok(json(StatusCode::CREATED, &invite_json(&rec, Some(url))))
}

/// `DELETE /api/invites/{id}`
pub async fn revoke_invite(state: &AppState, id: u64) -> Result<Response<Body>, AppError> {
    if !state.blocking(move |s| s.revoke_invite(id)).await? {
        return Err(AppError::NotFound);
    }
    Ok(ok_json(&serde_json::json!({ "revoked": true })))
}

/// 409 `registration_closed`.
pub(crate) fn registration_closed() -> AppError {
    AppError::Conflict {
        code: "registration_closed",
        message: "registration is closed on this server".into(),
    }
}
