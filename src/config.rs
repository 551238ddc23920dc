//! Raw settings from flags, environment and an optional TOML file, validated into
//! one immutable [`Config`].
//!
//! Precedence is command line, then environment (both handled by clap), then the
//! config file, then the built-in default. [`Config::sources`] remembers which
//! one gave each setting. Changing a setting means a restart, except the few
//! upload defaults the admin UI may change at runtime (`settings`), which sit
//! between the environment and the file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::duration::{Bare, parse_duration};
use crate::media::ImageType;
use crate::media::strip::StripMode;
use crate::secret::Secret;

/// The validated settings of one `pixbin serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Where the database, blobs and temp files live.
    pub data_dir: PathBuf,
    /// Where the blobs live: the data directory or a bucket.
    pub storage: crate::store::blobs::storage::Storage,
    /// Public origin used in every returned link (no trailing slash). `None`
    /// until the listener is bound, then defaulted from its address.
    pub base_url: Option<String>,
    /// Largest accepted image, in bytes.
    pub max_upload_bytes: u64,
    /// Total charged bytes allowed, if limited (`store::quota`).
    pub max_storage_bytes: Option<u64>,
    /// Image rows allowed in all, if limited.
    pub max_images: Option<u64>,
    /// Image rows allowed per upload key and per user, if limited.
    pub max_images_per_key: Option<u64>,
    /// Who may create an account without an admin (`--registration`).
    pub registration: Registration,
    /// The byte quota a new `user` account gets (admins: none).
    pub user_quota_bytes: Option<u64>,
    /// The image quota a new `user` account gets (admins: none).
    pub user_quota_images: Option<u64>,
    /// Image types accepted on upload.
    pub allowed_types: Vec<ImageType>,
    /// Largest accepted width x height.
    pub max_pixels: u64,
    /// Password for the first `admin` account (only read when no user exists).
    pub admin_password: Option<Secret>,
    /// How long a login lasts without refresh.
    pub session_ttl: Duration,
    /// Time allowed to receive a request's headers.
    pub header_timeout: Duration,
    /// Longest silence allowed while receiving a request body.
    pub body_idle_timeout: Duration,
    /// Open connections at most; further ones wait in the kernel backlog.
    pub max_connections: usize,
    /// Open connections per client address (IPv6 by /64) at most; behind a
    /// trusted proxy, requests in flight per forwarded client address.
    pub max_connections_per_ip: usize,
    /// Longest a response write may make no progress (a client that stops
    /// reading) before the connection is closed.
    pub write_timeout: Duration,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// How often buffered view counts are written.
    pub view_flush_interval: Duration,
    /// Whether public fetches are classified and recorded (views, bot hits, statistics).
    pub analytics: bool,
    /// Offline MaxMind-format database giving viewers' countries.
    pub geoip_db: Option<PathBuf>,
    /// Keep viewers' IP addresses in the recent-views log (off: nothing identifying is stored).
    pub store_viewer_ip: bool,
    /// Days of per-day statistics kept.
    pub stats_retention_days: u32,
    /// Entries kept in the recent-views log.
    pub recent_views: u64,
    /// Proxies whose `X-Forwarded-For` is believed; empty trusts no header.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Failed logins allowed per client address within `login_window` (four
    /// times as many per user name) before login answers 429.
    pub login_attempts: u32,
    /// The window of `login_attempts`.
    pub login_window: Duration,
    /// Expiry of uploads that name none; `None` keeps them.
    pub default_expiry: Option<Duration>,
    /// Longest expiry an upload may ask for; `None` allows keeping forever.
    pub max_expiry: Option<Duration>,
    /// Whether uploads that do not say are private.
    pub private_by_default: bool,
    /// How often expired and used-up images are deleted.
    pub sweep_interval: Duration,
    /// How often orphan blobs and stale temp files are collected (also once at start).
    pub gc_interval: Duration,
    /// Files younger than this are never collected by the periodic GC.
    pub gc_grace: Duration,
    /// How long GC keeps orphan blobs in quarantine (`trash/`) before unlinking them.
    pub gc_retention: Duration,
    /// The period in which the scrub re-hashes every blob once.
    pub scrub_interval: Duration,
    /// Bytes per second the scrub reads at most.
    pub scrub_rate: u64,
    /// Bearer token `/metrics` requires; `None` answers only local, unproxied clients.
    pub metrics_token: Option<Secret>,
    /// Which metadata uploads lose before they are stored.
    pub strip_metadata: StripMode,
    /// Whether a thumbnail is queued as soon as an upload commits (otherwise
    /// on its first request or by `pixbin thumbnails`). Not a user setting:
    /// tests turn it off so blob counts do not race the background work.
    pub thumbnail_on_upload: bool,
    /// The local disk cache in front of remote blobs (`--cache-dir`), if any.
    pub disk_cache: Option<crate::store::blobs::cache::DiskCacheConfig>,
    /// With `--s3-redirect`, how long a presigned URL given out stays valid.
    pub s3_redirect: Option<Duration>,
    /// Where each setting came from, by its file name (`max_upload_bytes`).
    pub sources: Sources,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// A `PIXBIN_*` environment variable.
    Env,
    /// The TOML file.
    File,
    /// The built-in default.
    #[default]
    Default,
    /// Changed at runtime in the admin UI, kept in the database (`settings`).
    Database,
}

