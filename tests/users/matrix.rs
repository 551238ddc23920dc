//! The authorization matrix: every operation of the OpenAPI document (which
//! `http::openapi`'s tests tie to every `Route` of the router, both ways, so a
//! new route cannot be left out of either) is called as a stranger, as user
//! bob with his session, as bob's upload key and as an admin, against objects
//! of user alice: her private image, her upload key, her session, her
//! account, an invite, and her albums: each operation that names an album
//! (or, for oEmbed, links to one) runs once per visibility, public, unlisted
//! and private, with its own row. Each cell's status is asserted, and an
//! operation without a row here fails the test.
//!
//! For the stranger, bob and bob's key, the same request against a missing
//! object must answer byte-identically: alice's objects are
//! indistinguishable from ones that do not exist.

use std::collections::BTreeSet;

use pixbin::config::Registration;
use pixbin::store::codec::{Grant, InviteRecord, Role};

use super::*;

/// Who makes a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Stranger,
    Bob,
    BobsKey,
    Admin,
}

const WHO: [Who; 4] = [Who::Stranger, Who::Bob, Who::BobsKey, Who::Admin];

/// Expected status per operation: stranger, bob, bob's key, admin.
fn expected(op: &str) -> Option<[u16; 4]> {
    Some(match op {
        // A private image without its key is not found, for everyone.
        "getImage" | "getThumbnail" => [404, 404, 404, 404],
        // Alice's image through a session: bob gets "missing".
        "proxyImage" | "proxyThumbnail" | "getImageDetails" | "imageStats" => [401, 404, 403, 200],
        "editImage" | "setPrivacy" | "setPrivacyAlias" | "rotateKey" => [401, 404, 403, 200],
        "deleteImage" => [401, 404, 403, 200],
        // Deletion pages without the token: a "link not valid" page.
        "deletePage" | "deleteConfirm" => [404, 404, 404, 404],
        "upload" => [401, 200, 200, 200],
        // Listings are scoped, not refused (contents checked below).
        "listImages" | "listKeys" | "listSessions" | "session" | "me" | "getSettings" => {
            [401, 200, 403, 200]
        }
        "statsSummary" | "statsViews" | "statsCountries" | "statsReferrers" | "statsRecent"
        | "statsTop" => [401, 200, 403, 200],
        "createKey" => [401, 201, 403, 201],
        "revokeKey" => [401, 404, 403, 200],
        // One's own sessions only, even for an admin.
        "endSession" => [401, 404, 403, 404],
        "refresh" | "logout" => [401, 200, 403, 200],
        "logoutAll" => [401, 204, 403, 204],
        // With a wrong current password.
        "changePassword" => [401, 403, 403, 403],
        // Wrong credentials.
        "login" => [401, 401, 401, 401],
        "putSettings" => [401, 403, 403, 200],
        "listUsers" | "getUser" | "editUser" | "deleteUser" | "listInvites" | "revokeInvite" => {
            [401, 403, 403, 200]
        }
        "createUser" | "createResetLink" | "createInvite" => [401, 403, 403, 201],
        // A bearer token that is not the control token is refused.
        "backup" | "integrity" => [401, 403, 401, 200],
        "integrityBlobs" | "integrityRepaired" => [401, 401, 401, 401],
        // Links with a bad token: one answer for all.
        "register" | "redeemReset" | "invitePage" | "invitePageSubmit" | "resetPage"
        | "resetPageSubmit" => [400, 400, 400, 400],
        "healthz" | "readyz" | "metrics" | "openapi" | "adminEntry" | "adminPage"
        | "adminAsset" => [200, 200, 200, 200],
        "root" => [302, 302, 302, 302],
        // Albums through the API are their owner's (and an admin's) only;
        // bob's list is scoped (contents checked below).
        "listAlbums" => [401, 200, 403, 200],
        "createAlbum" => [401, 201, 403, 201],
        // A selection holding alice's image: bob gets "does not exist".
        "zipImages" => [401, 400, 403, 200],
        // Her image is private: its page needs its key, for everyone.
        "imagePage" => [404, 404, 404, 404],
        "albumIndex" => [200, 200, 200, 200],
        _ => return None,
    })
}

