//! The S3-compatible backend: blobs as objects `<prefix>blobs/<64-hex>`,
//! quarantine as `<prefix>trash/<secs>.<64-hex>`, the identity marker as
//! `<prefix>pixbin.id`, in one bucket of any S3-compatible store (tested on a
//! 3-node Garage cluster). Temps stay local: they are the filesystem
//! backend's own temps under the data directory's `tmp/`, because a blob's
//! name is known only after its last byte and uploads are re-read once.
//!
//! The client crate is `object_store` (Apache Arrow), compared with the others
//! on what pixbin needs:
//! - object_store 0.12: maintained by the Arrow project, streamed GETs with
//!   ranges, multipart with bounded parallel parts (`WriteMultipart`),
//!   presigned URLs (`Signer`), retries with backoff and per-request timeouts
//!   built in; rustls with `ring` (0.13+ forces aws-lc-rs, which needs cmake
//!   for the static build, so 0.12 is pinned); about 100 crates more, most of
//!   them the HTTP client (reqwest/hyper-rustls) any S3 client needs.
//! - aws-sdk-s3: complete and maintained, but the heaviest tree (smithy
//!   runtime, ~2x the crates) and aws-lc-rs by default.
//! - opendal: maintained, streams and presigns, but a large abstraction over
//!   dozens of services and its own retry/timeout layers to configure.
//! - rust-s3: one maintainer, streaming and multipart present but TLS choice
//!   leaks native-tls through default features, and releases are irregular.
//!
//! The [`BlobStore`] interface is synchronous (callers run it on the blocking
//! pool), so the backend owns a small multi-thread tokio runtime of its own
//! and blocks on it. A runtime of its own, rather than `Handle::current()`:
//! CLI commands run on a current-thread runtime, whose single thread may be
//! the one blocked here, and a request must never depend on which runtime its
//! caller happened to be on. Dropping the backend shuts that runtime down in
//! the background, so a store dropped inside async code does not panic.
//! Never call this backend from an async worker thread (nothing here may
//! block one): every caller already goes through `spawn_blocking`.
//!
//! Every request has a timeout and bounded retries with exponential backoff
//! ([`S3Config::timeout`], [`S3Config::retries`]); a ranged GET that breaks
//! mid-body is resumed by the client only when the ETag still matches, so a
//! reader never splices two versions. A GET is not bounded as a whole (a
//! large image to a slow client may take minutes): its headers must come
//! within the retry budget and then each chunk within the timeout, so a
//! stalled store still fails in bounded time.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, PutPayload,
    RetryConfig, WriteMultipart,
};

use super::{
    BlobEntry, BlobHash, BlobMeta, BlobRead, BlobStore, BlobVersion, FsBlobStore, TempBlob,
    TempEntry, TrashEntry, hex, parse_hex,
};
use crate::secret::Secret;

/// Above this size a blob is uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// The size of one part (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once for one upload.
const PARTS_IN_FLIGHT: usize = 3;

/// Where and how to reach a bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The bucket's name.
    pub bucket: String,
    /// A key prefix inside the bucket, empty or ending in `/`.
    pub prefix: String,
    /// The endpoint URL (`http://127.0.0.1:3900`); `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The region the store expects in signatures (`garage`, `us-east-1`).
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), which Garage and most
    /// self-hosted stores want; otherwise virtual-host style.
    pub path_style: bool,
    /// The access key id.
    pub access_key_id: Secret,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The bound on one request (connect, headers and body).
    pub timeout: Duration,
    /// Retries of a failed request, with exponential backoff.
    pub retries: usize,
}

/// Splits `s3://bucket/some/prefix` into the bucket and a prefix that is
/// empty or ends in `/`.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let prefix = prefix.trim_matches('/');
    // Object keys only ever come from hashes (invariant 3); the prefix is the
    // operator's, but kept to plain segments so it cannot escape itself.
    let prefix_ok = prefix.split('/').all(|seg| {
        prefix.is_empty()
            || (!seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
    });
    if !bucket_ok || !prefix_ok {
        return None;
    }
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Some((bucket.to_string(), prefix))
}

