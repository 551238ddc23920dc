//! The library API: newest-first listing, filters (public/private, dates, name),
//! cursor pagination with a capped page size, details by id or uuid, and
//! upload-key management (shown once, listed without the secret, revoked).

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn list(app: &TestApp, q: &str) -> (StatusCode, Value) {
    let res = app.get(&format!("/api/list{q}")).await;
    let s = res.status();
    (s, res.json().await.unwrap())
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let files = [
        "logo.ico",
        "logo.png",
        "rocket.jpg",
        "coffee.webp",
        "chelsea.png",
    ];
    for (i, f) in files.iter().enumerate() {
        let private = if i % 2 == 0 { "false" } else { "true" };
        let name = format!("shot-{i}-{f}");
        let res = app
            .upload_with(
                fixture(&format!("real/{f}")),
                &name,
                &[("private", private)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (s, all) = list(&app, "").await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<u64> = all["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![5, 4, 3, 2, 1], "newest first");
    assert!(all["nextCursor"].is_null());

    let (_, p) = list(&app, "?type=private").await;
    assert!(
        p["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["isPrivate"] == true)
    );
    assert_eq!(p["images"].as_array().unwrap().len(), 2);
    let (_, p) = list(&app, "?type=public").await;
    assert_eq!(p["images"].as_array().unwrap().len(), 3);
    let (_, q) = list(&app, "?q=ROCKET").await;
    assert_eq!(q["images"].as_array().unwrap().len(), 1);
    assert_eq!(q["images"][0]["filename"], "shot-2-rocket.jpg");

    // Pages of two, following the cursor, visit everything once.
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let (s, page) = list(&app, &format!("?limit=2&cursor={cursor}")).await;
        assert_eq!(s, StatusCode::OK);
        let imgs = page["images"].as_array().unwrap();
        assert!(imgs.len() <= 2);
        seen.extend(imgs.iter().map(|i| i["id"].as_u64().unwrap()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let today = &all["images"][0]["uploadedAt"].as_str().unwrap()[..10];
    let (_, d) = list(&app, &format!("?from={today}&to={today}")).await;
    assert_eq!(d["images"].as_array().unwrap().len(), 5);
    let (_, d) = list(&app, "?to=2000-01-01").await;
    assert_eq!(d["images"].as_array().unwrap().len(), 0);

    for bad in [
        "?limit=-1",
        "?limit=abc",
        "?type=everything",
        "?from=tomorrow",
        "?cursor=zzz",
    ] {
        let (s, v) = list(&app, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(v["code"], "invalid_request");
    }
    let (s, big) = list(&app, "?limit=1000000000").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(big["images"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn details_by_id_or_uuid() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.png"), "logo.png").await;
    for r in [v["id"].to_string(), v["uuid"].as_str().unwrap().to_string()] {
        let res = app.get(&format!("/api/images/{r}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let d: Value = res.json().await.unwrap();
        for k in [
            "id",
            "uuid",
            "filename",
            "extension",
            "size",
            "uploadedAt",
            "isPrivate",
            "views",
            "url",
            "width",
            "height",
            "contentType",
            "hash",
            "full_link",
            "thumbnail_url",
        ] {
            assert_eq!(d[k], v[k], "{k}");
        }
    }
    let res = app.get("/api/images/not-an-id").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.get("/api/images/999").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn upload_keys_are_shown_once_and_can_be_revoked() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let res = app.post_json("/api/keys", &json!({"name": "laptop"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let k: Value = res.json().await.unwrap();
    let key = k["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pbk_"));
    let keys: Value = app.get_json("/api/keys").await;
    let text = keys.to_string();
    assert!(
        !text.contains(&key) && !text.contains(&app.upload_key),
        "keys are never listed"
    );
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(keys["keys"][1]["lastUsedAt"].is_null());

    // The new key uploads, and is marked used.
    let res = upload_as(&app.base, &key, fixture("real/logo.ico"), "x.ico").await;
    assert_eq!(res.status(), StatusCode::OK);
    let keys: Value = app.get_json("/api/keys").await;
    assert!(keys["keys"][1]["lastUsedAt"].is_string());

    let id = k["id"].as_u64().unwrap();
    let res = app.delete(&format!("/api/keys/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = upload_as(&app.base, &key, fixture("real/logo.ico"), "x.ico").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "revoked key");
    let res = app.delete(&format!("/api/keys/{id}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// Every item in a full walk of `/api/list{q}` with pages of 2.
async fn walk(app: &TestApp, q: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for _ in 0..20 {
        let sep = if q.is_empty() { "?" } else { "&" };
        let (s, page) = list(app, &format!("{q}{sep}limit=2{cursor}")).await;
        assert_eq!(s, StatusCode::OK, "{q}: {page}");
        out.extend(page["images"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
    panic!("paging {q} did not end");
}

/// (id, name, size, views) of an uploaded image.
type Row<'a> = (u64, &'a str, u64, u64);

#[tokio::test]
async fn listing_sorts_by_date_size_views_and_name_with_exact_paging() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    // Names, sizes and view counts in different orders, with a tie in views.
    let files = [
        ("b-rocket.jpg", "real/rocket.jpg", 2),
        ("D-logo.ico", "real/logo.ico", 0),
        ("a-coffee.webp", "real/coffee.webp", 1),
        ("c-chelsea.png", "real/chelsea.png", 0),
        ("e-tiny.gif", "real/no_time_for_that_tiny.gif", 3),
    ];
    let mut uploaded = Vec::new();
    for (name, path, views) in files {
        let v = app.upload_ok(fixture(path), name).await;
        for _ in 0..views {
            let res = fetch(v["url"].as_str().unwrap()).await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        let id = v["id"].as_u64().unwrap();
        assert_eq!(app.wait_for_views(id, views).await, views);
        uploaded.push((id, name, v["size"].as_u64().unwrap(), views));
    }
    let ids =
        |items: &[Value]| -> Vec<u64> { items.iter().map(|i| i["id"].as_u64().unwrap()).collect() };
    let expect = |mut v: Vec<Row>, key: &dyn Fn(&Row) -> (String, u64)| -> Vec<u64> {
        v.sort_by_key(|x| key(x));
        v.into_iter().map(|x| x.0).collect()
    };
    let by_date = expect(uploaded.clone(), &|x| (String::new(), x.0));
    let by_size = expect(uploaded.clone(), &|x| (format!("{:020}", x.2), x.0));
    let by_views = expect(uploaded.clone(), &|x| (format!("{:020}", x.3), x.0));
    let by_name = expect(uploaded.clone(), &|x| (x.1.to_lowercase(), x.0));
    let rev = |v: &Vec<u64>| v.iter().rev().copied().collect::<Vec<_>>();

    assert_eq!(
        ids(&walk(&app, "").await),
        rev(&by_date),
        "default: newest first"
    );
    for (sort, asc) in [
        ("date", &by_date),
        ("size", &by_size),
        ("views", &by_views),
        ("name", &by_name),
    ] {
        assert_eq!(
            ids(&walk(&app, &format!("?sort={sort}&order=asc")).await),
            *asc,
            "{sort} asc"
        );
        assert_eq!(
            ids(&walk(&app, &format!("?sort={sort}")).await),
            rev(asc),
            "{sort} desc"
        );
        assert_eq!(
            ids(&walk(&app, &format!("?sort={sort}&order=desc&type=public")).await),
            rev(asc),
            "{sort} with a filter"
        );
    }
    // Bad values are refused like every bad listing parameter; a cursor
    // from another order too.
    for q in [
        "?sort=colour",
        "?order=up",
        "?sort=size&cursor=1700000000000.3",
    ] {
        let (s, v) = list(&app, q).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(v["code"], "invalid_request", "{q}");
    }
}

#[tokio::test]
async fn every_tile_has_a_session_thumbnail_that_spends_no_view() {
    // The sweeper stays away: the used-up image must still be there at the end.
    let mut app = spawn_app_with(|c| c.sweep_interval = std::time::Duration::from_secs(3600)).await;
    app.login_admin().await;
    let limited = app
        .upload_with_ok(
            fixture("real/rocket.jpg"),
            "limited.jpg",
            &[("private", "true"), ("max_views", "1"), ("expires", "2d")],
        )
        .await;
    let (_, page) = list(&app, "").await;
    let tile = &page["images"][0];
    assert_eq!(tile["id"], limited["id"]);
    assert_eq!(tile["maxViews"], 1);
    assert_eq!(tile["viewsLeft"], 1);
    assert!(tile["expiresAt"].is_string(), "{tile}");
    let thumb = tile["thumbUrl"].as_str().unwrap();
    assert_eq!(
        thumb,
        format!("/api/proxy/thumb/{}.jpg", limited["uuid"].as_str().unwrap())
    );
    // The public thumbnail of a view-limited image is refused (it would show
    // the picture without paying a view); the session's is served, repeatedly.
    let public = fetch(tile["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    for _ in 0..3 {
        let res = app.get(thumb).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let bytes = res.bytes().await.unwrap();
        assert!(bytes.len() < limited["size"].as_u64().unwrap() as usize);
    }
    let details: Value = app
        .get_json(&format!("/api/images/{}", limited["id"]))
        .await;
    assert_eq!(details["viewsLeft"], 1, "no view spent: {details}");
    assert_eq!(details["thumbUrl"], thumb);
    // Not without a session.
    let res = fetch(app.url(thumb)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // An image whose public link is dead still has its tile in the
    // expired listing, and its session thumbnail.
    let res = fetch(limited["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, expired) = list(&app, "?status=expired").await;
    assert_eq!(expired["images"][0]["id"], limited["id"], "{expired}");
    let res = app.get(thumb).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn keys_show_their_effective_defaults_and_long_names_are_refused_not_cut() {
    let mut app =
        spawn_app_with(|c| c.max_expiry = Some(std::time::Duration::from_secs(86_400))).await;
    app.login_admin().await;
    let create = |body: Value| {
        app.with_csrf(reqwest::Method::POST, "/api/keys")
            .json(&body)
            .send()
    };
    let keys = || async {
        let v: Value = app.get_json("/api/keys").await;
        v["keys"].as_array().unwrap().clone()
    };
    let before = keys().await.len();
    let res = create(json!({"name": "k".repeat(65)})).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "name_too_long");
    assert_eq!(keys().await.len(), before, "nothing was created");
    let long = "é".repeat(64);
    let res = create(json!({"name": long, "privateByDefault": true, "defaultExpiry": "7d"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let made: Value = res.json().await.unwrap();
    assert_eq!(made["name"], long, "kept whole");
    // The key's policy over the server's defaults, clamped by the maximum
    // like an upload would be.
    assert_eq!(
        made["defaults"],
        json!({"private": true, "expirySeconds": 86_400})
    );
    let list = keys().await;
    let default_key = list.iter().find(|k| k["name"] == "default").unwrap();
    assert_eq!(
        default_key["defaults"],
        json!({"private": false, "expirySeconds": 86_400})
    );
    // The server's runtime defaults flow into keys that do not say.
    let res = app
        .with_csrf(reqwest::Method::PUT, "/api/settings")
        .json(&json!({"privateByDefault": true, "defaultExpirySeconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let list = keys().await;
    let default_key = list.iter().find(|k| k["name"] == "default").unwrap();
    assert_eq!(
        default_key["defaults"],
        json!({"private": true, "expirySeconds": 3600})
    );
    // And an upload with that key gets exactly that.
    let v = app.upload_ok(fixture("real/logo.png"), "d.png").await;
    assert_eq!(v["isPrivate"], true);
    let left = pixbin::clock::parse_time(v["expiresAt"].as_str().unwrap()).unwrap()
        - pixbin::clock::now_ms();
    assert!((3_500_000..=3_600_000).contains(&left), "{left}");
}
