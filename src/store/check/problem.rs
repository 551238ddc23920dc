//! The inconsistencies `check` reports, how each reads, and whether repair may
//! fix it; and the report that collects them.

use std::fmt;

use crate::store::blobs::{BlobHash, TempEntry, hex};

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An image row whose bytes do not decode.
    UndecodableImage(u64),
    /// A blob row whose bytes do not decode.
    UndecodableBlob(BlobHash),
    /// An image whose blob has no row; `file_ok` when the file is there and intact.
    MissingBlobRow {
        /// Image id.
        id: u64,
        /// Its blob.
        hash: BlobHash,
        /// Its size per the image row.
        size: u64,
        /// Its type code per the image row.
        kind: u8,
        /// The file exists with that size (and content, when rehashing).
        file_ok: bool,
    },
    /// A thumbnail named by an image whose blob has no row.
    MissingThumbnailRow {
        /// Image id.
        id: u64,
        /// The thumbnail blob.
        hash: BlobHash,
    },
    /// An image whose size differs from its blob row's.
    SizeDisagrees {
        /// Image id.
        id: u64,
        /// Per the image row.
        image: u64,
        /// Per the blob row.
        blob: u64,
    },
    /// A blob row whose file is missing.
    MissingFile(BlobHash),
    /// A blob file whose length differs from its row.
    WrongFileSize {
        /// The blob.
        hash: BlobHash,
        /// Per the row.
        expected: u64,
        /// On disk.
        found: u64,
    },
    /// A blob file whose content does not hash to its name.
    WrongContent(BlobHash),
    /// A blob row whose refcount differs from the images that use it.
    Refcount {
        /// The blob.
        hash: BlobHash,
        /// Stored.
        stored: u64,
        /// Counted.
        actual: u64,
    },
    /// A uuid index entry missing for an image.
    MissingUuidIndex(u64),
    /// An upload-time index entry missing for an image.
    MissingTimeIndex(u64),
    /// A uuid index entry naming no image (or another one).
    DanglingUuidIndex(u128),
    /// An upload-time index entry naming no image (or the wrong time).
    DanglingTimeIndex(i64, u64),
    /// A view counter of a deleted image.
    DanglingViews(u64),
    /// An account's image index or usage differs from the image rows it owns.
    OwnerIndex {
        /// The account (empty: images of no account).
        owner: String,
        /// (images, bytes) as stored.
        stored: (u64, u64),
        /// (images, bytes) from the rows.
        actual: (u64, u64),
    },
    /// A running total that differs from the rows.
    Total {
        /// The meta key.
        key: &'static str,
        /// Stored.
        stored: u64,
        /// Counted.
        actual: u64,
    },
    /// The id sequence would hand out an id already used.
    NextId {
        /// Stored next id.
        stored: u64,
        /// Largest id in use.
        max: u64,
    },
    /// A blob file with no row.
    Orphan(BlobHash),
    /// A temp left behind (a file in `tmp/` on the filesystem).
    StaleTemp(TempEntry),
}

impl Problem {
    /// Whether `--repair` can fix it without losing anything.
    pub fn repairable(&self) -> bool {
        match self {
            Problem::UndecodableImage(_)
            | Problem::UndecodableBlob(_)
            | Problem::SizeDisagrees { .. }
            | Problem::MissingThumbnailRow { .. }
            | Problem::MissingFile(_)
            | Problem::WrongFileSize { .. }
            | Problem::WrongContent(_) => false,
            Problem::MissingBlobRow { file_ok, .. } => *file_ok,
            _ => true,
        }
    }

