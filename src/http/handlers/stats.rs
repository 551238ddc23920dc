//! View statistics for the admin UI (session only): dashboard totals, views per
//! day, countries, referrers, recent views, top images, and one image's numbers.
//! An account sees its own numbers (views of its images, deleted ones'
//! included, and its own unique visitors: `store::owner_stats`); an admin sees the whole
//! instance's, or one account's with `?user=` (`guard::scope_of`).
//!
//! Everything here reads committed counters; views still in the writer's queue
//! (at most one flush interval) appear on the next call. "Unique" counts a
//! visitor once per UTC day (see `analytics::salt`), so multi-day figures are
//! sums of daily uniques.

use hyper::body::Incoming;
use hyper::{Request, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::clock;
use crate::error::{AppError, OptionExt};
use crate::http::body::{Body, ok_json};
use crate::http::guard::{self, SessionCtx};
use crate::http::image_json::{ImageJson, image_json};
use crate::http::query;
use crate::http::router::{ImageRef, StatsRoute};
use crate::state::AppState;
use crate::store::stats::{DayCounts, ImageStats, UNKNOWN_COUNTRY};

/// Days of `/api/stats/views` and `/api/images/{id}/stats` when `days` is absent.
pub const DEFAULT_DAYS: u32 = 30;

/// Runs one statistics route.
pub async fn handle(
    state: &AppState,
    ctx: &SessionCtx,
    route: StatsRoute,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let q = req.uri().query();
    let scope = || guard::scope_of(ctx, q);
    match route {
        StatsRoute::Summary => summary(state, scope()?).await,
        StatsRoute::Views => views(state, scope()?, days_param(state, q)?).await,
        StatsRoute::Countries => countries(state, scope()?).await,
        StatsRoute::Referrers => {
            referrers(state, scope()?, count_param(q, "limit", 50, 1_000)?).await
        }
        StatsRoute::Recent => recent(state, scope()?, count_param(q, "limit", 50, 1_000)?).await,
        StatsRoute::Top => top(state, scope()?, count_param(q, "limit", 10, 100)?).await,
        StatsRoute::Image(r) => image(state, ctx, r, days_param(state, q)?).await,
    }
}

/// One account's statistics over `days` days ending today.
async fn owner_stats(state: &AppState, owner: String, days: u32) -> Result<ImageStats, AppError> {
    let (first, last) = day_range(days);
    state
        .blocking(move |s| s.owner_stats(&owner, first, last))
        .await
}

/// A positive integer parameter, at most `max`; absent is `default`.
fn count_param(q: Option<&str>, name: &str, default: usize, max: usize) -> Result<usize, AppError> {
    let bad = || AppError::bad_request(format!("{name} must be an integer from 1 to {max}"));
    match query::param(q, name).map_err(|_| bad())? {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(bad),
    }
}

/// `days`: 1 to the retention period, default 30 (or the retention, if shorter).
fn days_param(state: &AppState, q: Option<&str>) -> Result<u32, AppError> {
    let max = state.config.stats_retention_days.max(1) as usize;
    let default = (DEFAULT_DAYS as usize).min(max);
    Ok(count_param(q, "days", default, max)? as u32)
}

/// The day range `(first, last)` that ends today (UTC).
fn day_range(days: u32) -> (i64, i64) {
    let today = clock::day_of(clock::now_ms());
    (today - i64::from(days) + 1, today)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson {
    images: u64,
    private_images: u64,
    views: u64,
    unique_visitors: u64,
    bot_hits: u64,
    unfurler_hits: u64,
    storage_used: u64,
    /// What `storage_limit` is checked against: blob bytes plus block and
    /// row overheads (`store::quota`).
    storage_charged: u64,
    /// `null` when unlimited.
    storage_limit: Option<u64>,
    /// Most images; `null` when unlimited.
    image_limit: Option<u64>,
    /// Whose numbers and limits these are: `"instance"` or `"user"`.
    quota: &'static str,
    /// `null` when the filesystem cannot say, and for one account's numbers.
    disk_free: Option<u64>,
}

/// Bytes available to this (unprivileged) process on the data directory's
/// filesystem, like `df`'s "Avail".
fn disk_free(path: &std::path::Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// `GET /api/stats`: the instance's totals, or one account's (its images,
/// their views, and its quota in place of the instance's limit).
async fn summary(state: &AppState, scope: Option<String>) -> Result<Response<Body>, AppError> {
    if let Some(owner) = scope {
        let o = owner.clone();
        let (account, private) = state
            .blocking(move |s| Ok((s.account(&o)?, s.private_count_of(&o)?)))
            .await?;
        let stats = owner_stats(state, owner, 1).await?;
        let (used, limit, image_limit) = match &account {
            Some(a) => (a.usage, a.record.quota_bytes, a.record.quota_images),
            None => (Default::default(), None, None),
        };
        return Ok(ok_json(&SummaryJson {
            images: used.images,
            private_images: private,
            views: stats.views,
            unique_visitors: stats.unique,
            bot_hits: stats.bots,
            unfurler_hits: stats.unfurlers,
            storage_used: used.bytes,
            storage_charged: used.bytes,
            storage_limit: limit,
            image_limit,
            quota: "user",
            disk_free: None,
        }));
    }
    let (totals, stats, free, charged) = state
        .blocking(|s| {
            Ok((
                s.totals()?,
                s.stats_totals()?,
                disk_free(s.data_dir()),
                s.quota_used()?,
            ))
        })
        .await?;
    Ok(ok_json(&SummaryJson {
        images: totals.images,
        private_images: totals.private_images,
        views: stats.views,
        unique_visitors: stats.unique_visitors,
        bot_hits: stats.bot_hits,
        unfurler_hits: stats.unfurler_hits,
        storage_used: totals.bytes_stored,
        storage_charged: charged,
        storage_limit: state.config.max_storage_bytes,
        image_limit: state.config.max_images,
        quota: "instance",
        disk_free: free,
    }))
}

#[derive(Serialize)]
struct DayJson {
    date: String,
    views: u64,
    unique: u64,
    bots: u64,
    unfurlers: u64,
}

fn day_json(d: &DayCounts) -> DayJson {
    DayJson {
        date: clock::date(d.day * 86_400_000),
        views: d.views,
        unique: d.unique,
        bots: d.bots,
        unfurlers: d.unfurlers,
    }
}

#[derive(Serialize)]
struct DaysJson {
    days: Vec<DayJson>,
}

/// `GET /api/stats/views?days=N`: every day of the range, oldest first, zeros included.
async fn views(
    state: &AppState,
    scope: Option<String>,
    days: u32,
) -> Result<Response<Body>, AppError> {
    let (first, last) = day_range(days);
    let counts = match scope {
        Some(owner) => owner_stats(state, owner, days).await?.days,
        None => state.blocking(move |s| s.day_counts(first, last)).await?,
    };
    Ok(ok_json(&DaysJson {
        days: counts.iter().map(day_json).collect(),
    }))
}

#[derive(Serialize)]
struct CountryJson {
    country: String,
    views: u64,
    /// Share of all views, 0–100 with one decimal.
    percent: f64,
}

fn countries_json(rows: Vec<(String, u64)>) -> Vec<CountryJson> {
    let total: u64 = rows.iter().map(|r| r.1).sum();
    rows.into_iter()
        .map(|(country, views)| CountryJson {
            percent: percent(views, total),
            country,
            views,
        })
        .collect()
}

/// `part / total` in percent, rounded to one decimal.
fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / total as f64).round() / 10.0
}

#[derive(Serialize)]
struct CountriesJson {
    countries: Vec<CountryJson>,
}

/// `GET /api/stats/countries`: all-time views per country, most first.
async fn countries(state: &AppState, scope: Option<String>) -> Result<Response<Body>, AppError> {
    let rows = match scope {
        Some(owner) => owner_stats(state, owner, 1).await?.countries,
        None => state.blocking(|s| s.country_views()).await?,
    };
    Ok(ok_json(&CountriesJson {
        countries: countries_json(rows),
    }))
}

#[derive(Serialize)]
struct ReferrerJson {
    /// Empty for views without a (usable) Referer.
    host: String,
    views: u64,
}

fn referrers_json(rows: Vec<(String, u64)>) -> Vec<ReferrerJson> {
    rows.into_iter()
        .map(|(host, views)| ReferrerJson { host, views })
        .collect()
}

#[derive(Serialize)]
struct ReferrersJson {
    referrers: Vec<ReferrerJson>,
}

/// `GET /api/stats/referrers?limit=N`: all-time views per referrer host, most first.
async fn referrers(
    state: &AppState,
    scope: Option<String>,
    limit: usize,
) -> Result<Response<Body>, AppError> {
    let rows = match scope {
        Some(owner) => {
            let mut rows = owner_stats(state, owner, 1).await?.referrers;
            rows.truncate(limit);
            rows
        }
        None => state.blocking(move |s| s.referrer_views(limit)).await?,
    };
    Ok(ok_json(&ReferrersJson {
        referrers: referrers_json(rows),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecentJson {
    image_id: u64,
    uuid: String,
    filename: String,
    extension: &'static str,
    at: String,
    country: String,
    referrer: Option<String>,
    /// `browser`, `bot`, or the link-preview service (`Discord`, `Slack`…).
    agent: &'static str,
    /// Only when the operator set `PIXBIN_STORE_VIEWER_IP=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
}

#[derive(Serialize)]
struct RecentListJson {
    views: Vec<RecentJson>,
}

/// `GET /api/stats/recent?limit=N`: the newest fetches (views, and bots and
/// unfurlers labelled as such), newest first.
async fn recent(
    state: &AppState,
    scope: Option<String>,
    limit: usize,
) -> Result<Response<Body>, AppError> {
    let rows = state
        .blocking(move |s| s.recent_views(limit, scope.as_deref()))
        .await?;
    let views = rows
        .into_iter()
        .map(|v| {
            let r = v.record;
            let kind = v.image.kind;
            RecentJson {
                image_id: r.image_id,
                uuid: Uuid::from_bytes(v.image.uuid).hyphenated().to_string(),
                filename: v.image.filename,
                extension: kind.ext(),
                at: clock::rfc3339(r.at),
                country: r
                    .country
                    .filter(|c| c.iter().all(u8::is_ascii_uppercase))
                    .map(|c| String::from_utf8_lossy(&c).into_owned())
                    .unwrap_or_else(|| UNKNOWN_COUNTRY.to_string()),
                referrer: Some(r.referrer).filter(|h| !h.is_empty()),
                agent: crate::analytics::AgentClass::from_code(r.agent).label(),
                ip: r.ip.map(|o| {
                    let v6 = std::net::Ipv6Addr::from(o);
                    v6.to_ipv4_mapped()
                        .map_or_else(|| v6.to_string(), |v4| v4.to_string())
                }),
            }
        })
        .collect();
    Ok(ok_json(&RecentListJson { views }))
}

#[derive(Serialize)]
struct TopJson {
    images: Vec<ImageJson>,
}

/// `GET /api/stats/top?limit=N`: the most-viewed images, as image JSON.
async fn top(
    state: &AppState,
    scope: Option<String>,
    limit: usize,
) -> Result<Response<Body>, AppError> {
    let imgs = state
        .blocking(move |s| s.top_images(limit, scope.as_deref()))
        .await?;
    Ok(ok_json(&TopJson {
        images: imgs.iter().map(|i| image_json(state, i, None)).collect(),
    }))
}

#[derive(Serialize)]
struct ImageStatsJson {
    views: u64,
    unique: u64,
    bots: u64,
    unfurlers: u64,
    days: Vec<DayJson>,
    countries: Vec<CountryJson>,
    referrers: Vec<ReferrerJson>,
}

/// `GET /api/images/{id}/stats?days=N`: of an image the session may see.
async fn image(
    state: &AppState,
    ctx: &SessionCtx,
    r: ImageRef,
    days: u32,
) -> Result<Response<Body>, AppError> {
    let img = guard::visible_image(state, ctx, r).await?;
    let (first, last) = day_range(days);
    let stats = state
        .blocking(move |s| s.image_stats(img.id, first, last))
        .await?
        .or_not_found()?;
    Ok(ok_json(&ImageStatsJson {
        views: stats.views,
        unique: stats.unique,
        bots: stats.bots,
        unfurlers: stats.unfurlers,
        days: stats.days.iter().map(day_json).collect(),
        countries: countries_json(stats.countries),
        referrers: referrers_json(stats.referrers),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_to_one_decimal() {
        assert_eq!(percent(3, 7), 42.9);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(5, 5), 100.0);
        assert_eq!(percent(0, 0), 0.0);
    }

    #[test]
    fn count_params_are_bounded() {
        assert_eq!(count_param(None, "limit", 10, 100).unwrap(), 10);
        assert_eq!(
            count_param(Some("limit=100"), "limit", 10, 100).unwrap(),
            100
        );
        assert_eq!(count_param(Some("limit="), "limit", 10, 100).unwrap(), 10);
        for bad in ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=%zz"] {
            assert!(count_param(Some(bad), "limit", 10, 100).is_err(), "{bad}");
        }
    }
}
