//! Conditional requests for stored images (RFC 9110 §13): `If-Match`,
//! `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`, `If-Range`.

use hyper::HeaderMap;
use hyper::header::{self, HeaderValue};

/// What the preconditions say about a GET/HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Serve normally.
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether an entity-tag list (`"a", W/"b"` or `*`) matches `etag` (quoted).
/// `weak` selects the weak comparison of §8.8.3.2 (used by If-None-Match).
fn list_matches(list: &str, etag: &str, weak: bool) -> bool {
    let list = list.trim();
    if list == "*" {
        return true;
    }
    list.split(',')
        .map(str::trim)
        .any(|candidate| match candidate.strip_prefix("W/") {
            Some(opaque) => weak && opaque == etag,
            None => candidate == etag,
        })
}

/// Evaluates preconditions in the order of RFC 9110 §13.2.2 for a GET or HEAD of
/// a representation with strong `etag` (quoted) and `last_modified` (Unix s).
pub fn evaluate(h: &HeaderMap, etag: &str, last_modified: i64) -> Outcome {
    if let Some(im) = header_str(h, header::IF_MATCH) {
        if !list_matches(im, etag, false) {
            return Outcome::Failed;
        }
    } else if let Some(ius) = header_str(h, header::IF_UNMODIFIED_SINCE)
        && let Some(t) = http_date_secs(ius)
        && last_modified > t
    {
        return Outcome::Failed;
    }
    if let Some(inm) = header_str(h, header::IF_NONE_MATCH) {
        if list_matches(inm, etag, true) {
            return Outcome::NotModified;
        }
    } else if let Some(ims) = header_str(h, header::IF_MODIFIED_SINCE)
        && let Some(t) = http_date_secs(ims)
        && last_modified <= t
    {
        return Outcome::NotModified;
    }
    Outcome::Proceed
}

/// Whether a `Range` may be honoured given `If-Range` (§13.1.5): the validator
/// must be our strong ETag, or exactly our Last-Modified date.
pub fn if_range_allows(h: &HeaderMap, etag: &str, last_modified: i64) -> bool {
    match header_str(h, header::IF_RANGE) {
        None => true,
        Some(v) if v.starts_with('"') => v == etag,
        Some(v) if v.starts_with("W/") => false,
        Some(v) => http_date_secs(v) == Some(last_modified),
    }
}

/// Parses an HTTP date into Unix seconds.
pub fn http_date_secs(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// Formats Unix seconds as an HTTP date header value.
pub fn http_date(secs: i64) -> HeaderValue {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("http dates are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        m
    }
    const E: &str = "\"abc\"";
    const T: i64 = 1_700_000_000;

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert_eq!(
            evaluate(&h(&[(header::IF_NONE_MATCH, E)]), E, T),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_NONE_MATCH, "W/\"abc\"")]), E, T),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_NONE_MATCH, "\"x\", \"abc\"")]), E, T),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_NONE_MATCH, "*")]), E, T),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_NONE_MATCH, "\"x\"")]), E, T),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_modified_since_only_without_if_none_match() {
        let d = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(T as u64),
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_MODIFIED_SINCE, &d)]), E, T),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_MODIFIED_SINCE, &d)]), E, T + 1),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(
                &h(&[
                    (header::IF_MODIFIED_SINCE, &d),
                    (header::IF_NONE_MATCH, "\"x\"")
                ]),
                E,
                T
            ),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_MODIFIED_SINCE, "garbage")]), E, T),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_match_is_strong() {
        assert_eq!(
            evaluate(&h(&[(header::IF_MATCH, E)]), E, T),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(&h(&[(header::IF_MATCH, "W/\"abc\"")]), E, T),
            Outcome::Failed
        );
    }

    #[test]
    fn if_range_needs_strong_etag_or_exact_date() {
        assert!(if_range_allows(&h(&[]), E, T));
        assert!(if_range_allows(&h(&[(header::IF_RANGE, E)]), E, T));
        assert!(!if_range_allows(&h(&[(header::IF_RANGE, "\"old\"")]), E, T));
        assert!(!if_range_allows(
            &h(&[(header::IF_RANGE, "W/\"abc\"")]),
            E,
            T
        ));
        let d = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(T as u64),
        );
        assert!(if_range_allows(&h(&[(header::IF_RANGE, &d)]), E, T));
        assert!(!if_range_allows(&h(&[(header::IF_RANGE, &d)]), E, T + 5));
    }
}
