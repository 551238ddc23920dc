//! The client's address: the TCP peer, unless that peer is a configured trusted
//! proxy; then `X-Forwarded-For` is read right to left up to the first hop that
//! is not a trusted proxy. No forwarded header is believed by default, so a
//! client cannot pick its own address (for rate limits or analytics) by sending one.

use std::net::{IpAddr, SocketAddr};

use hyper::body::Incoming;
use hyper::{HeaderMap, Request};
use ipnet::IpNet;

/// The client's address (the TCP peer, or the first untrusted hop of
/// `X-Forwarded-For` behind a trusted proxy), stored in request extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The TCP peer itself, whatever forwarded headers say (for checks that must
/// not trust a proxy's word, like `/metrics`' loopback rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client address of a request that went through `http::dispatch::handle`.
pub fn client_of(req: &Request<Incoming>) -> Option<IpAddr> {
    req.extensions().get::<ClientAddr>().map(|c| c.0)
}

/// Whether `ip` is one of the configured trusted proxies.
pub fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|n| n.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Parses one `X-Forwarded-For` element (`1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443`, `1.2.3.4:80`).
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// The address to attribute a request to.
pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    let mut current = canonical(peer.ip());
    if proxies.is_empty() || !trusted(current, proxies) {
        return current;
    }
    let mut hops: Vec<&str> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(s) = v.to_str() else { return current };
        hops.extend(s.split(','));
    }
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) => {
                current = canonical(ip);
                if !trusted(current, proxies) {
                    return current;
                }
            }
            // A garbled element ends the chain of trust at the last good hop.
            None => return current,
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn xff(v: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for s in v {
            h.append("x-forwarded-for", HeaderValue::from_str(s).unwrap());
        }
        h
    }
    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }
    const PROXY: &str = "10.0.0.5:4000";

    #[test]
    fn headers_are_ignored_without_trusted_proxies() {
        let peer: SocketAddr = PROXY.parse().unwrap();
        assert_eq!(client_addr(peer, &xff(&["81.2.69.142"]), &[]), peer.ip());
        // A trusted list that does not contain the peer: header ignored too.
        assert_eq!(
            client_addr(peer, &xff(&["81.2.69.142"]), &nets(&["192.168.0.0/16"])),
            peer.ip()
        );
    }

    #[test]
    fn reads_right_to_left_to_the_first_untrusted_hop() {
        let peer: SocketAddr = PROXY.parse().unwrap();
        let t = nets(&["10.0.0.0/8"]);
        // The leftmost entry is client-supplied and must not win.
        let h = xff(&["6.6.6.6, 81.2.69.142, 10.1.1.1"]);
        assert_eq!(
            client_addr(peer, &h, &t),
            "81.2.69.142".parse::<IpAddr>().unwrap()
        );
        let h = xff(&["6.6.6.6", "81.2.69.142"]);
        assert_eq!(
            client_addr(peer, &h, &t),
            "81.2.69.142".parse::<IpAddr>().unwrap()
        );
        let h = xff(&["[2001:db8::1]:443"]);
        assert_eq!(
            client_addr(peer, &h, &t),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // All hops trusted: the leftmost.
        let h = xff(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(
            client_addr(peer, &h, &t),
            "10.9.9.9".parse::<IpAddr>().unwrap()
        );
        // Garbage stops the walk at the last good hop.
        let h = xff(&["81.2.69.142, garbage, 10.1.1.1"]);
        assert_eq!(
            client_addr(peer, &h, &t),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        // No header: the proxy itself.
        assert_eq!(client_addr(peer, &HeaderMap::new(), &t), peer.ip());
    }

    #[test]
    fn mapped_ipv6_peers_match_ipv4_ranges() {
        let peer: SocketAddr = "[::ffff:10.0.0.5]:80".parse().unwrap();
        let h = xff(&["81.2.69.142"]);
        assert_eq!(
            client_addr(peer, &h, &nets(&["10.0.0.0/8"])),
            "81.2.69.142".parse::<IpAddr>().unwrap()
        );
    }
}
