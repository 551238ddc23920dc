//! `pixbin restore FILE --data-dir NEW`: unpack a backup into an empty data
//! directory, verifying every hash on the way; and `verify`, the same reading
//! without writing, which `pixbin backup` runs on each archive it makes.
//!
//! Nothing in the archive chooses a path: member names are matched against the
//! three shapes a backup has, and a blob's location derives from its verified
//! hash (ARCHITECTURE invariant 3). Files are written without a sync each;
//! one `syncfs` makes them all durable before the database file is moved into
//! place, last: an interrupted restore never leaves something that looks like a
//! data directory, and a large library restores in minutes, not in two fsyncs
//! per image.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};

use super::archive::{FORMAT, ROOT, Summary, parse_blob_member};
use crate::store::blobs::{BlobHash, BlobStore, FsBlobStore, hex, parse_hex};
use crate::store::check::CheckOptions;
use crate::store::meta::{SCHEMA_VERSION, UPGRADES_FROM};
use crate::store::{Store, identity, keyseal, perms};

/// What the manifest promises.
#[derive(Debug)]
struct Manifest {
    schema: u64,
    database: (u64, BlobHash),
    /// The key file's size and hash (backups made before keys were sealed
    /// have none).
    key: Option<(u64, BlobHash)>,
    blobs: HashMap<BlobHash, u64>,
}

/// Longest manifest line read. The longest a backup writes is a blob line
/// (`blob`, 64 hex digits, a size: under 100 bytes); the bound keeps a hostile
/// archive from making `restore` buffer an endless line.
pub const MAX_MANIFEST_LINE: usize = 1024;

/// The next line of `r` without its newline, or `None` at the end. Reads at
/// most [`MAX_MANIFEST_LINE`] + 1 bytes for it, whatever `r` holds.
fn bounded_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> anyhow::Result<Option<String>> {
    buf.clear();
    let n = r
        .by_ref()
        .take(MAX_MANIFEST_LINE as u64 + 1)
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if n > MAX_MANIFEST_LINE {
        bail!("the manifest has a line longer than {MAX_MANIFEST_LINE} bytes: not a pixbin backup");
    }
    let line = std::str::from_utf8(buf).context("the manifest is not UTF-8")?;
    Ok(Some(line.to_string()))
}

fn parse_manifest(r: impl Read) -> anyhow::Result<Manifest> {
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let mut buf = Vec::with_capacity(MAX_MANIFEST_LINE + 1);
    if bounded_line(&mut r, &mut buf)?.as_deref() != Some(FORMAT) {
        bail!("not a pixbin backup (the manifest does not start with {FORMAT:?})");
    }
    let mut schema = None;
    let mut database = None;
    let mut key = None;
    let mut blobs = HashMap::new();
    let mut end = None;
    while let Some(line) = bounded_line(&mut r, &mut buf)? {
        let mut f = line.split(' ');
        match (f.next(), f.next(), f.next()) {
            (Some("schema"), Some(v), None) => schema = v.parse().ok(),
            (Some("database"), Some(size), Some(h)) => {
                database = Some((size.parse()?, parse_hex(h).context("bad database hash")?));
            }
            (Some("key"), Some(size), Some(h)) => {
                key = Some((size.parse()?, parse_hex(h).context("bad key file hash")?));
            }
            (Some("blob"), Some(h), Some(size)) => {
                let hash = parse_hex(h).context("bad blob hash in the manifest")?;
                if blobs.insert(hash, size.parse()?).is_some() {
                    bail!("blob {h} is listed twice in the manifest");
                }
            }
            (Some("end"), Some(n), None) => end = Some(n.parse::<usize>()?),
            _ => {}
        }
    }
    if end != Some(blobs.len()) {
        bail!("the manifest is incomplete");
    }
    Ok(Manifest {
        schema: schema.context("the manifest names no schema version")?,
        database: database.context("the manifest names no database")?,
        key,
        blobs,
    })
}

/// Copies `r` into `w` while hashing; returns (length, hash).
fn copy_hashed(mut r: impl Read, mut w: impl Write) -> io::Result<(u64, BlobHash)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 128 * 1024];
    let mut len = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        len += n as u64;
    }
    Ok((len, hasher.finalize().into()))
}

/// Where verified members go; `None` only verifies.
struct Target<'a> {
    dir: &'a Path,
    blobs: Box<dyn BlobStore>,
}

