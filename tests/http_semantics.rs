//! RFC 9110 behaviour of image responses: strong ETag and 304, Last-Modified,
//! single ranges (206) and unsatisfiable ones (416), HEAD, and the cache and
//! security headers of public, private and proxied responses.

use crate::support::*;
use reqwest::StatusCode;

#[tokio::test]
async fn etag_and_if_none_match_give_304() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    let url = v["url"].as_str().unwrap();
    let res = fetch(url).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", v["hash"].as_str().unwrap()));
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let lm = res.headers()["last-modified"].to_str().unwrap().to_string();
    let res = fetch_with(url, &[("If-None-Match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["etag"], etag.as_str());
    assert!(res.bytes().await.unwrap().is_empty());
    let res = fetch_with(url, &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = fetch_with(url, &[("If-Modified-Since", &lm)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn ranges_give_206_and_416() {
    let app = spawn_app().await;
    let bytes = fixture("real/astronaut.png");
    let len = bytes.len();
    let v = app.upload_ok(bytes.clone(), "a.png").await;
    let url = v["url"].as_str().unwrap();
    for (range, start, end) in [
        ("bytes=0-99".to_string(), 0, 99),
        (format!("bytes={}-", len - 10), len - 10, len - 1),
        ("bytes=-500".to_string(), len - 500, len - 1),
        ("bytes=1000-300000".to_string(), 1000, 300_000),
    ] {
        let res = fetch_with(url, &[("Range", &range)]).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {start}-{end}/{len}").as_str()
        );
        assert_eq!(res.headers()["content-type"], "image/png");
        let body = res.bytes().await.unwrap();
        assert_eq!(body.as_ref(), &bytes[start..=end], "{range}");
    }
    let res = fetch_with(url, &[("Range", &format!("bytes={len}-"))]).await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );
    // If-Range with a stale validator: the whole image.
    let res = fetch_with(url, &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), len);
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let app = spawn_app().await;
    let bytes = fixture("real/hubble_deep_field.jpg");
    let v = app.upload_ok(bytes.clone(), "h.jpg").await;
    let res = client()
        .head(v["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert!(res.headers().contains_key("etag"));
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn private_and_proxied_responses_are_never_publicly_cacheable() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v: serde_json::Value = app
        .upload_with_ok(fixture("real/logo.png"), "p.png", &[("private", "true")])
        .await;
    let url = v["url"].as_str().unwrap();
    for req in [
        client().get(url),
        client().get(url).header("Range", "bytes=0-10"),
        client().head(url),
        app.client
            .get(app.url(&format!("/api/proxy/{}.png", v["uuid"].as_str().unwrap()))),
    ] {
        let res = req.send().await.unwrap();
        assert!(res.status().is_success());
        let cc = res.headers()["cache-control"].to_str().unwrap();
        assert_eq!(cc, "private, no-store");
        assert!(!cc.contains("public"));
    }
    // A 304 for a private image also stays private.
    let etag = format!("\"{}\"", v["hash"].as_str().unwrap());
    let res = fetch_with(url, &[("If-None-Match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["cache-control"], "private, no-store");
}

#[tokio::test]
async fn large_images_stream_byte_exact() {
    let app = spawn_app().await;
    // Bigger than one read chunk, so the streaming path runs.
    let bytes = fixture("real/astronaut.png");
    assert!(bytes.len() > 256 * 1024);
    let v = app.upload_ok(bytes.clone(), "big.png").await;
    let got = fetch_bytes(v["url"].as_str().unwrap()).await;
    assert_eq!(got.as_slice(), bytes.as_slice());
}

#[tokio::test]
async fn api_errors_are_json_with_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/api/nope",
        "/00000000-0000-0000-0000-000000000000.png",
        "/..%2f..%2fetc%2fpasswd",
    ] {
        let res = fetch(app.url(path)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert!(
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["code"], "not_found");
    }
    let res = client().put(app.url("/api/upload")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn health_and_admin_ui_answer() {
    let app = spawn_app().await;
    assert_eq!(fetch(app.url("/healthz")).await.status(), StatusCode::OK);
    assert_eq!(fetch(app.url("/readyz")).await.status(), StatusCode::OK);
    let res = fetch(app.url("/")).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/admin/");
    let res = fetch(app.url("/admin/")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(!html.contains("{{ASSET_BASE}}"));
    // Every asset the entry page names is served, cacheable forever.
    let version = app.state.admin.version().to_string();
    let prefix = format!("/admin/static-{version}/");
    let mut found = 0;
    for part in html.split('"').filter(|s| s.starts_with(&prefix)) {
        let res = fetch(app.url(part)).await;
        assert_eq!(res.status(), StatusCode::OK, "{part}");
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        found += 1;
    }
    assert!(found >= 1, "the entry page references its assets: {html}");
    assert_eq!(
        fetch(app.url("/admin/static-x/nope.js")).await.status(),
        StatusCode::NOT_FOUND
    );
}
