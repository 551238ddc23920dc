//! Who is asking: passwords, sessions with their CSRF tokens, upload keys.

pub mod password;
pub mod session;
pub mod upload_key;
