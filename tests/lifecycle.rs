//! Lifecycle: an upload can expire (form field or header; duration or RFC 3339)
//! and can be limited to N views; a dead link is a 404 at once and the sweeper
//! then deletes it through the normal path; HEAD and the proxy do not burn
//! views, a link preview draws on its own small budget first; server and
//! per-key defaults and maxima apply; private-by-default works per server and
//! per key; nothing is lost across a restart.

use std::time::Duration;

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn status(url: &str) -> StatusCode {
    fetch(url).await.status()
}

/// Polls (bounded) until `url` answers `want`.
async fn wait_status(url: &str, want: StatusCode, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if status(url).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn an_expiring_image_dies_on_time_and_is_swept() {
    let app = spawn_app().await;
    let shared = fixture("real/logo.png");
    let keeper = app.upload_ok(shared.clone(), "keep.png").await;
    // The expiry is two seconds from when the server took the upload, which
    // lies between these two readings however slow the machine is.
    let sent = pixbin::clock::now_ms();
    let res = app
        .upload_with(shared, "brief.png", &[("expires", "2s")])
        .await;
    let answered = pixbin::clock::now_ms();
    assert_eq!(res.status(), StatusCode::OK);
    let brief: Value = res.json().await.unwrap();
    let url = brief["url"].as_str().unwrap();
    let expires = pixbin::clock::parse_time(brief["expiresAt"].as_str().unwrap()).unwrap();
    assert!(
        (sent + 2000 - 1000..=answered + 2000).contains(&expires),
        "expires {} ms after the upload was sent ({} ms in flight)",
        expires - sent,
        answered - sent
    );
    let before = pixbin::clock::now_ms();
    let served = status(url).await;
    if before + 100 < expires {
        assert_eq!(served, StatusCode::OK, "gone before its expiry");
    }
    // `expiresAt` is given to the second and the server keeps milliseconds,
    // so the image dies within the reported second. Once that second has
    // passed, the very next request is refused: the check is made per
    // request, not left to the sweeper.
    let wait = (expires + 1000 - pixbin::clock::now_ms()).max(0) as u64 + 20;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(
        status(url).await,
        StatusCode::NOT_FOUND,
        "still served after expiry"
    );
    // The sweeper deletes the row; the blob stays because the keeper shares it.
    let swept = poll_until(Duration::from_secs(20), || app.totals().images == 1).await;
    assert!(swept, "the sweeper did not delete the expired image");
    assert_eq!(app.files_on_disk().0, 1);
    assert_eq!(
        status(keeper["url"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_image_with_its_own_blob_frees_it() {
    let app = spawn_app().await;
    let res = app
        .upload_raw(
            "/api/upload",
            &[("Content-Type", "image/x-icon"), ("X-Pixbin-Expires", "1s")],
            fixture("real/logo.ico"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert!(v["expiresAt"].is_string());
    assert!(
        wait_status(
            v["url"].as_str().unwrap(),
            StatusCode::NOT_FOUND,
            Duration::from_secs(15)
        )
        .await
    );
    poll_until(Duration::from_secs(20), || {
        app.files_on_disk() == (0, 0) && app.totals().images == 0
    })
    .await;
    app.assert_empty_store();
}

#[tokio::test]
async fn max_views_are_spent_by_every_delivery_but_head_and_the_proxy() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let res = app
        .upload_with(
            fixture("real/rocket.jpg"),
            "once.jpg",
            &[("max_views", "2")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["maxViews"].as_u64(), v["viewsLeft"].as_u64()),
        (Some(2), Some(2))
    );
    let url = v["url"].as_str().unwrap();
    let uuid = v["uuid"].as_str().unwrap();
    let id = v["id"].as_u64().unwrap();

    assert_eq!(status(url).await, StatusCode::OK, "first visitor");
    // None of these consume a view: a Discord preview (from its own small
    // budget), HEAD, the session proxy.
    let discord = fetch_with(
        url,
        &[(
            "User-Agent",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        )],
    )
    .await;
    assert_eq!(discord.status(), StatusCode::OK);
    assert_eq!(
        client().head(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let proxied = app.get(&format!("/api/proxy/{uuid}.jpg")).await;
    assert_eq!(proxied.status(), StatusCode::OK);
    let d: Value = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(d["viewsLeft"], 1);

    // An admin-UI Referer is only a header: it spends the last view.
    let admin = fetch_with(url, &[("Referer", &app.url("/admin/library"))]).await;
    assert_eq!(admin.status(), StatusCode::OK);
    assert_eq!(status(url).await, StatusCode::NOT_FOUND, "third visitor");
    // And it looks exactly like an unknown image.
    let unknown = format!("{}/{}.jpg", app.base, uuid::Uuid::new_v4());
    let a = fetch(url).await;
    let b = fetch(&unknown).await;
    assert_eq!(a.status(), b.status());
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    // Even an unfurler with budget left gets nothing now.
    let bot = fetch_with(url, &[("User-Agent", "Discordbot/2.0")]).await;
    assert_eq!(bot.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_visitors_cannot_overspend_a_view_limit() {
    let app = spawn_app().await;
    let res = app
        .upload_with(fixture("real/logo.ico"), "x.ico", &[("max_views", "3")])
        .await;
    let v: Value = res.json().await.unwrap();
    let url = v["url"].as_str().unwrap().to_string();
    let mut tasks = vec![];
    for _ in 0..20 {
        let u = url.clone();
        tasks.push(tokio::spawn(async move { status(&u).await }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 3, "exactly the allowed number of views is served");
}

#[tokio::test]
async fn server_maxima_are_enforced() {
    let app = spawn_app_with(|c| {
        c.default_expiry = Some(Duration::from_secs(86_400));
        c.max_expiry = Some(Duration::from_secs(7 * 86_400));
    })
    .await;
    for (spec, ok) in [
        ("8d", false),
        ("never", false),
        ("7d", true),
        ("30m", true),
        ("2000-01-01T00:00:00Z", false),
        ("soon", false),
    ] {
        let res = app
            .upload_with(fixture("real/logo.ico"), "x.ico", &[("expires", spec)])
            .await;
        let code = res.status();
        let v: Value = res.json().await.unwrap();
        if ok {
            assert_eq!(code, StatusCode::OK, "{spec}: {v}");
        } else {
            assert_eq!(code, StatusCode::BAD_REQUEST, "{spec}");
            let want = if spec == "8d" || spec == "never" {
                "expiry_too_long"
            } else {
                "invalid_request"
            };
            assert_eq!(v["code"], want, "{spec}");
        }
    }
    // No expiry asked: the server default (1 day).
    let v = app.upload_ok(fixture("real/logo.ico"), "x.ico").await;
    let left = pixbin::clock::parse_time(v["expiresAt"].as_str().unwrap()).unwrap()
        - pixbin::clock::now_ms();
    assert!((86_300_000..=86_400_000).contains(&left), "{left}");
    assert_eq!(app.totals().images, 3, "refusals stored nothing");
}

#[tokio::test]
async fn per_key_policies_apply() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let res = app.post_json("/api/keys", &json!({"name": "phone", "defaultExpiry": "1h", "maxExpiry": "1d", "forcePrivate": true})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let k: Value = res.json().await.unwrap();
    assert_eq!(
        (k["defaultExpiry"].as_str(), k["maxExpiry"].as_str()),
        (Some("1h"), Some("1d"))
    );
    let key = k["key"].as_str().unwrap();
    let up = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = reqwest::multipart::Form::new();
        for (a, b) in fields {
            form = form.text(a, b);
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(fixture("real/logo.ico")).file_name("x.ico"),
        );
        client()
            .post(app.url("/api/upload"))
            .bearer_auth(key)
            .multipart(form)
            .send()
    };
    let v: Value = up(vec![]).await.unwrap().json().await.unwrap();
    assert_eq!(v["isPrivate"], true, "forced private");
    let left = pixbin::clock::parse_time(v["expiresAt"].as_str().unwrap()).unwrap()
        - pixbin::clock::now_ms();
    assert!(
        (3_500_000..=3_600_000).contains(&left),
        "key default 1h: {left}"
    );
    let res = up(vec![("expires", "2d")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "expiry_too_long"
    );
    let res = up(vec![("private", "false")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "public_not_allowed"
    );
    // The default key is unaffected.
    let v = app.upload_ok(fixture("real/logo.ico"), "x.ico").await;
    assert!(v["expiresAt"].is_null() && v["isPrivate"] == false);
}

#[tokio::test]
async fn private_by_default_is_a_server_setting_the_upload_can_override() {
    let app = spawn_app_with(|c| c.private_by_default = true).await;
    let v = app.upload_ok(fixture("real/logo.ico"), "x.ico").await;
    assert_eq!(v["isPrivate"], true);
    assert!(v["url"].as_str().unwrap().contains("?key="));
    let v: Value = app
        .upload_with_ok(fixture("real/logo.ico"), "x.ico", &[("private", "false")])
        .await;
    assert_eq!(v["isPrivate"], false);
}

#[tokio::test]
async fn expiry_and_limits_are_editable_and_listed() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.ico"), "x.ico").await;
    let id = v["id"].as_u64().unwrap();
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/api/images/{id}")))
            .header("X-CSRF-Token", app.csrf())
            .json(&body)
            .send()
    };
    let e: Value = patch(json!({"expiresAt": "3d", "maxViews": 10}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(e["expiresAt"].is_string());
    assert_eq!(
        (e["maxViews"].as_u64(), e["viewsLeft"].as_u64()),
        (Some(10), Some(10))
    );
    let (_, l) = list(&app, "?status=expiring").await;
    assert_eq!(l["images"].as_array().unwrap().len(), 1);
    // Expire it now-ish through an explicit time in the near past: refused.
    let res = patch(json!({"expiresAt": "2000-01-01T00:00:00Z"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = patch(json!({"maxViews": "ten"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = patch(json!({"color": "red"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Without the CSRF token: refused and unchanged.
    let res = app
        .client
        .patch(app.url(&format!("/api/images/{id}")))
        .json(&json!({"expiresAt": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let c: Value = patch(json!({"expiresAt": null, "maxViews": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(c["expiresAt"].is_null() && c["maxViews"].is_null() && c["viewsLeft"].is_null());
    let (_, l) = list(&app, "?status=expiring").await;
    assert_eq!(l["images"].as_array().unwrap().len(), 0);
}

async fn list(app: &TestApp, q: &str) -> (StatusCode, Value) {
    let res = app.get(&format!("/api/list{q}")).await;
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn used_up_images_leave_the_default_list_and_expiry_survives_a_restart() {
    // A sweeper slow enough that the dead image is still there to be listed.
    let slow = |c: &mut pixbin::config::Config| c.sweep_interval = Duration::from_secs(3600);
    let mut app = spawn_app_with(slow).await;
    app.login_admin().await;
    let used: Value = app
        .upload_with_ok(fixture("real/logo.ico"), "used.ico", &[("max_views", "1")])
        .await;
    let later: Value = app
        .upload_with_ok(
            fixture("real/rocket.jpg"),
            "later.jpg",
            &[("expires", "1h")],
        )
        .await;
    assert_eq!(status(used["url"].as_str().unwrap()).await, StatusCode::OK);
    assert_eq!(
        status(used["url"].as_str().unwrap()).await,
        StatusCode::NOT_FOUND
    );
    let (_, active) = list(&app, "").await;
    let names: Vec<&str> = active["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["later.jpg"],
        "a used-up image is never listed as servable"
    );
    let (_, dead) = list(&app, "?status=expired").await;
    assert_eq!(dead["images"][0]["filename"], "used.ico");
    let (s, _) = list(&app, "?status=zombie").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let old_base = app.base.clone();
    let mut app = app.restart(slow).await;
    app.login_admin().await;
    // The restarted server listens on a new port: same paths, new origin.
    let moved = |v: &Value| v["url"].as_str().unwrap().replace(&old_base, &app.base);
    let d: Value = app.get_json(&format!("/api/images/{}", later["id"])).await;
    assert_eq!(
        d["expiresAt"], later["expiresAt"],
        "expiry kept across a restart"
    );
    assert_eq!(
        status(&moved(&used)).await,
        StatusCode::NOT_FOUND,
        "still used up after a restart"
    );
    assert_eq!(status(&moved(&later)).await, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_image_takes_its_thumbnail_link_with_it() {
    let app = spawn_app_with(|c| c.sweep_interval = Duration::from_secs(3600)).await;
    let res = app
        .upload_with(fixture("real/rocket.jpg"), "r.jpg", &[("expires", "2s")])
        .await;
    let v: Value = res.json().await.unwrap();
    let thumb = v["thumbnail_url"].as_str().unwrap();
    assert_ne!(thumb, v["url"].as_str().unwrap());
    assert_eq!(
        status(thumb).await,
        StatusCode::OK,
        "the thumbnail serves while the image lives"
    );
    assert!(
        wait_status(
            v["url"].as_str().unwrap(),
            StatusCode::NOT_FOUND,
            Duration::from_secs(15)
        )
        .await
    );
    assert_eq!(
        status(thumb).await,
        StatusCode::NOT_FOUND,
        "an expired image's thumbnail is gone too"
    );
}
