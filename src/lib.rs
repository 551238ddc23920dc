//! pixbin: a self-hosted image host in one static binary.
//!
//! Module map:
//! - `albums`: who may see or change an album, and which of its images strangers see
//! - `app`: start-up (open data, first account and key, shared state) and `serve`
//! - `analytics`: what counts as a view; view events -> one batching writer task
//! - `auth`: passwords, sessions + CSRF, upload keys, login throttling
//! - `cli`: the command line, parsing only; dispatches to `ops` and `app`
//! - `clock`: Unix milliseconds and RFC 3339
//! - `config`: flags/env/TOML -> validated `Config`; one `Config::default()`
//! - `duration`: the one duration grammar (`500ms`, `90s`, `7d`, `4w`)
//! - `error`: `AppError` -> status + JSON body; store and lifecycle errors mapped to it
//! - `http`: router, dispatch, guards (session, CSRF, upload auth), client address, bodies, multipart, conditional/range, blob sending, image JSON, pages, assets, handlers
//! - `ingest`: the one pipeline from bytes to a stored image (upload, import, adopt)
//! - `lifecycle`: expiry and view-limit policy (`LifecycleError`), privacy defaults, the sweeper
//! - `metrics`: Prometheus counters and the `/metrics` text
//! - `media`: image type, structure and dimensions from the bytes; metadata stripping; thumbnails
//! - `ops`: the CLI commands' bodies (accounts and keys, check, GC, backup, repair, restore, import, adopt, migrate-storage), the scrub, the control file, periodic GC
//! - `readiness`: whether the blob store answers (`/readyz`), probed once at a time, bounded
//! - `secret`: random tokens, their digests (`TokenHash`, `KeyHash`), constant-time comparison
//! - `server`: the accept loop (`run(listener, state, shutdown)`) and its connection limits
//! - `settings`: upload defaults changed at runtime; the effective configuration
//! - `shutdown`: a background task's side of shutdown
//! - `state`: `AppState`, shared as `Arc`
//! - `store`: redb metadata (images, accounts, stats, lifecycle, integrity…), content-addressed blobs, their shared identity
//! - `systemd`: the hardened unit, readiness and watchdog notifications
//! - `tasks`: every background task, started in one place with a shutdown handle
//! - `thumbnails`: the thumbnail worker pool (at most four workers) and the backfill
//! - `view_limits`: paying for each delivery of a view-limited image, group-committed
// No unsafe code. Unit tests alone carry one: the counting allocator of
// `alloc_probe`, which checks that untrusted-input parsers allocate a bounded
// amount (SECURITY.md M2).
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

#[cfg(test)]
mod alloc_probe;

pub mod albums;
pub mod analytics;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod duration;
pub mod error;
pub mod http;
pub mod ingest;
pub mod lifecycle;
pub mod media;
pub mod metrics;
pub mod ops;
pub mod readiness;
pub mod secret;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod systemd;
pub mod tasks;
pub mod thumbnails;
pub mod view_limits;
