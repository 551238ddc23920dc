//! `GET /api/backup`: the whole data directory as one tar (`ops::backup`),
//! streamed while the server keeps serving and accepting uploads.
//!
//! Allowed to a logged-in account (a download from the admin UI) or to the
//! control token of `ops::control` presented from this machine (a loopback
//! address, or the address the server listens on): the `pixbin backup` command.

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};

use crate::clock;
use crate::error::AppError;
use crate::http::body::Body;
use crate::http::guard;
use crate::ops::backup::{self, ChunkWriter};
use crate::state::AppState;

/// Chunks buffered between the archive writer and the connection (64 KiB each).
const IN_FLIGHT: usize = 8;

/// `GET /api/backup`
pub async fn backup(state: &AppState, req: &Request<Incoming>) -> Result<Response<Body>, AppError> {
    guard::admin_or_control(state, req).await?;
    // The snapshot is taken before the response starts, so its failure is an
    // ordinary error response; a failure while streaming cuts the body.
    let store = state.store.clone();
    let prepared = tokio::task::spawn_blocking(move || backup::prepare(&store))
        .await?
        .map_err(|e| AppError::Internal(format!("backup: {e:#}")))?;
    let summary = prepared.summary();
    tracing::info!(
        blobs = summary.blobs,
        bytes = summary.bytes,
        "backup started"
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter::new(tx);
        match prepared.write_to(&mut out) {
            Ok(s) => tracing::info!(blobs = s.blobs, bytes = s.bytes, "backup sent"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "backup failed");
                out.fail(format!("{e:#}"));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    });
    let mut res = Response::new(StreamBody::new(stream).boxed_unsync());
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    let name = format!(
        "attachment; filename=\"pixbin-backup-{}.tar\"",
        clock::rfc3339(clock::now_ms()).replace(':', "-")
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
