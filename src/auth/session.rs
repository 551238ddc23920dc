//! Login sessions: opaque random tokens in an HttpOnly cookie, stored hashed, and
//! a CSRF token bound to each session.
//!
//! The CSRF token is derived from the session token with blake3's key-derivation
//! mode, so it is unguessable without the cookie, changes whenever the session
//! rotates (login, refresh), and needs no storage of its own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use hyper::HeaderMap;
use hyper::header;

use crate::secret::{self, Secret, TokenHash};

/// Cookie names; the `__Host-` prefix (Secure, Path=/, no Domain) is used when the
/// base URL is HTTPS, as browsers only accept it over TLS.
pub fn cookie_names(https: bool) -> (&'static str, &'static str) {
    if https {
        ("__Host-pixbin_session", "__Host-pixbin_csrf")
    } else {
        ("pixbin_session", "pixbin_csrf")
    }
}

/// The CSRF token that belongs to a session token.
pub fn csrf_for(session_token: &str) -> String {
    let k = blake3::derive_key(
        "pixbin 2026-11 session csrf token",
        session_token.as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(&k[..24])
}

/// A session's last-seen time is written at most this often (a write per
/// request would cost a database commit each).
pub const TOUCH_EVERY_MS: i64 = 5 * 60 * 1000;

/// The public handle of a session for the account page: derived one way
/// from the token's stored hash with its own key-derivation context, so it
/// can be shown and sent back without revealing the token or its hash.
pub fn session_id(token_hash: &TokenHash) -> String {
    let k = blake3::derive_key("pixbin 2026-12 session handle", token_hash.as_slice());
    URL_SAFE_NO_PAD.encode(&k[..12])
}

/// Whether `s` has the shape of a [`session_id`] (16 URL-safe characters).
pub fn is_session_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `presented` is the CSRF token of `session_token` (constant time).
pub fn csrf_ok(session_token: &str, presented: Option<&str>) -> bool {
    match presented {
        Some(p) if !p.is_empty() => secret::ct_eq(csrf_for(session_token).as_bytes(), p.as_bytes()),
        _ => false,
    }
}

/// The session token from the request's cookies, if one is present.
pub fn token_from(headers: &HeaderMap, https: bool) -> Option<Secret> {
    let (name, _) = cookie_names(https);
    for value in headers.get_all(header::COOKIE) {
        let Ok(s) = value.to_str() else { continue };
        for c in Cookie::split_parse(s).flatten() {
            if c.name() == name && !c.value().is_empty() && c.value().len() <= 128 {
                return Some(Secret::new(c.value()));
            }
        }
    }
    None
}

/// `Set-Cookie` values that start a session (token HttpOnly; CSRF readable by the UI).
pub fn set_cookies(token: &str, max_age_secs: i64, https: bool) -> [String; 2] {
    let (sname, cname) = cookie_names(https);
    let age = cookie::time::Duration::seconds(max_age_secs);
    let session = Cookie::build((sname, token.to_string()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .path("/")
        .max_age(age)
        .build();
    let csrf = Cookie::build((cname, csrf_for(token)))
        .http_only(false)
        .same_site(SameSite::Strict)
        .secure(https)
        .path("/")
        .max_age(age)
        .build();
    [session.to_string(), csrf.to_string()]
}

/// `Set-Cookie` values that remove both cookies.
pub fn clear_cookies(https: bool) -> [String; 2] {
    let (sname, cname) = cookie_names(https);
    let mk = |n: &'static str, http_only: bool| {
        Cookie::build((n, ""))
            .http_only(http_only)
            .same_site(SameSite::Strict)
            .secure(https)
            .path("/")
            .max_age(cookie::time::Duration::ZERO)
            .build()
            .to_string()
    };
    [mk(sname, true), mk(cname, false)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn csrf_is_bound_to_the_session() {
        let a = secret::random_token();
        let b = secret::random_token();
        assert_ne!(csrf_for(a.expose()), csrf_for(b.expose()));
        assert!(csrf_ok(a.expose(), Some(&csrf_for(a.expose()))));
        assert!(!csrf_ok(a.expose(), Some(&csrf_for(b.expose()))));
        assert!(!csrf_ok(a.expose(), Some("")));
        assert!(!csrf_ok(a.expose(), None));
    }

    #[test]
    fn cookies_carry_the_required_attributes() {
        let [s, c] = set_cookies("tok", 60, false);
        assert!(s.starts_with("pixbin_session=tok"));
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60"] {
            assert!(s.contains(attr), "{s} lacks {attr}");
        }
        assert!(!s.contains("Domain") && !s.contains("Secure"));
        assert!(!c.contains("HttpOnly"));
        let [s, _] = set_cookies("tok", 60, true);
        assert!(s.starts_with("__Host-pixbin_session=tok") && s.contains("Secure"));
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; pixbin_session=xyz; b=2"),
        );
        assert_eq!(token_from(&h, false).unwrap().expose(), "xyz");
        assert!(token_from(&h, true).is_none());
    }
}
