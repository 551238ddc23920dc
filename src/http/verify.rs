//! Verify on read: what `serve` checks before and while it sends a blob, so
//! that a wrong length or hash is never delivered as a complete `200`
//! (ARCHITECTURE invariant 9).
//!
//! - Every read compares the opened blob's length (what the backend learnt
//!   as it opened it: one `fstat`, or the headers of a ranged GET) with the
//!   row before any header goes out.
//! - A small blob is hashed once when it is loaded into the memory cache, so the
//!   hot path (a cache hit) costs nothing more than before.
//! - A large blob sent whole is hashed while it streams; the last chunk is held
//!   back until the digest is known, and on a mismatch the body ends with an
//!   error instead (hyper then aborts the connection: the client sees a cut
//!   transfer, short of its `Content-Length`, never a clean end). A blob that
//!   streamed whole and right is not hashed again for ten minutes while its
//!   version is unchanged (`store::integrity::VERIFIED_FOR`), like a small blob
//!   in the memory cache: that keeps large GETs at their former speed.
//! - A range of a large blob cannot be hashed whole: only its length is
//!   checked; the scrub re-hashes it in the background.
//!
//! Every detection goes to `Store::report_damage` (one error line, a counter, a
//! durable mark); all run on the blocking pool, where the reads are. Except
//! one: when the store holds a local copy of the blob (the disk cache in
//! front of a bucket), the wrong bytes were that copy's, which is dropped
//! instead, and the caller reads again from the store itself
//! ([`Bad::LocalCopy`]); a copy is only ever installed after its hash was
//! checked, so a copy present means the store's bytes were right then, and
//! a second read that fails too is judged as damage.

use std::sync::Arc;

use crate::store::Store;
use crate::store::blobs::BlobHash;
use crate::store::blobs::BlobMeta;
use crate::store::integrity::{BlobKind, Reason};

/// Which blob a read serves, to name it in a damage report.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The store to report to.
    pub store: Arc<Store>,
    /// The blob.
    pub hash: BlobHash,
    /// How the image uses it.
    pub kind: BlobKind,
    /// The image being served.
    pub image: u64,
}

/// What a failed check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// The blob is damaged: reported and marked.
    Damaged,
    /// A local copy of it was wrong and is dropped: read it again.
    LocalCopy,
}

impl Subject {
    /// Records a detection (blocking; logs and counts only the first), or
    /// drops the local copy that the wrong bytes came from.
    pub fn report(&self, reason: Reason) -> Bad {
        if self.store.blobs().drop_local_copy(&self.hash) {
            return Bad::LocalCopy;
        }
        self.store
            .report_damage(&self.hash, self.kind, reason, self.image);
        Bad::Damaged
    }

    /// Whether the blob's length, as opened, matches the row; reports if not.
    pub fn check_length(&self, opened: &BlobMeta, row_size: u64) -> Result<(), Bad> {
        if opened.size == row_size {
            return Ok(());
        }
        Err(self.report(Reason::Length))
    }

    /// Whether `bytes` are the blob; reports if not.
    pub fn check_bytes(&self, bytes: &[u8]) -> Result<(), Bad> {
        if blake3::hash(bytes).as_bytes() == self.hash.as_bytes() {
            return Ok(());
        }
        Err(self.report(Reason::Hash))
    }

    /// Judges a failed open or read: a blob whose row is still there is
    /// damaged (a short read is a length fault, anything else a missing
    /// file); one whose row went meanwhile was deleted under the request.
    /// `None` when it says nothing against the blob.
    pub fn io_failed(&self, e: &std::io::Error) -> Option<Bad> {
        if crate::store::blobs::is_unavailable(e) {
            return None; // an unreachable store says nothing about the blob
        }
        match self.store.blob(&self.hash) {
            Ok(Some(_)) => Some(self.report(match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Reason::Length,
                _ => Reason::Missing,
            })),
            _ => None,
        }
    }
}

/// Hashes a whole blob as it streams by.
#[derive(Debug)]
pub struct StreamCheck {
    subject: Subject,
    stamp: BlobMeta,
    hasher: blake3::Hasher,
}

impl StreamCheck {
    /// Starts with the bytes already read from the blob version `stamp`;
    /// `None` when that version streamed whole and right a short while ago.
    pub fn new(subject: Subject, stamp: BlobMeta, first: &[u8]) -> Option<Self> {
        if subject
            .store
            .integrity()
            .recently_verified(&subject.hash, &stamp)
        {
            return None;
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(first);
        Some(StreamCheck {
            subject,
            stamp,
            hasher,
        })
    }

    /// Adds the next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
    }

    /// After the last chunk: whether the digest is the blob's name; reports
    /// if not (the response is cut either way: its bytes went out already).
    pub fn finish(&self) -> bool {
        if self.hasher.finalize().as_bytes() == self.subject.hash.as_bytes() {
            self.subject
                .store
                .integrity()
                .note_verified(&self.subject.hash, self.stamp);
            return true;
        }
        let _ = self.subject.report(Reason::Hash);
        false
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::store::NewImage;
    use crate::store::blobs::MemBlobStore;
    use crate::store::blobs::cache::{CachedBlobStore, DiskCacheConfig};

    #[test]
    fn a_wrong_local_copy_is_dropped_unmarked_and_a_wrong_store_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let config = DiskCacheConfig {
            dir: dir.path().join("cache"),
            size: 1 << 20,
        };
        let cached = CachedBlobStore::open(Arc::new(MemBlobStore::new()), &config).unwrap();
        let store = Arc::new(
            Store::open_with(
                &dir.path().join("data"),
                crate::store::identity::Claim::Verify,
                Arc::new(cached),
            )
            .unwrap(),
        );
        let bytes = b"an image that was cached";
        let mut temp = store.blobs().create_temp().unwrap();
        temp.write_all(bytes).unwrap();
        temp.sync_all().unwrap();
        let new = NewImage {
            record: crate::store::codec::test_record(bytes),
            key_hash: None,
        };
        let image = store.commit_upload(new, temp, None, 1).unwrap().id;
        let hash = BlobHash::of(bytes);
        let fill = |store: &Store| {
            let mut r = store.blobs().read(&hash).unwrap().reader;
            r.read_to_end(&mut Vec::new()).unwrap();
        };
        fill(&store);
        let subject = Subject {
            store: store.clone(),
            hash,
            kind: BlobKind::Original,
            image,
        };
        // Wrong bytes while a copy is held: they were the copy's.
        assert_eq!(subject.check_bytes(b"wrong"), Err(Bad::LocalCopy));
        assert!(!store.integrity().is_damaged(&hash));
        let meta = store.blobs().stat(&hash).unwrap().unwrap();
        let short = BlobMeta { size: 3, ..meta };
        fill(&store);
        assert_eq!(subject.check_length(&short, 24), Err(Bad::LocalCopy));
        assert!(!store.integrity().is_damaged(&hash));
        assert_eq!(subject.check_bytes(bytes), Ok(()));
        // No copy left: the store's own bytes are wrong, which is damage.
        assert_eq!(subject.check_bytes(b"wrong"), Err(Bad::Damaged));
        assert!(store.integrity().is_damaged(&hash));
    }
}
