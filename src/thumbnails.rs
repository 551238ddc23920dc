//! The thumbnail worker pool: a bounded queue of image ids, at most one worker
//! thread per core, off the request path.
//!
//! Uploads enqueue their image after the commit and never wait; a request for
//! a missing thumbnail joins (or starts) the job and waits a bounded time; the
//! `pixbin thumbnails` backfill runs the same [`process`] function offline.
//! Decoding is CPU-bound and may take a large buffer (bounded by
//! `ThumbLimits`), so it runs on dedicated threads rather than tokio's blocking
//! pool, where a burst of uploads could otherwise start one decode per upload.
//! A decoder panic on hostile bytes is caught and counts as a failure.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::media::thumbnail::{self, ThumbLimits};
use crate::store::blobs::{BlobCursor, BlobHash};
use crate::store::thumbs::{Attached, NewThumbnail};
use crate::store::{Store, StoreError};

/// Image ids waiting for a worker at most; beyond, uploads skip the eager
/// thumbnail (the first request or the backfill makes it).
const QUEUE: usize = 1024;

/// Failed image ids remembered, so a broken image is not decoded on every
/// request; the set is cleared when full (a retry is harmless).
const MAX_FAILED: usize = 4096;

/// How one job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The image's thumbnail blob.
    Ready(BlobHash),
    /// No thumbnail can be made (undecodable, over the limits, storage full);
    /// clients fall back to the original.
    Failed,
    /// The image no longer exists.
    Gone,
}

/// Why a request could not get its thumbnail in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

type Waiters = Mutex<HashMap<u64, Vec<oneshot::Sender<Outcome>>>>;

struct Shared {
    /// Weak so that the store closes (and its database lock is released) as
    /// soon as the server drops it, not when idle workers next wake up.
    store: Weak<Store>,
    limits: ThumbLimits,
    max_storage: Option<u64>,
    /// Ids queued or in progress, with the requests waiting for each.
    waiting: Waiters,
    failed: Mutex<HashSet<u64>>,
    /// Set when the pool is dropped: queued jobs are abandoned, not run.
    stopping: std::sync::atomic::AtomicBool,
}