impl Source {
    /// Whether the operator pinned the value outside pixbin (flag or
    /// environment): runtime changes may not override it.
    pub fn is_pinned(self) -> bool {
        matches!(self, Source::Flag | Source::Env)
    }
}

/// The source of every setting that did not come from its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources(BTreeMap<&'static str, Source>);

impl Sources {
    /// Where `name` came from.
    pub fn get(&self, name: &str) -> Source {
        self.0.get(name).copied().unwrap_or_default()
    }

    /// Records where `name` came from.
    pub fn set(&mut self, name: &'static str, source: Source) {
        self.0.insert(name, source);
    }
}

/// Who may create an account without an admin doing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Registration {
    /// Only admins create accounts (`pixbin user add`, `POST /api/users`).
    #[default]
    Closed,
    /// Also whoever holds an admin's invite link.
    Invite,
    /// Anyone (as a `user`), and invite links work too.
    Open,
}

impl Registration {
    /// Parses `closed`, `invite` or `open`.
    pub fn parse(s: &str) -> Option<Registration> {
        match s {
            "closed" => Some(Registration::Closed),
            "invite" => Some(Registration::Invite),
            "open" => Some(Registration::Open),
            _ => None,
        }
    }

    /// The spelling `parse` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Closed => "closed",
            Registration::Invite => "invite",
            Registration::Open => "open",
        }
    }
}

impl Config {
    /// The quotas a new account of `role` gets: the configured defaults for
    /// users, none for admins.
    pub fn new_account_quota(&self, role: crate::store::codec::Role) -> (Option<u64>, Option<u64>) {
        match role {
            crate::store::codec::Role::Admin => (None, None),
            crate::store::codec::Role::User => (self.user_quota_bytes, self.user_quota_images),
        }
    }

    /// The limits an upload is checked against.
    pub fn quota(&self) -> crate::store::quota::Quota {
        crate::store::quota::Quota {
            bytes: self.max_storage_bytes,
            images: self.max_images,
            images_per_uploader: self.max_images_per_key,
        }
    }

    /// [`Config::default`] with short timeouts and intervals, a known admin
    /// password and a temp data directory, for tests. Every value not named
    /// here is the production default.
    pub fn for_tests(dir: &Path) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            data_dir: dir.to_path_buf(),
            admin_password: Some(Secret::new("test-admin-password")),
            session_ttl: Duration::from_secs(3600),
            header_timeout: Duration::from_secs(2),
            body_idle_timeout: Duration::from_secs(2),
            // Tests open many connections from one address at once.
            max_connections: 256,
            max_connections_per_ip: 256,
            write_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
            view_flush_interval: Duration::from_millis(50),
            sweep_interval: Duration::from_millis(100),
            gc_interval: Duration::from_secs(3600),
            // Tests check uploaded bytes as sent unless they ask for stripping.
            strip_metadata: StripMode::None,
            // Thumbnails are made by the tests that look for them.
            thumbnail_on_upload: false,
            ..Config::default()
        }
    }

    /// The base URL (set once the listener is bound).
    pub fn base_url(&self) -> &str {
        self.base_url.as_deref().unwrap_or("")
    }

    /// Whether links and cookies are for HTTPS (`Secure`, `__Host-` cookies).
    pub fn is_https(&self) -> bool {
        self.base_url().starts_with("https://")
    }
}

/// The production defaults: what [`load`] gives every setting that no flag,
/// environment variable or file sets. The `[default: …]` texts of
/// [`ServeArgs`] describe these values.
impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".parse().expect("literal address"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            storage: Default::default(),
            base_url: None,
            max_upload_bytes: 32 * MIB,
            max_storage_bytes: None,
            max_images: None,
            max_images_per_key: None,
            registration: Registration::Closed,
            user_quota_bytes: None,
            user_quota_images: None,
            allowed_types: ImageType::ALL.to_vec(),
            max_pixels: 100_000_000,
            admin_password: None,
            session_ttl: Duration::from_secs(7 * 86_400),
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_ip: 64,
            write_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            view_flush_interval: Duration::from_millis(500),
            analytics: true,
            geoip_db: None,
            store_viewer_ip: false,
            stats_retention_days: 400,
            recent_views: 10_000,
            trusted_proxies: Vec::new(),
            login_attempts: 5,
            login_window: Duration::from_secs(60),
            default_expiry: None,
            max_expiry: None,
            private_by_default: false,
            sweep_interval: Duration::from_secs(30),
            gc_interval: Duration::from_secs(6 * 3600),
            gc_grace: crate::store::gc::DEFAULT_GRACE,
            gc_retention: crate::store::gc::DEFAULT_RETENTION,
            scrub_interval: DEFAULT_SCRUB_INTERVAL,
            scrub_rate: DEFAULT_SCRUB_RATE,
            metrics_token: None,
            disk_cache: None,
            s3_redirect: None,
            strip_metadata: StripMode::Gps,
            thumbnail_on_upload: true,
            sources: Sources::default(),
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// Default `--data-dir` (systemd units pass `$STATE_DIRECTORY`).
const DEFAULT_DATA_DIR: &str = "./data";

/// Default `--scrub-interval`: every blob re-hashed once a month.
pub const DEFAULT_SCRUB_INTERVAL: Duration = Duration::from_secs(30 * 86_400);
/// Default `--scrub-rate`: a pass over 1 TiB takes about 15 hours at this
/// rate, a small share of a disk's bandwidth while it runs.
pub const DEFAULT_SCRUB_RATE: u64 = 20 * MIB;

