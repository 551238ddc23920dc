//! Image lifecycle: expiry specs (`30m`, `7d`, `never`, RFC 3339), the server and
//! per-key policies that bound them, privacy defaults, and the sweeper that
//! deletes expired and used-up images through the normal delete path, and
//! expired albums.
//!
//! Refusals are a [`LifecycleError`]; `error.rs` maps each to its HTTP status
//! and code, so this policy does not speak HTTP.
//!
//! An image past its expiry or out of views is dead at once for the public link
//! (the serving path checks); the sweeper only reclaims the space.

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::config::Config;
use crate::duration::expiry_duration;
use crate::store::Store;
use crate::store::codec::KeyPolicy;

/// Why a requested expiry, privacy or view limit is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The expiry text is longer than any valid one.
    #[error("expires is too long")]
    SpecTooLong,
    /// The expiry text is none of the accepted forms.
    #[error("expires must be a duration (30m, 12h, 7d, 4w), an RFC 3339 time, or never")]
    BadSpec,
    /// The expiry is beyond the server's or the key's maximum.
    #[error("expiry is longer than allowed (at most {})", fmt_duration(*max))]
    ExpiryTooLong {
        /// The tighter of the two maxima.
        max: Duration,
    },
    /// The expiry is an instant that has passed.
    #[error("expires is in the past")]
    InThePast,
    /// A public upload with a key that only makes private ones.
    #[error("this upload key only makes private uploads")]
    PublicNotAllowed,
    /// The view limit is not a whole number in range.
    #[error("max_views must be a whole number from 1 to 1000000000")]
    BadMaxViews,
}

/// What an upload or edit asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpirySpec {
    /// Keep until deleted.
    Never,
    /// Expire this long after now.
    After(Duration),
    /// Expire at this instant (Unix ms).
    At(i64),
}

/// Parses `never`, a duration (`30m`, `12h`, `7d`) or an RFC 3339 time.
pub fn parse_spec(s: &str) -> Result<ExpirySpec, LifecycleError> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(ExpirySpec::Never);
    }
    if s.len() > 40 {
        return Err(LifecycleError::SpecTooLong);
    }
    if let Ok(d) = expiry_duration(s) {
        return Ok(ExpirySpec::After(d));
    }
    if s.len() > 10
        && let Some(t) = clock::parse_time(s)
    {
        return Ok(ExpirySpec::At(t));
    }
    Err(LifecycleError::BadSpec)
}

/// An expiry edit naming a time already past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expiresAt is in the past")]
pub struct InThePast;

impl ExpirySpec {
    /// The instant an edit sets at `now` (`None`: kept until deleted); a time
    /// already past is refused.
    pub fn instant(self, now: i64) -> Result<Option<i64>, InThePast> {
        match self {
            ExpirySpec::Never => Ok(None),
            ExpirySpec::After(d) => Ok(Some(now.saturating_add(d.as_millis() as i64))),
            ExpirySpec::At(t) if t > now => Ok(Some(t)),
            ExpirySpec::At(_) => Err(InThePast),
        }
    }
}

/// Formats a duration in the largest unit that divides it (`7d`, `90m`).
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 604_800 == 0 => format!("{}w", s / 604_800),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn too_long(max: Duration) -> LifecycleError {
    LifecycleError::ExpiryTooLong { max }
}

