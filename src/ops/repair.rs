//! `pixbin repair --from BACKUP.tar`: put back, verified, exactly the blobs
//! that are damaged or missing here, from a backup archive (`ops::backup`).
//!
//! A blob needs repair when it is marked damaged (`store::integrity`), or its
//! file is missing, of the wrong length or of the wrong hash while a row needs
//! it. Each such blob found in the archive is copied to a blob-store temp while
//! hashed, kept only if length and hash are the row's, synced and put over
//! the damaged blob (`BlobStore::replace`): the same durable order as an
//! upload (invariant 1). Nothing else is written; the database is not touched
//! except to clear marks.
//!
//! This works with the server running: blob names derive from hashes and a
//! replace is atomic, so a reader sees the old bytes or the new, never a mix.
//! The rows and marks then come from the server over its control channel
//! (`GET /api/integrity/blobs`, token of `ops::control`), and the server
//! re-hashes each repaired file before it clears the mark
//! (`POST /api/integrity/repaired`). With the server stopped the database is
//! opened directly. The blobs are reached through the configured
//! `BlobStore` (`--storage`) either way: on S3 each repaired blob is staged
//! in `tmp/`, verified, then uploaded over the damaged object.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use super::archive::{FORMAT, ROOT};
use crate::store::blobs::storage::Storage;
use crate::store::blobs::{BlobHash, BlobStore, hex, parse_hex};
use crate::store::identity::Claim;
use crate::store::integrity::verify_stored;
use crate::store::{Store, StoreError};

/// What a repair did.
#[derive(Debug, Default)]
pub struct RepairReport {
    /// Whether a running server was asked (rather than the database opened).
    pub online: bool,
    /// Blob rows looked at.
    pub rows: u64,
    /// Blobs rewritten from the archive, verified.
    pub repaired: Vec<BlobHash>,
    /// Blobs that needed repair but whose copy in the archive is itself wrong.
    pub bad_in_archive: Vec<BlobHash>,
    /// Blobs that need repair and are not in the archive.
    pub not_in_archive: Vec<BlobHash>,
    /// Repaired blobs the server still found wrong (left marked).
    pub not_cleared: Vec<BlobHash>,
}

impl RepairReport {
    /// Whether everything that needed repair was repaired.
    pub fn complete(&self) -> bool {
        self.bad_in_archive.is_empty()
            && self.not_in_archive.is_empty()
            && self.not_cleared.is_empty()
    }
}

/// Where the rows come from and where cleared marks go.
enum Holder<'a> {
    Offline(&'a Store),
    Online { addr: SocketAddr, token: String },
}

/// One blob row: recorded size, and whether it is marked damaged.
type Rows = HashMap<BlobHash, (u64, bool)>;

/// Repairs the data directory `data_dir`, its blobs where `storage` says,
/// from `archive`.
pub fn repair_from(
    data_dir: &Path,
    storage: &Storage,
    archive: &Path,
) -> anyhow::Result<RepairReport> {
    // Rows of a missing or foreign database do not describe these blobs: the
    // identity check refuses it (offline in `Store::open_on`, online at the
    // server's start) before anything is written.
    super::require_database(data_dir, storage)?;
    match Store::open_on(data_dir, Claim::Verify, storage) {
        Ok(store) => repair_with(Holder::Offline(&store), store.blobs().as_ref(), archive),
        Err(StoreError::AlreadyOpen) => {
            let server = super::control::read(data_dir)?;
            let given = storage.location();
            if let Some(theirs) = server.storage.filter(|s| *s != given) {
                bail!(
                    "the running server keeps its blobs in {theirs}, not {given}; run repair with --storage {} and the server's --s3-* settings (nothing was written)",
                    theirs.trim_end_matches('/')
                );
            }
            let holder = Holder::Online {
                addr: server.addr,
                token: server.token.expose().to_string(),
            };
            // The server holds the database, not the blobs: the same store
            // is reached here directly (a bucket through its own client).
            let blobs = storage.backend(data_dir)?;
            repair_with(holder, &*blobs, archive)
        }
        Err(e) => Err(e).with_context(|| format!("opening {}", data_dir.display())),
    }
}

/// Repairs an open store's blobs from `archive` (offline).
pub fn repair_store(store: &Store, archive: &Path) -> anyhow::Result<RepairReport> {
    repair_with(Holder::Offline(store), store.blobs().as_ref(), archive)
}

