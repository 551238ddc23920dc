//! `/healthz` (the process answers) and `/readyz` (the database and the blob
//! store answer; the store's probe is bounded and shared, see `readiness`).

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::error::AppError;
use crate::http::body::{Body, full};
use crate::readiness::NotReady;
use crate::state::AppState;

fn text(status: StatusCode, s: &'static str) -> Response<Body> {
    let mut res = Response::new(full(s));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Liveness: no dependency checks.
pub fn healthz() -> Response<Body> {
    text(StatusCode::OK, "ok\n")
}

/// Readiness: a database read transaction succeeds and the blob store
/// answers its probe (a bucket out of reach is unready until it is back).
pub async fn readyz(state: &AppState) -> Result<Response<Body>, AppError> {
    if let Err(e) = state.blocking(|s| s.ping()).await {
        tracing::warn!(error = %e, "readiness check failed");
        return Err(AppError::Unavailable("database not ready"));
    }
    match state.readiness.blob_store(state.store.blobs()).await {
        Ok(()) => Ok(text(StatusCode::OK, "ready\n")),
        Err(NotReady::Unreachable) => Err(AppError::Unavailable("blob store unreachable")),
        Err(NotReady::NoAnswer) => Err(AppError::Unavailable("blob store did not answer in time")),
    }
}
