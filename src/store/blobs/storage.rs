//! Which backend keeps the blobs (`--storage`): the data directory's own
//! `blobs/` (the default) or a bucket of an S3-compatible store. Parsed once
//! from flags, environment and the TOML file into a [`Storage`], and turned
//! into a [`BlobStore`] where the store is opened.
//!
//! Credentials come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, or from
//! files named by `PIXBIN_S3_ACCESS_KEY_ID_FILE`/`PIXBIN_S3_SECRET_ACCESS_KEY_FILE`
//! (systemd credentials); they are held as [`Secret`]s, so no log line or
//! `Debug` output ever shows them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::s3::{S3BlobStore, S3Config, parse_url};
use super::{BlobStore, FsBlobStore};
use crate::duration::{Bare, parse_duration};
use crate::secret::Secret;

/// Where the blobs live.
#[derive(Debug, Clone, Default)]
pub enum Storage {
    /// `<data_dir>/blobs` (today's layout).
    #[default]
    Fs,
    /// A bucket (temps still staged in `<data_dir>/tmp`).
    S3(Box<S3Config>),
    /// A backend built by the embedding code; tests wrap one to inject
    /// faults (`FaultyBlobStore`). Counts as remote: it may have a cache.
    Given(Arc<dyn BlobStore>),
}

impl Storage {
    /// The backend over `data_dir`, creating nothing yet (the identity is
    /// judged before anything is written).
    pub fn backend(&self, data_dir: &Path) -> std::io::Result<Arc<dyn BlobStore>> {
        Ok(match self {
            Storage::Fs => Arc::new(FsBlobStore::at(data_dir)),
            Storage::S3(c) => Arc::new(S3BlobStore::open(c, data_dir)?),
            Storage::Given(b) => b.clone(),
        })
    }

    /// Creates what the backend needs on disk once the directory is ours:
    /// `blobs/` and `tmp/`, or only `tmp/` for a bucket.
    pub fn prepare(&self, data_dir: &Path) -> std::io::Result<()> {
        match self {
            Storage::Fs => FsBlobStore::open(data_dir).map(drop),
            Storage::S3(_) => FsBlobStore::spool(data_dir).map(drop),
            Storage::Given(_) => Ok(()),
        }
    }

    /// `fs` or the bucket URL, for logs and the settings page (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Storage::Fs => "fs".into(),
            Storage::S3(c) => format!("s3://{}/{}", c.bucket, c.prefix),
            Storage::Given(b) => format!("{b:?}"),
        }
    }
}

/// The storage flags, global to every command (each opens the store).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StorageArgs {
    /// Where blobs live: `fs` (the data directory) or `s3://bucket/prefix` [default: fs]
    #[arg(long, global = true, env = "PIXBIN_STORAGE")]
    pub storage: Option<String>,
    /// S3 endpoint URL (`http://127.0.0.1:3900` for a local Garage); AWS when unset
    #[arg(long, global = true, env = "PIXBIN_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region used in signatures [default: us-east-1]
    #[arg(long, global = true, env = "PIXBIN_S3_REGION")]
    pub s3_region: Option<String>,
    /// Path-style S3 addressing (`endpoint/bucket/key`): Garage, SeaweedFS, Ceph want it
    #[arg(long, global = true, env = "PIXBIN_S3_PATH_STYLE", num_args = 0..=1, default_missing_value = "true")]
    pub s3_path_style: Option<bool>,
    /// Bound on one S3 request (`10s`) [default: 10s]
    #[arg(long, global = true, env = "PIXBIN_S3_TIMEOUT")]
    pub s3_timeout: Option<String>,
    /// Retries of a failed S3 request, with backoff [default: 3]
    #[arg(long, global = true, env = "PIXBIN_S3_RETRIES")]
    pub s3_retries: Option<usize>,
}

/// The same settings from the TOML file (`storage = "s3://…"`, `s3_endpoint`, …).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct StorageFile {
    /// See [`StorageArgs::storage`].
    pub storage: Option<String>,
    /// See [`StorageArgs::s3_endpoint`].
    pub s3_endpoint: Option<String>,
    /// See [`StorageArgs::s3_region`].
    pub s3_region: Option<String>,
    /// See [`StorageArgs::s3_path_style`].
    pub s3_path_style: Option<bool>,
    /// See [`StorageArgs::s3_timeout`].
    pub s3_timeout: Option<String>,
    /// See [`StorageArgs::s3_retries`].
    pub s3_retries: Option<usize>,
}

/// Reads a credential: the variable itself, or the file its `_FILE` twin names.
fn credential(
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
    file_var: &str,
) -> anyhow::Result<Secret> {
    if let Some(path) = env(file_var).filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(PathBuf::from(&path))
            .with_context(|| format!("reading {file_var} ({path})"))?;
        let v = text.trim_end_matches(['\n', '\r']).to_string();
        if v.is_empty() {
            bail!("{file_var} names an empty file");
        }
        return Ok(Secret::new(v));
    }
    match env(var).filter(|v| !v.is_empty()) {
        Some(v) => Ok(Secret::new(v)),
        None => bail!("S3 storage needs credentials: set {var} or {file_var}"),
    }
}

