//! The accept loop: connection caps (in all, per client address, a reserve),
//! timeouts (first byte, header, response write), TCP_NODELAY, graceful shutdown.
//!
//! `run(listener, state, shutdown)` is the seam: the caller binds (tests bind
//! port 0) and owns the shutdown signal.
//!
//! HTTP/1.1 only. Browsers speak HTTP/2 only over TLS, which a reverse proxy
//! terminates (and Caddy and nginx talk HTTP/1.1 to their upstream by
//! default), so cleartext HTTP/2 would serve no client while adding its own
//! attack surface (stream resets, header continuation floods, idle
//! connections kept alive by answering pings).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::http::body::{self, Body};
use crate::http::{client_ip, dispatch};
use crate::state::AppState;

mod guard;

pub use guard::{ConnTable, RESERVE_PER_ADDR, Refusal, WriteDeadline, reserve_for};

/// Unsent bytes the kernel may queue per connection before a write waits
/// (`TCP_NOTSENT_LOWAT`): enough to keep a fast link busy between wakeups.
const NOTSENT_LOWAT: u32 = 256 * 1024;

/// The 503 for a proxied client over its share of concurrent requests.
fn too_many() -> Response<Body> {
    let mut res = body::json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({
            "error": "too many connections from this address",
            "code": "too_many_connections",
        }),
    );
    let h = res.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(1));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// Serves until `shutdown` resolves, then stops accepting and waits up to the
/// configured shutdown timeout for requests in flight.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
    let cfg = &state.config;
    let mut builder = http1::Builder::new();
    builder
        // hyper silently disables its header timeout without a timer.
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    // SECURITY.md A42: connections per client address, with a reserve that
    // floods from a few addresses cannot take. A trusted proxy carries many
    // clients over its connections, so behind it the cap counts the
    // forwarded client's requests in flight instead (known only once the
    // headers are read), for as long as each response streams.
    let conns = ConnTable::new(
        cfg.max_connections_per_ip,
        cfg.max_connections,
        reserve_for(cfg.max_connections),
    );
    let proxied = ConnTable::new(cfg.max_connections_per_ip, usize::MAX, 0);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::from_millis(5);

    loop {
        // Wait for a free connection slot before accepting, so excess clients
        // queue in the kernel backlog instead of consuming file descriptors.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => {
                    backoff = Duration::from_millis(5);
                    c
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning, and keep
                    // accepting once descriptors free up (tokio#3529).
                    tracing::warn!(error = %e, "accept failed; backing off");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let trusted = client_ip::trusted(peer.ip(), &cfg.trusted_proxies);
        let slot = match conns.admit(peer.ip(), trusted) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(peer = %peer.ip(), reason = ?why, "connection refused");
                // Only what the socket takes at once; then closed.
                let _ = stream.try_write(guard::REFUSED);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // What the kernel holds per connection is unsent bytes plus bytes in
        // flight. A client that never reads lets in-flight bytes fall to its
        // window, but the send buffer (autotuned up to 4 MiB) still fills
        // with unsent ones: a thousand such clients pin gigabytes of kernel
        // memory, and under that pressure the kernel resets connections it
        // closes with data still queued, healthy ones included (SECURITY.md
        // A42). Capping the unsent part bounds that without capping a
        // healthy transfer, whose in-flight bytes are not limited by it.
        let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(NOTSENT_LOWAT);
        let state = state.clone();
        let first_byte = state.config.header_timeout;
        let write_timeout = state.config.write_timeout;
        let proxied = proxied.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            let proxied = proxied.clone();
            async move {
                if !trusted {
                    return Ok(dispatch::handle(state, peer, req).await);
                }
                let client =
                    client_ip::client_addr(peer, req.headers(), &state.config.trusted_proxies);
                if client_ip::trusted(client, &state.config.trusted_proxies) {
                    // Nothing forwarded (the proxy's own checks): not capped.
                    return Ok(dispatch::handle(state, peer, req).await);
                }
                let res = match proxied.admit(client, false) {
                    Ok(slot) => dispatch::handle(state, peer, req)
                        .await
                        .map(|b| guard::Held::new(b, slot).boxed_unsync()),
                    Err(_) => too_many(),
                };
                Ok::<_, std::convert::Infallible>(res)
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header timeout starts at the first byte: a client that
            // connects and sends nothing would hold its slot forever
            // (slowloris, SECURITY.md A33). It gets the header timeout to
            // start talking.
            let mut probe = [0u8; 1];
            if tokio::time::timeout(first_byte, stream.peek(&mut probe))
                .await
                .is_ok()
            {
                // A response the client stops reading fails the connection
                // after the write timeout (A42).
                let io = WriteDeadline::new(TokioIo::new(stream), write_timeout);
                let conn = builder.serve_connection(io, service);
                let _ = watcher.watch(conn).await;
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    let timeout = state.config.shutdown_timeout;
    if tokio::time::timeout(timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {timeout:?}; closing them");
    }
}
