//! Hostile multipart bodies (A01–A06, A09): a form without a valid boundary or
//! type, one cut short, two files, no file, too many or too long fields, huge
//! part headers, hostile file names and empty files are refused with 400 and
//! leave nothing behind; hostile names that are accepted never reach a path.

use super::*;
use reqwest::StatusCode;

/// A01: `multipart/form-data` without a boundary, with an empty one or one over
/// 70 characters, and other types: 400 `invalid_request`, nothing stored.
#[tokio::test]
async fn a01_multipart_without_a_valid_boundary_or_type_is_refused() {
    let app = spawn_app().await;
    let png = fixture("real/logo.png");
    let long = "b".repeat(71);
    let body_for = |b: &str| {
        let mut body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
        )
        .into_bytes();
        body.extend(&png);
        body.extend(format!("\r\n--{b}--\r\n").as_bytes());
        body
    };
    let cases: Vec<(Option<String>, Vec<u8>)> = vec![
        (Some("multipart/form-data".into()), body_for("x")),
        (Some("multipart/form-data; boundary=".into()), body_for("")),
        (
            Some("multipart/form-data; boundary=\"\"".into()),
            body_for(""),
        ),
        (
            Some(format!("multipart/form-data; boundary={long}")),
            body_for(&long),
        ),
        (
            Some("multipart/form-data; boundary=\"a<b>\"".into()),
            body_for("a<b>"),
        ),
        (Some("multipart/mixed; boundary=x".into()), body_for("x")),
        (Some("application/json".into()), body_for("x")),
        (Some("text/html".into()), body_for("x")),
        (None, body_for("x")),
    ];
    for (ct, body) in cases {
        let mut req = client()
            .post(app.url("/api/upload"))
            .bearer_auth(&app.upload_key)
            .body(body);
        if let Some(ct) = &ct {
            req = req.header("Content-Type", ct);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.bytes().await.unwrap();
        assert_error(status, &bytes, 400, "invalid_request");
    }
    assert_no_store(&app);
    // The same body with a 70-character boundary is fine: the limit is exact.
    let ok = "b".repeat(70);
    let res = app
        .upload_raw(
            "/api/upload",
            &[(
                "Content-Type",
                &format!("multipart/form-data; boundary={ok}"),
            )],
            body_for(&ok),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A02: a body that ends (the client half-closes) before the closing
/// boundary: 400 or a closed connection; no row, blob or temp file.
#[tokio::test]
async fn a02_body_without_closing_boundary_stores_nothing() {
    let app = spawn_app().await;
    let png = fixture("real/logo.png");
    // Complete framing except the closing `--boundary--`.
    let body = part_bytes(&RawPart::file("file", "a.png", &png));
    let res = exchange(app.addr, form_upload_request(&app, &body), false, 1);
    assert_eq!(res.len(), 1, "one answer, then close");
    assert_error(res[0].status, &res[0].body, 400, "invalid_request");
    assert!(
        String::from_utf8_lossy(&res[0].body).contains("incomplete"),
        "{:?}",
        res[0]
    );

    // Cut inside the file data, with Content-Length promising more.
    let mut req = upload_head(
        &app,
        &form_type(),
        &format!("Content-Length: {}\r\n", body.len() + 10_000),
    )
    .into_bytes();
    req.extend(&body[..body.len() / 2]);
    let res = exchange(app.addr, req, true, 1);
    assert!(res.len() <= 1);
    if let Some(r) = res.first() {
        assert_error(r.status, &r.body, 400, "invalid_request");
    }

    // Chunked, with the last chunk sent but no closing boundary.
    let mut req = upload_head(&app, &form_type(), "Transfer-Encoding: chunked\r\n").into_bytes();
    req.extend(format!("{:x}\r\n", body.len()).as_bytes());
    req.extend(&body);
    req.extend(b"\r\n0\r\n\r\n");
    let res = exchange(app.addr, req, false, 1);
    assert_error(res[0].status, &res[0].body, 400, "invalid_request");
    assert_no_store(&app);
}

/// A03: two parts named `file` (two files, or a file and a text field of the
/// same name): 400, and not even the first file is stored.
#[tokio::test]
async fn a03_two_parts_named_file_are_refused() {
    let app = spawn_app().await;
    let a = fixture("real/logo.png");
    let b = fixture("real/logo.ico");
    for body in [
        form(&[
            RawPart::file("file", "a.png", &a),
            RawPart::file("file", "b.ico", &b),
        ]),
        form(&[
            RawPart::file("file", "a.png", &a),
            RawPart::text("file", "second"),
        ]),
        form(&[
            RawPart::text("file", "first"),
            RawPart::file("file", "a.png", &a),
        ]),
        // Different field names, still two files.
        form(&[
            RawPart::file("file", "a.png", &a),
            RawPart::file("img", "b.ico", &b),
        ]),
    ] {
        let res = app
            .upload_raw("/api/upload", &[("Content-Type", &form_type())], body)
            .await;
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 400, "invalid_request");
    }
    assert_no_store(&app);
}

/// A04: no file part; 10 000 tiny fields; a file plus a 1 MiB text field: 400
/// long before the body ends, nothing stored.
#[tokio::test]
async fn a04_forms_without_a_file_or_with_too_many_or_too_long_fields_are_refused() {
    let app = spawn_app().await;
    let png = fixture("real/logo.png");
    let no_file = form(&[RawPart::text("private", "true")]);
    let mut many = Vec::new();
    for i in 0..10_000 {
        many.extend(part_bytes(&RawPart::text(&format!("f{i}"), "x")));
    }
    many.extend(part_bytes(&RawPart::file("file", "a.png", &png)));
    many.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    let long_text = "t".repeat(1024 * 1024);
    let long = form(&[
        RawPart::file("file", "a.png", &png),
        RawPart::text("note", &long_text),
    ]);
    for (what, body) in [("no file", no_file), ("many", many), ("long", long)] {
        let res = exchange(app.addr, form_upload_request(&app, &body), false, 1);
        assert_eq!(res.len(), 1, "{what}");
        assert_error(res[0].status, &res[0].body, 400, "invalid_request");
    }
    assert_no_store(&app);
}

/// A05: a part header line of 1 MiB and a part with 5 000 header lines: 400
/// after at most 16 KiB of part headers (multer alone would buffer them).
#[tokio::test]
async fn a05_huge_part_headers_are_refused() {
    let app = spawn_app().await;
    let png = fixture("real/logo.png");
    let junk = format!("X-Junk: {}\r\n", "j".repeat(1024 * 1024));
    let many: String = (0..5000).map(|i| format!("X-H{i}: v\r\n")).collect();
    for (what, extra) in [("one long line", junk), ("5000 lines", many)] {
        // Otherwise a valid upload: without the header bound it would succeed.
        let body = form(&[RawPart {
            name: "file",
            filename: Some("a.png"),
            extra_headers: &extra,
            data: &png,
        }]);
        let res = exchange(app.addr, form_upload_request(&app, &body), false, 1);
        assert_eq!(res.len(), 1, "{what}");
        assert_error(res[0].status, &res[0].body, 400, "invalid_request");
        assert!(
            String::from_utf8_lossy(&res[0].body).contains("headers"),
            "{what}: {:?}",
            String::from_utf8_lossy(&res[0].body)
        );
    }
    // A preamble of 1 MiB before the first boundary is bounded the same way.
    let mut body = vec![b'p'; 1024 * 1024];
    body.extend(form(&[RawPart::file("file", "a.png", &png)]));
    let res = exchange(app.addr, form_upload_request(&app, &body), false, 1);
    assert_error(res[0].status, &res[0].body, 400, "invalid_request");
    assert_no_store(&app);
}

/// Checks the image JSON of an accepted hostile name, and that serving it
/// adds no header from it.
async fn check_stored_name(app: &TestApp, v: &serde_json::Value, name: &str) {
    let stored = v["filename"].as_str().unwrap();
    assert!(stored.chars().count() <= 255, "{stored}");
    assert!(!stored.contains(['/', '\\']), "{name:?} -> {stored:?}");
    assert!(
        !stored.chars().any(|c| c.is_control()),
        "{name:?} -> {stored:?}"
    );
    assert!(!stored.contains('\u{202E}'), "{name:?} -> {stored:?}");
    assert!(
        stored.ends_with(".bmp"),
        "extension follows the bytes: {stored}"
    );
    let uuid = v["uuid"].as_str().unwrap();
    let url = v["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/{uuid}.bmp", app.base));
    let served = fetch(url).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert!(served.headers().get("x-evil").is_none());
    if let Some(cd) = served.headers().get("content-disposition") {
        let cd = cd.to_str().unwrap();
        assert!(!cd.contains(['\r', '\n']), "{cd}");
    }
}

