//! Settings the admin UI may change while the server runs, and the effective
//! configuration it shows.
//!
//! Four upload defaults are safe to change at runtime: private by default,
//! the default expiry, the metadata strip mode and the allowed types. They are
//! kept in the database (`store::settings`) and sit between the environment
//! and the file: a value pinned by a flag or a `PIXBIN_*` variable always wins
//! (the UI cannot change it, 409 `set_by_environment`), a runtime value beats
//! the file and the default. Every upload reads [`Settings::effective`], so a
//! change applies to the next upload, from the API and the UI alike.

use std::sync::RwLock;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{Config, Source};
use crate::lifecycle::fmt_duration;
use crate::media::ImageType;
use crate::media::strip::StripMode;

/// Runtime values set in the UI; `None` means "not set at runtime".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runtime {
    /// `private_by_default`.
    pub private_by_default: Option<bool>,
    /// `default_expiry`: `Some(None)` is "never".
    pub default_expiry: Option<Option<Duration>>,
    /// `strip_metadata`.
    pub strip_metadata: Option<StripMode>,
    /// `allowed_types`.
    pub allowed_types: Option<Vec<ImageType>>,
}

/// The names of the runtime settings, as in the config file.
pub const RUNTIME_NAMES: [&str; 4] = [
    "private_by_default",
    "default_expiry",
    "strip_metadata",
    "allowed_types",
];

fn strip_code(m: StripMode) -> u64 {
    match m {
        StripMode::None => 0,
        StripMode::Gps => 1,
        StripMode::All => 2,
    }
}

impl Runtime {
    /// Decodes the stored numbers; an unknown number reads as "not set", so
    /// a damaged value falls back to the file or the default.
    pub fn from_stored(values: &std::collections::BTreeMap<String, u64>) -> Runtime {
        let get = |n: &str| values.get(n).copied();
        Runtime {
            private_by_default: get("private_by_default").and_then(|v| match v {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            }),
            default_expiry: get("default_expiry").map(|s| (s > 0).then(|| Duration::from_secs(s))),
            strip_metadata: get("strip_metadata").and_then(|v| match v {
                0 => Some(StripMode::None),
                1 => Some(StripMode::Gps),
                2 => Some(StripMode::All),
                _ => None,
            }),
            allowed_types: get("allowed_types").and_then(|mask| {
                let types: Vec<ImageType> = ImageType::ALL
                    .into_iter()
                    .filter(|t| mask & (1 << t.code()) != 0)
                    .collect();
                (!types.is_empty()).then_some(types)
            }),
        }
    }

    /// The numbers to store for the values that are set.
    pub fn to_stored(&self) -> Vec<(&'static str, u64)> {
        let mut out = Vec::new();
        if let Some(p) = self.private_by_default {
            out.push(("private_by_default", u64::from(p)));
        }
        if let Some(e) = self.default_expiry {
            out.push(("default_expiry", e.map_or(0, |d| d.as_secs().max(1))));
        }
        if let Some(m) = self.strip_metadata {
            out.push(("strip_metadata", strip_code(m)));
        }
        if let Some(t) = &self.allowed_types {
            out.push((
                "allowed_types",
                t.iter().fold(0, |mask, t| mask | (1 << t.code())),
            ));
        }
        out
    }

    /// Whether `name` has a runtime value.
    pub fn has(&self, name: &str) -> bool {
        match name {
            "private_by_default" => self.private_by_default.is_some(),
            "default_expiry" => self.default_expiry.is_some(),
            "strip_metadata" => self.strip_metadata.is_some(),
            "allowed_types" => self.allowed_types.is_some(),
            _ => false,
        }
    }

    /// `self` with every value `change` sets replaced.
    pub fn merged(&self, change: &Runtime) -> Runtime {
        Runtime {
            private_by_default: change.private_by_default.or(self.private_by_default),
            default_expiry: change.default_expiry.or(self.default_expiry),
            strip_metadata: change.strip_metadata.or(self.strip_metadata),
            allowed_types: change
                .allowed_types
                .clone()
                .or_else(|| self.allowed_types.clone()),
        }
    }
}

