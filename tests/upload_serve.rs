//! Every real image uploads and serves back byte-identical with its type and
//! dimensions; identical bytes share one blob; deleting one copy keeps the other;
//! deleting the last copy frees the blob; views are counted in the background.

use crate::support::*;
use reqwest::StatusCode;

/// (fixture, content type, ext, width, height) — facts of the fixture files.
const REAL: &[(&str, &str, &str, u64, u64)] = &[
    ("astronaut.png", "image/png", "png", 512, 512),
    ("chelsea.bmp", "image/bmp", "bmp", 451, 300),
    ("chelsea.png", "image/png", "png", 451, 300),
    ("coffee.png", "image/png", "png", 600, 400),
    ("coffee.webp", "image/webp", "webp", 600, 400),
    ("hubble_deep_field.jpg", "image/jpeg", "jpg", 1000, 872),
    ("logo-lossless.webp", "image/webp", "webp", 500, 500),
    ("logo.ico", "image/x-icon", "ico", 48, 48),
    ("logo.png", "image/png", "png", 500, 500),
    ("no_time_for_that_tiny.gif", "image/gif", "gif", 14, 25),
    // Stored 640x427 with EXIF orientation 6: displayed upright, portrait.
    ("rocket-gps.jpg", "image/jpeg", "jpg", 427, 640),
    ("rocket.jpg", "image/jpeg", "jpg", 640, 427),
];

#[tokio::test]
async fn every_real_image_round_trips() {
    let app = spawn_app().await;
    assert_eq!(
        fixture_names("real").len(),
        REAL.len(),
        "fixture list changed"
    );
    for &(name, ct, ext, w, h) in REAL {
        let bytes = fixture(&format!("real/{name}"));
        let img = app.upload_ok(bytes.clone(), name).await;
        assert_eq!(img["contentType"], ct, "{name}");
        assert_eq!(img["extension"], ext, "{name}");
        assert_eq!(
            (
                img["width"].as_u64().unwrap(),
                img["height"].as_u64().unwrap()
            ),
            (w, h),
            "{name}"
        );
        assert_eq!(img["size"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(img["hash"], blake3::hash(&bytes).to_hex().as_str());
        assert_eq!(img["isPrivate"], false);
        let url = img["url"].as_str().unwrap();
        assert!(
            url.starts_with(&app.base) && url.ends_with(&format!(".{ext}")),
            "{url}"
        );
        let res = fetch(url).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], ct);
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            bytes.as_slice(),
            "{name} bytes differ"
        );
    }
    let t = app.totals();
    assert_eq!(t.images, REAL.len() as u64);
    assert_eq!(app.files_on_disk(), (REAL.len(), 0));
}

#[tokio::test]
async fn identical_bytes_share_one_blob_until_the_last_delete() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let bytes = fixture("real/logo.png");
    let a = app.upload_ok(bytes.clone(), "a.png").await;
    let b = app.upload_ok(bytes.clone(), "b.png").await;
    assert_ne!(a["uuid"], b["uuid"]);
    assert_eq!(a["hash"], b["hash"]);
    assert_eq!(app.files_on_disk(), (1, 0), "one blob file for two images");
    assert_eq!(
        app.totals().bytes_stored,
        bytes.len() as u64,
        "dedup counts bytes once"
    );
    assert_eq!(app.totals().images, 2);

    let del = app.delete_image(&a).await;
    assert_eq!(del.status(), StatusCode::OK);
    assert_eq!(
        fetch(a["url"].as_str().unwrap()).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = fetch(b["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(app.files_on_disk(), (1, 0));

    let del = app.delete_image(&b).await;
    assert_eq!(del.status(), StatusCode::OK);
    assert_eq!(app.files_on_disk(), (0, 0), "last delete frees the blob");
    assert_eq!(app.totals(), pixbin::store::Totals::default());
    // Deleting again is a 404.
    let again = app.delete_image(&b).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn views_are_counted_but_not_from_the_admin_ui_or_head() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let img = app.upload_ok(fixture("real/logo.ico"), "logo.ico").await;
    let id = img["id"].as_u64().unwrap();
    let url = img["url"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(fetch(url).await.status(), StatusCode::OK);
    }
    // Not counted: HEAD, the admin UI, the proxy.
    client().head(url).send().await.unwrap();
    fetch_with(url, &[("Referer", &app.url("/admin/library"))]).await;
    let proxied = app
        .get(&format!("/api/proxy/{}.ico", img["uuid"].as_str().unwrap()))
        .await;
    assert_eq!(proxied.status(), StatusCode::OK);
    assert_eq!(app.wait_for_views(id, 3).await, 3);
    // Once the writer holds nothing more, the count must still be 3.
    app.wait_views_written().await;
    let details: serde_json::Value = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(details["views"], 3);
}

#[tokio::test]
async fn upload_by_session_needs_csrf_and_records_the_user() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let form = || {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("x.ico"),
        )
    };
    let res = app
        .client
        .post(app.url("/api/upload"))
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.assert_empty_store();
    let res = app
        .with_csrf(reqwest::Method::POST, "/api/upload")
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    let rec = app.state.store.image(id).unwrap().unwrap().record;
    assert_eq!(
        rec.uploader,
        pixbin::store::codec::Uploader::User("admin".into())
    );
}
