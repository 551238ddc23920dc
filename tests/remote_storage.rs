//! Serving from a remote blob store, with a backend that can be taken down
//! (the Garage cluster of `tests/s3` proves the same against real S3):
//!
//! - with `--cache-dir`, an image read once serves byte-exact from the disk
//!   cache while the store is out of reach, and after a restart; an image
//!   never read answers `503 unavailable` with `Retry-After`, and serves
//!   again once the store is back (an outage is never judged as damage);
//! - a cached copy damaged on the local disk is replaced from the store and
//!   marks nothing; the scrub reads the store, so rot in the bucket is found
//!   even while the cache holds a whole copy;
//! - `serve` started while the store is unreachable retries, logging each
//!   attempt, for `--storage-wait`: it starts if the store comes back in
//!   time, and otherwise exits non-zero with one line saying why (the real
//!   binary against an S3 endpoint that refuses connections);
//! - `/readyz` is `503` with a JSON reason while the store is unreachable and
//!   ready again once it is back, answering within seconds even when the
//!   store's probe hangs;
//! - with `--s3-redirect`, a public GET answers `302` to the presigned URL,
//!   with the view counted and a `Cache-Control` shorter than the URL's life;
//!   HEAD, revalidation, private, expiring and view-limited images are served
//!   by pixbin as before.

use std::sync::Arc;
use std::time::Duration;

use pixbin::store::blobs::cache::DiskCacheConfig;
use pixbin::store::blobs::storage::Storage;
use pixbin::store::blobs::{BlobHash, BlobStore, FaultyBlobStore, MemBlobStore, parse_hex};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

fn backend() -> FaultyBlobStore {
    FaultyBlobStore::new(Arc::new(MemBlobStore::new()))
}

/// A backend and a disk cache for it, in a temp dir that lives as long as
/// the third value.
fn backend_and_cache() -> (FaultyBlobStore, DiskCacheConfig, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let config = DiskCacheConfig {
        dir: cache.path().join("blobs"),
        size: 64 << 20,
    };
    (backend(), config, cache)
}

/// Blobs held by the disk cache: files in its fan-out directories (not its
/// marker at the top, not its temps).
fn cached_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("tmp"))
        .map(|p| count_files(&p))
        .sum()
}

/// GETs an image's public link on `app` (its port changes on a restart).
async fn get_bytes(app: &TestApp, img: &Value) -> (StatusCode, Vec<u8>) {
    let name = img["url"].as_str().unwrap().rsplit('/').next().unwrap();
    let res = fetch(app.url(&format!("/{name}"))).await;
    (res.status(), res.bytes().await.unwrap().to_vec())
}

/// Settings for a server over `store`, with the disk cache when given.
fn remote(
    store: &FaultyBlobStore,
    cache: Option<&DiskCacheConfig>,
) -> impl FnOnce(&mut pixbin::config::Config) + use<> {
    let (store, cache) = (store.clone(), cache.cloned());
    move |cfg| {
        cfg.storage = Storage::Given(Arc::new(store));
        cfg.disk_cache = cache;
    }
}

