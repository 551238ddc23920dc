//! Each account's statistics are its own and stay right: one visitor to
//! several images of an account is one unique visitor of that account (and of
//! the instance), a deleted image's views stay on its owner's dashboard, and
//! handing an account's images to another hands over its numbers too.

use super::*;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// `(views, uniqueVisitors)` of `who`'s dashboard (the instance's for an
/// admin without `?user=`), and today's `(views, unique)` from its days.
async fn numbers(app: &TestApp, who: &Person, query: &str) -> ((u64, u64), (u64, u64)) {
    let s = who.get_json(app, &format!("/api/stats{query}")).await;
    let sep = if query.is_empty() { "?" } else { "&" };
    let d = who
        .get_json(app, &format!("/api/stats/views{query}{sep}days=1"))
        .await;
    let today = &d["days"][0];
    (
        (
            s["views"].as_u64().unwrap(),
            s["uniqueVisitors"].as_u64().unwrap(),
        ),
        (
            today["views"].as_u64().unwrap(),
            today["unique"].as_u64().unwrap(),
        ),
    )
}

#[tokio::test]
async fn an_accounts_numbers_count_its_visitors_once_and_survive_deletes_and_transfers() {
    let (app, admin, alice, bob) = with_two_users(|_| {}).await;
    let mut images = Vec::new();
    for (i, who) in [&alice, &bob].into_iter().enumerate() {
        for j in 0..3 {
            let seed = 10 * i as u64 + j;
            images.push(who.upload_ok(&app, bmp(4, 4, seed), "a.bmp").await);
        }
    }
    // One visitor (one address, one browser) looks at all six images.
    for img in &images {
        let res = fetch_with(img["url"].as_str().unwrap(), &[("User-Agent", FIREFOX)]).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    app.wait_views_written().await;
    for who in [&alice, &bob] {
        assert_eq!(
            numbers(&app, who, "").await,
            ((3, 1), (3, 1)),
            "{}",
            who.name
        );
    }
    assert_eq!(numbers(&app, &admin, "").await, ((6, 1), (6, 1)));
    assert_eq!(numbers(&app, &admin, "?user=alice").await, ((3, 1), (3, 1)));

    // Deleting an image keeps the views it had on its owner's dashboard,
    // like the instance's.
    let uuid = images[0]["uuid"].as_str().unwrap();
    let res = alice.delete(&app, &format!("/api/delete/{uuid}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(numbers(&app, &alice, "").await, ((3, 1), (3, 1)));
    assert_eq!(numbers(&app, &admin, "").await, ((6, 1), (6, 1)));

    // Deleting bob with his images handed to alice hands over his numbers:
    // the visitor was unique to each account, so alice now shows two.
    let res = admin
        .req(
            &app,
            Method::DELETE,
            "/api/users/bob?images=transfer&to=alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(numbers(&app, &alice, "").await, ((6, 2), (6, 2)));
    assert_eq!(
        numbers(&app, &admin, "?user=bob").await,
        ((0, 0), (0, 0)),
        "nothing is left under the deleted account's name"
    );
    // A view after the transfer counts for the new owner, and the visitor it
    // already saw today is not new to it.
    let url = images[3]["url"].as_str().unwrap();
    assert_eq!(
        fetch_with(url, &[("User-Agent", FIREFOX)]).await.status(),
        StatusCode::OK
    );
    app.wait_views_written().await;
    assert_eq!(numbers(&app, &alice, "").await, ((7, 2), (7, 2)));
}
