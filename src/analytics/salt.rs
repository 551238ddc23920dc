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

/// Visitors remembered per day (and, separately, visitor-image and
/// visitor-account pairs); beyond
/// this a visitor not yet seen is not counted as unique, which keeps memory
/// bounded (a few MiB per set) under a flood of distinct addresses.
pub const SEEN_CAP: usize = 250_000;

/// Today's salt and the visitors seen under it.
pub struct Visitors {
    day: i64,
    salt: [u8; 32],
    seen: HashSet<[u8; 16]>,
    seen_image: HashSet<(u64, [u8; 16])>,
    /// (digest of the owner's name, visitor): one visitor to several images of
    /// an account is one unique visitor of that account.
    seen_owner: HashSet<([u8; 8], [u8; 16])>,
}

/// What [`Visitors::mark`] found new about a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Firsts {
    /// The visitor's first view today, overall.
    pub day: bool,
    /// The visitor's first view of this image today.
    pub image: bool,
    /// The visitor's first view today of any image of this image's owner.
    pub owner: bool,
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
            seen_owner: HashSet::new(),
        }
    }

    /// Marks a view on `day` of `image` (owned by `owner`, when it still
    /// exists) by (`ip`, `agent_digest`); answers whether it is the visitor's
    /// first view that day overall, of that image, and of that owner. A view from a day already rotated away (a straggler queued
    /// before midnight) is never unique: its salt is gone.
    pub fn mark(
        &mut self,
        day: i64,
        image: u64,
        owner: Option<&str>,
        ip: Option<IpAddr>,
        agent_digest: &[u8; 16],
    ) -> Firsts {
        if day > self.day {
            self.day = day;
            self.salt = crate::secret::random_bytes();
            self.seen = HashSet::new();
            self.seen_image = HashSet::new();
            self.seen_owner = HashSet::new();
        }
        if day < self.day {
            return Firsts::default();
        }
        let v = self.visitor(ip, agent_digest);
        let new_day = self.seen.len() < SEEN_CAP && self.seen.insert(v);
        let new_image = self.seen_image.len() < SEEN_CAP && self.seen_image.insert((image, v));
        let new_owner = owner.is_some_and(|o| {
            // A digest keeps the set's entries small and fixed-size; 64 bits
            // make a collision between two account names negligible.
            let mut d = [0u8; 8];
            d.copy_from_slice(&blake3::hash(o.as_bytes()).as_bytes()[..8]);
            self.seen_owner.len() < SEEN_CAP && self.seen_owner.insert((d, v))
        });
        Firsts {
            day: new_day,
            image: new_image,
            owner: new_owner,
        }
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
    fn a_visitor_is_unique_once_per_day_per_image_and_per_owner() {
        let f = |day, image, owner| Firsts { day, image, owner };
        let mut v = Visitors::new();
        let ip = Some("81.2.69.142".parse().unwrap());
        let firefox = agent_digest(Some(b"Firefox"));
        let chrome = agent_digest(Some(b"Chrome"));
        let (a, b) = (Some("alice"), Some("bob"));
        assert_eq!(v.mark(10, 1, a, ip, &firefox), f(true, true, true));
        assert_eq!(v.mark(10, 1, a, ip, &firefox), f(false, false, false));
        // Another image of the same account: new for the image only.
        assert_eq!(v.mark(10, 2, a, ip, &firefox), f(false, true, false));
        // An image of another account: new for that account.
        assert_eq!(v.mark(10, 3, b, ip, &firefox), f(false, true, true));
        // A deleted image (no owner) is nobody's.
        assert_eq!(v.mark(10, 4, None, ip, &firefox), f(false, true, false));
        // Same address, another browser: another visitor.
        assert_eq!(v.mark(10, 1, a, ip, &chrome), f(true, true, true));
        // The next day everyone is new again, under a new salt.
        let old_salt = v.salt;
        assert_eq!(v.mark(11, 1, a, ip, &firefox), f(true, true, true));
        assert_ne!(v.salt, old_salt);
        // A straggler from yesterday is not unique.
        assert_eq!(v.mark(10, 3, b, ip, &firefox), Firsts::default());
        assert!(!format!("{v:?}").contains("salt"));
    }
}
