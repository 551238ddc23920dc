//! The account page's API: changing the password needs the current one and
//! ends every other session of the account (this one stays); a weak new
//! password is refused; the session list shows each login's times, address
//! and browser with an opaque handle (never the token or its hash); one
//! session or all of them can be ended, and only the account's own.

use crate::support::*;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// A browser logged in as `user` with `agent`; returns it and its CSRF token.
async fn browser(app: &TestApp, user: &str, password: &str, agent: &str) -> (Client, String) {
    let c = Client::builder()
        .cookie_store(true)
        .user_agent(agent)
        .build()
        .unwrap();
    let res = log_in(&c, &app.base, user, password).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    (c, v["csrfToken"].as_str().unwrap().to_string())
}

async fn alive(app: &TestApp, c: &Client) -> StatusCode {
    c.get(app.url("/api/session"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn send(
    app: &TestApp,
    (c, csrf): &(Client, String),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = c
        .request(method, app.url(path))
        .header("X-CSRF-Token", csrf);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    let text = res.text().await.unwrap();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    let a = browser(&app, "admin", ADMIN_PASSWORD, "Browser A").await;
    let b = browser(&app, "admin", ADMIN_PASSWORD, "Browser B").await;
    let path = "/api/account/password";

    let (s, e) = send(
        &app,
        &a,
        Method::POST,
        path,
        Some(json!({"current": "not-the-password", "new": "a much better one"})),
    )
    .await;
    assert_eq!(
        (s, &e["code"]),
        (StatusCode::FORBIDDEN, &json!("wrong_password"))
    );
    for weak in ["short", "zzzzzzzzzzzz", "admin", ADMIN_PASSWORD] {
        let (s, e) = send(
            &app,
            &a,
            Method::POST,
            path,
            Some(json!({"current": ADMIN_PASSWORD, "new": weak})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{weak}");
        assert_eq!(e["code"], "weak_password", "{weak}");
    }
    assert_eq!(
        alive(&app, &b.0).await,
        StatusCode::OK,
        "nothing changed yet"
    );

    let (s, _) = send(
        &app,
        &a,
        Method::POST,
        path,
        Some(json!({"current": ADMIN_PASSWORD, "new": "a much better one"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        alive(&app, &a.0).await,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        alive(&app, &b.0).await,
        StatusCode::UNAUTHORIZED,
        "others end"
    );
    let old = log_in(&client(), &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    browser(&app, "admin", "a much better one", "Browser C").await;

    // Without the CSRF token nothing happens.
    let res =
        a.0.post(app.url(path))
            .json(&json!({"current": "a much better one", "new": "yet another one"}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_are_listed_with_opaque_handles_and_end_one_by_one_or_all() {
    let app = spawn_app().await;
    app.state
        .store
        .put_user(
            "bob",
            &pixbin::store::codec::UserRecord::new(
                pixbin::auth::password::hash("bob-password-1"),
                pixbin::store::codec::Role::User,
                (None, None),
                1,
            ),
        )
        .unwrap();
    let a = browser(&app, "admin", ADMIN_PASSWORD, "Browser A/1.0").await;
    let b = browser(&app, "admin", ADMIN_PASSWORD, "Browser B/2.0").await;
    let bob = browser(&app, "bob", "bob-password-1", "Bob's browser").await;

    let res = a.0.get(app.url("/api/sessions")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "only the account's own: {list}");
    let mine = sessions.iter().find(|s| s["current"] == true).unwrap();
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(mine["userAgent"], "Browser A/1.0");
    assert_eq!(other["userAgent"], "Browser B/2.0");
    assert_eq!(mine["ip"], "127.0.0.1");
    for s in sessions {
        for k in ["createdAt", "lastSeenAt"] {
            assert!(
                pixbin::clock::parse_time(s[k].as_str().unwrap()).is_some(),
                "{s}"
            );
        }
    }
    // The handle is neither a token nor a token's hash.
    let cookies = app.state.store.sessions_of("admin", 0).unwrap();
    for (hash, _) in &cookies {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&hex[..16]), "{text}");
    }
    assert!(!text.contains(&a.1) && !text.contains(&b.1), "{text}");

    // Activity is recorded (at most every few minutes): a session last seen
    // long ago is seen again on its next request.
    let (hash, mut rec) = cookies
        .iter()
        .find(|(_, r)| r.user_agent.as_deref() == Some("Browser B/2.0"))
        .cloned()
        .unwrap();
    rec.last_seen_at = 0;
    app.state.store.put_session(&hash, &rec).unwrap();
    assert_eq!(alive(&app, &b.0).await, StatusCode::OK);
    let seen = app.state.store.sessions_of("admin", 0).unwrap();
    let b_seen = seen
        .iter()
        .find(|(h, _)| *h == hash)
        .unwrap()
        .1
        .last_seen_at;
    assert!(pixbin::clock::now_ms() - b_seen < 60_000, "{b_seen}");

    // Bob's session cannot be ended from admin's account, nor a made-up one.
    let bob_list: Value = bob
        .0
        .get(app.url("/api/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bob_id = bob_list["sessions"][0]["id"].as_str().unwrap().to_string();
    for id in [bob_id.as_str(), "AAAAAAAAAAAAAAAA"] {
        let (s, _) = send(
            &app,
            &a,
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(alive(&app, &bob.0).await, StatusCode::OK);

    let other_id = other["id"].as_str().unwrap();
    let (s, _) = send(
        &app,
        &a,
        Method::DELETE,
        &format!("/api/sessions/{other_id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(alive(&app, &b.0).await, StatusCode::UNAUTHORIZED);
    assert_eq!(alive(&app, &a.0).await, StatusCode::OK);

    // Everywhere: this session too, and nobody else's.
    let b = browser(&app, "admin", ADMIN_PASSWORD, "Browser B/2.0").await;
    let res =
        a.0.post(app.url("/api/logout-all"))
            .header("X-CSRF-Token", &a.1)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().contains("Max-Age=0")),
        "the cookie is cleared"
    );
    // Ended on the server, not just forgotten by this browser.
    let now = pixbin::clock::now_ms();
    assert!(
        app.state
            .store
            .sessions_of("admin", now)
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.state.store.sessions_of("bob", now).unwrap().len(), 1);
    assert_eq!(alive(&app, &a.0).await, StatusCode::UNAUTHORIZED);
    assert_eq!(alive(&app, &b.0).await, StatusCode::UNAUTHORIZED);
    assert_eq!(alive(&app, &bob.0).await, StatusCode::OK);
}
