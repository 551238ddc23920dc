//! A43: hundreds of concurrent logins. The attempt is counted before the
//! password is hashed, so at most the allowed number from one address are
//! verified and the rest are 429; password hashes run a few at a time
//! whatever the number of addresses (beyond the queue, 503 `busy`), and
//! images keep being served meanwhile.

use std::time::{Duration, Instant};

use super::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

/// One login attempt; (status, code, Retry-After).
async fn attempt(
    app: &TestApp,
    user: &str,
    pw: &str,
    xff: Option<String>,
) -> (u16, String, Option<u64>) {
    let mut req = client()
        .post(app.url("/api/login"))
        .json(&json!({"username": user, "password": pw}));
    if let Some(x) = xff {
        req = req.header("X-Forwarded-For", x);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let v: serde_json::Value = res.json().await.unwrap();
    (status, v["code"].as_str().unwrap_or("").to_string(), retry)
}

#[tokio::test]
async fn a43_concurrent_logins_from_one_address_are_reserved_before_hashing() {
    let app = spawn_app().await;
    let allowed = app.state.config.login_attempts as usize;
    // 200 at once, the user name varied (case, spaces, unknown names).
    let names = ["admin", "Admin", "ADMIN", " admin", "admin\u{0}", "root"];
    let tries = (0..200).map(|i| {
        let user = if i % 7 == 6 {
            format!("user{i}")
        } else {
            names[i % names.len()].to_string()
        };
        let app = &app;
        async move { attempt(app, &user, "wrong password", None).await }
    });
    let results = join_all(tries).await;
    let verified = results.iter().filter(|r| r.0 == 401).count();
    let throttled = results.iter().filter(|r| r.0 == 429).count();
    let busy = results.iter().filter(|r| r.0 == 503).count();
    assert!(
        verified <= allowed,
        "{verified} wrong passwords were verified (allowed {allowed}); 429: {throttled}, 503: {busy}"
    );
    assert!(verified >= 1, "some attempts must be checked");
    assert_eq!(verified + throttled + busy, 200, "{results:?}");
    assert!(throttled >= 200 - allowed - busy);
    for (status, code, retry) in &results {
        match status {
            429 => assert_eq!(code, "rate_limited"),
            503 => assert_eq!(code, "busy"),
            _ => assert_eq!(code, "invalid_credentials"),
        }
        if *status != 401 {
            assert!(
                retry.is_some_and(|r| r >= 1),
                "{status} without Retry-After"
            );
        }
    }
    let gate = &app.state.logins.hashing;
    assert!(
        gate.peak() <= gate.size(),
        "{} > {}",
        gate.peak(),
        gate.size()
    );
    // The lockout holds for the right password too.
    let (status, code, _) = attempt(&app, "admin", ADMIN_PASSWORD, None).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
}

#[tokio::test]
async fn a43_password_hashes_are_capped_globally_and_images_keep_serving() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let img = app.upload_ok(fixture("real/logo.png"), "x.png").await;
    let url = img["url"].as_str().unwrap().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Image fetches (their own client, so their own connections) meanwhile.
    let watcher = {
        let (stop, url) = (stop.clone(), url.clone());
        tokio::spawn(async move {
            let c = client();
            let mut worst = Duration::ZERO;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 3 {
                let t = Instant::now();
                let res = c.get(&url).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.bytes().await.unwrap();
                worst = worst.max(t.elapsed());
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (worst, n)
        })
    };
    // 150 at once from 150 addresses, so no address or name bucket stops them:
    // only the global gate is left.
    let tries = (0..150).map(|i| {
        let app = &app;
        let xff = format!("198.51.{}.{}", 100 + i / 200, 1 + i % 200);
        async move { attempt(app, &format!("user{i}"), "wrong", Some(xff)).await }
    });
    let results = join_all(tries).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (worst, fetches) = watcher.await.unwrap();
    let gate = &app.state.logins.hashing;
    assert!(
        gate.peak() <= gate.size(),
        "{} hashes ran at once (cap {})",
        gate.peak(),
        gate.size()
    );
    for (status, code, retry) in &results {
        match status {
            401 => assert_eq!(code, "invalid_credentials"),
            503 => {
                assert_eq!(code, "busy");
                assert!(retry.is_some_and(|r| r >= 1));
            }
            other => panic!("unexpected {other} {code}"),
        }
    }
    assert!(
        worst < Duration::from_secs(2),
        "an image fetch took {worst:?} during the login burst ({fetches} fetches)"
    );
    // A refused attempt was not held against its address: it may log in.
    let refused = results.iter().position(|r| r.0 == 503);
    if let Some(i) = refused {
        let xff = format!("198.51.{}.{}", 100 + i / 200, 1 + i % 200);
        let (status, _, _) = attempt(&app, "admin", ADMIN_PASSWORD, Some(xff)).await;
        assert_eq!(status, 200);
    }
}
