//! Each account's own view counters, per day and all time, kept apart from
//! the per-image rows so that they are right for the account as a whole.
//!
//! Summing an account's per-image rows would count one visitor of three of its
//! images as three unique visitors, and would lose a deleted image's views
//! (deleting an image drops its per-image rows). These tables are written by
//! the analytics writer's batch commit (`Store::record_hits`) from the hits'
//! own per-account visitor marks (`analytics::salt`), are not touched when an
//! image is deleted, move with the images when an account is handed to another
//! (`owners::transfer`) and go with a deleted account. Per-day rows age out
//! with the other per-day statistics; the totals are kept like the instance's.

use std::collections::{BTreeMap, HashMap};

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec::ImageRecord;
use super::meta::*;
use super::stats::{DayCounts, StatsTotals, bump, metric};
use super::{Result, Store, get_meta};

/// Creates the tables, and fills them once for a database made before they
/// existed (called from `Store::open`, in the opening transaction).
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(OWNER_DAY_METRIC_TO_COUNT)?;
    txn.open_table(OWNER_METRIC_TO_COUNT)?;
    if get_meta(&txn.open_table(NAME_TO_META)?, keys::OWNER_STATS_FILLED)? == 0 {
        fill(txn)?;
        txn.open_table(NAME_TO_META)?
            .insert(keys::OWNER_STATS_FILLED, 1)?;
    }
    Ok(())
}

/// Starts the per-account counters from what the per-image rows still hold:
/// each live image's all-time views and its retained per-day rows. The views
/// of images deleted before this ran are gone, and unique visitors are the
/// per-image ones summed (the best the old rows allow); from here on they
/// are counted per account.
fn fill(txn: &WriteTransaction) -> Result<()> {
    let mut day_rows: BTreeMap<(String, i64, u8), u64> = BTreeMap::new();
    let mut totals: BTreeMap<(String, u8), u64> = BTreeMap::new();
    {
        let owned = txn.open_table(OWNER_ID_TO_IMAGE)?;
        let views = txn.open_table(ID_TO_VIEWS)?;
        let per_day = txn.open_table(IMAGE_DAY_METRIC_TO_COUNT)?;
        for e in owned.iter()? {
            let row = e?.0;
            let (owner, id) = row.value();
            let n = views.get(id)?.map(|v| v.value()).unwrap_or(0);
            *totals
                .entry((owner.to_string(), metric::VIEWS))
                .or_default() += n;
            for e in per_day.range((id, i64::MIN, 0u8)..=(id, i64::MAX, u8::MAX))? {
                let (k, v) = e?;
                let (_, day, m) = k.value();
                *day_rows.entry((owner.to_string(), day, m)).or_default() += v.value();
                // Views all time come from the image's own counter above.
                if m != metric::VIEWS {
                    *totals.entry((owner.to_string(), m)).or_default() += v.value();
                }
            }
        }
    }
    let mut t = txn.open_table(OWNER_DAY_METRIC_TO_COUNT)?;
    for ((owner, day, m), n) in day_rows {
        bump(&mut t, (owner.as_str(), day, m), n)?;
    }
    let mut t = txn.open_table(OWNER_METRIC_TO_COUNT)?;
    for ((owner, m), n) in totals {
        bump(&mut t, (owner.as_str(), m), n)?;
    }
    Ok(())
}

/// Adds a batch's `(owner, day, metric) -> count` to the per-day rows and the
/// all-time totals, inside the batch's transaction.
pub(super) fn record(
    txn: &WriteTransaction,
    counts: &BTreeMap<(&str, i64, u8), u64>,
) -> Result<()> {
    let mut totals: BTreeMap<(&str, u8), u64> = BTreeMap::new();
    let mut t = txn.open_table(OWNER_DAY_METRIC_TO_COUNT)?;
    for (&(owner, day, m), &n) in counts {
        bump(&mut t, (owner, day, m), n)?;
        *totals.entry((owner, m)).or_default() += n;
    }
    let mut t = txn.open_table(OWNER_METRIC_TO_COUNT)?;
    for ((owner, m), n) in totals {
        bump(&mut t, (owner, m), n)?;
    }
    Ok(())
}

