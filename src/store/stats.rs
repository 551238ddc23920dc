//! View statistics in redb: the analytics writer's batched commit, the reads
//! behind `/api/stats/*`, retention, and forgetting a deleted image's counters.
//!
//! Counters are plain `u64` values under small tuple keys (day numbers are UTC
//! days since 1970-01-01, see `clock::day_of`). What keeps the tables bounded:
//! per-day rows are pruned after `StatsLimits::retention_days`; the recent-views
//! log is capped at `StatsLimits::recent_cap` rows; referrer hosts, the only
//! client-chosen keys, are capped in number, and a full table makes room for
//! new hosts by moving its least-viewed rows under [`OTHER_REFERRER`] (see
//! [`admit`]), so it ages out instead of freezing; country keys are validated
//! two-letter codes.

use std::collections::{BTreeMap, HashMap};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::codec::{ImageRecord, RecentViewRecord};
use super::meta::*;
use super::{Result, Store, StoredImage, get_meta};

/// Metric codes of `DAY_METRIC_TO_COUNT` and `IMAGE_DAY_METRIC_TO_COUNT`.
pub mod metric {
    /// Counted views.
    pub const VIEWS: u8 = 0;
    /// Unique visitors (a visitor counts once per day, per image or overall).
    pub const UNIQUE: u8 = 1;
    /// Bot fetches.
    pub const BOTS: u8 = 2;
    /// Link-preview fetches.
    pub const UNFURLERS: u8 = 3;
}

/// The country key when no GeoIP database is configured or it has no answer.
pub const UNKNOWN_COUNTRY: &str = "unknown";
/// Where referrer hosts beyond the cap are counted.
pub const OTHER_REFERRER: &str = "(other)";
/// Distinct referrer hosts kept overall.
pub const REFERRER_CAP: u64 = 1_000;
/// Distinct referrer hosts kept per image.
pub const IMAGE_REFERRER_CAP: u64 = 50;
/// Rows one batch adds to the recent-views log at most (its newest hits). At
/// the default 500 ms interval every fetch is logged up to ~500 per second;
/// beyond that the log keeps a sample (the newest of each batch), because
/// writing and trimming a row per fetch was the writer's largest cost under load.
pub const RECENT_PER_BATCH: usize = 250;

/// What kind of fetch a [`Hit`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    /// A counted view.
    View,
    /// A bot: counted separately.
    Bot,
    /// A link-preview unfurler: counted separately.
    Unfurler,
}

/// One fetch of a public image link, resolved by the analytics writer
/// (country looked up, visitor de-duplicated) and ready to be counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The image.
    pub image_id: u64,
    /// Unix milliseconds.
    pub at: i64,
    /// View, bot or unfurler.
    pub kind: HitKind,
    /// `analytics::AgentClass` code, for the recent log.
    pub agent: u8,
    /// ISO 3166 alpha-2 code (uppercase), if known.
    pub country: Option<[u8; 2]>,
    /// Referrer host, if any (already normalised and validated).
    pub referrer: Option<String>,
    /// First view by this visitor today (overall).
    pub new_visitor: bool,
    /// First view of this image by this visitor today.
    pub new_image_visitor: bool,
    /// First view by this visitor today of an image of this image's owner.
    pub new_owner_visitor: bool,
    /// The viewer's address, only when the operator opted in.
    pub ip: Option<[u8; 16]>,
}

/// Retention settings for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsLimits {
    /// Days of per-day counters to keep (today included).
    pub retention_days: u32,
    /// Rows of the recent-views log to keep.
    pub recent_cap: u64,
}

/// All-time totals for the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsTotals {
    /// Counted views.
    pub views: u64,
    /// Unique visitors per day, summed.
    pub unique_visitors: u64,
    /// Bot fetches.
    pub bot_hits: u64,
    /// Link-preview fetches.
    pub unfurler_hits: u64,
}

/// One day's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Day number (UTC days since the epoch).
    pub day: i64,
    /// Counted views.
    pub views: u64,
    /// Unique visitors.
    pub unique: u64,
    /// Bot fetches.
    pub bots: u64,
    /// Link-preview fetches.
    pub unfurlers: u64,
}

