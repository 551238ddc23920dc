//! View counting off the serving path: one bounded channel feeds one writer task
//! that commits counts in batches.
//!
//! Serving never waits on the database: `record` is a `try_send`, and when the
//! channel is full the event is dropped and counted in `dropped`. The writer
//! commits every `interval` or every `BATCH` events, whichever comes first, so a
//! crash loses at most the views of the last unflushed interval (plus what sits in
//! the channel). A graceful shutdown drains the channel and flushes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;

/// Events buffered between the serving path and the writer.
pub const CHANNEL_CAPACITY: usize = 65_536;
/// Events that force a flush before the interval ends.
pub const BATCH: usize = 1_000;

/// One counted view.
#[derive(Debug, Clone, Copy)]
pub struct ViewEvent {
    /// The image.
    pub image_id: u64,
}

/// The sending half, shared by all connections.
#[derive(Debug)]
pub struct Views {
    tx: mpsc::Sender<ViewEvent>,
    dropped: AtomicU64,
    recorded: AtomicU64,
}

impl Views {
    /// Queues a view without waiting; drops (and counts) it when the queue is full.
    pub fn record(&self, ev: ViewEvent) {
        if self.tx.try_send(ev).is_ok() {
            self.recorded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Views dropped because the queue was full (or the writer had stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Views queued since start.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }
}

/// Stops the writer after draining and flushing what is queued.
#[derive(Debug)]
pub struct Writer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Writer {
    /// Drains the queue, writes it, and waits for the task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the writer task.
pub fn start(store: Arc<Store>, interval: Duration) -> (Views, Writer) {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(store, rx, stop_rx, interval));
    (
        Views {
            tx,
            dropped: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
        },
        Writer {
            stop: stop_tx,
            task,
        },
    )
}

async fn flush(store: &Arc<Store>, pending: &mut HashMap<u64, u64>) {
    if pending.is_empty() {
        return;
    }
    let batch: Vec<(u64, u64)> = pending.drain().collect();
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.add_views(&batch)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not write view counts"),
        Err(e) => tracing::warn!(error = %e, "view writer task failed"),
    }
}

async fn run(
    store: Arc<Store>,
    mut rx: mpsc::Receiver<ViewEvent>,
    mut stop: oneshot::Receiver<()>,
    interval: Duration,
) {
    let mut pending: HashMap<u64, u64> = HashMap::new();
    let mut queued = 0usize;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => {
                    *pending.entry(ev.image_id).or_default() += 1;
                    queued += 1;
                    if queued >= BATCH {
                        flush(&store, &mut pending).await;
                        queued = 0;
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                flush(&store, &mut pending).await;
                queued = 0;
            }
            _ = &mut stop => {
                rx.close();
                while let Some(ev) = rx.recv().await {
                    *pending.entry(ev.image_id).or_default() += 1;
                }
                break;
            }
        }
    }
    flush(&store, &mut pending).await;
}
