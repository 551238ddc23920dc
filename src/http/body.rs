//! Response bodies and builders, and bounded reading of request bodies.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::error::AppError;

/// The one response body type: full bytes, empty, or a file stream.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A body holding these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A JSON response.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    // Serialising our own plain structs cannot fail.
    let bytes = serde_json::to_vec(value).expect("serialize response");
    let mut res = Response::new(full(bytes));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// A 200 JSON response.
pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    json(StatusCode::OK, value)
}

/// The JSON error response for an [`AppError`].
pub fn error_response(err: &AppError) -> Response<Body> {
    let (status, code) = err.status_and_code();
    let message = match err {
        AppError::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            "internal error".to_string()
        }
        other => other.to_string(),
    };
    let mut body = serde_json::json!({ "error": message, "code": code });
    if let AppError::QuotaReached { quota, .. } = err {
        body["quota"] = (*quota).into();
    }
    let mut res = json(status, &body);
    if let AppError::RateLimited { retry_after } | AppError::Busy { retry_after } = err {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    if let AppError::Unavailable(_) = err {
        // RFC 9110 15.6.4: say when to come back.
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The unread body may be huge: do not keep the connection to drain it.
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// An HTML page response.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut res = Response::new(full(page));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

/// The slowest average rate, in bytes per second, a request body may keep
/// once its grace period (the body idle timeout) has passed. The idle timeout
/// alone lets a client hold a connection for hours by sending a byte just
/// before each pause runs out; with this, such a body is cut about one grace
/// period after it starts. 1 KiB/s is below any real connection (a 32 MiB
/// upload at that rate takes nine hours).
pub const MIN_BODY_RATE: u64 = 1024;

/// Tracks a body's progress against [`MIN_BODY_RATE`].
#[derive(Debug)]
struct Pace {
    start: tokio::time::Instant,
    grace: Duration,
    bytes: u64,
}

impl Pace {
    /// Starts the clock; nothing is owed during `grace`.
    fn new(grace: Duration) -> Self {
        Pace {
            start: tokio::time::Instant::now(),
            grace,
            bytes: 0,
        }
    }

    /// Counts `n` more received bytes; `false` once the body has fallen behind
    /// the minimum rate.
    fn advance(&mut self, n: usize) -> bool {
        self.bytes = self.bytes.saturating_add(n as u64);
        let Some(late) = self.start.elapsed().checked_sub(self.grace) else {
            return true;
        };
        let owed = u128::from(MIN_BODY_RATE) * late.as_millis() / 1000;
        u128::from(self.bytes) >= owed
    }
}

/// The request body as a stream of chunks, failing when the client goes quiet
/// for longer than `idle` (hyper has no body timeout of its own) or falls
/// behind the minimum rate once `idle` has passed ([`MIN_BODY_RATE`]).
pub fn body_stream(
    body: Incoming,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let start = Some((body, Pace::new(idle)));
    futures_util::stream::unfold(start, move |state| async move {
        let (mut body, mut pace) = state?;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => {
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "request body timed out",
                        )),
                        None,
                    ));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(std::io::Error::other(e)), None)),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if !pace.advance(data.len()) {
                            return Some((
                                Err(std::io::Error::new(
                                    std::io::ErrorKind::TimedOut,
                                    "request body too slow",
                                )),
                                None,
                            ));
                        }
                        return Some((Ok(data), Some((body, pace))));
                    }
                }
            }
        }
    })
    // Readers may poll again after the end (or after an error); a fused stream
    // keeps answering `None` instead of panicking.
    .fuse()
}

/// Reads a whole small body (JSON, forms) with a size cap, and the idle
/// timeout and minimum rate of [`body_stream`].
pub async fn read_limited(body: Incoming, limit: usize, idle: Duration) -> Result<Bytes, AppError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(AppError::bad_request("request body too large"));
    }
    let mut buf = Vec::new();
    let mut chunks = std::pin::pin!(body_stream(body, idle));
    while let Some(chunk) = chunks.next().await {
        let data = chunk.map_err(|e| {
            AppError::bad_request(if e.kind() == std::io::ErrorKind::TimedOut {
                "request body timed out"
            } else {
                "request body was cut off"
            })
        })?;
        if buf.len() + data.len() > limit {
            return Err(AppError::bad_request("request body too large"));
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// Reads and parses a small JSON body.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    body: Incoming,
    limit: usize,
    idle: Duration,
) -> Result<T, AppError> {
    let bytes = read_limited(body, limit, idle).await?;
    // Every JSON body of the API is an object; serde would also fill a struct
    // from an array (`["admin", "pw"]`), a second spelling nobody documents.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(AppError::bad_request("the JSON body must be an object"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| AppError::bad_request(format!("invalid JSON body: {}", short_json_error(&e))))
}

/// serde_json's message without input echoes beyond its position.
fn short_json_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    s.chars().take(160).collect()
}

/// A redirect to a same-origin path.
pub fn redirect(location: &'static str) -> Response<Body> {
    let mut res = Response::new(empty());
    *res.status_mut() = StatusCode::FOUND;
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    res
}

/// Adds `Set-Cookie` headers (`auth::session::set_cookies`, `clear_cookies`) to a response.
pub fn with_cookies(mut res: Response<Body>, cookies: [String; 2]) -> Response<Body> {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pace_owes_nothing_during_the_grace_period_then_the_minimum_rate() {
        let mut generous = Pace::new(Duration::from_secs(3600));
        assert!(
            generous.advance(0),
            "within the grace period nothing is owed"
        );

        let mut p = Pace::new(Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // About 200 bytes are owed after 200 ms at 1 KiB/s.
        assert!(!p.advance(10), "behind the minimum rate");
        let mut p = Pace::new(Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(p.advance(100_000), "well ahead of it");
    }
}
