//! Upload keys: `pbk_` + 256 random bits, shown once, stored as blake3 digests.

use hyper::HeaderMap;
use hyper::header;

use crate::secret::{self, Secret};

/// Prefix that makes a pixbin key recognisable (and greppable by secret scanners).
pub const PREFIX: &str = "pbk_";

/// A new random upload key.
pub fn generate() -> Secret {
    Secret::new(format!("{PREFIX}{}", secret::random_token().expose()))
}

/// The digest a key is stored under.
pub fn hash(key: &str) -> secret::KeyHash {
    secret::KeyHash::of(key)
}

/// The short, non-secret prefix shown in key lists (`pbk_` + 4 characters).
pub fn display_prefix(key: &str) -> String {
    key.chars().take(PREFIX.len() + 4).collect()
}

/// The key from `Authorization: Bearer …` or `X-Upload-Key`, if either is present.
/// A key header that is present but not a plausible key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedKey;

/// `Some(Err(MalformedKey))` means a header was present but malformed.
pub fn from_headers(h: &HeaderMap) -> Option<Result<Secret, MalformedKey>> {
    if let Some(v) = h.get(header::AUTHORIZATION) {
        let s = v.to_str().map_err(|_| MalformedKey);
        return Some(s.and_then(|s| {
            let (scheme, rest) = s.trim().split_once(' ').ok_or(MalformedKey)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(MalformedKey);
            }
            valid(rest.trim())
        }));
    }
    h.get("x-upload-key").map(|v| {
        v.to_str()
            .map_err(|_| MalformedKey)
            .and_then(|s| valid(s.trim()))
    })
}

/// Accepts a plausible key string (bounded length, printable ASCII).
pub fn valid(s: &str) -> Result<Secret, MalformedKey> {
    if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(MalformedKey);
    }
    Ok(Secret::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn keys_look_right() {
        let k = generate();
        assert!(k.expose().starts_with("pbk_"));
        assert_eq!(k.expose().len(), 47);
        assert_eq!(display_prefix(k.expose()).len(), 8);
    }

    #[test]
    fn reads_both_headers() {
        let mut h = HeaderMap::new();
        assert!(from_headers(&h).is_none());
        h.insert("x-upload-key", HeaderValue::from_static("pbk_abc"));
        assert_eq!(from_headers(&h).unwrap().unwrap().expose(), "pbk_abc");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer pbk_xyz"),
        );
        assert_eq!(from_headers(&h).unwrap().unwrap().expose(), "pbk_xyz");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(from_headers(&h).unwrap().is_err());
    }
}
