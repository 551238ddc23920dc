//! The database and the blobs belong together (ARCHITECTURE invariant 8):
//! - with blobs on disk, a database that is missing, new, another instance's
//!   or random bytes stops `serve`, `gc` and `check` with a message naming the
//!   problem and the way out, and not one file of the data dir changes; with
//!   the right database back every image serves byte-exact;
//! - an older copy of the database serves; GC spares the blobs it does not
//!   know (grace period on the first pass too, then quarantine), and a pass
//!   that would quarantine most of the store quarantines nothing and says why;
//! - `pixbin adopt` turns orphan and quarantined blobs back into images that
//!   serve byte-exact;
//! - a data dir from before identities is bound on its first open, but only
//!   to a database that knows its blobs; a restored backup gets the marker of
//!   the database it carries.

use std::time::SystemTime;

use pixbin::store::Store;
use pixbin::store::gc::GcPolicy;
use pixbin::store::meta::{NAME_TO_META, keys};

use super::*;

/// Every path under `dir` with its kind, size, modification time and (for
/// files) content hash.
fn snapshot(dir: &Path) -> Vec<(String, bool, u64, SystemTime, [u8; 32])> {
    tree(dir)
        .into_iter()
        .map(|rel| {
            let p = dir.join(&rel);
            let m = std::fs::metadata(&p).unwrap();
            let hash = if m.is_file() { file_hash(&p) } else { [0; 32] };
            (rel, m.is_dir(), m.len(), m.modified().unwrap(), hash)
        })
        .collect()
}

/// Stops an in-process server and hands back its data dir.
fn stop(app: TestApp) -> tempfile::TempDir {
    let TestApp { dir, .. } = app;
    dir
}

/// Uploads `n` distinct images (seeds from `seed`); returns (public path, bytes, hash).
async fn upload_many(app: &TestApp, seed: u64, n: u64) -> Vec<(String, Vec<u8>, String)> {
    let mut out = Vec::new();
    for s in seed..seed + n {
        let bytes = bmp(12, 9, s);
        let img = upload_to(&app.base, &app.upload_key, bytes.clone(), "x.bmp").await;
        out.push((
            public_path(&img),
            bytes,
            img["hash"].as_str().unwrap().to_string(),
        ));
    }
    out
}

/// Asserts every image serves its exact bytes.
async fn assert_serves(app: &TestApp, images: &[(String, Vec<u8>, String)]) {
    for (path, bytes, _) in images {
        let res = fetch(app.url(path)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            bytes.as_slice(),
            "{path}"
        );
    }
}

fn blob_path(dir: &Path, hash: &str) -> std::path::PathBuf {
    dir.join("blobs")
        .join(&hash[..2])
        .join(&hash[2..4])
        .join(hash)
}

/// Whether a blob is in place or in quarantine.
fn blob_kept(dir: &Path, hash: &str) -> bool {
    blob_path(dir, hash).is_file()
        || std::fs::read_dir(dir.join("trash")).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!(".{hash}"))
            })
        })
}

/// Refused by `serve`, `gc`, `check`, `repair` and the rest alike, each naming
/// `problem` (`serve` also a way out), with the data dir exactly as it was.
#[track_caller]
fn refused_untouched(dir: &Path, problem: &str) {
    let before = snapshot(dir);
    let o = serve_refused(dir);
    let t = text(&o);
    assert!(t.contains(problem), "{t}");
    assert!(
        t.contains("pixbin restore") && t.contains("pixbin adopt"),
        "no way out named: {t}"
    );
    assert!(snapshot(dir) == before, "serve changed the data dir");
    for cmd in [
        &["gc"][..],
        &["gc", "--force", "--grace", "0s"],
        &["check"],
        &["key", "list"],
        // Refused before the archive is even opened (there is none here).
        &["repair", "--from", "no-such-backup.tar"],
    ] {
        let o = pixbin(cmd, dir);
        assert!(!o.status.success(), "{cmd:?}: {}", text(&o));
        assert!(text(&o).contains(problem), "{cmd:?}: {}", text(&o));
        assert!(snapshot(dir) == before, "{cmd:?} changed the data dir");
    }
}

#[tokio::test]
async fn a_missing_new_foreign_or_garbage_database_is_refused_untouched() {
    let app = spawn_app().await;
    let images = upload_many(&app, 1, 3).await;
    let a = stop(app);
    let other = spawn_app().await;
    upload_many(&other, 100, 1).await;
    let b = stop(other);
    let db = Store::db_path(a.path());
    let good = std::fs::read(&db).unwrap();

    std::fs::remove_file(&db).unwrap();
    refused_untouched(a.path(), "holds image blobs but no database");

    // A fresh, empty database (what an older pixbin created in its place).
    drop(redb::Database::create(&db).unwrap());
    refused_untouched(a.path(), "is new or empty");

    std::fs::copy(Store::db_path(b.path()), &db).unwrap();
    refused_untouched(a.path(), "belongs to another pixbin data directory");

    let junk: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&db, &junk).unwrap();
    refused_untouched(a.path(), "cannot be read as a pixbin database");

    // The right database back: every image is still there.
    std::fs::write(&db, &good).unwrap();
    let app = spawn_app_in(a, |_| {}).await;
    assert_serves(&app, &images).await;
}

