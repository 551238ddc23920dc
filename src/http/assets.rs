//! The admin UI, embedded in the binary and served under `/admin/`.
//!
//! Asset URLs carry a content hash (`/admin/static-<hash>/app.js`), so they are
//! cached forever and a new release is picked up at once; relative ES-module
//! imports inherit the versioned prefix. The entry page is `no-cache`.

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use rust_embed::RustEmbed;

use super::body::{Body, full};

#[derive(RustEmbed)]
#[folder = "assets/admin/"]
struct Files;

/// The embedded UI with its version hash and rendered entry page.
#[derive(Debug, Clone)]
pub struct AdminUi {
    version: String,
    index: Bytes,
}

/// Content Security Policy of the UI: same-origin scripts and styles only.
pub const UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl AdminUi {
    /// Hashes the embedded files and renders the entry page.
    pub fn load() -> AdminUi {
        let mut names: Vec<_> = Files::iter().collect();
        names.sort();
        let mut hasher = blake3::Hasher::new();
        for name in &names {
            if let Some(f) = Files::get(name) {
                hasher.update(name.as_bytes());
                hasher.update(&f.metadata.sha256_hash());
            }
        }
        let version = hasher.finalize().to_hex()[..12].to_string();
        let base = format!("/admin/static-{version}");
        let index = Files::get("index.html")
            .map(|f| String::from_utf8_lossy(&f.data).replace("{{ASSET_BASE}}", &base))
            .unwrap_or_else(|| {
                "<!doctype html><title>pixbin</title><p>The admin UI is missing from this build."
                    .into()
            });
        AdminUi {
            version,
            index: Bytes::from(index),
        }
    }

    /// The content hash in asset URLs.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The entry page (served for every UI route).
    pub fn index(&self) -> Response<Body> {
        let mut res = Response::new(full(self.index.clone()));
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        res
    }

    /// An asset by `<hash>/<path>`; `None` when there is no such file.
    pub fn asset(&self, versioned: &str) -> Option<Response<Body>> {
        let (version, path) = versioned.split_once('/')?;
        if path == "index.html" {
            return None;
        }
        let file = Files::get(path)?;
        let mut res = Response::new(full(Bytes::from(file.data.into_owned())));
        *res.status_mut() = StatusCode::OK;
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        );
        // Only the current version may be cached forever; an old page asking for
        // an old hash gets today's file, revalidated.
        let cache = if version == self.version {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        Some(res)
    }
}
