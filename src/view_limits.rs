//! Spending view limits: every response that carries the bytes of a
//! view-limited image through its public link is paid for, before the bytes go
//! out, by a view, or by one of the image's few link-preview fetches.
//!
//! Who pays is decided by the route, never by request headers (ARCHITECTURE
//! invariant 10): the session proxy is free; on the public link a browser, a
//! bot, `curl` and a request with an `/admin/` Referer all spend a view. A
//! link-preview fetcher (Discord, Slack…, recognised by its User-Agent) first
//! uses the image's [`PREVIEW_BUDGET`], so pasting a one-time link into a chat
//! does not burn it; since that User-Agent is forgeable, the budget is small
//! and per image, and beyond it previews spend views like anyone. So the bytes
//! of an image limited to N views go out at most N + [`PREVIEW_BUDGET`] times.
//!
//! Group commit. Each fetch reserves in memory, under one lock, against the
//! count known for the image (loaded from the database at first use), so
//! concurrent fetches can never reserve more than the limit. Then it waits
//! until its reservation is durable: one driver task commits everything
//! reserved since its last commit in one write transaction (one fsync for the
//! whole group) and wakes the group. A one-time link therefore stays one-time
//! across a crash (nothing is served before its view is on disk), while a
//! hammered image costs one commit per fsync interval instead of one per
//! fetch, and an upload waits behind at most one of them. A failed commit
//! releases its reservations and its fetches answer 503 without the bytes.
//! A fetch abandoned while it waits stays spent: the safe direction.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Notify, watch};

use crate::clock;
use crate::error::AppError;
use crate::shutdown::Shutdown;
use crate::store::lifecycle::Spent;
use crate::store::{Store, StoredImage};

/// Link-preview fetches per image that spend no view.
pub const PREVIEW_BUDGET: u64 = 3;

/// Images whose counts are kept in memory when nothing is waiting on them;
/// beyond this, settled ones are dropped and reloaded on their next fetch.
const KNOWN_CAP: usize = 4096;

/// Who is fetching, as far as paying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    /// Anyone on the public link: spends a view.
    Viewer,
    /// A link-preview fetcher: spends from the preview budget while it lasts.
    Preview,
}

/// The in-memory ledger and its group-commit driver, shared as `Arc`.
#[derive(Debug)]
pub struct ViewLimits {
    store: Arc<Store>,
    inner: Mutex<Inner>,
    wake: Arc<Notify>,
    commits: AtomicU64,
    fetches: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    /// What is spent per image: committed plus reserved.
    known: HashMap<u64, Known>,
    /// Reservations not yet handed to the driver.
    open: Batch,
}

#[derive(Debug, Default)]
struct Known {
    spent: Spent,
    /// Fetches reserved but not yet committed: the entry must stay.
    unsettled: u64,
}

/// One group of reservations and the signal its fetches wait on
/// (`Some(true)` committed, `Some(false)` failed).
#[derive(Debug)]
struct Batch {
    spent: HashMap<u64, Spent>,
    done: watch::Sender<Option<bool>>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            spent: HashMap::new(),
            done: watch::Sender::new(None),
        }
    }
}

