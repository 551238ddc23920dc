//! Unique visitors without keeping anything that identifies a person.
//!
//! A visitor is `blake3_keyed(salt, address ‖ digest(User-Agent))`, truncated to
//! 128 bits, where `salt` is 32 random bytes made at the first view of each UTC
//! day and held only in memory: it is never written to disk or logs, and it is
//! dropped (with every mark made under it) when the day ends. Without the salt
//! the marks cannot be tied back to an address, even by brute force over the
//! IPv4 space; after the day ends nobody has the salt. The marks themselves live
//! only here too; the database receives just the counts.
//!
//! The price of never storing the salt: after a restart a returning visitor is
//! counted once more that day.

use std::collections::HashSet;
use std::net::IpAddr;

/// Visitors remembered per day (and, separately, visitor-image pairs); beyond
/// this a visitor not yet seen is not counted as unique, which keeps memory
/// bounded (a few MiB per set) under a flood of distinct addresses.
pub const SEEN_CAP: usize = 250_000;

/// Today's salt and the visitors seen under it.
pub struct Visitors {
    day: i64,
    salt: [u8; 32],
    seen: HashSet<[u8; 16]>,
    seen_image: HashSet<(u64, [u8; 16])>,
}

impl std::fmt::Debug for Visitors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the salt.
        f.debug_struct("Visitors")
            .field("day", &self.day)
            .field("seen", &self.seen.len())
            .finish()
    }
}

impl Default for Visitors {
    fn default() -> Self {
        Self::new()
    }
}

impl Visitors {
    /// No day yet: the first view makes the salt.
    pub fn new() -> Visitors {
        Visitors {
            day: i64::MIN,
            salt: crate::secret::random_bytes(),
            seen: HashSet::new(),
            seen_image: HashSet::new(),
        }
    }

    /// Marks a view on `day` of `image` by (`ip`, `agent_digest`); answers
    /// whether it is the visitor's first view that day overall, and of that
    /// image. A view from a day already rotated away (a straggler queued
    /// before midnight) is never unique: its salt is gone.
    pub fn mark(
        &mut self,
        day: i64,
        image: u64,
        ip: Option<IpAddr>,
        agent_digest: &[u8; 16],
    ) -> (bool, bool) {
        if day > self.day {
            self.day = day;
            self.salt = crate::secret::random_bytes();
            self.seen = HashSet::new();
            self.seen_image = HashSet::new();
        }
        if day < self.day {
            return (false, false);
        }
        let v = self.visitor(ip, agent_digest);
        let new_day = self.seen.len() < SEEN_CAP && self.seen.insert(v);
        let new_image = self.seen_image.len() < SEEN_CAP && self.seen_image.insert((image, v));
        (new_day, new_image)
    }

    fn visitor(&self, ip: Option<IpAddr>, agent_digest: &[u8; 16]) -> [u8; 16] {
        let mut h = blake3::Hasher::new_keyed(&self.salt);
        let ip16 = match ip {
            Some(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
            Some(IpAddr::V6(v6)) => v6.octets(),
            None => [0; 16],
        };
        h.update(&ip16);
        h.update(agent_digest);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    }
}

/// The digest of a User-Agent carried from the serving path to the writer, so
/// the string itself is neither copied nor kept. Not a secret on its own.
pub fn agent_digest(ua: Option<&[u8]>) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&blake3::hash(ua.unwrap_or_default()).as_bytes()[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_is_unique_once_per_day_and_per_image() {
        let mut v = Visitors::new();
        let ip = Some("81.2.69.142".parse().unwrap());
        let firefox = agent_digest(Some(b"Firefox"));
        let chrome = agent_digest(Some(b"Chrome"));
        assert_eq!(v.mark(10, 1, ip, &firefox), (true, true));
        assert_eq!(v.mark(10, 1, ip, &firefox), (false, false));
        assert_eq!(v.mark(10, 2, ip, &firefox), (false, true));
        // Same address, another browser: another visitor.
        assert_eq!(v.mark(10, 1, ip, &chrome), (true, true));
        // The next day everyone is new again, under a new salt.
        let old_salt = v.salt;
        assert_eq!(v.mark(11, 1, ip, &firefox), (true, true));
        assert_ne!(v.salt, old_salt);
        // A straggler from yesterday is not unique.
        assert_eq!(v.mark(10, 3, ip, &firefox), (false, false));
        assert!(!format!("{v:?}").contains("salt"));
    }
}
