//! What keeps clients that never read their responses from locking everyone
//! out (SECURITY.md A42): a response-write progress timeout on every
//! connection, a cap on the connections (or, behind a trusted proxy, the
//! requests) of one client address, and a reserve of connection slots that
//! only addresses holding few connections may take.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::{Instant, Sleep};

use crate::auth::ratelimit::addr_key;

/// In the reserve, an address may open a connection only while it holds
/// fewer than this many: a health check (one) and a browser (a handful) get
/// in, a flood that already holds dozens does not.
pub const RESERVE_PER_ADDR: usize = 4;

/// The slots kept for the reserve out of `max` connections: 1/16, 1 to 64.
pub fn reserve_for(max: usize) -> usize {
    (max / 16).clamp(1, 64).min(max.saturating_sub(1))
}

/// Why a connection (or a proxied request) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address holds its cap already.
    PerAddress,
    /// Only the reserve is left, and the address holds several connections.
    Reserve,
}

#[derive(Debug, Default)]
struct Tally {
    open: usize,
    by_addr: HashMap<IpAddr, usize>,
}

/// Open connections (or requests) by client address: IPv4 as is, IPv6 by
/// its /64, IPv4-mapped IPv6 as IPv4 (the login limiter's keys).
#[derive(Debug)]
pub struct ConnTable {
    per_addr: usize,
    max: usize,
    reserve: usize,
    tally: Mutex<Tally>,
}

/// One admitted connection or request; gives its place back when dropped.
#[derive(Debug)]
pub struct Slot {
    table: Arc<ConnTable>,
    key: Option<IpAddr>,
}

