//! Sessions: argon2 login, CSRF on every state change, logout kills the session
//! server-side, refresh rotates both tokens, and login never adopts a cookie the
//! client brought (fixation).

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn wrong_or_unknown_credentials_are_401() {
    let app = spawn_app().await;
    for (u, p) in [("admin", "nope"), ("nobody", ADMIN_PASSWORD), ("admin", "")] {
        let res = log_in(&client(), &app.base, u, p).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{u}");
        assert!(res.headers().get("set-cookie").is_none());
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap()["code"],
            "invalid_credentials"
        );
    }
    let res = client()
        .post(app.url("/api/login"))
        .header("Content-Type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn login_sets_hardened_cookies_and_session_works() {
    let app = spawn_app().await;
    let c = client();
    let res = log_in(&c, &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("pixbin_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Domain"));
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["username"], "admin");
    let csrf = v["csrfToken"].as_str().unwrap();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("pixbin_csrf={csrf}")))
    );
    let s: serde_json::Value = c
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["csrfToken"], csrf);
    assert_eq!(s["baseUrl"], app.base.as_str());
}

#[tokio::test]
async fn state_changes_without_the_right_csrf_token_are_403_and_change_nothing() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.ico"), "x.ico").await;
    let id = v["id"].as_u64().unwrap();
    let uuid = v["uuid"].as_str().unwrap();
    for token in [None, Some(""), Some("random-token-value")] {
        let with = |rb: reqwest::RequestBuilder| match token {
            Some(t) => rb.header("X-CSRF-Token", t),
            None => rb,
        };
        let reqs = [
            with(app.client.delete(app.url(&format!("/api/delete/{uuid}")))),
            with(
                app.client
                    .post(app.url(&format!("/api/images/{id}/privacy"))),
            )
            .json(&json!({"isPrivate": true})),
            with(
                app.client
                    .post(app.url(&format!("/api/images/{id}/rotate-key"))),
            ),
            with(app.client.post(app.url("/api/keys"))).json(&json!({"name": "x"})),
            with(app.client.delete(app.url("/api/keys/1"))),
            with(app.client.post(app.url("/api/logout"))),
            with(app.client.post(app.url("/api/refresh"))),
        ];
        for rb in reqs {
            let res = rb.send().await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::FORBIDDEN,
                "{:?} {}",
                token,
                res.url()
            );
            assert_eq!(
                res.json::<serde_json::Value>().await.unwrap()["code"],
                "csrf"
            );
        }
    }
    // Nothing changed: image public and served, key still listed, session alive.
    assert_eq!(
        fetch(v["url"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    let keys: serde_json::Value = app.get_json("/api/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(app.totals().private_images, 0);
    assert_eq!(app.get("/api/session").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn after_logout_the_old_cookie_and_token_are_dead() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.ico"), "x.ico").await;
    let res = app.get("/api/session").await;
    assert_eq!(res.status(), StatusCode::OK);
    // Capture the raw cookie to replay it later, as an attacker who stole it would.
    let login = log_in(&client(), &app.base, "admin", ADMIN_PASSWORD).await;
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("pixbin_session="))
        .unwrap();
    let csrf = login.json::<serde_json::Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = reqwest::Client::new();
    let res = raw
        .post(app.url("/api/logout"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cleared = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "logout clears cookies");
    let replays = [
        raw.delete(app.url(&format!("/api/delete/{}", v["uuid"].as_str().unwrap()))),
        raw.get(app.url("/api/list")),
        raw.post(app.url("/api/refresh")),
        raw.get(app.url("/api/session")),
    ];
    for rb in replays {
        let res = rb
            .header("Cookie", &cookie)
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{}", res.url());
    }
    assert_eq!(app.totals().images, 1, "nothing deleted");
    // The other session (app.client's) is unaffected.
    assert_eq!(app.get("/api/session").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_replaces_a_preexisting_cookie() {
    let app = spawn_app().await;
    let raw = reqwest::Client::new();
    let res = raw
        .post(app.url("/api/login"))
        .header("Cookie", "pixbin_session=attacker123")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("pixbin_session="))
        .unwrap();
    assert!(!set.contains("attacker123"));
    let res = raw
        .get(app.url("/api/session"))
        .header("Cookie", "pixbin_session=attacker123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_rotates_the_session_and_csrf_token() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let old_csrf = app.csrf().to_string();
    let res = app
        .client
        .post(app.url("/api/refresh"))
        .header("X-CSRF-Token", &old_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let new_csrf = res.json::<serde_json::Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(old_csrf, new_csrf);
    // The cookie jar now holds the new session: the old CSRF token no longer works.
    let res = app
        .client
        .post(app.url("/api/keys"))
        .header("X-CSRF-Token", &old_csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .client
        .post(app.url("/api/keys"))
        .header("X-CSRF-Token", &new_csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn session_only_routes_refuse_anonymous_and_upload_keys() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.ico"), "x.ico").await;
    let uuid = v["uuid"].as_str().unwrap();
    for path in [
        "/api/list".to_string(),
        format!("/api/images/{uuid}"),
        format!("/api/proxy/{uuid}.ico"),
        "/api/keys".into(),
        "/api/session".into(),
    ] {
        let anon = fetch(app.url(&path)).await;
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED, "{path}");
        let keyed = client()
            .get(app.url(&path))
            .bearer_auth(&app.upload_key)
            .send()
            .await
            .unwrap();
        assert_eq!(keyed.status(), StatusCode::FORBIDDEN, "{path}");
        let body = keyed.text().await.unwrap();
        assert!(!body.contains(&app.upload_key));
    }
    let res = client()
        .delete(app.url(&format!("/api/delete/{uuid}")))
        .bearer_auth(&app.upload_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.totals().images, 1);
}
