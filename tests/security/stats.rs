//! Statistics cannot be poisoned for good (A51): a burst of anonymous fetches
//! with made-up Referer hosts fills the bounded referrer tables, but they keep
//! making room for new hosts (the least-viewed rows move to `(other)`), so
//! real referrers, old and new, are still counted by name afterwards, overall
//! and per image, and no view goes missing from the totals.

use super::*;
use reqwest::StatusCode;
use serde_json::Value;

/// (host, views) of a `{"referrers": [{"host", "views"}]}` answer.
fn hosts(v: &Value) -> Vec<(String, u64)> {
    v["referrers"]
        .as_array()
        .unwrap_or_else(|| panic!("no referrers: {v}"))
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["views"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let res = app.get(path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

/// Fetches `url` `n` times from `referer(i)`, eight at a time.
async fn fetch_from(url: &str, n: usize, referer: impl Fn(usize) -> String) {
    let referers: Vec<String> = (0..n).map(referer).collect();
    let mut tasks = Vec::new();
    for chunk in referers.chunks(n.div_ceil(8).max(1)) {
        let (url, chunk) = (url.to_string(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            let c = client();
            for r in chunk {
                let res = c.get(&url).header("Referer", r).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// A51: 1,100 anonymous GETs with random Referer hosts, then real ones: the
/// real referrers are counted by name, overall and for the image.
#[tokio::test]
async fn a51_junk_referrers_age_out_and_real_ones_are_still_counted() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let v = app.upload_ok(fixture("real/logo.ico"), "shared.ico").await;
    let url = v["url"].as_str().unwrap().to_string();
    let id = v["id"].as_u64().unwrap();

    fetch_from(&url, 3, |_| "https://forum.example.org/t/1".into()).await;
    assert_eq!(app.wait_for_views(id, 3).await, 3);
    fetch_from(&url, 1_100, |i| {
        format!(
            "https://j{i}-{:08x}.junk.example/",
            i.wrapping_mul(2_654_435_761)
        )
    })
    .await;
    assert_eq!(app.wait_for_views(id, 1_103).await, 1_103);

    // Afterwards: a new site links the image, and the old one again.
    fetch_from(&url, 2, |_| "https://news.example.com/story".into()).await;
    fetch_from(&url, 1, |_| "https://forum.example.org/t/2".into()).await;
    assert_eq!(app.wait_for_views(id, 1_106).await, 1_106);

    let global = hosts(&get_json(&app, "/api/stats/referrers?limit=1000").await);
    // The answer is capped at 1,000 rows; the table may hold one more.
    let all = app.state.store.referrer_views(usize::MAX).unwrap();
    assert_eq!(all.iter().map(|e| e.1).sum::<u64>(), 1_106, "global total");
    let image = hosts(&get_json(&app, &format!("/api/images/{id}/stats")).await);
    for (name, table) in [("global", &global), ("per image", &image)] {
        let views = |h: &str| table.iter().find(|e| e.0 == h).map(|e| e.1);
        assert_eq!(
            views("news.example.com"),
            Some(2),
            "{name}: a new real referrer is counted by name: {:?}",
            &table[..table.len().min(5)]
        );
        assert_eq!(views("forum.example.org"), Some(4), "{name}");
        assert!(views("(other)").is_some(), "{name}: the junk overflow");
    }
    assert_eq!(
        image.iter().map(|e| e.1).sum::<u64>(),
        1_106,
        "per image: every view is counted somewhere"
    );
    // The most-viewed real referrers lead the list, ahead of any junk host.
    assert_eq!(image[0].0, "(other)");
    assert_eq!(image[1], ("forum.example.org".into(), 4));
    assert_eq!(image[2], ("news.example.com".into(), 2));
}
