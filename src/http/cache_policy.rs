//! Who may keep a copy of an image response, and for how long (`Cache-Control`).
//!
//! Anything that can stop being served must never sit in a shared cache
//! (ARCHITECTURE invariant 11): a proxy that stored a one-time or expiring image
//! would keep handing it out after the link is dead. So:
//!
//! - public, no expiry, no view limit: `public, max-age=31536000, immutable`
//!   (the bytes behind a link never change);
//! - private (a `?key=` link, or the session proxy): `private, no-store`;
//! - view-limited: `private, no-store`, because every delivery must be
//!   accounted, and a copy kept even by the browser would be a free view;
//! - expiring: `private, max-age=<whole seconds left>`, so only the viewer's own
//!   browser keeps it, and never past the expiry. Not `immutable`: that would
//!   tell the browser not to revalidate even on reload.
//!
//! Conditional requests (`If-None-Match`) and their 304 answers carry the same
//! header, so a revalidated copy gets no longer life than a fresh one.

use crate::store::codec::ImageRecord;

/// A year: the longest `max-age` worth sending (RFC 9111 §5.2.2.1 allows more,
/// but caches cap it anyway).
pub const YEAR_SECS: i64 = 31_536_000;

/// What may cache one image response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Any cache, for a year.
    PublicForever,
    /// Only the viewer's browser, for this many seconds.
    BrowserFor(i64),
    /// Nobody.
    NoStore,
}

impl CachePolicy {
    /// The policy for an image row served at `now` (Unix ms). `private` is true
    /// for a keyed link and for the session proxy.
    pub fn for_image(rec: &ImageRecord, private: bool, now: i64) -> Self {
        if private || rec.max_views.is_some() {
            return CachePolicy::NoStore;
        }
        match rec.expires_at {
            None => CachePolicy::PublicForever,
            // Rounded down, so a browser copy never outlives the link.
            Some(at) => match at.saturating_sub(now).div_euclid(1000) {
                left if left <= 0 => CachePolicy::NoStore,
                left => CachePolicy::BrowserFor(left.min(YEAR_SECS)),
            },
        }
    }

    /// The `Cache-Control` value.
    pub fn header_value(self) -> String {
        match self {
            CachePolicy::PublicForever => format!("public, max-age={YEAR_SECS}, immutable"),
            CachePolicy::BrowserFor(s) => format!("private, max-age={s}"),
            CachePolicy::NoStore => "private, no-store".to_string(),
        }
    }

    /// Whether a shared cache may store the response.
    pub fn shared(self) -> bool {
        self == CachePolicy::PublicForever
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::test_record;

    #[test]
    fn only_an_image_that_never_stops_is_shared() {
        let now = 1_000_000;
        let plain = test_record(b"x");
        let p = |rec: &ImageRecord, private| CachePolicy::for_image(rec, private, now);
        assert_eq!(p(&plain, false), CachePolicy::PublicForever);
        assert!(p(&plain, false).shared());
        assert_eq!(p(&plain, true), CachePolicy::NoStore);
        let limited = ImageRecord {
            max_views: Some(1_000_000_000),
            ..plain.clone()
        };
        assert_eq!(p(&limited, false), CachePolicy::NoStore);
        let expiring = |in_ms: i64| ImageRecord {
            expires_at: Some(now + in_ms),
            ..plain.clone()
        };
        assert_eq!(p(&expiring(90_999), false), CachePolicy::BrowserFor(90));
        assert_eq!(p(&expiring(999), false), CachePolicy::NoStore);
        assert_eq!(p(&expiring(-5), false), CachePolicy::NoStore);
        assert_eq!(
            p(&expiring(10 * YEAR_SECS * 1000), false),
            CachePolicy::BrowserFor(YEAR_SECS)
        );
        assert_eq!(p(&expiring(60_000), true), CachePolicy::NoStore);
        assert_eq!(
            CachePolicy::BrowserFor(90).header_value(),
            "private, max-age=90"
        );
        assert!(!CachePolicy::BrowserFor(90).shared());
    }
}
