//! Login throttling per client address and per user name (SECURITY.md A30).
//!
//! Each key (an address, a user name) has a leaky bucket of failed logins: every
//! failure adds one, one drains every `window / attempts`. While a bucket is
//! full, login answers 429 with `Retry-After` *before* the password is checked,
//! so the right password is refused too and guessing stops paying. The check
//! costs the same for known and unknown user names (no enumeration).
//!
//! An attempt is counted as a failure when it is let through ([`LoginLimiter::reserve`]),
//! before the password is hashed, and given back when it succeeds: checking
//! first and counting after the slow hash let every one of hundreds of
//! concurrent attempts pass the check (SECURITY.md A43).
//!
//! The per-name bucket (four times larger) slows guessing spread over many
//! addresses, but would let anyone lock the owner out; so an address that logged
//! in as that name before is exempt from the name's bucket (its own still applies).
//! State is in memory and bounded: the oldest, least-full entries are dropped
//! first when a table is full.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::password::{HASH_QUEUE, HashGate};

/// Most entries per table (addresses, names, remembered good logins).
const MAX_ENTRIES: usize = 10_000;
/// The name bucket is this many times the address bucket.
const NAME_FACTOR: u32 = 4;
/// How long a successful (name, address) pair stays exempt from the name bucket.
const REMEMBER: Duration = Duration::from_secs(30 * 86_400);

/// The longest user name the limiter keys on (login refuses longer ones anyway).
const MAX_NAME: usize = 128;

/// A refused attempt: wait this many whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// For `Retry-After`.
    pub retry_after_secs: u64,
}

/// One leaky bucket: the instant it will be empty again.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    empty_at: Instant,
}

/// Buckets by key, bounded.
#[derive(Debug)]
struct Table<K> {
    map: HashMap<K, Bucket>,
    /// Time one failure takes to drain.
    step: Duration,
    /// Failures allowed before the bucket is full.
    capacity: u32,
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn new(capacity: u32, window: Duration) -> Self {
        let capacity = capacity.max(1);
        Table {
            map: HashMap::new(),
            step: window / capacity,
            capacity,
        }
    }

    /// `Some(wait)` while the bucket of `key` is full: one more failure would
    /// take it past `capacity` until one step has drained.
    fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let b = self.map.get(key)?;
        let allowed_at = b.empty_at.checked_sub(self.step * (self.capacity - 1))?;
        let wait = allowed_at.saturating_duration_since(now);
        (!wait.is_zero()).then_some(wait)
    }

    fn add_failure(&mut self, key: &K, now: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= MAX_ENTRIES {
            self.make_room(now);
        }
        let b = self
            .map
            .entry(key.clone())
            .or_insert(Bucket { empty_at: now });
        b.empty_at = b.empty_at.max(now) + self.step;
    }

    /// Takes back one failure (an attempt that was never checked).
    fn remove_failure(&mut self, key: &K, now: Instant) {
        if let Some(b) = self.map.get_mut(key) {
            b.empty_at = b.empty_at.checked_sub(self.step).unwrap_or(now);
            if b.empty_at <= now {
                self.map.remove(key);
            }
        }
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Drops drained buckets; if none were, the one closest to drained.
    fn make_room(&mut self, now: Instant) {
        self.map.retain(|_, b| b.empty_at > now);
        if self.map.len() >= MAX_ENTRIES
            && let Some(k) = self
                .map
                .iter()
                .min_by_key(|(_, b)| b.empty_at)
                .map(|(k, _)| k.clone())
        {
            self.map.remove(&k);
        }
    }
}

#[derive(Debug)]
struct Inner {
    addrs: Table<IpAddr>,
    names: Table<String>,
    /// (name, address) pairs that logged in, and when that stops counting.
    good: HashMap<(String, IpAddr), Instant>,
}

impl Inner {
    /// How long until an attempt for these keys may be tried, if it may not now.
    fn wait(&self, addr: &IpAddr, name: &String, now: Instant) -> Option<Throttled> {
        let mut wait = self.addrs.blocked(addr, now);
        let known = self
            .good
            .get(&(name.clone(), *addr))
            .is_some_and(|&until| until > now);
        if !known && let Some(w) = self.names.blocked(name, now) {
            wait = Some(wait.map_or(w, |a| a.max(w)));
        }
        wait.map(|w| Throttled {
            retry_after_secs: w.as_secs() + u64::from(w.subsec_nanos() > 0),
        })
    }
}

