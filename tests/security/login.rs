//! Sessions, CSRF, login and browser protections (A26–A31): state changes need
//! the CSRF token; logout kills the session server-side; login never adopts a
//! planted cookie; cookies are hardened; failed logins are throttled per address
//! and per user name with equal timing for unknown users; the UI cannot be
//! framed, redirects stay on the site, and no CORS header is ever sent.

use std::time::{Duration, Instant};

use super::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Logs in with a plain client; returns the `name=value` of the session cookie,
/// the CSRF token and all `Set-Cookie` lines.
async fn login_raw(app: &TestApp, cookie: Option<&str>) -> (String, String, Vec<String>) {
    let mut req = client()
        .post(app.url("/api/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let v: Value = res.json().await.unwrap();
    let pair = set
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .find(|c| c.contains("pixbin_session="))
        .expect("a session cookie");
    (pair, v["csrfToken"].as_str().unwrap().to_string(), set)
}

/// A request with an explicit Cookie header and optional CSRF token.
fn with_cookie(
    method: reqwest::Method,
    url: String,
    cookie: &str,
    csrf: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut req = client().request(method, url).header("Cookie", cookie);
    if let Some(t) = csrf {
        req = req.header("X-CSRF-Token", t);
    }
    req
}

/// A26: every state change (delete, session upload, logout, refresh, privacy,
/// key rotation, expiry edit, key creation and revocation) with a valid session
/// but no, an empty or a random `X-CSRF-Token`: 403 `csrf`, nothing changes.
#[tokio::test]
async fn a26_state_changes_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "keep.png").await;
    let (uuid, id) = (v["uuid"].as_str().unwrap(), v["id"].as_u64().unwrap());
    let (cookie, csrf, _) = login_raw(&app, None).await;
    let png = fixture("real/logo.ico");
    let calls: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::DELETE, format!("/api/delete/{uuid}"), None),
        (reqwest::Method::POST, "/api/logout".into(), None),
        (reqwest::Method::POST, "/api/refresh".into(), None),
        (
            reqwest::Method::POST,
            format!("/api/images/{id}/privacy"),
            Some(json!({"isPrivate": true})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/images/{id}/rotate-key"),
            None,
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/images/{id}"),
            Some(json!({"maxViews": 1})),
        ),
        (
            reqwest::Method::POST,
            "/api/keys".into(),
            Some(json!({"name": "x"})),
        ),
        (reqwest::Method::DELETE, "/api/keys/1".into(), None),
    ];
    for token in [
        None,
        Some(""),
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Some(&csrf[1..]),
    ] {
        for (m, path, body) in &calls {
            let mut req = with_cookie(m.clone(), app.url(path), &cookie, token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            assert_error(status, &res.bytes().await.unwrap(), 403, "csrf");
        }
        // The session-authenticated upload.
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(png.clone()).file_name("n.ico"),
        );
        let mut req = with_cookie(
            reqwest::Method::POST,
            app.url("/api/upload"),
            &cookie,
            token,
        );
        req = req.multipart(form);
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 403, "csrf");
    }
    // Nothing changed: the image is public and served, the session alive with
    // the same token, one image, one key.
    let served = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    let res = with_cookie(reqwest::Method::GET, app.url("/api/session"), &cookie, None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["csrfToken"],
        csrf.as_str()
    );
    assert_eq!(app.totals().images, 1);
    assert_eq!(app.state.store.list_keys(None).unwrap().len(), 1);
    // The right token works (the check is not simply refusing everything).
    let res = with_cookie(
        reqwest::Method::POST,
        app.url(&format!("/api/images/{id}/privacy")),
        &cookie,
        Some(&csrf),
    )
    .json(&json!({"isPrivate": false}))
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A27: after logout, the saved cookie and CSRF token replayed on delete, list
/// and refresh: 401, nothing deleted.
#[tokio::test]
async fn a27_logout_kills_the_session_server_side() {
    let app = spawn_app().await;
    let v = app.upload_ok(fixture("real/logo.png"), "keep.png").await;
    let uuid = v["uuid"].as_str().unwrap();
    let (cookie, csrf, _) = login_raw(&app, None).await;
    let res = with_cookie(
        reqwest::Method::POST,
        app.url("/api/logout"),
        &cookie,
        Some(&csrf),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for (m, path) in [
        (reqwest::Method::DELETE, format!("/api/delete/{uuid}")),
        (reqwest::Method::GET, "/api/list".to_string()),
        (reqwest::Method::POST, "/api/refresh".to_string()),
        (reqwest::Method::GET, "/api/session".to_string()),
    ] {
        let res = with_cookie(m, app.url(&path), &cookie, Some(&csrf))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert_error(status, &res.bytes().await.unwrap(), 401, "unauthorized");
    }
    let served = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
}

/// A28: login with a planted `session=attacker123` (and with an attacker's own
/// valid session): the response sets a fresh random id; the planted value never
/// authenticates, and the attacker's old session is gone.
#[tokio::test]
async fn a28_login_never_adopts_a_planted_session() {
    let app = spawn_app().await;
    let (_, _, set) = login_raw(
        &app,
        Some("pixbin_session=attacker123; session=attacker123"),
    )
    .await;
    let session_line = set
        .iter()
        .find(|c| c.starts_with("pixbin_session="))
        .unwrap();
    let value = session_line
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("pixbin_session=");
    assert_ne!(value, "attacker123");
    assert!(value.len() >= 32, "a random id: {value}");
    for planted in ["pixbin_session=attacker123", "session=attacker123"] {
        let res = with_cookie(reqwest::Method::GET, app.url("/api/session"), planted, None)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{planted}");
    }
    // An attacker's real session planted in the victim's browser.
    let (attacker, _, _) = login_raw(&app, None).await;
    let (victim, _, _) = login_raw(&app, Some(&attacker)).await;
    assert_ne!(attacker, victim);
    let res = with_cookie(
        reqwest::Method::GET,
        app.url("/api/session"),
        &attacker,
        None,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the planted session was retired"
    );
    let res = with_cookie(reqwest::Method::GET, app.url("/api/session"), &victim, None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A29: the session cookie is `HttpOnly; SameSite=Strict; Path=/` without
/// `Domain`; over HTTPS (an https base URL) it is also `Secure` and named
/// `__Host-…`. The CSRF cookie is readable by the UI but otherwise the same.
#[tokio::test]
async fn a29_session_cookies_are_hardened() {
    let app = spawn_app().await;
    let (_, _, set) = login_raw(&app, None).await;
    let find = |set: &[String], name: &str| -> String {
        set.iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {set:?}"))
            .clone()
    };
    let attrs = |c: &str| -> Vec<String> {
        c.split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect()
    };
    let s = attrs(&find(&set, "pixbin_session"));
    for a in ["httponly", "samesite=strict", "path=/"] {
        assert!(s.contains(&a.to_string()), "{a} missing: {s:?}");
    }
    assert!(!s.iter().any(|a| a.starts_with("domain")), "{s:?}");
    assert!(
        !s.contains(&"secure".to_string()),
        "no Secure over plain HTTP"
    );
    let c = attrs(&find(&set, "pixbin_csrf"));
    assert!(c.contains(&"samesite=strict".to_string()) && !c.contains(&"httponly".to_string()));

    let tls = spawn_app_with(|c| c.base_url = Some("https://img.example.test".into())).await;
    let res = log_in(&client(), &tls.base, "admin", ADMIN_PASSWORD).await;
    let set: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    for name in ["__Host-pixbin_session", "__Host-pixbin_csrf"] {
        let a = attrs(&find(&set, name));
        for want in ["secure", "samesite=strict", "path=/"] {
            assert!(
                a.contains(&want.to_string()),
                "{name}: {want} missing: {a:?}"
            );
        }
        assert!(!a.iter().any(|x| x.starts_with("domain")), "{a:?}");
    }
    assert!(attrs(&find(&set, "__Host-pixbin_session")).contains(&"httponly".to_string()));
}

async fn try_login(app: &TestApp, user: &str, pw: &str, xff: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(app.url("/api/login"))
        .json(&json!({"username": user, "password": pw}));
    if let Some(x) = xff {
        req = req.header("X-Forwarded-For", x);
    }
    req.send().await.unwrap()
}

/// A30: 20 wrong passwords from one address: 429 with `Retry-After` from the
/// 6th try on (at most 10), also for the right password during the lockout;
/// a forged `X-Forwarded-For` does not escape it; passwords are argon2id.
#[tokio::test]
async fn a30_failed_logins_are_throttled_per_address() {
    let app = spawn_app().await;
    let mut first_429 = None;
    for i in 1..=20 {
        let xff = format!("203.0.113.{i}");
        let res = try_login(&app, "admin", &format!("wrong-{i}"), Some(&xff)).await;
        match res.status().as_u16() {
            401 => assert!(first_429.is_none(), "401 after a 429 at try {i}"),
            429 => {
                first_429.get_or_insert(i);
                let wait: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&wait), "Retry-After {wait}");
                let status = res.status().as_u16();
                assert_error(status, &res.bytes().await.unwrap(), 429, "rate_limited");
            }
            s => panic!("try {i}: {s}"),
        }
    }
    let first = first_429.expect("never throttled");
    assert!(first <= 10, "first 429 at try {first}");
    let res = try_login(&app, "admin", ADMIN_PASSWORD, None).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "right password during lockout"
    );
    assert!(res.headers().get("set-cookie").is_none());
    let hash = app
        .state
        .store
        .user("admin")
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

/// A30: the lockout ends by itself: with 2 tries per 2 s, the right password
/// works again after the wait it announced.
#[tokio::test]
async fn a30_the_lockout_ends_after_its_retry_after() {
    let app = spawn_app_with(|c| {
        c.login_attempts = 2;
        c.login_window = Duration::from_secs(2);
    })
    .await;
    for _ in 0..2 {
        assert_eq!(try_login(&app, "admin", "nope", None).await.status(), 401);
    }
    let res = try_login(&app, "admin", ADMIN_PASSWORD, None).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let deadline = Instant::now() + Duration::from_secs(wait + 3);
    loop {
        let res = try_login(&app, "admin", ADMIN_PASSWORD, None).await;
        if res.status() == StatusCode::OK {
            break;
        }
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "still locked after Retry-After");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A30: behind a trusted proxy, guesses for one user name spread over many
/// client addresses are throttled by the name (4x the address budget), while
/// an address that logged in as that name before still gets in.
#[tokio::test]
async fn a30_guesses_spread_over_addresses_are_throttled_per_user_name() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let owner = "192.0.2.10";
    assert_eq!(
        try_login(&app, "admin", ADMIN_PASSWORD, Some(owner))
            .await
            .status(),
        200
    );
    for i in 0..20 {
        let res = try_login(&app, "admin", "guess", Some(&format!("198.51.100.{i}"))).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let res = try_login(&app, "admin", ADMIN_PASSWORD, Some("198.51.100.200")).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the name is locked"
    );
    let res = try_login(&app, "admin", ADMIN_PASSWORD, Some(owner)).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the owner's address still gets in"
    );
    // Another user name is not affected.
    let res = try_login(&app, "alice", "x", Some("198.51.100.201")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// A30: an unknown user name costs the same argon2 work as a wrong password,
/// so login time does not reveal which names exist. Medians of interleaved
/// tries must be within a factor of 2 (skipping the hash is a factor > 20).
#[tokio::test]
async fn a30_unknown_users_cost_as_much_as_wrong_passwords() {
    let app = spawn_app_with(|c| c.login_attempts = 10_000).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    // Warm-up: the dummy hash for unknown users is made on first use.
    let _ = try_login(&app, "nobody", "x", None).await;
    for i in 0..9 {
        for (user, out) in [("admin", &mut known), ("nobody-here", &mut unknown)] {
            let t = Instant::now();
            let res = try_login(&app, user, &format!("wrong-{i}"), None).await;
            out.push(t.elapsed());
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[4].as_secs_f64(), unknown[4].as_secs_f64());
    let ratio = u / k;
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown {u:.4}s vs wrong password {k:.4}s"
    );
}

/// A31: the admin UI, its pages and the API cannot be framed and send no
/// Referer; private images send no Referer; the only server redirect is
/// `/` -> `/admin/`, whatever `next` says; odd paths are 404, not redirects.
#[tokio::test]
async fn a31_the_ui_cannot_be_framed_and_redirects_stay_on_site() {
    let app = spawn_app().await;
    let v: Value = app
        .upload_with_ok(fixture("real/logo.png"), "p.png", &[("private", "true")])
        .await;
    for path in [
        "/admin/",
        "/admin/login?next=https:evil.example",
        "/admin/library",
        "/api/session",
        "/api/list",
    ] {
        let res = fetch(app.url(path)).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.get("location").is_none(), "{path}");
        if path.starts_with("/admin") {
            assert!(
                csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
                "{csp}"
            );
            assert!(
                !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
                "{csp}"
            );
        }
    }
    let res = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["referrer-policy"],
        "no-referrer",
        "private image"
    );
    for q in [
        "",
        "?next=//evil.example",
        "?next=/\\evil.example",
        "?next=https:evil.example",
        "?next=https://evil.example",
    ] {
        let r = roundtrip(
            app.addr,
            format!("GET /{q} HTTP/1.1\r\nHost: pixbin.test\r\n\r\n").into_bytes(),
        );
        assert_eq!(r.status, 302, "{q}");
        assert_eq!(r.header("location"), Some("/admin/"), "{q}");
    }
    for path in [
        "//evil.example",
        "//evil.example/",
        "/\\evil.example",
        "/%5Cevil.example",
        "/https:evil.example",
        "/%2F%2Fevil.example",
    ] {
        let r = roundtrip(
            app.addr,
            format!("GET {path} HTTP/1.1\r\nHost: pixbin.test\r\n\r\n").into_bytes(),
        );
        assert!(r.status == 404 || r.status == 400, "{path}: {}", r.status);
        assert!(r.header("location").is_none(), "{path} redirects");
    }
}

