//! Active content and lying types (A10–A16): HTML or SVG dressed as images,
//! documents and executables with image names, pixel bombs and corrupt images
//! are refused by their bytes; a valid GIF/JS polyglot is accepted but every
//! response of it is inert; the type and extension always come from the bytes.

use super::*;
use reqwest::StatusCode;

/// Uploads `bytes` as a multipart file with an explicit part Content-Type.
async fn upload_typed(app: &TestApp, bytes: Vec<u8>, name: &str, ct: &str) -> (u16, Vec<u8>) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(ct)
        .unwrap();
    let res = client()
        .post(app.url("/api/upload"))
        .bearer_auth(&app.upload_key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

/// The same bytes as a raw body with a lying Content-Type.
async fn upload_raw(app: &TestApp, bytes: Vec<u8>, name: &str, ct: &str) -> (u16, Vec<u8>) {
    let res = app
        .upload_raw(
            &format!("/api/upload?filename={name}"),
            &[("Content-Type", ct)],
            bytes,
        )
        .await;
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

/// Asserts both upload paths refuse `bytes` with 400 and `code` (the API's
/// reading of 415/413/422, SECURITY.md §2 conventions) and store nothing.
async fn assert_refused(app: &TestApp, bytes: &[u8], names: &[(&str, &str)], code: &str) {
    for &(name, ct) in names {
        let (s, b) = upload_typed(app, bytes.to_vec(), name, ct).await;
        assert_error(s, &b, 400, code);
        let (s, b) = upload_raw(app, bytes.to_vec(), name, ct).await;
        assert_error(s, &b, 400, code);
    }
    assert_no_store(app);
}

/// A10: HTML with `<script>` named `x.png` with part type `image/png`: refused
/// as `type_not_allowed` from its bytes.
#[tokio::test]
async fn a10_html_named_png_is_refused() {
    let app = spawn_app().await;
    let html = fixture("hostile/html-named.png");
    assert!(String::from_utf8_lossy(&html).contains("<script"));
    assert_refused(
        &app,
        &html,
        &[("x.png", "image/png"), ("x.gif", "image/gif")],
        "type_not_allowed",
    )
    .await;
    // Refused as what it is, not only as "not an image we know".
    let (_, body) = upload_raw(&app, html, "x.png", "image/png").await;
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("detected: html"), "{text}");
}

/// A11: SVG with script, under any name and type: SVG is not supported, so it
/// is refused (`type_not_allowed`) and can never be served.
#[tokio::test]
async fn a11_svg_is_refused_whatever_its_name() {
    let app = spawn_app().await;
    let svg = fixture("hostile/script.svg");
    let onload = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>"#;
    for bytes in [svg, onload.to_vec()] {
        assert_refused(
            &app,
            &bytes,
            &[
                ("x.svg", "image/svg+xml"),
                ("x.png", "image/png"),
                ("x.svg", "application/octet-stream"),
            ],
            "type_not_allowed",
        )
        .await;
        let (_, body) = upload_raw(&app, bytes, "x.png", "image/png").await;
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("detected: svg"), "{text}");
    }
}