/// Reads a whole archive, checking every member against the manifest.
fn read_archive(file: &Path, target: Option<&Target<'_>>) -> anyhow::Result<Summary> {
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, f));
    // Raw: the tar crate reads GNU long names and PAX headers whole into memory,
    // whatever their size. A backup never writes them (every name fits ustar), so
    // in raw mode they arrive as members of an unexpected type and are refused.
    let mut entries = archive.entries()?.raw(true);
    let manifest = {
        let first = entries.next().context("the archive is empty")??;
        if first.path()?.to_str() != Some(&format!("{ROOT}/MANIFEST")) {
            bail!("not a pixbin backup (it does not start with {ROOT}/MANIFEST)");
        }
        parse_manifest(first)?
    };
    // An older schema is upgraded in place by the first start, as if the
    // data directory had never left.
    if !(UPGRADES_FROM..=SCHEMA_VERSION).contains(&manifest.schema) {
        bail!(
            "this backup has database schema {}, this pixbin understands {UPGRADES_FROM} to {SCHEMA_VERSION}; restore it with the pixbin release that made it",
            manifest.schema
        );
    }
    let mut expected = manifest.blobs;
    let mut summary = Summary::default();
    let mut database_seen = false;
    let mut key_seen = false;
    for entry in entries {
        let entry = entry?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            bail!("unexpected member type in the archive");
        }
        let name = entry
            .path()?
            .to_str()
            .context("a member name is not UTF-8")?
            .to_string();
        if name == format!("{ROOT}/pixbin.redb") {
            if database_seen {
                bail!("the archive holds the database twice");
            }
            database_seen = true;
            let (len, hash) = match target {
                Some(t) => {
                    let path = t.dir.join("tmp").join("restore.redb");
                    let mut out = BufWriter::new(perms::create_file(&path)?);
                    let r = copy_hashed(entry, &mut out)?;
                    out.flush()?;
                    r
                }
                None => copy_hashed(entry, io::sink())?,
            };
            if (len, hash) != manifest.database {
                bail!("the database in the archive does not match its manifest hash");
            }
            summary.database_bytes = len;
        } else if name == format!("{ROOT}/{}", keyseal::KEY_FILE) {
            if key_seen {
                bail!("the archive holds the key file twice");
            }
            key_seen = true;
            let mut bytes = Vec::with_capacity(33);
            entry.take(33).read_to_end(&mut bytes)?;
            let hash = BlobHash::of(&bytes);
            if Some((bytes.len() as u64, hash)) != manifest.key {
                bail!("the key file in the archive does not match its manifest hash");
            }
            let secret: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("the key file in the archive is not 32 bytes"))?;
            if let Some(t) = target {
                keyseal::write(t.dir, &secret)?;
            }
        } else if let Some(hash) = parse_blob_member(&name) {
            let Some(size) = expected.remove(&hash) else {
                bail!(
                    "blob {} is not in the manifest (or appears twice)",
                    hex(&hash)
                );
            };
            let (len, got) = match target {
                Some(t) => {
                    // Not synced one by one: `restore` syncs the whole
                    // filesystem once before the database goes into place.
                    let mut out = BufWriter::new(t.blobs.create_temp()?);
                    let r = copy_hashed(entry, &mut out)?;
                    let temp = out.into_inner().map_err(|e| e.into_error())?;
                    if r == (size, hash) {
                        t.blobs.put(temp, &hash)?;
                    }
                    r
                }
                None => copy_hashed(entry, io::sink())?,
            };
            if (len, got) != (size, hash) {
                bail!(
                    "blob {} in the archive is damaged (wrong size or hash)",
                    hex(&hash)
                );
            }
            summary.blobs += 1;
            summary.bytes += len;
        } else {
            bail!("unexpected member {name:?} in the archive");
        }
    }
    if !database_seen {
        bail!("the archive is cut short: the database is missing");
    }
    if manifest.key.is_some() && !key_seen {
        bail!("the archive is cut short: the key file is missing");
    }
    if !expected.is_empty() {
        bail!(
            "the archive is cut short: {} blobs of the manifest are missing",
            expected.len()
        );
    }
    Ok(summary)
}

/// Makes everything written under `dir` durable at once.
#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) -> io::Result<()> {
    rustix::fs::syncfs(File::open(dir)?).map_err(io::Error::from)
}

