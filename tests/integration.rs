//! The one integration test binary: each module is a family of user-visible behaviours.

mod support;

// Uploading real images, serving them back byte-exact, dedup and delete.
mod upload_serve;
// Hostile files are refused with the right code and leave nothing behind.
mod hostile_files;
// ShareX, curl (chunked), raw-body and ksnip-style clients on the wire.
mod clients;
// Private links: keys, identical 404s, privacy toggle, key rotation.
mod private_links;
// Login, CSRF, logout, refresh, session fixation.
mod sessions;
// The account page: password change, session list, ending sessions.
mod account;
// Conditional requests, ranges, HEAD, caching and security headers.
mod http_semantics;
// A remote blob store: the disk cache through an outage, /readyz, S3 redirects.
mod remote_storage;
// Small images served from memory: exact bytes and ranges, delete, privacy, view limits.
mod serve_cache;
// The pages strangers see: deletion confirm and result, dead links in a browser.
mod stranger_pages;
// Albums: the API, uploads into one, gallery and image pages, previews, zips.
mod albums;
// Listing with filters and cursor pagination; details; upload-key management.
mod library;
// The image page's metadata panel: what the file holds, what went at upload.
mod metadata_panel;
// Width and height as displayed (EXIF orientation), and the start-up correction.
mod orientation;
// The settings API: effective configuration, runtime upload defaults, env pins.
mod settings;
// Expiry, view limits, privacy defaults, the sweeper.
mod lifecycle;
// View statistics: countries, referrers, uniques, bots apart, restart and crash.
mod analytics;
// The command line: first start, key and user commands, a locked data dir.
mod cli;
// Memory stays flat during a very large upload.
mod memory;
// Every hostile-input case of SECURITY.md §2 (A01–A35), one test per case.
mod security;
// EXIF/GPS stripping, thumbnails and their access rules, pixel bombs and memory.
mod media;
// Check, GC, backup/restore, import, start-up refusals, metrics, logs, systemd, A36–A41.
mod ops;
// Many accounts: upgrade in place, the authorization matrix, quotas, invites.
mod users;
