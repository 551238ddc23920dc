//! Backups while the server runs: 1,000 images round trip through backup,
//! restore and check while uploads and a delete happen mid-backup; the CLI
//! backs up a running server through it; restore verifies every byte and
//! refuses what is not a complete, untouched backup.

use super::*;

/// Images in the round trip.
const IMAGES: u64 = 1_000;

#[tokio::test]
async fn a_thousand_images_round_trip_while_uploads_continue() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    // Seed: 1,000 distinct images of 30 KB, eight uploads at a time. The
    // archive (30 MB) outgrows every buffer between the server and this test,
    // so the server is still mid-archive while the test pauses reading.
    let mut seeded: Vec<(Value, Vec<u8>)> = Vec::new();
    for batch in (0..IMAGES).collect::<Vec<_>>().chunks(8) {
        let uploads = batch.iter().map(|&i| {
            let bytes = bmp(100, 100, i);
            let (base, key) = (app.base.clone(), app.upload_key.clone());
            async move {
                let v = upload_to(&base, &key, bytes.clone(), &format!("{i}.bmp")).await;
                (v, bytes)
            }
        });
        seeded.extend(futures_util::future::join_all(uploads).await);
    }
    assert_eq!(app.totals().images, IMAGES);

    // Start the backup and stop reading after the first bytes: the snapshot is
    // taken and the server is mid-stream.
    let mut res = app.get("/api/backup").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-tar");
    let mut archive = res.chunk().await.unwrap().unwrap().to_vec();
    assert!(app.state.store.blobs_pinned(), "the backup is in progress");

    // Uploads continue meanwhile, and a delete does not pull a blob from
    // under the archive.
    let mut late = Vec::new();
    for i in 0..5 {
        late.push(
            upload_to(
                &app.base,
                &app.upload_key,
                bmp(5, 5, 10_000 + i),
                "late.bmp",
            )
            .await,
        );
    }
    let (deleted, deleted_bytes) = seeded[17].clone();
    let res_del = app
        .delete(&format!(
            "/api/delete/{}",
            deleted["uuid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res_del.status(), StatusCode::OK);
    let hash = deleted["hash"].as_str().unwrap();
    let deleted_blob = app
        .dir
        .path()
        .join("blobs")
        .join(&hash[..2])
        .join(&hash[2..4])
        .join(hash);
    assert!(
        app.state.store.blobs_pinned(),
        "the backup is still in progress"
    );
    assert!(deleted_blob.exists(), "pinned until the backup is done");

    while let Some(chunk) = res.chunk().await.unwrap() {
        archive.extend_from_slice(&chunk);
    }
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("backup.tar");
    std::fs::write(&file, &archive).unwrap();

    // The pin goes with the stream; the delete's blob is then an orphan for GC.
    poll_until(Duration::from_secs(10), || !app.state.store.blobs_pinned()).await;
    assert!(!app.state.store.blobs_pinned());
    let gc = app.gc_now();
    assert_eq!(gc.quarantined, 1);
    assert!(!deleted_blob.exists());

    // Restore into a new dir, check it, serve it.
    let restored = tempfile::tempdir().unwrap();
    let r = pixbin(&["restore", file.to_str().unwrap()], restored.path());
    assert!(r.status.success(), "{}", text(&r));
    assert!(
        text(&r).contains(&format!("restored {IMAGES} blobs")),
        "{}",
        text(&r)
    );
    let c = pixbin(&["check"], restored.path());
    assert!(c.status.success(), "{}", text(&c));
    assert!(
        text(&c).contains(&format!("checked {IMAGES} images and {IMAGES} blobs")),
        "{}",
        text(&c)
    );
    let copy = spawn_app_in(restored, |_| {}).await;
    assert_eq!(copy.totals().images, IMAGES, "exactly the snapshot");
    for (img, bytes) in &seeded {
        let res = fetch(copy.url(&public_path(img))).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", public_path(img));
        assert_eq!(&res.bytes().await.unwrap()[..], &bytes[..]);
    }
    let res = fetch(copy.url(&public_path(&deleted))).await;
    assert_eq!(
        res.bytes().await.unwrap(),
        deleted_bytes,
        "deleted after the snapshot"
    );
    for img in &late {
        let res = fetch(copy.url(&public_path(img))).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "uploaded after the snapshot"
        );
    }
}

#[tokio::test]
async fn the_cli_backs_up_a_running_server() {
    let app = spawn_binary(&[]);
    let mut images = Vec::new();
    for i in 0..3 {
        let bytes = bmp(16, 16, 500 + i);
        let v = upload_to(&app.base, &app.upload_key, bytes.clone(), "x.bmp").await;
        images.push((v, bytes));
    }
    // Neither anonymous nor wrong-token requests get a backup.
    let anon = fetch(format!("{}/api/backup", app.base)).await;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let wrong = client()
        .get(format!("{}/api/backup", app.base))
        .bearer_auth(&app.upload_key)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("b.tar");
    let o = pixbin(&["backup", "--out", file.to_str().unwrap()], &app.dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("verified"), "{}", text(&o));
    assert!(!work.path().join("b.tar.partial").exists());
    // Refuses to overwrite.
    let again = pixbin(&["backup", "--out", file.to_str().unwrap()], &app.dir);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));

    let restored = tempfile::tempdir().unwrap();
    let r = pixbin(&["restore", file.to_str().unwrap()], restored.path());
    assert!(r.status.success(), "{}", text(&r));
    let copy = spawn_binary_in(restored, &[]);
    for (img, bytes) in &images {
        let got = fetch_bytes(format!("{}{}", copy.base, public_path(img))).await;
        assert_eq!(&got[..], &bytes[..]);
    }
    // The server is still fine.
    upload_to(&app.base, &app.upload_key, bmp(8, 8, 9), "after.bmp").await;
}

