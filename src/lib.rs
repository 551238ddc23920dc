//! pixbin: a self-hosted image host in one static binary.
//!
//! Module map:
//! - `app`: start-up (open data, first account and key, shared state)
//! - `analytics`: what counts as a view; view events -> one batching writer task
//! - `auth`: passwords, sessions + CSRF, upload keys
//! - `cli`: the command line (`serve`, `user`, `key`)
//! - `clock`: Unix milliseconds and RFC 3339
//! - `config`: flags/env/TOML -> validated `Config`
//! - `duration`: the one duration grammar (`500ms`, `90s`, `7d`, `4w`)
//! - `error`: `AppError` -> status + JSON body
//! - `http`: router, dispatch, guards (session, CSRF, upload auth), bodies, conditional/range, blob sending, image JSON, assets, handlers
//! - `lifecycle`: expiry and view limits, privacy defaults, the sweeper
//! - `metrics`: Prometheus counters and the `/metrics` text
//! - `media`: image type, structure and dimensions from the bytes; metadata stripping; thumbnails
//! - `ops`: backup, restore, import, adopt, the control file, periodic GC
//! - `secret`: random tokens, hashing, constant-time comparison
//! - `server`: the accept loop (`run(listener, state, shutdown)`)
//! - `settings`: upload defaults changed at runtime; the effective configuration
//! - `state`: `AppState`, shared as `Arc`
//! - `store`: redb metadata, content-addressed blobs, their shared identity
//! - `systemd`: the hardened unit, readiness and watchdog notifications
//! - `thumbnails`: the thumbnail worker pool (at most four workers) and the backfill
//! - `view_limits`: paying for each delivery of a view-limited image, group-committed
// No unsafe code. Unit tests alone carry one: the counting allocator of
// `alloc_probe`, which checks that untrusted-input parsers allocate a bounded
// amount (SECURITY.md M2).
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

#[cfg(test)]
mod alloc_probe;

pub mod analytics;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod duration;
pub mod error;
pub mod http;
pub mod lifecycle;
pub mod media;
pub mod metrics;
pub mod ops;
pub mod secret;
pub mod server;
pub mod settings;
pub mod state;
pub mod store;
pub mod systemd;
pub mod tasks;
pub mod thumbnails;
pub mod view_limits;
