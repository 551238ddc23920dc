//! A52: login CSRF and cross-site state changes. A page on another site can
//! post `text/plain`, urlencoded or multipart forms without a preflight; JSON
//! endpoints read only `application/json`, and every state-changing request a
//! browser marks as cross-site (`Origin`, `Sec-Fetch-Site`) is refused.

use super::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const EVIL: &str = "https://evil.example";

/// What a cross-site page can make a browser send, as extra headers.
fn foreign_markers() -> Vec<Vec<(&'static str, &'static str)>> {
    vec![
        vec![("Origin", EVIL)],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Sec-Fetch-Site", "same-site"), ("Origin", EVIL)],
        vec![("Sec-Fetch-Site", "cross-site"), ("Origin", "null")],
    ]
}

fn login_json() -> String {
    json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string()
}

/// Posts `body` to `/api/login` with a content type and extra headers.
async fn post_login(
    app: &TestApp,
    content_type: Option<&str>,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> (u16, Vec<u8>, bool) {
    let mut req = client().post(app.url("/api/login")).body(body);
    if let Some(t) = content_type {
        req = req.header("Content-Type", t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let sets_cookie = res.headers().contains_key("set-cookie");
    (status, res.bytes().await.unwrap().to_vec(), sets_cookie)
}

#[tokio::test]
async fn a52_cross_site_login_is_refused_whatever_the_content_type() {
    let app = spawn_app().await;
    // The forms a page can send without a preflight, carrying the right
    // password: 415, no session.
    let urlencoded = format!("username=admin&password={ADMIN_PASSWORD}");
    let multipart = format!(
        "--b\r\nContent-Disposition: form-data; name=\"{{\\\"username\\\":\\\"admin\\\",\\\"password\\\":\\\"{ADMIN_PASSWORD}\\\",\\\"x\\\":\\\"\"\r\n\r\n\"}}\r\n--b--\r\n"
    );
    let cases: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some("text/plain"), login_json().into_bytes()),
        (Some("text/plain; charset=utf-8"), login_json().into_bytes()),
        (
            Some("application/x-www-form-urlencoded"),
            urlencoded.into_bytes(),
        ),
        (
            Some("multipart/form-data; boundary=b"),
            multipart.into_bytes(),
        ),
        (None, login_json().into_bytes()),
    ];
    for (ct, body) in &cases {
        for extra in [vec![], vec![("Origin", EVIL)]] {
            let (status, body, cookie) = post_login(&app, *ct, body.clone(), &extra).await;
            // The Origin check answers first when there is one.
            let want = if extra.is_empty() {
                (415, "unsupported_media_type")
            } else {
                (403, "cross_site")
            };
            assert_error(status, &body, want.0, want.1);
            assert!(!cookie, "{ct:?} {extra:?}: no session may be set");
        }
    }
    // JSON from another site: refused before the password is looked at.
    for extra in foreign_markers() {
        let (status, body, cookie) = post_login(
            &app,
            Some("application/json"),
            login_json().into_bytes(),
            &extra,
        )
        .await;
        assert_error(status, &body, 403, "cross_site");
        assert!(!cookie, "{extra:?}");
    }
    // None of this counted as a failed login, and the site itself, tools and
    // the UI's no-referrer POST (Origin null, Sec-Fetch-Site same-origin) work.
    let own = app.base.clone();
    for extra in [
        vec![],
        vec![("Origin", own.as_str())],
        vec![("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")],
        vec![("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
    ] {
        let (status, body, cookie) = post_login(
            &app,
            Some("application/json; charset=utf-8"),
            login_json().into_bytes(),
            &extra,
        )
        .await;
        assert_eq!(status, 200, "{extra:?}: {}", String::from_utf8_lossy(&body));
        assert!(cookie);
    }
}

/// Every state-changing endpoint, with a valid session, CSRF token and upload
/// key, but marked as cross-site: 403 `cross_site`, nothing changes. JSON
/// endpoints with another content type: 415, nothing changes.
#[tokio::test]
async fn a52_cross_site_state_changes_are_refused_on_every_endpoint() {
    let mut app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "keep.png").await;
    let (uuid, id) = (v["uuid"].as_str().unwrap(), v["id"].as_u64().unwrap());
    let token = v["deletion_url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    app.login_admin().await;
    let keys_before: Value = app.get_json("/api/keys").await;
    let key_id = keys_before["keys"][0]["id"]
        .as_u64()
        .expect("the default key");
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::DELETE, format!("/api/delete/{uuid}"), None),
        (
            Method::DELETE,
            format!("/api/delete/{uuid}?token={token}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/delete/{uuid}?token={token}"),
            None,
        ),
        (Method::POST, "/api/logout".into(), None),
        (Method::POST, "/api/refresh".into(), None),
        (
            Method::POST,
            format!("/api/images/{id}/privacy"),
            Some(json!({"isPrivate": true})),
        ),
        (
            Method::POST,
            format!("/api/privacy/{id}"),
            Some(json!({"isPrivate": true})),
        ),
        (Method::POST, format!("/api/images/{id}/rotate-key"), None),
        (
            Method::PATCH,
            format!("/api/images/{id}"),
            Some(json!({"maxViews": 1})),
        ),
        (Method::POST, "/api/keys".into(), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/api/keys/{key_id}"), None),
    ];
    for extra in foreign_markers() {
        for (m, path, body) in &calls {
            let mut req = app.with_csrf(m.clone(), path);
            if let Some(b) = body {
                req = req.json(b);
            }
            for (k, v) in &extra {
                req = req.header(*k, *v);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap();
            assert_error(status, &body, 403, "cross_site");
        }
        // Uploads, by upload key and by session.
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("n.ico"),
        );
        let mut req = client()
            .post(app.url("/api/upload"))
            .bearer_auth(&app.upload_key)
            .multipart(form);
        for (k, v) in &extra {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 403, "cross_site");
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("n.ico"),
        );
        let mut req = app.with_csrf(Method::POST, "/api/upload").multipart(form);
        for (k, v) in &extra {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 403, "cross_site");
    }
    // The JSON endpoints, same-site but not JSON.
    for (m, path, body) in calls.iter().filter(|c| c.2.is_some()) {
        let text = body.as_ref().unwrap().to_string();
        for ct in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let mut req = app.with_csrf(m.clone(), path).body(text.clone());
            if let Some(t) = ct {
                req = req.header("Content-Type", t);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap();
            assert_error(status, &body, 415, "unsupported_media_type");
        }
    }
    // Nothing changed: one image, public, no view limit; the same key list;
    // the session alive.
    let details: Value = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(details["isPrivate"], false, "{details}");
    assert!(details["maxViews"].is_null(), "{details}");
    let served = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    let keys_after: Value = app.get_json("/api/keys").await;
    assert_eq!(keys_after, keys_before);
    assert_eq!(app.totals().images, 1);
    // The same calls from the site itself still work (one of them, to show
    // the refusal above was not a broken endpoint).
    let res = app
        .with_csrf(Method::POST, &format!("/api/images/{id}/privacy"))
        .header("Origin", app.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .json(&json!({"isPrivate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