/// A data directory whose database is from before its newest blobs: uploads
/// `before` (seed, count), keeps a copy of the database, uploads `after`
/// more, then puts the copy back. Returns the directory, the images the
/// database knows and those it does not.
async fn with_an_older_database(
    before: (u64, u64),
    after: (u64, u64),
) -> (
    tempfile::TempDir,
    Vec<(String, Vec<u8>, String)>,
    Vec<(String, Vec<u8>, String)>,
) {
    let app = spawn_app().await;
    let known = upload_many(&app, before.0, before.1).await;
    let key = app.upload_key.clone();
    let dir = stop(app);
    let db = Store::db_path(dir.path());
    let copy = std::fs::read(&db).unwrap();
    let mut app = spawn_app_in(dir, |_| {}).await;
    app.upload_key = key;
    let unknown = upload_many(&app, after.0, after.1).await;
    let dir = stop(app);
    std::fs::write(&db, &copy).unwrap();
    (dir, known, unknown)
}

#[tokio::test]
async fn an_older_database_serves_and_gc_keeps_the_blobs_it_does_not_know() {
    let (dir, old, newer) = with_an_older_database((1, 2), (10, 3)).await;

    // It serves what it knows; the first GC pass (at start) spares the newer
    // blobs: they are younger than the grace period.
    let app = spawn_app_in(dir, |_| {}).await;
    assert_serves(&app, &old).await;
    poll_until(Duration::from_secs(10), || app.state.metrics.gc_runs() > 0).await;
    assert_eq!(app.state.metrics.gc_runs(), 1);
    for (_, _, h) in &newer {
        assert!(
            blob_path(app.dir.path(), h).is_file(),
            "start-up GC moved {h}"
        );
    }
    // A pass that does consider them (no grace) quarantines, never unlinks.
    let r = app
        .state
        .store
        .collect_garbage(&GcPolicy {
            grace: Duration::ZERO,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.quarantined, 3, "{r:?}");
    for (_, _, h) in &newer {
        assert!(blob_kept(app.dir.path(), h), "blob {h} is gone");
    }
    let dir = stop(app);

    // check reports the quarantine; adopt --trash brings it all back.
    let o = pixbin(&["check"], dir.path());
    assert!(text(&o).contains("quarantine: 3 blobs"), "{}", text(&o));
    let o = pixbin(&["adopt", "--trash"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("adopted 0 orphan blobs and 3 from quarantine"),
        "{}",
        text(&o)
    );
    let app = spawn_app_in(dir, |_| {}).await;
    assert_serves(&app, &old).await;
    // New ids and uuids, same bytes: find them through the list.
    assert_eq!(app.totals().images, 5);
    for (_, bytes, h) in &newer {
        assert!(blob_path(app.dir.path(), h).is_file());
        assert_eq!(&std::fs::read(blob_path(app.dir.path(), h)).unwrap(), bytes);
    }
}

#[tokio::test]
async fn gc_over_a_store_that_lost_most_rows_quarantines_nothing_and_adopt_recovers_it() {
    let (dir, old, lost) = with_an_older_database((1, 1), (20, 12)).await;

    // Every file but the database (which any open writes to).
    let files = |d: &Path| {
        let mut s = snapshot(d);
        s.retain(|e| e.0 != "pixbin.redb");
        s
    };
    let before = files(dir.path());
    let o = pixbin(&["gc", "--grace", "0s"], dir.path());
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("12 of 13 blobs have no row") && t.contains("nothing was quarantined"),
        "{t}"
    );
    assert!(
        t.contains("pixbin adopt") && t.contains("gc --force"),
        "{t}"
    );
    assert!(files(dir.path()) == before, "the brake moved something");

    // adopt turns every orphan into an image with the original bytes.
    let o = pixbin(&["adopt"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("adopted 12 orphan blobs"), "{}", text(&o));
    assert!(pixbin(&["check"], dir.path()).status.success());
    let mut app = spawn_app_in(dir, |_| {}).await;
    assert_serves(&app, &old).await;
    app.login_admin().await;
    let list: Value = app.get_json("/api/list?limit=100").await;
    let items = list["images"]
        .as_array()
        .or(list["items"].as_array())
        .unwrap();
    assert_eq!(items.len(), 13, "{list}");
    for (_, bytes, h) in &lost {
        let img = items.iter().find(|i| i["hash"] == h.as_str()).unwrap();
        assert!(
            img["filename"]
                .as_str()
                .unwrap()
                .starts_with(&format!("adopted-{}", &h[..12])),
            "{img}"
        );
        assert_eq!(img["extension"], "bmp");
        let res = fetch(app.url(&public_path(img))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}

#[tokio::test]
async fn adopt_leaves_blobs_that_are_not_images_in_place() {
    let app = spawn_app().await;
    let dir = stop(app);
    let junk = b"not an image at all".to_vec();
    let h = blake3::hash(&junk).to_hex().to_string();
    let p = blob_path(dir.path(), &h);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, &junk).unwrap();
    let o = pixbin(&["adopt"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("left blob {h}")), "{}", text(&o));
    assert_eq!(std::fs::read(&p).unwrap(), junk);
}

#[tokio::test]
async fn a_data_dir_from_before_identities_is_bound_only_to_its_own_database() {
    let app = spawn_app().await;
    let images = upload_many(&app, 1, 2).await;
    let dir = stop(app);
    let db = Store::db_path(dir.path());
    let marker = dir.path().join("pixbin.id");
    let forget_identity = |db: &Path| {
        let redb = redb::Database::open(db).unwrap();
        let txn = redb.begin_write().unwrap();
        txn.open_table(NAME_TO_META)
            .unwrap()
            .remove(keys::IDENTITY)
            .unwrap();
        txn.commit().unwrap();
    };
    // Its own database: bound on the first open, marker and database agree.
    forget_identity(&db);
    std::fs::remove_file(&marker).unwrap();
    let o = pixbin(&["key", "list"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let id = std::fs::read_to_string(&marker).unwrap();
    assert!(id.starts_with("pixbin-data-dir "), "{id}");
    let app = spawn_app_in(dir, |_| {}).await;
    assert_serves(&app, &images).await;
    let dir = stop(app);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), id);

    // Another instance's pre-identity database knows none of these blobs.
    let other = spawn_app().await;
    upload_many(&other, 100, 1).await;
    let b = stop(other);
    forget_identity(&Store::db_path(b.path()));
    std::fs::copy(Store::db_path(b.path()), &db).unwrap();
    std::fs::remove_file(&marker).unwrap();
    refused_untouched(dir.path(), "belongs to another pixbin data directory");
}

#[tokio::test]
async fn a_restored_backup_carries_its_identity() {
    let app = spawn_app().await;
    upload_many(&app, 1, 2).await;
    let dir = stop(app);
    let archive = dir
        .path()
        .parent()
        .unwrap()
        .join(format!("identity-{}.tar", std::process::id()));
    let o = pixbin(&["backup", "--out", archive.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    let o = pixbin(&["restore", archive.to_str().unwrap()], &target);
    let _ = std::fs::remove_file(&archive);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(target.join("pixbin.id")).unwrap(),
        std::fs::read_to_string(dir.path().join("pixbin.id")).unwrap()
    );
    let o = pixbin(&["check"], &target);
    assert!(o.status.success(), "{}", text(&o));
}

#[tokio::test]
async fn adopt_rebuilds_a_library_whose_database_is_lost() {
    let app = spawn_app().await;
    let images = upload_many(&app, 1, 3).await;
    let dir = stop(app);
    std::fs::remove_file(Store::db_path(dir.path())).unwrap();
    refused_untouched(dir.path(), "holds image blobs but no database");
    let o = pixbin(&["adopt"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("adopted 3 orphan blobs"), "{}", text(&o));
    assert!(pixbin(&["check"], dir.path()).status.success());
    let mut app = spawn_app_in(dir, |_| {}).await;
    app.login_admin().await;
    let list: Value = app.get_json("/api/list?limit=100").await;
    let items = list["images"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{list}");
    for (old_path, bytes, h) in &images {
        let img = items.iter().find(|i| i["hash"] == h.as_str()).unwrap();
        assert_ne!(&public_path(img), old_path, "a new link");
        let res = fetch(app.url(&public_path(img))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}

#[tokio::test]
async fn the_servers_gc_pass_quarantines_an_old_orphan_and_reports_it() {
    let app = spawn_app().await;
    let images = upload_many(&app, 1, 2).await;
    let dir = stop(app);
    // An orphan from a crash two hours ago: older than the grace period.
    let bytes = bmp(5, 5, 77);
    let h = blake3::hash(&bytes).to_hex().to_string();
    let p = blob_path(dir.path(), &h);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();

    let app = spawn_app_in(dir, |_| {}).await;
    poll_until(Duration::from_secs(10), || app.state.metrics.gc_runs() > 0).await;
    assert!(!p.exists(), "the orphan is still in blobs/");
    assert!(blob_kept(app.dir.path(), &h), "the orphan was unlinked");
    let metrics = fetch(app.url("/metrics")).await.text().await.unwrap();
    assert!(metrics.contains("\npixbin_trash_blobs 1\n"), "{metrics}");
    assert!(
        metrics.contains(&format!("\npixbin_trash_bytes {}\n", bytes.len())),
        "{metrics}"
    );
    assert!(
        metrics.contains("\npixbin_gc_blobs_quarantined_total 1\n"),
        "{metrics}"
    );
    assert_serves(&app, &images).await;
}