/// Drops per-day rows before `cutoff` (a scan: keyed by owner first; it runs
/// once a day, like the per-image prune).
pub(super) fn prune(txn: &WriteTransaction, cutoff: i64) -> Result<()> {
    txn.open_table(OWNER_DAY_METRIC_TO_COUNT)?
        .retain(|(_, day, _), _| day >= cutoff)?;
    Ok(())
}

/// An account's counters as taken out of the tables: `(day, metric, count)`
/// rows and `(metric, count)` totals.
type Taken = (Vec<(i64, u8, u64)>, Vec<(u8, u64)>);

/// Takes `owner`'s rows out of both tables, returning them.
fn take(txn: &WriteTransaction, owner: &str) -> Result<Taken> {
    let mut days = Vec::new();
    let mut t = txn.open_table(OWNER_DAY_METRIC_TO_COUNT)?;
    for e in t.extract_from_if(
        (owner, i64::MIN, 0u8)..=(owner, i64::MAX, u8::MAX),
        |_, _| true,
    )? {
        let (k, v) = e?;
        let (_, day, m) = k.value();
        days.push((day, m, v.value()));
    }
    let mut totals = Vec::new();
    let mut t = txn.open_table(OWNER_METRIC_TO_COUNT)?;
    for e in t.extract_from_if((owner, 0u8)..=(owner, u8::MAX), |_, _| true)? {
        let (k, v) = e?;
        totals.push((k.value().1, v.value()));
    }
    Ok((days, totals))
}

/// Adds `from`'s counters to `to`'s and drops `from`'s, in `txn` (an account
/// handed its images on deletion takes their history too). A visitor unique
/// to both accounts on one day counts twice for `to` that day: the marks that
/// would tell are not kept.
pub(super) fn transfer(txn: &WriteTransaction, from: &str, to: &str) -> Result<()> {
    let (days, totals) = take(txn, from)?;
    let mut t = txn.open_table(OWNER_DAY_METRIC_TO_COUNT)?;
    for (day, m, n) in days {
        bump(&mut t, (to, day, m), n)?;
    }
    let mut t = txn.open_table(OWNER_METRIC_TO_COUNT)?;
    for (m, n) in totals {
        bump(&mut t, (to, m), n)?;
    }
    Ok(())
}

/// Drops `owner`'s counters, in `txn` (the account is being deleted).
pub(super) fn forget(txn: &WriteTransaction, owner: &str) -> Result<()> {
    take(txn, owner).map(drop)
}

/// `owner`'s all-time totals and its counts per day for `first..=last`
/// (zero-filled, oldest first).
pub(super) fn read(
    r: &ReadTransaction,
    owner: &str,
    first: i64,
    last: i64,
) -> Result<(StatsTotals, Vec<DayCounts>)> {
    let mut totals = StatsTotals::default();
    for e in r
        .open_table(OWNER_METRIC_TO_COUNT)?
        .range((owner, 0u8)..=(owner, u8::MAX))?
    {
        let (k, v) = e?;
        let n = v.value();
        match k.value().1 {
            metric::VIEWS => totals.views = n,
            metric::UNIQUE => totals.unique_visitors = n,
            metric::BOTS => totals.bot_hits = n,
            metric::UNFURLERS => totals.unfurler_hits = n,
            _ => {}
        }
    }
    let mut days = super::stats::zero_days(first, last);
    for e in r
        .open_table(OWNER_DAY_METRIC_TO_COUNT)?
        .range((owner, first, 0u8)..=(owner, last, u8::MAX))?
    {
        let (k, v) = e?;
        let (_, day, m) = k.value();
        days[(day - first) as usize].add(m, v.value());
    }
    Ok((totals, days))
}

