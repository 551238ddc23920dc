//! Every hostile-input case of SECURITY.md §2 (A01–A35), one test per case, named
//! after it. Malformed HTTP goes over raw sockets, since real clients refuse to
//! send it. Shared helpers live here.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::*;

mod access;
mod content;
mod cross_site;
mod data;
mod framing;
mod limits;
mod login;
mod login_burst;
mod multipart;
mod serving;
mod stats;
mod transport;
mod write_stall;

/// The boundary the raw forms below use.
pub const BOUNDARY: &str = "pixbin-test-boundary-7f3a";

/// One part of a hand-built multipart body.
pub struct RawPart<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub extra_headers: &'a str,
    pub data: &'a [u8],
}

impl<'a> RawPart<'a> {
    pub fn file(name: &'a str, filename: &'a str, data: &'a [u8]) -> Self {
        RawPart {
            name,
            filename: Some(filename),
            extra_headers: "",
            data,
        }
    }
    pub fn text(name: &'a str, value: &'a str) -> Self {
        RawPart {
            name,
            filename: None,
            extra_headers: "",
            data: value.as_bytes(),
        }
    }
}

/// The bytes of one part, without the closing boundary.
pub fn part_bytes(p: &RawPart<'_>) -> Vec<u8> {
    let mut out = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"",
        p.name
    )
    .into_bytes();
    if let Some(f) = p.filename {
        out.extend(b"; filename=\"");
        out.extend(f.as_bytes());
        out.extend(b"\"\r\nContent-Type: application/octet-stream");
    }
    out.extend(b"\r\n");
    out.extend(p.extra_headers.as_bytes());
    out.extend(b"\r\n");
    out.extend(p.data);
    out.extend(b"\r\n");
    out
}

/// A whole multipart body with its closing boundary.
pub fn form(parts: &[RawPart<'_>]) -> Vec<u8> {
    let mut out: Vec<u8> = parts.iter().flat_map(part_bytes).collect();
    out.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// The Content-Type of [`form`] bodies.
pub fn form_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A parsed HTTP/1.1 response read from a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header value (first occurrence), case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A socket to the app with a read timeout, so a test never hangs.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads one response (head plus a Content-Length body) from `s`, skipping
/// nothing: a `100 Continue` is returned as such. `None` if the server closed
/// the connection first.
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<RawResponse> {
    let mut tmp = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut tmp) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if is_reset(&e) => return None,
            Err(e) => panic!("reading a response: {e}"),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let mut res = RawResponse {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = res
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < len {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if is_reset(&e) => break,
            Err(e) => panic!("reading a body: {e}"),
        }
    }
    let take = len.min(buf.len());
    res.body = buf.drain(..take).collect();
    Some(res)
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
    )
}

/// Writes `request` from a helper thread (the server may answer and close
/// before it has read everything) and reads up to `max` responses, stopping
/// early when the server closes the connection. With `half_close`, our side
/// is shut for writing after the request (hyper then drops the connection
/// as soon as it notices; a response is not guaranteed).
pub fn exchange(
    addr: SocketAddr,
    request: Vec<u8>,
    half_close: bool,
    max: usize,
) -> Vec<RawResponse> {
    let mut s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&request);
        if half_close {
            let _ = w.shutdown(Shutdown::Write);
        }
    });
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < max {
        match read_response(&mut s, &mut buf) {
            Some(r) => out.push(r),
            None => break,
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    let _ = writer.join();
    out
}

/// One request, one response (the connection may stay open; it is dropped).
#[track_caller]
pub fn roundtrip(addr: SocketAddr, request: Vec<u8>) -> RawResponse {
    exchange(addr, request, false, 1)
        .pop()
        .expect("the server closed the connection without answering")
}

/// Whether the server closes `s` within `limit` (EOF or reset); data it sends
/// meanwhile is discarded.
pub fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut tmp = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if is_reset(&e) => return true,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(e) => panic!("waiting for close: {e}"),
        }
    }
}

/// A request head for `POST /api/upload` with the app's key.
pub fn upload_head(app: &TestApp, content_type: &str, framing: &str) -> String {
    format!(
        "POST /api/upload HTTP/1.1\r\nHost: pixbin.test\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\n{framing}\r\n",
        app.upload_key
    )
}

/// A whole multipart upload request: the head, framed by `Content-Length`,
/// then `body`.
pub fn form_upload_request(app: &TestApp, body: &[u8]) -> Vec<u8> {
    let mut req = upload_head(
        app,
        &form_type(),
        &format!("Content-Length: {}\r\n", body.len()),
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// Waits (bounded, 5 s: SECURITY.md's "no-store") until no row, blob or temp
/// file is left.
#[track_caller]
pub fn assert_no_store(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.files_on_disk() != (0, 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    app.assert_empty_store();
}

/// Asserts a JSON error body: the status, the code, and no internals leaked.
#[track_caller]
pub fn assert_error(status: u16, body: &[u8], want_status: u16, want_code: &str) {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, want_status, "body: {text}");
    let v: serde_json::Value =
        serde_json::from_slice(body).unwrap_or_else(|_| panic!("error body is not JSON: {text}"));
    assert_eq!(v["code"], want_code, "body: {text}");
    assert!(v["error"].is_string(), "body: {text}");
    assert_no_internals(&text);
}

/// No stack trace, panic text or filesystem path in a client-visible body.
#[track_caller]
pub fn assert_no_internals(text: &str) {
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "/tmp/",
        "/home/",
        "/root/",
        "src/",
        ".redb",
    ] {
        assert!(!text.contains(bad), "response leaks {bad:?}: {text}");
    }
}
