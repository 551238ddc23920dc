//! Operations and durability, as an operator sees them:
//! - `pixbin check` passes on a healthy data dir and exits non-zero on damage;
//!   `--repair` fixes bookkeeping but never drops an image; `pixbin gc` removes
//!   what a crash left, into quarantine (`check_gc`);
//! - a database that is missing, new, foreign or garbage next to existing blobs
//!   is refused untouched; an older one serves and GC keeps what it does not
//!   know; the GC brake; `adopt` turns orphans back into images (`identity`);
//! - a backup taken while uploads and deletes continue restores into a data dir
//!   that checks clean and serves the same bytes, 1,000 images round trip; the
//!   CLI backs up a running server; restore refuses tampered, truncated or
//!   misplaced archives (`backup`);
//! - importing a folder twice imports each file once, with file times as upload
//!   times (`import`);
//! - start-up refuses an unknown schema, a corrupt file or a data dir in use,
//!   with a clear message and without touching anything, and so does another
//!   storage than the one the database records (`startup`, A40);
//! - `/metrics`, secret-free logs, systemd readiness and watchdog
//!   (`observability`);
//! - integrity: damaged blobs are never served complete, are logged, counted
//!   and marked until `pixbin repair --from` a backup heals them; the scrub
//!   finds damage nobody fetched (`integrity`);
//! - SECURITY A36, A37, A39 and A41: dedup under concurrency, delete during a
//!   download, a full disk, a blob removed by hand (`storage`).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

mod backup;
mod check_gc;
mod identity;
mod import;
mod integrity;
mod observability;
mod startup;
mod storage;

/// Runs a `pixbin` command on a data dir (never a server: those are spawned).
pub fn pixbin(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("PIXBIN_LOG", "warn")
        .env_remove("PIXBIN_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// stdout and stderr of a finished command, for assertions and messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `pixbin serve` on `dir`, expected to give up by itself.
fn serve_refused(dir: &Path) -> Output {
    let o = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_pixbin"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("PIXBIN_LOG", "warn")
            .env("PIXBIN_ADMIN_PASSWORD", ADMIN_PASSWORD),
        Duration::from_secs(30),
    );
    assert!(!o.status.success(), "it started: {}", text(&o));
    o
}

/// Runs a command that must exit by itself within `limit`; kills it otherwise.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("command did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Uploads with an upload key; returns the image JSON (asserting 200).
pub async fn upload_to(base: &str, key: &str, bytes: Vec<u8>, name: &str) -> Value {
    let res = upload_as(base, key, bytes, name).await;
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "upload of {name}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The path part of an image's public link (`/{uuid}.{ext}`), so it can be
/// fetched from another server holding the same data.
pub fn public_path(img: &Value) -> String {
    format!(
        "/{}.{}",
        img["uuid"].as_str().unwrap(),
        img["extension"].as_str().unwrap()
    )
}

/// blake3 of a file's bytes.
pub fn file_hash(p: &Path) -> [u8; 32] {
    *blake3::hash(&std::fs::read(p).unwrap()).as_bytes()
}

/// The entries of a directory, recursively, as sorted relative paths.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if p.is_dir() {
                    walk(base, &p, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