/// Percent-encodes every byte outside unreserved characters.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A06: hostile file names, in a multipart header and in `?filename=` of a raw
/// body. The image is stored under its hash and served under a server UUID;
/// the kept name is cut to 255 characters with no path, control or bidi
/// characters, and never becomes a header. (A NUL or CR LF inside a multipart
/// header line is refused outright with 400: it is not a valid header.)
#[tokio::test]
async fn a06_hostile_filenames_never_reach_a_path_or_a_header() {
    let app = spawn_app().await;
    let long = "n".repeat(4096) + ".png";
    let names: [&str; 8] = [
        "../../../etc/cron.d/x",
        "a\0.png",
        "a\r\nX-Evil: 1.png",
        &long,
        "evil\u{202E}gnp.exe.png",
        "<img src=x onerror=alert(1)>.png",
        "..\\..\\windows\\win.ini",
        "tab\there.png",
    ];
    let mut stored = 0u8;
    for name in names {
        // Distinct bytes per upload so each gets its own blob.
        let img = bmp_filled(2, 2, stored);
        let body = form(&[RawPart::file("file", name, &img)]);
        let res = app
            .upload_raw("/api/upload", &[("Content-Type", &form_type())], body)
            .await;
        let status = res.status();
        let bytes = res.bytes().await.unwrap();
        if status == StatusCode::BAD_REQUEST && name.contains(['\0', '\n']) {
            assert_error(400, &bytes, 400, "invalid_request");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{name:?}");
        check_stored_name(&app, &serde_json::from_slice(&bytes).unwrap(), name).await;
        stored += 1;

        // The same name through `?filename=` of a raw body, where percent
        // escapes can carry any byte.
        let img = bmp_filled(2, 2, 100 + stored);
        let res = app
            .upload_raw(
                &format!("/api/upload?filename={}", pct(name)),
                &[("Content-Type", "image/bmp")],
                img,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "raw {name:?}");
        check_stored_name(&app, &res.json().await.unwrap(), name).await;
        stored += 1;
    }
    assert!(stored >= 12, "most names are accepted: {stored}");
    // On disk: only hash-named blobs under two fan-out levels, nothing else.
    let blobs = app.dir.path().join("blobs");
    let mut n = 0;
    for a in std::fs::read_dir(&blobs).unwrap() {
        for b in std::fs::read_dir(a.unwrap().path()).unwrap() {
            for f in std::fs::read_dir(b.unwrap().path()).unwrap() {
                let name = f.unwrap().file_name().into_string().unwrap();
                assert!(
                    name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit()),
                    "{name}"
                );
                n += 1;
            }
        }
    }
    assert_eq!(n, stored as usize);
    for e in std::fs::read_dir(app.dir.path()).unwrap() {
        let t = e.unwrap().file_name().into_string().unwrap();
        assert!(
            !t.contains("cron") && !t.contains("win") && !t.contains("evil"),
            "unexpected entry in the data dir: {t}"
        );
    }
}

/// A09: an empty file, as a form part or a raw body: 400, nothing stored.
#[tokio::test]
async fn a09_empty_file_is_refused() {
    let app = spawn_app().await;
    let res = app
        .upload_raw(
            "/api/upload",
            &[("Content-Type", &form_type())],
            form(&[RawPart::file("file", "empty.png", b"")]),
        )
        .await;
    let status = res.status().as_u16();
    assert_error(status, &res.bytes().await.unwrap(), 400, "invalid_request");
    let res = app
        .upload_raw(
            "/api/upload?filename=empty.png",
            &[("Content-Type", "image/png")],
            Vec::new(),
        )
        .await;
    let status = res.status().as_u16();
    assert_error(status, &res.bytes().await.unwrap(), 400, "invalid_request");
    assert_no_store(&app);
}
