//! Read buffers for streaming files to clients, under one byte budget for the
//! whole server.
//!
//! A large image is sent in chunks: read a chunk on the blocking pool, hand it
//! to hyper, read the next once hyper has written the last one to the socket.
//! Each open response therefore holds about one chunk, and with big chunks (fast
//! on a quick link, see [`CHUNK`]) many concurrent downloads hold a lot of
//! memory: 200 connections fetching a 5 MB image held 50 MiB of chunks and
//! pushed RSS up by about 100 MiB once the allocator's fragmentation was added
//! (`tests/security/load.py`, SECURITY.md A35).
//!
//! So big chunk buffers come from a pool with a fixed number of slots. A buffer
//! goes back to the pool when hyper drops the last reference to the bytes read
//! into it, that is once they are in the kernel's socket buffer, so the memory
//! is reused instead of going back through the allocator. When every slot is
//! taken (many downloads, or slow readers each holding one), a response does
//! not wait: it reads a small chunk into a fresh buffer instead. Slow clients
//! can therefore never stall other downloads, they only make them use smaller
//! reads, and serving memory stays under `slots × big + connections × small`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The size of a big chunk. Files up to this size are read in one call and
/// sent with the headers in one write; larger ones are streamed in chunks of
/// this size. 256 KiB rather than 128 KiB halves the hops to the blocking pool
/// per byte: 1 MiB GETs at 64 connections went from about 0.75x to 0.95x nginx
/// (benches/load.sh). The buffers come from `state.chunks`, which caps how
/// many exist at once and falls back to small reads beyond that.
pub const CHUNK: usize = 256 * 1024;

/// Size of a fallback chunk, used when the pool is exhausted or for a read
/// this small anyway.
pub const SMALL: usize = 32 * 1024;

/// Default pool budget in bytes.
pub const DEFAULT_BUDGET: usize = 32 * 1024 * 1024;

struct Inner {
    /// Buffers not in use, each exactly `size` bytes long.
    free: Mutex<Vec<Vec<u8>>>,
    /// One permit per slot; a taken buffer holds one.
    slots: Arc<Semaphore>,
    size: usize,
}

/// The pool; one per server (`AppState::chunks`).
#[derive(Clone)]
pub struct ChunkPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChunkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkPool")
            .field("size", &self.inner.size)
            .field("available", &self.inner.slots.available_permits())
            .finish()
    }
}

impl ChunkPool {
    /// A pool of `budget / size` buffers of `size` bytes, allocated on first use.
    pub fn new(budget: usize, size: usize) -> Self {
        let size = size.max(SMALL);
        ChunkPool {
            inner: Arc::new(Inner {
                free: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new((budget / size).max(1))),
                size,
            }),
        }
    }

    /// Slots not in use right now.
    pub fn available(&self) -> usize {
        self.inner.slots.available_permits()
    }

    /// A buffer for reading up to `want` bytes; never waits. Its capacity may
    /// be less than `want` (the pool's chunk size, or [`SMALL`] when the pool
    /// is exhausted), so callers loop.
    pub fn take(&self, want: usize) -> ChunkBuf {
        if want > SMALL
            && let Ok(permit) = self.inner.slots.clone().try_acquire_owned()
        {
            let buf = lock(&self.inner.free)
                .pop()
                .unwrap_or_else(|| vec![0; self.inner.size]);
            return ChunkBuf {
                buf,
                home: Some(Home {
                    pool: self.inner.clone(),
                    _permit: permit,
                }),
            };
        }
        ChunkBuf {
            buf: vec![0; want.min(SMALL)],
            home: None,
        }
    }
}

impl Default for ChunkPool {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET, CHUNK)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A Vec of spare buffers is valid after any panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a pooled buffer returns to, and the slot it occupies until then.
struct Home {
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

/// A buffer taken from the pool (or a fresh small one).
pub struct ChunkBuf {
    buf: Vec<u8>,
    home: Option<Home>,
}

impl ChunkBuf {
    /// How many bytes one read into this buffer can take.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Whether the buffer came from the pool.
    pub fn is_pooled(&self) -> bool {
        self.home.is_some()
    }

    /// Fills the first `n` bytes (`n <= capacity`) from `r`; a source shorter
    /// than that is an `UnexpectedEof` error.
    pub fn fill(&mut self, r: &mut impl std::io::Read, n: usize) -> std::io::Result<()> {
        assert!(n <= self.buf.len(), "read larger than the buffer");
        r.read_exact(&mut self.buf[..n])
    }

    /// The first `len` bytes as `Bytes`, without copying. A pooled buffer goes
    /// back to the pool when the last clone of the result is dropped.
    pub fn freeze(mut self, len: usize) -> Bytes {
        assert!(len <= self.buf.len(), "length larger than the buffer");
        if self.home.is_some() {
            return Bytes::from_owner(Filled { chunk: self, len });
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.truncate(len);
        Bytes::from(buf)
    }
}

/// The owner behind a `Bytes` made from a pooled buffer; dropping it drops
/// the `ChunkBuf`, which returns the buffer.
struct Filled {
    chunk: ChunkBuf,
    len: usize,
}

impl AsRef<[u8]> for Filled {
    fn as_ref(&self) -> &[u8] {
        &self.chunk.buf[..self.len]
    }
}

impl Drop for ChunkBuf {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            // Back on the free list before the slot is released, so whoever
            // takes the slot next finds the buffer instead of allocating.
            lock(&home.pool.free).push(std::mem::take(&mut self.buf));
            drop(home);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_buffers_are_reused_and_bounded() {
        let pool = ChunkPool::new(4 * 65536, 65536);
        assert_eq!(pool.available(), 4);
        let held: Vec<ChunkBuf> = (0..4).map(|_| pool.take(1 << 20)).collect();
        assert!(held.iter().all(|b| b.is_pooled() && b.capacity() == 65536));
        assert_eq!(pool.available(), 0);

        // Exhausted: a small fresh buffer, not a wait and not a fifth slot.
        let extra = pool.take(1 << 20);
        assert!(!extra.is_pooled());
        assert_eq!(extra.capacity(), SMALL);

        // Freezing keeps the slot until the bytes are dropped.
        let mut it = held.into_iter();
        let mut first = it.next().unwrap();
        first.fill(&mut &[7u8; 100][..], 100).unwrap();
        let bytes = first.freeze(100);
        let copy = bytes.clone();
        drop(it);
        assert_eq!(pool.available(), 3, "three unfrozen buffers came back");
        drop(bytes);
        assert_eq!(pool.available(), 3, "a clone still holds the slot");
        assert_eq!(&copy[..], &[7u8; 100][..]);
        drop(copy);
        assert_eq!(pool.available(), 4);

        // Returned buffers are reused, not reallocated.
        let before = lock(&pool.inner.free).len();
        assert_eq!(before, 4);
        let again = pool.take(1 << 20);
        assert!(again.is_pooled());
        assert_eq!(lock(&pool.inner.free).len(), 3);
    }

    #[test]
    fn small_reads_never_use_a_slot() {
        let pool = ChunkPool::new(65536, 65536);
        let b = pool.take(100);
        assert!(!b.is_pooled());
        assert_eq!(b.capacity(), 100);
        assert_eq!(pool.available(), 1);
    }

    #[test]
    fn short_sources_are_an_error() {
        let pool = ChunkPool::new(65536, 65536);
        let mut b = pool.take(1 << 20);
        let err = b.fill(&mut &[1u8; 10][..], 20).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        drop(b);
        assert_eq!(pool.available(), 1);
    }
}