/// Handle to the pool; dropping it closes the queue and waits for the workers
/// to exit, so no worker still holds the database when the server is gone
/// (a restart on the same data dir would otherwise find it locked).
pub struct Thumbnailer {
    queue: Option<SyncSender<u64>>,
    shared: Arc<Shared>,
    workers: usize,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Thumbnailer {
    fn drop(&mut self) {
        // Queued jobs are dropped (missing thumbnails are made on first request
        // or by `pixbin thumbnails`); closing the sender ends each worker's
        // `recv` loop after its current job.
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.queue.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for Thumbnailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnailer")
            .field("workers", &self.workers)
            .finish()
    }
}

/// Most workers started, whatever the core count. Each decode may use up to
/// `ThumbLimits::max_alloc` (128 MiB), so this bounds the memory thumbnails
/// can take during an upload burst to 512 MiB on a big machine; four workers
/// still make thumbnails for about 1,600 twelve-megapixel JPEGs a minute
/// (`cargo bench --bench thumbnail`: ~12 ms per megapixel per worker).
pub const MAX_WORKERS: usize = 4;

/// One worker per core, at least one and at most [`MAX_WORKERS`].
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Thumbnailer {
    /// Starts `workers` threads.
    pub fn start(
        store: Arc<Store>,
        workers: usize,
        limits: ThumbLimits,
        max_storage: Option<u64>,
    ) -> std::io::Result<Self> {
        let (queue, rx) = sync_channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared {
            store: Arc::downgrade(&store),
            limits,
            max_storage,
            waiting: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashSet::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        });
        let workers = workers.max(1);
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (rx, shared) = (rx.clone(), shared.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("thumbnail-{i}"))
                    .spawn(move || work(&rx, &shared))?,
            );
        }
        Ok(Thumbnailer {
            queue: Some(queue),
            shared,
            workers,
            handles,
        })
    }

    /// Queues a thumbnail for image `id` without waiting. `false` when the
    /// queue is full (the thumbnail is then made on first request).
    pub fn enqueue(&self, id: u64) -> bool {
        let mut waiting = lock(&self.shared.waiting);
        if waiting.contains_key(&id) {
            return true;
        }
        self.submit(&mut waiting, id, Vec::new())
    }

    /// Registers `id` as pending with `waiters`, then queues it; both under the
    /// `waiting` lock so a worker cannot finish the job before it is registered.
    fn submit(
        &self,
        waiting: &mut HashMap<u64, Vec<oneshot::Sender<Outcome>>>,
        id: u64,
        waiters: Vec<oneshot::Sender<Outcome>>,
    ) -> bool {
        let Some(queue) = &self.queue else {
            return false;
        };
        match queue.try_send(id) {
            Ok(()) => {
                waiting.insert(id, waiters);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Makes (or joins the making of) image `id`'s thumbnail and waits at most
    /// `timeout` for it. `Err(Busy)` when the queue is full or time ran out;
    /// the job itself goes on.
    pub async fn wait(&self, id: u64, timeout: Duration) -> Result<Outcome, Busy> {
        if lock(&self.shared.failed).contains(&id) {
            return Ok(Outcome::Failed);
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = lock(&self.shared.waiting);
            match waiting.get_mut(&id) {
                Some(list) => list.push(tx),
                None => {
                    if !self.submit(&mut waiting, id, vec![tx]) {
                        return Err(Busy);
                    }
                }
            }
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => Err(Busy),
        }
    }
}

fn work(rx: &Mutex<Receiver<u64>>, shared: &Shared) {
    loop {
        // The lock is held only while waiting for the next id.
        let Ok(id) = lock(rx).recv() else {
            return; // the Thumbnailer was dropped
        };
        if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let Some(store) = shared.store.upgrade() else {
            return; // the server has shut down
        };
        let outcome = if lock(&shared.failed).contains(&id) {
            Outcome::Failed
        } else {
            process(&store, id, &shared.limits, shared.max_storage)
        };
        drop(store);
        if outcome == Outcome::Failed {
            let mut failed = lock(&shared.failed);
            if failed.len() >= MAX_FAILED {
                failed.clear();
            }
            failed.insert(id);
        }
        let waiters = lock(&shared.waiting).remove(&id).unwrap_or_default();
        for w in waiters {
            let _ = w.send(outcome);
        }
    }
}

/// Makes and attaches the thumbnail of image `id` (blocking). Used by the pool
/// and by the offline backfill.
pub fn process(store: &Store, id: u64, limits: &ThumbLimits, max_storage: Option<u64>) -> Outcome {
    let img = match store.image(id) {
        Ok(Some(img)) => img,
        Ok(None) => return Outcome::Gone,
        Err(e) => {
            tracing::warn!(image = id, error = %e, "thumbnail: cannot read the image row");
            return Outcome::Failed;
        }
    };
    if let Some(h) = img.record.thumbnail {
        return Outcome::Ready(h);
    }
    let kind = img.record.kind;
    let file = match BlobCursor::open(store.blobs().clone(), &img.record.hash) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(image = id, error = %e, "thumbnail: blob unreadable");
            return Outcome::Failed;
        }
    };
    let size = img.record.size;
    let made = catch_unwind(AssertUnwindSafe(|| {
        thumbnail::make(BufReader::new(file), size, kind, limits)
    }));
    let thumb = match made {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::info!(image = id, error = %e, "no thumbnail");
            return Outcome::Failed;
        }
        Err(_) => {
            tracing::error!(image = id, "thumbnail decoder panicked");
            return Outcome::Failed;
        }
    };
    let stored = (|| -> Result<Attached, StoreError> {
        let mut temp = store.blobs().create_temp()?;
        temp.write_all(&thumb.bytes)?;
        temp.sync_all()?;
        let new = NewThumbnail {
            temp,
            hash: BlobHash::of(&thumb.bytes),
            size: thumb.bytes.len() as u64,
            kind: thumb.kind.code(),
        };
        store.attach_thumbnail(id, &img.record.hash, new, max_storage)
    })();
    match stored {
        Ok(Attached::Stored(h) | Attached::Already(h)) => Outcome::Ready(h),
        Ok(Attached::Gone) => Outcome::Gone,
        Err(e) => {
            tracing::warn!(image = id, error = %e, "thumbnail not stored");
            Outcome::Failed
        }
    }
}

/// Makes every missing thumbnail with `workers` threads (the `pixbin
/// thumbnails` backfill). Returns (made, failed).
pub fn backfill(
    store: &Store,
    workers: usize,
    limits: &ThumbLimits,
    max_storage: Option<u64>,
) -> Result<(u64, u64), StoreError> {
    let mut after = 0;
    let (mut made, mut failed) = (0u64, 0u64);
    loop {
        let batch = store.images_without_thumbnail(after, 256)?;
        let Some(&last) = batch.last() else {
            return Ok((made, failed));
        };
        after = last;
        let next = Mutex::new(batch.into_iter());
        let results = Mutex::new((0u64, 0u64));
        std::thread::scope(|s| {
            for _ in 0..workers.max(1) {
                s.spawn(|| {
                    loop {
                        let Some(id) = lock(&next).next() else { return };
                        let ok = matches!(
                            process(store, id, limits, max_storage),
                            Outcome::Ready(_) | Outcome::Gone
                        );
                        let mut r = lock(&results);
                        if ok {
                            r.0 += 1;
                        } else {
                            r.1 += 1;
                        }
                    }
                });
            }
        });
        let (m, f) = *lock(&results);
        made += m;
        failed += f;
    }
}
