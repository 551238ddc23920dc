//! The backup archive's layout, shared by the side that writes it (`backup`)
//! and the sides that read it (`restore`, `repair`): a tar whose members all
//! live under [`ROOT`], a manifest that starts with [`FORMAT`], and one member
//! per blob named by its hash with the store's fan-out.

use crate::store::blobs::{BlobHash, hex, parse_hex};

/// The directory every archive member lives under.
pub const ROOT: &str = "pixbin-backup";
/// First line of every manifest.
pub const FORMAT: &str = "pixbin-backup 1";

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Blob files.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Size of the database copy.
    pub database_bytes: u64,
    /// After a restore: blobs the target store held that the backup does not
    /// name (uploaded after it, onto a bucket that outlived its server), left
    /// as they were.
    pub unknown_kept: u64,
}

/// The archive name of a blob.
pub fn blob_member(hash: &BlobHash) -> String {
    let h = hex(hash);
    format!("{ROOT}/blobs/{}/{}/{h}", &h[0..2], &h[2..4])
}

/// Reads a blob member name back into its hash: `pixbin-backup/blobs/ab/cd/<hex>`
/// with the fan-out matching the hash.
pub fn parse_blob_member(name: &str) -> Option<BlobHash> {
    let rest = name.strip_prefix(ROOT)?.strip_prefix("/blobs/")?;
    let mut parts = rest.split('/');
    let (a, b, h) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.get(0..2) != Some(a) || h.get(2..4) != Some(b) {
        return None;
    }
    parse_hex(h)
}
