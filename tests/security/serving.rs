//! Lifecycle limits hold whatever sits between the viewer and pixbin (A45, A46,
//! A54): an image that can stop being served is never stored by a shared
//! cache, and an expiring one by the browser only until it expires; request
//! headers never buy a free view (only a session on the proxy does), link
//! previews have a small budget of their own, and every response carrying the
//! bytes of a view-limited image is accounted, ranges and concurrent fetches
//! included; views are committed in groups, so hammering a limited image does
//! not turn every fetch into its own database commit.

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
    let res = app
        .client
        .get(app.url(&format!("/api/proxy/{uuid}.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(&res), "private, no-store");
}
