//! Serving from a remote blob store, with a backend that can be taken down
//! (the Garage cluster of `tests/s3` proves the same against real S3):
//!
//! - with `--cache-dir`, an image read once serves byte-exact from the disk
//!   cache while the store is out of reach, and after a restart; an image
//!   never read answers `503 unavailable` with `Retry-After`, and serves
//!   again once the store is back (an outage is never judged as damage);
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
use pixbin::store::blobs::{FaultyBlobStore, MemBlobStore};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

fn backend() -> FaultyBlobStore {
    FaultyBlobStore::new(Arc::new(MemBlobStore::new()))
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
    let store = backend();
    let cache = tempfile::tempdir().unwrap();
    let config = DiskCacheConfig {
        dir: cache.path().join("blobs"),
        size: 64 << 20,
    };
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
