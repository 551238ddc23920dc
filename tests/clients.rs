//! Real clients on the wire: ShareX's exact multipart shape (boundary style,
//! arguments first, any file field name, Content-Length, its User-Agent), curl
//! with a chunked body, raw-body uploads, a `key` form field, and the plain-text
//! answer ksnip-style scripts want.

use crate::support::*;
use reqwest::StatusCode;

/// Posts `body` as ShareX does: its User-Agent, the key spelled out in
/// `Authorization`, and the multipart type and length set by hand.
async fn sharex_post(app: &TestApp, boundary: &str, body: Vec<u8>) -> reqwest::Response {
    client()
        .post(app.url("/api/upload"))
        .header("User-Agent", "ShareX/19.0.2")
        .header("Authorization", format!("Bearer {}", app.upload_key))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("Content-Length", body.len())
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A body byte-for-byte as ShareX 19 builds it (ECOSYSTEM.md §1.3).
fn sharex_body(
    boundary: &str,
    field: &str,
    args: &[(&str, &str)],
    name: &str,
    mime: &str,
    bytes: &[u8],
) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in args {
        b.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    b.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n")
            .as_bytes(),
    );
    b.extend_from_slice(bytes);
    b.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

#[tokio::test]
async fn sharex_requests_upload_with_file_or_img_field() {
    let app = spawn_app().await;
    let bytes = fixture("real/rocket.jpg");
    for (field, args) in [
        ("file", vec![]),
        ("img", vec![("private", "false")]),
        ("files[]", vec![("x", "1")]),
    ] {
        let boundary = format!("{}{:x}", "-".repeat(20), 638_674_000_000_000_000u64);
        let body = sharex_body(
            &boundary,
            field,
            &args,
            "Zx4kP9qL2m.jpg",
            "image/jpeg",
            &bytes,
        );
        let res = sharex_post(&app, &boundary, body).await;
        assert!(res.status().is_success(), "field {field}: {}", res.status());
        let v: serde_json::Value = res.json().await.unwrap();
        for k in ["url", "thumbnail_url", "deletion_url"] {
            assert!(
                v[k].as_str().is_some_and(|s| s.starts_with("http://")),
                "{k} missing: {v}"
            );
        }
        assert_eq!(v["filename"], "Zx4kP9qL2m.jpg");
        let served = fetch(v["url"].as_str().unwrap()).await;
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}

#[tokio::test]
async fn sharex_errors_are_json_with_an_error_field() {
    let app = spawn_app().await;
    let boundary = "--------------------8dd1a2b3c4d5e6f";
    let body = sharex_body(
        boundary,
        "file",
        &[],
        "x.png",
        "image/png",
        &fixture("hostile/html-named.png"),
    );
    let res = sharex_post(&app, boundary, body).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.headers()["content-type"], "application/json");
    let v: serde_json::Value = res.json().await.unwrap();
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
}

#[tokio::test]
async fn curl_style_chunked_multipart_uploads() {
    let app = spawn_app().await;
    let bytes = fixture("real/coffee.webp");
    let boundary = "------------------------d74496d66958873e";
    let body = sharex_body(boundary, "file", &[], "shot.webp", "image/webp", &bytes);
    // Unknown length: reqwest sends it with Transfer-Encoding: chunked.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(4096).map(|c| Ok(c.to_vec())).collect();
    let res = client()
        .post(app.url("/api/upload"))
        .header("User-Agent", "curl/8.5.0")
        .header("Authorization", format!("Bearer {}", app.upload_key))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = res.json().await.unwrap();
    let served = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn the_key_may_come_as_a_form_field_before_the_file() {
    let app = spawn_app().await;
    let ok = reqwest::multipart::Form::new()
        .text("key", app.upload_key.clone())
        .text("private", "true")
        .part(
            "image",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("logo.ico"),
        );
    let res = client()
        .post(app.url("/api/upload"))
        .multipart(ok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["isPrivate"], true);
    // A key after the file is too late: the file is not stored unauthenticated.
    let late = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("logo.ico"),
        )
        .text("key", app.upload_key.clone());
    let res = client()
        .post(app.url("/api/upload"))
        .multipart(late)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.totals().images, 1);
}

#[tokio::test]
async fn raw_body_uploads_take_the_name_from_the_query() {
    let app = spawn_app().await;
    let bytes = fixture("real/no_time_for_that_tiny.gif");
    let res = client()
        .post(app.url("/api/upload?filename=funny%20cat.gif"))
        .header("X-Upload-Key", &app.upload_key)
        .header("Content-Type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["filename"], "funny cat.gif");
    assert_eq!(v["contentType"], "image/gif");
}

#[tokio::test]
async fn text_format_returns_just_the_link() {
    let app = spawn_app().await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("x.ico"),
    );
    let res = client()
        .post(app.url("/api/upload?format=text"))
        .bearer_auth(&app.upload_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(content_type(&res).starts_with("text/plain"));
    let text = res.text().await.unwrap();
    let url = text.trim();
    assert!(
        url.starts_with(&app.base) && url.ends_with(".ico") && !url.contains(' '),
        "{text:?}"
    );
    assert_eq!(fetch(url).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sharex_deletion_url_confirms_on_get_and_deletes_on_post() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    let del = v["deletion_url"].as_str().unwrap().to_string();
    // GET is safe: a page, nothing deleted (link previews and scanners GET it).
    let page = fetch(&del).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(content_type(&page).starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert_eq!(
        fetch(v["url"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    // A wrong token neither shows the form nor deletes.
    let wrong = del.split("token=").next().unwrap().to_string() + "token=AAAA";
    assert_eq!(fetch(&wrong).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        client().post(&wrong).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.totals().images, 1);
    // The form's POST deletes.
    let done = client().post(&del).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(
        fetch(v["url"].as_str().unwrap()).await.status(),
        StatusCode::NOT_FOUND
    );
    app.assert_empty_store();
}

#[tokio::test]
async fn delete_with_token_via_the_api_answers_json() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    let del = v["deletion_url"].as_str().unwrap();
    let res = client().delete(del).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["deleted"],
        true
    );
    app.assert_empty_store();
}

/// A client that sends its whole body before reading (ShareX, Node's fetch)
/// must get the JSON refusal, not a connection reset: a small body is read to
/// its end before the 401, and the connection stays usable afterwards.
#[tokio::test]
async fn a_wrong_key_gets_its_json_401_after_the_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let body = vec![b'x'; 200_000];
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pbk_wrong\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("ok\n") && tokio::time::Instant::now() < deadline
    {
        match tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("connection failed: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("\"code\":\"unauthorized\""), "{text}");
    assert!(
        text.contains("HTTP/1.1 200"),
        "the connection must survive the refusal: {text}"
    );
}
