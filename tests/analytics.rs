//! View statistics, as the owner sees them in the dashboard:
//! - views show up per country (offline GeoIP database) when the server sits
//!   behind a trusted proxy; without one, a client's X-Forwarded-For is ignored;
//! - the admin UI, the proxy, HEAD requests, link-preview unfurlers (Discord…)
//!   and bots do not add views; bots and unfurlers are counted on their own;
//! - a scripted sequence of views gives exact per-day, per-image, per-country,
//!   per-referrer and unique-visitor numbers, and a restart keeps them; deleting
//!   an image drops its own numbers;
//! - a crash (SIGKILL) loses nothing that was already written;
//! - viewers' addresses and user agents are not stored unless the operator asks
//!   for addresses; the recent-views log is capped;
//! - the statistics endpoints need a session and validate their parameters.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    ADMIN_PASSWORD, TestApp, client, fetch, fetch_with, fixture, log_in, spawn_app_with,
    spawn_binary, upload_as,
};

fn geoip_db() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/geoip/GeoLite2-Country-Test.mmdb")
}

const GB: &str = "81.2.69.142";
const SE: &str = "89.160.20.115";
const US: &str = "216.160.83.58";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const DISCORD: &str = "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)";

/// Behind a reverse proxy on loopback, with the test country database.
async fn proxied_app() -> TestApp {
    let mut app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.geoip_db = Some(geoip_db());
    })
    .await;
    app.login_admin().await;
    app
}

/// A GET of `url` as a browser at `ip` (through the proxy), with extra headers.
async fn view(url: &str, ip: &str, ua: &str, extra: &[(&str, &str)]) -> StatusCode {
    let mut req = client()
        .get(url)
        .header("X-Forwarded-For", ip)
        .header("User-Agent", ua);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status()
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    get_json_with(&app.client, &app.base, path).await
}

/// `GET base + path` with client `c`, which must answer 200 with JSON.
async fn get_json_with(c: &reqwest::Client, base: &str, path: &str) -> Value {
    let res = c.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    res.json().await.unwrap()
}

