//! `GET /metrics`: Prometheus text format, behind `PIXBIN_METRICS_TOKEN` when set
//! and answered only to local, unproxied clients when not.
//!
//! Totals such as `pixbin_storage_bytes` move only when new bytes are stored, so
//! an open `/metrics` next to content-addressed dedup tells anyone with an upload
//! key whether a file already exists on the server. Without a token the route is
//! therefore closed to everything but a scraper on the same host.

use hyper::body::Incoming;
use std::net::{IpAddr, SocketAddr};

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response};

use crate::error::AppError;
use crate::http::body::{Body, full};
use crate::http::client_ip::PeerAddr;
use crate::http::guard::bearer;
use crate::metrics::Gauges;
use crate::secret;
use crate::state::AppState;
use crate::store::meta::keys;

/// Headers a reverse proxy adds. A proxy on the same host connects from
/// loopback, so a loopback peer that carries one of these is relaying somebody
/// else's request.
const FORWARDING_HEADERS: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
];

/// Whether a request without a token may read `/metrics`: the TCP peer itself is
/// loopback, is not a configured trusted proxy, and no forwarding header says
/// the request came from elsewhere.
pub fn local_unproxied(peer: SocketAddr, headers: &HeaderMap, proxies: &[ipnet::IpNet]) -> bool {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    ip.is_loopback()
        && !proxies.iter().any(|n| n.contains(&ip))
        && !FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h))
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
    } else {
        let peer = req.extensions().get::<PeerAddr>();
        let local = peer
            .is_some_and(|p| local_unproxied(p.0, req.headers(), &state.config.trusted_proxies));
        if !local {
            return Err(AppError::Forbidden {
                code: "forbidden",
                message: "/metrics answers only local requests without a proxy; set PIXBIN_METRICS_TOKEN to scrape it from elsewhere",
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unproxied_loopback_peers_are_local() {
        let none = HeaderMap::new();
        let lo: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let lo6: SocketAddr = "[::1]:9000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:9000".parse().unwrap();
        let far: SocketAddr = "192.0.2.7:9000".parse().unwrap();
        assert!(local_unproxied(lo, &none, &[]));
        assert!(local_unproxied(lo6, &none, &[]));
        assert!(local_unproxied(mapped, &none, &[]));
        assert!(!local_unproxied(far, &none, &[]));
        let mut fwd = HeaderMap::new();
        fwd.insert("x-real-ip", HeaderValue::from_static("192.0.2.7"));
        assert!(!local_unproxied(lo, &fwd, &[]));
        let proxies = ["127.0.0.0/8".parse().unwrap()];
        assert!(!local_unproxied(lo, &none, &proxies));
    }
}