/// Makes everything written under `dir` durable: each file and directory.
#[cfg(not(target_os = "linux"))]
fn sync_filesystem(dir: &Path) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            sync_filesystem(&p)?;
        } else {
            File::open(&p)?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}

/// Verifies an archive without writing anything.
pub fn verify(file: &Path) -> anyhow::Result<Summary> {
    read_archive(file, None)
}

/// Unpacks `file` into `data_dir`, which must be absent or empty, then opens it
/// and runs a structural check. On failure everything it wrote is removed.
pub fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<Summary> {
    let existed = data_dir.exists();
    if existed
        && std::fs::read_dir(data_dir)
            .with_context(|| format!("reading {}", data_dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; restore into a new directory (nothing was changed)",
            data_dir.display()
        );
    }
    perms::own_dir(data_dir)?;
    let result = (|| -> anyhow::Result<Summary> {
        let target = Target {
            dir: data_dir,
            blobs: Box::new(FsBlobStore::open(data_dir)?),
        };
        let summary = read_archive(file, Some(&target))?;
        // Every blob durable first, then the database goes into place.
        sync_filesystem(data_dir)?;
        std::fs::rename(
            data_dir.join("tmp").join("restore.redb"),
            Store::db_path(data_dir),
        )?;
        File::open(data_dir)?.sync_all()?;
        // The backup carries the identity inside its database: give the
        // restored blobs the same, so the pair opens as one (invariant 8).
        let id = {
            let ro = redb::ReadOnlyDatabase::open(Store::db_path(data_dir))
                .context("reading the restored database")?;
            identity::database_id(&ro)?
        };
        if let Some(id) = id {
            identity::write_marker(data_dir, id)?;
        }
        let store = Store::open(data_dir).context("opening the restored database")?;
        let report = store.check(CheckOptions {
            rehash: false,
            repair: false,
        })?;
        if let Some(p) = report.remaining().next() {
            bail!("the restored data does not check clean: {p}");
        }
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(data_dir.join("blobs"));
        let _ = std::fs::remove_dir_all(data_dir.join("tmp"));
        let _ = std::fs::remove_file(Store::db_path(data_dir));
        let _ = std::fs::remove_file(identity::marker_path(data_dir));
        let _ = std::fs::remove_file(keyseal::path(data_dir));
        if !existed {
            let _ = std::fs::remove_dir(data_dir);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_member_names_must_match_their_hash() {
        let h = BlobHash::of(b"x");
        let name = super::super::archive::blob_member(&h);
        assert_eq!(parse_blob_member(&name), Some(h));
        let x = hex(&h);
        for bad in [
            format!("{ROOT}/blobs/00/00/{x}"),
            format!("{ROOT}/blobs/{}/{}/{x}/..", &x[..2], &x[2..4]),
            format!("{ROOT}/blobs/../../{x}"),
            format!("other/blobs/{}/{}/{x}", &x[..2], &x[2..4]),
            format!("{ROOT}/blobs/{}/{}/{}", &x[..2], &x[2..4], x.to_uppercase()),
        ] {
            assert_eq!(parse_blob_member(&bad), None, "{bad}");
        }
    }

    #[test]
    fn manifests_must_be_complete() {
        let h = hex(blake3::hash(b"db").as_bytes());
        let good = format!("{FORMAT}\nschema 1\ndatabase 2 {h}\nblob {h} 5\nend 1\n");
        let m = parse_manifest(good.as_bytes()).unwrap();
        assert_eq!((m.schema, m.blobs.len()), (1, 1));
        assert!(
            parse_manifest(format!("{FORMAT}\nschema 1\ndatabase 2 {h}\nblob {h} 5\n").as_bytes())
                .is_err()
        );
        assert!(parse_manifest("tar\n".as_bytes()).is_err());
        // A line past the bound is refused, however it goes on.
        let long = format!("{FORMAT}\nschema 1\n{}", "x".repeat(MAX_MANIFEST_LINE + 1));
        assert!(parse_manifest(long.as_bytes()).is_err());
        let ok = format!(
            "{FORMAT}\nschema 1\ndatabase 2 {h}\n{}\nend 0\n",
            "x".repeat(MAX_MANIFEST_LINE)
        );
        assert!(parse_manifest(ok.as_bytes()).is_ok());
    }
}
