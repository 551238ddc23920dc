//! Argon2id password hashing (PHC strings) with a timing-equal path for unknown users.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password with Argon2id and a random salt, as a PHC string.
pub fn hash(password: &str) -> String {
    let salt_bytes = crate::secret::random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Runs a full verification against a fixed hash and returns false, so a login
/// for an unknown user costs the same time as a wrong password (no user
/// enumeration by timing).
pub fn verify_unknown_user(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("pixbin-dummy-password-for-timing"));
    let _ = verify(password, phc);
    false
}

/// A readable random password for the first admin account (~120 bits).
pub fn generate() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::secret::random_bytes::<15>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse");
        let b = hash("correct horse");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse", &a));
        assert!(!verify("correct horsf", &a));
        assert!(!verify("x", "not a phc string"));
        assert!(!verify_unknown_user("anything"));
        assert_eq!(generate().len(), 20);
    }
}