impl StorageArgs {
    /// Flags and environment over the file over defaults, with credentials
    /// from `env` (the process environment in production).
    pub fn resolve(
        &self,
        file: &StorageFile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Storage> {
        let url = self.storage.as_ref().or(file.storage.as_ref());
        let url = match url.map(|s| s.trim()) {
            None | Some("fs") | Some("") => return Ok(Storage::Fs),
            Some(u) => u,
        };
        let (bucket, prefix) = parse_url(url).with_context(|| {
            format!(
                "storage {url:?} is neither `fs` nor `s3://bucket/prefix` \
                 (bucket: 3-63 lowercase letters, digits, dots, hyphens)"
            )
        })?;
        let endpoint = self
            .s3_endpoint
            .clone()
            .or_else(|| file.s3_endpoint.clone())
            .filter(|e| !e.is_empty());
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            bail!("the S3 endpoint must be an http:// or https:// URL, not {e:?}");
        }
        let timeout = match self.s3_timeout.as_ref().or(file.s3_timeout.as_ref()) {
            Some(t) => parse_duration(t, Bare::Seconds).context("--s3-timeout")?,
            None => Duration::from_secs(10),
        };
        if timeout.is_zero() {
            bail!("--s3-timeout must be above zero");
        }
        let retries = self.s3_retries.or(file.s3_retries).unwrap_or(3);
        if retries > 10 {
            bail!("--s3-retries is at most 10");
        }
        Ok(Storage::S3(Box::new(S3Config {
            bucket,
            prefix,
            endpoint,
            region: self
                .s3_region
                .clone()
                .or_else(|| file.s3_region.clone())
                .unwrap_or_else(|| "us-east-1".into()),
            path_style: self.s3_path_style.or(file.s3_path_style).unwrap_or(false),
            access_key_id: credential(env, "AWS_ACCESS_KEY_ID", "PIXBIN_S3_ACCESS_KEY_ID_FILE")?,
            secret_access_key: credential(
                env,
                "AWS_SECRET_ACCESS_KEY",
                "PIXBIN_S3_SECRET_ACCESS_KEY_FILE",
            )?,
            timeout,
            retries,
        })))
    }
}

/// The process environment, for [`StorageArgs::resolve`].
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn fs_is_the_default_and_s3_takes_flags_over_the_file() {
        let none = env_of(&[]);
        let args = StorageArgs::default();
        assert!(matches!(
            args.resolve(&StorageFile::default(), &none).unwrap(),
            Storage::Fs
        ));
        let file = StorageFile {
            storage: Some("s3://pix/img".into()),
            s3_region: Some("garage".into()),
            s3_path_style: Some(true),
            ..Default::default()
        };
        let err = args.resolve(&file, &none).unwrap_err().to_string();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "GK123"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ]);
        let args = StorageArgs {
            s3_endpoint: Some("http://127.0.0.1:3900".into()),
            s3_timeout: Some("2s".into()),
            ..Default::default()
        };
        let Storage::S3(c) = args.resolve(&file, &env).unwrap() else {
            panic!("s3 expected");
        };
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("pix", "img/"));
        assert_eq!(c.region, "garage");
        assert!(c.path_style);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.retries, 3);
        assert_eq!(c.secret_access_key.expose(), "very-secret");
        assert!(
            !format!("{c:?}").contains("very-secret"),
            "secrets never in Debug"
        );
        let flag_wins = StorageArgs {
            storage: Some("fs".into()),
            ..Default::default()
        };
        assert!(matches!(
            flag_wins.resolve(&file, &env).unwrap(),
            Storage::Fs
        ));
    }

    #[test]
    fn credentials_come_from_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("id");
        let secret = dir.path().join("secret");
        std::fs::write(&id, "GKfile\n").unwrap();
        std::fs::write(&secret, "from-file\n").unwrap();
        let (id, secret) = (id.display().to_string(), secret.display().to_string());
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "GKenv"),
            ("PIXBIN_S3_ACCESS_KEY_ID_FILE", &id),
            ("PIXBIN_S3_SECRET_ACCESS_KEY_FILE", &secret),
        ]);
        let args = StorageArgs {
            storage: Some("s3://pix".into()),
            ..Default::default()
        };
        let Storage::S3(c) = args.resolve(&StorageFile::default(), &env).unwrap() else {
            panic!("s3 expected");
        };
        assert_eq!(c.access_key_id.expose(), "GKfile");
        assert_eq!(c.secret_access_key.expose(), "from-file");
        let bad = StorageArgs {
            storage: Some("s3://pix".into()),
            s3_endpoint: Some("127.0.0.1:3900".into()),
            ..Default::default()
        };
        assert!(bad.resolve(&StorageFile::default(), &env).is_err());
    }
}
