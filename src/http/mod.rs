//! HTTP: routing, guards, bodies, conditional and range requests, blob sending, the image JSON, embedded assets, handlers, the pages strangers see (deletion, galleries, image pages), streamed zips.

pub mod album_json;
pub mod album_view;
pub mod assets;
pub mod blobcache;
pub mod body;
pub mod cache_policy;
pub mod chunks;
pub mod client_ip;
pub mod conditional;
pub mod dispatch;
pub mod guard;
pub mod handlers;
pub mod image_json;
pub mod multipart;
pub mod openapi;
pub mod origin;
pub mod pages;
pub mod query;
pub mod range;
pub mod router;
pub mod send_blob;
pub mod share_pages;
pub mod verify;
pub mod zip;
