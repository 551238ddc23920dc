//! `GET /api/settings`: the upload defaults in force and the effective
//! configuration with where each value came from; `PUT /api/settings`: change
//! the runtime upload defaults (see `crate::settings`).

use std::time::Duration;

use hyper::Response;
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::Value;

use crate::error::AppError;
use crate::http::body::{self, Body, ok_json};
use crate::media::ImageType;
use crate::media::strip::StripMode;
use crate::settings::{self, Entry, Runtime};
use crate::state::AppState;

/// Longest default expiry the UI may set: ten years.
const MAX_DEFAULT_EXPIRY_SECS: u64 = 10 * 365 * 86_400;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadJson {
    max_bytes: u64,
    allowed_types: Vec<&'static str>,
    private_by_default: bool,
    default_expiry_seconds: Option<u64>,
    max_expiry_seconds: Option<u64>,
    strip_mode: &'static str,
    strip_modes: [&'static str; 3],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SettingsJson {
    upload: UploadJson,
    geoip: bool,
    effective: Vec<Entry>,
}

fn document(state: &AppState) -> SettingsJson {
    let runtime = state.settings.runtime();
    let c = settings::apply(&state.config, &runtime);
    SettingsJson {
        upload: UploadJson {
            max_bytes: c.max_upload_bytes,
            allowed_types: c.allowed_types.iter().map(|t| t.name()).collect(),
            private_by_default: c.private_by_default,
            default_expiry_seconds: settings::effective_default_expiry(&c).map(|d| d.as_secs()),
            max_expiry_seconds: c.max_expiry.map(|d| d.as_secs()),
            strip_mode: c.strip_metadata.name(),
            strip_modes: ["gps", "all", "none"],
        },
        // Start-up fails when a configured database cannot be opened.
        geoip: c.analytics && c.geoip_db.is_some(),
        effective: settings::entries(&c, &runtime),
    }
}

/// `GET /api/settings` (any session)
pub fn get(state: &AppState) -> Response<Body> {
    ok_json(&document(state))
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::BadRequest {
        code: "invalid_setting",
        message: message.into(),
    }
}

/// Reads a change from the body; every field is checked before anything is
/// stored.
fn parse_change(body: &serde_json::Map<String, Value>) -> Result<Runtime, AppError> {
    let mut change = Runtime::default();
    for (k, v) in body {
        match k.as_str() {
            "privateByDefault" => {
                change.private_by_default =
                    Some(v.as_bool().ok_or_else(|| invalid("privateByDefault must be true or false"))?)
            }
            "defaultExpirySeconds" => {
                change.default_expiry = Some(match v {
                    Value::Null => None,
                    Value::Number(n) => Some(Duration::from_secs(
                        n.as_u64()
                            .filter(|s| (60..=MAX_DEFAULT_EXPIRY_SECS).contains(s))
                            .ok_or_else(|| {
                                invalid(format!(
                                    "defaultExpirySeconds must be a whole number from 60 to {MAX_DEFAULT_EXPIRY_SECS}, or null for never"
                                ))
                            })?,
                    )),
                    _ => return Err(invalid("defaultExpirySeconds must be a number or null")),
                })
            }
            "stripMode" => {
                change.strip_metadata = Some(
                    v.as_str()
                        .and_then(StripMode::parse)
                        .ok_or_else(|| invalid("stripMode must be gps, all or none"))?,
                )
            }
            "allowedTypes" => {
                let list = v
                    .as_array()
                    .filter(|a| !a.is_empty() && a.len() <= 16)
                    .ok_or_else(|| invalid("allowedTypes must be a non-empty list of types"))?;
                let mut types = Vec::new();
                for t in list {
                    let ty = t.as_str().and_then(ImageType::parse_name).ok_or_else(|| {
                        invalid("allowedTypes may name png, jpeg, gif, webp, bmp and ico")
                    })?;
                    if !types.contains(&ty) {
                        types.push(ty);
                    }
                }
                change.allowed_types = Some(types);
            }
            other => {
                return Err(invalid(format!(
                    "unknown setting {:?} (runtime settings: privateByDefault, defaultExpirySeconds, stripMode, allowedTypes)",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    Ok(change)
}

/// `PUT /api/settings` (session + CSRF)
pub async fn put(
    state: &AppState,
    req: hyper::Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body: serde_json::Map<String, Value> =
        body::read_json(req.into_body(), 4096, state.config.body_idle_timeout).await?;
    let change = parse_change(&body)?;
    // The operator's flag or environment variable wins; refusing says so
    // rather than storing a value that would silently do nothing.
    for name in settings::RUNTIME_NAMES {
        if change.has(name) && state.config.sources.get(name).is_pinned() {
            return Err(AppError::Conflict {
                code: "set_by_environment",
                message: format!(
                    "{name} is set by a command-line flag or PIXBIN_{}; change it there",
                    name.to_ascii_uppercase()
                ),
            });
        }
    }
    let merged = state.settings.runtime().merged(&change);
    let stored = merged.to_stored();
    state
        .blocking(move |s| s.put_runtime_settings(&stored))
        .await?;
    state.settings.replace(merged);
    tracing::info!(changed = ?body.keys().collect::<Vec<_>>(), "runtime settings changed");
    Ok(ok_json(&document(state)))
}