/// A runtime that shuts down without blocking when dropped.
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0
            .as_ref()
            .expect("runtime lives until drop")
            .block_on(f)
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The bound on a readiness probe (one HEAD, no retry).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Blobs as objects in one bucket.
pub struct S3BlobStore {
    /// For every request but GETs: bounded as a whole.
    client: Arc<AmazonS3>,
    /// For GETs: bounded by `first_byte_timeout`, then `idle_timeout`.
    read_client: Arc<AmazonS3>,
    /// For `probe`: no retries, a short bound.
    probe_client: Arc<AmazonS3>,
    /// How long a GET may take to answer with its headers (retries included).
    first_byte_timeout: Duration,
    /// The longest silence within a GET body.
    idle_timeout: Duration,
    rt: Arc<OwnedRuntime>,
    prefix: String,
    bucket: String,
    /// Local staging: the filesystem backend's temps under `tmp/`.
    spool: FsBlobStore,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// A missing object is `NotFound`; a store that failed to answer after the
/// retries (timeouts, refused connections, 5xx such as a lost quorum, and
/// refused credentials, which only the operator can fix) is
/// [`Unavailable`](super::Unavailable), never a judgement on the blob.
fn io_err(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        object_store::Error::Generic { .. }
        | object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => super::Unavailable::io(e.to_string()),
        other => io::Error::from(other),
    }
}