/// Polls `/api/stats` (bounded) until `field` reaches `n`; returns the last body.
async fn wait_stats(app: &TestApp, field: &str, n: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..250 {
        last = get_json(app, "/api/stats").await;
        if last[field].as_u64() >= Some(n) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{field} never reached {n}: {last}");
}

#[tokio::test]
async fn views_behind_a_trusted_proxy_show_per_country() {
    let app = proxied_app().await;
    let img = app.upload_ok(fixture("real/logo.ico"), "logo.ico").await;
    let url = img["url"].as_str().unwrap();
    for ip in [GB, GB, GB, SE, SE, US, US] {
        assert_eq!(view(url, ip, FIREFOX, &[]).await, StatusCode::OK);
    }
    let stats = wait_stats(&app, "views", 7).await;
    assert_eq!(stats["views"], 7);
    assert_eq!(stats["uniqueVisitors"], 3);
    let c = get_json(&app, "/api/stats/countries").await;
    assert_eq!(
        c,
        json!({"countries": [
            {"country": "GB", "views": 3, "percent": 42.9},
            {"country": "SE", "views": 2, "percent": 28.6},
            {"country": "US", "views": 2, "percent": 28.6},
        ]})
    );
    // The same numbers per image.
    let s = get_json(&app, &format!("/api/images/{}/stats", img["id"])).await;
    assert_eq!(s["countries"], c["countries"]);
    assert_eq!(
        (s["views"].as_u64(), s["unique"].as_u64()),
        (Some(7), Some(3))
    );
    // Recent views carry the country, and no address by default.
    let recent = get_json(&app, "/api/stats/recent").await;
    let views = recent["views"].as_array().unwrap();
    assert_eq!(views.len(), 7);
    assert_eq!(views[0]["country"], "US");
    assert_eq!(views[6]["country"], "GB");
    assert_eq!(views[0]["uuid"], img["uuid"]);
    assert_eq!(views[0]["agent"], "browser");
    assert!(views.iter().all(|v| v.get("ip").is_none()), "{recent}");
}

#[tokio::test]
async fn forwarded_for_is_ignored_without_a_trusted_proxy() {
    let mut app = spawn_app_with(|c| c.geoip_db = Some(geoip_db())).await;
    app.login_admin().await;
    let img = app.upload_ok(fixture("real/logo.ico"), "logo.ico").await;
    let url = img["url"].as_str().unwrap();
    // Each claims another country; all come from 127.0.0.1 with one browser.
    for ip in [GB, SE, US] {
        assert_eq!(view(url, ip, FIREFOX, &[]).await, StatusCode::OK);
    }
    let stats = wait_stats(&app, "views", 3).await;
    assert_eq!(stats["uniqueVisitors"], 1, "one address, one browser");
    assert_eq!(
        get_json(&app, "/api/stats/countries").await,
        json!({"countries": [{"country": "unknown", "views": 3, "percent": 100.0}]})
    );
}

#[tokio::test]
async fn only_visitors_count_as_views_and_bots_are_counted_apart() {
    let app = proxied_app().await;
    let img = app.upload_ok(fixture("real/logo.ico"), "logo.ico").await;
    let private = app
        .upload_with_ok(fixture("real/logo.ico"), "p.ico", &[("private", "true")])
        .await;
    let url = img["url"].as_str().unwrap();
    let admin = app.url("/admin/library");
    // Not views: the admin UI, HEAD, the proxy, a 404 (wrong private key).
    assert_eq!(
        view(url, GB, FIREFOX, &[("Referer", &admin)]).await,
        StatusCode::OK
    );
    let head = client()
        .head(url)
        .header("X-Forwarded-For", GB)
        .header("User-Agent", FIREFOX)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let proxied = app
        .get(&format!("/api/proxy/{}.ico", img["uuid"].as_str().unwrap()))
        .await;
    assert_eq!(proxied.status(), StatusCode::OK);
    let wrong_key = format!(
        "{}?key=AAAAAAAAAAAAAAAAAAAAAA",
        private["url"].as_str().unwrap().split('?').next().unwrap()
    );
    assert_eq!(
        view(&wrong_key, GB, FIREFOX, &[]).await,
        StatusCode::NOT_FOUND
    );
    // Not views either, but counted apart: an unfurler and two bots.
    assert_eq!(view(url, US, DISCORD, &[]).await, StatusCode::OK);
    assert_eq!(
        view(
            url,
            US,
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            &[]
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(view(url, US, "curl/8.5.0", &[]).await, StatusCode::OK);
    // One real view last: the queue is in order, so once it is written,
    // everything above has been too.
    assert_eq!(view(url, SE, CHROME, &[]).await, StatusCode::OK);
    let mut stats = wait_stats(&app, "views", 1).await;
    app.wait_views_written().await;
    let mut stats2 = get_json(&app, "/api/stats").await;
    for s in [&mut stats, &mut stats2] {
        s["diskFree"] = Value::Null; // other tests write to the same disk
    }
    assert_eq!(stats, stats2, "nothing else trickles in");
    assert_eq!(
        (
            stats["views"].as_u64(),
            stats["botHits"].as_u64(),
            stats["unfurlerHits"].as_u64()
        ),
        (Some(1), Some(2), Some(1))
    );
    let per_image = get_json(&app, &format!("/api/images/{}/stats", img["id"])).await;
    assert_eq!(
        (
            per_image["views"].as_u64(),
            per_image["bots"].as_u64(),
            per_image["unfurlers"].as_u64()
        ),
        (Some(1), Some(2), Some(1))
    );
    assert_eq!(
        per_image["countries"],
        json!([{"country": "SE", "views": 1, "percent": 100.0}])
    );
    let details = get_json(&app, &format!("/api/images/{}", img["id"])).await;
    assert_eq!(details["views"], 1);
    let agents: Vec<Value> = get_json(&app, "/api/stats/recent").await["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["agent"].clone())
        .collect();
    assert_eq!(
        agents,
        vec![
            json!("browser"),
            json!("bot"),
            json!("bot"),
            json!("Discord")
        ]
    );
    // The private image got nothing.
    let p = get_json(&app, &format!("/api/images/{}/stats", private["id"])).await;
    assert_eq!(
        (p["views"].as_u64(), p["bots"].as_u64()),
        (Some(0), Some(0))
    );
}

/// Today's entry of a `days` array (the last one), and a check that every other
/// day is zero and that the dates are consecutive.
#[track_caller]
fn today_of(days: &Value, n: usize) -> Value {
    let days = days.as_array().unwrap();
    assert_eq!(days.len(), n);
    let mut prev: Option<&str> = None;
    for d in days {
        let date = d["date"].as_str().unwrap();
        assert_eq!(date.len(), 10);
        if let Some(p) = prev {
            assert!(p < date, "dates ascend: {p} {date}");
        }
        prev = Some(date);
    }
    for d in &days[..n - 1] {
        assert_eq!(
            (d["views"].as_u64(), d["unique"].as_u64()),
            (Some(0), Some(0)),
            "{d}"
        );
    }
    days[n - 1].clone()
}

/// The numbers the scripted sequence must give (before and after a restart).
async fn check_scripted(app: &TestApp, a: &Value, b: &Value) {
    let stats = get_json(app, "/api/stats").await;
    assert_eq!(stats["images"], 2);
    assert_eq!(stats["views"], 6);
    assert_eq!(stats["uniqueVisitors"], 3);
    assert_eq!(
        (stats["botHits"].as_u64(), stats["unfurlerHits"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(stats["storageUsed"].as_u64().unwrap() > 0);
    assert_eq!(stats["storageLimit"], Value::Null);
    assert!(stats["diskFree"].as_u64().unwrap() > 0);

    let days = get_json(app, "/api/stats/views?days=7").await;
    let today = today_of(&days["days"], 7);
    assert_eq!(
        (today["views"].as_u64(), today["unique"].as_u64()),
        (Some(6), Some(3))
    );
    // Without ?days: the default 30, zero-filled.
    assert_eq!(
        get_json(app, "/api/stats/views").await["days"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    // The dashboard's ranges: each ends today with the same counts.
    for n in [7, 30, 90] {
        let range = get_json(app, &format!("/api/stats/views?days={n}")).await;
        let today = today_of(&range["days"], n);
        assert_eq!(today["unique"].as_u64(), Some(3), "days={n}");
    }

    assert_eq!(
        get_json(app, "/api/stats/referrers").await,
        json!({"referrers": [
            {"host": "", "views": 2},
            {"host": "discord.com", "views": 2},
            {"host": "forum.example.org", "views": 1},
            {"host": "reddit.com", "views": 1},
        ]})
    );
    assert_eq!(
        get_json(app, "/api/stats/countries").await["countries"],
        json!([
            {"country": "GB", "views": 3, "percent": 50.0},
            {"country": "SE", "views": 2, "percent": 33.3},
            {"country": "US", "views": 1, "percent": 16.7},
        ])
    );

    let sa = get_json(app, &format!("/api/images/{}/stats?days=3", a["id"])).await;
    assert_eq!(
        (sa["views"].as_u64(), sa["unique"].as_u64()),
        (Some(4), Some(2))
    );
    let t = today_of(&sa["days"], 3);
    assert_eq!(
        (t["views"].as_u64(), t["unique"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(
        sa["referrers"],
        json!([
            {"host": "discord.com", "views": 2},
            {"host": "", "views": 1},
            {"host": "reddit.com", "views": 1},
        ])
    );
    assert_eq!(
        sa["countries"],
        json!([
            {"country": "GB", "views": 2, "percent": 50.0},
            {"country": "SE", "views": 2, "percent": 50.0},
        ])
    );
    // By uuid too.
    let sb = get_json(
        app,
        &format!("/api/images/{}/stats", b["uuid"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (sb["views"].as_u64(), sb["unique"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        sb["referrers"],
        json!([{"host": "", "views": 1}, {"host": "forum.example.org", "views": 1}])
    );

    let top = get_json(app, "/api/stats/top").await;
    let ids: Vec<u64> = top["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![a["id"].as_u64().unwrap(), b["id"].as_u64().unwrap()]
    );
    assert_eq!(top["images"][0]["views"], 4);
    assert_eq!(top["images"][0]["filename"], "a.ico");

    let recent = get_json(app, "/api/stats/recent?limit=2").await;
    assert_eq!(
        recent["views"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["referrer"].clone())
            .collect::<Vec<_>>(),
        vec![json!("forum.example.org"), Value::Null]
    );
    assert_eq!(recent["views"][0]["imageId"], b["id"]);
}

#[tokio::test]
async fn a_scripted_sequence_gives_exact_numbers_that_survive_a_restart() {
    let app = proxied_app().await;
    let a = app.upload_ok(fixture("real/logo.ico"), "a.ico").await;
    let b = app.upload_ok(fixture("real/logo.ico"), "b.ico").await;
    let (ua, ub) = (a["url"].as_str().unwrap(), b["url"].as_str().unwrap());
    let etag = client().head(ua).send().await.unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();

    // Visitor 1 (GB, Firefox): A twice from Discord, B once directly.
    let discord = [("Referer", "https://discord.com/channels/1/2")];
    assert_eq!(view(ua, GB, FIREFOX, &discord).await, StatusCode::OK);
    assert_eq!(view(ua, GB, FIREFOX, &discord).await, StatusCode::OK);
    assert_eq!(view(ub, GB, FIREFOX, &[]).await, StatusCode::OK);
    // Visitor 2 (SE, Chrome): A from Reddit, then A revalidated (304 counts).
    assert_eq!(
        view(
            ua,
            SE,
            CHROME,
            &[("Referer", "https://www.reddit.com/r/pics/")]
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        view(ua, SE, CHROME, &[("If-None-Match", &etag)]).await,
        StatusCode::NOT_MODIFIED
    );
    // Visitor 3 (US, Safari): part of B (206 counts) from a forum thread whose
    // URL carries a token that must not be stored.
    assert_eq!(
        view(
            ub,
            US,
            SAFARI,
            &[
                ("Range", "bytes=0-9"),
                ("Referer", "https://forum.example.org/t/1?token=s3cret")
            ]
        )
        .await,
        StatusCode::PARTIAL_CONTENT
    );

    wait_stats(&app, "views", 6).await;
    check_scripted(&app, &a, &b).await;

    // A restart keeps every number.
    let mut app = app
        .restart(|c| {
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            c.geoip_db = Some(geoip_db());
        })
        .await;
    app.login_admin().await;
    check_scripted(&app, &a, &b).await;

    // Deleting B drops its own numbers; the totals keep its views (they happened).
    let res = app.delete_image(&b).await;
    assert!(res.status().is_success());
    let gone = app.get(&format!("/api/images/{}/stats", b["id"])).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(get_json(&app, "/api/stats").await["views"], 6);
    let top = get_json(&app, "/api/stats/top").await;
    assert_eq!(top["images"].as_array().unwrap().len(), 1);
    let recent = get_json(&app, "/api/stats/recent").await;
    assert!(
        recent["views"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["imageId"] == a["id"])
    );
}

async fn login(base: &str) -> reqwest::Client {
    let c = client();
    let res = log_in(&c, base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    c
}

#[tokio::test]
async fn a_crash_loses_nothing_that_was_written() {
    // A long flush interval is not configurable from outside; the default
    // (500 ms) is fine: we wait until the views are visible, i.e. committed.
    let app = spawn_binary(&[]);
    let key = app.upload_key.clone();
    let img: Value = upload_as(&app.base, &key, fixture("real/logo.ico"), "logo.ico")
        .await
        .json()
        .await
        .unwrap();
    let url = img["url"].as_str().unwrap().to_string();
    for ua in [FIREFOX, CHROME, SAFARI, DISCORD] {
        let res = fetch_with(&url, &[("User-Agent", ua)]).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let c = login(&app.base).await;
    let mut before = Value::Null;
    for _ in 0..250 {
        before = get_json_with(&c, &app.base, "/api/stats").await;
        if before["views"] == 3 && before["unfurlerHits"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        (before["views"].as_u64(), before["uniqueVisitors"].as_u64()),
        (Some(3), Some(3))
    );
    let per_image = format!("/api/images/{}/stats", img["id"]);
    let image_before: Value = get_json_with(&c, &app.base, &per_image).await;

    let app = app.crash_and_restart(&[]);
    let c = login(&app.base).await;
    let mut after: Value = get_json_with(&c, &app.base, "/api/stats").await;
    before["diskFree"] = Value::Null;
    after["diskFree"] = Value::Null;
    assert_eq!(before, after);
    let image_after: Value = get_json_with(&c, &app.base, &per_image).await;
    assert_eq!(image_before, image_after);
    assert_eq!(image_after["views"], 3);
}

/// Whether `needle` occurs anywhere in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn addresses_and_agents_are_not_stored_unless_asked_and_the_log_is_capped() {
    let mapped = "81.2.69.142"
        .parse::<std::net::Ipv4Addr>()
        .unwrap()
        .to_ipv6_mapped()
        .octets();
    for store_ip in [false, true] {
        let mut app = spawn_app_with(|c| {
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            c.store_viewer_ip = store_ip;
            c.recent_views = 3;
        })
        .await;
        app.login_admin().await;
        let img = app.upload_ok(fixture("real/logo.ico"), "logo.ico").await;
        let url = img["url"].as_str().unwrap();
        for ua in [FIREFOX, CHROME, SAFARI, "Firefox-ish/1"] {
            assert_eq!(view(url, GB, ua, &[]).await, StatusCode::OK);
        }
        wait_stats(&app, "views", 4).await;
        let recent = get_json(&app, "/api/stats/recent").await;
        let views = recent["views"].as_array().unwrap();
        assert_eq!(views.len(), 3, "capped at 3: {recent}");
        if store_ip {
            assert!(views.iter().all(|v| v["ip"] == GB), "{recent}");
        } else {
            assert!(views.iter().all(|v| v.get("ip").is_none()), "{recent}");
        }
        // Shut down so the database file is complete, then look inside it.
        let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
        drop(app);
        let bytes = std::fs::read(dir.path().join("pixbin.redb")).unwrap();
        assert_eq!(
            contains(&bytes, &mapped),
            store_ip,
            "raw address stored: {store_ip}"
        );
        assert!(!contains(&bytes, GB.as_bytes()));
        assert!(
            !contains(&bytes, b"Firefox"),
            "user agents are never stored"
        );
    }
}

#[tokio::test]
async fn stats_need_a_session_and_valid_parameters() {
    let mut app = spawn_app_with(|_| {}).await;
    for path in [
        "/api/stats",
        "/api/stats/views",
        "/api/stats/countries",
        "/api/stats/referrers",
        "/api/stats/recent",
        "/api/stats/top",
        "/api/images/1/stats",
    ] {
        let res = fetch(app.url(path)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        // An upload key is not a session.
        let res = client()
            .get(app.url(path))
            .bearer_auth(&app.upload_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    app.login_admin().await;
    for (path, status) in [
        ("/api/stats/views?days=0", StatusCode::BAD_REQUEST),
        ("/api/stats/views?days=401", StatusCode::BAD_REQUEST),
        ("/api/stats/views?days=x", StatusCode::BAD_REQUEST),
        ("/api/stats/recent?limit=100000", StatusCode::BAD_REQUEST),
        ("/api/images/abc/stats", StatusCode::BAD_REQUEST),
        ("/api/images/999/stats", StatusCode::NOT_FOUND),
        ("/api/stats/views?days=400", StatusCode::OK),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), status, "{path}");
        let body: Value = res.json().await.unwrap();
        if status != StatusCode::OK {
            assert!(body["code"].is_string(), "{path}: {body}");
        }
    }
    // An empty server answers with zeros, not errors.
    let s = get_json(&app, "/api/stats").await;
    assert_eq!(
        (s["views"].as_u64(), s["images"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        get_json(&app, "/api/stats/countries").await,
        json!({"countries": []})
    );
    assert_eq!(
        get_json(&app, "/api/stats/top").await,
        json!({"images": []})
    );
    let d = get_json(&app, "/api/stats/views?days=3").await;
    today_of(&d["days"], 3);
    // A fetch with analytics switched off is served but not recorded.
    let mut off = spawn_app_with(|c| c.analytics = false).await;
    off.login_admin().await;
    let img = off.upload_ok(fixture("real/logo.ico"), "logo.ico").await;
    let res = fetch(img["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    off.wait_views_written().await;
    assert_eq!(get_json(&off, "/api/stats").await["views"], 0);
}
