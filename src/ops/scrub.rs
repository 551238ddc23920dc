//! The background scrub: re-hashes every blob once per `--scrub-interval`, so
//! bit rot in an image nobody has fetched lately is found (and marked, logged,
//! counted: `store::integrity`) before a backup is needed that no longer holds
//! it.
//!
//! A pass walks the images in id order (each image's bytes, then its
//! thumbnail). It is paced to spread over most of the interval, reading at
//! `stored bytes / (0.9 × interval)` with a small floor, and never faster than
//! `--scrub-rate`, so serving keeps the disk. The position is saved after every
//! batch, so a restart resumes the pass instead of starting over; a finished
//! pass records its result and when the next may start.

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::store::Store;
use crate::store::blobs::BlobHash;
use crate::store::integrity::{Reason, ScrubItem, ScrubStatus};

/// Images per batch (one saved position each).
const BATCH: usize = 32;
/// Bytes read per hop to the blocking pool.
const READ: usize = 256 * 1024;
/// Slowest pacing, in bytes per second, so a tiny store still finishes.
const FLOOR_RATE: f64 = 256.0 * 1024.0;

/// Runs passes forever, each spread over `interval` and read at most at
/// `max_rate` bytes per second (started by `tasks::start`).
pub async fn run(store: Arc<Store>, interval: Duration, max_rate: u64) {
    loop {
        if let Err(e) = pass(store.clone(), interval, max_rate).await {
            tracing::warn!(error = %e, "scrub failed; retrying in a minute");
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
}

/// Bytes per second for this pass.
fn rate(interval: Duration, max_rate: u64, stored: u64) -> f64 {
    let spread = interval.as_secs_f64() * 0.9;
    (stored as f64 / spread.max(0.001))
        .max(FLOOR_RATE)
        .min(max_rate as f64)
}

/// Waits for the next pass if none runs, then runs (or resumes) one to the end.
async fn pass(store: Arc<Store>, interval: Duration, max_rate: u64) -> anyhow::Result<()> {
    let mut s = blocking(&store, |s| s.scrub_status()).await?;
    if s.pass_started == 0 {
        let wait = s.next_pass - clock::now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        s.pass_started = clock::now_ms().max(1);
        s.cursor = 0;
        s.pass_checked = 0;
        s.pass_damaged = 0;
        save(&store, s).await?;
        tracing::debug!("scrub pass started");
    }
    let stored = blocking(&store, |s| Ok(s.totals()?.bytes_stored)).await?;
    let rate = rate(interval, max_rate, stored);
    loop {
        let after = s.cursor;
        let (items, last) = blocking(&store, move |s| s.scrub_batch(after, BATCH)).await?;
        let Some(last) = last else { break };
        for item in items {
            s.pass_checked += 1;
            if let Some(reason) = check(&store, &item, rate).await? {
                s.pass_damaged += 1;
                let st = store.clone();
                tokio::task::spawn_blocking(move || {
                    // Deleted meanwhile: nothing to mark.
                    if st.blob(&item.hash).ok().flatten().is_some() {
                        st.report_damage(&item.hash, item.kind, reason, item.image);
                    }
                })
                .await?;
            } else if store.integrity().is_damaged(&item.hash) {
                // Whole again (put back by hand): serve it again.
                let h = item.hash;
                blocking(&store, move |s| s.clear_damage(&h)).await?;
            }
        }
        s.cursor = last;
        save(&store, s).await?;
    }
    let now = clock::now_ms();
    let took = now - s.pass_started;
    s.last_completed = now;
    s.last_checked = s.pass_checked;
    s.last_damaged = s.pass_damaged;
    s.next_pass = now + (interval.as_millis() as i64 - took).max(0);
    s.pass_started = 0;
    s.cursor = 0;
    s.pass_checked = 0;
    s.pass_damaged = 0;
    save(&store, s).await?;
    tracing::info!(
        blobs = s.last_checked,
        damaged = s.last_damaged,
        "scrub pass complete"
    );
    Ok(())
}

async fn save(store: &Arc<Store>, s: ScrubStatus) -> anyhow::Result<()> {
    blocking(store, move |st| st.save_scrub(&s)).await
}

async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> crate::store::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let s = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&s)).await??)
}

/// Re-hashes one blob at `rate` bytes per second; what is wrong with it, if
/// anything.
async fn check(store: &Arc<Store>, item: &ScrubItem, rate: f64) -> anyhow::Result<Option<Reason>> {
    let (blobs, hash, size) = (store.blobs().clone(), item.hash, item.size);
    let opened = tokio::task::spawn_blocking(move || blobs.read_backend(&hash)).await?;
    let mut file = match opened {
        Ok(r) if r.meta.size == size => r.reader,
        Ok(_) => return Ok(Some(Reason::Length)),
        Err(_) => return Ok(Some(Reason::Missing)),
    };
    let mut hasher = blake3::Hasher::new();
    let mut left = size;
    while left > 0 {
        let n = left.min(READ as u64) as usize;
        let res = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; n];
            std::io::Read::read_exact(&mut file, &mut buf)?;
            hasher.update(&buf);
            Ok::<_, std::io::Error>((file, hasher))
        })
        .await?;
        match res {
            Ok((f, h)) => (file, hasher) = (f, h),
            Err(_) => return Ok(Some(Reason::Length)),
        }
        left -= n as u64;
        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate)).await;
    }
    let digest: BlobHash = hasher.finalize().into();
    Ok((digest != item.hash).then_some(Reason::Hash))
}
