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
// Conditional requests, ranges, HEAD, caching and security headers.
mod http_semantics;
// Listing with filters and cursor pagination; details; upload-key management.
mod library;
// The command line: first start, key and user commands, a locked data dir.
mod cli;
// Memory stays flat during a very large upload.
mod memory;
