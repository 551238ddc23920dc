//! `GET /metrics`: Prometheus text format, behind `PIXBIN_METRICS_TOKEN` when set.

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response};

use crate::error::AppError;
use crate::http::body::{Body, full};
use crate::metrics::Gauges;
use crate::secret;
use crate::state::AppState;
use crate::store::meta::keys;

/// The token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `GET /metrics`
pub async fn metrics(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    if let Some(expected) = &state.config.metrics_token {
        // Digests of equal length, compared in constant time.
        let ok = bearer(req.headers()).is_some_and(|t| {
            secret::ct_eq(
                &secret::token_hash(t),
                &secret::token_hash(expected.expose()),
            )
        });
        if !ok {
            return Err(AppError::Unauthorized);
        }
    }
    let (totals, views) = state
        .blocking(|s| Ok((s.totals()?, s.meta_counter(keys::VIEWS)?)))
        .await?;
    let gauges = Gauges {
        images: totals.images,
        private_images: totals.private_images,
        bytes_stored: totals.bytes_stored,
        views,
        view_events: state.views.recorded(),
        view_events_dropped: state.views.dropped(),
    };
    let mut text = state.metrics.render(&gauges);
    state.store.integrity().render_metrics(&mut text);
    let mut res = Response::new(full(text));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}
