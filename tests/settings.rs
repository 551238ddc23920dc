//! The settings page's API: any session reads the upload defaults in force
//! and the effective configuration with where each value came from (secrets
//! shown as "(set)", never themselves); a session with its CSRF token changes
//! the runtime upload defaults, which are stored in the database, survive a
//! restart and apply to the next upload from the API at once; a setting
//! pinned by a flag or the environment refuses the change (409) and wins over
//! a stored value; bad values are refused and change nothing.

use crate::support::*;
use pixbin::config::Source;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn get_settings(app: &TestApp) -> Value {
    let res = app.get("/api/settings").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn put(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let res = app
        .with_csrf(Method::PUT, "/api/settings")
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[track_caller]
fn entry<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["effective"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {doc}"))
}

#[tokio::test]
async fn settings_show_the_effective_configuration_without_secrets() {
    let mut app = spawn_app_with(|c| {
        c.metrics_token = Some(pixbin::secret::Secret::new("metrics-secret-value"));
        c.sources.set("metrics_token", Source::Env);
        c.sources.set("max_upload_bytes", Source::File);
    })
    .await;
    let res = fetch(app.url("/api/settings")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.login_admin().await;
    let res = app.get("/api/settings").await;
    let text = res.text().await.unwrap();
    assert!(!text.contains("metrics-secret-value"), "{text}");
    assert!(!text.contains(ADMIN_PASSWORD), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["upload"],
        json!({
            "maxBytes": 32 * 1024 * 1024,
            "allowedTypes": ["png", "jpeg", "gif", "webp", "bmp", "ico"],
            "privateByDefault": false,
            "defaultExpirySeconds": null,
            "maxExpirySeconds": null,
            "stripMode": "none",
            "stripModes": ["gps", "all", "none"],
        })
    );
    assert_eq!(doc["geoip"], false);
    let token = entry(&doc, "metrics_token");
    assert_eq!(
        (&token["value"], &token["source"], &token["runtime"]),
        (&json!("(set)"), &json!("env"), &json!(false))
    );
    assert_eq!(entry(&doc, "admin_password")["value"], "(set)");
    assert_eq!(entry(&doc, "max_upload_bytes")["source"], "file");
    assert_eq!(entry(&doc, "listen")["source"], "default");
    assert_eq!(entry(&doc, "listen")["env"], "PIXBIN_LISTEN");
    assert_eq!(entry(&doc, "private_by_default")["runtime"], true);
}

#[tokio::test]
async fn runtime_settings_apply_to_the_next_upload_and_survive_a_restart() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    // Without the CSRF token nothing changes.
    let res = app
        .client
        .put(app.url("/api/settings"))
        .json(&json!({"privateByDefault": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let (s, doc) = put(
        &app,
        json!({
            "privateByDefault": true,
            "defaultExpirySeconds": 3600,
            "stripMode": "gps",
            "allowedTypes": ["png", "jpeg"],
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["upload"]["privateByDefault"], true);
    assert_eq!(doc["upload"]["defaultExpirySeconds"], 3600);
    assert_eq!(doc["upload"]["stripMode"], "gps");
    assert_eq!(doc["upload"]["allowedTypes"], json!(["png", "jpeg"]));
    for name in [
        "private_by_default",
        "default_expiry",
        "strip_metadata",
        "allowed_types",
    ] {
        assert_eq!(entry(&doc, name)["source"], "database", "{name}");
    }

    // An upload-key upload that says nothing gets the new defaults.
    let v = app
        .upload_ok(fixture("real/rocket-gps.jpg"), "gps.jpg")
        .await;
    assert_eq!(v["isPrivate"], true, "{v}");
    let expires = pixbin::clock::parse_time(v["expiresAt"].as_str().unwrap()).unwrap();
    let left = expires - pixbin::clock::now_ms();
    assert!((3_500_000..=3_600_000).contains(&left), "{left}");
    assert!(
        v["metadataStripped"]
            .as_array()
            .unwrap()
            .contains(&json!("gps")),
        "{v}"
    );
    let refused = app.upload(fixture("real/coffee.webp"), "c.webp").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let e: Value = refused.json().await.unwrap();
    assert_eq!(e["code"], "type_not_allowed");

    // A partial change keeps the rest; "never" is null.
    let (s, doc) = put(&app, json!({"defaultExpirySeconds": null})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["upload"]["defaultExpirySeconds"], Value::Null);
    assert_eq!(doc["upload"]["privateByDefault"], true);

    let mut app = app.restart(|_| {}).await;
    app.login_admin().await;
    let doc = get_settings(&app).await;
    assert_eq!(doc["upload"]["privateByDefault"], true);
    assert_eq!(doc["upload"]["allowedTypes"], json!(["png", "jpeg"]));
    assert_eq!(entry(&doc, "strip_metadata")["source"], "database");
    let v = app.upload_ok(fixture("real/logo.png"), "after.png").await;
    assert_eq!(v["isPrivate"], true);
    assert!(v["expiresAt"].is_null());
}

#[tokio::test]
async fn bad_values_are_refused_and_change_nothing() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let before = get_settings(&app).await;
    for body in [
        json!({"privateByDefault": "yes"}),
        json!({"defaultExpirySeconds": -5}),
        json!({"defaultExpirySeconds": 1}),
        json!({"defaultExpirySeconds": "7d"}),
        json!({"stripMode": "most"}),
        json!({"allowedTypes": []}),
        json!({"allowedTypes": ["png", "tiff"]}),
        json!({"allowedTypes": "png"}),
        // A good value beside a bad one is not stored either.
        json!({"privateByDefault": true, "listen": "0.0.0.0:80"}),
    ] {
        let (s, e) = put(&app, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(e["code"], "invalid_setting", "{body}");
    }
    let res = app
        .with_csrf(Method::PUT, "/api/settings")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(get_settings(&app).await, before);
}

#[tokio::test]
async fn a_setting_pinned_by_the_environment_wins_and_refuses_changes() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let (s, _) = put(&app, json!({"privateByDefault": true, "stripMode": "all"})).await;
    assert_eq!(s, StatusCode::OK);

    // Restarted with PIXBIN_PRIVATE_BY_DEFAULT=false: the environment wins
    // over the stored value, which the page flags.
    let mut app = app
        .restart(|c| {
            c.private_by_default = false;
            c.sources.set("private_by_default", Source::Env);
        })
        .await;
    app.login_admin().await;
    let doc = get_settings(&app).await;
    let row = entry(&doc, "private_by_default");
    assert_eq!(
        (&row["value"], &row["source"], &row["overriddenByEnv"]),
        (&json!(false), &json!("env"), &json!(true))
    );
    assert_eq!(doc["upload"]["privateByDefault"], false);
    assert_eq!(entry(&doc, "strip_metadata")["overriddenByEnv"], false);
    let v = app.upload_ok(fixture("real/logo.png"), "env.png").await;
    assert_eq!(v["isPrivate"], false);

    // Changing it is refused, and so is the whole request.
    let (s, e) = put(&app, json!({"stripMode": "none", "privateByDefault": true})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "set_by_environment");
    assert_eq!(get_settings(&app).await["upload"]["stripMode"], "all");
}