#[tokio::test]
async fn a_cached_image_serves_through_an_outage_and_a_cold_one_answers_503() {
    let (store, config, _cache) = backend_and_cache();
    let app = spawn_app_with(remote(&store, Some(&config))).await;
    // Past the in-memory small-blob cache (256 KiB), so the disk cache is
    // what serves them.
    let (warm_bytes, cold_bytes) = (bmp(400, 300, 1), bmp(400, 300, 2));
    let warm = app.upload_ok(warm_bytes.clone(), "warm.bmp").await;
    let cold = app.upload_ok(cold_bytes.clone(), "cold.bmp").await;
    assert_eq!(
        cached_files(&config.dir),
        0,
        "uploads do not fill the cache"
    );
    assert_eq!(
        get_bytes(&app, &warm).await,
        (StatusCode::OK, warm_bytes.clone())
    );
    assert_eq!(cached_files(&config.dir), 1);

    store.set_down(true);
    assert_eq!(
        get_bytes(&app, &warm).await,
        (StatusCode::OK, warm_bytes.clone())
    );
    let url = warm["url"].as_str().unwrap();
    let range = fetch_with(url, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.unwrap(), &warm_bytes[1000..2000]);
    let res = fetch(cold["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");

    // Back: the cold image serves (the outage was not taken for damage).
    store.set_down(false);
    assert_eq!(get_bytes(&app, &cold).await, (StatusCode::OK, cold_bytes));
    // The index is rebuilt from the directory by the next start.
    let app = app.restart(remote(&store, Some(&config))).await;
    store.set_down(true);
    assert_eq!(get_bytes(&app, &warm).await, (StatusCode::OK, warm_bytes));
    store.set_down(false);
    drop(app);
}

/// The one file the disk cache holds.
fn the_cached_file(dir: &std::path::Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("tmp"))
        .flat_map(|p| std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// An image past the in-memory small-blob cache (256 KiB), so the disk
/// cache is what serves it, uploaded and read once (which fills the cache).
async fn warm_image(app: &TestApp, seed: u64) -> (Value, Vec<u8>, BlobHash) {
    let bytes = bmp(400, 300, seed);
    let img = app.upload_ok(bytes.clone(), "big.bmp").await;
    assert_eq!(get_bytes(app, &img).await, (StatusCode::OK, bytes.clone()));
    let hash = parse_hex(img["hash"].as_str().unwrap()).unwrap();
    (img, bytes, hash)
}

#[tokio::test]
async fn a_cached_copy_damaged_on_local_disk_is_replaced_and_marks_nothing() {
    let (store, config, _cache) = backend_and_cache();
    let app = spawn_app_with(remote(&store, Some(&config))).await;
    let (img, bytes, hash) = warm_image(&app, 7).await;
    let file = the_cached_file(&config.dir);
    let mut damaged = bytes.clone();
    damaged[5000] ^= 0x10;
    std::fs::write(&file, &damaged).unwrap();
    // Timestamps move in clock ticks: make the write as visible as a later
    // one would be.
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(std::time::UNIX_EPOCH).unwrap();

    assert_eq!(get_bytes(&app, &img).await, (StatusCode::OK, bytes.clone()));
    let integrity = app.state.store.integrity();
    assert!(!integrity.is_damaged(&hash), "the bucket's copy is whole");
    assert_eq!(integrity.damaged(), 0);
    assert_eq!(
        std::fs::read(the_cached_file(&config.dir)).unwrap(),
        bytes,
        "the cached file was replaced by the store's bytes"
    );
    // And it serves from there while the store is away.
    store.set_down(true);
    assert_eq!(get_bytes(&app, &img).await, (StatusCode::OK, bytes));
    store.set_down(false);
}

#[tokio::test]
async fn the_scrub_reads_the_store_not_its_cache() {
    let (store, config, _cache) = backend_and_cache();
    let tweak = remote(&store, Some(&config));
    let app = spawn_app_with(|c| {
        tweak(c);
        c.scrub_interval = Duration::from_millis(500);
    })
    .await;
    let (_img, bytes, hash) = warm_image(&app, 8).await;
    // Rot in the bucket only: the cached copy stays whole.
    let mut rotted = bytes.clone();
    rotted[9000] ^= 0x01;
    let mut t = store.create_temp().unwrap();
    std::io::Write::write_all(&mut t, &rotted).unwrap();
    store.replace(t, &hash).unwrap();
    let integrity = app.state.store.integrity();
    assert!(
        poll_until(Duration::from_secs(20), || integrity.is_damaged(&hash)).await,
        "the scrub found the rot in the store"
    );
    assert_eq!(std::fs::read(the_cached_file(&config.dir)).unwrap(), bytes);
}

#[tokio::test]
async fn readyz_follows_the_store_and_answers_in_bounded_time() {
    let store = backend();
    let app = spawn_app_with(remote(&store, None)).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    store.set_down(true);
    let unready = || async {
        let res = app.get("/readyz").await;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "unavailable"
    };
    let mut seen = false;
    for _ in 0..50 {
        if unready().await {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen, "unready while the store is down");
    store.set_down(false);
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/readyz").await.status() == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "ready again once it is back");
    // A store that hangs: an answer within the probe's wait, not a hang.
    store.set_hanging(true);
    tokio::time::sleep(pixbin::readiness::FRESH).await;
    let t = std::time::Instant::now();
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(t.elapsed() < pixbin::readiness::WAIT + Duration::from_secs(2));
    store.set_hanging(false);
}

#[tokio::test]
async fn redirects_go_only_to_images_that_never_stop_being_served() {
    let store = backend().presigning("http://bucket.invalid/blobs/");
    let app = spawn_app_with(move |cfg| {
        remote(&store, None)(cfg);
        cfg.s3_redirect = Some(Duration::from_secs(300));
    })
    .await;
    let bytes = bmp(40, 30, 3);
    let img = app.upload_ok(bytes.clone(), "public.bmp").await;
    let url = img["url"].as_str().unwrap();
    let res = fetch(url).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let want = format!(
        "http://bucket.invalid/blobs/{}?ttl=300",
        img["hash"].as_str().unwrap()
    );
    assert_eq!(res.headers()["location"], want.as_str());
    assert_eq!(res.headers()["cache-control"], "private, max-age=150");
    let id = img["id"].as_u64().unwrap();
    assert_eq!(
        app.wait_for_views(id, 1).await,
        1,
        "the redirect counts a view"
    );

    // HEAD and revalidation stay here.
    let head = client().head(url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let etag = head.headers()["etag"].to_str().unwrap().to_string();
    let again = fetch_with(url, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Private, expiring and view-limited images are served by pixbin.
    let kept_here: [&[(&str, &str)]; 3] = [
        &[("private", "true")],
        &[("expires", "1h")],
        &[("max_views", "5")],
    ];
    for (seed, fields) in (10..).zip(kept_here) {
        let other = bmp(40, 30, seed);
        let img = app.upload_with_ok(other.clone(), "x.bmp", fields).await;
        let (status, got) = get_bytes(&app, &img).await;
        assert_eq!((status, got == other), (StatusCode::OK, true), "{fields:?}");
    }
}

#[tokio::test]
async fn start_up_waits_a_bounded_time_for_an_unreachable_store() {
    let store = backend();
    store.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let mut config = pixbin::config::Config::for_tests(dir.path());
    config.storage = Storage::Given(Arc::new(store.clone()));
    config.storage_wait = Duration::from_millis(1500);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let t = std::time::Instant::now();
    let err = pixbin::app::start(config.clone(), &listener)
        .await
        .unwrap_err();
    let took = t.elapsed();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("did not answer within --storage-wait 1.5s")
            && msg.contains("unavailable")
            && !msg.contains('\n'),
        "{msg}"
    );
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(
        !dir.path().join("pixbin.redb").exists(),
        "nothing is written before the identity is judged"
    );

    // Back during the wait: the start goes on, with the identity checked.
    let s = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        s.set_down(false);
    });
    config.storage_wait = Duration::from_secs(30);
    let t = std::time::Instant::now();
    let app = pixbin::app::start(config, &listener).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(dir.path().join("pixbin.redb").exists());
    drop(app);
}

#[test]
fn serve_exits_non_zero_with_one_line_when_the_bucket_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: every request is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--storage", "s3://pix/images", "--s3-path-style"])
        .args(["--s3-endpoint", &format!("http://127.0.0.1:{port}")])
        .args(["--s3-timeout", "1s", "--s3-retries", "0"])
        .args(["--storage-wait", "3s"])
        .env("AWS_ACCESS_KEY_ID", "GKtest")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env("PIXBIN_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("serve did not give up within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
    let attempts = stderr
        .lines()
        .filter(|l| l.contains("waiting for it before serving"))
        .count();
    assert!(attempts >= 2, "each attempt is logged:\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("pixbin: ") && last.contains("did not answer within --storage-wait 3s"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-real-secret"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing was created or served");
}
