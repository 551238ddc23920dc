//! Paths, keys and access (A20–A25): traversal and non-canonical image paths are
//! 404; session routes refuse anonymous callers and bound their pages; bad
//! private keys look exactly like missing images; secrets are compared in
//! constant time; uploads never fetch a URL; upload keys can only upload; and
//! no secret from a URL, header or form reaches the logs.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};

use super::*;
use reqwest::StatusCode;
use serde_json::Value;

/// A GET over a raw socket, so the path reaches the server exactly as written.
fn raw_get(app: &TestApp, path: &str, extra: &str) -> RawResponse {
    roundtrip(
        app.addr,
        format!("GET {path} HTTP/1.1\r\nHost: pixbin.test\r\n{extra}\r\n").into_bytes(),
    )
}

/// A20: traversal, encoded separators, NUL, `;`, double encoding, overlong
/// UTF-8, uppercase or unhyphenated UUIDs and 37-character ids: 404 (or hyper's
/// 400 for a request line it cannot parse), never a file.
#[tokio::test]
async fn a20_traversal_and_non_canonical_paths_are_not_found() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    let u = v["uuid"].as_str().unwrap().to_string();
    let hash = v["hash"].as_str().unwrap().to_string();
    let ok = raw_get(&app, &format!("/{u}.png"), "");
    assert_eq!(ok.status, 200, "control");
    let paths = [
        "/..%2f..%2fetc%2fpasswd".to_string(),
        "/../../etc/passwd".into(),
        "/%2e%2e/%2e%2e/pixbin.redb".into(),
        "/pixbin.redb".into(),
        "/../pixbin.redb".into(),
        format!("/blobs/{}/{}/{hash}", &hash[..2], &hash[2..4]),
        format!("/{u}.png/..%2f.."),
        format!("/{u}.png/../../pixbin.redb"),
        format!("/{u}.png%00.jpg"),
        format!("/{u}.png;x"),
        format!("/{u}%5c.png"),
        "/..%5c..%5cpixbin.redb".into(),
        format!("/{u}.%252e"),
        "/%252e%252e/pixbin.redb".into(),
        "/%c0%ae%c0%ae/pixbin.redb".into(),
        format!("/{}.png", u.to_uppercase()),
        format!("/{}.png", u.replace('-', "")),
        format!("/{u}a.png"),
        format!("/{}.png", &u[..35]),
        format!("/{u}.PNG"),
        format!("/{u}.png/"),
        format!("//{u}.png"),
        format!("/./{u}.png"),
        format!("/{u}.jpg"),
    ];
    for p in &paths {
        let r = raw_get(&app, p, "");
        assert!(
            r.status == 404 || (r.status == 400 && r.body.is_empty()),
            "{p}: {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.header("location").is_none(), "{p} redirects");
        assert!(!r.body.starts_with(b"\x89PNG"), "{p} served bytes");
        assert_no_internals(&String::from_utf8_lossy(&r.body));
    }
}

