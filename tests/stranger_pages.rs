//! The pages strangers see: the ShareX deletion link opened in a browser shows
//! a styled, script-free page with a preview of what will be deleted (without
//! spending a view), and its form's result is a page too; a dead image link
//! opened in a browser gets a styled 404 page, while API clients
//! (`application/json`, `*/*`, no Accept, ShareX) keep getting the same JSON.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

const BROWSER: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

/// Checks a stranger page: HTML, styled by one inline stylesheet that its CSP
/// allows by nonce, no script, big touch targets, both colour schemes.
#[track_caller]
fn assert_styled_page(headers: &reqwest::header::HeaderMap, html: &str) {
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("a style nonce in {csp}"));
    assert!(
        html.contains(&format!("<style nonce=\"{nonce}\">")),
        "the stylesheet carries the CSP's nonce: {html}"
    );
    assert!(!html.to_lowercase().contains("<script"), "{html}");
    assert!(html.contains("prefers-color-scheme:dark"), "{html}");
    assert!(html.contains("min-height:44px"), "{html}");
    assert!(html.contains("name=\"viewport\""), "{html}");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn the_deletion_page_is_styled_and_shows_what_goes_without_spending_a_view() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let res = app
        .upload_with(
            fixture("real/rocket.jpg"),
            "<b>launch&go.jpg",
            &[("private", "true"), ("max_views", "1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let del = v["deletion_url"].as_str().unwrap().to_string();

    let page = fetch_with(&del, &[("accept", BROWSER)]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    assert_styled_page(&headers, &html);
    // What will be deleted: a preview inlined (no second request, nothing
    // public needed), the escaped name, the size and the date.
    assert!(html.contains("<img src=\"data:image/"), "{html}");
    assert!(html.contains("&lt;b&gt;launch&amp;go.jpg"), "{html}");
    assert!(!html.contains("<b>launch"), "{html}");
    assert!(html.contains(" KB<") || html.contains(" MB<"), "{html}");
    assert!(
        html.contains(&v["uploadedAt"].as_str().unwrap()[..10]),
        "{html}"
    );
    assert!(html.contains("<form method=\"post\""), "{html}");
    // The one view the image allows is still there.
    let details: Value = app.get_json(&format!("/api/images/{}", v["id"])).await;
    assert_eq!(details["viewsLeft"], 1, "{details}");

    // The form's POST answers with a styled page too.
    let done = client()
        .post(&del)
        .header("accept", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let headers = done.headers().clone();
    let html = done.text().await.unwrap();
    assert_styled_page(&headers, &html);
    assert!(html.contains("deleted"), "{html}");
    app.assert_empty_store();

    // Used again, the link says so on a styled page.
    let again = fetch(&del).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let headers = again.headers().clone();
    assert_styled_page(&headers, &again.text().await.unwrap());
}

async fn get(url: &str, accept: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = client().get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, res.text().await.unwrap())
}

#[tokio::test]
async fn a_dead_link_in_a_browser_is_a_page_and_json_for_everyone_else() {
    let app = spawn_app().await;
    let used = app
        .upload_with_ok(fixture("real/logo.png"), "once.png", &[("max_views", "1")])
        .await;
    let url = used["url"].as_str().unwrap().to_string();
    assert_eq!(get(&url, Some(BROWSER)).await.0, StatusCode::OK);
    let private = app
        .upload_with_ok(fixture("real/rocket.jpg"), "p.jpg", &[("private", "true")])
        .await;
    let private_url = private["url"].as_str().unwrap();
    let no_key = private_url.split('?').next().unwrap().to_string();
    let unknown = app.url("/0b6f1c2e-8f8e-4c1a-9d5e-2f1a3b4c5d6e.png");
    let thumb_no_key = no_key.replace(&app.base, &format!("{}/thumb", app.base));

    let mut pages = Vec::new();
    for dead in [&url, &no_key, &unknown, &thumb_no_key] {
        let (s, h, html) = get(dead, Some(BROWSER)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{dead}");
        assert_styled_page(&h, &html);
        assert!(!html.contains("{\""), "no JSON in the page: {html}");
        assert_eq!(h["vary"], "Accept");
        // The same words whatever the reason, so a page probes no more than
        // the JSON 404 does.
        let nonce_free: String = html
            .split("nonce=\"")
            .enumerate()
            .map(|(i, p)| {
                if i == 0 {
                    p
                } else {
                    p.split_once('"').unwrap().1
                }
            })
            .collect();
        pages.push(nonce_free);

        for accept in [Some("application/json"), Some("*/*"), None] {
            let (s, h, body) = get(dead, accept).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{dead} {accept:?}");
            assert_eq!(h["content-type"], "application/json", "{accept:?}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["code"], "not_found");
        }
    }
    assert!(pages.windows(2).all(|w| w[0] == w[1]), "{pages:?}");
    // A live link opened in a browser still serves the image.
    let (s, h, _) = get(private_url, Some(BROWSER)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "image/jpeg");
}