/// Whether `op` runs once per visibility of alice's album.
fn per_visibility(op: &str, template: &str) -> bool {
    op == "oembed" || template.starts_with("/api/albums/{") || template.starts_with("/a/{")
}

/// Expected status per operation on alice's album of `visibility`.
fn expected_album(op: &str, visibility: &str) -> Option<[u16; 4]> {
    let private = visibility == "private";
    Some(match op {
        // The API answers whatever the visibility: bob gets "missing".
        "getAlbum" | "editAlbum" | "deleteAlbum" | "addToAlbum" | "setAlbumImages" => {
            [401, 404, 403, 200]
        }
        // A private album is missing to all but its owner and admins.
        "galleryPage" | "galleryZip" if private => [404, 404, 404, 200],
        "galleryPage" | "galleryZip" => [200, 200, 200, 200],
        // oEmbed answers as a stranger sees the page, whoever asks.
        "oembed" if private => [404, 404, 404, 404],
        "oembed" => [200, 200, 200, 200],
        _ => return None,
    })
}

/// The row of `op` (on an album of `visibility`, when it names one).
fn expected_row(op: &str, visibility: Option<&str>) -> Option<[u16; 4]> {
    match visibility {
        Some(v) => expected_album(op, v),
        None => expected(op),
    }
}

/// Alice's objects, made afresh for each cell (an admin's cell may delete them).
struct Objects {
    uuid: String,
    image_id: u64,
    key_id: u64,
    session: String,
    invite: u64,
    album: String,
}

impl Objects {
    /// The same kinds of objects, none of which exists.
    fn missing() -> Objects {
        Objects {
            uuid: "0b6f1c2e-8f8e-4c1a-9d5e-2f1a3b4c5d6e".into(),
            image_id: 999_999,
            key_id: 999_999,
            session: "AAAAAAAAAAAAAAAA".into(),
            invite: 999_999,
            album: "AAECAwQFBgcICQoLDA0ODw".into(),
        }
    }
}

