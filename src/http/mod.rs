//! HTTP: routing, bodies, conditional and range requests, embedded assets, handlers, the pages strangers see.

pub mod assets;
pub mod blobcache;
pub mod body;
pub mod cache_policy;
pub mod chunks;
pub mod client_ip;
pub mod conditional;
pub mod dispatch;
pub mod handlers;
pub mod multipart;
pub mod openapi;
pub mod origin;
pub mod pages;
pub mod query;
pub mod range;
pub mod router;
pub mod verify;
