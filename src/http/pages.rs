//! The few HTML pages strangers see (the ShareX deletion confirm page and its
//! result, a dead image link opened in a browser): small, styled,
//! self-contained, no script.
//!
//! Each page carries its own strict CSP: nothing loads but the one inline
//! stylesheet (allowed by a per-response nonce) and images from this origin or
//! `data:`; forms post only back to this origin. Light and dark follow
//! `prefers-color-scheme`; buttons are at least 44 px tall (WCAG 2.5.5).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};

use crate::http::body::{self, Body};
use crate::secret;

/// The page styles. Colours meet WCAG AA (4.5:1) on their backgrounds in both
/// schemes.
const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1b1f24;--muted:#4f5966;--line:#d5dae1;--danger:#b42318;--danger-fg:#fff;--accent:#1d4ed8}\
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1b2027;--fg:#e8ebef;--muted:#aab3be;--line:#343c47;--danger:#f0625a;--danger-fg:#1b0504;--accent:#8ab4ff}}\
*{box-sizing:border-box}\
html,body{margin:0;padding:0}\
body{background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:16px}\
main{background:var(--card);border:1px solid var(--line);border-radius:12px;max-width:420px;width:100%;padding:24px}\
h1{font-size:1.25rem;margin:0 0 12px}\
p{margin:0 0 12px;color:var(--muted)}\
.preview{display:flex;justify-content:center;align-items:center;background:var(--bg);border:1px solid var(--line);border-radius:8px;min-height:120px;margin:0 0 16px;overflow:hidden}\
.preview img{display:block;max-width:100%;max-height:320px;height:auto}\
.preview span{color:var(--muted);padding:24px}\
dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:0 0 20px}\
dt{color:var(--muted)}\
dd{margin:0;overflow-wrap:anywhere}\
form{margin:0}\
button{font:inherit;font-weight:600;min-height:44px;min-width:44px;width:100%;padding:10px 16px;border-radius:8px;border:0;background:var(--danger);color:var(--danger-fg);cursor:pointer}\
button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
.code{font-family:ui-monospace,monospace;font-size:.875rem;color:var(--muted)}";

/// A page with its title and already-escaped body HTML, styled, with its CSP
/// set (dispatch keeps a page's own CSP).
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response<Body> {
    let nonce = URL_SAFE_NO_PAD.encode(secret::random_bytes::<16>());
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"color-scheme\" content=\"light dark\">\
<meta name=\"robots\" content=\"noindex\"><link rel=\"icon\" href=\"data:,\">\
<title>{t} · pixbin</title><style nonce=\"{nonce}\">{STYLE}</style></head>\
<body><main><h1>{t}</h1>{body_html}</main></body></html>",
        t = escape(title),
    );
    let mut res = body::html(status, html);
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).expect("nonce is URL-safe base64"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The page a browser gets for a dead image link (unknown, deleted, expired,
/// out of views, or private without its key: the same words for all, so the
/// page tells no more than the JSON 404 does).
pub fn not_found(status: StatusCode) -> Response<Body> {
    page(
        status,
        "Image not available",
        "<p>This image does not exist, has expired or was deleted, or the link is incomplete.</p>\
         <p class=\"code\">Error 404 · not_found</p>",
    )
}

/// The `q` an `Accept` header gives a media type: the most specific matching
/// range wins (RFC 9110 §12.5.1); `None` when nothing matches.
fn quality(accept: &str, ty: &str, explicit_only: bool) -> Option<f32> {
    let (main, _) = ty.split_once('/')?;
    let mut best: Option<(u8, f32)> = None;
    for part in accept.split(',').take(64) {
        let mut params = part.split(';');
        let range = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let specificity = if range == ty {
            2
        } else if explicit_only {
            continue;
        } else if range == format!("{main}/*") {
            1
        } else if range == "*/*" {
            0
        } else {
            continue;
        };
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map(|(_, q)| q)
}

/// Whether the client asked for HTML over JSON: a browser navigating to a
/// link names `text/html` itself; API clients send `application/json`, `*/*`
/// or nothing and keep getting JSON.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|a| a.len() <= 4096)
    else {
        return false;
    };
    let html = quality(accept, "text/html", true).unwrap_or(0.0);
    let json = quality(accept, "application/json", false).unwrap_or(0.0);
    html > 0.0 && html > json
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A byte count for people: `2.2 MB`, `640 KB`, `512 B`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn browsers_get_html_and_api_clients_json() {
        for browser in [
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/html",
            "TEXT/HTML;q=0.9, application/json;q=0.5",
        ] {
            assert!(prefers_html(&accept(browser)), "{browser}");
        }
        for api in [
            "application/json",
            "*/*",
            "",
            "text/*",
            "text/html;q=0, */*",
            "text/html, application/json",
            "application/json, text/html;q=0.9",
            "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
        ] {
            assert!(!prefers_html(&accept(api)), "{api}");
        }
        assert!(!prefers_html(&HeaderMap::new()));
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2_190_000), "2.2 MB");
        assert_eq!(human_size(640_000), "640 KB");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<img src=x onerror=\"a\">&'"),
            "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;"
        );
    }
}