fn repair_with(
    holder: Holder<'_>,
    blobs: &dyn BlobStore,
    archive: &Path,
) -> anyhow::Result<RepairReport> {
    let rows: Rows = match &holder {
        Holder::Offline(store) => {
            let marks = store.integrity();
            store
                .blob_rows()?
                .into_iter()
                .map(|(h, size)| (h, (size, marks.is_damaged(&h))))
                .collect()
        }
        Holder::Online { addr, token } => {
            let text = request(*addr, token, "GET", "/api/integrity/blobs", None)?;
            parse_rows(&text)?
        }
    };
    let mut report = RepairReport {
        online: matches!(holder, Holder::Online { .. }),
        rows: rows.len() as u64,
        ..Default::default()
    };
    let seen = restore_damaged(archive, blobs, &rows, &mut report)?;
    for (h, (size, marked)) in &rows {
        if seen.contains(h) {
            continue;
        }
        let wrong_length = !matches!(blobs.stat(h), Ok(Some(m)) if m.size == *size);
        if *marked || wrong_length {
            report.not_in_archive.push(*h);
        }
    }
    report.not_in_archive.sort();
    match &holder {
        Holder::Offline(store) => {
            for h in &report.repaired {
                store.clear_damage(h)?;
            }
        }
        Holder::Online { addr, token } => {
            for batch in report.repaired.chunks(super::control::MAX_REPAIRED_HASHES) {
                let body = serde_json::json!({
                    "hashes": batch.iter().map(hex).collect::<Vec<_>>()
                });
                let answer = request(
                    *addr,
                    token,
                    "POST",
                    "/api/integrity/repaired",
                    Some(&body.to_string()),
                )?;
                let v: serde_json::Value =
                    serde_json::from_str(&answer).context("the server's answer is not JSON")?;
                for h in v["stillDamaged"].as_array().into_iter().flatten() {
                    if let Some(h) = h.as_str().and_then(parse_hex) {
                        report.not_cleared.push(h);
                    }
                }
            }
        }
    }
    Ok(report)
}

/// Parses `<hash> <size> <0|1>` lines.
fn parse_rows(text: &str) -> anyhow::Result<Rows> {
    let mut rows = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut f = line.split(' ');
        let (Some(h), Some(size), Some(marked), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            bail!("the server sent a malformed blob list");
        };
        let h = parse_hex(h).context("the server sent a malformed blob hash")?;
        rows.insert(h, (size.parse()?, marked == "1"));
    }
    Ok(rows)
}

/// Streams the archive and rewrites each blob that needs it; returns the
/// hashes of the rows the archive held.
fn restore_damaged(
    archive: &Path,
    blobs: &dyn BlobStore,
    rows: &Rows,
    report: &mut RepairReport,
) -> anyhow::Result<HashSet<BlobHash>> {
    let f = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(BufReader::with_capacity(256 * 1024, f));
    // Raw, as `restore` reads: GNU long names and PAX headers (a backup never
    // writes them) arrive as members of their own type and are skipped, never
    // read whole into memory.
    let mut entries = tar.entries()?.raw(true);
    {
        let first = entries.next().context("the archive is empty")??;
        if first.path()?.to_str() != Some(&format!("{ROOT}/MANIFEST")) {
            bail!("not a pixbin backup (it does not start with {ROOT}/MANIFEST)");
        }
        let mut line = String::new();
        BufReader::new(first.take(256)).read_line(&mut line)?;
        if line.trim_end() != FORMAT {
            bail!("not a pixbin backup (the manifest does not start with {FORMAT:?})");
        }
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.to_str().unwrap_or_default().to_string();
        let Some(hash) = super::archive::parse_blob_member(&name) else {
            continue;
        };
        let Some(&(size, marked)) = rows.get(&hash) else {
            continue;
        };
        if !seen.insert(hash) {
            continue;
        }
        if !marked && verify_stored(blobs, &hash, size).is_none() {
            continue;
        }
        if put_back(entry, blobs, &hash, size)? {
            tracing::info!(hash = %hex(&hash), "blob repaired from the backup");
            report.repaired.push(hash);
        } else {
            report.bad_in_archive.push(hash);
        }
    }
    Ok(seen)
}

/// Copies one archive member into place if it is the blob; `false` (and
/// nothing written) when it is not.
fn put_back(
    member: impl Read,
    blobs: &dyn BlobStore,
    hash: &BlobHash,
    size: u64,
) -> anyhow::Result<bool> {
    // Dropped unless replaced: a wrong member leaves no temp behind.
    let mut out = blobs.create_temp()?;
    let mut hasher = blake3::Hasher::new();
    let mut len = 0u64;
    let mut r = member.take(size.saturating_add(1));
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        len += n as u64;
    }
    if len != size || hasher.finalize().as_bytes() != hash.as_bytes() {
        return Ok(false);
    }
    out.sync_all()?;
    // Atomic over the damaged blob: readers see the old or the new bytes.
    blobs.replace(out, hash)?;
    Ok(true)
}

/// One HTTP/1.0 exchange with the running server; the body of a 200.
fn request(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to the running server at {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nUser-Agent: pixbin-repair\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .context("reading the server's answer")?;
    let text = String::from_utf8_lossy(&answer);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .context("the server closed the connection before answering")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!("the server refused {path} ({status}): {}", rest.trim());
    }
    Ok(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_lists_parse_strictly() {
        let h = hex(blake3::hash(b"x").as_bytes());
        let rows = parse_rows(&format!("{h} 5 1\n")).unwrap();
        assert_eq!(rows.values().next(), Some(&(5, true)));
        assert!(parse_rows(&format!("{h} 5\n")).is_err());
        assert!(parse_rows("zz 5 0\n").is_err());
        assert!(parse_rows(&format!("{h} five 0\n")).is_err());
    }
}
