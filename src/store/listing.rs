//! The library listing: filters (owner, privacy, dates, name, lifecycle status), four
//! sort orders and cursor paging that stays exact for every one of them.
//!
//! By date the uploaded-at index is walked in either direction from the
//! cursor, reading only the rows a page needs. By size, views or name there is
//! no index: the rows inside the date filter are scanned once per page, keeping
//! only the best `limit + 1` in a heap, so memory stays bounded by the page
//! size whatever the library's size. The cursor is the last item's sort value
//! and id (ids break ties), so a page never repeats or skips a row that did not
//! change in between.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::ops::Bound;

use redb::ReadableDatabase;

use super::meta::UPLOADED_AT_TO_ID;
use super::{ImageTables, Result, Store, StoreError, StoredImage};

/// Which images a listing wants.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `Some(true)` private only, `Some(false)` public only.
    pub private: Option<bool>,
    /// Uploaded at or after (ms).
    pub from: Option<i64>,
    /// Uploaded at or before (ms).
    pub to: Option<i64>,
    /// Case-insensitive filename substring.
    pub query: Option<String>,
    /// Page size (already clamped by the caller).
    pub limit: usize,
    /// Continue strictly after this position of the chosen order.
    pub cursor: Option<ListCursor>,
    /// Which lifecycle states to include.
    pub status: StatusFilter,
    /// The instant expiry is judged against (Unix ms).
    pub now: i64,
    /// What to order by.
    pub sort: SortKey,
    /// Smallest first instead of largest (newest) first.
    pub ascending: bool,
    /// Only this account's images; `None` for everyone's.
    pub owner: Option<String>,
}

/// Lifecycle filter of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    /// Servable images (the default: a dead link never shows as live).
    #[default]
    Active,
    /// Servable images that will expire or run out of views.
    Expiring,
    /// Expired or used-up images the sweeper has not removed yet.
    Expired,
    /// Everything.
    All,
}

/// What a listing is ordered by (ids break ties).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Upload time (the default).
    #[default]
    Date,
    /// Stored bytes.
    Size,
    /// Counted views.
    Views,
    /// File name, case-insensitively.
    Name,
}

/// An image's value under a [`SortKey`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortValue {
    /// Date (ms), size or views.
    Num(i64),
    /// The lowercased file name.
    Text(String),
}

/// A position in a listing: the sort value and id of the last item shown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListCursor {
    /// The item's value under the listing's sort key.
    pub value: SortValue,
    /// The item's id.
    pub id: u64,
}

impl SortKey {
    /// The value `img` is ordered by.
    pub fn value_of(self, img: &StoredImage) -> SortValue {
        let num = |n: u64| SortValue::Num(i64::try_from(n).unwrap_or(i64::MAX));
        match self {
            SortKey::Date => SortValue::Num(img.record.uploaded_at),
            SortKey::Size => num(img.record.size),
            SortKey::Views => num(img.views),
            SortKey::Name => SortValue::Text(img.record.filename.to_lowercase()),
        }
    }
}

/// One page of a listing and the cursor of the next, if any.
pub type Page = (Vec<StoredImage>, Option<ListCursor>);

impl ListFilter {
    /// Whether `img` passes the owner, status, privacy and name filters (the
    /// date filter is the index range).
    fn wants(&self, img: &StoredImage, query: Option<&str>) -> bool {
        if self.owner.as_ref().is_some_and(|o| *o != img.record.owner) {
            return false;
        }
        let gone = img.is_gone(self.now);
        let limited = img.record.expires_at.is_some() || img.record.max_views.is_some();
        let status = match self.status {
            StatusFilter::Active => !gone,
            StatusFilter::Expiring => !gone && limited,
            StatusFilter::Expired => gone,
            StatusFilter::All => true,
        };
        status
            && self
                .private
                .is_none_or(|p| img.record.private_key.is_some() == p)
            && query.is_none_or(|q| img.record.filename.to_lowercase().contains(q))
    }

    fn key(&self, img: &StoredImage) -> ListCursor {
        ListCursor {
            value: self.sort.value_of(img),
            id: img.id,
        }
    }

    /// Whether `key` comes after the cursor in this listing's order.
    fn after_cursor(&self, key: &ListCursor) -> bool {
        match &self.cursor {
            None => true,
            Some(c) if self.ascending => key > c,
            Some(c) => key < c,
        }
    }
}