/// A12: a valid GIF that is also JavaScript is accepted, and every response
/// carrying its bytes (GET, HEAD, range, 304, proxy, private) has `nosniff`,
/// the stored type and `CSP: default-src 'none'; sandbox`.
#[tokio::test]
async fn a12_polyglot_gif_is_served_inert_on_every_path() {
    let mut app = spawn_app().await;
    let poly = fixture("hostile/polyglot.gif");
    let v = app.upload_ok(poly.clone(), "polyglot.js").await;
    assert_eq!(v["contentType"], "image/gif");
    assert_eq!(v["extension"], "gif");
    let url = v["url"].as_str().unwrap().to_string();
    let etag = format!("\"{}\"", v["hash"].as_str().unwrap());
    app.login_admin().await;
    let proxy = app.url(&format!("/api/proxy/{}.gif", v["uuid"].as_str().unwrap()));
    let c = client();
    let mut responses = vec![
        ("GET", c.get(&url).send().await.unwrap()),
        ("HEAD", c.head(&url).send().await.unwrap()),
        (
            "range",
            c.get(&url)
                .header("Range", "bytes=0-5")
                .send()
                .await
                .unwrap(),
        ),
        (
            "304",
            c.get(&url)
                .header("If-None-Match", &etag)
                .send()
                .await
                .unwrap(),
        ),
        ("proxy", app.client.get(&proxy).send().await.unwrap()),
    ];
    // The same image made private, read through its keyed link.
    let res = app
        .post_json(
            &format!("/api/images/{}/privacy", v["id"]),
            &serde_json::json!({"isPrivate": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let private: serde_json::Value = res.json().await.unwrap();
    let keyed = private["url"].as_str().unwrap();
    responses.push(("private", c.get(keyed).send().await.unwrap()));
    for (what, res) in responses {
        assert!(
            [200, 206, 304].contains(&res.status().as_u16()),
            "{what}: {}",
            res.status()
        );
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(
            h["content-security-policy"], "default-src 'none'; sandbox",
            "{what}"
        );
        if res.status() != StatusCode::NOT_MODIFIED {
            assert_eq!(h["content-type"], "image/gif", "{what}");
        }
    }
}

/// A13: JPEG bytes named `.png`, and `.PNG`/`.jpeg`/`.jpg` spellings: the
/// extension and type come from the bytes and agree in the upload answer, the
/// list, the details and the served response; the wrong extension is 404.
#[tokio::test]
async fn a13_extension_and_type_follow_the_bytes_everywhere() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let jpeg = fixture("real/rocket.jpg");
    let png = fixture("real/logo.png");
    let cases = [
        (jpeg.clone(), "photo.png", "jpg", "image/jpeg"),
        (jpeg.clone(), "photo.jpeg", "jpg", "image/jpeg"),
        (jpeg, "PHOTO.JPG", "jpg", "image/jpeg"),
        (png, "LOGO.PNG", "png", "image/png"),
    ];
    for (bytes, name, ext, ct) in cases {
        let v = app.upload_ok(bytes, name).await;
        let uuid = v["uuid"].as_str().unwrap();
        assert_eq!(v["extension"], ext, "{name}");
        assert_eq!(v["contentType"], ct, "{name}");
        assert!(
            v["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{uuid}.{ext}"))
        );
        assert!(
            v["filename"]
                .as_str()
                .unwrap()
                .ends_with(&format!(".{ext}"))
        );
        let details: serde_json::Value = app.get_json(&format!("/api/images/{uuid}")).await;
        for field in ["extension", "contentType", "url", "filename"] {
            assert_eq!(details[field], v[field], "{name}: details {field}");
        }
        let list: serde_json::Value = app.get_json("/api/list?limit=500").await;
        let item = list["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["uuid"] == uuid)
            .unwrap();
        for field in ["extension", "contentType", "url", "filename"] {
            assert_eq!(item[field], v[field], "{name}: list {field}");
        }
        let served = fetch(v["url"].as_str().unwrap()).await;
        assert_eq!(served.headers()["content-type"], ct, "{name}");
        for wrong in ["png", "jpg", "gif", "webp"].iter().filter(|e| **e != ext) {
            let res = fetch(app.url(&format!("/{uuid}.{wrong}"))).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{name} as .{wrong}");
        }
    }
}

/// A14: PDF, ZIP, ELF and MP4 bytes under image names, and a real image type
/// outside the configured allow-list: `type_not_allowed`, nothing stored.
#[tokio::test]
async fn a14_non_images_and_disallowed_types_are_refused() {
    let app = spawn_app().await;
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.resize(256, 0);
    let mut mp4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    mp4.resize(256, 0);
    for bytes in [
        fixture("hostile/document.pdf.png"),
        fixture("hostile/archive.zip.jpg"),
        elf,
        mp4,
    ] {
        assert_refused(
            &app,
            &bytes,
            &[("x.png", "image/png"), ("x.jpg", "image/jpeg")],
            "type_not_allowed",
        )
        .await;
    }
    let png_only = spawn_app_with(|c| c.allowed_types = vec![pixbin::media::ImageType::Png]).await;
    assert_refused(
        &png_only,
        &fixture("real/no_time_for_that_tiny.gif"),
        &[("x.gif", "image/gif"), ("x.png", "image/png")],
        "type_not_allowed",
    )
    .await;
}

/// A15: a 5 KB JPEG declaring 64250x64250 and a small PNG declaring
/// 30000x30000: refused from the header dimensions (`image_too_large`) before
/// any pixel is decoded.
#[tokio::test]
async fn a15_pixel_bombs_are_refused_from_the_header() {
    let app = spawn_app().await;
    for name in ["pixel-bomb.jpg", "pixel-bomb.png"] {
        let bytes = fixture(&format!("hostile/{name}"));
        assert!(bytes.len() < 8 * 1024);
        assert_refused(&app, &bytes, &[(name, "image/png")], "image_too_large").await;
    }
}

/// A16: valid headers with truncated or corrupt pixel data: refused as
/// `invalid_image` or stored, never a 5xx, and the server keeps serving.
#[tokio::test]
async fn a16_truncated_or_corrupt_images_never_break_the_server() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        &fixture("hostile/truncated.png"),
        &[("t.png", "image/png")],
        "invalid_image",
    )
    .await;
    // A JPEG whose entropy-coded data is garbage (markers intact).
    let mut jpeg = fixture("real/rocket.jpg");
    let sos = jpeg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
    let end = jpeg.len() - 2;
    for b in &mut jpeg[sos + 20..end] {
        *b = 0x55;
    }
    // A PNG whose IDAT bytes are garbage (chunk CRCs then fail too).
    let mut png = fixture("real/logo.png");
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    for b in &mut png[idat + 4..idat + 2000] {
        *b = 0x00;
    }
    for (name, bytes) in [("c.jpg", jpeg), ("c.png", png)] {
        let (status, body) = upload_typed(&app, bytes, name, "image/png").await;
        assert!(
            status == 200 || status == 400 || status == 422,
            "{name}: {status}"
        );
        if status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let served = fetch(v["url"].as_str().unwrap()).await;
            assert_eq!(served.status(), StatusCode::OK);
            // Decoding it for a thumbnail fails; that is a prompt 404 (the
            // admin UI then shows the original), not a 5xx or a hang.
            let thumb = thumbnail_status(&v).await;
            assert!([200, 404].contains(&thumb), "{name} thumbnail: {thumb}");
        } else {
            assert_no_internals(&String::from_utf8_lossy(&body));
        }
    }
    let res = fetch(app.url("/healthz")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The thumbnail workers survived: a good image still gets its thumbnail.
    let ok = app.upload_ok(fixture("real/logo.ico"), "ok.ico").await;
    assert_eq!(thumbnail_status(&ok).await, 200);
}

/// The status of an uploaded image's thumbnail URL, which must answer within
/// 10 s.
async fn thumbnail_status(img: &serde_json::Value) -> u16 {
    client()
        .get(img["thumbnail_url"].as_str().unwrap())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the thumbnail answers promptly")
        .status()
        .as_u16()
}
