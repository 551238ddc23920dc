//! The accept loop: connection cap, timeouts, TCP_NODELAY, graceful shutdown.
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

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::http::dispatch;
use crate::state::AppState;

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
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let first_byte = state.config.header_timeout;
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, std::convert::Infallible>(dispatch::handle(state, peer, req).await) }
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
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let _ = watcher.watch(conn).await;
            }
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
