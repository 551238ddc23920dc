//! Every long-running background task of a server, started in one place, each
//! with a shutdown handle and only the state it needs.
//!
//! | task               | needs                          | first run                        | then                            |
//! |--------------------|--------------------------------|----------------------------------|---------------------------------|
//! | analytics writer   | store, analytics settings      | on the first queued view         | a batch per `view_flush_interval` |
//! | view-limit commits | the ledger (held weakly)       | on the first limited fetch       | group after group               |
//! | session purge      | store                          | at start                         | hourly                          |
//! | expiry sweeper     | store, `sweep_interval`        | at start                         | every `sweep_interval`          |
//! | garbage collector  | store, GC settings, metrics    | at start                         | `gc_interval` after each pass   |
//! | scrub              | store, scrub settings          | when the saved schedule says     | paced over `scrub_interval`     |
//! | systemd watchdog   | store                          | `serve` only, after readiness    | half the watchdog period        |
//!
//! The thumbnail workers are threads owned by `thumbnails::Thumbnailer` and
//! stop when it is dropped.
//!
//! [`Tasks::shutdown`] asks every task to stop and waits for all of them at
//! most a bound. The analytics writer and the view-limit driver commit what
//! they hold before they return; the periodic tasks stop at their next await
//! (a pass already on the blocking pool runs to its end there, and each pass
//! is safe to cut between its transactions). A task still running at the
//! bound is aborted and named in the log. Dropping [`Tasks`] without calling
//! `shutdown` asks the same of every task, without waiting.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::analytics::WriterTask;
use crate::clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::view_limits::{self, ViewLimits};

/// The running background tasks.
#[derive(Debug)]
pub struct Tasks {
    stop: watch::Sender<bool>,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            stop: watch::Sender::new(false),
            running: Vec::new(),
        }
    }
}

impl Tasks {
    /// No tasks yet.
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// A shutdown handle for a task started elsewhere (tests).
    pub fn shutdown_handle(&self) -> Shutdown {
        Shutdown::new(self.stop.subscribe())
    }

    /// Spawns a task that watches its [`Shutdown`] itself, to finish its work
    /// (drain, commit) before it returns.
    pub fn spawn<F>(&mut self, name: &'static str, task: impl FnOnce(Shutdown) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let fut = task(self.shutdown_handle());
        self.running.push((name, tokio::spawn(fut)));
    }

    /// Spawns a periodic task that is stopped at its next await once shutdown
    /// is asked for.
    pub fn spawn_until_shutdown<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, |mut shutdown| async move {
            tokio::select! {
                _ = task => {}
                _ = shutdown.requested() => {}
            }
        });
    }

    /// Feeds the systemd watchdog while the database answers (`serve` starts
    /// it once it told systemd it is ready).
    pub fn start_watchdog(&mut self, store: Arc<Store>) {
        self.spawn_until_shutdown("systemd watchdog", crate::systemd::watchdog(store));
    }

    /// Asks every task to stop and waits for them, at most `bound` in all;
    /// what is still running then is aborted.
    pub async fn shutdown(self, bound: Duration) {
        self.stop.send_replace(true);
        let deadline = tokio::time::Instant::now() + bound;
        for (name, mut handle) in self.running {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                tracing::warn!(task = name, "background task did not stop in time; aborted");
                handle.abort();
            }
        }
    }

    /// How many tasks were started.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether none was started.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

/// Starts the background tasks of a server: the analytics `writer` (built by
/// `analytics::open`), the `view_limits` ledger's commit driver, and the
/// periodic session purge, expiry sweeper, garbage collector and scrub.
pub fn start(
    store: &Arc<Store>,
    config: &Config,
    metrics: &Arc<Metrics>,
    writer: WriterTask,
    view_limits: &Arc<ViewLimits>,
) -> Tasks {
    let mut tasks = Tasks::new();
    tasks.spawn("analytics writer", |shutdown| writer.run(shutdown));
    let ledger = Arc::downgrade(view_limits);
    tasks.spawn("view-limit commits", |shutdown| {
        view_limits::drive(ledger, shutdown)
    });
    tasks.spawn_until_shutdown("session purge", purge_sessions(store.clone()));
    tasks.spawn_until_shutdown(
        "expiry sweeper",
        crate::lifecycle::sweeper(store.clone(), config.sweep_interval),
    );
    tasks.spawn_until_shutdown(
        "garbage collector",
        crate::ops::collect_garbage_periodically(
            store.clone(),
            metrics.clone(),
            config.gc_grace,
            config.gc_retention,
            config.gc_interval,
        ),
    );
    tasks.spawn_until_shutdown(
        "scrub",
        crate::ops::scrub::run(store.clone(), config.scrub_interval, config.scrub_rate),
    );
    tasks
}

/// Drops expired sessions hourly so the table does not grow without bound.
async fn purge_sessions(store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.purge_sessions(clock::now_ms())).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(sessions = n, "purged expired sessions"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not purge sessions"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A draining task finishes its work after the request; a periodic one is
    /// stopped at its await; one that ignores shutdown is aborted at the bound.
    #[tokio::test]
    async fn shutdown_stops_drains_and_bounds() {
        let drained = Arc::new(AtomicBool::new(false));
        let mut tasks = Tasks::new();
        let d = drained.clone();
        tasks.spawn("drains", |mut shutdown| async move {
            shutdown.requested().await;
            d.store(true, Ordering::SeqCst);
        });
        tasks.spawn_until_shutdown("periodic", std::future::pending());
        let stubborn = Arc::new(AtomicBool::new(false));
        let s = stubborn.clone();
        tasks.spawn("stubborn", |_| async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            s.store(true, Ordering::SeqCst);
        });
        assert_eq!(tasks.len(), 3);
        let started = tokio::time::Instant::now();
        tasks.shutdown(Duration::from_millis(200)).await;
        let took = started.elapsed();
        assert!(drained.load(Ordering::SeqCst));
        assert!(!stubborn.load(Ordering::SeqCst));
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }

    /// Dropping the tasks without `shutdown` still tells every task to stop.
    #[tokio::test]
    async fn dropping_the_tasks_asks_them_to_stop() {
        let tasks = Tasks::new();
        let mut shutdown = tasks.shutdown_handle();
        drop(tasks);
        tokio::time::timeout(Duration::from_secs(5), shutdown.requested())
            .await
            .expect("a dropped Tasks reads as shutdown");
    }
}
