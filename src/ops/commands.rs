//! The bodies of the operations subcommands (`check`, `gc`, `backup`, `restore`,
//! `import`, `systemd-unit`): what they print and when they fail. `cli` only
//! parses arguments and calls these.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

use crate::cli::open_store;
use crate::config::{self, ServeArgs};
use crate::store::Store;
use crate::store::check::CheckOptions;

fn require_database(dir: &Path) -> anyhow::Result<()> {
    if !Store::db_path(dir).exists() {
        bail!(
            "{} holds no pixbin database (pass --data-dir)",
            dir.display()
        );
    }
    Ok(())
}

/// Binary units for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `pixbin check [--repair] [--quick]`
pub fn check(dir: &Path, repair: bool, quick: bool) -> anyhow::Result<()> {
    require_database(dir)?;
    let store = open_store(dir)?;
    let report = store.check(CheckOptions {
        rehash: !quick,
        repair,
    })?;
    println!(
        "checked {} images and {} blobs ({}){}",
        report.images,
        report.blobs,
        human_bytes(report.bytes),
        if quick {
            ", sizes only"
        } else {
            ", every blob re-hashed"
        }
    );
    for p in &report.problems {
        println!("problem: {p}");
    }
    for p in &report.repaired {
        println!("repaired: {}", p.kind());
    }
    let remaining: Vec<_> = report.remaining().collect();
    if remaining.is_empty() {
        println!(
            "ok: no problems{}",
            if report.repaired.is_empty() {
                ""
            } else {
                " left"
            }
        );
        return Ok(());
    }
    let fixable = remaining.iter().filter(|p| p.repairable()).count();
    if fixable > 0 && !repair {
        bail!(
            "{} problems ({fixable} can be fixed with `pixbin check --repair`)",
            remaining.len()
        );
    }
    bail!(
        "{} problems remain that repair cannot fix without losing data",
        remaining.len()
    );
}

/// `pixbin gc [--grace D]`
pub fn gc(dir: &Path, grace: Option<&str>) -> anyhow::Result<()> {
    require_database(dir)?;
    let grace = match grace {
        Some(g) => config::parse_duration(g).with_context(|| format!("--grace {g:?}"))?,
        None => Duration::ZERO,
    };
    let store = open_store(dir)?;
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let r = store.collect_garbage(cutoff)?;
    println!(
        "removed {} orphan blobs ({}) and {} temp files; spared {} recent files",
        r.blobs_removed,
        human_bytes(r.bytes_freed),
        r.temps_removed,
        r.spared
    );
    Ok(())
}

/// `pixbin backup --out FILE`
pub fn backup(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let s = super::backup::backup_to_file(dir, out)?;
    println!(
        "wrote {}: database {} and {} blobs ({}), verified, in {:.1}s",
        out.display(),
        human_bytes(s.database_bytes),
        s.blobs,
        human_bytes(s.bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `pixbin restore FILE --data-dir NEW`
pub fn restore(dir: &Path, file: &Path) -> anyhow::Result<()> {
    let s = super::restore::restore(file, dir)?;
    println!(
        "restored {} blobs ({}) into {}; every hash verified and the data checks clean",
        s.blobs,
        human_bytes(s.bytes),
        dir.display()
    );
    Ok(())
}

/// `pixbin import DIR [--private]`, with the serve settings that bound uploads.
pub fn import(
    dir: &Path,
    config_file: Option<&Path>,
    settings: &ServeArgs,
    folder: &Path,
    private: bool,
) -> anyhow::Result<()> {
    if !folder.is_dir() {
        bail!("{} is not a folder", folder.display());
    }
    let config = config::load(settings, Some(dir), config_file)?;
    let store = open_store(dir)?;
    // The upload defaults changed in the admin UI apply here too.
    let runtime = crate::settings::Runtime::from_stored(&store.runtime_settings()?);
    let config = crate::settings::apply(&config, &runtime);
    // A progress line only for a person watching; logs and pipes get the summary.
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now() - Duration::from_secs(1);
    let summary = super::import::import_dir(
        &store,
        &config,
        folder,
        super::import::ImportOptions { private },
        |done, total| {
            if tty && (done == total || last.elapsed() >= Duration::from_millis(100)) {
                last = Instant::now();
                let width = 30;
                let filled = (done * width).checked_div(total).unwrap_or(width);
                eprint!(
                    "\r[{}{}] {done}/{total} files",
                    "#".repeat(filled),
                    " ".repeat(width - filled)
                );
                if done == total {
                    eprintln!();
                }
                let _ = std::io::stderr().flush();
            }
        },
    )?;
    for (path, why) in &summary.refused {
        eprintln!("refused {}: {why}", path.display());
    }
    println!(
        "imported {}, duplicates {}, refused {}",
        summary.imported,
        summary.duplicates,
        summary.refused.len()
    );
    Ok(())
}

/// `pixbin systemd-unit [--binary PATH]`
pub fn systemd_unit(binary: Option<&str>) -> anyhow::Result<()> {
    let binary = binary
        .map(String::from)
        .unwrap_or_else(crate::systemd::default_binary);
    if binary.contains(char::is_whitespace) {
        bail!("the binary path must not contain spaces");
    }
    print!("{}", crate::systemd::unit(&binary));
    Ok(())
}
