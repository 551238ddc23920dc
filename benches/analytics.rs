//! The cost of recording a view, in isolation from network noise: the serving
//! path's share (classify the request, take the referrer host, digest the
//! User-Agent) and the writer's share (one batch of 1,000 views committed to
//! redb: counters, recent log, fsync), reported per view.
//!
//! Complements `benches/analytics_load.sh`, which measures end-to-end serving
//! throughput with analytics on and off. Run: `cargo bench --bench analytics`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use hyper::Method;
use hyper::header::{HeaderMap, HeaderValue};
use pixbin::analytics::{classify, referrer_host, salt};
use pixbin::store::Store;
use pixbin::store::stats::{Hit, HitKind, StatsLimits};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const REFERER: &str = "https://discord.com/channels/123456789/987654321";
const ADMIN: &str = "https://img.example.com/admin";
const BATCH: usize = 1_000;

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("user-agent", HeaderValue::from_static(UA));
    h.insert("referer", HeaderValue::from_static(REFERER));
    h
}

/// A batch as the writer hands it over: distinct visitors, a few countries and
/// referrers, 20 images.
fn batch(at: i64) -> Vec<Hit> {
    (0..BATCH)
        .map(|i| Hit {
            image_id: (i % 20) as u64 + 1,
            at,
            kind: HitKind::View,
            agent: 0,
            country: Some([b"GB", b"SE", b"US", b"DE"][i % 4].to_owned()),
            referrer: (i % 3 != 0).then(|| ["discord.com", "reddit.com"][i % 2].to_string()),
            new_visitor: i % 2 == 0,
            new_image_visitor: i % 2 == 0,
            new_owner_visitor: i % 2 == 0,
            ip: None,
        })
        .collect()
}

fn main() {
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    let h = headers();

    let mut g = c.benchmark_group("serving_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("classify+referrer+digest", |b| {
        b.iter(|| {
            let a = classify(black_box(&Method::GET), black_box(&h), ADMIN);
            let r = referrer_host(h.get("referer").unwrap().as_bytes());
            let d = salt::agent_digest(h.get("user-agent").map(|v| v.as_bytes()));
            black_box((a, r, d))
        })
    });
    g.finish();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let limits = StatsLimits {
        retention_days: 400,
        recent_cap: 10_000,
    };
    let now = pixbin::clock::now_ms();
    let today = pixbin::clock::day_of(now);
    let mut g = c.benchmark_group("writer");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    g.bench_function("record_hits x1000", |b| {
        b.iter_batched(
            || batch(now),
            |hits| store.record_hits(&hits, limits, today).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // A plain summary in the units that matter: time per view.
    let hits = batch(now);
    let n = 30;
    let t = Instant::now();
    for _ in 0..n {
        store.record_hits(&hits, limits, today).unwrap();
    }
    let writer_us = t.elapsed().as_secs_f64() * 1e6 / (n * BATCH) as f64;
    let no_log = StatsLimits {
        recent_cap: 0,
        ..limits
    };
    let t = Instant::now();
    for _ in 0..n {
        store.record_hits(&hits, no_log, today).unwrap();
    }
    let no_log_us = t.elapsed().as_secs_f64() * 1e6 / (n * BATCH) as f64;
    let m = 200_000;
    let t = Instant::now();
    for _ in 0..m {
        black_box((
            classify(&Method::GET, &h, ADMIN),
            referrer_host(REFERER.as_bytes()),
            salt::agent_digest(Some(UA.as_bytes())),
        ));
    }
    let serve_ns = t.elapsed().as_secs_f64() * 1e9 / m as f64;
    println!(
        "per view: serving path {serve_ns:.0} ns, writer {writer_us:.2} us (batch of {BATCH}, fsync included; {no_log_us:.2} us without the recent-views log)"
    );
}
