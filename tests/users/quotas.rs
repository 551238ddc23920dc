//! Quotas per account and dedup across accounts: parallel uploads by two
//! accounts near their quotas never pass either quota and never touch the
//! other's; a refusal says whose quota (`"quota": "user"` or `"instance"`);
//! the same bytes uploaded by two accounts tell neither about the other
//! (same answer, full charge), and deleting one copy leaves the other serving
//! byte-exact, through GC too.

use super::*;

#[tokio::test]
async fn parallel_uploads_by_two_accounts_stay_within_their_own_quotas() {
    let (app, admin, alice, bob) = with_two_users(|_| {}).await;
    let img = |i: u64| bmp(8, 8, i); // 246 bytes each
    let size = img(0).len() as u64;
    for (name, body) in [
        ("alice", json!({"quotaImages": 5})),
        ("bob", json!({"quotaBytes": size * 7 + size / 2})),
    ] {
        let res = admin.edit_user(&app, name, body).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Each fires 12 at once, bob's half through an upload key.
    let bobs_key = bob.new_key(&app).await;
    let mut tries = Vec::new();
    for i in 0..12u64 {
        let (app, alice, bob, key) = (&app, &alice, &bob, &bobs_key);
        tries.push(Box::pin(
            async move { ("alice", alice.upload(app, img(100 + i), "a.bmp").await) },
        )
            as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>);
        tries.push(Box::pin(async move {
            let res = if i % 2 == 0 {
                bob.upload(app, img(200 + i), "b.bmp").await
            } else {
                upload_as(&app.base, key, img(200 + i), "b.bmp").await
            };
            ("bob", res)
        }));
    }
    let mut ok = std::collections::BTreeMap::<&str, u64>::new();
    for (who, res) in futures_util::future::join_all(tries).await {
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        if status == StatusCode::OK {
            *ok.entry(who).or_default() += 1;
            continue;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["quota"], "user", "{v}");
        let code = if who == "alice" {
            "image_limit"
        } else {
            "storage_full"
        };
        assert_eq!(v["code"], code, "{v}");
    }
    assert_eq!(
        (ok["alice"], ok["bob"]),
        (5, 7),
        "each exactly up to its own quota"
    );
    let usage = |n: &str| app.state.store.usage(n).unwrap();
    assert_eq!(usage("alice").images, 5);
    assert_eq!(usage("bob").bytes, 7 * size);
    // Each sees its own numbers and limits on its dashboard.
    let s = bob.get_json(&app, "/api/stats").await;
    assert_eq!(
        (s["images"].as_u64(), s["quota"].as_str()),
        (Some(7), Some("user"))
    );
    assert_eq!(s["storageLimit"].as_u64(), Some(size * 7 + size / 2));
    assert!(
        s["diskFree"].is_null(),
        "the server's disk is not a user's business"
    );
    let s = admin.get_json(&app, "/api/stats?user=alice").await;
    assert_eq!(s["images"], 5);
    let s = admin.get_json(&app, "/api/stats").await;
    assert_eq!(
        (s["images"].as_u64(), s["quota"].as_str()),
        (Some(12), Some("instance"))
    );
    // Freeing one image lets exactly one more in.
    let list = alice.get_json(&app, "/api/list").await;
    let first = list["images"][0]["uuid"].as_str().unwrap().to_string();
    let res = alice
        .req(&app, Method::DELETE, &format!("/api/delete/{first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        alice.upload(&app, img(300), "c.bmp").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        alice.upload(&app, img(301), "d.bmp").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn the_instance_limit_is_named_as_the_instances() {
    let (app, _admin, alice, _bob) = with_two_users(|c| c.max_images = Some(1)).await;
    alice.upload_ok(&app, bmp(2, 2, 1), "a.bmp").await;
    let res = alice.upload(&app, bmp(2, 2, 2), "b.bmp").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["code"].as_str(), v["quota"].as_str()),
        (Some("image_limit"), Some("instance"))
    );
}

#[tokio::test]
async fn the_same_bytes_in_two_accounts_reveal_nothing_and_outlive_either_copy() {
    let (app, admin, alice, bob) = with_two_users(|_| {}).await;
    let bytes = fixture("real/chelsea.png");
    let fresh = fixture("real/coffee.png");
    // bob's quota fits one of these and not two: whether the first one's
    // bytes are already stored must not matter.
    let quota = bytes.len() as u64 + fresh.len() as u64 / 2;
    let res = admin
        .edit_user(&app, "bob", json!({"quotaBytes": quota}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let a = alice.upload_ok(&app, bytes.clone(), "cat.png").await;
    let b = bob.upload_ok(&app, bytes.clone(), "cat.png").await;
    assert_eq!(
        upload_shape(&a),
        upload_shape(&b),
        "the answer says nothing of alice's copy"
    );
    assert_ne!(a["uuid"], b["uuid"]);
    assert_eq!(
        app.state.store.usage("bob").unwrap().bytes,
        bytes.len() as u64,
        "charged in full, like new bytes"
    );
    // At his quota, a duplicate and a new file are refused alike.
    let dup = bob.upload(&app, bytes.clone(), "again.png").await;
    let new = bob.upload(&app, fresh.clone(), "new.png").await;
    let (dup_s, new_s) = (dup.status(), new.status());
    let (dup_v, new_v): (Value, Value) = (dup.json().await.unwrap(), new.json().await.unwrap());
    assert_eq!((dup_s, &dup_v), (new_s, &new_v));
    assert_eq!(dup_v["code"], "storage_full");

    // alice deletes her copy: bob's still serves, byte-exact, through GC too.
    let uuid = a["uuid"].as_str().unwrap();
    let res = alice
        .req(&app, Method::DELETE, &format!("/api/delete/{uuid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        fetch(a["url"].as_str().unwrap()).await.status(),
        StatusCode::NOT_FOUND
    );
    let gc = app.gc_now();
    assert_eq!(gc.quarantined, 0);
    assert_eq!(fetch_bytes(b["url"].as_str().unwrap()).await, bytes);
    // And the other way round: bob's copy gone too, the blob goes.
    let uuid = b["uuid"].as_str().unwrap();
    let res = bob
        .req(&app, Method::DELETE, &format!("/api/delete/{uuid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.totals().images, 0);
    assert_eq!(app.totals().bytes_stored, 0);
}