/// A21: the proxy, details and list need a session (401); malformed proxy
/// paths are 404; a non-UUID id is 400; `limit` is capped at 500 and negative
/// or zero values are 400; the JSON carries no secret and no path.
#[tokio::test]
async fn a21_session_routes_need_a_session_and_bound_their_pages() {
    let mut app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    let u = v["uuid"].as_str().unwrap().to_string();
    for p in [
        format!("/api/proxy/{u}.png"),
        format!("/api/images/{u}"),
        "/api/images/1".into(),
        "/api/images/abc".into(),
        "/api/list".into(),
        "/api/list?limit=1000000000".into(),
    ] {
        let res = fetch(app.url(&p)).await;
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 401, "unauthorized");
    }
    app.login_admin().await;
    let cookie = session_cookie(&app).await;
    for p in [
        format!("/api/proxy/{u}.png/..%2f.."),
        format!("/api/proxy/{}.png", u.to_uppercase()),
        format!("/api/proxy/{u}.png%00.jpg"),
        "/api/proxy/..%2f..%2fpixbin.redb".into(),
        format!("/api/proxy/{u}.jpg"),
    ] {
        let r = raw_get(&app, &p, &cookie);
        assert_eq!(r.status, 404, "{p}");
    }
    for p in [
        "/api/images/abc",
        "/api/images/0",
        "/api/images/01",
        "/api/images/-1",
    ] {
        let res = app.get(p).await;
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 400, "invalid_request");
    }
    for q in [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "cursor=-5",
        "cursor=x.y",
        "limit=%%%",
    ] {
        let res = app.get(&format!("/api/list?{q}")).await;
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 400, "invalid_request");
    }
    // More images than a capped page would hold are not needed to see the
    // cap: a huge limit is accepted and answers a normal page.
    for _ in 0..3 {
        let n = app.totals().images as u8;
        app.upload_ok(bmp_filled(1, 1, n), "x.bmp").await;
    }
    let res = app.get("/api/list?limit=1000000000").await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["images"].as_array().unwrap().len(), 4);
    // No upload key, key digest, session token, CSRF token or path in the JSON.
    let key_hash = pixbin::auth::upload_key::hash(&app.upload_key);
    let key_hex: String = key_hash.iter().map(|b| format!("{b:02x}")).collect();
    let token = cookie.trim().rsplit('=').next().unwrap();
    for secret in [
        app.upload_key.as_str(),
        &app.upload_key[4..],
        key_hex.as_str(),
        token,
        app.csrf(),
        app.dir.path().to_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "the list leaks {secret}");
    }
    assert_no_internals(&text);
}

/// A fresh session of the admin, as a `Cookie:` header line for raw requests.
async fn session_cookie(app: &TestApp) -> String {
    let res = log_in(&client(), &app.base, "admin", ADMIN_PASSWORD).await;
    let pair = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|h| {
            let first = h.to_str().ok()?.split(';').next()?;
            first
                .starts_with("pixbin_session=")
                .then(|| first.to_string())
        })
        .expect("a session cookie");
    format!("Cookie: {pair}\r\n")
}

/// A22: a private image with an empty, malformed, 10 KB, invalid-base64, short
/// or another image's key: the same 404 as an image that does not exist.
#[tokio::test]
async fn a22_bad_private_keys_look_like_missing_images() {
    let app = spawn_app().await;
    let a: Value = app
        .upload_with_ok(fixture("real/logo.png"), "a.png", &[("private", "true")])
        .await;
    let b: Value = app
        .upload_with_ok(fixture("real/logo.ico"), "b.ico", &[("private", "true")])
        .await;
    let (a_url, b_url) = (a["url"].as_str().unwrap(), b["url"].as_str().unwrap());
    let a_path = a_url
        .split('?')
        .next()
        .unwrap()
        .trim_start_matches(&app.base)
        .to_string();
    let b_key = b_url.split("key=").nth(1).unwrap();
    let good = raw_get(&app, &a_url[app.base.len()..], "");
    assert_eq!(good.status, 200, "control");
    let missing = raw_get(&app, "/00000000-0000-4000-8000-000000000000.png", "");
    assert_eq!(missing.status, 404);
    let long = "A".repeat(10 * 1024);
    for key in [
        "",
        "%%%",
        long.as_str(),
        "!!!!!!!!!!!!!!!!!!!!!!",
        "AAAA",
        b_key,
        "AAAAAAAAAAAAAAAAAAAAAA",
        "%00",
    ] {
        for path in [
            format!("{a_path}?key={key}"),
            format!("{a_path}?key={key}&key=x"),
        ] {
            let r = raw_get(&app, &path, "");
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(r.body, missing.body, "{path}");
            assert_eq!(r.header("content-type"), missing.header("content-type"));
            assert_eq!(r.header("cache-control"), missing.header("cache-control"));
        }
    }
    let r = raw_get(&app, &a_path, "");
    assert_eq!((r.status, &r.body), (404, &missing.body), "no key");
}

