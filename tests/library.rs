//! The library API: newest-first listing, filters (public/private, dates, name),
//! cursor pagination with a capped page size, details by id or uuid, and
//! upload-key management (shown once, listed without the secret, revoked).

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn list(app: &TestApp, q: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url(&format!("/api/list{q}")))
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap())
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let files = [
        "logo.ico",
        "logo.png",
        "rocket.jpg",
        "coffee.webp",
        "chelsea.png",
    ];
    for (i, f) in files.iter().enumerate() {
        let private = if i % 2 == 0 { "false" } else { "true" };
        let name = format!("shot-{i}-{f}");
        let res = app
            .upload_with(
                fixture(&format!("real/{f}")),
                &name,
                &[("private", private)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (s, all) = list(&app, "").await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<u64> = all["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![5, 4, 3, 2, 1], "newest first");
    assert!(all["nextCursor"].is_null());

    let (_, p) = list(&app, "?type=private").await;
    assert!(
        p["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["isPrivate"] == true)
    );
    assert_eq!(p["images"].as_array().unwrap().len(), 2);
    let (_, p) = list(&app, "?type=public").await;
    assert_eq!(p["images"].as_array().unwrap().len(), 3);
    let (_, q) = list(&app, "?q=ROCKET").await;
    assert_eq!(q["images"].as_array().unwrap().len(), 1);
    assert_eq!(q["images"][0]["filename"], "shot-2-rocket.jpg");

    // Pages of two, following the cursor, visit everything once.
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let (s, page) = list(&app, &format!("?limit=2&cursor={cursor}")).await;
        assert_eq!(s, StatusCode::OK);
        let imgs = page["images"].as_array().unwrap();
        assert!(imgs.len() <= 2);
        seen.extend(imgs.iter().map(|i| i["id"].as_u64().unwrap()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let today = &all["images"][0]["uploadedAt"].as_str().unwrap()[..10];
    let (_, d) = list(&app, &format!("?from={today}&to={today}")).await;
    assert_eq!(d["images"].as_array().unwrap().len(), 5);
    let (_, d) = list(&app, "?to=2000-01-01").await;
    assert_eq!(d["images"].as_array().unwrap().len(), 0);

    for bad in [
        "?limit=-1",
        "?limit=abc",
        "?type=everything",
        "?from=tomorrow",
        "?cursor=zzz",
    ] {
        let (s, v) = list(&app, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(v["code"], "invalid_request");
    }
    let (s, big) = list(&app, "?limit=1000000000").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(big["images"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn details_by_id_or_uuid() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    for r in [v["id"].to_string(), v["uuid"].as_str().unwrap().to_string()] {
        let res = app
            .client
            .get(app.url(&format!("/api/images/{r}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let d: Value = res.json().await.unwrap();
        for k in [
            "id",
            "uuid",
            "filename",
            "extension",
            "size",
            "uploadedAt",
            "isPrivate",
            "views",
            "url",
            "width",
            "height",
            "contentType",
            "hash",
            "full_link",
            "thumbnail_url",
        ] {
            assert_eq!(d[k], v[k], "{k}");
        }
    }
    let res = app
        .client
        .get(app.url("/api/images/not-an-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .client
        .get(app.url("/api/images/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn upload_keys_are_shown_once_and_can_be_revoked() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let res = app
        .with_csrf(reqwest::Method::POST, "/api/keys")
        .json(&json!({"name": "laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let k: Value = res.json().await.unwrap();
    let key = k["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pbk_"));
    let keys: Value = app
        .client
        .get(app.url("/api/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = keys.to_string();
    assert!(
        !text.contains(&key) && !text.contains(&app.upload_key),
        "keys are never listed"
    );
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(keys["keys"][1]["lastUsedAt"].is_null());

    // The new key uploads, and is marked used.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("x.ico"),
    );
    let res = client()
        .post(app.url("/api/upload"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let keys: Value = app
        .client
        .get(app.url("/api/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(keys["keys"][1]["lastUsedAt"].is_string());

    let id = k["id"].as_u64().unwrap();
    let res = app
        .with_csrf(reqwest::Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("x.ico"),
    );
    let res = client()
        .post(app.url("/api/upload"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "revoked key");
    let res = app
        .with_csrf(reqwest::Method::DELETE, &format!("/api/keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
