//! A42: clients that send requests (pipelined, or one GET of a large image)
//! and never read the answers. Other addresses are served within 2 s
//! throughout; the stuck connections are cut after the write timeout; one
//! address cannot hold more than its cap; behind a trusted proxy the cap
//! counts each forwarded client's requests.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream as AsyncStream};

/// A socket from `source` to `addr` with a 4 KiB receive buffer.
async fn stuck_socket(source: IpAddr, addr: SocketAddr) -> AsyncStream {
    let s = TcpSocket::new_v4().unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.bind(SocketAddr::new(source, 0)).unwrap();
    s.connect(addr).await.unwrap()
}

/// One request on a fresh connection from 127.0.0.1; (status, elapsed).
async fn timed_get(addr: SocketAddr, path: &str, extra: &str) -> (u16, Duration) {
    let t = Instant::now();
    let fut = async {
        let mut s = AsyncStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out)
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let status = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or(0);
    (status, t.elapsed())
}

/// Reads what is left until the server closes (EOF or reset); the byte count,
/// or `None` if it stays open for `limit`.
async fn drain(s: &mut AsyncStream, limit: Duration) -> Option<usize> {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(total),
            Ok(Ok(n)) => total += n,
        }
    }
}

#[tokio::test]
async fn a42_clients_that_never_read_are_cut_and_others_are_served() {
    let write_timeout = Duration::from_secs(4);
    let app = spawn_app_with(|c| {
        c.write_timeout = write_timeout;
        c.max_connections = 32;
        c.max_connections_per_ip = 8;
    })
    .await;
    // 9 MB: more than the kernel buffers of both ends hold.
    let big = app.upload_ok(bmp_filled(2000, 1500, 9), "big.bmp").await;
    let path = big["url"].as_str().unwrap()[app.base.len()..].to_string();
    let size = big["size"].as_u64().unwrap() as usize;
    // 4 addresses x 12 sockets (more than the 32 slots): two pipeline 6 GETs
    // each, two send one GET each; none reads.
    let mut socks = Vec::new();
    for (i, source) in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
        .iter()
        .enumerate()
    {
        let gets = if i % 2 == 0 { 6 } else { 1 };
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(gets);
        for _ in 0..12 {
            let mut s = stuck_socket(source.parse().unwrap(), app.addr).await;
            let _ = s.write_all(req.as_bytes()).await;
            socks.push((s, gets * size));
        }
    }
    // Another address is served within 2 s the whole time the stuck ones last.
    let start = Instant::now();
    let mut probes = 0;
    while start.elapsed() < write_timeout + Duration::from_secs(2) {
        let (status, took) = timed_get(app.addr, "/healthz", "").await;
        assert_eq!(status, 200, "probe {probes} at {:?}", start.elapsed());
        assert!(
            took < Duration::from_secs(2),
            "/healthz took {took:?} at {:?}",
            start.elapsed()
        );
        probes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One more write timeout: a connection accepted late (once slots freed)
    // stalled late too, and reading it now would let it progress again.
    tokio::time::sleep(write_timeout + Duration::from_secs(1)).await;
    // Every stuck connection was closed by the server with its responses cut
    // short (refused ones at once, the others at the write timeout).
    for (i, (s, full)) in socks.iter_mut().enumerate() {
        let got = drain(s, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("socket {i} still open"));
        assert!(got < *full, "socket {i} got its whole answer ({got} bytes)");
    }
    // And the image is served normally afterwards.
    let (status, _) = timed_get(app.addr, &path, "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a42_behind_a_trusted_proxy_the_cap_counts_forwarded_clients() {
    let write_timeout = Duration::from_secs(3);
    let app = spawn_app_with(|c| {
        c.write_timeout = write_timeout;
        c.max_connections_per_ip = 4;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let big = app.upload_ok(bmp_filled(2000, 1500, 9), "big.bmp").await;
    let path = big["url"].as_str().unwrap()[app.base.len()..].to_string();
    let from = |ip: &str| format!("X-Forwarded-For: {ip}\r\n");
    // The proxy itself opens more connections than the cap: it is not capped
    // per address. One forwarded client's 6 unread image GETs: 4 stall.
    let mut socks = Vec::new();
    for _ in 0..6 {
        let mut s = stuck_socket("127.0.0.1".parse().unwrap(), app.addr).await;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\n{}\r\n",
            from("203.0.113.9")
        );
        s.write_all(req.as_bytes()).await.unwrap();
        socks.push(s);
    }
    // That client's next request is refused while its 4 are stuck...
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut refused = false;
    while Instant::now() < deadline && !refused {
        refused = timed_get(app.addr, "/healthz", &from("203.0.113.9"))
            .await
            .0
            == 503;
    }
    assert!(
        refused,
        "a fifth request of one forwarded client was not refused"
    );
    // ...while another forwarded client and the proxy's own checks get in.
    assert_eq!(
        timed_get(app.addr, "/healthz", &from("203.0.113.10"))
            .await
            .0,
        200
    );
    assert_eq!(timed_get(app.addr, "/healthz", "").await.0, 200);
    // The write timeout frees its slots again.
    let deadline = Instant::now() + write_timeout + Duration::from_secs(3);
    let mut back = false;
    while Instant::now() < deadline && !back {
        back = timed_get(app.addr, "/healthz", &from("203.0.113.9"))
            .await
            .0
            == 200;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the stuck requests were not cut by the write timeout");
    for (i, s) in socks.iter_mut().enumerate() {
        assert!(
            drain(s, Duration::from_secs(5)).await.is_some(),
            "socket {i} still open"
        );
    }
}
