//! Hostile files are refused with 400 and the code that says why, and leave no
//! row, no blob and no temp file behind.

use crate::support::*;
use reqwest::StatusCode;

/// (fixture, expected code) — every file in tests/fixtures/hostile except the
/// valid GIF/JS polyglot, which is accepted and neutralised when served.
const REFUSED: &[(&str, &str)] = &[
    ("archive.zip.jpg", "type_not_allowed"),
    ("document.pdf.png", "type_not_allowed"),
    ("empty.png", "invalid_request"),
    ("html-named.png", "type_not_allowed"),
    ("pixel-bomb.jpg", "image_too_large"),
    ("pixel-bomb.png", "image_too_large"),
    ("script.svg", "type_not_allowed"),
    ("truncated.png", "invalid_image"),
];

#[tokio::test]
async fn hostile_files_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let names = fixture_names("hostile");
    assert_eq!(
        names.len(),
        REFUSED.len() + 1,
        "hostile fixture list changed: {names:?}"
    );
    for &(name, code) in REFUSED {
        let res = app.upload(fixture(&format!("hostile/{name}")), name).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], code, "{name}: {body}");
        let msg = body["error"].as_str().unwrap();
        assert!(
            !msg.is_empty() && !msg.contains('/'),
            "{name}: message {msg:?} should be short and path-free"
        );
        app.assert_empty_store();
    }
}

#[tokio::test]
async fn the_same_refusals_apply_to_raw_bodies_with_a_lying_content_type() {
    let app = spawn_app().await;
    for &(name, code) in REFUSED {
        let res = app
            .upload_raw(
                "/api/upload",
                &[("Content-Type", "image/png")],
                fixture(&format!("hostile/{name}")),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap()["code"],
            code,
            "{name}"
        );
        app.assert_empty_store();
    }
}

#[tokio::test]
async fn the_polyglot_gif_is_served_inert() {
    let app = spawn_app().await;
    let img = app
        .upload_ok(fixture("hostile/polyglot.gif"), "polyglot.gif")
        .await;
    assert_eq!(img["contentType"], "image/gif");
    let res = fetch(img["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/gif");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
}

#[tokio::test]
async fn a_type_outside_the_allow_list_is_refused() {
    let app = spawn_app_with(|c| c.allowed_types = vec![pixbin::media::ImageType::Png]).await;
    let res = app.upload(fixture("real/rocket.jpg"), "rocket.jpg").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "type_not_allowed"
    );
    app.assert_empty_store();
    app.upload_ok(fixture("real/logo.png"), "logo.png").await;
}

#[tokio::test]
async fn too_large_files_are_refused_early_and_while_streaming() {
    let app = spawn_app_with(|c| c.max_upload_bytes = 40_000).await;
    // Content-Length over the limit: 413 before the body is read.
    let res = app.upload(fixture("real/rocket.jpg"), "rocket.jpg").await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "file_too_large"
    );
    app.assert_empty_store();
    // Chunked (no Content-Length): refused once the limit is crossed.
    let bytes = fixture("real/rocket.jpg");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .upload_raw(
            "/api/upload",
            &[("Content-Type", "image/jpeg")],
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "file_too_large"
    );
    app.assert_empty_store();
}

#[tokio::test]
async fn storage_limit_is_enforced_from_the_running_total() {
    use pixbin::store::quota::upload_cost;
    let logo = fixture("real/logo.png");
    // Room for the logo's full cost twice: the first upload is charged all of
    // it, a duplicate only its row but is checked at full cost (A47, A49).
    let limit = 2 * upload_cost(logo.len() as u64);
    let app = spawn_app_with(|c| c.max_storage_bytes = Some(limit)).await;
    app.upload_ok(logo.clone(), "logo.png").await;
    assert_eq!(app.totals().bytes_stored, logo.len() as u64);
    app.upload_ok(logo.clone(), "again.png").await;
    let res = app.upload(logo, "third.png").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "storage_full"
    );
    assert_eq!(app.totals().images, 2);
    assert_eq!(app.files_on_disk(), (1, 0), "refused upload left a file");
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401_and_store_nothing() {
    let app = spawn_app().await;
    let form = || {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("x.ico"),
        )
    };
    let res = client()
        .post(app.url("/api/upload"))
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "unauthorized"
    );
    let res = client()
        .post(app.url("/api/upload"))
        .bearer_auth("pbk_not-a-real-key")
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = client()
        .post(app.url("/api/upload"))
        .header("X-Upload-Key", "wrong")
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.assert_empty_store();
}

#[tokio::test]
async fn malformed_multipart_is_refused() {
    let app = spawn_app().await;
    let send = |ct: &'static str, body: &'static str| {
        client()
            .post(app.url("/api/upload"))
            .bearer_auth(&app.upload_key)
            .header("Content-Type", ct)
            .body(body)
            .send()
    };
    for (ct, body) in [
        ("multipart/form-data", "--x\r\n\r\n"),
        ("multipart/form-data; boundary=", "----\r\n"),
        ("multipart/mixed; boundary=x", "--x--\r\n"),
        ("application/json", "{\"url\":\"http://127.0.0.1:9/\"}"),
        (
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nabc",
        ),
        (
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=\"private\"\r\n\r\ntrue\r\n--x--\r\n",
        ),
    ] {
        let res = send(ct, body).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{ct} {body:?}");
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap()["code"],
            "invalid_request"
        );
    }
    // No Content-Type at all.
    let res = app
        .upload_raw("/api/upload", &[], fixture("real/logo.ico"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Two files in one body.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("a.ico"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("b.ico"),
        );
    let res = client()
        .post(app.url("/api/upload"))
        .bearer_auth(&app.upload_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    app.assert_empty_store();
}
