//! Who is asking: passwords, sessions with their CSRF tokens, upload keys,
//! and login throttling.

pub mod password;
pub mod ratelimit;
pub mod session;
pub mod upload_key;
