//! Round 2, the data side (SECURITY.md §2): what an upload may leave behind and
//! what the files at rest give away.
//! - A44: location hidden in PNG text chunks, JPEG XMP/IPTC or WebP XMP is removed
//!   in `gps` mode, and `metadataStripped` names only what was removed.
//! - A47: the storage quota charges what an upload really costs (blocks, rows,
//!   names), and an image-count cap holds per uploader and overall.
//! - A48: an empty or unknown `private` value (field or header) is a 400, never
//!   a silent public upload.
//! - A49: `/metrics` answers only loopback clients that came through no proxy
//!   (or the token), and the upload answer is the same whether the bytes existed.
//! - A50: the data dir, database, blobs and backups are private to the owner
//!   whatever the umask, and the database alone does not open private images.
//! - A53: `restore` refuses an archive whose manifest has an endless line, with
//!   bounded memory.

use super::*;

/// An upload request with extra header lines (each ending in `\r\n`).
fn upload_with_headers(app: &TestApp, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST /api/upload HTTP/1.1\r\nHost: pixbin.test\r\nAuthorization: Bearer {}\r\n{extra}Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
        app.upload_key,
        form_type(),
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// A48: blank and unknown spellings of `private`, as a form field or as the
/// `X-Pixbin-Private` header, are refused with a 400 naming the option, and
/// nothing is stored, even where the default would have been private.
#[tokio::test]
async fn a48_empty_or_unknown_private_value_is_refused() {
    let app = spawn_app_with(|c| c.private_by_default = true).await;
    let img = bmp(2, 2, 7);
    for bad in ["", " ", "maybe", "tru", "null", "2"] {
        let body = form(&[
            RawPart::text("private", bad),
            RawPart::file("file", "a.bmp", &img),
        ]);
        let res = roundtrip(app.addr, form_upload_request(&app, &body));
        assert_error(res.status, &res.body, 400, "invalid_request");
        let msg = res.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains("private"), "field {bad:?}: {msg}");
        let only_file = form(&[RawPart::file("file", "a.bmp", &img)]);
        let res = roundtrip(
            app.addr,
            upload_with_headers(&app, &format!("X-Pixbin-Private: {bad}\r\n"), &only_file),
        );
        assert_error(res.status, &res.body, 400, "invalid_request");
        let msg = res.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains("X-Pixbin-Private"), "header {bad:?}: {msg}");
    }
    assert_no_store(&app);
    // The documented spellings still work, in any case.
    for (v, private) in [("TRUE", true), ("no", false), ("1", true), ("Off", false)] {
        let res = app
            .upload_with(img.clone(), "a.bmp", &[("private", v)])
            .await;
        assert_eq!(res.status(), 200, "{v}");
        let j: serde_json::Value = res.json().await.unwrap();
        assert_eq!(j["isPrivate"], private, "{v}");
    }
}
