//! `pixbin backup`: the whole data directory as one tar, consistent as of one
//! moment, written while the server keeps serving and accepting uploads.
//!
//! Layout (a plain ustar archive; `tar xf` yields a usable data directory):
//! ```text
//! pixbin-backup/MANIFEST              format line, versions, database and blob hashes
//! pixbin-backup/pixbin.redb           every table, copied from one read transaction
//! pixbin-backup/blobs/ab/cd/<blake3>  every blob that copy references
//! ```
//! The database copy comes first (`Store::snapshot_to`); it pins the blob files,
//! so a delete during the backup leaves its file for GC instead of pulling it
//! from under the archive. Each blob is re-hashed while it is copied: a damaged
//! file fails the backup instead of being archived. A backup of a running server
//! is made by the server (`GET /api/backup`, see `control`); the CLI only
//! receives it, then reads the archive back and verifies every hash before
//! giving it its final name. The blobs are read through the store's
//! `BlobStore`, so a library on S3 backs up the same way (streamed object by
//! object, never a whole blob in memory); the archive is the same either way
//! and restores onto either backend.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;

use super::archive::blob_member;
use super::archive::{FORMAT, ROOT, Summary};
use crate::clock;
use crate::store::blobs::storage::Storage;
use crate::store::blobs::{BlobHash, BlobStore, hex};
use crate::store::gc::BlobPin;
use crate::store::identity::Claim;
use crate::store::meta::SCHEMA_VERSION;
use crate::store::{Store, StoreError, keyseal, perms, snapshot};

/// Reads through a file while hashing it.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// A snapshot taken and its manifest written; the blobs are copied by
/// [`Prepared::write_to`]. Dropping it removes its temp files and releases the
/// blob pin.
#[derive(Debug)]
pub struct Prepared {
    snapshot: PathBuf,
    manifest: PathBuf,
    /// The private-key seal (`keyseal`), carried so restores keep private links.
    key: Option<[u8; 32]>,
    blobs: std::sync::Arc<dyn BlobStore>,
    summary: Summary,
    _pin: BlobPin,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.snapshot);
        let _ = std::fs::remove_file(&self.manifest);
    }
}

/// Takes the snapshot and writes the manifest. Blocking; quick next to the blob
/// copy (it reads rows, not image bytes).
pub fn prepare(store: &Store) -> anyhow::Result<Prepared> {
    let tmp = store.data_dir().join("tmp");
    let tag = hex(&crate::secret::random_bytes::<32>());
    let snapshot_path = tmp.join(format!("backup-{}.redb", &tag[..16]));
    let manifest_path = tmp.join(format!("backup-{}.manifest", &tag[..16]));
    let pin = match store.snapshot_to(&snapshot_path) {
        Ok(pin) => pin,
        Err(e) => {
            let _ = std::fs::remove_file(&snapshot_path);
            return Err(e).context("copying the database");
        }
    };
    let mut prepared = Prepared {
        snapshot: snapshot_path,
        manifest: manifest_path,
        key: keyseal::raw(store.data_dir()).context("reading the key file")?,
        blobs: store.blobs().clone(),
        summary: Summary::default(),
        _pin: pin,
    };
    let (db_len, db_hash) = crate::store::check::hash_file(&prepared.snapshot)?;
    prepared.summary.database_bytes = db_len;
    let mut m = BufWriter::new(perms::create_file(&prepared.manifest)?);
    writeln!(
        m,
        "{FORMAT}\npixbin {}\nschema {SCHEMA_VERSION}\ncreated {}\ndatabase {db_len} {}",
        env!("CARGO_PKG_VERSION"),
        clock::rfc3339(clock::now_ms()),
        hex(&db_hash)
    )?;
    if let Some(k) = &prepared.key {
        writeln!(m, "key {} {}", k.len(), hex(blake3::hash(k).as_bytes()))?;
    }
    let (mut n, mut bytes) = (0u64, 0u64);
    let blobs = prepared.blobs.clone();
    snapshot::for_each_blob(&prepared.snapshot, |hash, size| {
        let size = match size {
            Some(s) => s,
            None => {
                blobs
                    .stat(&hash)?
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "blob missing"))?
                    .size
            }
        };
        n += 1;
        bytes += size;
        writeln!(m, "blob {} {size}", hex(&hash))
    })?;
    writeln!(m, "end {n}")?;
    m.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    prepared.summary.blobs = n;
    prepared.summary.bytes = bytes;
    Ok(prepared)
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime((clock::now_ms() / 1000).max(0) as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

impl Prepared {
    /// What the archive will hold.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// Streams the archive into `out`, re-hashing every blob on the way.
    pub fn write_to(self, out: impl Write) -> anyhow::Result<Summary> {
        let mut tar = tar::Builder::new(out);
        let manifest = File::open(&self.manifest)?;
        let len = manifest.metadata()?.len();
        tar.append_data(&mut header(len), format!("{ROOT}/MANIFEST"), manifest)?;
        let db = File::open(&self.snapshot)?;
        let len = db.metadata()?.len();
        tar.append_data(&mut header(len), format!("{ROOT}/pixbin.redb"), db)?;
        if let Some(k) = &self.key {
            let n = k.len() as u64;
            tar.append_data(
                &mut header(n),
                format!("{ROOT}/{}", keyseal::KEY_FILE),
                &k[..],
            )?;
        }
        let mut result = Ok(());
        snapshot::for_each_blob(&self.snapshot, |hash, _| {
            if result.is_err() {
                return Ok(());
            }
            result = self.append_blob(&mut tar, &hash);
            Ok(())
        })?;
        result?;
        tar.into_inner()?.flush()?;
        Ok(self.summary)
    }

    fn append_blob<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        hash: &BlobHash,
    ) -> anyhow::Result<()> {
        let opened = self
            .blobs
            .read(hash)
            .with_context(|| format!("blob {} is missing; run `pixbin check`", hex(hash)))?;
        let len = opened.meta.size;
        let mut reader = Hashing {
            inner: opened.reader.take(len),
            hasher: blake3::Hasher::new(),
            len: 0,
        };
        tar.append_data(&mut header(len), blob_member(hash), &mut reader)?;
        if reader.len != len || reader.hasher.finalize().as_bytes() != hash.as_bytes() {
            bail!(
                "blob {} is damaged on disk (its bytes do not match its name); run `pixbin check`",
                hex(hash)
            );
        }
        Ok(())
    }
}