/// Settings as given on the command line or in the environment (clap fills these).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "PIXBIN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Public base URL used in returned links, e.g. https://img.example.com [default: http://<listen address>]
    #[arg(long, env = "PIXBIN_BASE_URL")]
    pub base_url: Option<String>,
    /// Largest upload, bytes or with a unit (32MiB) [default: 32MiB]
    #[arg(long, env = "PIXBIN_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<String>,
    /// Total storage limit, bytes or with a unit; each image is charged its blocks and rows (see README) [default: unlimited]
    #[arg(long, env = "PIXBIN_MAX_STORAGE_BYTES")]
    pub max_storage_bytes: Option<String>,
    /// Most images stored in all [default: unlimited]
    #[arg(long, env = "PIXBIN_MAX_IMAGES")]
    pub max_images: Option<u64>,
    /// Most images each upload key (and each user) may hold [default: unlimited]
    #[arg(long, env = "PIXBIN_MAX_IMAGES_PER_KEY")]
    pub max_images_per_key: Option<u64>,
    /// Who may create an account: closed (admins only), invite (with an admin's invite link), open (anyone) [default: closed]
    #[arg(long, env = "PIXBIN_REGISTRATION")]
    pub registration: Option<String>,
    /// Storage quota of each new user account, bytes or with a unit (1GiB) [default: unlimited]
    #[arg(long, env = "PIXBIN_USER_QUOTA_BYTES")]
    pub user_quota_bytes: Option<String>,
    /// Most images each new user account may hold [default: unlimited]
    #[arg(long, env = "PIXBIN_USER_QUOTA_IMAGES")]
    pub user_quota_images: Option<u64>,
    /// Accepted image types, comma-separated [default: png,jpeg,gif,webp,bmp,ico]
    #[arg(long, env = "PIXBIN_ALLOWED_TYPES")]
    pub allowed_types: Option<String>,
    /// Largest width x height accepted [default: 100000000]
    #[arg(long, env = "PIXBIN_MAX_PIXELS")]
    pub max_pixels: Option<u64>,
    /// Password for the first `admin` account, used only when no user exists yet [default: generated and printed once]
    #[arg(long, env = "PIXBIN_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Session lifetime, e.g. 7d, 12h [default: 7d]
    #[arg(long, env = "PIXBIN_SESSION_TTL")]
    pub session_ttl: Option<String>,
    /// Time allowed to send request headers [default: 10s]
    #[arg(long, env = "PIXBIN_HEADER_TIMEOUT")]
    pub header_timeout: Option<String>,
    /// Longest pause allowed inside a request body [default: 30s]
    #[arg(long, env = "PIXBIN_BODY_IDLE_TIMEOUT")]
    pub body_idle_timeout: Option<String>,
    /// Open connections at most [default: 1024]
    #[arg(long, env = "PIXBIN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections per client address (IPv6 by /64; behind a trusted proxy, requests in flight per forwarded address) [default: 64]
    #[arg(long, env = "PIXBIN_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Longest a response may go unread by its client before the connection is closed [default: 30s]
    #[arg(long, env = "PIXBIN_WRITE_TIMEOUT")]
    pub write_timeout: Option<String>,
    /// Record views and statistics (true/false) [default: true]
    #[arg(long, env = "PIXBIN_ANALYTICS")]
    pub analytics: Option<bool>,
    /// MaxMind-format country database (e.g. GeoLite2-Country.mmdb) for viewers' countries [default: none; countries unknown]
    #[arg(long, env = "PIXBIN_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,
    /// Keep viewers' IP addresses in the recent-views log (true/false) [default: false]
    #[arg(long, env = "PIXBIN_STORE_VIEWER_IP")]
    pub store_viewer_ip: Option<bool>,
    /// Days of daily statistics to keep [default: 400]
    #[arg(long, env = "PIXBIN_STATS_RETENTION_DAYS")]
    pub stats_retention_days: Option<u32>,
    /// Entries of the recent-views log to keep [default: 10000]
    #[arg(long, env = "PIXBIN_RECENT_VIEWS")]
    pub recent_views: Option<u64>,
    /// Reverse proxies (comma-separated CIDRs) whose X-Forwarded-For is trusted [default: none]
    #[arg(long, env = "PIXBIN_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Failed logins per client address per login window before 429 [default: 5]
    #[arg(long, env = "PIXBIN_LOGIN_ATTEMPTS")]
    pub login_attempts: Option<u32>,
    /// The window of login attempts, e.g. 60s, 15m [default: 60s]
    #[arg(long, env = "PIXBIN_LOGIN_WINDOW")]
    pub login_window: Option<String>,
    /// Expiry of uploads that name none, e.g. 30d, or never [default: never]
    #[arg(long, env = "PIXBIN_DEFAULT_EXPIRY")]
    pub default_expiry: Option<String>,
    /// Longest expiry an upload may ask for, e.g. 90d, or never for no limit [default: never]
    #[arg(long, env = "PIXBIN_MAX_EXPIRY")]
    pub max_expiry: Option<String>,
    /// Make uploads private unless they say otherwise (true/false) [default: false]
    #[arg(long, env = "PIXBIN_PRIVATE_BY_DEFAULT")]
    pub private_by_default: Option<bool>,
    /// How often to collect orphan blobs and stale temp files [default: 6h]
    #[arg(long, env = "PIXBIN_GC_INTERVAL")]
    pub gc_interval: Option<String>,
    /// Files younger than this are left alone by the periodic GC [default: 1h]
    #[arg(long, env = "PIXBIN_GC_GRACE")]
    pub gc_grace: Option<String>,
    /// How long orphan blobs stay in quarantine (trash/) before GC unlinks them [default: 7d]
    #[arg(long, env = "PIXBIN_GC_RETENTION")]
    pub gc_retention: Option<String>,
    /// Re-hash every blob once within this period, e.g. 30d, 7d [default: 30d]
    #[arg(long, env = "PIXBIN_SCRUB_INTERVAL")]
    pub scrub_interval: Option<String>,
    /// Most bytes per second the scrub reads, e.g. 20MiB [default: 20MiB]
    #[arg(long, env = "PIXBIN_SCRUB_RATE")]
    pub scrub_rate: Option<String>,
    /// Require `Authorization: Bearer <token>` on /metrics [default: local requests only]
    #[arg(long, env = "PIXBIN_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Metadata removed from uploads: gps (location, serial numbers, owner), all (everything but orientation) or none [default: gps]
    #[arg(long, env = "PIXBIN_STRIP_METADATA")]
    pub strip_metadata: Option<String>,
    /// A local disk cache of blobs read from S3 storage, in this directory [default: none]
    #[arg(long, env = "PIXBIN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Most bytes the disk cache keeps, e.g. 2GiB [default: 1GiB]
    #[arg(long, env = "PIXBIN_CACHE_SIZE")]
    pub cache_size: Option<String>,
    /// Answer public GETs of images that never stop being served with a 302 to a presigned S3 URL [default: off]
    #[arg(long, env = "PIXBIN_S3_REDIRECT", num_args = 0..=1, default_missing_value = "true")]
    pub s3_redirect: Option<bool>,
    /// How long a presigned redirect URL stays valid, 10s to 7d [default: 5m]
    #[arg(long, env = "PIXBIN_S3_REDIRECT_TTL")]
    pub s3_redirect_ttl: Option<String>,
    /// Names (as in the file: `max_upload_bytes`) of the settings above whose
    /// value came from the environment rather than a flag; filled from clap's
    /// value sources by `cli::parse`.
    #[arg(skip)]
    pub from_env: BTreeSet<String>,
}

