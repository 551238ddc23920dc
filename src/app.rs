//! Start-up: open the data directory, create the first account and upload key,
//! and assemble the shared state (`start`, used by the tests too); and
//! `pixbin serve` around it: bind, serve, stop on a signal or a database
//! failure.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::analytics;
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::{password, upload_key};
use crate::clock;
use crate::config::Config;
use crate::http::assets::AdminUi;
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::Store;
use crate::store::codec::{Role, UserRecord};

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

/// A started application: its state, its background tasks, what it created.
#[derive(Debug)]
pub struct App {
    /// Shared by every request.
    pub state: Arc<AppState>,
    /// The background tasks, to stop (and drain) after the server stopped.
    pub tasks: crate::tasks::Tasks,
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
            &UserRecord::new(
                password::hash(pw.expose()),
                Role::Admin,
                (None, None),
                clock::now_ms(),
            ),
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
            ("default", &store.oldest_admin()?.unwrap_or_default()),
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
    config.check_storage_options()?;
    let dir = config.data_dir.clone();
    let cfg = config.clone();
    let (store, created, runtime) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = Store::open_cached(
            &dir,
            crate::store::identity::Claim::Verify,
            &cfg.storage,
            cfg.disk_cache.as_ref(),
        )
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
    let (views, writer) = analytics::open(store.clone(), &config).await?;
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
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let view_limits = crate::view_limits::ViewLimits::new(store.clone());
    let state = Arc::new(AppState {
        config,
        store: store.clone(),
        views,
        admin: AdminUi::load(),
        logins,
        thumbs,
        metrics: metrics.clone(),
        control,
        blob_cache: Default::default(),
        chunks: Default::default(),
        view_limits: view_limits.clone(),
        settings: crate::settings::Settings::new(runtime),
        readiness: Default::default(),
    });
    let tasks = crate::tasks::start(&store, &state.config, &metrics, writer, &view_limits);
    Ok(App {
        state,
        tasks,
        created,
    })
}

/// `pixbin serve`: loads the configuration, binds, starts, prints the
/// first-run secrets, serves until a signal or a database failure, then drains.
pub async fn serve(
    args: &crate::config::ServeArgs,
    storage: &crate::store::blobs::storage::StorageArgs,
    data_dir: Option<&Path>,
    config_file: Option<&Path>,
) -> anyhow::Result<()> {
    let mut config = crate::config::load(args, data_dir, config_file)?;
    config.storage = crate::config::resolve_storage(storage, config_file)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let app = crate::app::start(config, &listener).await?;
    let base = app.state.config.base_url().to_string();
    if let Some(pw) = &app.created.admin_password {
        println!("created account admin with password: {}", pw.expose());
    } else if app.created.admin_created {
        println!("created account admin with the password from PIXBIN_ADMIN_PASSWORD");
    }
    if let Some(key) = &app.created.upload_key {
        println!("created upload key: {}", key.expose());
        println!(
            "try it: curl -H \"Authorization: Bearer {}\" -F \"file=@screenshot.png\" {base}/api/upload",
            key.expose()
        );
        println!("(these secrets are shown only this once)");
    }
    println!("pixbin listening on http://{addr}");
    println!("admin UI: {base}/admin/");
    tracing::info!(%addr, base_url = %base, "serving");
    crate::systemd::notify_ready(addr);
    let mut tasks = app.tasks;
    tasks.start_watchdog(app.state.store.clone());

    let store = app.state.store.clone();
    let shutdown = async {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = database_failure(&store) => {
                tracing::error!(
                    "the database file failed an I/O operation (a full or failing disk?); \
                     redb refuses all further work until it is reopened, so pixbin stops \
                     and lets its service manager start it again"
                );
            }
        }
        crate::systemd::notify_stopping();
    };
    crate::server::run(listener, app.state.clone(), shutdown).await;
    tracing::info!("draining view events, stopping background tasks");
    // Bounded like the connections' drain: a task that hangs (a stuck disk)
    // does not keep the process from exiting.
    tasks.shutdown(app.state.config.shutdown_timeout).await;
    crate::ops::control::retract(&app.state.config.data_dir);
    if app.state.store.database_failed() {
        anyhow::bail!("stopped after a database I/O failure; restart to reopen the database");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once the database file has failed an I/O operation
/// (`Store::database_failure`).
async fn database_failure(store: &Store) {
    // The sender lives in the store, which outlives this wait.
    let _ = store.database_failure().wait_for(|failed| *failed).await;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