/// The owner of each image of `ids` that exists, read in the open transaction.
pub(super) fn owners_in(
    images: &impl ReadableTable<u64, &'static [u8]>,
    ids: impl IntoIterator<Item = u64>,
) -> Result<HashMap<u64, String>> {
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        if let Some(v) = images.get(id)? {
            out.insert(id, ImageRecord::decode(v.value())?.owner);
        }
    }
    Ok(out)
}

impl Store {
    /// The owner of each image of `ids` that exists, in one read: what the
    /// analytics writer needs to tell an account's unique visitors.
    pub fn image_owners(&self, ids: &[u64]) -> Result<HashMap<u64, String>> {
        let r = self.db.begin_read()?;
        owners_in(&r.open_table(ID_TO_IMAGE)?, ids.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::stats::{Hit, HitKind, StatsLimits};

    const DAY: i64 = 86_400_000;
    const LIMITS: StatsLimits = StatsLimits {
        retention_days: 3,
        recent_cap: 4,
    };

    fn view(image_id: u64, new_image: bool, new_owner: bool) -> Hit {
        Hit {
            image_id,
            at: 10 * DAY,
            kind: HitKind::View,
            agent: 0,
            country: None,
            referrer: None,
            new_visitor: new_owner,
            new_image_visitor: new_image,
            new_owner_visitor: new_owner,
            ip: None,
        }
    }

    #[test]
    fn a_database_from_before_is_filled_once_from_its_per_image_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = crate::store::lifecycle::tests::image(&store, b"a", None, None);
        let b = crate::store::lifecycle::tests::image(&store, b"b", None, None);
        let owner = store.image(a).unwrap().unwrap().record.owner;
        // One visitor: twice on `a`, once on `b`, both of one account.
        let hits = [
            view(a, true, true),
            view(a, false, false),
            view(b, true, false),
        ];
        store.record_hits(&hits, LIMITS, 10).unwrap();
        let counted = store.owner_stats(&owner, 10, 10).unwrap();
        assert_eq!((counted.views, counted.unique), (3, 1));
        assert_eq!((counted.days[0].views, counted.days[0].unique), (3, 1));

        // Make the file look as it did before these tables existed.
        let txn = store.db.begin_write().unwrap();
        txn.delete_table(OWNER_DAY_METRIC_TO_COUNT).unwrap();
        txn.delete_table(OWNER_METRIC_TO_COUNT).unwrap();
        txn.open_table(NAME_TO_META)
            .unwrap()
            .remove(keys::OWNER_STATS_FILLED)
            .unwrap();
        txn.commit().unwrap();
        drop(store);
        for _ in 0..2 {
            // Filled at the first open only: the second does not add again.
            let store = Store::open(dir.path()).unwrap();
            let filled = store.owner_stats(&owner, 10, 10).unwrap();
            assert_eq!(filled.views, 3);
            assert_eq!(filled.days[0].views, 3);
            // The old rows only know per-image visitors: summed, as before.
            assert_eq!((filled.unique, filled.days[0].unique), (2, 2));
        }
    }

    #[test]
    fn per_day_rows_age_out_and_totals_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = crate::store::lifecycle::tests::image(&store, b"a", None, None);
        let owner = store.image(a).unwrap().unwrap().record.owner;
        store
            .record_hits(&[view(a, true, true)], LIMITS, 10)
            .unwrap();
        // Three days later day 10 is past the retention of three days.
        let later = Hit {
            at: 13 * DAY,
            ..view(a, true, true)
        };
        store.record_hits(&[later], LIMITS, 13).unwrap();
        let s = store.owner_stats(&owner, 10, 13).unwrap();
        let days: Vec<u64> = s.days.iter().map(|d| d.views).collect();
        assert_eq!(days, vec![0, 0, 0, 1]);
        assert_eq!((s.views, s.unique), (2, 2));
    }
}
