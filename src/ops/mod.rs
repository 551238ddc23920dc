//! Operations on a data directory: backup and restore, import, the control file
//! that lets the CLI reach a running server, and the periodic garbage collector.

pub mod backup;
pub mod commands;
pub mod control;
pub mod import;
pub mod repair;
pub mod restore;
pub mod scrub;

use std::sync::Arc;
use std::time::SystemTime;

use crate::state::AppState;

/// Collects garbage once now, then every `gc_interval`.
///
/// The first pass removes what an earlier run left (anything last written
/// before this process started: no upload of ours can own it); later passes
/// spare files younger than `gc_grace`. Either way a blob is removed only after
/// the re-check under the namespace lock (`Store::collect_garbage`).
pub async fn collect_garbage_periodically(state: Arc<AppState>, started: SystemTime) {
    let mut cutoff = started;
    loop {
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.collect_garbage(cutoff)).await {
            Ok(Ok(r)) => {
                state.metrics.gc_pass(&r);
                if r.blobs_removed + r.temps_removed > 0 {
                    tracing::info!(
                        blobs = r.blobs_removed,
                        bytes = r.bytes_freed,
                        temps = r.temps_removed,
                        "collected garbage"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "garbage collection task failed"),
        }
        tokio::time::sleep(state.config.gc_interval).await;
        cutoff = SystemTime::now()
            .checked_sub(state.config.gc_grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
    }
}
