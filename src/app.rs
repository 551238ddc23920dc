//! Start-up: open the data directory, create the first account and upload key,
//! and assemble the shared state. Used by `pixbin serve` and by the tests.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::analytics::{self, Writer};
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::{password, upload_key};
use crate::clock;
use crate::config::Config;
use crate::http::assets::AdminUi;
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::Store;
use crate::store::codec::UserRecord;

/// Secrets created on this start (printed once by `serve`, never again).
#[derive(Debug, Default)]
pub struct Created {
    /// The generated password of the first `admin` account, if one was generated.
    pub admin_password: Option<Secret>,
    /// Whether the first account was created on this start.
    pub admin_created: bool,
    /// The first upload key, if it was created on this start.
    pub upload_key: Option<Secret>,
}

/// A started application: its state, its background writer, what it created.
#[derive(Debug)]
pub struct App {
    /// Shared by every request.
    pub state: Arc<AppState>,
    /// The view writer, to flush on shutdown.
    pub writer: Writer,
    /// First-run secrets.
    pub created: Created,
}

/// Opens the store and creates the first account and key when there are none.
pub fn bootstrap(store: &Store, config: &Config) -> anyhow::Result<Created> {
    let mut created = Created::default();
    if store.user_count()? == 0 {
        let (pw, generated) = match &config.admin_password {
            Some(p) => (p.clone(), false),
            None => (Secret::new(password::generate()), true),
        };
        store.put_user(
            "admin",
            &UserRecord {
                password_hash: password::hash(pw.expose()),
                created_at: clock::now_ms(),
            },
        )?;
        created.admin_created = true;
        if generated {
            created.admin_password = Some(pw);
        }
    }
    if store.key_count()? == 0 {
        let key = upload_key::generate();
        store.create_key(
            &upload_key::hash(key.expose()),
            "default",
            &upload_key::display_prefix(key.expose()),
            clock::now_ms(),
            Default::default(),
        )?;
        created.upload_key = Some(key);
    }
    Ok(created)
}

/// Opens everything for serving on `listener`. The base URL defaults to the
/// listener's address when none is configured.
pub async fn start(mut config: Config, listener: &TcpListener) -> anyhow::Result<App> {
    if config.base_url.is_none() {
        let addr = listener.local_addr()?;
        config.base_url = Some(format!("http://{addr}"));
    }
    let dir = config.data_dir.clone();
    let cfg = config.clone();
    let (store, created, runtime) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = Store::open_on(&dir, crate::store::identity::Claim::Verify, &cfg.storage)
            .with_context(|| format!("opening data directory {}", dir.display()))?;
        tracing::info!(storage = %cfg.storage.describe(), "blob storage");
        let stale = store.purge_temps()?;
        if stale > 0 {
            tracing::info!(files = stale, "removed temp files left by an earlier run");
        }
        let created = bootstrap(&store, &cfg)?;
        let runtime = crate::settings::Runtime::from_stored(&store.runtime_settings()?);
        let turned = store.orient_dimensions()?;
        if turned > 0 {
            tracing::info!(
                images = turned,
                "stored width and height as displayed (EXIF orientation)"
            );
        }
        Ok((Arc::new(store), created, runtime))
    })
    .await??;
    let (views, writer) = analytics::start(store.clone(), &config).await?;
    let logins = LoginLimiter::new(config.login_attempts, config.login_window);
    // Thumbnails decode on their own threads, one per core (see `thumbnails`).
    let thumbs = crate::thumbnails::Thumbnailer::start(
        store.clone(),
        crate::thumbnails::default_workers(),
        crate::media::thumbnail::ThumbLimits {
            max_pixels: config.max_pixels,
            ..Default::default()
        },
        config.max_storage_bytes,
    )
    .context("starting the thumbnail workers")?;
    let control = crate::ops::control::publish(&config.data_dir, listener.local_addr()?)
        .context("writing the control file")?;
    let state = Arc::new(AppState {
        config,
        store: store.clone(),
        views,
        admin: AdminUi::load(),
        logins,
        thumbs,
        metrics: crate::metrics::Metrics::default(),
        control,
        blob_cache: Default::default(),
        chunks: Default::default(),
        view_limits: crate::view_limits::ViewLimits::start(store.clone()),
        settings: crate::settings::Settings::new(runtime),
    });
    tokio::spawn(crate::ops::collect_garbage_periodically(state.clone()));
    tokio::spawn(crate::ops::scrub::run(state.clone()));
    tokio::spawn(purge_sessions(store.clone()));
    tokio::spawn(crate::lifecycle::sweeper(
        store,
        state.config.sweep_interval,
    ));
    Ok(App {
        state,
        writer,
        created,
    })
}

/// Drops expired sessions hourly so the table does not grow without bound.
async fn purge_sessions(store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.purge_sessions(clock::now_ms())).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(sessions = n, "purged expired sessions"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not purge sessions"),
            _ => {}
        }
    }
}
