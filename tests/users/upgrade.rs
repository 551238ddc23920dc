//! A database of schema 1 (every account an admin, images without owners),
//! written by the server of that time (`tests/fixtures/schema1/`), upgrades in
//! place at start: every account is an admin, every image and upload key has
//! an owner, and every image serves byte-exact under its old link; the old
//! upload key still uploads. A database of a newer schema is refused.

use std::path::Path;

use pixbin::store::blobs::{BlobHash, hex};
use pixbin::store::codec::Role;

use super::*;

/// Lays the fixture's data directory out in `dir`.
fn unpack_schema1(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1");
    std::fs::write(
        dir.join("pixbin.redb"),
        rle_fixture("schema1/pixbin.redb.rle"),
    )
    .unwrap();
    for f in ["pixbin.id", "pixbin.key"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut stack = vec![src.join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let to = dir.join(p.strip_prefix(&src).unwrap());
            if p.is_dir() {
                std::fs::create_dir_all(&to).unwrap();
                stack.push(p);
            } else {
                std::fs::copy(&p, &to).unwrap();
            }
        }
    }
    for e in ["pixbin.redb", "pixbin.id", "pixbin.key"] {
        std::fs::set_permissions(dir.join(e), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn a_schema_1_database_upgrades_in_place_and_serves_every_image() {
    let manifest: Value = serde_json::from_slice(&fixture("schema1/manifest.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    unpack_schema1(dir.path());
    let app = spawn_app_in(dir, |_| {}).await;
    assert_eq!(app.upload_key, "", "no new key: the old one is kept");

    // Every account became an admin; alice, the oldest, inherited what had
    // no account of its own.
    for (name, pw) in manifest["accounts"].as_object().unwrap() {
        let p = Person::login(&app, name, pw.as_str().unwrap()).await;
        let me = p.get_json(&app, "/api/me").await;
        assert_eq!(me["role"], "admin", "{name}");
        let rec = app.state.store.user(name).unwrap().unwrap();
        assert_eq!(rec.role, Role::Admin);
    }
    let want_owner = |by: &str| if by == "key" { "alice" } else { by }.to_string();
    let images = manifest["images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    for img in images {
        let id = img["id"].as_u64().unwrap();
        let row = app.state.store.image(id).unwrap().expect("the row");
        assert_eq!(
            row.record.owner,
            want_owner(img["uploadedBy"].as_str().unwrap()),
            "image {id}"
        );
        // Served under its old link, byte-exact.
        let res = fetch(app.url(img["path"].as_str().unwrap())).await;
        assert_eq!(res.status(), StatusCode::OK, "image {id}");
        let bytes = res.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, img["size"].as_u64().unwrap());
        assert_eq!(hex(&BlobHash::of(&bytes)), img["hash"].as_str().unwrap());
    }
    let usage = |n: &str| app.state.store.usage(n).unwrap();
    assert_eq!((usage("alice").images, usage("bob").images), (2, 2));
    assert_eq!(usage("bob").bytes, 90 + 4438, "each image counted in full");

    // The upload key of that time is alice's now, and still uploads.
    let keys = app.state.store.list_keys(None).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].owner, "alice");
    let key = manifest["uploadKey"].as_str().unwrap();
    let res = upload_as(&app.base, key, bmp(3, 3, 9), "new.bmp").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let row = app
        .state
        .store
        .image(v["id"].as_u64().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(row.record.owner, "alice");

    // The upgraded file opens again as it is, and `check` finds it whole.
    let app = app.restart(|_| {}).await;
    let report = app.check_rehash();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(app.state.store.usage("alice").unwrap().images, 3);
}