/// The same settings as they may appear in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    base_url: Option<String>,
    max_upload_bytes: Option<toml::Value>,
    max_storage_bytes: Option<toml::Value>,
    max_images: Option<u64>,
    storage: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_path_style: Option<bool>,
    s3_timeout: Option<String>,
    s3_retries: Option<usize>,
    max_images_per_key: Option<u64>,
    registration: Option<String>,
    user_quota_bytes: Option<toml::Value>,
    user_quota_images: Option<u64>,
    allowed_types: Option<Vec<String>>,
    max_pixels: Option<u64>,
    admin_password: Option<String>,
    session_ttl: Option<String>,
    header_timeout: Option<String>,
    body_idle_timeout: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    write_timeout: Option<String>,
    analytics: Option<bool>,
    geoip_db: Option<PathBuf>,
    store_viewer_ip: Option<bool>,
    stats_retention_days: Option<u32>,
    recent_views: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    login_attempts: Option<u32>,
    login_window: Option<String>,
    default_expiry: Option<String>,
    max_expiry: Option<String>,
    private_by_default: Option<bool>,
    strip_metadata: Option<String>,
    gc_interval: Option<String>,
    gc_grace: Option<String>,
    gc_retention: Option<String>,
    scrub_interval: Option<String>,
    scrub_rate: Option<toml::Value>,
    metrics_token: Option<String>,
    cache_dir: Option<PathBuf>,
    cache_size: Option<toml::Value>,
    s3_redirect: Option<bool>,
    s3_redirect_ttl: Option<String>,
}

fn toml_size(v: &toml::Value, what: &str) -> anyhow::Result<u64> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as u64),
        toml::Value::String(s) => parse_size(s).with_context(|| format!("{what}: {s:?}")),
        _ => bail!("{what} must be a non-negative integer or a size string like \"32MiB\""),
    }
}

/// Parses `1048576`, `512K`, `32MiB`, `1GB`, `2 GiB` (binary units for all spellings).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().context("expected a number of bytes")?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        "t" | "tb" | "tib" => 1024 * 1024 * MIB,
        other => bail!("unknown size unit {other:?}"),
    };
    n.checked_mul(mult).context("size too large")
}

fn parse_types(list: &[String]) -> anyhow::Result<Vec<ImageType>> {
    let mut out = Vec::new();
    for t in list.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let ty = ImageType::parse_name(t).with_context(|| {
            format!("unknown image type {t:?} (known: png, jpeg, gif, webp, bmp, ico)")
        })?;
        if !out.contains(&ty) {
            out.push(ty);
        }
    }
    if out.is_empty() {
        bail!("allowed types must name at least one type");
    }
    Ok(out)
}

/// Reads the optional TOML file.
fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

/// Resolves where the blobs live (`--storage` and the `s3_*` settings):
/// flags and environment over the file over `fs`.
pub fn resolve_storage(
    args: &crate::store::blobs::storage::StorageArgs,
    config_file: Option<&Path>,
) -> anyhow::Result<crate::store::blobs::storage::Storage> {
    let f = read_file(config_file)?;
    let file = crate::store::blobs::storage::StorageFile {
        storage: f.storage,
        s3_endpoint: f.s3_endpoint,
        s3_region: f.s3_region,
        s3_path_style: f.s3_path_style,
        s3_timeout: f.s3_timeout,
        s3_retries: f.s3_retries,
    };
    args.resolve(&file, &crate::store::blobs::storage::process_env)
}

