//! Upload-key management for the admin UI: list, create (shown once), revoke.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::upload_key;
use crate::clock;
use crate::error::AppError;
use crate::http::body::{self, Body, json, ok_json};
use crate::state::AppState;
use crate::store::codec::KeyRecord;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyJson {
    id: u64,
    name: String,
    prefix: String,
    created_at: String,
    last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

fn key_json(k: &KeyRecord, key: Option<String>) -> KeyJson {
    KeyJson {
        id: k.id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        created_at: clock::rfc3339(k.created_at),
        last_used_at: k.last_used_at.map(clock::rfc3339),
        key,
    }
}

/// `GET /api/keys`
pub async fn list(state: &AppState) -> Result<Response<Body>, AppError> {
    let keys = state.blocking(|s| s.list_keys()).await?;
    let keys: Vec<_> = keys.iter().map(|k| key_json(k, None)).collect();
    Ok(ok_json(&serde_json::json!({ "keys": keys })))
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: String,
}

/// Validates a key label: 1–64 printable characters.
pub fn clean_name(raw: &str) -> Result<String, AppError> {
    let name: String = raw.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    if name.is_empty() {
        return Ok("upload key".into());
    }
    if name.chars().count() > 64 {
        return Err(AppError::bad_request(
            "key name must be at most 64 characters",
        ));
    }
    Ok(name.to_string())
}

/// `POST /api/keys` `{"name"}` -> 201 with the key, which is never shown again.
pub async fn create(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, AppError> {
    let body: CreateBody =
        body::read_json(req.into_body(), 4096, state.config.body_idle_timeout).await?;
    let name = clean_name(&body.name)?;
    let key = upload_key::generate();
    let hash = upload_key::hash(key.expose());
    let prefix = upload_key::display_prefix(key.expose());
    let rec = state
        .blocking(move |s| s.create_key(&hash, &name, &prefix, clock::now_ms()))
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &key_json(&rec, Some(key.expose().to_string())),
    ))
}

/// `DELETE /api/keys/{id}`
pub async fn revoke(state: &AppState, id: u64) -> Result<Response<Body>, AppError> {
    if !state.blocking(move |s| s.revoke_key(id)).await? {
        return Err(AppError::NotFound);
    }
    Ok(ok_json(&serde_json::json!({ "revoked": true })))
}
