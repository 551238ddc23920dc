//! Lifecycle limits hold whatever sits between the viewer and pixbin (A45, A46,
//! A54): an image that can stop being served is never stored by a shared
//! cache, and an expiring one by the browser only until it expires; request
//! headers never buy a free view (only a session on the proxy does), link
//! previews have a small budget of their own, and every response carrying the
//! bytes of a view-limited image is accounted, ranges and concurrent fetches
//! included; views are committed in groups, so hammering a limited image does
//! not turn every fetch into its own database commit.

use std::time::{Duration, Instant};

use super::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Uploads `logo.png` with extra form fields; returns (image JSON, public url).
async fn upload(app: &TestApp, name: &str, fields: &[(&str, &str)]) -> (Value, String) {
    let res = app
        .upload_with(fixture("real/logo.png"), name, fields)
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    let url = v["url"].as_str().unwrap().to_string();
    (v, url)
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn cache_control(res: &reqwest::Response) -> String {
    res.headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Whether a `Cache-Control` value lets a shared cache (a CDN, nginx
/// `proxy_cache`) store the response (RFC 9111 §3, §5.2.2.6, §5.2.2.7).
fn shared_may_store(cc: &str) -> bool {
    let d: Vec<String> = cc
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let has = |name: &str| {
        d.iter()
            .any(|t| t == name || t.starts_with(&format!("{name}=")))
    };
    !has("private") && !has("no-store") && !has("no-cache")
}

fn max_age(cc: &str) -> Option<i64> {
    cc.split(',')
        .find_map(|t| t.trim().strip_prefix("max-age="))
        .map(|n| n.parse().unwrap())
}

/// A45: expiring, view-limited and private images are never storable by a
/// shared cache, on 200, 206, 304 and HEAD alike, thumbnails included; an
/// expiring one is kept by the browser at most until it expires; only a plain
/// public image stays cacheable for a year.
#[tokio::test]
async fn a45_images_that_can_stop_are_never_shared_cached() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let (_, plain) = upload(&app, "plain.png", &[]).await;
    let res = get(&plain, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        cache_control(&res),
        "public, max-age=31536000, immutable",
        "control: a plain public image is cacheable"
    );

    let (exp, expiring) = upload(&app, "expiring.png", &[("expires", "1h")]).await;
    let (lim, limited) = upload(&app, "limited.png", &[("max_views", "100")]).await;
    let (_, both) = upload(
        &app,
        "both.png",
        &[("expires", "30m"), ("max_views", "100")],
    )
    .await;
    let (_, private) = upload(&app, "private.png", &[("private", "true")]).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();

    for url in [&expiring, &limited, &both, &private] {
        let variants: [(&str, Vec<(&str, &str)>); 3] = [
            ("200", vec![]),
            ("206", vec![("Range", "bytes=0-9")]),
            ("304", vec![("If-None-Match", etag.as_str())]),
        ];
        for (what, headers) in variants {
            let res = get(url, &headers).await;
            assert!(res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED);
            let cc = cache_control(&res);
            assert!(
                !shared_may_store(&cc),
                "{what} of {url}: a shared cache may store it: {cc:?}"
            );
            assert!(!cc.contains("immutable"), "{what} of {url}: {cc:?}");
        }
        let head = client().head(url.as_str()).send().await.unwrap();
        assert!(!shared_may_store(&cache_control(&head)), "HEAD {url}");
    }

    // The browser may keep an expiring image, at most until it expires.
    let res = get(&expiring, &[]).await;
    let cc = cache_control(&res);
    assert!(cc.starts_with("private"), "{cc}");
    let left = max_age(&cc).expect("an expiring image has a max-age");
    assert!((3500..=3600).contains(&left), "{cc}");
    let res = get(&both, &[]).await;
    assert!(
        cache_control(&res).contains("no-store"),
        "a view-limited image is kept by nobody, expiring or not"
    );
    // Every fetch of a view-limited image must be accounted: no copy anywhere.
    let res = get(&limited, &[]).await;
    assert!(cache_control(&res).contains("no-store"));
    let res = get(&private, &[]).await;
    assert!(cache_control(&res).contains("no-store"));

    // The thumbnail of an expiring image follows the same rule.
    let thumb = exp["thumbnail_url"].as_str().unwrap();
    let res = get(thumb, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cc = cache_control(&res);
    assert!(!shared_may_store(&cc), "thumbnail: {cc}");
    assert!(max_age(&cc).is_some_and(|s| s <= 3600), "thumbnail: {cc}");
    // The session proxy is never shared either.
    let uuid = lim["uuid"].as_str().unwrap();
    let res = app.get(&format!("/api/proxy/{uuid}.png")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(&res), "private, no-store");
}

/// Fetches `url` with `headers`; returns the status and the body length.
async fn fetch_len(url: &str, headers: &[(&str, &str)]) -> (StatusCode, usize) {
    let res = get(url, headers).await;
    let status = res.status();
    (status, res.bytes().await.unwrap().len())
}

const DISCORD: &str = "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)";

/// A46: bot, tool and unfurler User-Agents and an `/admin/` Referer are only
/// headers. On a one-view link each of them spends the view; a preview
/// fetcher gets three previews of its own, then pays like anyone; ranges pay,
/// a 304 (no bytes) does not; N parallel fetches deliver the bytes at most
/// limit + budget times (the last view ends the link, previews included), from memory and streamed alike; only the session
/// proxy views for free.
#[tokio::test]
async fn a46_forged_headers_do_not_bypass_view_limits() {
    // The sweeper would delete used-up images (and their counts) under the
    // assertions below; here the 404 must come from the limit alone.
    let mut app = spawn_app_with(|c| c.sweep_interval = Duration::from_secs(3600)).await;
    app.login_admin().await;
    let admin_referer = app.url("/admin/library");
    let forged: [(&str, &str); 5] = [
        ("User-Agent", "curl/8.5.0"),
        ("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1)"),
        ("User-Agent", "python-requests/2.31"),
        ("Referer", admin_referer.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    for (name, value) in forged {
        let (_, url) = upload(&app, "once.png", &[("max_views", "1")]).await;
        let first = fetch_len(&url, &[(name, value)]).await;
        assert_eq!(first.0, StatusCode::OK, "{name}: {value}");
        for again in [vec![(name, value)], vec![]] {
            let res = get(&url, &again).await;
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "{name}: {value} took the bytes without spending the view"
            );
        }
    }

    // A preview fetcher: three previews, then the one view, then nothing.
    let (v, url) = upload(&app, "chat.png", &[("max_views", "1")]).await;
    let len = fixture("real/logo.png").len();
    for i in 0..4 {
        assert_eq!(
            fetch_len(&url, &[("User-Agent", DISCORD)]).await,
            (StatusCode::OK, len),
            "preview {i}"
        );
    }
    assert_eq!(
        get(&url, &[("User-Agent", DISCORD)]).await.status(),
        StatusCode::NOT_FOUND,
        "previews are bounded"
    );
    // Its thumbnail never shows it to the public either.
    let thumb = v["thumbnail_url"].as_str().unwrap();
    assert_eq!(get(thumb, &[]).await.status(), StatusCode::NOT_FOUND);

    // Ranges pay; a 304 carries no bytes and does not.
    let (v, url) = upload(&app, "ranged.png", &[("max_views", "2")]).await;
    let etag = format!("\"{}\"", v["hash"].as_str().unwrap());
    for _ in 0..3 {
        let res = get(&url, &[("If-None-Match", &etag)]).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    }
    for _ in 0..2 {
        let (s, n) = fetch_len(&url, &[("Range", "bytes=0-99")]).await;
        assert_eq!((s, n), (StatusCode::PARTIAL_CONTENT, 100));
    }
    assert_eq!(
        get(&url, &[("Range", "bytes=100-199")]).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = get(&url, &[("If-None-Match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "gone for a 304 too");

    // The session proxy is free, however often.
    let (v, url) = upload(&app, "mine.png", &[("max_views", "1")]).await;
    let uuid = v["uuid"].as_str().unwrap();
    for _ in 0..5 {
        let res = app
            .client
            .get(app.url(&format!("/api/proxy/{uuid}.png")))
            .header("User-Agent", "curl/8.5.0")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(fetch_len(&url, &[]).await, (StatusCode::OK, len));

    // In parallel, mixed agents, small (from memory) and large (streamed)
    // images: the bytes go out exactly limit + budget times.
    for file in ["real/logo.png", "real/astronaut.png"] {
        let bytes = fixture(file);
        let res = app
            .upload_with(bytes.clone(), "par.png", &[("max_views", "3")])
            .await;
        let v: Value = res.json().await.unwrap();
        let url = v["url"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for i in 0..24 {
            let url = url.clone();
            let ua = match i % 3 {
                0 => DISCORD,
                1 => "curl/8.5.0",
                _ => "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            };
            tasks.push(tokio::spawn(async move {
                fetch_len(&url, &[("User-Agent", ua)]).await
            }));
        }
        let mut delivered = 0;
        for t in tasks {
            let (s, n) = t.await.unwrap();
            match s {
                StatusCode::OK => {
                    assert_eq!(n, bytes.len(), "{file}: a whole image");
                    delivered += 1;
                }
                StatusCode::NOT_FOUND => {}
                s => panic!("{file}: unexpected {s}"),
            }
        }
        // Every delivery was paid for, durably, and never more than allowed.
        // Once the last view is gone the link is dead, previews included.
        let spent = app.state.store.spent(v["id"].as_u64().unwrap()).unwrap();
        assert_eq!(spent.views, 3, "{file}");
        assert!(spent.previews <= 3, "{file}: {spent:?}");
        assert_eq!(delivered, spent.views + spent.previews, "{file}");
    }
}

/// A54: hammering an image limited to 10^9 views while someone uploads: every
/// fetch is paid for and durable, yet fetches share commits (group commit)
/// instead of each being its own write transaction, and uploads still go
/// through. Latency itself is measured by `benches/view_limit_load.sh`.
#[tokio::test]
async fn a54_view_consumption_is_group_committed_without_overspending() {
    let app = spawn_app().await;
    let (v, url) = upload(&app, "hammered.png", &[("max_views", "1000000000")]).await;
    let id = v["id"].as_u64().unwrap();
    let ledger = app.state.view_limits.clone();
    let (commits0, fetches0) = (ledger.commits(), ledger.fetches());
    const WORKERS: usize = 16;
    const EACH: usize = 25;
    let mut hammer = Vec::new();
    for _ in 0..WORKERS {
        let url = url.clone();
        hammer.push(tokio::spawn(async move {
            let c = client();
            for _ in 0..EACH {
                let res = c.get(&url).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.bytes().await.unwrap();
            }
        }));
    }
    let mut upload_ms = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let res = app.upload(bmp_filled(8, 8, i), "during.bmp").await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "an upload during the hammering"
        );
        upload_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    for h in hammer {
        tokio::time::timeout(Duration::from_secs(120), h)
            .await
            .expect("the hammering ends")
            .unwrap();
    }
    let fetches = ledger.fetches() - fetches0;
    let commits = ledger.commits() - commits0;
    let total = (WORKERS * EACH) as u64;
    assert_eq!(fetches, total, "every fetch was paid for");
    assert_eq!(
        app.state.store.spent(id).unwrap().views,
        total,
        "and is durable: none lost, none counted twice"
    );
    assert!(
        commits * 2 <= fetches,
        "fetches must share commits: {commits} commits for {fetches} fetches"
    );
    eprintln!("a54: {fetches} fetches in {commits} commits; uploads meanwhile {upload_ms:.1?} ms");
}
