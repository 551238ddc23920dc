//! Upload-key management for the admin UI: list, create (shown once), revoke;
//! each account manages its own keys, an admin everyone's.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::upload_key;
use std::time::Duration;

use crate::clock;
use crate::error::AppError;
use crate::http::body::{self, Body, json, ok_json};
use crate::http::guard::{self, SessionCtx};
use crate::lifecycle::fmt_duration;
use crate::state::AppState;
use crate::store::codec::{KeyPolicy, KeyRecord};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyJson {
    id: u64,
    name: String,
    prefix: String,
    created_at: String,
    last_used_at: Option<String>,
    default_expiry: Option<String>,
    max_expiry: Option<String>,
    private_by_default: Option<bool>,
    force_private: bool,
    /// The account whose uploads the key makes.
    user: String,
    /// What an upload with this key gets when it says nothing: the key's
    /// policy over the server's defaults in force.
    defaults: Defaults,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Defaults {
    private: bool,
    expiry_seconds: Option<u64>,
}

fn defaults(state: &AppState, p: &KeyPolicy) -> Defaults {
    let config = state.settings.effective(&state.config);
    // The same rules an upload goes through, asked with nothing requested.
    let private = crate::lifecycle::resolve_private(None, &config, Some(p)).unwrap_or(true);
    let expiry_seconds = crate::lifecycle::resolve_expiry(None, &config, Some(p), 0)
        .ok()
        .flatten()
        .map(|ms| (ms / 1000) as u64);
    Defaults {
        private,
        expiry_seconds,
    }
}

fn key_json(state: &AppState, k: &KeyRecord, key: Option<String>) -> KeyJson {
    KeyJson {
        defaults: defaults(state, &k.policy),
        id: k.id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        created_at: clock::rfc3339(k.created_at),
        last_used_at: k.last_used_at.map(clock::rfc3339),
        default_expiry: k
            .policy
            .default_expiry_secs
            .map(|s| fmt_duration(Duration::from_secs(s))),
        max_expiry: k
            .policy
            .max_expiry_secs
            .map(|s| fmt_duration(Duration::from_secs(s))),
        private_by_default: k.policy.private_by_default,
        force_private: k.policy.force_private,
        user: k.owner.clone(),
        key,
    }
}

/// `GET /api/keys[?user=]`: the account's keys (an admin: everyone's, or
/// one account's).
pub async fn list(
    state: &AppState,
    ctx: &SessionCtx,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let scope = guard::scope_of(ctx, req.uri().query())?;
    let keys = state
        .blocking(move |s| s.list_keys(scope.as_deref()))
        .await?;
    let keys: Vec<_> = keys.iter().map(|k| key_json(state, k, None)).collect();
    Ok(ok_json(&serde_json::json!({ "keys": keys })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    #[serde(default)]
    name: String,
    /// e.g. "7d"; absent or null for the server default.
    #[serde(default)]
    default_expiry: Option<String>,
    /// e.g. "30d"; absent or null for no key-specific limit.
    #[serde(default)]
    max_expiry: Option<String>,
    #[serde(default)]
    private_by_default: Option<bool>,
    #[serde(default)]
    force_private: bool,
    /// The account the key uploads for (an admin may name another); absent
    /// for the caller's own.
    #[serde(default)]
    user: Option<String>,
}

fn policy_secs(v: &Option<String>, what: &str) -> Result<Option<u64>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") | Some("never") => Ok(None),
        Some(s) => crate::duration::expiry_duration(s)
            .map(|d| Some(d.as_secs()))
            .map_err(|_| {
                AppError::bad_request(format!("{what} must be a duration such as 12h, 7d or 4w"))
            }),
    }
}

/// Validates a key label: 1–64 printable characters.
pub fn clean_name(raw: &str) -> Result<String, AppError> {
    let name: String = raw.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    if name.is_empty() {
        return Ok("upload key".into());
    }
    if name.chars().count() > 64 {
        // Refused, never cut: a silently shortened name is a different name.
        return Err(AppError::BadRequest {
            code: "name_too_long",
            message: "key name must be at most 64 characters".into(),
        });
    }
    Ok(name.to_string())
}

/// `POST /api/keys` `{"name"}` -> 201 with the key, which is never shown again.
pub async fn create(
    state: &AppState,
    ctx: &SessionCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body: CreateBody =
        body::read_json(req.into_body(), 4096, state.config.body_idle_timeout).await?;
    let name = clean_name(&body.name)?;
    let owner = match body.user {
        Some(u) if u != ctx.username => {
            guard::admin_only(ctx)?;
            let exists = state.blocking({
                let u = u.clone();
                move |s| s.user(&u)
            });
            if exists.await?.is_none() {
                return Err(AppError::bad_request("no account with this name"));
            }
            u
        }
        _ => ctx.username.clone(),
    };
    let policy = KeyPolicy {
        default_expiry_secs: policy_secs(&body.default_expiry, "defaultExpiry")?,
        max_expiry_secs: policy_secs(&body.max_expiry, "maxExpiry")?,
        private_by_default: body.private_by_default,
        force_private: body.force_private,
    };
    let key = upload_key::generate();
    let hash = upload_key::hash(key.expose());
    let prefix = upload_key::display_prefix(key.expose());
    let rec = state
        .blocking(move |s| s.create_key(&hash, (&name, &owner), &prefix, clock::now_ms(), policy))
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &key_json(state, &rec, Some(key.expose().to_string())),
    ))
}

/// `DELETE /api/keys/{id}`: the account's own key (an admin: any key);
/// another account's key is the same 404 as a missing one.
pub async fn revoke(
    state: &AppState,
    ctx: &SessionCtx,
    id: u64,
) -> Result<Response<Body>, AppError> {
    let scope = ctx.scope().map(str::to_string);
    if !state
        .blocking(move |s| s.revoke_key(id, scope.as_deref()))
        .await?
    {
        return Err(AppError::NotFound);
    }
    Ok(ok_json(&serde_json::json!({ "revoked": true })))
}
