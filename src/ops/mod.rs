//! Operations on a data directory: the CLI commands' bodies (accounts and keys,
//! backup and restore, import, check, GC, moving the blobs to other storage), the control file that lets the CLI
//! reach a running server, and the periodic garbage collector.

pub mod accounts;
pub mod adopt;
pub mod archive;
pub mod backup;
pub mod commands;
pub mod control;
pub mod import;
pub mod migrate;
pub mod repair;
pub mod restore;
pub mod scrub;
#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::bail;

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::blobs::storage::Storage;
use crate::store::gc::GcPolicy;

/// Collects garbage once now, then `interval` after each pass (started by
/// `tasks::start`). `grace` and `retention` are as in [`GcPolicy`].
///
/// Every pass, the first one included, spares files younger than `gc_grace`:
/// "older than this process" is no proof that a blob is garbage (a database
/// restored from last week knows none of this week's blobs). Orphans go to
/// quarantine and are unlinked after `gc_retention`; a pass that would
/// quarantine a large share of the store does nothing and logs an error
/// (`Store::collect_garbage`).
pub async fn collect_garbage_periodically(
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    grace: Duration,
    retention: Duration,
    interval: Duration,
) {
    loop {
        let store = store.clone();
        let policy = GcPolicy::new(grace, retention);
        match tokio::task::spawn_blocking(move || store.collect_garbage(&policy)).await {
            Ok(Ok(r)) => {
                metrics.gc_pass(&r);
                if r.quarantined + r.purged + r.temps_removed + r.restored > 0 {
                    tracing::info!(
                        quarantined = r.quarantined,
                        quarantined_bytes = r.bytes_quarantined,
                        purged = r.purged,
                        purged_bytes = r.bytes_purged,
                        restored = r.restored,
                        temps = r.temps_removed,
                        "collected garbage"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "garbage collection task failed"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// Refuses a data directory without a database, naming blobs left without
/// theirs (invariant 8) apart from a plain wrong `--data-dir`.
pub(crate) fn require_database(dir: &Path, storage: &Storage) -> anyhow::Result<()> {
    if !Store::db_path(dir).exists() {
        // Blobs without their database: say so, and how out (invariant 8).
        // The blobs are looked for where they live (a bucket is listed).
        if crate::store::identity::marker_path(dir).exists()
            || storage
                .backend(dir)
                .and_then(|b| {
                    crate::store::identity::blobs_exist(&*b).map_err(std::io::Error::other)
                })
                .unwrap_or(false)
        {
            let db = Store::db_path(dir).display().to_string();
            return Err(crate::store::identity::Mismatch::DatabaseMissing {
                dir: dir.display().to_string(),
                db,
            }
            .into());
        }
        bail!(
            "{} holds no pixbin database (pass --data-dir)",
            dir.display()
        );
    }
    Ok(())
}
