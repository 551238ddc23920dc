//! Damaged blobs and the scrub, over HTTP:
//! - `GET /api/integrity` (session or the local control token): the damage
//!   marks and the scrub's progress and last result, for the dashboard;
//! - `GET /api/integrity/blobs` (control token): every blob row, one
//!   `<hash> <size> <0|1 marked>` line each, so `pixbin repair` can decide
//!   what to put back while this server holds the database;
//! - `POST /api/integrity/repaired` (control token): `{"hashes": [...]}` of
//!   blobs `pixbin repair` rewrote; each is re-hashed here before its mark
//!   is cleared, so a wrong claim clears nothing.

use std::fmt::Write as _;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::AppError;
use crate::http::body::{Body, full, ok_json, read_json};
use crate::http::guard::{self, local_control as control};
// Hashes one `repaired` request may name, shared with `pixbin repair`.
use crate::ops::control::MAX_REPAIRED_HASHES as MAX_HASHES;
use crate::state::AppState;
use crate::store::blobs::{hex, parse_hex};
use crate::store::integrity::ScrubStatus;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MarkJson {
    hash: String,
    kind: &'static str,
    reason: &'static str,
    detected_at: String,
    image: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IntegrityJson {
    damaged_blobs: usize,
    damaged: Vec<MarkJson>,
    scrub: ScrubJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScrubJson {
    #[serde(flatten)]
    status: ScrubStatus,
    /// 0.0 to 1.0 of the running pass.
    progress: f64,
    /// The scrub period, in seconds.
    interval_secs: u64,
}

/// `GET /api/integrity`
pub async fn status(state: &AppState, req: &Request<Incoming>) -> Result<Response<Body>, AppError> {
    if !control(state, req) {
        let ctx = guard::session_of(state, req).await?;
        guard::admin_only(&ctx.ok_or(AppError::Unauthorized)?)?;
    }
    let integrity = state.store.integrity();
    let damaged: Vec<MarkJson> = integrity
        .marks()
        .into_iter()
        .map(|(h, m)| MarkJson {
            hash: hex(&h),
            kind: m.kind.label(),
            reason: m.reason.label(),
            detected_at: clock::rfc3339(m.at),
            image: m.image,
        })
        .collect();
    let status = state.blocking(|s| s.scrub_status()).await?;
    Ok(ok_json(&IntegrityJson {
        damaged_blobs: damaged.len(),
        damaged,
        scrub: ScrubJson {
            status,
            progress: status.progress(),
            interval_secs: state.config.scrub_interval.as_secs(),
        },
    }))
}

/// `GET /api/integrity/blobs`
pub async fn blobs(state: &AppState, req: &Request<Incoming>) -> Result<Response<Body>, AppError> {
    if !control(state, req) {
        return Err(AppError::Unauthorized);
    }
    let rows = state.blocking(|s| s.blob_rows()).await?;
    let integrity = state.store.integrity();
    let mut out = String::with_capacity(rows.len() * 80);
    for (h, size) in rows {
        let _ = writeln!(
            out,
            "{} {size} {}",
            hex(&h),
            u8::from(integrity.is_damaged(&h))
        );
    }
    let mut res = Response::new(full(out));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(res)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepairedBody {
    hashes: Vec<String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct RepairedJson {
    /// Verified whole now; their marks are gone.
    cleared: Vec<String>,
    /// Still wrong (or without a row): left marked.
    still_damaged: Vec<String>,
}

/// `POST /api/integrity/repaired`
pub async fn repaired(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    if !control(state, &req) {
        return Err(AppError::Unauthorized);
    }
    let body: RepairedBody = read_json(
        req.into_body(),
        MAX_HASHES * 70 + 64,
        Duration::from_secs(30),
    )
    .await?;
    if body.hashes.len() > MAX_HASHES {
        return Err(AppError::bad_request(format!(
            "at most {MAX_HASHES} hashes per request"
        )));
    }
    let mut hashes = Vec::with_capacity(body.hashes.len());
    for h in &body.hashes {
        hashes.push(
            parse_hex(h).ok_or_else(|| {
                AppError::bad_request("hashes must be 64 lowercase hex characters")
            })?,
        );
    }
    let out = state
        .blocking(move |s| {
            let mut out = RepairedJson::default();
            for h in hashes {
                match s.verify_blob(&h)? {
                    Some((_, None)) => {
                        s.clear_damage(&h)?;
                        out.cleared.push(hex(&h));
                    }
                    _ => out.still_damaged.push(hex(&h)),
                }
            }
            Ok(out)
        })
        .await?;
    Ok(ok_json(&out))
}