/// Resolves the data directory alone (for CLI commands that only need it).
pub fn resolve_data_dir(
    flag: Option<&Path>,
    config_file: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    if let Some(d) = flag {
        return Ok(d.to_path_buf());
    }
    Ok(read_file(config_file)?
        .data_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)))
}

/// Merges flags/env over the file over defaults, and validates.
pub fn load(
    args: &ServeArgs,
    data_dir_flag: Option<&Path>,
    config_file: Option<&Path>,
) -> anyhow::Result<Config> {
    let file = read_file(config_file)?;
    let sources = sources_of(args, &file, data_dir_flag.is_some());
    let d = Config::default();
    let size = |flag: &Option<String>,
                file: &Option<toml::Value>,
                what: &str|
     -> anyhow::Result<Option<u64>> {
        match (flag, file) {
            (Some(s), _) => Ok(Some(
                parse_size(s).with_context(|| format!("{what}: {s:?}"))?,
            )),
            (None, Some(v)) => Ok(Some(toml_size(v, what)?)),
            (None, None) => Ok(None),
        }
    };
    let dur = |flag: &Option<String>,
               file: &Option<String>,
               what: &str,
               default: Duration|
     -> anyhow::Result<Duration> {
        match flag.as_ref().or(file.as_ref()) {
            Some(s) => parse_duration(s, Bare::Seconds).with_context(|| format!("{what}: {s:?}")),
            None => Ok(default),
        }
    };

    let max_upload_bytes = size(
        &args.max_upload_bytes,
        &file.max_upload_bytes,
        "max upload bytes",
    )?
    .unwrap_or(d.max_upload_bytes);
    if max_upload_bytes == 0 {
        bail!("max upload bytes must be above zero");
    }
    let max_storage_bytes = size(
        &args.max_storage_bytes,
        &file.max_storage_bytes,
        "max storage bytes",
    )?;
    let user_quota_bytes = size(
        &args.user_quota_bytes,
        &file.user_quota_bytes,
        "user quota bytes",
    )?;
    let registration = match args
        .registration
        .as_deref()
        .or(file.registration.as_deref())
    {
        None => d.registration,
        Some(r) => Registration::parse(r)
            .with_context(|| format!("registration {r:?}: expected closed, invite or open"))?,
    };
    let allowed_types = match (&args.allowed_types, &file.allowed_types) {
        (Some(s), _) => parse_types(&s.split(',').map(String::from).collect::<Vec<_>>())?,
        (None, Some(v)) => parse_types(v)?,
        (None, None) => d.allowed_types,
    };
    let base_url = match args.base_url.clone().or(file.base_url) {
        Some(u) => Some(validate_base_url(&u)?),
        None => None,
    };
    let max_connections = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(d.max_connections);
    if max_connections == 0 {
        bail!("max connections must be above zero");
    }
    let max_connections_per_ip = args
        .max_connections_per_ip
        .or(file.max_connections_per_ip)
        .unwrap_or(d.max_connections_per_ip);
    if max_connections_per_ip == 0 {
        bail!("max connections per IP must be above zero");
    }
    Ok(Config {
        listen: args.listen.or(file.listen).unwrap_or(d.listen),
        data_dir: data_dir_flag
            .map(Path::to_path_buf)
            .or(file.data_dir)
            .unwrap_or(d.data_dir),
        storage: Default::default(),
        base_url,
        max_upload_bytes,
        max_storage_bytes,
        max_images: args.max_images.or(file.max_images),
        max_images_per_key: args.max_images_per_key.or(file.max_images_per_key),
        registration,
        user_quota_bytes,
        user_quota_images: args.user_quota_images.or(file.user_quota_images),
        allowed_types,
        max_pixels: args.max_pixels.or(file.max_pixels).unwrap_or(d.max_pixels),
        admin_password: args
            .admin_password
            .clone()
            .or(file.admin_password)
            .map(Secret::new),
        session_ttl: dur(
            &args.session_ttl,
            &file.session_ttl,
            "session ttl",
            d.session_ttl,
        )?,
        header_timeout: dur(
            &args.header_timeout,
            &file.header_timeout,
            "header timeout",
            d.header_timeout,
        )?,
        body_idle_timeout: dur(
            &args.body_idle_timeout,
            &file.body_idle_timeout,
            "body idle timeout",
            d.body_idle_timeout,
        )?,
        max_connections,
        max_connections_per_ip,
        write_timeout: match dur(
            &args.write_timeout,
            &file.write_timeout,
            "write timeout",
            d.write_timeout,
        )? {
            d if d.is_zero() => bail!("write timeout must be above zero"),
            d => d,
        },
        shutdown_timeout: d.shutdown_timeout,
        view_flush_interval: d.view_flush_interval,
        analytics: args.analytics.or(file.analytics).unwrap_or(d.analytics),
        geoip_db: args.geoip_db.clone().or(file.geoip_db),
        store_viewer_ip: args
            .store_viewer_ip
            .or(file.store_viewer_ip)
            .unwrap_or(d.store_viewer_ip),
        stats_retention_days: match args
            .stats_retention_days
            .or(file.stats_retention_days)
            .unwrap_or(d.stats_retention_days)
        {
            n @ 1..=3660 => n,
            n => bail!("stats retention days must be 1 to 3660, not {n}"),
        },
        recent_views: match args
            .recent_views
            .or(file.recent_views)
            .unwrap_or(d.recent_views)
        {
            n @ 0..=1_000_000 => n,
            n => bail!("recent views must be at most 1000000, not {n}"),
        },
        trusted_proxies: match (&args.trusted_proxies, &file.trusted_proxies) {
            (Some(s), _) => parse_cidrs(s.split(','))?,
            (None, Some(v)) => parse_cidrs(v.iter().map(String::as_str))?,
            (None, None) => d.trusted_proxies,
        },
        login_attempts: match args
            .login_attempts
            .or(file.login_attempts)
            .unwrap_or(d.login_attempts)
        {
            0 => bail!("login attempts must be above zero"),
            n => n,
        },
        login_window: match dur(
            &args.login_window,
            &file.login_window,
            "login window",
            d.login_window,
        )? {
            d if d.is_zero() => bail!("login window must be above zero"),
            d => d,
        },
        default_expiry: expiry_setting(
            args.default_expiry
                .as_ref()
                .or(file.default_expiry.as_ref()),
            "default expiry",
        )?,
        max_expiry: expiry_setting(
            args.max_expiry.as_ref().or(file.max_expiry.as_ref()),
            "max expiry",
        )?,
        private_by_default: args
            .private_by_default
            .or(file.private_by_default)
            .unwrap_or(d.private_by_default),
        sweep_interval: d.sweep_interval,
        gc_interval: match dur(
            &args.gc_interval,
            &file.gc_interval,
            "gc interval",
            d.gc_interval,
        )? {
            d if d < Duration::from_secs(1) => bail!("gc interval must be at least 1s"),
            d => d,
        },
        gc_grace: dur(&args.gc_grace, &file.gc_grace, "gc grace", d.gc_grace)?,
        gc_retention: dur(
            &args.gc_retention,
            &file.gc_retention,
            "gc retention",
            d.gc_retention,
        )?,
        scrub_interval: match dur(
            &args.scrub_interval,
            &file.scrub_interval,
            "scrub interval",
            d.scrub_interval,
        )? {
            d if d < Duration::from_secs(1) => bail!("scrub interval must be at least 1s"),
            d => d,
        },
        scrub_rate: match size(&args.scrub_rate, &file.scrub_rate, "scrub rate")? {
            Some(0) => bail!("scrub rate must be above zero"),
            Some(n) => n,
            None => d.scrub_rate,
        },
        metrics_token: args
            .metrics_token
            .clone()
            .or(file.metrics_token)
            .filter(|t| !t.trim().is_empty())
            .map(Secret::new),
        strip_metadata: match args
            .strip_metadata
            .as_ref()
            .or(file.strip_metadata.as_ref())
        {
            Some(s) => StripMode::parse(s)
                .with_context(|| format!("strip metadata: {s:?} (use gps, all or none)"))?,
            None => d.strip_metadata,
        },
        thumbnail_on_upload: d.thumbnail_on_upload,
        disk_cache: match (
            args.cache_dir.clone().or(file.cache_dir),
            size(&args.cache_size, &file.cache_size, "cache size")?,
        ) {
            (None, None) => None,
            (None, Some(_)) => bail!("--cache-size needs --cache-dir"),
            (Some(_), Some(0)) => bail!("cache size must be above zero"),
            (Some(dir), size) => Some(crate::store::blobs::cache::DiskCacheConfig {
                dir,
                size: size.unwrap_or(DEFAULT_CACHE_SIZE),
            }),
        },
        s3_redirect: match args.s3_redirect.or(file.s3_redirect).unwrap_or(false) {
            false if args.s3_redirect_ttl.is_some() || file.s3_redirect_ttl.is_some() => {
                bail!("--s3-redirect-ttl needs --s3-redirect")
            }
            false => None,
            true => match dur(
                &args.s3_redirect_ttl,
                &file.s3_redirect_ttl,
                "s3 redirect ttl",
                DEFAULT_REDIRECT_TTL,
            )? {
                // SigV4 presigned URLs live at most 7 days; below 10 s a slow
                // client could not follow the redirect in time.
                t if t < Duration::from_secs(10) || t > Duration::from_secs(7 * 86_400) => {
                    bail!("--s3-redirect-ttl must be between 10s and 7d")
                }
                t => Some(t),
            },
        },
        sources,
    })
}

