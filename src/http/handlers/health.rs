//! `/healthz` (the process answers) and `/readyz` (the database answers).

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::error::AppError;
use crate::http::body::{Body, full};
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

/// Readiness: a database read transaction succeeds.
pub async fn readyz(state: &AppState) -> Result<Response<Body>, AppError> {
    match state.blocking(|s| s.ping()).await {
        Ok(()) => Ok(text(StatusCode::OK, "ready\n")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(AppError::Unavailable("database not ready"))
        }
    }
}