/// A23: private keys, CSRF and deletion tokens are compared in constant time.
/// Timing over HTTP cannot see a 16-byte `==`, so this checks the code: every
/// comparison of secret material goes through `secret::ct_eq` (subtle), and a
/// key wrong in its first or its last byte gets the same answer.
#[tokio::test]
async fn a23_secret_comparisons_are_constant_time() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let secret_words = [
        "private_key",
        "deletion_hash",
        "csrf",
        "token_hash",
        "key_hash",
        "expected",
        "password",
    ];
    let mut checked = 0;
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap();
                if !(code.contains(" == ") || code.contains(" != ")) || code.contains("assert") {
                    continue;
                }
                if code.contains(".is_some()")
                    || code.contains(".is_none()")
                    || code.contains(".len()")
                {
                    continue;
                }
                for w in secret_words {
                    assert!(
                        !code.contains(w),
                        "{}:{}: secret compared with ==: {}",
                        p.display(),
                        n + 1,
                        line.trim()
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 20);
    let secret_rs = std::fs::read_to_string(src.join("secret.rs")).unwrap();
    assert!(
        secret_rs.contains("ConstantTimeEq"),
        "ct_eq is built on subtle"
    );
    let guard = std::fs::read_to_string(src.join("http/guard.rs")).unwrap();
    assert!(guard.contains("secret::ct_eq(&k, expected)"));

    let app = spawn_app().await;
    let v: Value = app
        .upload_with_ok(fixture("real/logo.png"), "a.png", &[("private", "true")])
        .await;
    let url = v["url"].as_str().unwrap();
    let (path, key) = url[app.base.len()..].split_once("?key=").unwrap();
    let flip = |i: usize| {
        let mut k: Vec<char> = key.chars().collect();
        k[i] = if k[i] == 'A' { 'B' } else { 'A' };
        k.into_iter().collect::<String>()
    };
    let first = raw_get(&app, &format!("{path}?key={}", flip(0)), "");
    let last = raw_get(&app, &format!("{path}?key={}", flip(key.len() - 2)), "");
    assert_eq!((first.status, &first.body), (404, &last.body));
}