impl S3BlobStore {
    /// A client for `config`, staging temps in `<data_dir>/tmp`. Makes no
    /// request yet.
    pub fn open(config: &S3Config, data_dir: &std::path::Path) -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pixbin-s3")
            .enable_all()
            .build()?;
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: config.retries,
            // Bounds the retries of one request as a whole.
            retry_timeout: config.timeout * (config.retries as u32 + 1),
        };
        let allow_http = config
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        let options = ClientOptions::new()
            .with_connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .with_allow_http(allow_http);
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(config.access_key_id.expose())
            .with_secret_access_key(config.secret_access_key.expose())
            .with_virtual_hosted_style_request(!config.path_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let build = |retry: RetryConfig, options: ClientOptions| {
            builder
                .clone()
                .with_retry(retry)
                .with_client_options(options)
                .build()
                .map_err(io_err)
        };
        // Everything but GETs: the timeout bounds each request whole.
        let client = build(retry.clone(), options.clone().with_timeout(config.timeout))?;
        // GETs: no bound on the whole request, so a large download over a
        // slow link is not cut; the answer's headers and then every chunk
        // must come within their own bounds instead (see `read_range`).
        let read_client = build(retry.clone(), options.clone().with_timeout_disabled())?;
        // `/readyz`: one try, answered or not within a few seconds.
        let probe_client = build(
            RetryConfig {
                max_retries: 0,
                retry_timeout: PROBE_TIMEOUT,
                ..retry.clone()
            },
            options.with_timeout(config.timeout.min(PROBE_TIMEOUT)),
        )?;
        Ok(S3BlobStore {
            client: Arc::new(client),
            read_client: Arc::new(read_client),
            probe_client: Arc::new(probe_client),
            first_byte_timeout: retry.retry_timeout,
            idle_timeout: config.timeout,
            rt: Arc::new(OwnedRuntime(Some(rt))),
            prefix: config.prefix.clone(),
            bucket: config.bucket.clone(),
            spool: FsBlobStore::at(data_dir),
        })
    }

    fn blob_key(&self, hash: &BlobHash) -> ObjPath {
        ObjPath::from(format!("{}blobs/{}", self.prefix, hex(hash)))
    }

    fn trash_key(&self, e: &TrashEntry) -> ObjPath {
        ObjPath::from(format!(
            "{}trash/{}.{}",
            self.prefix,
            e.quarantined_at,
            hex(&e.hash)
        ))
    }

    fn marker_key(&self) -> ObjPath {
        ObjPath::from(format!("{}{}", self.prefix, super::super::identity::MARKER))
    }

    /// The identity marker kept in the bucket, as text; `None` when absent.
    fn read_marker(&self) -> io::Result<Option<String>> {
        let key = self.marker_key();
        let got = self.rt.block_on(async {
            let r = self.client.get(&key).await?;
            r.bytes().await
        });
        match got {
            Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Writes the identity marker into the bucket (one PUT: atomic).
    fn write_marker(&self, text: &str) -> io::Result<()> {
        let key = self.marker_key();
        let body = PutPayload::from(text.as_bytes().to_vec());
        self.rt
            .block_on(self.client.put(&key, body))
            .map(drop)
            .map_err(io_err)
    }

    fn head(&self, key: &ObjPath) -> io::Result<Option<ObjectMeta>> {
        match self.rt.block_on(self.client.head(key)) {
            Ok(m) => Ok(Some(m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Uploads a temp's bytes under `key`: one PUT when small, parallel parts
    /// when large. Returns when the store has acknowledged every byte.
    fn upload(&self, temp: &TempBlob, key: &ObjPath) -> io::Result<()> {
        let mut reader = temp.reader()?;
        let size = io::Seek::seek(&mut reader, io::SeekFrom::End(0))?;
        io::Seek::rewind(&mut reader)?;
        if size <= MULTIPART_THRESHOLD {
            let mut buf = Vec::with_capacity(size as usize);
            reader.read_to_end(&mut buf)?;
            let payload = PutPayload::from(buf);
            return self
                .rt
                .block_on(self.client.put(key, payload))
                .map(drop)
                .map_err(io_err);
        }
        self.rt.block_on(async {
            let upload = self.client.put_multipart(key).await.map_err(io_err)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; 1024 * 1024];
            let result: io::Result<()> = async {
                loop {
                    // The file read is short and local; it blocks this
                    // thread, which is a blocking-pool thread already.
                    let n = reader.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    w.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(io_err)?;
                    w.write(&buf[..n]);
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => w.finish().await.map(drop).map_err(io_err),
                Err(e) => {
                    let _ = w.abort().await;
                    Err(e)
                }
            }
        })
    }
}

/// What identifies a version of an object: its ETag and Last-Modified.
fn version_of(m: &ObjectMeta) -> BlobVersion {
    let mut h = blake3::Hasher::new();
    h.update(m.e_tag.as_deref().unwrap_or("").as_bytes());
    h.update(&m.last_modified.timestamp().to_le_bytes());
    h.update(&m.size.to_le_bytes());
    let mut v = [0u8; 16];
    v.copy_from_slice(&h.finalize().as_bytes()[..16]);
    BlobVersion::new(v)
}

/// Whole seconds: a HEAD says Last-Modified as an HTTP date, a listing in
/// milliseconds, and the same object must read the same through both.
fn system_time(m: &ObjectMeta) -> SystemTime {
    let secs = u64::try_from(m.last_modified.timestamp()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn meta_of(m: &ObjectMeta) -> BlobMeta {
    BlobMeta {
        size: m.size,
        modified: system_time(m),
        version: version_of(m),
    }
}

/// A blocking reader over a streamed GET body.
struct StreamReader {
    rt: Arc<OwnedRuntime>,
    /// The longest wait for the next chunk: a stalled store fails the read
    /// in bounded time, while a slow steady one is never cut.
    idle: Duration,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    /// Stops after this many more bytes (the caller's range).
    left: u64,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.left == 0 {
                return Ok(0);
            }
            let next = self
                .rt
                .block_on(async { tokio::time::timeout(self.idle, self.stream.next()).await });
            match next {
                Ok(Some(Ok(b))) => self.chunk = b,
                Ok(Some(Err(e))) => return Err(io_err(e)),
                Ok(None) => return Ok(0),
                Err(_) => {
                    return Err(super::Unavailable::io(format!(
                        "the blob store sent nothing for {:?} mid-body",
                        self.idle
                    )));
                }
            }
        }
        let n = buf
            .len()
            .min(self.chunk.len())
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        self.left -= n as u64;
        Ok(n)
    }
}

fn empty_read(meta: BlobMeta) -> BlobRead {
    BlobRead {
        meta,
        reader: Box::new(io::empty()),
    }
}

impl S3BlobStore {
    /// Lists every object under `dir` (relative to the prefix).
    fn list_under(
        &self,
        dir: &str,
        visit: &mut dyn FnMut(&str, &ObjectMeta) -> io::Result<bool>,
    ) -> io::Result<bool> {
        let base = format!("{}{dir}", self.prefix);
        let path = ObjPath::from(base.as_str());
        let mut stream = self.client.list(Some(&path));
        loop {
            let Some(item) = self.rt.block_on(stream.next()) else {
                return Ok(false);
            };
            let meta = item.map_err(io_err)?;
            let key = meta.location.as_ref();
            let name = key
                .strip_prefix(base.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or("");
            if !name.is_empty() && !name.contains('/') && visit(name, &meta)? {
                return Ok(true);
            }
        }
    }
}

impl BlobStore for S3BlobStore {
    fn create_temp(&self) -> io::Result<TempBlob> {
        self.spool.create_temp()
    }

    fn put(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<bool> {
        let key = self.blob_key(hash);
        // Dedup by a HEAD: conditional PUTs are not implemented by every
        // S3-compatible store, and a race between two uploads of the same
        // bytes writes the same bytes twice, which is harmless.
        if self.head(&key)?.is_some() {
            return Ok(false);
        }
        self.upload(&temp, &key)?;
        drop(temp);
        Ok(true)
    }

    fn replace(&self, temp: TempBlob, hash: &BlobHash) -> io::Result<()> {
        // One PUT (or one completed multipart upload) replaces atomically.
        self.upload(&temp, &self.blob_key(hash))
    }

    fn read_range(&self, hash: &BlobHash, start: u64, len: u64) -> io::Result<BlobRead> {
        let key = self.blob_key(hash);
        // An empty range is not a valid HTTP range: answer it from a HEAD.
        let stat_only = || -> io::Result<BlobRead> {
            let m = self
                .head(&key)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such blob"))?;
            Ok(empty_read(meta_of(&m)))
        };
        if len == 0 {
            return stat_only();
        }
        let range = match start.checked_add(len) {
            _ if start == 0 && len == u64::MAX => None,
            Some(end) => Some(GetRange::Bounded(start..end)),
            None => Some(GetRange::Offset(start)),
        };
        let options = GetOptions {
            range,
            ..Default::default()
        };
        let got = self.rt.block_on(async {
            tokio::time::timeout(
                self.first_byte_timeout,
                self.read_client.get_opts(&key, options),
            )
            .await
        });
        let Ok(got) = got else {
            return Err(super::Unavailable::io(format!(
                "the blob store did not answer a read within {:?}",
                self.first_byte_timeout
            )));
        };
        match got {
            Ok(r) => {
                let meta = meta_of(&r.meta);
                let left = r.range.end - r.range.start;
                Ok(BlobRead {
                    meta,
                    reader: Box::new(StreamReader {
                        rt: self.rt.clone(),
                        idle: self.idle_timeout,
                        stream: r.into_stream(),
                        chunk: Bytes::new(),
                        left,
                    }),
                })
            }
            Err(object_store::Error::NotFound { .. }) => {
                Err(io::Error::new(io::ErrorKind::NotFound, "no such blob"))
            }
            // A start at or past the end (and any empty object) is refused
            // by the store as unsatisfiable: look, and answer nothing.
            Err(e) => match self.head(&key)? {
                Some(m) if start >= m.size => Ok(empty_read(meta_of(&m))),
                Some(_) => Err(io_err(e)),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no such blob")),
            },
        }
    }

    fn stat(&self, hash: &BlobHash) -> io::Result<Option<BlobMeta>> {
        Ok(self.head(&self.blob_key(hash))?.as_ref().map(meta_of))
    }

    fn delete(&self, hash: &BlobHash) -> io::Result<()> {
        match self.rt.block_on(self.client.delete(&self.blob_key(hash))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    fn scan(&self, visit: &mut dyn FnMut(BlobEntry) -> io::Result<bool>) -> io::Result<bool> {
        self.list_under("blobs", &mut |name, m| match parse_hex(name) {
            Some(hash) => visit(BlobEntry {
                hash,
                size: m.size,
                modified: system_time(m),
            }),
            None => Ok(false),
        })
    }

    /// Copy, then delete: a crash between them leaves both, which the next
    /// GC pass resolves as a quarantined blob that is in place again.
    fn quarantine(&self, hash: &BlobHash, at: SystemTime) -> io::Result<TrashEntry> {
        let from = self.blob_key(hash);
        let m = self
            .head(&from)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such blob"))?;
        let entry = TrashEntry {
            hash: *hash,
            size: m.size,
            quarantined_at: at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            modified: system_time(&m),
        };
        let to = self.trash_key(&entry);
        self.rt
            .block_on(self.client.copy(&from, &to))
            .map_err(io_err)?;
        self.delete(hash)?;
        Ok(entry)
    }

    fn list_trash(&self) -> io::Result<Vec<TrashEntry>> {
        let mut out = Vec::new();
        self.list_under("trash", &mut |name, m| {
            let parsed = name
                .split_once('.')
                .and_then(|(at, h)| Some((at.parse::<u64>().ok()?, parse_hex(h)?)));
            if let Some((quarantined_at, hash)) = parsed {
                out.push(TrashEntry {
                    hash,
                    size: m.size,
                    quarantined_at,
                    modified: system_time(m),
                });
            }
            Ok(false)
        })?;
        out.sort_by_key(|e| (e.quarantined_at, e.hash));
        Ok(out)
    }

    fn restore_trashed(&self, entry: &TrashEntry) -> io::Result<()> {
        let to = self.blob_key(&entry.hash);
        if self.head(&to)?.is_none() {
            self.rt
                .block_on(self.client.copy(&self.trash_key(entry), &to))
                .map_err(io_err)?;
        }
        self.purge_trashed(entry)
    }

    fn read_trashed(&self, entry: &TrashEntry) -> io::Result<Box<dyn Read + Send>> {
        let key = self.trash_key(entry);
        let r = match self.rt.block_on(self.read_client.get(&key)) {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(io::Error::new(io::ErrorKind::NotFound, "not in trash"));
            }
            Err(e) => return Err(io_err(e)),
        };
        Ok(Box::new(StreamReader {
            rt: self.rt.clone(),
            idle: self.idle_timeout,
            left: r.meta.size,
            stream: r.into_stream(),
            chunk: Bytes::new(),
        }))
    }

    /// Only ever a key under `trash/`: nothing here can reach a blob.
    fn purge_trashed(&self, entry: &TrashEntry) -> io::Result<()> {
        match self.rt.block_on(self.client.delete(&self.trash_key(entry))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    fn list_temps(&self) -> io::Result<Vec<TempEntry>> {
        self.spool.list_temps()
    }

    fn remove_temp(&self, temp: &TempEntry) -> io::Result<bool> {
        self.spool.remove_temp(temp)
    }

    fn remote_marker(&self) -> io::Result<Option<String>> {
        self.read_marker()
    }

    fn write_remote_marker(&self, text: &str) -> io::Result<()> {
        self.write_marker(text)
    }

    fn simulate_disk_full(&self, on: bool) {
        self.spool.simulate_disk_full(on)
    }

    /// One HEAD of the identity marker, without retries: found or not, the
    /// store answered.
    fn probe(&self) -> io::Result<()> {
        match self.rt.block_on(self.probe_client.head(&self.marker_key())) {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Signing is local work with static credentials (the only kind pixbin
    /// configures), so the future is ready at its first poll and this never
    /// blocks, even on an async worker; were it not, the caller is told no
    /// URL can be had and serves the bytes itself.
    fn presign(&self, hash: &BlobHash, ttl: Duration) -> io::Result<Option<String>> {
        use futures_util::FutureExt;
        use object_store::signer::Signer;
        let key = self.blob_key(hash);
        let signing = self.client.signed_url(hyper::Method::GET, &key, ttl);
        match signing.now_or_never() {
            Some(Ok(url)) => Ok(Some(url.to_string())),
            Some(Err(e)) => Err(io_err(e)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn config(endpoint: &str, timeout: Duration) -> S3Config {
        S3Config {
            bucket: "pix".into(),
            prefix: "img/".into(),
            endpoint: Some(endpoint.into()),
            region: "garage".into(),
            path_style: true,
            access_key_id: Secret::new("GKtest"),
            secret_access_key: Secret::new("very-secret-key"),
            timeout,
            retries: 0,
        }
    }

    #[test]
    fn presigned_urls_name_the_object_and_expire_without_a_request() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens there: signing is local.
        let store = S3BlobStore::open(
            &config("http://127.0.0.1:9", Duration::from_secs(1)),
            dir.path(),
        )
        .unwrap();
        let hash = BlobHash::of(b"signed");
        let url = store
            .presign(&hash, Duration::from_secs(300))
            .unwrap()
            .unwrap();
        let want = format!("http://127.0.0.1:9/pix/img/blobs/{}?", hex(&hash));
        assert!(url.starts_with(&want), "{url}");
        assert!(url.contains("X-Amz-Expires=300"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("GKtest") && !url.contains("very-secret-key"));
    }

    /// A one-object S3 stand-in: answers every GET with `body`, written in
    /// `chunks` pieces with `gap` between them (headers first, at once).
    fn trickling_server(body: Vec<u8>, chunks: usize, gap: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let body = body.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"e1\"\r\n\
                         Last-Modified: Wed, 01 Jan 2025 00:00:00 GMT\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes());
                    for piece in body.chunks(body.len().div_ceil(chunks)) {
                        if conn.write_all(piece).is_err() {
                            return;
                        }
                        std::thread::sleep(gap);
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    fn read_all(store: &S3BlobStore) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        store
            .read_range(&BlobHash::of(b"any"), 0, u64::MAX)?
            .reader
            .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_slow_steady_read_outlives_the_timeout_and_a_stalled_one_fails_in_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        // Eight pieces 300 ms apart: 2.4 s in all, never 1 s of silence.
        let steady = trickling_server(body.clone(), 8, Duration::from_millis(300));
        let store =
            S3BlobStore::open(&config(&steady, Duration::from_secs(1)), dir.path()).unwrap();
        let t = std::time::Instant::now();
        assert_eq!(read_all(&store).unwrap(), body);
        assert!(t.elapsed() > Duration::from_secs(2), "{:?}", t.elapsed());

        // One piece, then 10 s of silence: fails after about the timeout.
        let stalled = trickling_server(body, 2, Duration::from_secs(10));
        let store =
            S3BlobStore::open(&config(&stalled, Duration::from_secs(1)), dir.path()).unwrap();
        let t = std::time::Instant::now();
        let err = read_all(&store).unwrap_err();
        assert!(super::super::is_unavailable(&err), "{err}");
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    }

    #[test]
    fn a_store_that_never_answers_fails_reads_and_probes_in_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        // Accepts connections (the kernel backlog) and never answers.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let store = S3BlobStore::open(&config(&url, Duration::from_secs(1)), dir.path()).unwrap();
        let t = std::time::Instant::now();
        assert!(super::super::is_unavailable(&read_all(&store).unwrap_err()));
        assert!(store.probe().is_err());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(parse_url("s3://pix"), Some(("pix".into(), String::new())));
        assert_eq!(parse_url("s3://pix/"), Some(("pix".into(), String::new())));
        assert_eq!(
            parse_url("s3://pix/a/b/"),
            Some(("pix".into(), "a/b/".into()))
        );
        for bad in [
            "pix",
            "s3://",
            "s3://PIX",
            "s3://pix/../x",
            "s3://pix/a//b",
            "s3://pix/a b",
            "http://pix",
        ] {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
    }
}