/// The smaller of two optional limits (`None` = unlimited).
fn min_limit(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Turns a requested expiry into an absolute time (Unix ms) or `None` (never),
/// under the server's and the key's defaults and maxima. A request beyond the
/// maximum is refused (400 `expiry_too_long`), not clamped, so a client is never
/// surprised by an image vanishing earlier than it asked. A default longer than
/// the maximum is clamped to it (that is configuration, not a request).
pub fn resolve_expiry(
    requested: Option<ExpirySpec>,
    config: &Config,
    key: Option<&KeyPolicy>,
    now: i64,
) -> Result<Option<i64>, LifecycleError> {
    let key_max = key.and_then(|k| k.max_expiry_secs).map(Duration::from_secs);
    let max = min_limit(config.max_expiry, key_max);
    let after = |d: Duration| now.saturating_add(d.as_millis() as i64);
    match requested {
        None => {
            let default = key
                .and_then(|k| k.default_expiry_secs)
                .map(Duration::from_secs)
                .or(config.default_expiry);
            Ok(match (default, max) {
                (Some(d), Some(m)) => Some(after(d.min(m))),
                (Some(d), None) => Some(after(d)),
                (None, Some(m)) => Some(after(m)),
                (None, None) => None,
            })
        }
        Some(ExpirySpec::Never) => match max {
            Some(m) => Err(too_long(m)),
            None => Ok(None),
        },
        Some(ExpirySpec::After(d)) => match max {
            Some(m) if d > m => Err(too_long(m)),
            _ => Ok(Some(after(d))),
        },
        Some(ExpirySpec::At(t)) => {
            if t <= now {
                return Err(LifecycleError::InThePast);
            }
            match max {
                Some(m) if t - now > m.as_millis() as i64 => Err(too_long(m)),
                _ => Ok(Some(t)),
            }
        }
    }
}

/// Whether an upload is private: an explicit `private` wins where the key allows
/// it; else the key's default; else the server's.
pub fn resolve_private(
    requested: Option<bool>,
    config: &Config,
    key: Option<&KeyPolicy>,
) -> Result<bool, LifecycleError> {
    if let Some(k) = key
        && k.force_private
    {
        if requested == Some(false) {
            return Err(LifecycleError::PublicNotAllowed);
        }
        return Ok(true);
    }
    Ok(requested.unwrap_or_else(|| {
        key.and_then(|k| k.private_by_default)
            .unwrap_or(config.private_by_default)
    }))
}

/// Parses a view limit: a whole number from 1 to one billion.
pub fn parse_max_views(s: &str) -> Result<u64, LifecycleError> {
    let s = s.trim();
    s.parse::<u64>()
        .ok()
        .filter(|n| (1..=1_000_000_000).contains(n) && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(LifecycleError::BadMaxViews)
}

/// Deletes every image due at `now`; returns how many. Goes through
/// `Store::delete_image`, so refcounts, blobs, thumbnails and tokens are
/// released exactly as by a user's delete.
pub fn sweep_once(store: &Store, now: i64) -> crate::store::Result<usize> {
    let mut n = 0;
    loop {
        let due = store.due_for_sweep(now, 256)?;
        if due.is_empty() {
            return Ok(n);
        }
        for id in due {
            if store.delete_image(id)?.is_some() {
                n += 1;
            }
        }
    }
}

/// The background sweeper: runs every `interval` until the process ends.
pub async fn sweeper(store: Arc<Store>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = store.clone();
        // Expired albums are already gone for every reader; sweeping them
        // here reclaims their rows even when nobody lists albums.
        let swept = tokio::task::spawn_blocking(move || {
            let now = clock::now_ms();
            Ok::<_, crate::store::StoreError>((sweep_once(&s, now)?, s.purge_expired_albums(now)?))
        })
        .await;
        match swept {
            Ok(Ok((0, 0))) => {}
            Ok(Ok((images, albums))) => {
                tracing::info!(images, albums, "deleted expired images and albums")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "expiry sweep failed"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn cfg(default: Option<&str>, max: Option<&str>) -> Config {
        let mut c = Config::for_tests(std::path::Path::new("/nonexistent"));
        c.default_expiry = default.map(|d| expiry_duration(d).unwrap());
        c.max_expiry = max.map(|d| expiry_duration(d).unwrap());
        c
    }

    #[test]
    fn specs_parse() {
        assert_eq!(
            parse_spec("30m").unwrap(),
            ExpirySpec::After(Duration::from_secs(1800))
        );
        assert_eq!(
            parse_spec("7d").unwrap(),
            ExpirySpec::After(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(parse_spec("NEVER").unwrap(), ExpirySpec::Never);
        assert_eq!(
            parse_spec("2030-01-01T00:00:00Z").unwrap(),
            ExpirySpec::At(1_893_456_000_000)
        );
        for bad in [
            "",
            "7",
            "0d",
            "-1d",
            "7y",
            "tomorrow",
            "2030-01-01",
            "99999999999999d",
            // Expiries are whole seconds.
            "1500ms",
            "999ms",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_spec("4w").unwrap(),
            ExpirySpec::After(Duration::from_secs(28 * 86_400))
        );
        assert_eq!(
            parse_spec("2000ms").unwrap(),
            ExpirySpec::After(Duration::from_secs(2))
        );
    }

    #[test]
    fn expiry_respects_defaults_and_maxima() {
        let now = 1_000 * H;
        let none = cfg(None, None);
        assert_eq!(resolve_expiry(None, &none, None, now).unwrap(), None);
        assert_eq!(
            resolve_expiry(Some(ExpirySpec::Never), &none, None, now).unwrap(),
            None
        );
        assert_eq!(
            resolve_expiry(Some(parse_spec("2h").unwrap()), &none, None, now).unwrap(),
            Some(now + 2 * H)
        );

        let server = cfg(Some("1d"), Some("7d"));
        assert_eq!(
            resolve_expiry(None, &server, None, now).unwrap(),
            Some(now + 24 * H)
        );
        let e = resolve_expiry(Some(ExpirySpec::Never), &server, None, now).unwrap_err();
        assert_eq!(
            e,
            LifecycleError::ExpiryTooLong {
                max: Duration::from_secs(7 * 86_400)
            }
        );
        assert!(resolve_expiry(Some(parse_spec("8d").unwrap()), &server, None, now).is_err());
        assert!(resolve_expiry(Some(ExpirySpec::At(now + 200 * H)), &server, None, now).is_err());
        assert!(resolve_expiry(Some(ExpirySpec::At(now - 1)), &server, None, now).is_err());
        assert_eq!(
            resolve_expiry(Some(ExpirySpec::At(now + H)), &server, None, now).unwrap(),
            Some(now + H)
        );

        // The key tightens the maximum and sets its own default.
        let key = KeyPolicy {
            default_expiry_secs: Some(3600),
            max_expiry_secs: Some(2 * 86_400),
            ..Default::default()
        };
        assert_eq!(
            resolve_expiry(None, &server, Some(&key), now).unwrap(),
            Some(now + H)
        );
        assert!(resolve_expiry(Some(parse_spec("3d").unwrap()), &server, Some(&key), now).is_err());
        // A key maximum cannot loosen the server's.
        let loose = KeyPolicy {
            max_expiry_secs: Some(30 * 86_400),
            ..Default::default()
        };
        assert!(
            resolve_expiry(Some(parse_spec("8d").unwrap()), &server, Some(&loose), now).is_err()
        );
        // Only a maximum: uploads without an expiry get the maximum.
        let only_max = cfg(None, Some("12h"));
        assert_eq!(
            resolve_expiry(None, &only_max, None, now).unwrap(),
            Some(now + 12 * H)
        );
        // A default beyond the maximum is clamped.
        let clamped = cfg(Some("30d"), Some("1d"));
        assert_eq!(
            resolve_expiry(None, &clamped, None, now).unwrap(),
            Some(now + 24 * H)
        );
    }

    #[test]
    fn privacy_defaults_and_forced_keys() {
        let mut c = cfg(None, None);
        assert!(!resolve_private(None, &c, None).unwrap());
        c.private_by_default = true;
        assert!(resolve_private(None, &c, None).unwrap());
        assert!(!resolve_private(Some(false), &c, None).unwrap());
        let k = KeyPolicy {
            private_by_default: Some(false),
            ..Default::default()
        };
        assert!(!resolve_private(None, &c, Some(&k)).unwrap());
        let forced = KeyPolicy {
            force_private: true,
            ..Default::default()
        };
        assert!(resolve_private(None, &c, Some(&forced)).unwrap());
        assert!(resolve_private(Some(true), &c, Some(&forced)).unwrap());
        assert_eq!(
            resolve_private(Some(false), &c, Some(&forced)).unwrap_err(),
            LifecycleError::PublicNotAllowed
        );
    }

    #[test]
    fn max_views_parse() {
        assert_eq!(parse_max_views("2").unwrap(), 2);
        for bad in ["0", "-1", "1.5", "x", "1000000001", "+3"] {
            assert!(parse_max_views(bad).is_err(), "{bad}");
        }
    }
}