impl DayCounts {
    pub(super) fn add(&mut self, metric: u8, n: u64) {
        match metric {
            metric::VIEWS => self.views += n,
            metric::UNIQUE => self.unique += n,
            metric::BOTS => self.bots += n,
            metric::UNFURLERS => self.unfurlers += n,
            _ => {}
        }
    }
}

/// One recent-log entry with its (still existing) image.
#[derive(Debug, Clone)]
pub struct RecentView {
    /// The stored entry.
    pub record: RecentViewRecord,
    /// What the log shows of the image.
    pub image: RecentImage,
}

/// The image facts a recent-log entry is shown with.
#[derive(Debug, Clone)]
pub struct RecentImage {
    /// Public identifier.
    pub uuid: [u8; 16],
    /// The image's type.
    pub kind: crate::media::ImageType,
    /// Display name.
    pub filename: String,
}

/// Statistics of one image.
#[derive(Debug, Clone, Default)]
pub struct ImageStats {
    /// Counted views, all time.
    pub views: u64,
    /// Per day within the asked range, zero-filled, oldest first.
    pub days: Vec<DayCounts>,
    /// Sum over the retained days of unique visitors per day.
    pub unique: u64,
    /// Bot fetches over the retained days.
    pub bots: u64,
    /// Link-preview fetches over the retained days.
    pub unfurlers: u64,
    /// (country, views), most first.
    pub countries: Vec<(String, u64)>,
    /// (referrer host, views), most first.
    pub referrers: Vec<(String, u64)>,
}

/// Creates the statistics tables (called from `Store::open`).
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(DAY_METRIC_TO_COUNT)?;
    txn.open_table(IMAGE_DAY_METRIC_TO_COUNT)?;
    txn.open_table(COUNTRY_TO_VIEWS)?;
    txn.open_table(IMAGE_COUNTRY_TO_VIEWS)?;
    txn.open_table(REFERRER_TO_VIEWS)?;
    txn.open_table(IMAGE_REFERRER_TO_VIEWS)?;
    txn.open_table(SEQ_TO_RECENT_VIEW)?;
    Ok(())
}

/// Drops an image's per-image counters inside the delete's transaction. Its
/// views stay in the per-day and per-country totals: they happened. Its
/// recent-log rows are skipped when read and age out with the cap.
pub(super) fn forget(txn: &WriteTransaction, id: u64) -> Result<()> {
    txn.open_table(IMAGE_DAY_METRIC_TO_COUNT)?
        .retain_in((id, i64::MIN, 0u8)..=(id, i64::MAX, u8::MAX), |_, _| false)?;
    txn.open_table(IMAGE_COUNTRY_TO_VIEWS)?
        .retain_in((id, "")..image_str_end(id), |_, _| false)?;
    txn.open_table(IMAGE_REFERRER_TO_VIEWS)?
        .retain_in((id, "")..image_str_end(id), |_, _| false)?;
    Ok(())
}

/// The exclusive upper bound of an image's `(id, &str)` keys.
fn image_str_end(id: u64) -> (u64, &'static str) {
    (id.saturating_add(1), "")
}

fn country_key(c: &Option<[u8; 2]>) -> &str {
    match c {
        Some(c) if c.iter().all(u8::is_ascii_uppercase) => {
            std::str::from_utf8(c).unwrap_or(UNKNOWN_COUNTRY)
        }
        _ => UNKNOWN_COUNTRY,
    }
}

/// Adds every `(key, n)` to the counters of one table.
fn add_all<'k, K: redb::Key + 'static>(
    txn: &WriteTransaction,
    def: redb::TableDefinition<K, u64>,
    items: impl IntoIterator<Item = (K::SelfType<'k>, u64)>,
) -> Result<()> {
    let mut t = txn.open_table(def)?;
    for (k, n) in items {
        bump(&mut t, k, n)?;
    }
    Ok(())
}

/// Adds `n` to a counter.
pub(super) fn bump<K: redb::Key + 'static>(
    t: &mut redb::Table<K, u64>,
    key: K::SelfType<'_>,
    n: u64,
) -> Result<()> {
    let cur = t.get(&key)?.map(|v| v.value()).unwrap_or(0);
    t.insert(&key, cur.saturating_add(n))?;
    Ok(())
}

