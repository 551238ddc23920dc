//! The state every request shares, built once and passed as `Arc<AppState>`.

use std::sync::Arc;

use crate::analytics::Views;
use crate::auth::ratelimit::LoginLimiter;
use crate::config::Config;
use crate::error::AppError;
use crate::http::assets::AdminUi;
use crate::store::{Store, StoreError};
use crate::thumbnails::Thumbnailer;

/// Immutable configuration plus handles to the store and background writers.
#[derive(Debug)]
pub struct AppState {
    /// Settings, with `base_url` resolved.
    pub config: Config,
    /// Metadata and blobs.
    pub store: Arc<Store>,
    /// The view-event queue.
    pub views: Views,
    /// The embedded admin UI.
    pub admin: AdminUi,
    /// Failed-login throttling.
    pub logins: LoginLimiter,
    /// The thumbnail worker pool.
    pub thumbs: Thumbnailer,
    /// Request, latency and GC counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Checks the token `pixbin backup` presents (see `ops::control`).
    pub control: crate::ops::control::Control,
    /// Small hot blobs in memory, by hash (see `http::blobcache`).
    pub blob_cache: crate::http::blobcache::BlobCache,
    /// Read buffers for streaming large blobs, one budget for all responses
    /// (see `http::chunks`).
    pub chunks: crate::http::chunks::ChunkPool,
    /// Upload defaults changed at runtime (see `settings`); uploads read
    /// `settings.effective(&config)`.
    pub settings: crate::settings::Settings,
    /// What view-limited images have spent, committed in groups (see `view_limits`).
    pub view_limits: Arc<crate::view_limits::ViewLimits>,
    /// The blob store's last probe, for `/readyz` (see `readiness`).
    pub readiness: crate::readiness::Readiness,
}

impl AppState {
    /// Runs a blocking store call on the blocking pool (redb is synchronous).
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let res = f(&store);
            if let Err(e) = &res {
                store.recheck_after(e);
            }
            res
        })
        .await??)
    }
}
