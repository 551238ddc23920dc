//! A bounded in-memory cache of small, hot blobs, keyed by content hash.
//!
//! Serving a small image from disk costs a hop to the blocking pool (a thread
//! wake-up and a context switch each way), which `benches/load.sh` measured as
//! most of the CPU of a 4 KiB GET. Blobs are content-addressed and immutable, so
//! a hash names the same bytes for as long as any row points at it: the cache
//! never needs invalidating for correctness. Whether an image may be served at
//! all (deleted, expired, private without its key, views used up) is decided
//! from the metadata row on every request, before the cache is consulted; the
//! cache only replaces the file read.
//!
//! Bounded twice: only blobs up to [`MAX_ENTRY`] bytes are kept, and the total
//! stays under the budget given at construction. Eviction is CLOCK (second
//! chance): an entry read since the hand last passed survives one more round,
//! so a burst of one-off fetches does not flush the hot set.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

use crate::store::blobs::BlobHash;

/// Largest blob kept, in bytes. Larger files are streamed from disk, where the
/// per-request hop is small next to the transfer itself.
pub const MAX_ENTRY: u64 = 256 * 1024;

/// Default total budget, in bytes.
pub const DEFAULT_BUDGET: usize = 16 * 1024 * 1024;

struct Entry {
    bytes: Bytes,
    referenced: bool,
}

#[derive(Default)]
struct Inner {
    map: HashMap<BlobHash, Entry>,
    /// Insertion order; the CLOCK hand walks it from the front.
    order: VecDeque<BlobHash>,
    total: usize,
}

/// The cache; one per server (`AppState::blob_cache`).
pub struct BlobCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl std::fmt::Debug for BlobCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobCache")
            .field("budget", &self.budget)
            .finish()
    }
}

impl Default for BlobCache {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET)
    }
}

impl BlobCache {
    /// An empty cache holding at most `budget` bytes of blobs.
    pub fn new(budget: usize) -> Self {
        BlobCache {
            inner: Mutex::new(Inner::default()),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is valid after any panic mid-operation (no partial updates).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached bytes of a blob (a cheap reference-counted clone).
    pub fn get(&self, hash: &BlobHash) -> Option<Bytes> {
        let mut inner = self.lock();
        let e = inner.map.get_mut(hash)?;
        e.referenced = true;
        Some(e.bytes.clone())
    }

    /// Whether a blob of `len` bytes is worth caching (never an empty one, so a
    /// cached blob always covers any satisfiable range).
    pub fn wants(&self, len: u64) -> bool {
        len > 0 && len <= MAX_ENTRY && (len as usize) <= self.budget
    }

    /// Keeps a whole blob, evicting others as needed to stay within budget.
    pub fn insert(&self, hash: BlobHash, bytes: Bytes) {
        let len = bytes.len();
        if !self.wants(len as u64) {
            return;
        }
        let mut inner = self.lock();
        if inner.map.contains_key(&hash) {
            return;
        }
        // Each pass over the order either evicts or clears a mark, so this ends
        // within two rounds of the queue.
        while inner.total + len > self.budget {
            let Some(victim) = inner.order.pop_front() else {
                break;
            };
            let second_chance = match inner.map.get_mut(&victim) {
                Some(e) if e.referenced => {
                    e.referenced = false;
                    true
                }
                _ => false,
            };
            if second_chance {
                inner.order.push_back(victim);
            } else if let Some(e) = inner.map.remove(&victim) {
                inner.total -= e.bytes.len();
            }
        }
        inner.total += len;
        inner.order.push_back(hash);
        inner.map.insert(
            hash,
            Entry {
                bytes,
                referenced: false,
            },
        );
    }

    /// Bytes held, for tests and metrics.
    pub fn total(&self) -> usize {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> BlobHash {
        BlobHash::from_bytes([n; 32])
    }

    #[test]
    fn hits_return_the_stored_bytes() {
        let c = BlobCache::new(1024);
        assert!(c.get(&h(1)).is_none());
        c.insert(h(1), Bytes::from_static(b"abc"));
        assert_eq!(c.get(&h(1)).unwrap(), Bytes::from_static(b"abc"));
        assert_eq!(c.total(), 3);
    }

    #[test]
    fn stays_within_budget_and_keeps_referenced_entries() {
        let c = BlobCache::new(300);
        for n in 0..3 {
            c.insert(h(n), Bytes::from(vec![n; 100]));
        }
        assert_eq!(c.total(), 300);
        // 0 is read, so the next insert evicts 1 (the oldest unread) instead.
        c.get(&h(0)).unwrap();
        c.insert(h(9), Bytes::from(vec![9; 100]));
        assert_eq!(c.total(), 300);
        assert!(c.get(&h(0)).is_some());
        assert!(c.get(&h(1)).is_none());
        assert!(c.get(&h(2)).is_some());
        assert!(c.get(&h(9)).is_some());
    }

    #[test]
    fn refuses_large_blobs() {
        let c = BlobCache::new(10 * MAX_ENTRY as usize);
        c.insert(h(1), Bytes::from(vec![0; MAX_ENTRY as usize + 1]));
        assert_eq!(c.total(), 0);
        let small = BlobCache::new(10);
        small.insert(h(2), Bytes::from(vec![0; 11]));
        assert_eq!(small.total(), 0);
    }
}
