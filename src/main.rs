//! The `pixbin` binary: parse the command line, set up logging, run, map errors
//! to an exit code.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use pixbin::cli::{Command, LogFormat};
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
            .and_then(|rt| {
                rt.block_on(pixbin::app::serve(
                    args,
                    &cli.storage,
                    cli.data_dir.as_deref(),
                    cli.config.as_deref(),
                ))
            }),
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
