//! Cross-site request refusal (SECURITY.md A52) and the JSON media type.
//!
//! Session calls already need the CSRF token, but login has no session yet: a
//! page elsewhere could post a form (`text/plain`, urlencoded, multipart: no
//! preflight) to `/api/login` and sign the visitor in as the attacker. Two
//! checks close that for every state-changing request:
//!
//! - browsers say where a request comes from. `Sec-Fetch-Site` is the clearest
//!   signal (pages cannot set it): only `same-origin` and `none` (typed or
//!   bookmarked) pass. Without it, an `Origin` header must name this site (the
//!   base URL's origin, or the `Host` the request was sent to); `Origin: null`
//!   (sandboxed frames, `data:` pages) is refused. Requests with neither
//!   header come from tools (curl, ShareX), which carry no victim's cookies.
//! - JSON endpoints read only `application/json`, a type no plain form can
//!   send, so a cross-site form never reaches the JSON parser.
//!
//! Browsers send `Origin: null` on same-origin POSTs from pages with
//! `Referrer-Policy: no-referrer` (the admin UI's); they also send
//! `Sec-Fetch-Site: same-origin`, which is why that header is read first.

use hyper::header::{self, HeaderMap};
use hyper::{Method, Request};

use crate::error::AppError;

/// Whether `method` may change state (everything but GET, HEAD, OPTIONS, TRACE).
fn is_state_change(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn refused() -> AppError {
    AppError::Forbidden {
        code: "cross_site",
        message: "cross-site requests cannot change anything",
    }
}

/// `scheme://host[:port]` of a base URL (which may carry a path prefix).
fn origin_of(base_url: &str) -> &str {
    let after_scheme = base_url.find("://").map_or(0, |i| i + 3);
    match base_url[after_scheme..].find('/') {
        Some(i) => &base_url[..after_scheme + i],
        None => base_url,
    }
}

/// Whether an `Origin` value names this site: the configured base URL's
/// origin, or the host the request was addressed to (covers a server reached
/// under another name than its base URL, e.g. `localhost` vs `127.0.0.1`).
fn origin_is_ours(origin: &str, base_url: &str, host: Option<&str>) -> bool {
    if origin.eq_ignore_ascii_case(origin_of(base_url)) {
        return true;
    }
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    host.is_some_and(|h| !h.is_empty() && authority.eq_ignore_ascii_case(h))
}

/// Refuses a state-changing request that a browser marks as coming from
/// another site (403 `cross_site`). Safe methods always pass.
pub fn check_same_site(req: &Request<impl Sized>, base_url: &str) -> Result<(), AppError> {
    if !is_state_change(req.method()) {
        return Ok(());
    }
    check_headers(req.headers(), base_url)
}

fn check_headers(h: &HeaderMap, base_url: &str) -> Result<(), AppError> {
    if let Some(site) = h.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            // `same-site` is a sibling host (another tenant of a shared
            // domain), `cross-site` anyone; unknown values fail closed.
            _ => Err(refused()),
        };
    }
    let mut origins = h.get_all(header::ORIGIN).iter();
    let Some(origin) = origins.next() else {
        return Ok(());
    };
    if origins.next().is_some() {
        return Err(refused());
    }
    let origin = origin.to_str().map_err(|_| refused())?.trim();
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    if origin_is_ours(origin, base_url, host) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Requires `Content-Type: application/json` (parameters such as `charset`
/// allowed) on an endpoint that reads a JSON body: 415 otherwise.
pub fn require_json(h: &HeaderMap) -> Result<(), AppError> {
    let essence = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    match essence {
        Some(t) if t.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(AppError::UnsupportedMediaType(
            "this endpoint reads JSON: send Content-Type: application/json",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    const BASE: &str = "https://img.example.com/pix";

    #[test]
    fn fetch_metadata_decides_first() {
        assert!(check_headers(&headers(&[("sec-fetch-site", "same-origin")]), BASE).is_ok());
        assert!(check_headers(&headers(&[("sec-fetch-site", "none")]), BASE).is_ok());
        // The UI's own POST under `Referrer-Policy: no-referrer`.
        let h = headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]);
        assert!(check_headers(&h, BASE).is_ok());
        for v in ["cross-site", "same-site", "bogus"] {
            let mut h = headers(&[("origin", "https://img.example.com")]);
            h.insert("sec-fetch-site", HeaderValue::from_static(v));
            assert!(check_headers(&h, BASE).is_err(), "{v}");
        }
    }

    #[test]
    fn origin_must_be_this_site() {
        assert!(check_headers(&HeaderMap::new(), BASE).is_ok(), "tools");
        let ok = |o: &'static str, host: &'static str| {
            check_headers(&headers(&[("origin", o), ("host", host)]), BASE).is_ok()
        };
        assert!(ok("https://img.example.com", "backend:8080"));
        assert!(ok("HTTPS://IMG.example.com", "backend:8080"));
        assert!(ok("http://localhost:8080", "localhost:8080"));
        assert!(!ok("null", "img.example.com"));
        assert!(!ok("https://evil.example", "img.example.com"));
        assert!(!ok("https://img.example.com.evil.example", "x"));
        assert!(!ok("https://img.example.com:444", "img.example.com"));
        assert!(!ok("http://img.example.com", "backend"), "scheme counts");
        let two = headers(&[
            ("origin", "https://img.example.com"),
            ("origin", "https://evil.example"),
        ]);
        assert!(check_headers(&two, BASE).is_err());
    }

    #[test]
    fn json_type_is_required() {
        assert!(require_json(&headers(&[("content-type", "application/json")])).is_ok());
        assert!(
            require_json(&headers(&[(
                "content-type",
                "Application/JSON; charset=utf-8"
            )]))
            .is_ok()
        );
        for t in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "",
        ] {
            let mut h = HeaderMap::new();
            h.insert("content-type", HeaderValue::from_str(t).unwrap());
            assert!(require_json(&h).is_err(), "{t}");
        }
        assert!(require_json(&HeaderMap::new()).is_err(), "missing");
    }
}