/// A page candidate ordered by its key alone.
struct Ranked(ListCursor, StoredImage);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl Store {
    /// One page of images in the filter's order, and the cursor of the next page.
    pub fn list_images(&self, f: &ListFilter) -> Result<Page> {
        let r = self.db.begin_read()?;
        let index = r.open_table(UPLOADED_AT_TO_ID)?;
        let tables = ImageTables::open(&r, &self.seal)?;
        let query = f.query.as_ref().map(|q| q.to_lowercase());
        let lower = (f.from.unwrap_or(i64::MIN), 0u64);
        let upper = (f.to.unwrap_or(i64::MAX), u64::MAX);
        let load = |id: u64| -> Result<StoredImage> {
            tables
                .load(id)?
                .ok_or_else(|| StoreError::Corrupt(format!("index points at missing image {id}")))
        };

        if f.sort == SortKey::Date {
            // The index is the order: start at the cursor, stop at a full page.
            let date_cursor = match &f.cursor {
                Some(ListCursor {
                    value: SortValue::Num(ts),
                    id,
                }) => Some((*ts, *id)),
                Some(_) => return Err(StoreError::Corrupt("not a date cursor".into())),
                None => None,
            };
            let (lo, hi) = match (date_cursor, f.ascending) {
                (Some(c), true) if c >= lower => (Bound::Excluded(c), Bound::Included(upper)),
                (Some(c), false) if c <= upper => (Bound::Included(lower), Bound::Excluded(c)),
                _ => (Bound::Included(lower), Bound::Included(upper)),
            };
            if lo_above_hi(&lo, &hi) {
                return Ok((Vec::new(), None));
            }
            let range = index.range::<(i64, u64)>((lo, hi))?;
            let walk: Box<dyn Iterator<Item = _>> = if f.ascending {
                Box::new(range)
            } else {
                Box::new(range.rev())
            };
            let mut out: Vec<StoredImage> = Vec::with_capacity(f.limit.min(512));
            let mut next = None;
            for entry in walk {
                let (_, id) = entry?.0.value();
                let img = load(id)?;
                if !f.wants(&img, query.as_deref()) {
                    continue;
                }
                if out.len() == f.limit {
                    next = out.last().map(|l| f.key(l));
                    break;
                }
                out.push(img);
            }
            return Ok((out, next));
        }

        // Another order: one pass over the date range keeping the best
        // `limit + 1` candidates after the cursor (the extra one says whether
        // a next page exists).
        let keep = f.limit.saturating_add(1);
        let mut best_asc: BinaryHeap<Ranked> = BinaryHeap::new();
        let mut best_desc: BinaryHeap<Reverse<Ranked>> = BinaryHeap::new();
        if lower > upper {
            return Ok((Vec::new(), None));
        }
        for entry in index.range::<(i64, u64)>(lower..=upper)? {
            let (_, id) = entry?.0.value();
            let img = load(id)?;
            if !f.wants(&img, query.as_deref()) {
                continue;
            }
            let key = f.key(&img);
            if !f.after_cursor(&key) {
                continue;
            }
            if f.ascending {
                // Max-heap: the worst kept (largest) is on top.
                best_asc.push(Ranked(key, img));
                if best_asc.len() > keep {
                    best_asc.pop();
                }
            } else {
                best_desc.push(Reverse(Ranked(key, img)));
                if best_desc.len() > keep {
                    best_desc.pop();
                }
            }
        }
        let mut ranked: Vec<Ranked> = if f.ascending {
            best_asc.into_sorted_vec()
        } else {
            let mut v: Vec<Ranked> = best_desc.into_iter().map(|r| r.0).collect();
            v.sort_by(|a, b| b.cmp(a));
            v
        };
        let more = ranked.len() > f.limit;
        ranked.truncate(f.limit);
        let next = more.then(|| ranked.last().map(|r| r.0.clone())).flatten();
        Ok((ranked.into_iter().map(|r| r.1).collect(), next))
    }
}

/// Whether a range's lower bound lies above its upper one (redb panics on
/// such a range, and a cursor past a `to` bound can make one).
fn lo_above_hi(lo: &Bound<(i64, u64)>, hi: &Bound<(i64, u64)>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a >= b
        }
        _ => false,
    }
}
