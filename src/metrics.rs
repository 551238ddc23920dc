//! Process metrics in the Prometheus text format: requests by route and status,
//! a latency histogram by route, garbage-collection counts, and the gauges read
//! from the store at scrape time.
//!
//! Labels are only route names (a fixed set, `Route::name`), status codes and a
//! few fixed words: never an image id, address or user agent, so the number of
//! series stays bounded whatever clients send (Prometheus naming practice,
//! ECOSYSTEM §3.5).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 13] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Latency {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_micros: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Latency>,
    gc_runs: u64,
    gc_blobs_removed: u64,
    gc_bytes_freed: u64,
    gc_temps_removed: u64,
    gc_blobs_quarantined: u64,
    gc_braked: u64,
    trash_blobs: u64,
    trash_bytes: u64,
}

/// Counters shared by every request. One short critical section per request: a
/// mutex held for a map update costs far less than the request around it.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read from the store and the view queue at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Image rows.
    pub images: u64,
    /// Private image rows.
    pub private_images: u64,
    /// Deduplicated bytes of all blobs.
    pub bytes_stored: u64,
    /// Views counted and committed, all time.
    pub views: u64,
    /// View events queued since start.
    pub view_events: u64,
    /// View events dropped because the queue was full, since start.
    pub view_events_dropped: u64,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one answered request. `elapsed` runs to the response head (a
    /// streamed body may take longer).
    pub fn observe(&self, route: &'static str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut m = self.lock();
        *m.requests.entry((route, status)).or_default() += 1;
        let l = m.latency.entry(route).or_default();
        l.count += 1;
        l.sum_micros += elapsed.as_micros() as u64;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            l.buckets[i] += 1;
        }
    }

    /// Records one garbage-collection pass.
    pub fn gc_pass(&self, report: &crate::store::gc::GcReport) {
        let mut m = self.lock();
        m.gc_runs += 1;
        m.gc_blobs_removed += report.purged;
        m.gc_bytes_freed += report.bytes_purged;
        m.gc_temps_removed += report.temps_removed;
        m.gc_blobs_quarantined += report.quarantined;
        m.gc_braked += u64::from(report.braked.is_some());
        if !report.skipped_for_backup {
            m.trash_blobs = report.trash.blobs;
            m.trash_bytes = report.trash.bytes;
        }
    }

    /// Garbage-collection passes recorded so far (for tests).
    pub fn gc_runs(&self) -> u64 {
        self.lock().gc_runs
    }

    /// Requests counted for a route and status (for tests and the dashboard).
    pub fn requests(&self, route: &'static str, status: u16) -> u64 {
        self.lock()
            .requests
            .get(&(route, status))
            .copied()
            .unwrap_or(0)
    }

    /// The whole exposition, Prometheus text format 0.0.4.
    pub fn render(&self, g: &Gauges) -> String {
        let m = self.lock();
        let mut out = String::with_capacity(8 * 1024);
        macro_rules! head {
            ($name:expr, $kind:expr, $help:expr) => {
                let _ = writeln!(
                    out,
                    "# HELP {} {}\n# TYPE {} {}",
                    $name, $help, $name, $kind
                );
            };
        }
        head!(
            "pixbin_build_info",
            "gauge",
            "The running pixbin version (always 1)."
        );
        let _ = writeln!(
            out,
            "pixbin_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );

        head!(
            "pixbin_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status."
        );
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "pixbin_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }

        head!(
            "pixbin_http_request_duration_seconds",
            "histogram",
            "Time from request to response head, by route."
        );
        for (route, l) in &m.latency {
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += l.buckets[i];
                let _ = writeln!(
                    out,
                    "pixbin_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "pixbin_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 pixbin_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 pixbin_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                l.count,
                l.sum_micros as f64 / 1e6,
                l.count
            );
        }

        head!(
            "pixbin_uploads_total",
            "counter",
            "Upload requests by outcome: stored, refused (4xx) or failed (5xx)."
        );
        let (mut stored, mut refused, mut failed) = (0, 0, 0);
        for ((route, status), n) in &m.requests {
            if *route == "upload" {
                match status {
                    200..=299 => stored += n,
                    400..=499 => refused += n,
                    _ => failed += n,
                }
            }
        }
        for (result, n) in [("stored", stored), ("refused", refused), ("failed", failed)] {
            let _ = writeln!(out, "pixbin_uploads_total{{result=\"{result}\"}} {n}");
        }

        for (name, kind, help, value) in [
            ("pixbin_images", "gauge", "Images stored.", g.images),
            (
                "pixbin_private_images",
                "gauge",
                "Private images stored.",
                g.private_images,
            ),
            (
                "pixbin_storage_bytes",
                "gauge",
                "Bytes of image data stored (identical files count once).",
                g.bytes_stored,
            ),
            (
                "pixbin_image_views_total",
                "counter",
                "Views counted and committed, all time.",
                g.views,
            ),
            (
                "pixbin_view_events_total",
                "counter",
                "View events queued for counting since start.",
                g.view_events,
            ),
            (
                "pixbin_view_events_dropped_total",
                "counter",
                "View events dropped since start because the queue was full.",
                g.view_events_dropped,
            ),
            (
                "pixbin_gc_runs_total",
                "counter",
                "Garbage-collection passes since start.",
                m.gc_runs,
            ),
            (
                "pixbin_gc_blobs_removed_total",
                "counter",
                "Quarantined orphan blob files unlinked after the retention since start.",
                m.gc_blobs_removed,
            ),
            (
                "pixbin_gc_freed_bytes_total",
                "counter",
                "Bytes freed by unlinking quarantined blobs since start.",
                m.gc_bytes_freed,
            ),
            (
                "pixbin_gc_temps_removed_total",
                "counter",
                "Stale temp files removed since start.",
                m.gc_temps_removed,
            ),
            (
                "pixbin_gc_blobs_quarantined_total",
                "counter",
                "Orphan blob files moved into quarantine (trash/) since start.",
                m.gc_blobs_quarantined,
            ),
            (
                "pixbin_gc_braked_total",
                "counter",
                "GC passes that quarantined nothing because too large a share of blobs had no row.",
                m.gc_braked,
            ),
            (
                "pixbin_trash_blobs",
                "gauge",
                "Orphan blobs in quarantine (trash/) as of the last GC pass.",
                m.trash_blobs,
            ),
            (
                "pixbin_trash_bytes",
                "gauge",
                "Bytes in quarantine (trash/) as of the last GC pass.",
                m.trash_bytes,
            ),
        ] {
            head!(name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.observe("public", 200, Duration::from_micros(300));
        m.observe("public", 200, Duration::from_millis(30));
        m.observe("public", 404, Duration::from_secs(20));
        m.observe("upload", 200, Duration::from_millis(2));
        m.observe("upload", 400, Duration::from_millis(2));
        let text = m.render(&Gauges {
            images: 3,
            bytes_stored: 1234,
            view_events_dropped: 2,
            ..Gauges::default()
        });
        for line in [
            "pixbin_http_requests_total{route=\"public\",status=\"200\"} 2",
            "pixbin_http_requests_total{route=\"public\",status=\"404\"} 1",
            "pixbin_http_request_duration_seconds_bucket{route=\"public\",le=\"0.0005\"} 1",
            "pixbin_http_request_duration_seconds_bucket{route=\"public\",le=\"0.05\"} 2",
            "pixbin_http_request_duration_seconds_bucket{route=\"public\",le=\"10\"} 2",
            "pixbin_http_request_duration_seconds_bucket{route=\"public\",le=\"+Inf\"} 3",
            "pixbin_http_request_duration_seconds_count{route=\"public\"} 3",
            "pixbin_uploads_total{result=\"stored\"} 1",
            "pixbin_uploads_total{result=\"refused\"} 1",
            "pixbin_images 3",
            "pixbin_storage_bytes 1234",
            "pixbin_view_events_dropped_total 2",
            "# TYPE pixbin_http_request_duration_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.contains("pixbin_build_info{version=\""));
        // Every sample line is `name{labels} value` or `name value`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
        }
    }
}