/// A24: an upload with a `url` field, a `?url=` parameter, or a JSON body
/// naming a URL: the field is ignored (or the body refused) and the listener
/// named by the URL never sees a connection.
#[tokio::test]
async fn a24_uploads_never_fetch_a_url() {
    let app = spawn_app().await;
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let target = format!("http://{}/x.png", trap.local_addr().unwrap());
    let res = app
        .upload_with(fixture("real/logo.png"), "a.png", &[("url", &target)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .upload_raw(
            &format!("/api/upload?url={target}"),
            &[("Content-Type", "image/x-icon")],
            fixture("real/logo.ico"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = client()
        .post(app.url("/api/upload"))
        .bearer_auth(&app.upload_key)
        .json(&serde_json::json!({ "url": target }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_error(status, &res.bytes().await.unwrap(), 400, "invalid_request");
    // Every request above has been answered; a fetch made on the way would be
    // in the listener's queue already, and one deferred to the background
    // gets a moment to show up.
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    loop {
        match trap.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("the server connected out: {other:?}"),
        }
        if std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The operations of the OpenAPI document that only a session may call, with
/// concrete paths.
fn session_only_operations(uuid: &str, id: u64) -> Vec<(reqwest::Method, String)> {
    let doc: Value = serde_json::from_str(include_str!("../../assets/openapi.json")).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let sec = op["security"].as_array().unwrap();
            let session_only = !sec.is_empty()
                && sec
                    .iter()
                    .all(|s| s.get("session").is_some() || s.get("deletionToken").is_some());
            if !session_only {
                continue;
            }
            let concrete = path
                .replace("{uuid}", uuid)
                .replace("{ext}", "png")
                .replace("{name}", "admin")
                .replace("{id}", &id.to_string());
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            out.push((m, concrete));
        }
    }
    out
}

/// A25: an upload key (as Bearer or X-Upload-Key) on every session-only
/// operation of the API, including deleting the image it uploaded itself: 403
/// `forbidden`, and nothing changes.
#[tokio::test]
async fn a25_upload_keys_can_only_upload() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "mine.png").await;
    let uuid = v["uuid"].as_str().unwrap();
    let ops = session_only_operations(uuid, v["id"].as_u64().unwrap());
    assert!(ops.len() >= 15, "{ops:?}");
    for (m, path) in &ops {
        for how in ["bearer", "header"] {
            let mut req = client()
                .request(m.clone(), app.url(path))
                .header("X-CSRF-Token", "anything");
            req = match how {
                "bearer" => req.bearer_auth(&app.upload_key),
                _ => req.header("X-Upload-Key", &app.upload_key),
            };
            if *m != reqwest::Method::GET {
                req = req.json(&serde_json::json!({"isPrivate": true, "name": "x"}));
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            assert_error(status, &res.bytes().await.unwrap(), 403, "forbidden");
        }
    }
    let served = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(app.totals().images, 1);
    let keys = app.state.store.list_keys(None).unwrap();
    assert_eq!(keys.len(), 1, "no key was created or revoked");
}

/// A25 (logs): with logging at its most verbose, no upload key (header, form
/// field), password, private-image key or deletion token reaches a log line,
/// even when they travel in the URL (`?key=`, `?token=`).
#[tokio::test]
async fn a25_secrets_never_reach_the_logs() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let password = "pw-Zq8rT3vLx9";
    let mut child = Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path().join("data"))
        .env("PIXBIN_ADMIN_PASSWORD", password)
        .env("PIXBIN_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !seen.contains("pixbin listening on ") || !seen.ends_with('\n') {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "server exited: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let key = seen
        .lines()
        .find_map(|l| l.strip_prefix("created upload key: "))
        .unwrap()
        .trim()
        .to_string();
    let base = seen
        .lines()
        .find_map(|l| l.strip_prefix("pixbin listening on "))
        .unwrap()
        .trim()
        .to_string();
    let c = client();
    // Key as header, and as a form field.
    let v: Value = c
        .post(format!("{base}/api/upload"))
        .bearer_auth(&key)
        .multipart(
            reqwest::multipart::Form::new()
                .text("private", "true")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(fixture("real/logo.png")).file_name("a.png"),
                ),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = c
        .post(format!("{base}/api/upload"))
        .multipart(
            reqwest::multipart::Form::new()
                .text("key", key.clone())
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("b.ico"),
                ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let del: Value = res.json().await.unwrap();
    let image_key = v["url"]
        .as_str()
        .unwrap()
        .split("key=")
        .nth(1)
        .unwrap()
        .to_string();
    let deletion = del["deletion_url"].as_str().unwrap().to_string();
    let token = deletion.split("token=").nth(1).unwrap().to_string();
    // Secrets in URLs, good and bad, and in headers on the wrong routes.
    assert_eq!(
        c.get(v["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let _ = c
        .get(format!("{base}/api/list?key={key}"))
        .send()
        .await
        .unwrap();
    let _ = c
        .get(format!("{base}/api/list"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let _ = c.get(&deletion).send().await.unwrap();
    let _ = c
        .get(format!("{base}/api/upload?token={token}&key={key}"))
        .send()
        .await
        .unwrap();
    // A failed and a good login.
    for pw in ["wrong-Pw-77", password] {
        let _ = log_in(&c, &base, "admin", pw).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("request"),
        "access log lines were written: {logs}"
    );
    for (what, s) in [
        ("upload key", key.as_str()),
        ("upload key body", &key[4..]),
        ("image key", image_key.as_str()),
        ("deletion token", token.as_str()),
        ("password", password),
        ("wrong password", "wrong-Pw-77"),
    ] {
        assert!(!logs.contains(s), "the {what} reached the logs:\n{logs}");
    }
}