impl ConnTable {
    /// A table allowing `per_addr` per address out of `max` in all, of which
    /// `reserve` go only to addresses holding fewer than [`RESERVE_PER_ADDR`].
    pub fn new(per_addr: usize, max: usize, reserve: usize) -> Arc<ConnTable> {
        Arc::new(ConnTable {
            per_addr: per_addr.max(1),
            max,
            reserve,
            tally: Mutex::new(Tally::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a connection from `ip`, or says why not. An `exempt` peer (a
    /// trusted proxy, which carries many clients) is only counted in the total.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, exempt: bool) -> Result<Slot, Refusal> {
        let mut t = self.lock();
        let key = if exempt {
            None
        } else {
            let key = addr_key(ip);
            let held = t.by_addr.get(&key).copied().unwrap_or(0);
            if held >= self.per_addr {
                return Err(Refusal::PerAddress);
            }
            if t.open >= self.max.saturating_sub(self.reserve) && held >= RESERVE_PER_ADDR {
                return Err(Refusal::Reserve);
            }
            *t.by_addr.entry(key).or_insert(0) += 1;
            Some(key)
        };
        t.open += 1;
        Ok(Slot {
            table: self.clone(),
            key,
        })
    }

    /// How many are open now.
    pub fn open(&self) -> usize {
        self.lock().open
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.table.lock();
        t.open = t.open.saturating_sub(1);
        if let Some(k) = self.key
            && let Some(n) = t.by_addr.get_mut(&k)
        {
            *n -= 1;
            if *n == 0 {
                t.by_addr.remove(&k);
            }
        }
    }
}

/// Connection IO that fails a write, flush or shutdown which makes no
/// progress for `limit`: hyper has read and header timeouts but none for
/// writing, so a client that stops reading held its connection (and its
/// response buffers) for as long as it liked.
#[derive(Debug)]
pub struct WriteDeadline<T> {
    io: T,
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl<T> WriteDeadline<T> {
    /// Wraps `io`.
    pub fn new(io: T, limit: Duration) -> Self {
        WriteDeadline {
            io,
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        }
    }

    /// Passes a finished poll through (progress: the clock stops), or starts
    /// the clock on a pending one and fails once it runs out.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.armed = false;
            return poll;
        }
        if !self.armed {
            self.sleep.as_mut().reset(Instant::now() + self.limit);
            self.armed = true;
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing of the response for the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Read + Unpin> Read for WriteDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for WriteDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, poll)
    }
}

/// A response body that holds a [`Slot`] until it is sent or dropped, so a
/// proxied client's request counts for as long as its response streams.
pub struct Held<B> {
    body: B,
    _slot: Slot,
}

impl<B> Held<B> {
    /// `body`, holding `slot`.
    pub fn new(body: B, slot: Slot) -> Self {
        Held { body, _slot: slot }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Held<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The answer to a connection refused at accept, written only if the socket
/// takes it at once: nothing may wait on a client that is already too many.
pub const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 80\r\n\
\r\n\
{\"error\":\"too many connections from this address\",\"code\":\"too_many_connections\"}";

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_refusal_is_a_complete_json_response() {
        let text = std::str::from_utf8(REFUSED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "too_many_connections");
    }

    #[test]
    fn an_address_gets_its_cap_and_ipv6_counts_by_64() {
        let t = ConnTable::new(3, 100, 4);
        let held: Vec<Slot> = (0..3)
            .map(|_| t.admit(ip("198.51.100.7"), false).unwrap())
            .collect();
        assert_eq!(
            t.admit(ip("198.51.100.7"), false).unwrap_err(),
            Refusal::PerAddress
        );
        assert_eq!(
            t.admit(ip("::ffff:198.51.100.7"), false).unwrap_err(),
            Refusal::PerAddress,
            "a mapped address is the same client"
        );
        t.admit(ip("198.51.100.8"), false).unwrap();
        let v6: Vec<Slot> = (1..=3)
            .map(|i| t.admit(ip(&format!("2001:db8:0:1::{i}")), false).unwrap())
            .collect();
        assert_eq!(
            t.admit(ip("2001:db8:0:1:ffff::9"), false).unwrap_err(),
            Refusal::PerAddress
        );
        t.admit(ip("2001:db8:0:2::1"), false).unwrap();
        // A trusted proxy is not capped per address.
        let proxied: Vec<Slot> = (0..10)
            .map(|_| t.admit(ip("10.0.0.1"), true).unwrap())
            .collect();
        drop(held);
        t.admit(ip("198.51.100.7"), false).unwrap();
        drop((v6, proxied));
    }

    #[test]
    fn the_reserve_admits_only_addresses_holding_few() {
        // 24 slots, the last 8 reserved; 8 per address.
        let t = ConnTable::new(8, 24, 8);
        let mut held = Vec::new();
        for a in ["192.0.2.1", "192.0.2.2"] {
            for _ in 0..8 {
                held.push(t.admit(ip(a), false).unwrap());
            }
        }
        assert_eq!(t.open(), 16);
        // A third flooding address fills up to the reserve, then stops at the
        // reserve's per-address allowance.
        for _ in 0..RESERVE_PER_ADDR {
            held.push(t.admit(ip("192.0.2.3"), false).unwrap());
        }
        assert_eq!(
            t.admit(ip("192.0.2.3"), false).unwrap_err(),
            Refusal::Reserve
        );
        assert_eq!(
            t.admit(ip("192.0.2.1"), false).unwrap_err(),
            Refusal::PerAddress
        );
        // Newcomers (a health check, an admin) still get in.
        held.push(t.admit(ip("127.0.0.1"), false).unwrap());
        held.push(t.admit(ip("203.0.113.5"), false).unwrap());
        assert_eq!(t.open(), 22);
        // Slots come back when dropped.
        held.clear();
        assert_eq!(t.open(), 0);
        assert!(t.lock().by_addr.is_empty());
    }

    #[test]
    fn reserve_sizes() {
        assert_eq!(reserve_for(1024), 64);
        assert_eq!(reserve_for(256), 16);
        assert_eq!(reserve_for(10), 1);
        assert_eq!(reserve_for(1), 0);
        assert_eq!(reserve_for(100_000), 64);
    }
}