impl ViewLimits {
    /// Creates the ledger; its commits need [`drive`] running (`tasks::start`).
    pub fn new(store: Arc<Store>) -> Arc<Self> {
        Arc::new(ViewLimits {
            store,
            inner: Mutex::new(Inner {
                known: HashMap::new(),
                open: Batch::new(),
            }),
            wake: Arc::new(Notify::new()),
            commits: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the image's views are all spent or reserved (the row may not
    /// say so yet while the last group commits).
    pub fn exhausted(&self, img: &StoredImage) -> bool {
        let Some(max) = img.record.max_views else {
            return false;
        };
        self.lock()
            .known
            .get(&img.id)
            .is_some_and(|k| k.spent.views >= max)
    }

    /// Pays for one delivery of a view-limited image and waits until that is
    /// durable. `NotFound` when no view is left (the same answer as an unknown
    /// image). Images without a limit cost nothing.
    pub async fn spend(&self, img: &StoredImage, payer: Payer) -> Result<(), AppError> {
        let Some(max) = img.record.max_views else {
            return Ok(());
        };
        let mut done = {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let known = match inner.known.entry(img.id) {
                MapEntry::Occupied(e) => e.into_mut(),
                // Read under the lock: nothing for this image is in flight (it
                // would be known), so the row is the whole truth. A point read
                // costs microseconds and happens once per image.
                MapEntry::Vacant(e) => e.insert(Known {
                    spent: self.store.spent(img.id)?,
                    unsettled: 0,
                }),
            };
            let cost = if payer == Payer::Preview && known.spent.previews < PREVIEW_BUDGET {
                Spent {
                    views: 0,
                    previews: 1,
                }
            } else if known.spent.views < max {
                Spent {
                    views: 1,
                    previews: 0,
                }
            } else {
                return Err(AppError::NotFound);
            };
            known.spent.views += cost.views;
            known.spent.previews += cost.previews;
            known.unsettled += 1;
            let b = inner.open.spent.entry(img.id).or_default();
            b.views += cost.views;
            b.previews += cost.previews;
            inner.open.done.subscribe()
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
        match done.wait_for(Option::is_some).await.map(|r| *r) {
            Ok(Some(true)) => Ok(()),
            _ => Err(AppError::Unavailable(
                "the view could not be recorded; try again",
            )),
        }
    }

    /// Write transactions committed so far (each covers a group of fetches).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Fetches paid for so far (views and previews).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Commits the open group, if any; `false` when there was none.
    async fn commit_open(&self) -> bool {
        let batch = {
            let mut inner = self.lock();
            if inner.open.spent.is_empty() {
                return false;
            }
            std::mem::replace(&mut inner.open, Batch::new())
        };
        let items: Vec<(u64, Spent)> = batch.spent.iter().map(|(&id, &s)| (id, s)).collect();
        let store = self.store.clone();
        let now = clock::now_ms();
        let ok = match tokio::task::spawn_blocking(move || store.record_spent(&items, now)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not record spent views");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "view-limit commit failed");
                false
            }
        };
        {
            let mut inner = self.lock();
            for (id, s) in &batch.spent {
                if let Some(k) = inner.known.get_mut(id) {
                    k.unsettled -= s.views + s.previews;
                    if !ok {
                        // Nothing was served for these: give them back.
                        k.spent.views -= s.views;
                        k.spent.previews -= s.previews;
                    }
                }
            }
            if inner.known.len() > KNOWN_CAP {
                inner.known.retain(|_, k| k.unsettled > 0);
            }
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        batch.done.send_replace(Some(ok));
        true
    }
}

/// The driver: asleep until a fetch reserves, then commits group after group
/// until nothing is open. Fetches that reserve while a commit runs form the
/// next group. Holds the ledger weakly, so dropping the state ends it; on
/// shutdown it commits what is open, then returns.
pub async fn drive(ledger: Weak<ViewLimits>, mut shutdown: Shutdown) {
    let Some(wake) = ledger.upgrade().map(|l| l.wake.clone()) else {
        return;
    };
    loop {
        let stopping = tokio::select! {
            _ = wake.notified() => false,
            _ = shutdown.requested() => true,
        };
        let Some(ledger) = ledger.upgrade() else {
            return;
        };
        while ledger.commit_open().await {}
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewImage;
    use crate::store::codec::ImageRecord;
    use std::io::Write;

    fn limited(store: &Store, max: u64) -> StoredImage {
        let mut temp = store.blobs().create_temp().unwrap();
        temp.write_all(b"pixels").unwrap();
        let rec = ImageRecord {
            max_views: Some(max),
            ..crate::store::codec::test_record(b"pixels")
        };
        let id = store
            .commit_upload(
                NewImage {
                    record: rec,
                    key_hash: None,
                },
                temp,
                None,
                1,
            )
            .unwrap()
            .id;
        store.image(id).unwrap().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_fetches_never_overspend_and_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let img = Arc::new(limited(&store, 5));
        let mut driver = crate::tasks::Tasks::new();
        let ledger = ViewLimits::new(store.clone());
        let weak = Arc::downgrade(&ledger);
        driver.spawn("view-limit commits", |s| drive(weak, s));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (l, img) = (ledger.clone(), img.clone());
            let payer = if i % 2 == 0 {
                Payer::Preview
            } else {
                Payer::Viewer
            };
            tasks.push(tokio::spawn(
                async move { l.spend(&img, payer).await.is_ok() },
            ));
        }
        let mut served = 0;
        for t in tasks {
            served += u64::from(t.await.unwrap());
        }
        assert_eq!(served, 5 + PREVIEW_BUDGET);
        assert_eq!(
            store.spent(img.id).unwrap(),
            Spent {
                views: 5,
                previews: PREVIEW_BUDGET
            },
            "durable before the fetches returned"
        );
        assert!(ledger.exhausted(&img));
        assert!(ledger.commits() <= served);
        assert!(store.image(img.id).unwrap().unwrap().is_gone(0));
        // A new ledger (a restart) starts from the rows: nothing more is served.
        let again = ViewLimits::new(store.clone());
        assert!(matches!(
            again.spend(&img, Payer::Preview).await,
            Err(AppError::NotFound)
        ));
    }
}
