//! Whether the blob store answers, for `/readyz`: one probe at a time
//! ([`BlobStore::probe`], on S3 a HEAD without retries), its result reused
//! for [`FRESH`], and a caller never waits more than [`WAIT`] for one. A store
//! that hangs therefore makes `/readyz` answer 503 within [`WAIT`], not hang
//! with it; the probe keeps running on the blocking pool and its result,
//! whenever it comes, serves the next callers. A load balancer that polls
//! every second thus costs the store at most one request per [`FRESH`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::store::blobs::BlobStore;

/// How long a probe's result is reused.
pub const FRESH: Duration = Duration::from_secs(2);
/// The longest a caller waits for a probe under way.
pub const WAIT: Duration = Duration::from_secs(2);

/// Why the store is not ready (the detail is logged, never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The probe failed: the store refused or could not be reached.
    Unreachable,
    /// No answer within [`WAIT`].
    NoAnswer,
}

#[derive(Debug, Default)]
struct State {
    last: Option<(Instant, Result<(), NotReady>)>,
    running: bool,
}

/// The probe's shared state (one per server, `AppState::readiness`).
#[derive(Debug, Default)]
pub struct Readiness {
    state: Arc<Mutex<State>>,
    done: Arc<Notify>,
}

impl Readiness {
    /// The blob store's readiness, probed now unless a fresh result exists.
    pub async fn blob_store(&self, blobs: &Arc<dyn BlobStore>) -> Result<(), NotReady> {
        let done = self.done.clone();
        // Registered before the probe can finish, so its wake-up is not missed.
        let finished = done.notified();
        {
            let mut st = lock(&self.state);
            if let Some((at, r)) = st.last
                && at.elapsed() < FRESH
            {
                return r;
            }
            if !st.running {
                st.running = true;
                let (state, done, blobs) = (self.state.clone(), self.done.clone(), blobs.clone());
                tokio::task::spawn_blocking(move || {
                    let r = blobs.probe().map_err(|e| {
                        tracing::warn!(error = %e, "the blob store did not answer its probe");
                        NotReady::Unreachable
                    });
                    let mut st = lock(&state);
                    st.last = Some((Instant::now(), r));
                    st.running = false;
                    drop(st);
                    done.notify_waiters();
                });
            }
        }
        match tokio::time::timeout(WAIT, finished).await {
            Ok(()) => lock(&self.state)
                .last
                .map_or(Err(NotReady::NoAnswer), |(_, r)| r),
            Err(_) => Err(NotReady::NoAnswer),
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::blobs::{FaultyBlobStore, MemBlobStore};

    #[tokio::test]
    async fn follows_the_store_down_and_back_and_never_waits_past_the_bound() {
        let faulty = FaultyBlobStore::new(Arc::new(MemBlobStore::new()));
        let blobs: Arc<dyn BlobStore> = Arc::new(faulty.clone());
        let r = Readiness::default();
        assert_eq!(r.blob_store(&blobs).await, Ok(()));
        faulty.set_down(true);
        assert_eq!(
            r.blob_store(&blobs).await,
            Ok(()),
            "a fresh result is reused"
        );
        tokio::time::sleep(FRESH).await;
        assert_eq!(r.blob_store(&blobs).await, Err(NotReady::Unreachable));
        faulty.set_down(false);
        tokio::time::sleep(FRESH).await;
        assert_eq!(r.blob_store(&blobs).await, Ok(()));
        faulty.set_hanging(true);
        tokio::time::sleep(FRESH).await;
        let t = Instant::now();
        assert_eq!(r.blob_store(&blobs).await, Err(NotReady::NoAnswer));
        assert_eq!(r.blob_store(&blobs).await, Err(NotReady::NoAnswer));
        assert!(
            t.elapsed() < 2 * WAIT + Duration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
    }
}
