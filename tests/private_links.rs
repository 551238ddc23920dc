//! Private links: the issued URL works verbatim; no key, a wrong key and an
//! unknown uuid are the same 404; keys decode in any base64 spelling; making an
//! image private or rotating its key kills the old link.

use crate::support::*;
use base64::Engine;
use reqwest::StatusCode;

async fn get(url: &str) -> (StatusCode, String, String) {
    let res = fetch(url).await;
    let status = res.status();
    let ct = content_type(&res).to_string();
    (status, ct, res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn private_images_need_their_key_and_misses_look_alike() {
    let app = spawn_app().await;
    let v: serde_json::Value = app
        .upload_with_ok(fixture("real/rocket.jpg"), "r.jpg", &[("private", "true")])
        .await;
    assert_eq!(v["isPrivate"], true);
    let url = v["url"].as_str().unwrap();
    assert!(url.contains("?key="), "{url}");
    let res = fetch(url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");

    let bare = url.split('?').next().unwrap();
    let other_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 16]);
    let unknown = format!("{}/{}.jpg", app.base, uuid::Uuid::new_v4());
    let misses = [
        bare.to_string(),
        format!("{bare}?key="),
        format!("{bare}?key=%%%"),
        format!("{bare}?key={}", "A".repeat(10_000)),
        format!("{bare}?key=not*base64"),
        format!("{bare}?key={other_key}"),
        bare.replace(".jpg", ".png") + &url[bare.len()..],
        unknown,
    ];
    let reference = get(&misses[0]).await;
    assert_eq!(reference.0, StatusCode::NOT_FOUND);
    for m in &misses {
        assert_eq!(
            get(m).await,
            reference,
            "{m} must look exactly like an unknown image"
        );
    }
}

#[tokio::test]
async fn keys_work_in_standard_and_url_safe_base64() {
    let app = spawn_app().await;
    let v: serde_json::Value = app
        .upload_with_ok(fixture("real/logo.ico"), "x.ico", &[("private", "1")])
        .await;
    let url = v["url"].as_str().unwrap();
    let (bare, key) = url.split_once("?key=").unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key)
        .unwrap();
    let std_padded = base64::engine::general_purpose::STANDARD.encode(&raw);
    let encoded = std_padded
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    for k in [
        key.to_string(),
        format!("{key}=="),
        encoded,
        std_padded.replace('=', ""),
    ] {
        let u = format!("{bare}?key={k}");
        assert_eq!(fetch(&u).await.status(), StatusCode::OK, "{u}");
    }
}

#[tokio::test]
async fn privacy_toggle_and_rotation_revoke_old_links() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    let id = v["id"].as_u64().unwrap();
    let public = v["url"].as_str().unwrap().to_string();
    assert_eq!(get(&public).await.0, StatusCode::OK);

    let res = app
        .post_json(
            &format!("/api/images/{id}/privacy"),
            &serde_json::json!({"isPrivate": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: serde_json::Value = res.json().await.unwrap();
    let private1 = p["url"].as_str().unwrap().to_string();
    assert_eq!(p["isPrivate"], true);
    assert_eq!(
        get(&public).await.0,
        StatusCode::NOT_FOUND,
        "public link dies"
    );
    assert_eq!(get(&private1).await.0, StatusCode::OK);
    assert_eq!(app.totals().private_images, 1);

    let res = app
        .post(&format!(
            "/api/images/{}/rotate-key",
            v["uuid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: serde_json::Value = res.json().await.unwrap();
    let private2 = r["url"].as_str().unwrap().to_string();
    assert_ne!(private1, private2);
    assert_eq!(
        get(&private1).await.0,
        StatusCode::NOT_FOUND,
        "rotated key kills the old link"
    );
    assert_eq!(get(&private2).await.0, StatusCode::OK);

    // The seed's legacy route makes it public again.
    let res = app
        .post_json(
            &format!("/api/privacy/{id}"),
            &serde_json::json!({"isPrivate": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(get(&public).await.0, StatusCode::OK);
    assert_eq!(
        get(&private2).await.0,
        StatusCode::OK,
        "a key on a public image is ignored"
    );
    assert_eq!(app.totals().private_images, 0);

    // Rotating a public image's key is refused.
    let res = app.post(&format!("/api/images/{id}/rotate-key")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn private_images_in_the_list_carry_working_links() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    app.upload_with(fixture("real/logo.ico"), "p.ico", &[("private", "true")])
        .await;
    let list: serde_json::Value = app.get_json("/api/list").await;
    let url = list["images"][0]["url"].as_str().unwrap();
    assert!(url.contains("?key="));
    assert_eq!(fetch(url).await.status(), StatusCode::OK);
    assert!(
        list["images"][0]["deletion_url"].is_null(),
        "tokens are only shown at upload"
    );
}