/// What [`admit`] decided for one bounded referrer table.
#[derive(Debug, Default, PartialEq, Eq)]
struct Admission<'a> {
    /// New hosts that get a row, with their views.
    admitted: Vec<(&'a str, u64)>,
    /// Resident hosts whose rows go, their views moving to [`OTHER_REFERRER`].
    evicted: Vec<String>,
    /// Views to add to [`OTHER_REFERRER`]: the evicted rows' and those of
    /// newcomers that did not get in.
    other: u64,
}

/// Makes room in a full referrer table for a batch's new hosts, so that the
/// table never freezes: a burst of junk hosts cannot keep real referrers out
/// for good (SECURITY.md A51). Newcomers, most viewed first, take free rows
/// while there are `room` ones, then each replaces the resident with the
/// fewest views if it has at least as many (a newcomer wins a tie: the more
/// recent host). So one-view junk ages out as soon as new hosts come, while a
/// referrer that brought more views than the junk has stays. Nothing is lost:
/// what leaves a row is counted under [`OTHER_REFERRER`]. `residents` need
/// only be read when `newcomers.len() > room`.
fn admit<'a>(
    residents: Vec<(String, u64)>,
    mut newcomers: Vec<(&'a str, u64)>,
    mut room: usize,
) -> Admission<'a> {
    newcomers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut residents: Vec<(String, u64)> = residents
        .into_iter()
        .filter(|(h, _)| h != OTHER_REFERRER)
        .collect();
    residents.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut fewest = residents.into_iter().peekable();
    let mut out = Admission::default();
    for (host, n) in newcomers {
        if room > 0 {
            room -= 1;
            out.admitted.push((host, n));
        } else if let Some((gone, m)) = fewest.next_if(|(_, m)| *m <= n) {
            out.other += m;
            out.evicted.push(gone);
            out.admitted.push((host, n));
        } else {
            out.other += n;
        }
    }
    out
}