async fn alices_objects(app: &TestApp, alice: &Person, session: &str, visibility: &str) -> Objects {
    let res = alice
        .req(app, Method::POST, "/api/upload")
        .multipart(
            reqwest::multipart::Form::new()
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(fixture("real/logo.png")).file_name("a.png"),
                )
                .text("private", "true"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let img: Value = res.json().await.unwrap();
    let store = &app.state.store;
    let secret = pixbin::secret::random_bytes::<32>();
    let key = store
        .create_key(
            &pixbin::secret::KeyHash::from_bytes(secret),
            ("alices", "alice"),
            "pbk_x",
            1,
            Default::default(),
        )
        .unwrap();
    let invite = store
        .create_link(
            &pixbin::secret::TokenHash::from_bytes(pixbin::secret::random_bytes::<32>()),
            InviteRecord {
                id: 0,
                grant: Grant::Invite { role: Role::User },
                created_by: "admin".into(),
                created_at: 1,
                expires_at: i64::MAX,
                max_uses: 1,
                uses: 0,
            },
        )
        .unwrap();
    let image_id = img["id"].as_u64().unwrap();
    let res = alice
        .req(app, Method::POST, "/api/albums")
        .json(&json!({"title": "alice's", "visibility": visibility, "images": [image_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let album: Value = res.json().await.unwrap();
    Objects {
        album: album["id"].as_str().unwrap().into(),
        uuid: img["uuid"].as_str().unwrap().into(),
        image_id,
        key_id: key.id,
        session: session.into(),
        invite: invite.id,
    }
}

/// The concrete path of `template` naming `o`'s objects (`base`: the
/// server's public URL, which oEmbed's `url` starts with).
fn concrete(template: &str, params: &[Value], o: &Objects, base: &str) -> String {
    if template == "/api/oembed" {
        return format!("/api/oembed?url={base}/a/{}", o.album);
    }
    let id = if template.starts_with("/api/albums/") || template.starts_with("/a/") {
        o.album.clone()
    } else if template.starts_with("/api/keys/") {
        o.key_id.to_string()
    } else if template.starts_with("/api/sessions/") {
        o.session.clone()
    } else if template.starts_with("/api/invites/") {
        o.invite.to_string()
    } else {
        o.image_id.to_string()
    };
    let mut path = template
        .replace("{uuid}", &o.uuid)
        .replace("{ext}", "png")
        .replace("{id}", &id)
        .replace(
            "{name}",
            if o.image_id == 999_999 {
                "nobody"
            } else {
                "alice"
            },
        );
    for p in params.iter().filter(|p| p["in"] == "path") {
        let name = p["name"].as_str().unwrap();
        if let Some(ex) = p["example"].as_str() {
            path = path.replace(&format!("{{{name}}}"), ex);
        }
    }
    if template == "/api/users/{name}" {
        // Only DELETE reads these; the others ignore them.
        path.push_str("?images=transfer&to=admin");
    }
    path
}

/// A body that is valid for `op` (so an allowed caller gets its success).
fn body_of(op: &str, n: usize, o: &Objects) -> Option<Value> {
    Some(match op {
        "createAlbum" => json!({"title": format!("album {n}")}),
        "editAlbum" => json!({"title": "renamed"}),
        "addToAlbum" | "setAlbumImages" | "zipImages" => json!({"ids": [o.image_id]}),
        "editImage" => json!({"maxViews": 50}),
        "setPrivacy" | "setPrivacyAlias" => json!({"isPrivate": true}),
        "createKey" => json!({"name": "m"}),
        "login" => json!({"username": "nobody", "password": "wrong-password"}),
        "putSettings" => json!({}),
        "changePassword" => json!({"current": "not-the-password", "new": "brand-new-pass-1"}),
        "createUser" => json!({"name": format!("made{n}"), "password": PASSWORD}),
        "editUser" => json!({"quotaImages": 1000}),
        "createResetLink" | "createInvite" => json!({}),
        "register" => json!({"name": format!("reg{n}"), "password": PASSWORD, "invite": "bad"}),
        "redeemReset" => json!({"token": "bad", "password": PASSWORD}),
        _ => return None,
    })
}

struct Caller {
    client: Client,
    csrf: Option<String>,
    key: Option<String>,
}

impl Caller {
    async fn new(app: &TestApp, who: Who, bobs_key: &str) -> Caller {
        let (client, csrf, key) = match who {
            Who::Stranger => (client(), None, None),
            Who::BobsKey => (client(), None, Some(bobs_key.to_string())),
            Who::Bob | Who::Admin => {
                let p = match who {
                    Who::Bob => Person::login(app, "bob", PASSWORD).await,
                    _ => Person::admin(app).await,
                };
                (p.client, Some(p.csrf), None)
            }
        };
        Caller { client, csrf, key }
    }

    async fn call(
        &self,
        app: &TestApp,
        m: &Method,
        path: &str,
        op: &str,
        n: usize,
        o: &Objects,
    ) -> (u16, Vec<u8>) {
        let mut req = self
            .client
            .request(m.clone(), app.url(path))
            .header("X-CSRF-Token", self.csrf.as_deref().unwrap_or("no-session"));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        req = if op == "upload" {
            let part = reqwest::multipart::Part::bytes(bmp(3, 3, n as u64)).file_name("m.bmp");
            req.multipart(reqwest::multipart::Form::new().part("file", part))
        } else if op.ends_with("PageSubmit") {
            req.header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("name=f{n}&password={PASSWORD}"))
        } else if let Some(b) = body_of(op, n, o) {
            req.json(&b)
        } else {
            req
        };
        let res = req.send().await.unwrap();
        (
            res.status().as_u16(),
            without_nonce(&res.bytes().await.unwrap()),
        )
    }
}

/// A page's bytes with its CSP nonce (fresh per response) blanked, so two
/// answers compare on what they say.
fn without_nonce(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(i) = rest.find("nonce=\"") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        rest = &rest[rest.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    out.into_bytes()
}

#[tokio::test]
async fn every_route_as_stranger_bob_bobs_key_and_admin_against_alices_objects() {
    let (app, _admin, alice, bob) = with_two_users(|c| {
        c.registration = Registration::Invite;
        // Every cell logs in afresh, and some send wrong passwords on purpose.
        c.login_attempts = 10_000;
    })
    .await;
    let bobs_key = bob.new_key(&app).await;
    let alices_session = alice.get_json(&app, "/api/sessions").await["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let doc: Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_string();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            if per_visibility(&id, path) {
                for v in ["public", "unlisted", "private"] {
                    ops.push((id.clone(), m.clone(), path.clone(), params.clone(), Some(v)));
                }
            } else {
                ops.push((id, m, path.clone(), params, None));
            }
        }
    }
    // Deleting alice ends the objects every other cell uses: last.
    ops.sort_by_key(|(id, ..)| id == "deleteUser");
    let without_row: Vec<&str> = ops
        .iter()
        .filter(|(id, _, _, _, v)| expected_row(id, *v).is_none())
        .map(|(id, ..)| id.as_str())
        .collect();
    assert!(
        without_row.is_empty(),
        "operations without a row: {without_row:?}"
    );
    assert!(ops.len() >= 60, "{} operations", ops.len());

    let mut failures = Vec::new();
    let mut n = 0;
    let mut seen = BTreeSet::new();
    let base = app.state.config.base_url().to_string();
    for (op, m, template, params, visibility) in &ops {
        let want = expected_row(op, *visibility).unwrap();
        let vis = visibility.unwrap_or("unlisted");
        for (i, who) in WHO.into_iter().enumerate() {
            n += 1;
            let caller = Caller::new(&app, who, &bobs_key).await;
            let objects = alices_objects(&app, &alice, &alices_session, vis).await;
            let path = concrete(template, params, &objects, &base);
            let (status, body) = caller.call(&app, m, &path, op, n, &objects).await;
            if status != want[i] {
                failures.push(format!(
                    "{op} {m} {path} ({vis}) as {who:?}: {status}, expected {}: {}",
                    want[i],
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ));
                continue;
            }
            seen.insert(op.clone());
            // Anyone but an admin: alice's object answers exactly like a
            // missing one (the admin's own cells may succeed and change state).
            let names_an_object = template.contains('{') && !template.starts_with("/admin");
            if who != Who::Admin && names_an_object && status >= 400 {
                let none = Objects::missing();
                let missing = concrete(template, params, &none, &base);
                let caller = Caller::new(&app, who, &bobs_key).await;
                let (s2, b2) = caller.call(&app, m, &missing, op, n + 100_000, &none).await;
                if (s2, &b2) != (status, &body) {
                    failures.push(format!(
                        "{op} ({vis}) as {who:?}: alice's object answers {status} {:?}, a missing one {s2} {:?}",
                        String::from_utf8_lossy(&body[..body.len().min(300)]),
                        String::from_utf8_lossy(&b2[..b2.len().min(300)])
                    ));
                }
            }
            // Scoped listings: bob's never show alice's objects.
            if who == Who::Bob && status == 200 {
                let text = String::from_utf8_lossy(&body);
                let mut secrets = vec![objects.uuid.as_str(), "\"alice\""];
                // Her public album shows on its pages, never through bob's API.
                if template.starts_with("/api/") {
                    secrets.push(objects.album.as_str());
                }
                for secret_of_alice in secrets {
                    if text.contains(secret_of_alice) {
                        failures.push(format!("{op} as bob shows {secret_of_alice}: {text}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let distinct: BTreeSet<&String> = ops.iter().map(|(id, ..)| id).collect();
    assert_eq!(seen.len(), distinct.len());
    // Nothing bob or his key did touched alice's account or images.
    assert!(
        app.state.store.user("alice").unwrap().is_none(),
        "the admin's last cell"
    );
}
