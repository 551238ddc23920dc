//! Managing accounts: an admin lists accounts with usage, creates them,
//! changes roles and quotas; the last enabled admin can be neither demoted,
//! disabled nor deleted; a disabled account's sessions and upload keys stop at
//! once; deleting an account deletes its images or hands them, byte-exact, to
//! another; a password-reset link works once; invites work their number of
//! times and expire; registration is closed unless opened.

use pixbin::config::Registration;

use super::*;

#[tokio::test]
async fn an_admin_creates_lists_and_changes_accounts_and_a_user_cannot() {
    let (app, admin, alice, _bob) = with_two_users(|c| c.user_quota_images = Some(7)).await;
    let me = alice.get_json(&app, "/api/me").await;
    assert_eq!(me["role"], "user");
    assert_eq!(me["quota"]["images"], 7, "the default for new users");
    let list = admin.get_json(&app, "/api/users").await;
    let names: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    // A user reaches none of it.
    for (m, path) in [
        (Method::GET, "/api/users"),
        (Method::GET, "/api/users/bob"),
        (Method::GET, "/api/invites"),
        (Method::PATCH, "/api/users/alice"),
    ] {
        let res = alice
            .send_json(&app, m, path, json!({"role": "admin"}))
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["code"], "admin_only");
    }
    assert_eq!(alice.get_json(&app, "/api/me").await["role"], "user");
    // Names are checked, and taken ones refused.
    for (name, code) in [
        ("a b", "invalid_name"),
        ("*", "invalid_name"),
        ("bob", "name_taken"),
    ] {
        let res = admin
            .send_json(
                &app,
                Method::POST,
                "/api/users",
                json!({"name": name, "password": PASSWORD}),
            )
            .await;
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["code"], code, "{name}");
    }
    // Promote alice; her next request is an admin's.
    let res = admin
        .edit_user(&app, "alice", json!({"role": "admin", "quotaImages": null}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["role"].as_str(), v["quota"]["images"].is_null()),
        (Some("admin"), true)
    );
    assert_eq!(alice.get(&app, "/api/users").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_last_enabled_admin_stays() {
    let (app, admin, _alice, _bob) = with_two_users(|_| {}).await;
    for (m, path, body) in [
        (Method::PATCH, "/api/users/admin", json!({"role": "user"})),
        (Method::PATCH, "/api/users/admin", json!({"disabled": true})),
        (Method::DELETE, "/api/users/admin?images=delete", json!({})),
    ] {
        let res = admin.send_json(&app, m, path, body).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{path}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["code"], "last_admin");
    }
    let me = admin.get_json(&app, "/api/me").await;
    assert_eq!(
        (me["role"].as_str(), me["disabled"].as_bool()),
        (Some("admin"), Some(false))
    );
    // With a second admin, the first may step down.
    let res = admin
        .edit_user(&app, "alice", json!({"role": "admin"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = admin
        .edit_user(&app, "admin", json!({"role": "user"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_accounts_sessions_and_keys_stop_at_once_and_enabling_restores_the_keys() {
    let (app, admin, alice, _bob) = with_two_users(|_| {}).await;
    let key = alice.new_key(&app).await;
    assert_eq!(key_upload_status(&app, &key, 1).await, StatusCode::OK);
    let res = admin
        .edit_user(&app, "alice", json!({"disabled": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The very next requests: the session is gone, the key refused.
    assert_eq!(
        alice.get(&app, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        key_upload_status(&app, &key, 2).await,
        StatusCode::UNAUTHORIZED
    );
    let res = log_in(&client(), &app.base, "alice", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled account cannot log in"
    );
    assert_eq!(app.state.store.usage("alice").unwrap().images, 1);
    let res = admin
        .edit_user(&app, "alice", json!({"disabled": false}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(key_upload_status(&app, &key, 3).await, StatusCode::OK);
}

#[tokio::test]
async fn deleting_an_account_transfers_its_images_byte_exact_or_deletes_them() {
    let (app, admin, alice, bob) = with_two_users(|_| {}).await;
    let key = alice.new_key(&app).await;
    let mut alices = Vec::new();
    for (i, bytes) in [bmp(5, 4, 1), bmp(6, 3, 2), fixture("real/logo.png")]
        .into_iter()
        .enumerate()
    {
        let v = alice
            .upload_ok(&app, bytes.clone(), &format!("{i}.png"))
            .await;
        alices.push((v, bytes));
    }
    let res = upload_as(&app.base, &key, bmp(7, 7, 7), "k.bmp").await;
    let v: Value = res.json().await.unwrap();
    alices.push((v, bmp(7, 7, 7)));
    // A transfer to nobody, or to the account itself, changes nothing.
    for q in [
        "images=transfer&to=nobody",
        "images=transfer&to=alice",
        "images=keep",
    ] {
        let res = admin
            .req(&app, Method::DELETE, &format!("/api/users/alice?{q}"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{q}");
    }
    let res = admin
        .req(
            &app,
            Method::DELETE,
            "/api/users/alice?images=transfer&to=bob",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["images"].as_u64(), v["transferredTo"].as_str()),
        (Some(4), Some("bob"))
    );
    assert_eq!(
        alice.get(&app, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        key_upload_status(&app, &key, 2).await,
        StatusCode::UNAUTHORIZED,
        "its keys are revoked"
    );
    for (img, bytes) in &alices {
        assert_eq!(fetch_bytes(img["url"].as_str().unwrap()).await, *bytes);
        let uuid = img["uuid"].as_str().unwrap();
        let d = bob.get_json(&app, &format!("/api/images/{uuid}")).await;
        assert_eq!(d["uuid"], uuid, "bob sees it as his");
    }
    assert_eq!(app.state.store.usage("bob").unwrap().images, 4);
    assert!(app.state.store.user("alice").unwrap().is_none());

    // Deleting bob with his images removes them, files included.
    let res = admin
        .req(&app, Method::DELETE, "/api/users/bob?images=delete")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for (img, _) in &alices {
        assert_eq!(
            fetch(img["url"].as_str().unwrap()).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(app.totals().images, 0);
}

#[tokio::test]
async fn a_password_reset_link_works_once_and_ends_every_session() {
    let (app, admin, alice, _bob) = with_two_users(|_| {}).await;
    let res = admin
        .send_json(
            &app,
            Method::POST,
            "/api/users/alice/password-reset",
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let url = v["url"].as_str().unwrap();
    let token = token_of(&v["url"]);
    // The link opens a page with a form.
    let page = fetch(url).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("type=\"password\""));
    let body = json!({"token": token, "password": "new-password-77"});
    let res = client()
        .post(app.url("/api/password-reset"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        alice.get(&app, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    Person::login(&app, "alice", "new-password-77").await;
    let again = json!({"token": token, "password": "other-password-88"});
    let res = client()
        .post(app.url("/api/password-reset"))
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["code"], "invalid_link");
    Person::login(&app, "alice", "new-password-77").await;
}

async fn register(app: &TestApp, name: &str, invite: Option<&str>) -> Response {
    let mut body = json!({"name": name, "password": PASSWORD});
    if let Some(t) = invite {
        body["invite"] = t.into();
    }
    client()
        .post(app.url("/api/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn code_of(res: Response) -> (u16, String) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap();
    (status, v["code"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn registration_is_closed_unless_opened() {
    let app = spawn_app().await;
    let admin = Person::admin(&app).await;
    assert_eq!(
        code_of(register(&app, "eve", None).await).await,
        (403, "registration_closed".into())
    );
    let res = admin
        .send_json(&app, Method::POST, "/api/invites", json!({}))
        .await;
    assert_eq!(code_of(res).await, (409, "registration_closed".into()));
    let app = app
        .restart(|c| {
            c.registration = Registration::Open;
            c.login_attempts = 3;
        })
        .await;
    let res = register(&app, "eve", None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let eve = Person::login(&app, "eve", PASSWORD).await;
    assert_eq!(eve.get_json(&app, "/api/me").await["role"], "user");
    // Open, not unbounded: attempts from one address count like failed
    // logins (eve's login cleared the first).
    for name in ["fay", "gus", "hal"] {
        assert_eq!(
            register(&app, name, None).await.status(),
            StatusCode::CREATED
        );
    }
    let res = register(&app, "ivy", None).await;
    assert_eq!(code_of(res).await, (429, "rate_limited".into()));
    assert!(app.state.store.user("ivy").unwrap().is_none());
}

#[tokio::test]
async fn an_invite_works_its_number_of_times_then_never_and_expires() {
    let app = spawn_app_with(|c| {
        c.registration = Registration::Invite;
        c.login_attempts = 100;
    })
    .await;
    let admin = Person::admin(&app).await;
    assert_eq!(
        code_of(register(&app, "eve", None).await).await,
        (403, "invite_required".into())
    );
    let (inv, token) = admin.invite(&app, json!({})).await;
    assert_eq!(inv["maxUses"], 1);
    // The invitee's page is reachable by the link and creates the account.
    let page = fetch(inv["url"].as_str().unwrap()).await;
    assert_eq!(page.status(), StatusCode::OK);
    let res = client()
        .post(inv["url"].as_str().unwrap())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("name=eve&password={PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    Person::login(&app, "eve", PASSWORD).await;
    // Used up: the same answer as a token that never existed.
    let used = code_of(register(&app, "mallory", Some(&token)).await).await;
    let never = code_of(register(&app, "mallory", Some("no-such-token")).await).await;
    assert_eq!(used, (400, "invalid_link".into()));
    assert_eq!(used, never);
    assert_eq!(
        fetch(inv["url"].as_str().unwrap()).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert!(
        admin.get_json(&app, "/api/invites").await["invites"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Two uses, racing: exactly two accounts.
    let (_, token) = admin.invite(&app, json!({"maxUses": 2})).await;
    let tries = (0..5).map(|i| {
        let (app, token) = (&app, token.clone());
        async move {
            register(app, &format!("racer{i}"), Some(&token))
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 2, "{statuses:?}");

    // An invite is refused from its expiry on (judged at a later instant
    // rather than waited for).
    let (_, token) = admin.invite(&app, json!({"expiresIn": "2h"})).await;
    let hash = pixbin::secret::TokenHash::of(&token);
    let store = &app.state.store;
    let now = pixbin::clock::now_ms();
    assert!(store.link(&hash, now).unwrap().is_some());
    let later = now + 2 * 3600 * 1000 + 1000;
    assert!(store.link(&hash, later).unwrap().is_none());
    let make = |role| pixbin::store::codec::UserRecord::new("h".into(), role, (None, None), later);
    let late = store.redeem_invite(&hash, later, "late", make).unwrap();
    assert!(late.is_err());
    assert!(store.user("late").unwrap().is_none());
    assert_eq!(
        register(&app, "intime", Some(&token)).await.status(),
        StatusCode::CREATED
    );
}