/// No CORS unless configured (and there is no setting): no response, preflight
/// or not, carries `Access-Control-Allow-*`, whatever the `Origin`.
#[tokio::test]
async fn a31_no_cors_headers_are_ever_sent() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.png"), "x.png").await;
    let paths = [
        "/api/upload".to_string(),
        "/api/list".into(),
        "/api/login".into(),
        "/api/session".into(),
        format!("/api/delete/{}", v["uuid"].as_str().unwrap()),
        v["url"].as_str().unwrap()[app.base.len()..].to_string(),
        "/admin/".into(),
        "/api/openapi.json".into(),
    ];
    for p in &paths {
        for m in ["OPTIONS", "GET", "POST", "DELETE"] {
            let res = app
                .client
                .request(
                    reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                    app.url(p),
                )
                .header("Origin", "https://evil.example")
                .header("Access-Control-Request-Method", "DELETE")
                .header("Access-Control-Request-Headers", "x-csrf-token")
                .header("X-CSRF-Token", app.csrf().to_string() + "x")
                .send()
                .await
                .unwrap();
            assert!(res.status() != StatusCode::NO_CONTENT || m != "OPTIONS");
            for (k, _) in res.headers() {
                assert!(
                    !k.as_str().starts_with("access-control-"),
                    "{m} {p} sent {k}"
                );
            }
        }
    }
}
