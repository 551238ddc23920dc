//! The bodies of the operations subcommands (`check`, `gc`, `backup`, `repair`,
//! `restore`, `import`, `adopt`, `migrate-storage`, `thumbnails`, `systemd-unit`): what they print
//! and when they fail. `cli` only parses arguments and calls these (accounts
//! and keys: `ops::accounts`).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::{self, ServeArgs};
use crate::store::blobs::storage::Storage;
use crate::store::check::CheckOptions;
use crate::store::gc::GcPolicy;
use crate::store::{Store, StoreError};

/// Opens the store for a CLI command, explaining a running server clearly.
pub(crate) fn open_store(dir: &Path, storage: &Storage) -> anyhow::Result<Store> {
    match Store::open_on(dir, crate::store::identity::Claim::Verify, storage) {
        Ok(s) => Ok(s),
        Err(StoreError::AlreadyOpen) => bail!(
            "the data directory {} is in use by a running pixbin server; stop it first (systemctl stop pixbin), or make the change in the admin UI",
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("opening data directory {}", dir.display())),
    }
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

/// The GC policy of an offline command: the configured grace and retention
/// (flags over the file over the defaults), as of now.
fn gc_policy(
    dir: &Path,
    config_file: Option<&Path>,
    grace: Option<&str>,
    retention: Option<&str>,
    force: bool,
) -> anyhow::Result<GcPolicy> {
    let args = ServeArgs {
        gc_grace: grace.map(String::from),
        gc_retention: retention.map(String::from),
        ..ServeArgs::default()
    };
    let config = config::load(&args, Some(dir), config_file)?;
    Ok(GcPolicy {
        force,
        // Offline the database lock proves no upload is in flight.
        all_temps: true,
        ..GcPolicy::new(config.gc_grace, config.gc_retention)
    })
}

/// `pixbin check [--repair] [--quick]`
pub fn check(
    dir: &Path,
    storage: &Storage,
    config_file: Option<&Path>,
    repair: bool,
    quick: bool,
) -> anyhow::Result<()> {
    super::require_database(dir, storage)?;
    let policy = gc_policy(dir, config_file, None, None, false)?;
    let store = open_store(dir, storage)?;
    let report = store.check_with(
        CheckOptions {
            rehash: !quick,
            repair,
        },
        &policy,
    )?;
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
    let trash = store.trash_summary()?;
    if trash.blobs > 0 {
        println!(
            "quarantine: {} blobs ({}) in trash/, oldest quarantined {}; GC unlinks them {} after quarantine (`pixbin adopt --trash` turns them back into images)",
            trash.blobs,
            human_bytes(trash.bytes),
            crate::clock::rfc3339(trash.oldest.unwrap_or(0) as i64 * 1000),
            crate::lifecycle::fmt_duration(policy.retention),
        );
    } else {
        println!("quarantine: empty");
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
    for p in &report.repaired {
        println!("repaired: {}", p.kind());
    }
    let stale_marks = integrity_report(&store, quick, repair)?;
    let remaining: Vec<_> = report.remaining().collect();
    if stale_marks > 0 {
        bail!(
            "{stale_marks} damage marks name blobs that are whole again (`pixbin check --repair` clears them)"
        );
    }
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
    let orphans = remaining
        .iter()
        .filter(|p| matches!(p, crate::store::check::Problem::Orphan(_)))
        .count();
    if repair && orphans > 0 {
        println!(
            "{orphans} orphan blobs were not quarantined: younger than the grace period, or too many at once (see the log); `pixbin adopt` turns them into images"
        );
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

/// Prints the damage marks and the scrub's last result (`store::integrity`).
/// A marked blob that re-hashes whole (put back by hand) has a stale mark:
/// cleared with `repair`, else counted in the result.
fn integrity_report(store: &Store, quick: bool, repair: bool) -> anyhow::Result<usize> {
    use crate::store::blobs::hex;
    let mut stale = 0;
    for (h, m) in store.integrity().marks() {
        println!(
            "damaged: blob {} ({} of image {}, {}), marked {}",
            hex(&h),
            m.kind.label(),
            m.image,
            m.reason.label(),
            crate::clock::rfc3339(m.at)
        );
        if quick {
            continue;
        }
        if let Some((_, None)) = store.verify_blob(&h)? {
            if repair {
                store.clear_damage(&h)?;
                println!("repaired: stale damage mark of blob {}", hex(&h));
            } else {
                println!(
                    "problem: the blob {} is whole again but still marked",
                    hex(&h)
                );
                stale += 1;
            }
        }
    }
    let s = store.scrub_status()?;
    if s.last_completed > 0 {
        println!(
            "scrub: last pass completed {}: {} blobs re-hashed, {} damaged",
            crate::clock::rfc3339(s.last_completed),
            s.last_checked,
            s.last_damaged
        );
    } else {
        println!("scrub: no pass completed yet");
    }
    if s.pass_started > 0 {
        println!(
            "scrub: pass running since {}, {:.0}% done, {} blobs so far, {} damaged",
            crate::clock::rfc3339(s.pass_started),
            s.progress() * 100.0,
            s.pass_checked,
            s.pass_damaged
        );
    }
    Ok(stale)
}

/// `pixbin repair --from BACKUP.tar`
pub fn repair(dir: &Path, storage: &Storage, from: &Path) -> anyhow::Result<()> {
    use crate::store::blobs::hex;
    let r = super::repair::repair_from(dir, storage, from)?;
    for h in &r.repaired {
        println!("repaired: blob {}", hex(h));
    }
    for h in &r.bad_in_archive {
        println!("problem: blob {} is damaged in the backup too", hex(h));
    }
    for h in &r.not_in_archive {
        println!(
            "problem: blob {} is damaged or missing and not in the backup",
            hex(h)
        );
    }
    for h in &r.not_cleared {
        println!("problem: the server still finds blob {} damaged", hex(h));
    }
    println!(
        "checked {} blobs{}; repaired {}",
        r.rows,
        if r.online {
            " (through the running server)"
        } else {
            ""
        },
        r.repaired.len()
    );
    if !r.complete() {
        bail!(
            "{} blobs could not be repaired from {}",
            r.bad_in_archive.len() + r.not_in_archive.len() + r.not_cleared.len(),
            from.display()
        );
    }
    Ok(())
}

/// `pixbin gc [--grace D] [--retention D] [--force]`
pub fn gc(
    dir: &Path,
    storage: &Storage,
    config_file: Option<&Path>,
    grace: Option<&str>,
    retention: Option<&str>,
    force: bool,
) -> anyhow::Result<()> {
    super::require_database(dir, storage)?;
    let policy = gc_policy(dir, config_file, grace, retention, force)?;
    let store = open_store(dir, storage)?;
    let r = store.collect_garbage(&policy)?;
    println!(
        "quarantined {} orphan blobs ({}) in trash/, unlinked {} quarantined blobs older than {} ({}), put back {}, removed {} temp files; spared {} recent files",
        r.quarantined,
        human_bytes(r.bytes_quarantined),
        r.purged,
        crate::lifecycle::fmt_duration(policy.retention),
        human_bytes(r.bytes_purged),
        r.restored,
        r.temps_removed,
        r.spared
    );
    if let Some(brake) = r.braked {
        bail!("{brake}");
    }
    Ok(())
}

/// `pixbin adopt [--trash] [--private]`
pub fn adopt(
    dir: &Path,
    storage: &Storage,
    config_file: Option<&Path>,
    trash: bool,
    private: bool,
) -> anyhow::Result<()> {
    let config = config::load(&ServeArgs::default(), Some(dir), config_file)?;
    let store = match Store::open_on(dir, crate::store::identity::Claim::Adopt, storage) {
        Ok(s) => s,
        Err(crate::store::StoreError::AlreadyOpen) => bail!(
            "the data directory {} is in use by a running pixbin server; stop it first (systemctl stop pixbin)",
            dir.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("opening data directory {}", dir.display()));
        }
    };
    let store = std::sync::Arc::new(store);
    let s = offline_runtime()?.block_on(super::adopt::adopt(
        &store,
        &config,
        super::adopt::AdoptOptions { trash, private },
    ))?;
    for (hash, why) in &s.refused {
        eprintln!("left blob {hash}: {why}");
    }
    let (made, _) = crate::thumbnails::backfill(
        &store,
        crate::thumbnails::default_workers(),
        &crate::media::thumbnail::ThumbLimits {
            max_pixels: config.max_pixels,
            ..Default::default()
        },
        None,
    )?;
    println!(
        "adopted {} orphan blobs and {} from quarantine as new images; left {} that are not acceptable images; made {made} thumbnails",
        s.adopted,
        s.from_trash,
        s.refused.len()
    );
    Ok(())
}

/// `pixbin backup --out FILE`
pub fn backup(dir: &Path, storage: &Storage, out: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let s = super::backup::backup_to_file(dir, storage, out)?;
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
pub fn restore(dir: &Path, storage: &Storage, file: &Path) -> anyhow::Result<()> {
    let s = super::restore::restore(file, dir, storage)?;
    println!(
        "restored {} blobs ({}) into {}; every hash verified and the data checks clean",
        s.blobs,
        human_bytes(s.bytes),
        dir.display()
    );
    if s.unknown_kept > 0 {
        println!(
            "the blob store also holds {} blobs this backup does not name (uploaded after it?); they were left as they are: `pixbin adopt` turns them into images, GC quarantines them after the grace period",
            s.unknown_kept
        );
    }
    Ok(())
}

/// `pixbin migrate-storage --to …`: copies, verifies, switches; says what is
/// left to do when it cannot switch yet.
pub fn migrate_storage(dir: &Path, from: &Storage, to: &Storage) -> anyhow::Result<()> {
    use crate::store::blobs::hex;
    let (source, location) = (from.location(), to.location());
    if source == location {
        bail!(
            "the blobs are already in {location} (the configured storage); name another with --to"
        );
    }
    super::require_database(dir, from)?;
    let store = open_store(dir, from)?;
    let target = to
        .backend(dir)
        .with_context(|| format!("opening {location}"))?;
    to.prepare(dir)?;
    let started = Instant::now();
    let mut last = Instant::now();
    let r = super::migrate::migrate(&store, &*target, &location, &mut |r| {
        if last.elapsed() >= Duration::from_secs(2) {
            last = Instant::now();
            eprintln!("{}/{} blobs ({} copied)", r.done(), r.blobs, r.copied);
        }
        true
    })?;
    for (h, why) in &r.unreadable {
        println!("problem: blob {}: {why}", hex(h));
    }
    println!(
        "{} blobs: copied {} ({}) and verified, {} already in {location} and whole, in {:.1}s",
        r.blobs,
        r.copied,
        human_bytes(r.bytes_copied),
        r.present,
        started.elapsed().as_secs_f64()
    );
    if !r.switched {
        bail!(
            "not switched: {} blobs could not be read whole from {source}; repair them (`pixbin check`, `pixbin repair --from BACKUP`) and run this again (what is copied stays)",
            r.unreadable.len()
        );
    }
    println!(
        "switched: the database now records {location}; start pixbin with --storage {} (PIXBIN_STORAGE, or `storage` in the config file). The blobs in {source} are left as they were: remove them once you are satisfied.",
        location.trim_end_matches('/')
    );
    Ok(())
}

/// `pixbin import DIR [--private]`, with the serve settings that bound uploads.
pub fn import(
    dir: &Path,
    storage: &Storage,
    config_file: Option<&Path>,
    settings: &ServeArgs,
    folder: &Path,
    private: bool,
) -> anyhow::Result<()> {
    if !folder.is_dir() {
        bail!("{} is not a folder", folder.display());
    }
    let config = config::load(settings, Some(dir), config_file)?;
    let store = open_store(dir, storage)?;
    // The upload defaults changed in the admin UI apply here too.
    let runtime = crate::settings::Runtime::from_stored(&store.runtime_settings()?);
    let config = crate::settings::apply(&config, &runtime);
    // A progress line only for a person watching; logs and pipes get the summary.
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now() - Duration::from_secs(1);
    let ingest = crate::ingest::Ingest::new(std::sync::Arc::new(store), config);
    let summary = offline_runtime()?.block_on(super::import::import_dir(
        &ingest,
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
    ))?;
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

/// A one-thread runtime for the offline commands that stream files through
/// the ingest pipeline (its file writes and store calls go to the blocking
/// pool, as in the server).
fn offline_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")
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

/// `pixbin thumbnails`: makes the missing thumbnails offline.
pub fn thumbnails(dir: &Path, storage: &Storage) -> anyhow::Result<()> {
    let store = open_store(dir, storage)?;
    let workers = crate::thumbnails::default_workers();
    // Offline, so no storage limit applies: thumbnails are a few KiB each.
    let (made, failed) = crate::thumbnails::backfill(
        &store,
        workers,
        &crate::media::thumbnail::ThumbLimits::default(),
        None,
    )?;
    eprintln!("made {made} thumbnails; {failed} images have none (undecodable or too large)");
    Ok(())
}