fn sorted_desc(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

impl Store {
    /// Counts a batch of hits in one write transaction (one fsync per batch, so
    /// serving throughput never depends on the disk), trims the recent log, and
    /// prunes expired per-day rows once a day. `today` is the current day number.
    pub fn record_hits(&self, hits: &[Hit], limits: StatsLimits, today: i64) -> Result<()> {
        let mut day_metric: BTreeMap<(i64, u8), u64> = BTreeMap::new();
        let mut image_day_metric: BTreeMap<(u64, i64, u8), u64> = BTreeMap::new();
        let mut owner_day_metric: BTreeMap<(&str, i64, u8), u64> = BTreeMap::new();
        let mut image_views: BTreeMap<u64, u64> = BTreeMap::new();
        // Keys borrow from `hits`: no allocation per hit.
        let mut countries: BTreeMap<&str, u64> = BTreeMap::new();
        let mut image_countries: BTreeMap<(u64, &str), u64> = BTreeMap::new();
        let mut referrers: BTreeMap<&str, u64> = BTreeMap::new();
        let mut image_referrers: BTreeMap<(u64, &str), u64> = BTreeMap::new();
        let mut totals = StatsTotals::default();

        let txn = self.db.begin_write()?;
        // Read here, not taken from the writer's earlier lookup, so that a
        // batch counts for whoever owns each image when it commits.
        let owners = super::owner_stats::owners_in(
            &txn.open_table(ID_TO_IMAGE)?,
            hits.iter().map(|h| h.image_id),
        )?;
        {
            for h in hits {
                let day = crate::clock::day_of(h.at);
                let owner = owners.get(&h.image_id).map(String::as_str);
                let live = owner.is_some();
                let m = match h.kind {
                    HitKind::View => metric::VIEWS,
                    HitKind::Bot => metric::BOTS,
                    HitKind::Unfurler => metric::UNFURLERS,
                };
                *day_metric.entry((day, m)).or_default() += 1;
                match h.kind {
                    HitKind::View => totals.views += 1,
                    HitKind::Bot => totals.bot_hits += 1,
                    HitKind::Unfurler => totals.unfurler_hits += 1,
                }
                // An image deleted since it was served keeps no per-image rows.
                if let Some(o) = owner {
                    *image_day_metric.entry((h.image_id, day, m)).or_default() += 1;
                    *owner_day_metric.entry((o, day, m)).or_default() += 1;
                    if h.kind == HitKind::View && h.new_owner_visitor {
                        *owner_day_metric
                            .entry((o, day, metric::UNIQUE))
                            .or_default() += 1;
                    }
                }
                if h.kind != HitKind::View {
                    continue;
                }
                if h.new_visitor {
                    *day_metric.entry((day, metric::UNIQUE)).or_default() += 1;
                    totals.unique_visitors += 1;
                }
                let country = country_key(&h.country);
                let referrer = h.referrer.as_deref().unwrap_or_default();
                *countries.entry(country).or_default() += 1;
                *referrers.entry(referrer).or_default() += 1;
                if live {
                    if h.new_image_visitor {
                        *image_day_metric
                            .entry((h.image_id, day, metric::UNIQUE))
                            .or_default() += 1;
                    }
                    *image_views.entry(h.image_id).or_default() += 1;
                    *image_countries.entry((h.image_id, country)).or_default() += 1;
                    *image_referrers.entry((h.image_id, referrer)).or_default() += 1;
                }
            }
            add_all(&txn, DAY_METRIC_TO_COUNT, day_metric)?;
            super::owner_stats::record(&txn, &owner_day_metric)?;
            add_all(&txn, IMAGE_DAY_METRIC_TO_COUNT, image_day_metric)?;
            add_all(&txn, ID_TO_VIEWS, image_views)?;
            add_all(&txn, COUNTRY_TO_VIEWS, countries)?;
            add_all(&txn, IMAGE_COUNTRY_TO_VIEWS, image_countries)?;
            {
                let mut t = txn.open_table(REFERRER_TO_VIEWS)?;
                let mut newcomers = Vec::new();
                for (host, n) in referrers {
                    if host == OTHER_REFERRER || t.get(host)?.is_some() {
                        bump(&mut t, host, n)?;
                    } else {
                        newcomers.push((host, n));
                    }
                }
                let room = REFERRER_CAP.saturating_sub(t.len()?) as usize;
                if !newcomers.is_empty() {
                    // Scanned only when the table is full: at most once a batch.
                    let mut residents = Vec::new();
                    if newcomers.len() > room {
                        for e in t.iter()? {
                            let (k, n) = e?;
                            residents.push((k.value().to_string(), n.value()));
                        }
                    }
                    let a = admit(residents, newcomers, room);
                    for host in &a.evicted {
                        t.remove(host.as_str())?;
                    }
                    for (host, n) in a.admitted {
                        t.insert(host, n)?;
                    }
                    if a.other > 0 {
                        bump(&mut t, OTHER_REFERRER, a.other)?;
                    }
                }
            }
            {
                let mut t = txn.open_table(IMAGE_REFERRER_TO_VIEWS)?;
                let mut by_image: BTreeMap<u64, Vec<(&str, u64)>> = BTreeMap::new();
                for ((id, host), n) in image_referrers {
                    by_image.entry(id).or_default().push((host, n));
                }
                for (id, hosts) in by_image {
                    // An image holds at most IMAGE_REFERRER_CAP rows: one scan.
                    let mut residents = Vec::new();
                    for e in t.range((id, "")..image_str_end(id))? {
                        let (k, n) = e?;
                        residents.push((k.value().1.to_string(), n.value()));
                    }
                    let mut newcomers = Vec::new();
                    for (host, n) in hosts {
                        if let Some(r) = residents.iter_mut().find(|(h, _)| h == host) {
                            // Keep the scanned count current: it may be evicted below.
                            r.1 = r.1.saturating_add(n);
                            t.insert((id, host), r.1)?;
                        } else if host == OTHER_REFERRER {
                            bump(&mut t, (id, host), n)?;
                        } else {
                            newcomers.push((host, n));
                        }
                    }
                    let room = (IMAGE_REFERRER_CAP as usize).saturating_sub(residents.len());
                    let a = admit(residents, newcomers, room);
                    for host in &a.evicted {
                        t.remove((id, host.as_str()))?;
                    }
                    for (host, n) in a.admitted {
                        t.insert((id, host), n)?;
                    }
                    if a.other > 0 {
                        bump(&mut t, (id, OTHER_REFERRER), a.other)?;
                    }
                }
            }

            let mut meta = txn.open_table(NAME_TO_META)?;
            for (key, n) in [
                (keys::VIEWS, totals.views),
                (keys::UNIQUE_VISITORS, totals.unique_visitors),
                (keys::BOT_HITS, totals.bot_hits),
                (keys::UNFURLER_HITS, totals.unfurler_hits),
            ] {
                if n > 0 {
                    bump(&mut meta, key, n)?;
                }
            }

            let mut log = txn.open_table(SEQ_TO_RECENT_VIEW)?;
            let mut seq = get_meta(&meta, keys::NEXT_RECENT_SEQ)?;
            let keep = (limits.recent_cap as usize).min(RECENT_PER_BATCH);
            let skip = hits.len().saturating_sub(keep);
            for h in &hits[skip..] {
                let rec = RecentViewRecord {
                    image_id: h.image_id,
                    at: h.at,
                    country: h.country,
                    referrer: h.referrer.clone().unwrap_or_default(),
                    agent: h.agent,
                    ip: h.ip,
                };
                log.insert(seq, rec.encode().as_slice())?;
                seq += 1;
            }
            meta.insert(keys::NEXT_RECENT_SEQ, seq)?;
            // Sequence numbers are dense, so everything below `seq - cap` is over the cap.
            let keep_from = seq.saturating_sub(limits.recent_cap);
            if keep_from > 0 {
                log.retain_in(..keep_from, |_, _| false)?;
            }

            if get_meta(&meta, keys::STATS_PRUNED_DAY)? < today as u64 {
                meta.insert(keys::STATS_PRUNED_DAY, today.max(0) as u64)?;
                drop(meta);
                drop(log);
                prune(&txn, limits, today)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// All-time view totals.
    pub fn stats_totals(&self) -> Result<StatsTotals> {
        let r = self.db.begin_read()?;
        let m = r.open_table(NAME_TO_META)?;
        Ok(StatsTotals {
            views: get_meta(&m, keys::VIEWS)?,
            unique_visitors: get_meta(&m, keys::UNIQUE_VISITORS)?,
            bot_hits: get_meta(&m, keys::BOT_HITS)?,
            unfurler_hits: get_meta(&m, keys::UNFURLER_HITS)?,
        })
    }

    /// Counts per day for `first..=last` (day numbers), zero-filled, oldest first.
    pub fn day_counts(&self, first: i64, last: i64) -> Result<Vec<DayCounts>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(DAY_METRIC_TO_COUNT)?;
        let mut out = zero_days(first, last);
        for e in t.range((first, 0u8)..=(last, u8::MAX))? {
            let (k, v) = e?;
            let (day, m) = k.value();
            out[(day - first) as usize].add(m, v.value());
        }
        Ok(out)
    }

    /// Views per country, most first.
    pub fn country_views(&self) -> Result<Vec<(String, u64)>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(COUNTRY_TO_VIEWS)?;
        let mut v = Vec::new();
        for e in t.iter()? {
            let (k, n) = e?;
            v.push((k.value().to_string(), n.value()));
        }
        Ok(sorted_desc(v))
    }

    /// Views per referrer host, most first, at most `limit`.
    pub fn referrer_views(&self, limit: usize) -> Result<Vec<(String, u64)>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(REFERRER_TO_VIEWS)?;
        let mut v = Vec::new();
        for e in t.iter()? {
            let (k, n) = e?;
            v.push((k.value().to_string(), n.value()));
        }
        let mut v = sorted_desc(v);
        v.truncate(limit);
        Ok(v)
    }

    /// The newest `limit` entries of the recent log whose image still exists
    /// (and belongs to `owner`, when given), newest first.
    pub fn recent_views(&self, limit: usize, owner: Option<&str>) -> Result<Vec<RecentView>> {
        let r = self.db.begin_read()?;
        let log = r.open_table(SEQ_TO_RECENT_VIEW)?;
        let images = r.open_table(ID_TO_IMAGE)?;
        let mut cache: HashMap<u64, Option<RecentImage>> = HashMap::new();
        let mut out = Vec::new();
        for e in log.iter()?.rev() {
            if out.len() >= limit {
                break;
            }
            let record = RecentViewRecord::decode(e?.1.value())?;
            let image = match cache.get(&record.image_id) {
                Some(i) => i.clone(),
                None => {
                    let i = images
                        .get(record.image_id)?
                        .map(|v| ImageRecord::decode(v.value()))
                        .transpose()?
                        .filter(|rec| owner.is_none_or(|o| o == rec.owner))
                        .map(|rec| RecentImage {
                            uuid: rec.uuid,
                            kind: rec.kind,
                            filename: rec.filename,
                        });
                    cache.insert(record.image_id, i.clone());
                    i
                }
            };
            if let Some(image) = image {
                out.push(RecentView { record, image });
            }
        }
        Ok(out)
    }

    /// The `limit` most-viewed images (of `owner`, when given), most first
    /// (ties: newer id first).
    pub fn top_images(&self, limit: usize, owner: Option<&str>) -> Result<Vec<StoredImage>> {
        let r = self.db.begin_read()?;
        let views = r.open_table(ID_TO_VIEWS)?;
        let owned = r.open_table(OWNER_ID_TO_IMAGE)?;
        // A bounded min-heap keeps memory at `limit` entries whatever the image count.
        let mut heap = std::collections::BinaryHeap::new();
        for e in views.iter()? {
            let (id, n) = e?;
            let (id, n) = (id.value(), n.value());
            if n == 0 {
                continue;
            }
            if let Some(o) = owner
                && owned.get((o, id))?.is_none()
            {
                continue;
            }
            heap.push(std::cmp::Reverse((n, id)));
            if heap.len() > limit {
                heap.pop();
            }
        }
        let mut top: Vec<(u64, u64)> = heap.into_iter().map(|r| r.0).collect();
        top.sort_by(|a, b| b.cmp(a));
        drop((views, owned, r));
        let mut out = Vec::with_capacity(top.len());
        for (_, id) in top {
            if let Some(img) = self.image(id)? {
                out.push(img);
            }
        }
        Ok(out)
    }

    /// One image's statistics, per day for `first..=last`; `None` when the image
    /// does not exist.
    pub fn image_stats(&self, id: u64, first: i64, last: i64) -> Result<Option<ImageStats>> {
        let r = self.db.begin_read()?;
        if r.open_table(ID_TO_IMAGE)?.get(id)?.is_none() {
            return Ok(None);
        }
        sum_images(&r, &[id], first, last).map(Some)
    }

    /// An account's dashboard: its all-time totals and per-day counts for
    /// `first..=last` from its own counters (`owner_stats`: deleted images'
    /// views stay, a visitor of several of its images is one unique visitor).
    /// Countries and referrers are still its current images' rows summed:
    /// per-account tables of those would double the client-keyed rows to
    /// bound, and a deleted image's share of them leaves with it.
    pub fn owner_stats(&self, owner: &str, first: i64, last: i64) -> Result<ImageStats> {
        let r = self.db.begin_read()?;
        let ids = super::owners::ids_in(&r.open_table(OWNER_ID_TO_IMAGE)?, owner)?;
        let mut s = sum_images(&r, &ids, first, last)?;
        let (totals, days) = super::owner_stats::read(&r, owner, first, last)?;
        s.views = totals.views;
        s.unique = totals.unique_visitors;
        s.bots = totals.bot_hits;
        s.unfurlers = totals.unfurler_hits;
        s.days = days;
        Ok(s)
    }
}

/// The statistics of the images `ids`, summed.
fn sum_images(r: &redb::ReadTransaction, ids: &[u64], first: i64, last: i64) -> Result<ImageStats> {
    let mut s = ImageStats {
        days: zero_days(first, last),
        ..Default::default()
    };
    let views = r.open_table(ID_TO_VIEWS)?;
    let t = r.open_table(IMAGE_DAY_METRIC_TO_COUNT)?;
    let countries = r.open_table(IMAGE_COUNTRY_TO_VIEWS)?;
    let referrers = r.open_table(IMAGE_REFERRER_TO_VIEWS)?;
    let mut by_country = HashMap::<String, u64>::new();
    let mut by_referrer = HashMap::<String, u64>::new();
    for &id in ids {
        s.views += views.get(id)?.map(|v| v.value()).unwrap_or(0);
        for e in t.range((id, i64::MIN, 0u8)..=(id, i64::MAX, u8::MAX))? {
            let (k, v) = e?;
            let (_, day, m) = k.value();
            let n = v.value();
            match m {
                metric::UNIQUE => s.unique += n,
                metric::BOTS => s.bots += n,
                metric::UNFURLERS => s.unfurlers += n,
                _ => {}
            }
            if (first..=last).contains(&day) {
                s.days[(day - first) as usize].add(m, n);
            }
        }
        for (table, into) in [
            (&countries, &mut by_country),
            (&referrers, &mut by_referrer),
        ] {
            for e in table.range((id, "")..image_str_end(id))? {
                let (k, n) = e?;
                *into.entry(k.value().1.to_string()).or_default() += n.value();
            }
        }
    }
    s.countries = sorted_desc(by_country.into_iter().collect());
    s.referrers = sorted_desc(by_referrer.into_iter().collect());
    Ok(s)
}

pub(super) fn zero_days(first: i64, last: i64) -> Vec<DayCounts> {
    (first..=last)
        .map(|day| DayCounts {
            day,
            ..Default::default()
        })
        .collect()
}

/// Drops per-day rows older than the retention period and makes room among
/// referrer hosts. Runs inside the day's first batch commit.
fn prune(txn: &WriteTransaction, limits: StatsLimits, today: i64) -> Result<()> {
    let cutoff = today - i64::from(limits.retention_days.max(1)) + 1;
    txn.open_table(DAY_METRIC_TO_COUNT)?
        .retain_in(..(cutoff, 0u8), |_, _| false)?;
    // Keyed by image first, so this is a scan; once a day it is cheap enough.
    txn.open_table(IMAGE_DAY_METRIC_TO_COUNT)?
        .retain(|(_, day, _), _| day >= cutoff)?;
    super::owner_stats::prune(txn, cutoff)?;
    // Once the referrer table is full, keep the busiest three quarters and fold
    // the rest into OTHER_REFERRER, so new sites can appear again.
    let mut t = txn.open_table(REFERRER_TO_VIEWS)?;
    if t.len()? >= REFERRER_CAP {
        let mut all = Vec::new();
        for e in t.iter()? {
            let (k, n) = e?;
            if k.value() != OTHER_REFERRER {
                all.push((k.value().to_string(), n.value()));
            }
        }
        let all = sorted_desc(all);
        let keep = (REFERRER_CAP * 3 / 4) as usize;
        let mut folded = 0;
        for (host, n) in all.iter().skip(keep) {
            t.remove(host.as_str())?;
            folded += n;
        }
        bump(&mut t, OTHER_REFERRER, folded)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn hit(image_id: u64, at: i64, kind: HitKind) -> Hit {
        Hit {
            image_id,
            at,
            kind,
            agent: 0,
            country: Some(*b"GB"),
            referrer: Some("discord.com".into()),
            new_visitor: true,
            new_image_visitor: true,
            new_owner_visitor: true,
            ip: None,
        }
    }

    const LIMITS: StatsLimits = StatsLimits {
        retention_days: 3,
        recent_cap: 4,
    };

    #[test]
    fn counts_retention_and_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // No image row: only global counters move.
        let hits: Vec<Hit> = (0..6)
            .map(|i| hit(9, 10 * DAY + i, HitKind::View))
            .collect();
        store.record_hits(&hits, LIMITS, 10).unwrap();
        store
            .record_hits(&[hit(9, 10 * DAY, HitKind::Bot)], LIMITS, 10)
            .unwrap();
        let t = store.stats_totals().unwrap();
        assert_eq!((t.views, t.unique_visitors, t.bot_hits), (6, 6, 1));
        let days = store.day_counts(9, 10).unwrap();
        assert_eq!(
            days[0],
            DayCounts {
                day: 9,
                ..Default::default()
            }
        );
        assert_eq!((days[1].views, days[1].unique, days[1].bots), (6, 6, 1));
        assert_eq!(store.country_views().unwrap(), vec![("GB".into(), 6)]);
        assert_eq!(
            store.referrer_views(10).unwrap(),
            vec![("discord.com".into(), 6)]
        );
        // The log keeps the newest four rows, inserting no more than that per batch
        // (and hides those of missing images).
        let r = store.db.begin_read().unwrap();
        let log = r.open_table(SEQ_TO_RECENT_VIEW).unwrap();
        let seqs: Vec<u64> = log.iter().unwrap().map(|e| e.unwrap().0.value()).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4]);
        drop((log, r));
        assert!(store.recent_views(10, None).unwrap().is_empty());
        // Three days later day 10 is past retention and pruned on the first batch.
        store
            .record_hits(&[hit(9, 13 * DAY, HitKind::View)], LIMITS, 13)
            .unwrap();
        let days = store.day_counts(10, 13).unwrap();
        assert_eq!(days[0].views, 0);
        assert_eq!(days[3].views, 1);
    }

    #[test]
    fn a_full_referrer_table_trades_its_least_viewed_rows_for_new_hosts() {
        let r = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(h, n)| (h.to_string(), *n)).collect()
        };
        // Room left: newcomers simply get in.
        let a = admit(r(&[("a", 1)]), vec![("b", 1)], 1);
        assert_eq!(a.admitted, vec![("b", 1)]);
        assert!(a.evicted.is_empty() && a.other == 0);
        // Full: the fewest-viewed resident goes (ties: the newcomer wins),
        // but never one with more views than the newcomer brings.
        let residents = r(&[
            ("junk1", 1),
            ("junk2", 1),
            ("real", 5),
            (OTHER_REFERRER, 40),
        ]);
        let a = admit(residents, vec![("new", 1), ("big", 3), ("late", 1)], 0);
        assert_eq!(a.admitted, vec![("big", 3), ("late", 1)]);
        assert_eq!(a.evicted, vec!["junk1".to_string(), "junk2".to_string()]);
        // junk1 + junk2 moved under (other), and "new" did not beat "real".
        assert_eq!(a.other, 3);
    }

    #[test]
    fn a_burst_of_junk_hosts_does_not_freeze_the_referrer_tables() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = crate::store::lifecycle::tests::image(&store, b"a", None, None);
        let from = |host: &str| Hit {
            referrer: Some(host.to_string()),
            ..hit(id, 0, HitKind::View)
        };
        store
            .record_hits(&[from("old.example"), from("old.example")], LIMITS, 0)
            .unwrap();
        let junk: Vec<Hit> = (0..REFERRER_CAP + 100)
            .map(|i| from(&format!("j{i}.junk.example")))
            .collect();
        store.record_hits(&junk, LIMITS, 0).unwrap();
        // The same day, later: a new real referrer, and the old one again.
        store
            .record_hits(&[from("news.example"), from("old.example")], LIMITS, 0)
            .unwrap();
        let global = store.referrer_views(usize::MAX).unwrap();
        let per_image = store.image_stats(id, 0, 0).unwrap().unwrap().referrers;
        for (name, table, cap) in [
            ("global", &global, REFERRER_CAP),
            ("per image", &per_image, IMAGE_REFERRER_CAP),
        ] {
            let get = |h: &str| table.iter().find(|e| e.0 == h).map(|e| e.1);
            assert_eq!(get("news.example"), Some(1), "{name}: {table:?}");
            assert_eq!(get("old.example"), Some(3), "{name}");
            assert!(table.len() as u64 <= cap + 1, "{name}: {}", table.len());
            assert!(get(OTHER_REFERRER).is_some(), "{name}");
            assert_eq!(
                table.iter().map(|e| e.1).sum::<u64>(),
                REFERRER_CAP + 100 + 4,
                "{name}: no view lost"
            );
        }
    }

    #[test]
    fn referrer_hosts_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hits: Vec<Hit> = (0..REFERRER_CAP + 10)
            .map(|i| Hit {
                referrer: Some(format!("h{i}.example")),
                ..hit(1, 0, HitKind::View)
            })
            .collect();
        // Day 0: nothing to prune yet.
        store.record_hits(&hits, LIMITS, 0).unwrap();
        let r = store.referrer_views(usize::MAX).unwrap();
        assert_eq!(r.len() as u64, REFERRER_CAP + 1);
        assert_eq!(r[0], (OTHER_REFERRER.to_string(), 10));
        // The next day's prune keeps three quarters and folds the rest.
        store.record_hits(&[], LIMITS, 1).unwrap();
        let r = store.referrer_views(usize::MAX).unwrap();
        assert_eq!(r.len() as u64, REFERRER_CAP * 3 / 4 + 1);
        assert_eq!(r.iter().map(|e| e.1).sum::<u64>(), REFERRER_CAP + 10);
    }
}