/// The disk cache's size when only `--cache-dir` is given.
const DEFAULT_CACHE_SIZE: u64 = 1024 * MIB;

/// How long a presigned redirect stays valid unless `--s3-redirect-ttl` says.
const DEFAULT_REDIRECT_TTL: Duration = Duration::from_secs(300);

impl Config {
    /// Refuses the settings that only make sense with remote blobs (the
    /// disk cache, redirects) on filesystem storage, where the blobs are
    /// already local and there is no bucket to sign for.
    pub fn check_storage_options(&self) -> anyhow::Result<()> {
        let remote = !matches!(self.storage, crate::store::blobs::storage::Storage::Fs);
        if !remote && self.disk_cache.is_some() {
            bail!(
                "--cache-dir needs S3 storage: with --storage fs the blobs are already on local disk"
            );
        }
        if !remote && self.s3_redirect.is_some() {
            bail!("--s3-redirect needs S3 storage (--storage s3://bucket/prefix)");
        }
        Ok(())
    }
}

/// Where each setting comes from: a flag or the environment (clap merged
/// both into `args`; `args.from_env` tells them apart), else the file, else
/// the default.
fn sources_of(args: &ServeArgs, file: &FileConfig, data_dir_flag: bool) -> Sources {
    let mut out = Sources::default();
    let mut note = |name: &'static str, in_args: bool, in_file: bool| {
        let source = if in_args {
            if args.from_env.contains(name) {
                Source::Env
            } else {
                Source::Flag
            }
        } else if in_file {
            Source::File
        } else {
            return;
        };
        out.set(name, source);
    };
    let a = args;
    let f = file;
    note("listen", a.listen.is_some(), f.listen.is_some());
    note("data_dir", data_dir_flag, f.data_dir.is_some());
    note("base_url", a.base_url.is_some(), f.base_url.is_some());
    note(
        "max_upload_bytes",
        a.max_upload_bytes.is_some(),
        f.max_upload_bytes.is_some(),
    );
    note(
        "max_storage_bytes",
        a.max_storage_bytes.is_some(),
        f.max_storage_bytes.is_some(),
    );
    note("max_images", a.max_images.is_some(), f.max_images.is_some());
    note(
        "max_images_per_key",
        a.max_images_per_key.is_some(),
        f.max_images_per_key.is_some(),
    );
    note(
        "registration",
        a.registration.is_some(),
        f.registration.is_some(),
    );
    note(
        "user_quota_bytes",
        a.user_quota_bytes.is_some(),
        f.user_quota_bytes.is_some(),
    );
    note(
        "user_quota_images",
        a.user_quota_images.is_some(),
        f.user_quota_images.is_some(),
    );
    note(
        "allowed_types",
        a.allowed_types.is_some(),
        f.allowed_types.is_some(),
    );
    note("max_pixels", a.max_pixels.is_some(), f.max_pixels.is_some());
    note(
        "admin_password",
        a.admin_password.is_some(),
        f.admin_password.is_some(),
    );
    note(
        "session_ttl",
        a.session_ttl.is_some(),
        f.session_ttl.is_some(),
    );
    note(
        "header_timeout",
        a.header_timeout.is_some(),
        f.header_timeout.is_some(),
    );
    note(
        "body_idle_timeout",
        a.body_idle_timeout.is_some(),
        f.body_idle_timeout.is_some(),
    );
    note(
        "max_connections",
        a.max_connections.is_some(),
        f.max_connections.is_some(),
    );
    note("analytics", a.analytics.is_some(), f.analytics.is_some());
    note("geoip_db", a.geoip_db.is_some(), f.geoip_db.is_some());
    note(
        "store_viewer_ip",
        a.store_viewer_ip.is_some(),
        f.store_viewer_ip.is_some(),
    );
    note(
        "stats_retention_days",
        a.stats_retention_days.is_some(),
        f.stats_retention_days.is_some(),
    );
    note(
        "recent_views",
        a.recent_views.is_some(),
        f.recent_views.is_some(),
    );
    note(
        "trusted_proxies",
        a.trusted_proxies.is_some(),
        f.trusted_proxies.is_some(),
    );
    note(
        "login_attempts",
        a.login_attempts.is_some(),
        f.login_attempts.is_some(),
    );
    note(
        "login_window",
        a.login_window.is_some(),
        f.login_window.is_some(),
    );
    note(
        "default_expiry",
        a.default_expiry.is_some(),
        f.default_expiry.is_some(),
    );
    note("max_expiry", a.max_expiry.is_some(), f.max_expiry.is_some());
    note(
        "private_by_default",
        a.private_by_default.is_some(),
        f.private_by_default.is_some(),
    );
    note(
        "gc_interval",
        a.gc_interval.is_some(),
        f.gc_interval.is_some(),
    );
    note("gc_grace", a.gc_grace.is_some(), f.gc_grace.is_some());
    note(
        "metrics_token",
        a.metrics_token.is_some(),
        f.metrics_token.is_some(),
    );
    note(
        "strip_metadata",
        a.strip_metadata.is_some(),
        f.strip_metadata.is_some(),
    );
    out
}