    /// A short stable name for scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::UndecodableImage(_) => "undecodable-image",
            Problem::UndecodableBlob(_) => "undecodable-blob",
            Problem::MissingBlobRow { .. } => "missing-blob-row",
            Problem::MissingThumbnailRow { .. } => "missing-thumbnail-row",
            Problem::SizeDisagrees { .. } => "size-disagrees",
            Problem::MissingFile(_) => "missing-file",
            Problem::WrongFileSize { .. } => "wrong-file-size",
            Problem::WrongContent(_) => "wrong-content",
            Problem::Refcount { .. } => "refcount",
            Problem::MissingUuidIndex(_) => "missing-uuid-index",
            Problem::MissingTimeIndex(_) => "missing-time-index",
            Problem::DanglingUuidIndex(_) => "dangling-uuid-index",
            Problem::DanglingTimeIndex(..) => "dangling-time-index",
            Problem::DanglingViews(_) => "dangling-views",
            Problem::OwnerIndex { .. } => "owner-index",
            Problem::Total { .. } => "total",
            Problem::NextId { .. } => "next-id",
            Problem::Orphan(_) => "orphan-blob",
            Problem::StaleTemp(_) => "stale-temp",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind())?;
        match self {
            Problem::UndecodableImage(id) => write!(f, "image {id} does not decode"),
            Problem::UndecodableBlob(h) => write!(f, "blob row {} does not decode", hex(h)),
            Problem::MissingBlobRow {
                id, hash, file_ok, ..
            } => write!(
                f,
                "image {id} uses blob {} which has no row ({})",
                hex(hash),
                if *file_ok {
                    "its file is intact"
                } else {
                    "its file is missing or damaged: restore from a backup"
                }
            ),
            Problem::MissingThumbnailRow { id, hash } => write!(
                f,
                "image {id} names thumbnail {} which has no blob row",
                hex(hash)
            ),
            Problem::SizeDisagrees { id, image, blob } => {
                write!(f, "image {id} says {image} bytes, its blob row says {blob}")
            }
            Problem::MissingFile(h) => write!(
                f,
                "blob {} is missing on disk; the images using it cannot be served (restore from a backup)",
                hex(h)
            ),
            Problem::WrongFileSize {
                hash,
                expected,
                found,
            } => write!(
                f,
                "blob {} has {found} bytes on disk, {expected} expected (restore from a backup)",
                hex(hash)
            ),
            Problem::WrongContent(h) => write!(
                f,
                "blob {} does not hash to its name: its bytes are damaged (restore from a backup)",
                hex(h)
            ),
            Problem::Refcount {
                hash,
                stored,
                actual,
            } => write!(
                f,
                "blob {} has refcount {stored}, {actual} images use it",
                hex(hash)
            ),
            Problem::MissingUuidIndex(id) => write!(f, "image {id} is missing from the uuid index"),
            Problem::MissingTimeIndex(id) => {
                write!(f, "image {id} is missing from the upload-time index")
            }
            Problem::DanglingUuidIndex(u) => write!(
                f,
                "uuid index entry {} names no such image",
                uuid::Uuid::from_u128(*u)
            ),
            Problem::DanglingTimeIndex(t, id) => {
                write!(f, "upload-time index entry ({t}, {id}) names no such image")
            }
            Problem::DanglingViews(id) => write!(f, "view counter of missing image {id}"),
            Problem::OwnerIndex {
                owner,
                stored,
                actual,
            } => write!(
                f,
                "account {owner:?} is recorded with {} images and {} bytes, its rows add up to {} and {}",
                stored.0, stored.1, actual.0, actual.1
            ),
            Problem::Total {
                key,
                stored,
                actual,
            } => write!(f, "{key} is {stored}, the rows add up to {actual}"),
            Problem::NextId { stored, max } => {
                write!(f, "next image id is {stored} but id {max} exists")
            }
            Problem::Orphan(h) => write!(f, "blob file {} has no row", hex(h)),
            Problem::StaleTemp(t) => write!(f, "temp file {} left behind", t.name),
        }
    }
}

/// What `check` found and did.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Image rows seen.
    pub images: u64,
    /// Blob rows seen.
    pub blobs: u64,
    /// Bytes in blob rows.
    pub bytes: u64,
    /// Problems found (before any repair).
    pub problems: Vec<Problem>,
    /// Problems fixed by `--repair`.
    pub repaired: Vec<Problem>,
}

impl CheckReport {
    /// Problems still present after repair.
    pub fn remaining(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !self.repaired.contains(p))
    }

    /// Whether everything is (now) consistent.
    pub fn is_clean(&self) -> bool {
        self.remaining().next().is_none()
    }
}
