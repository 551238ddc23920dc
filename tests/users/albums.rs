//! Albums among accounts: a user puts only their own images in albums and
//! zips (another account's image answers exactly like a missing one), an
//! upload key uploads only into its owner's albums (another account's album
//! is refused like a missing one), an admin may use anyone's images, a
//! disabled account's key uploads nowhere, and deleting an account hands its
//! albums to the heir of its images or deletes them with its images.

use pixbin::store::albums::AlbumId;

use super::*;

/// Creates an album as `p` with `body`; its id.
async fn album_of(app: &TestApp, p: &Person, body: Value) -> String {
    let res = p.send_json(app, Method::POST, "/api/albums", body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "album of {}", p.name);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Status and body of `p`'s request, with `id` written as `N` so answers
/// about two different ids compare on everything else.
async fn answer(
    app: &TestApp,
    p: &Person,
    method: Method,
    path: &str,
    body: Value,
    id: u64,
) -> (u16, String) {
    let res = p.send_json(app, method, path, body).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, text.replace(&id.to_string(), "N"))
}

/// Uploads with upload key `key` into album `album` (the `.sxcu` header).
async fn key_upload_into(app: &TestApp, key: &str, album: &str, seed: u64) -> (u16, Value) {
    let res = client()
        .post(app.url("/api/upload?filename=k.bmp"))
        .bearer_auth(key)
        .header("Content-Type", "image/bmp")
        .header("X-Pixbin-Album", album)
        .body(bmp(4, 4, seed))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_user_albums_and_zips_only_their_own_images() {
    let (app, admin, alice, bob) = with_two_users(|_| {}).await;
    let hers = alice.upload_ok(&app, bmp(5, 5, 1), "a.bmp").await["id"]
        .as_u64()
        .unwrap();
    let his = bob.upload_ok(&app, bmp(5, 5, 2), "b.bmp").await["id"]
        .as_u64()
        .unwrap();
    let missing = 999_999;
    let bobs_album = album_of(&app, &bob, json!({"images": [his]})).await;
    let add = format!("/api/albums/{bobs_album}/images");
    for (method, path, body) in [
        (Method::POST, "/api/albums", json!({"images": [his, "ID"]})),
        (Method::POST, add.as_str(), json!({"ids": ["ID"]})),
        (Method::PUT, add.as_str(), json!({"ids": [his, "ID"]})),
        (Method::POST, "/api/images/zip", json!({"ids": [his, "ID"]})),
    ] {
        let with = |id: u64| {
            let text = body.to_string().replace("\"ID\"", &id.to_string());
            serde_json::from_str::<Value>(&text).unwrap()
        };
        let of_alice = answer(&app, &bob, method.clone(), path, with(hers), hers).await;
        let of_nobody = answer(&app, &bob, method.clone(), path, with(missing), missing).await;
        assert_eq!(of_alice.0, 400, "{method} {path}: {}", of_alice.1);
        assert_eq!(of_alice, of_nobody, "{method} {path}");
    }
    // Nothing of hers got in.
    let album = bob
        .get_json(&app, &format!("/api/albums/{bobs_album}"))
        .await;
    assert_eq!(album["imageIds"], json!([his]), "{album}");
    // An admin may use anyone's images.
    let res = admin
        .send_json(&app, Method::POST, &add, json!({"ids": [hers]}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = admin
        .send_json(
            &app,
            Method::POST,
            "/api/images/zip",
            json!({"ids": [hers, his]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_upload_key_uploads_only_into_its_owners_albums() {
    let (app, admin, alice, bob) = with_two_users(|_| {}).await;
    let alices_album = album_of(&app, &alice, json!({"visibility": "private"})).await;
    let bobs_album = album_of(&app, &bob, json!({})).await;
    let bobs_key = bob.new_key(&app).await;
    let alices_key = alice.new_key(&app).await;

    let (status, v) = key_upload_into(&app, &bobs_key, &bobs_album, 1).await;
    assert_eq!(
        (status, v["album"].as_str()),
        (200, Some(bobs_album.as_str()))
    );
    let (status, v) = key_upload_into(&app, &alices_key, &alices_album, 2).await;
    assert_eq!(
        (status, v["album"].as_str()),
        (200, Some(alices_album.as_str()))
    );
    // Alice's album is refused like one that does not exist, and no image
    // is stored for the refused upload.
    let before = app.state.store.image_ids_of("bob").unwrap().len();
    let of_alice = key_upload_into(&app, &bobs_key, &alices_album, 3).await;
    let of_nobody = key_upload_into(&app, &bobs_key, "AAECAwQFBgcICQoLDA0ODw", 3).await;
    assert_eq!(of_alice.0, 400, "{}", of_alice.1);
    assert_eq!(of_alice, of_nobody);
    assert_eq!(app.state.store.image_ids_of("bob").unwrap().len(), before);
    // A disabled account's key uploads nowhere, its own album included.
    let res = admin
        .edit_user(&app, "alice", json!({"disabled": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = key_upload_into(&app, &alices_key, &alices_album, 4).await;
    assert_eq!(status, 401);
}

/// An image of `p` in a new public album of `p`: (image id, album id).
async fn public_album_of(app: &TestApp, p: &Person, seed: u64) -> (u64, String) {
    let img = p.upload_ok(app, bmp(5, 5, seed), "p.bmp").await["id"]
        .as_u64()
        .unwrap();
    let album = album_of(app, p, json!({"images": [img], "visibility": "public"})).await;
    (img, album)
}

/// Deletes account `name` as `admin` with `leftovers` (the query); must succeed.
async fn delete_account(app: &TestApp, admin: &Person, name: &str, leftovers: &str) {
    let path = format!("/api/users/{name}?{leftovers}");
    let res = admin.req(app, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "delete {name}");
}

#[tokio::test]
async fn deleting_an_account_transfers_or_deletes_its_albums_with_its_images() {
    let (app, admin, alice, bob) = with_two_users(|_| {}).await;
    create_user(&app, &admin, "carol", "user", json!({})).await;
    let carol = Person::login(&app, "carol", PASSWORD).await;
    let owner_of = |id: &str| {
        let id = AlbumId::parse(id).unwrap();
        app.state.store.album(id).unwrap().map(|a| a.owner)
    };

    let (img, alices) = public_album_of(&app, &alice, 1).await;
    delete_account(&app, &admin, "alice", "images=transfer&to=bob").await;
    assert_eq!(owner_of(&alices).as_deref(), Some("bob"));
    // Bob now manages it, image and all.
    let album = bob.get_json(&app, &format!("/api/albums/{alices}")).await;
    assert_eq!(
        (&album["owner"], &album["imageIds"]),
        (&json!("bob"), &json!([img])),
        "{album}"
    );
    let res = bob
        .send_json(
            &app,
            Method::PATCH,
            &format!("/api/albums/{alices}"),
            json!({"title": "inherited"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let (img, carols) = public_album_of(&app, &carol, 2).await;
    delete_account(&app, &admin, "carol", "images=delete").await;
    assert_eq!(owner_of(&carols), None);
    assert!(app.state.store.albums_of_image(img).unwrap().is_empty());
    let res = client()
        .get(app.url(&format!("/a/{carols}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Bob's inherited album is untouched by carol's deletion.
    assert_eq!(owner_of(&alices).as_deref(), Some("bob"));
}
