//! The `pixbin` binary: parse the command line, set up logging, run, map errors
//! to an exit code.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use pixbin::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn init_tracing(format: LogFormat) {
    let filter = std::env::var("PIXBIN_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(pixbin::cli::log_colours(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        // Its report of a failed write is an eprintln!, which panics when
        // stderr is what failed (a log file on a full disk): the server must
        // outlive its log destination.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(cli: &Cli, args: &pixbin::config::ServeArgs) -> anyhow::Result<()> {
    let config = pixbin::config::load(args, cli.data_dir.as_deref(), cli.config.as_deref())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let app = pixbin::app::start(config, &listener).await?;
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
    pixbin::systemd::notify_ready(addr);
    tokio::spawn(pixbin::systemd::watchdog(app.state.clone()));

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
        pixbin::systemd::notify_stopping();
    };
    pixbin::server::run(listener, app.state.clone(), shutdown).await;
    tracing::info!("draining view events");
    app.writer.shutdown().await;
    pixbin::ops::control::retract(&app.state.config.data_dir);
    if app.state.store.database_failed() {
        anyhow::bail!("stopped after a database I/O failure; restart to reopen the database");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once the database file has failed an I/O operation
/// (`Store::database_failure`).
async fn database_failure(store: &pixbin::store::Store) {
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

/// Makes glibc's malloc give large freed blocks straight back to the kernel.
///
/// glibc serves requests above a threshold (128 KiB at start) with their own
/// mmap and unmaps them on free, but it raises that threshold to the size of
/// each such block freed, up to 32 MiB. After the first thumbnail decode (a
/// 10 MB pixel buffer) every buffer below that size comes from the heap
/// arenas, where freed memory is kept and fragments: under load RSS drifted up
/// and varied by tens of MiB between identical runs. A fixed threshold stops
/// the drift: decode buffers and upload write buffers are mapped for their
/// lifetime only, and the small allocations of request handling stay in the
/// arenas. Measured with `tests/security/load.py` (SECURITY.md A35): idle RSS
/// 17.5 -> 9.9 MiB, growth under load +63..76 -> +45..59 MiB. Serving buffers
/// are pooled (`http::chunks`), so this adds no map/unmap per request.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    const THRESHOLD: libc::c_int = 256 * 1024;
    // SAFETY: mallopt only changes allocator parameters; it is called before
    // any other thread exists, and a refusal (return 0) leaves the defaults.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = pixbin::cli::parse();
    init_tracing(cli.log_format);
    let result = match &cli.command {
        Command::Serve(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|rt| rt.block_on(serve(&cli, args))),
        _ => pixbin::cli::run_admin_command(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics (exit 101) when stderr cannot be
            // written, e.g. a log file on the disk that just filled up.
            let _ = writeln!(std::io::stderr(), "pixbin: {e:#}");
            ExitCode::FAILURE
        }
    }
}