/// Offsets of every member's data in a tar, by name.
fn members(tar: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let name_end = tar[at..at + 100]
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(100);
        let name = String::from_utf8_lossy(&tar[at..at + name_end]).to_string();
        let size_field = String::from_utf8_lossy(&tar[at + 124..at + 136]);
        let size = usize::from_str_radix(size_field.trim_matches(['\0', ' ']), 8).unwrap();
        out.push((name, at + 512, size));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[tokio::test]
async fn restore_verifies_every_byte_and_refuses_the_rest() {
    let mut app = spawn_app().await;
    for i in 0..4 {
        app.upload_ok(bmp(10, 10, 900 + i), "x.bmp").await;
    }
    app.login_admin().await;
    let tar = app.get("/api/backup").await.bytes().await.unwrap().to_vec();
    let work = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = work.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let m = members(&tar);
    assert_eq!(m[0].0, "pixbin-backup/MANIFEST");
    assert_eq!(m[1].0, "pixbin-backup/pixbin.redb");
    assert_eq!(m[2].0, "pixbin-backup/pixbin.key");
    assert_eq!(m.len(), 3 + 4);
    let manifest = String::from_utf8_lossy(&tar[m[0].1..m[0].1 + m[0].2]).to_string();
    assert!(manifest.starts_with("pixbin-backup 1\n"), "{manifest}");
    assert_eq!(
        manifest.lines().filter(|l| l.starts_with("blob ")).count(),
        4
    );

    // One flipped bit in a blob.
    let mut flipped = tar.clone();
    flipped[m[3].1 + 60] ^= 1;
    // Cut after the third member.
    let cut = tar[..m[3].1 - 512].to_vec();
    // A member outside the expected layout (name field rewritten in place).
    let mut renamed = tar.clone();
    let evil = b"pixbin-backup/../../evil";
    renamed[m[2].1 - 512..m[2].1 - 512 + evil.len()].copy_from_slice(evil);
    for b in &mut renamed[m[2].1 - 512 + evil.len()..m[2].1 - 512 + 100] {
        *b = 0;
    }
    for (name, bytes, why) in [
        ("flipped.tar", &flipped, "damaged"),
        ("cut.tar", &cut, "cut short"),
        ("renamed.tar", &renamed, ""),
        ("garbage.tar", &vec![7u8; 4096], ""),
    ] {
        let f = write(name, bytes);
        let target = work.path().join(format!("{name}.d"));
        let o = pixbin(&["restore", f.to_str().unwrap()], &target);
        assert!(!o.status.success(), "{name} was restored");
        assert!(text(&o).contains(why), "{name}: {}", text(&o));
        assert!(!target.exists(), "{name}: the failed restore left files");
    }

    // A good archive, but the target is not empty: nothing changes.
    let good = write("good.tar", &tar);
    let busy = tempfile::tempdir().unwrap();
    std::fs::write(busy.path().join("keep.txt"), b"mine").unwrap();
    let o = pixbin(&["restore", good.to_str().unwrap()], busy.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("not empty"), "{}", text(&o));
    assert_eq!(tree(busy.path()), ["keep.txt"]);
    let fresh = work.path().join("fresh");
    let o = pixbin(&["restore", good.to_str().unwrap()], &fresh);
    assert!(o.status.success(), "{}", text(&o));
    assert!(pixbin(&["check"], &fresh).status.success());
}