/// The runtime values in force, shared by every request.
#[derive(Debug, Default)]
pub struct Settings {
    runtime: RwLock<Runtime>,
}

impl Settings {
    /// Starts from the values stored in the database.
    pub fn new(runtime: Runtime) -> Settings {
        Settings {
            runtime: RwLock::new(runtime),
        }
    }

    /// The runtime values now.
    pub fn runtime(&self) -> Runtime {
        self.runtime
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the runtime values (after they were stored).
    pub fn replace(&self, runtime: Runtime) {
        *self.runtime.write().unwrap_or_else(|p| p.into_inner()) = runtime;
    }

    /// `config` with the runtime values applied where no flag or environment
    /// variable pins the setting; their source becomes `database`.
    pub fn effective(&self, config: &Config) -> Config {
        apply(config, &self.runtime())
    }
}

/// `config` with `runtime` applied (see [`Settings::effective`]).
pub fn apply(config: &Config, runtime: &Runtime) -> Config {
    let mut c = config.clone();
    let free = |name: &str| !config.sources.get(name).is_pinned();
    if let Some(p) = runtime.private_by_default
        && free("private_by_default")
    {
        c.private_by_default = p;
        c.sources.set("private_by_default", Source::Database);
    }
    if let Some(e) = runtime.default_expiry
        && free("default_expiry")
    {
        c.default_expiry = e;
        c.sources.set("default_expiry", Source::Database);
    }
    if let Some(m) = runtime.strip_metadata
        && free("strip_metadata")
    {
        c.strip_metadata = m;
        c.sources.set("strip_metadata", Source::Database);
    }
    if let Some(t) = &runtime.allowed_types
        && free("allowed_types")
    {
        c.allowed_types = t.clone();
        c.sources.set("allowed_types", Source::Database);
    }
    c
}

/// The default expiry an upload without one gets (before any key policy):
/// the configured default, clamped to the maximum; the maximum when there is
/// no default (as `lifecycle::resolve_expiry` does).
pub fn effective_default_expiry(c: &Config) -> Option<Duration> {
    match (c.default_expiry, c.max_expiry) {
        (Some(d), Some(m)) => Some(d.min(m)),
        (d, m) => d.or(m),
    }
}

/// One row of the effective configuration.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The setting's name in the config file (`max_upload_bytes`).
    pub name: &'static str,
    /// Its `PIXBIN_*` environment variable.
    pub env: String,
    /// The value in force; secrets show as `"(set)"`, never themselves.
    pub value: Value,
    /// Where it came from.
    pub source: Source,
    /// Whether the admin UI may change it at runtime.
    pub runtime: bool,
    /// A runtime value is stored but a flag or the environment wins over it.
    pub overridden_by_env: bool,
}

