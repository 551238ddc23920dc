//! Random tokens, their hashes, and constant-time comparison.
//!
//! Secrets (session tokens, upload keys, deletion tokens) are kept only as blake3
//! digests at rest (ARCHITECTURE invariant 5); the raw value exists in memory just
//! long enough to answer the request that created it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use subtle::ConstantTimeEq;

/// A string that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The raw value, for the few places that must send or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Fills an array from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom only fails when the OS has no entropy source at all; there is no
    // safe way to continue issuing secrets then.
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}

/// A 256-bit random token, URL-safe base64 without padding (43 characters).
pub fn random_token() -> Secret {
    Secret(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// The digest under which a random token is stored.
pub fn token_hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// Declares a 32-byte digest newtype: session tokens and upload keys are both
/// looked up by a blake3 digest, and a separate type for each keeps a session
/// digest from ever being passed where a key digest is meant (or the reverse).
macro_rules! digest_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        // `transparent`: a digest stored inside a record (an image's deletion
        // hash) encodes as the plain 32 bytes it was before the type existed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The digest of a raw secret, as it is stored.
            pub fn of(raw: &str) -> Self {
                $name(token_hash(raw))
            }

            /// A digest read back from a table key.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(bytes)
            }

            /// Constant-time equality (comparing digests of secrets).
            pub fn ct_eq(&self, other: &Self) -> bool {
                ct_eq(&self.0, &other.0)
            }
        }

        // Read-only access to the bytes (table keys, hex in tests); the type
        // itself is what keeps the two kinds of digest apart.
        impl std::ops::Deref for $name {
            type Target = [u8; 32];
            fn deref(&self) -> &[u8; 32] {
                &self.0
            }
        }
    };
}

digest_type!(
    /// The digest a session token is stored under (the sessions table's key).
    TokenHash
);
digest_type!(
    /// The digest an upload key is stored under (the upload-keys table's key).
    KeyHash
);

/// Constant-time equality of two byte strings of possibly different length.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_never_formatted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(token_hash(a.expose()), token_hash(b.expose()));
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
