//! The queue between serving and the database: [`Views`] (the sending half,
//! shared by all connections) and one writer task that resolves events
//! (country, visitor mark) and commits them in batches.
//!
//! Serving never waits on the database: queuing is a `try_send`, and when the
//! channel is full the event is dropped and counted (`Counters::dropped`). The
//! writer commits `view_flush_interval` (500 ms) after the first waiting event,
//! or as soon as [`BATCH`] events wait, whichever comes first, in one redb
//! transaction (one fsync per batch). A graceful shutdown drains the channel
//! and flushes. A crash (power loss, SIGKILL) loses what was not yet committed:
//! at most the last interval's events plus what sits in the channel
//! (≤ [`CHANNEL_CAPACITY`]); in practice the last half second of views.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use hyper::{HeaderMap, header};
use tokio::sync::mpsc;

use super::geo::GeoDb;
use super::salt::{self, Firsts, Visitors};
use super::{AgentClass, Audience, ViewEvent, referrer_host};
use crate::clock;
use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::store::stats::{Hit, HitKind, StatsLimits};

/// Events buffered between the serving path and the writer (about 80 bytes each).
pub const CHANNEL_CAPACITY: usize = 65_536;
/// Events that force a flush before the interval ends.
pub const BATCH: usize = 1_000;

/// Counters since start, for `/metrics` and the logs (all monotonic).
#[derive(Debug, Default)]
pub struct Counters {
    /// Counted views observed.
    pub views: AtomicU64,
    /// Bot fetches observed.
    pub bots: AtomicU64,
    /// Unfurler fetches observed.
    pub unfurlers: AtomicU64,
    /// Admin-UI fetches (not counted).
    pub admin: AtomicU64,
    /// Fetches that are not `GET` (not counted).
    pub not_counted: AtomicU64,
    /// Events queued for the writer.
    pub queued: AtomicU64,
    /// Events dropped because the queue was full or the writer had stopped.
    pub dropped: AtomicU64,
}

/// The sending half, shared by all connections.
#[derive(Debug)]
pub struct Views {
    tx: mpsc::Sender<ViewEvent>,
    enabled: bool,
    admin_prefix: String,
    counters: Counters,
    /// Events the writer has taken through a flush (committed or lost), kept
    /// apart from `counters` because the writer task holds it too.
    written: Arc<AtomicU64>,
}

impl Views {
    /// Whether view recording is on (`PIXBIN_ANALYTICS`, default on). When off,
    /// nothing is queued, counted or stored (view limits are spent all the
    /// same, see `view_limits`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The absolute URL prefix of the admin UI, for [`classify`].
    pub fn admin_prefix(&self) -> &str {
        &self.admin_prefix
    }

