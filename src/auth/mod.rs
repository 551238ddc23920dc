//! Who is asking: passwords, sessions with their CSRF tokens, upload keys,
//! and login throttling.

pub mod password;
pub mod ratelimit;
pub mod session;
pub mod upload_key;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::error::AppError;
use crate::secret::Secret;
use crate::store::Store;
use ratelimit::LoginLimiter;

/// Longest password accepted (argon2 hashes anything, but a request is bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest user name a login checks.
const MAX_USERNAME_BYTES: usize = 128;

/// One throttled password check of `username` from `client`, for a login
/// and for a password change alike. The attempt is reserved in the limiter
/// before anything is hashed, so concurrent guesses cannot all pass the check
/// (SECURITY.md A30, A43); the hash runs through the gate, and an attempt the
/// gate was too busy to check is given back (`Err(busy)`). A success clears
/// the limiter for this address and name. An unknown user costs the same hash
/// as a known one.
pub async fn check_password(
    logins: &LoginLimiter,
    store: Arc<Store>,
    client: IpAddr,
    username: &str,
    password: Secret,
) -> Result<bool, AppError> {
    logins
        .reserve(client, username, Instant::now())
        .map_err(|t| AppError::RateLimited {
            retry_after: t.retry_after_secs,
        })?;
    if username.len() > MAX_USERNAME_BYTES || password.expose().len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    let name = username.to_string();
    let checked = logins
        .hashing
        .run(move || -> Result<bool, AppError> {
            Ok(match store.user(&name)? {
                // A disabled account's right password is refused like a
                // wrong one, after the same work.
                Some(u) => password::verify(password.expose(), &u.password_hash) && !u.disabled,
                None => password::verify_unknown_user(password.expose()),
            })
        })
        .await;
    let ok = match checked {
        Ok(r) => r?,
        Err(e) => {
            // Never checked (too busy): it does not count against the client.
            logins.refund(client, username, Instant::now());
            return Err(e);
        }
    };
    if ok {
        logins.succeeded(client, username, Instant::now());
    }
    Ok(ok)
}
