//! Serving small images from memory changes nothing a user can see: bytes and
//! ranges are exact, a deleted image stops serving at once, a private image is
//! not served without its key, and a view-limited image still runs out, even
//! right after the same bytes were served (and so cached).

use crate::support::*;
use reqwest::StatusCode;

async fn fetch_range(url: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = client().get(url);
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn cached_bytes_and_ranges_are_exact() {
    let app = spawn_app().await;
    let bytes = fixture("real/logo.png");
    let v = app.upload_ok(bytes.clone(), "logo.png").await;
    let url = v["url"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(
            fetch_range(url, None).await,
            (StatusCode::OK, bytes.clone())
        );
    }
    let (status, part) = fetch_range(url, Some("bytes=10-19")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, bytes[10..20].to_vec());
    let (status, tail) = fetch_range(url, Some("bytes=-5")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail, bytes[bytes.len() - 5..].to_vec());
}

#[tokio::test]
async fn a_deleted_image_stops_serving_although_cached() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let bytes = fixture("real/logo.png");
    let v = app.upload_ok(bytes.clone(), "logo.png").await;
    let url = v["url"].as_str().unwrap();
    assert_eq!(fetch_range(url, None).await.0, StatusCode::OK);
    let res = app.delete_image(&v).await;
    assert!(res.status().is_success());
    assert_eq!(fetch_range(url, None).await.0, StatusCode::NOT_FOUND);
    // The same bytes uploaded again are one new image, served again.
    let again = app.upload_ok(bytes.clone(), "logo.png").await;
    let again_url = again["url"].as_str().unwrap();
    assert_eq!(fetch_range(again_url, None).await, (StatusCode::OK, bytes));
    assert_eq!(fetch_range(url, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn made_private_after_caching_needs_its_key() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let bytes = fixture("real/logo.png");
    let v = app.upload_ok(bytes.clone(), "logo.png").await;
    let id = v["id"].as_u64().unwrap();
    let public = v["url"].as_str().unwrap().to_string();
    assert_eq!(fetch_range(&public, None).await.0, StatusCode::OK);
    let res = app
        .post_json(
            &format!("/api/images/{id}/privacy"),
            &serde_json::json!({"isPrivate": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: serde_json::Value = res.json().await.unwrap();
    let private = p["url"].as_str().unwrap();
    assert_eq!(fetch_range(&public, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        fetch_range(&format!("{public}?key=AAAAAAAAAAAAAAAAAAAAAA"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(fetch_range(private, None).await, (StatusCode::OK, bytes));
}

#[tokio::test]
async fn a_view_limit_runs_out_although_cached() {
    let app = spawn_app().await;
    let bytes = fixture("real/logo.png");
    let v = app
        .upload_with(bytes.clone(), "logo.png", &[("maxViews", "2")])
        .await;
    assert!(v.status().is_success(), "{}", v.status());
    let v: serde_json::Value = v.json().await.unwrap();
    let url = v["url"].as_str().unwrap();
    let browser = |u: &str| {
        client()
            .get(u)
            .header(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            )
            .send()
    };
    for _ in 0..2 {
        let res = browser(url).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
    }
    assert_eq!(browser(url).await.unwrap().status(), StatusCode::NOT_FOUND);
}