/// `never` (or unset) is `None`; otherwise a duration such as `30d`.
fn expiry_setting(v: Option<&String>, what: &str) -> anyhow::Result<Option<Duration>> {
    match v.map(|s| s.trim()) {
        None | Some("never") | Some("") => Ok(None),
        Some(s) => {
            let d = crate::duration::expiry_duration(s)
                .with_context(|| format!("{what}: {s:?} (use e.g. 12h, 7d, 4w or never)"))?;
            Ok(Some(d))
        }
    }
}

/// Parses CIDRs (`10.0.0.0/8`, `::1/128`); a bare address means that one host.
pub fn parse_cidrs<'a>(items: impl Iterator<Item = &'a str>) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let mut out = Vec::new();
    for item in items.map(str::trim).filter(|s| !s.is_empty()) {
        let net = match item.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => item
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .with_context(|| format!("trusted proxy {item:?} is not an address or CIDR"))?,
        };
        out.push(net);
    }
    Ok(out)
}

/// Accepts `http(s)://host[:port][/prefix]`, returned without a trailing slash.
pub fn validate_base_url(u: &str) -> anyhow::Result<String> {
    let trimmed = u.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .with_context(|| format!("base URL {u:?} must start with http:// or https://"))?;
    if rest.is_empty()
        || rest.contains(['?', '#', ' ', '"', '\'', '<', '>', '\\'])
        || rest.starts_with('/')
    {
        bail!(
            "base URL {u:?} must be an origin with an optional path, e.g. https://img.example.com"
        );
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("32MiB").unwrap(), 32 * MIB);
        assert_eq!(parse_size("512k").unwrap(), 512 * 1024);
        assert_eq!(parse_size("1048576").unwrap(), MIB);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("-1").is_err());
        let p = |s| parse_duration(s, Bare::Seconds);
        assert_eq!(p("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(p("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(p("1w").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(p("30").unwrap(), Duration::from_secs(30));
        assert!(p("1y").is_err());
    }

    #[test]
    fn base_url_is_validated() {
        assert_eq!(
            validate_base_url("https://img.example.com/").unwrap(),
            "https://img.example.com"
        );
        assert_eq!(
            validate_base_url("http://10.0.0.2:8080/pix").unwrap(),
            "http://10.0.0.2:8080/pix"
        );
        assert!(validate_base_url("img.example.com").is_err());
        assert!(validate_base_url("javascript:alert(1)").is_err());
        assert!(validate_base_url("https://a.example/?x").is_err());
    }

    /// Nothing set anywhere gives exactly `Config::default()`, and the
    /// defaults are the documented ones (a changed default fails here).
    #[test]
    fn load_without_settings_is_the_default() {
        let loaded = load(&ServeArgs::default(), None, None).unwrap();
        assert_eq!(format!("{loaded:?}"), format!("{:?}", Config::default()));
        assert_eq!(loaded.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(loaded.data_dir, PathBuf::from("./data"));
        assert_eq!(loaded.max_upload_bytes, 32 * MIB);
        assert_eq!(loaded.session_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(loaded.max_connections_per_ip, 64);
        assert_eq!(loaded.gc_interval, Duration::from_secs(6 * 3600));
        assert_eq!(loaded.strip_metadata, StripMode::Gps);
        assert!(loaded.thumbnail_on_upload);
        // The test config only overrides, it never invents a default.
        let t = Config::for_tests(Path::new("/nonexistent"));
        assert_eq!(t.max_upload_bytes, loaded.max_upload_bytes);
        assert_eq!(t.gc_retention, loaded.gc_retention);
        assert_eq!(t.scrub_rate, loaded.scrub_rate);
    }

    #[test]
    fn the_cache_and_redirects_need_remote_storage_and_sane_values() {
        let cached = ServeArgs {
            cache_dir: Some("/var/cache/pixbin".into()),
            cache_size: Some("2GiB".into()),
            ..Default::default()
        };
        let c = load(&cached, None, None).unwrap();
        let cache = c.disk_cache.clone().unwrap();
        assert_eq!(
            (cache.dir.to_str(), cache.size),
            (Some("/var/cache/pixbin"), 2048 * MIB)
        );
        let err = c.check_storage_options().unwrap_err().to_string();
        assert!(err.contains("--cache-dir needs S3 storage"), "{err}");
        let bad = |args: ServeArgs| load(&args, None, None).is_err();
        assert!(bad(ServeArgs {
            cache_size: Some("1GiB".into()),
            ..Default::default()
        }));
        assert!(bad(ServeArgs {
            s3_redirect_ttl: Some("1m".into()),
            ..Default::default()
        }));
        for ttl in ["5s", "8d"] {
            assert!(bad(ServeArgs {
                s3_redirect: Some(true),
                s3_redirect_ttl: Some(ttl.into()),
                ..Default::default()
            }));
        }
        let redirect = ServeArgs {
            s3_redirect: Some(true),
            ..Default::default()
        };
        let c = load(&redirect, None, None).unwrap();
        assert_eq!(c.s3_redirect, Some(Duration::from_secs(300)));
        assert!(c.check_storage_options().is_err(), "no bucket to sign for");
        let on_s3 = Config {
            storage: crate::store::blobs::storage::Storage::Given(std::sync::Arc::new(
                crate::store::blobs::MemBlobStore::new(),
            )),
            ..c
        };
        assert!(on_s3.check_storage_options().is_ok());
    }

    #[test]
    fn precedence_is_flag_then_file_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pixbin.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\nmax_upload_bytes = \"1MiB\"\nallowed_types = [\"png\", \"jpg\"]\ndata_dir = \"/srv/pix\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            max_upload_bytes: Some("2MiB".into()),
            ..Default::default()
        };
        let c = load(&args, None, Some(&file)).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.max_upload_bytes, 2 * MIB);
        assert_eq!(c.allowed_types, vec![ImageType::Png, ImageType::Jpeg]);
        assert_eq!(c.data_dir, PathBuf::from("/srv/pix"));
        assert_eq!(c.max_storage_bytes, None);
        assert_eq!(c.sources.get("listen"), Source::File);
        assert_eq!(c.sources.get("max_upload_bytes"), Source::Flag);
        assert_eq!(c.sources.get("max_storage_bytes"), Source::Default);
        let from_env = ServeArgs {
            max_upload_bytes: Some("2MiB".into()),
            from_env: ["max_upload_bytes".to_string()].into(),
            ..Default::default()
        };
        let c = load(&from_env, None, Some(&file)).unwrap();
        assert_eq!(c.sources.get("max_upload_bytes"), Source::Env);
        let c = load(&ServeArgs::default(), None, None).unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.max_upload_bytes, 32 * MIB);
        assert_eq!(c.sources.get("listen"), Source::Default);
        std::fs::write(&file, "listne = 1\n").unwrap();
        assert!(load(&ServeArgs::default(), None, Some(&file)).is_err());
    }
}