    /// Counters since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Records a fetch that [`classify`] placed in `audience` and whose status
    /// passed [`counted_status`]: views, bots and unfurlers are queued for the
    /// writer; admin and non-GET fetches only bump a counter.
    pub fn observe(
        &self,
        audience: Audience,
        image_id: u64,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        if !self.enabled {
            return;
        }
        let c = &self.counters;
        let agent = match audience {
            Audience::Visitor => {
                c.views.fetch_add(1, Ordering::Relaxed);
                AgentClass::Browser
            }
            Audience::Bot => {
                c.bots.fetch_add(1, Ordering::Relaxed);
                AgentClass::Bot
            }
            Audience::Unfurler(u) => {
                c.unfurlers.fetch_add(1, Ordering::Relaxed);
                AgentClass::Unfurler(u)
            }
            Audience::Admin => {
                c.admin.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Audience::NotCounted => {
                c.not_counted.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let agent_digest = if agent == AgentClass::Browser {
            salt::agent_digest(headers.get(header::USER_AGENT).map(|v| v.as_bytes()))
        } else {
            [0; 16]
        };
        self.record(ViewEvent {
            image_id,
            at: clock::now_ms(),
            agent,
            client,
            agent_digest,
            referrer: headers
                .get(header::REFERER)
                .and_then(|v| referrer_host(v.as_bytes())),
        });
    }

    /// Queues an event without waiting; drops (and counts) it when the queue is full.
    pub fn record(&self, ev: ViewEvent) {
        if self.tx.try_send(ev).is_ok() {
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events queued since start (views, bot and unfurler hits).
    pub fn recorded(&self) -> u64 {
        self.counters.queued.load(Ordering::Relaxed)
    }

    /// Events dropped because the queue was full (or the writer had stopped).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Events queued but not yet through a flush: zero once everything
    /// observed so far is in the database (or its commit failed). Lets a
    /// caller wait on the writer instead of guessing a flush interval.
    pub fn pending(&self) -> u64 {
        let written = self.written.load(Ordering::Acquire);
        self.recorded().saturating_sub(written)
    }
}

/// The writer task, not yet started: `tasks::start` runs it with a shutdown
/// handle, on which it drains the queue and writes it before returning.
#[derive(Debug)]
pub struct WriterTask {
    store: Arc<Store>,
    resolver: Arc<Mutex<Resolver>>,
    rx: mpsc::Receiver<ViewEvent>,
    interval: Duration,
    written: Arc<AtomicU64>,
}

impl WriterTask {
    /// Runs the writer until shutdown, then drains and flushes.
    pub async fn run(self, shutdown: Shutdown) {
        run(
            self.store,
            self.resolver,
            self.rx,
            shutdown,
            self.interval,
            self.written,
        )
        .await
    }
}

/// What the writer needs besides the store: the GeoIP database, the visitor
/// salt, and the storage settings. Used only on the blocking pool.
#[derive(Debug)]
struct Resolver {
    geo: Option<GeoDb>,
    visitors: Visitors,
    store_ip: bool,
    limits: StatsLimits,
}

impl Resolver {
    /// Turns queued events into countable hits; the addresses end here unless
    /// the operator asked to keep them. `owners` holds the owner of each
    /// event's image that still exists.
    fn resolve(&mut self, events: Vec<ViewEvent>, owners: &HashMap<u64, String>) -> Vec<Hit> {
        events
            .into_iter()
            .map(|ev| {
                let day = clock::day_of(ev.at);
                let kind = match ev.agent {
                    AgentClass::Browser => HitKind::View,
                    AgentClass::Bot => HitKind::Bot,
                    AgentClass::Unfurler(_) => HitKind::Unfurler,
                };
                let firsts = if kind == HitKind::View {
                    let owner = owners.get(&ev.image_id).map(String::as_str);
                    self.visitors
                        .mark(day, ev.image_id, owner, ev.client, &ev.agent_digest)
                } else {
                    Firsts::default()
                };
                Hit {
                    image_id: ev.image_id,
                    at: ev.at,
                    kind,
                    agent: ev.agent.code(),
                    country: ev
                        .client
                        .and_then(|ip| self.geo.as_ref().and_then(|g| g.country(ip))),
                    referrer: ev.referrer.map(String::from),
                    new_visitor: firsts.day,
                    new_image_visitor: firsts.image,
                    new_owner_visitor: firsts.owner,
                    ip: ev.client.filter(|_| self.store_ip).map(|ip| match ip {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                        IpAddr::V6(v6) => v6.octets(),
                    }),
                }
            })
            .collect()
    }
}

/// Opens the GeoIP database (if configured) and builds the queue and its
/// writer task (started by `tasks::start`).
pub async fn open(store: Arc<Store>, config: &Config) -> anyhow::Result<(Views, WriterTask)> {
    // With analytics off nothing is looked up, so the file is not even read.
    let geo = match config.geoip_db.clone().filter(|_| config.analytics) {
        Some(path) => Some(
            tokio::task::spawn_blocking(move || GeoDb::open(&path))
                .await
                .context("opening the GeoIP database")??,
        ),
        None => None,
    };
    if let Some(g) = &geo {
        tracing::info!(database = ?g, "GeoIP country lookups enabled");
    }
    let resolver = Resolver {
        geo,
        visitors: Visitors::new(),
        store_ip: config.store_viewer_ip,
        limits: StatsLimits {
            retention_days: config.stats_retention_days,
            recent_cap: config.recent_views,
        },
    };
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let written = Arc::new(AtomicU64::new(0));
    Ok((
        Views {
            tx,
            enabled: config.analytics,
            admin_prefix: format!("{}/admin", config.base_url()),
            counters: Counters::default(),
            written: written.clone(),
        },
        WriterTask {
            store,
            resolver: Arc::new(Mutex::new(resolver)),
            rx,
            interval: config.view_flush_interval,
            written,
        },
    ))
}

/// Resolves and commits what is buffered, on the blocking pool. A failed commit
/// is logged and its events are lost (they are statistics, not data).
async fn flush(
    store: &Arc<Store>,
    resolver: &Arc<Mutex<Resolver>>,
    pending: &mut Vec<ViewEvent>,
    written: &AtomicU64,
) {
    if pending.is_empty() {
        return;
    }
    let events = std::mem::replace(pending, Vec::with_capacity(BATCH));
    let count = events.len() as u64;
    let store = store.clone();
    let resolver = resolver.clone();
    let res = tokio::task::spawn_blocking(move || {
        // One read for the batch: the visitor marks need each image's owner.
        let ids: Vec<u64> = events.iter().map(|e| e.image_id).collect();
        let owners = store.image_owners(&ids)?;
        let mut r = resolver.lock().unwrap_or_else(|p| p.into_inner());
        let hits = r.resolve(events, &owners);
        store.record_hits(&hits, r.limits, clock::day_of(clock::now_ms()))
    })
    .await;
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not write view statistics"),
        Err(e) => tracing::warn!(error = %e, "view writer task failed"),
    }
    written.fetch_add(count, Ordering::Release);
}

/// How often a busy writer looks at the queue: the "or `BATCH` events" bound
/// holds to within this.
const CHECK: Duration = Duration::from_millis(25);

/// Moves everything queued so far into `pending`; `false` once the channel is
/// closed and empty.
fn drain(rx: &mut mpsc::Receiver<ViewEvent>, pending: &mut Vec<ViewEvent>) -> bool {
    loop {
        match rx.try_recv() {
            Ok(ev) => pending.push(ev),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
}

/// The writer. Idle, it sleeps on the channel. Once an event arrives it stops
/// listening and polls instead: every [`CHECK`] it drains the queue, and it
/// flushes when `interval` has passed since that first event or [`BATCH`]
/// events are waiting. Under load the serving path therefore never wakes this
/// task (a `try_send` to a receiver that is not parked costs no wake-up), which
/// is what keeps recording views nearly free for serving throughput.
async fn run(
    store: Arc<Store>,
    resolver: Arc<Mutex<Resolver>>,
    mut rx: mpsc::Receiver<ViewEvent>,
    mut stop: Shutdown,
    interval: Duration,
    written: Arc<AtomicU64>,
) {
    let mut pending: Vec<ViewEvent> = Vec::with_capacity(BATCH);
    let mut stopping = false;
    while !stopping {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => pending.push(ev),
                None => break,
            },
            _ = stop.requested() => break,
        }
        let deadline = tokio::time::Instant::now() + interval;
        loop {
            if !drain(&mut rx, &mut pending) {
                stopping = true;
                break;
            }
            let now = tokio::time::Instant::now();
            if pending.len() >= BATCH || now >= deadline {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK.min(deadline - now)) => {}
                _ = stop.requested() => {
                    stopping = true;
                    break;
                }
            }
        }
        flush(&store, &resolver, &mut pending, &written).await;
    }
    // Shutting down: take what the server queued before it stopped.
    rx.close();
    while let Some(ev) = rx.recv().await {
        pending.push(ev);
    }
    flush(&store, &resolver, &mut pending, &written).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_marks_visitors_and_keeps_ips_only_when_asked() {
        let ev = |agent, ip: &str| ViewEvent {
            image_id: 1,
            at: 86_400_000 * 20_000,
            agent,
            client: Some(ip.parse().unwrap()),
            agent_digest: [1; 16],
            referrer: Some("a.example".into()),
        };
        let mut r = Resolver {
            geo: None,
            visitors: Visitors::new(),
            store_ip: false,
            limits: StatsLimits {
                retention_days: 1,
                recent_cap: 1,
            },
        };
        let owners = HashMap::from([(1, "alice".to_string())]);
        let hits = r.resolve(
            vec![
                ev(AgentClass::Browser, "81.2.69.142"),
                ev(AgentClass::Browser, "81.2.69.142"),
                ev(AgentClass::Bot, "81.2.69.142"),
            ],
            &owners,
        );
        assert_eq!(
            hits.iter()
                .map(|h| (h.kind, h.new_visitor, h.new_owner_visitor))
                .collect::<Vec<_>>(),
            vec![
                (HitKind::View, true, true),
                (HitKind::View, false, false),
                (HitKind::Bot, false, false)
            ]
        );
        assert!(hits.iter().all(|h| h.ip.is_none() && h.country.is_none()));
        r.store_ip = true;
        let hits = r.resolve(vec![ev(AgentClass::Browser, "81.2.69.142")], &owners);
        assert_eq!(
            hits[0].ip,
            Some(
                "81.2.69.142"
                    .parse::<std::net::Ipv4Addr>()
                    .unwrap()
                    .to_ipv6_mapped()
                    .octets()
            )
        );
    }
}