/// The login limiter shared by every request, with the gate that bounds how
/// many password hashes run at once.
#[derive(Debug)]
pub struct LoginLimiter {
    inner: Mutex<Inner>,
    /// Every password verification of login runs through this.
    pub hashing: HashGate,
}

/// The key of an address: IPv4 as is, IPv6 by its /64 (one host usually holds
/// a whole /64, so single addresses would be free to rotate).
pub fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn name_key(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

impl LoginLimiter {
    /// `attempts` failures per address within `window` (and four times that per
    /// user name) before logins are refused.
    pub fn new(attempts: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            inner: Mutex::new(Inner {
                addrs: Table::new(attempts, window),
                names: Table::new(attempts.saturating_mul(NAME_FACTOR), window),
                good: HashMap::new(),
            }),
            hashing: HashGate::new(HashGate::default_concurrency(), HASH_QUEUE),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The tables stay consistent whatever panicked while holding the lock.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a login for `name` from `addr` may be tried now.
    pub fn check(&self, addr: IpAddr, name: &str, now: Instant) -> Result<(), Throttled> {
        let (addr, name) = (addr_key(addr), name_key(name));
        match self.lock().wait(&addr, &name, now) {
            None => Ok(()),
            Some(t) => Err(t),
        }
    }

    /// Lets one login attempt through, or refuses it while a bucket is full.
    /// A let-through attempt already counts as a failure, in the same step as
    /// the check: concurrent attempts cannot all pass it. A success clears it
    /// ([`succeeded`](Self::succeeded)); one that was never checked is given
    /// back with [`refund`](Self::refund).
    pub fn reserve(&self, addr: IpAddr, name: &str, now: Instant) -> Result<(), Throttled> {
        let (k_addr, k_name) = (addr_key(addr), name_key(name));
        let mut inner = self.lock();
        if let Some(wait) = inner.wait(&k_addr, &k_name, now) {
            return Err(wait);
        }
        inner.addrs.add_failure(&k_addr, now);
        inner.names.add_failure(&k_name, now);
        Ok(())
    }

    /// Gives back an attempt [`reserve`](Self::reserve) let through but that
    /// was never checked (the server was too busy to hash it).
    pub fn refund(&self, addr: IpAddr, name: &str, now: Instant) {
        let (addr, name) = (addr_key(addr), name_key(name));
        let mut inner = self.lock();
        inner.addrs.remove_failure(&addr, now);
        inner.names.remove_failure(&name, now);
    }

    /// Records a failed login.
    pub fn failed(&self, addr: IpAddr, name: &str, now: Instant) {
        let (addr, name) = (addr_key(addr), name_key(name));
        let mut inner = self.lock();
        inner.addrs.add_failure(&addr, now);
        inner.names.add_failure(&name, now);
    }

    /// Records a successful login: both buckets start over, and this address is
    /// exempt from the name's bucket from now on.
    pub fn succeeded(&self, addr: IpAddr, name: &str, now: Instant) {
        let (addr, name) = (addr_key(addr), name_key(name));
        let mut inner = self.lock();
        inner.addrs.clear(&addr);
        inner.names.clear(&name);
        if inner.good.len() >= MAX_ENTRIES {
            inner.good.retain(|_, until| *until > now);
            if inner.good.len() >= MAX_ENTRIES
                && let Some(k) = inner
                    .good
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(k, _)| k.clone())
            {
                inner.good.remove(&k);
            }
        }
        inner.good.insert((name, addr), now + REMEMBER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_throttled_after_its_attempts_and_recovers() {
        let l = LoginLimiter::new(5, WINDOW);
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        for i in 0..5 {
            assert_eq!(l.check(a, "admin", t0), Ok(()), "attempt {i}");
            l.failed(a, "admin", t0);
        }
        let t = l.check(a, "admin", t0).unwrap_err();
        assert_eq!(t.retry_after_secs, 12, "one step of a 60 s / 5 bucket");
        // Another user name from the same address is throttled too.
        assert!(l.check(a, "root", t0).is_err());
        // Another address is not.
        assert_eq!(l.check(ip("203.0.113.8"), "root", t0), Ok(()));
        // One step later, exactly one more try.
        let t1 = t0 + Duration::from_secs(12);
        assert_eq!(l.check(a, "admin", t1), Ok(()));
        l.failed(a, "admin", t1);
        assert!(l.check(a, "admin", t1).is_err());
        // A full window later, all is forgiven.
        assert_eq!(l.check(a, "admin", t1 + WINDOW), Ok(()));
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let l = LoginLimiter::new(2, WINDOW);
        let t0 = Instant::now();
        l.failed(ip("2001:db8:1:2::1"), "a", t0);
        l.failed(ip("2001:db8:1:2::ffff"), "b", t0);
        assert!(l.check(ip("2001:db8:1:2:3:4:5:6"), "c", t0).is_err());
        assert_eq!(l.check(ip("2001:db8:1:3::1"), "c", t0), Ok(()));
        // IPv4-mapped addresses count as IPv4.
        l.failed(ip("::ffff:198.51.100.1"), "x", t0);
        l.failed(ip("198.51.100.1"), "y", t0);
        assert!(l.check(ip("198.51.100.1"), "z", t0).is_err());
    }

    #[test]
    fn a_name_is_throttled_across_addresses_except_where_it_logged_in() {
        let l = LoginLimiter::new(2, WINDOW);
        let t0 = Instant::now();
        let home = ip("192.0.2.1");
        l.succeeded(home, "admin", t0);
        // 8 failures for "admin" from 8 addresses: the name bucket (2 x 4) fills.
        for i in 0..8 {
            l.failed(ip(&format!("198.51.100.{i}")), "admin", t0);
        }
        assert!(l.check(ip("198.51.100.200"), "admin", t0).is_err());
        assert_eq!(
            l.check(home, "admin", t0),
            Ok(()),
            "the owner still gets in"
        );
        assert_eq!(l.check(ip("198.51.100.200"), "alice", t0), Ok(()));
    }

    #[test]
    fn success_resets_and_tables_stay_bounded() {
        let l = LoginLimiter::new(1, WINDOW);
        let t0 = Instant::now();
        let a = ip("192.0.2.9");
        l.failed(a, "admin", t0);
        assert!(l.check(a, "admin", t0).is_err());
        l.succeeded(a, "admin", t0);
        assert_eq!(l.check(a, "admin", t0), Ok(()));
        for i in 0..(MAX_ENTRIES as u32 + 50) {
            l.failed(IpAddr::V4(i.into()), &format!("u{i}"), t0);
        }
        let inner = l.lock();
        assert!(inner.addrs.map.len() <= MAX_ENTRIES);
        assert!(inner.names.map.len() <= MAX_ENTRIES);
    }

    #[test]
    fn concurrent_reservations_let_exactly_the_allowed_number_through() {
        let l = std::sync::Arc::new(LoginLimiter::new(5, WINDOW));
        let t0 = Instant::now();
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|i| {
                    let l = l.clone();
                    // Name variants share the address bucket.
                    s.spawn(move || {
                        l.reserve(ip("203.0.113.7"), &format!("Admin{i}"), t0)
                            .is_ok()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(passed, 5);
        // IPv6 /64 neighbours share one bucket too.
        for i in 0..5 {
            assert!(
                l.reserve(ip(&format!("2001:db8::{i}")), "admin", t0)
                    .is_ok()
            );
        }
        assert!(l.reserve(ip("2001:db8::ffff:1"), "admin", t0).is_err());
    }

    #[test]
    fn a_refund_gives_back_exactly_one_attempt() {
        let l = LoginLimiter::new(2, WINDOW);
        let t0 = Instant::now();
        let a = ip("192.0.2.44");
        l.reserve(a, "admin", t0).unwrap();
        l.reserve(a, "admin", t0).unwrap();
        assert!(l.reserve(a, "admin", t0).is_err());
        l.refund(a, "admin", t0);
        l.reserve(a, "admin", t0).unwrap();
        assert!(l.reserve(a, "admin", t0).is_err());
        // Refunds never leave a bucket emptier than empty.
        let b = ip("192.0.2.45");
        l.refund(b, "bob", t0);
        l.refund(b, "bob", t0);
        l.reserve(b, "bob", t0).unwrap();
        l.reserve(b, "bob", t0).unwrap();
        assert!(l.reserve(b, "bob", t0).is_err());
    }

    #[test]
    fn long_and_multibyte_names_are_cut_safely() {
        let n = "é".repeat(200);
        assert!(name_key(&n).len() <= MAX_NAME);
        assert!(name_key(&n).chars().all(|c| c == 'é'));
    }
}