fn dur(d: Duration) -> Value {
    json!(fmt_duration(d))
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn secret<T>(v: &Option<T>) -> Value {
    if v.is_some() {
        json!("(set)")
    } else {
        Value::Null
    }
}

/// Every setting of `effective` (a config with the runtime values applied),
/// its value and source.
pub fn entries(effective: &Config, runtime: &Runtime) -> Vec<Entry> {
    let c = effective;
    let types = |t: &[ImageType]| json!(t.iter().map(|t| t.name()).collect::<Vec<_>>());
    let rows: Vec<(&'static str, Value)> = vec![
        ("listen", json!(c.listen.to_string())),
        ("data_dir", json!(c.data_dir.display().to_string())),
        ("base_url", json!(c.base_url())),
        ("max_upload_bytes", json!(c.max_upload_bytes)),
        ("max_storage_bytes", opt(c.max_storage_bytes)),
        ("max_images", opt(c.max_images)),
        ("max_images_per_key", opt(c.max_images_per_key)),
        ("allowed_types", types(&c.allowed_types)),
        ("max_pixels", json!(c.max_pixels)),
        ("admin_password", secret(&c.admin_password)),
        ("session_ttl", dur(c.session_ttl)),
        ("header_timeout", dur(c.header_timeout)),
        ("body_idle_timeout", dur(c.body_idle_timeout)),
        ("max_connections", json!(c.max_connections)),
        ("analytics", json!(c.analytics)),
        // A path, not the database's contents.
        (
            "geoip_db",
            opt(c.geoip_db.as_ref().map(|p| p.display().to_string())),
        ),
        ("store_viewer_ip", json!(c.store_viewer_ip)),
        ("stats_retention_days", json!(c.stats_retention_days)),
        ("recent_views", json!(c.recent_views)),
        (
            "trusted_proxies",
            json!(
                c.trusted_proxies
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
            ),
        ),
        ("login_attempts", json!(c.login_attempts)),
        ("login_window", dur(c.login_window)),
        (
            "default_expiry",
            c.default_expiry.map_or(json!("never"), dur),
        ),
        ("max_expiry", c.max_expiry.map_or(json!("never"), dur)),
        ("private_by_default", json!(c.private_by_default)),
        ("gc_interval", dur(c.gc_interval)),
        ("gc_grace", dur(c.gc_grace)),
        ("metrics_token", secret(&c.metrics_token)),
        ("strip_metadata", json!(c.strip_metadata.name())),
    ];
    rows.into_iter()
        .map(|(name, value)| {
            let source = c.sources.get(name);
            Entry {
                name,
                env: format!("PIXBIN_{}", name.to_ascii_uppercase()),
                value,
                source,
                runtime: RUNTIME_NAMES.contains(&name),
                overridden_by_env: runtime.has(name) && source.is_pinned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(r: &Runtime) -> std::collections::BTreeMap<String, u64> {
        r.to_stored()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn stored_values_round_trip_and_bad_numbers_are_unset() {
        let r = Runtime {
            private_by_default: Some(true),
            default_expiry: Some(Some(Duration::from_secs(86_400))),
            strip_metadata: Some(StripMode::All),
            allowed_types: Some(vec![ImageType::Png, ImageType::Webp]),
        };
        assert_eq!(Runtime::from_stored(&stored(&r)), r);
        let never = Runtime {
            default_expiry: Some(None),
            ..Default::default()
        };
        assert_eq!(Runtime::from_stored(&stored(&never)), never);
        let junk = [
            ("private_by_default".to_string(), 7),
            ("strip_metadata".to_string(), 9),
            ("allowed_types".to_string(), 1),
        ]
        .into();
        assert_eq!(Runtime::from_stored(&junk), Runtime::default());
    }

    #[test]
    fn pinned_settings_keep_their_value_and_secrets_never_show() {
        let mut c = Config::for_tests(std::path::Path::new("/tmp/x"));
        c.sources.set("private_by_default", Source::Env);
        c.metrics_token = Some(crate::secret::Secret::new("hunter2"));
        let r = Runtime {
            private_by_default: Some(true),
            strip_metadata: Some(StripMode::All),
            ..Default::default()
        };
        let e = apply(&c, &r);
        assert!(!e.private_by_default);
        assert_eq!(e.strip_metadata, StripMode::All);
        let rows = entries(&e, &r);
        let row = |n: &str| rows.iter().find(|x| x.name == n).unwrap();
        assert!(row("private_by_default").overridden_by_env);
        assert_eq!(row("private_by_default").source, Source::Env);
        assert_eq!(row("strip_metadata").source, Source::Database);
        assert_eq!(row("metrics_token").value, json!("(set)"));
        assert_eq!(row("admin_password").value, json!("(set)"));
        let text = serde_json::to_string(&rows).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("test-admin-password"));
    }
}