/// A `Write` that hands 64 KiB chunks to an async receiver (the HTTP body),
/// blocking while the client is slower than the disk: memory stays bounded by
/// the channel.
#[derive(Debug)]
pub struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChunkWriter {
    /// Sends into `tx`; call from a blocking thread only.
    pub fn new(tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>) -> Self {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Ends the stream with an error, so the client sees a broken transfer
    /// rather than a short archive that looks complete.
    pub fn fail(self, message: String) {
        let _ = self.tx.blocking_send(Err(io::Error::other(message)));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Downloads a backup from the running server that published `addr`/`token`
/// into `out`. HTTP/1.0 so the body simply runs to the end of the connection
/// (the archive is verified afterwards, so a cut transfer cannot pass).
fn fetch(addr: SocketAddr, token: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to the running server at {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "GET /api/backup HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nUser-Agent: pixbin-backup\r\n\r\n"
    )?;
    // Read the head byte by byte up to the blank line (it is short).
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || head.len() > 16 * 1024 {
            bail!("the server closed the connection before answering");
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        let mut body = String::new();
        let _ = stream.take(4096).read_to_string(&mut body);
        bail!("the server refused the backup ({status}): {}", body.trim());
    }
    io::copy(&mut stream, out).context("receiving the backup")?;
    Ok(())
}

/// `pixbin backup --out FILE`: directly when no server runs, else through it.
/// The archive is written to `FILE.partial`, verified, fsynced, then renamed.
pub fn backup_to_file(data_dir: &Path, storage: &Storage, out: &Path) -> anyhow::Result<Summary> {
    if out.exists() {
        bail!("{} already exists; choose a new name", out.display());
    }
    let partial = {
        let mut name = out.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    };
    let result = (|| -> anyhow::Result<Summary> {
        let mut file = BufWriter::new(
            perms::create_file(&partial)
                .with_context(|| format!("creating {}", partial.display()))?,
        );
        if !Store::db_path(data_dir).exists() {
            bail!("{} holds no pixbin database", data_dir.display());
        }
        // Offline, the blobs are read where they live (a bucket: one
        // streamed GET each, re-hashed on the way like a file).
        match Store::open_on(data_dir, Claim::Verify, storage) {
            Ok(store) => {
                prepare(&store)?.write_to(&mut file)?;
            }
            Err(StoreError::AlreadyOpen) => {
                let server = super::control::read(data_dir)?;
                fetch(server.addr, server.token.expose(), &mut file)?;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("opening {}", data_dir.display()));
            }
        }
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let summary = super::restore::verify(&partial).context("verifying the written backup")?;
        std::fs::rename(&partial, out)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
