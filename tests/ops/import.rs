//! `pixbin import DIR`: the real fixtures imported twice are imported once; a
//! nested folder is walked, a non-image is refused with its reason, a file's
//! modification time becomes its upload time, `--private` makes private links;
//! the allowed types and strip mode set in the admin UI apply; a data dir in
//! use is refused.

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

fn summary(o: &Output) -> (u64, u64, u64) {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("imported "))
        .unwrap_or_else(|| panic!("no summary in {}", text(o)));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (n[0], n[1], n[2])
}

#[test]
fn importing_the_real_fixtures_twice_imports_each_file_once() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real");
    let files = std::fs::read_dir(&real).unwrap().count() as u64;
    let dir = tempfile::tempdir().unwrap();
    let first = pixbin(&["import", real.to_str().unwrap()], dir.path());
    assert!(first.status.success(), "{}", text(&first));
    let (imported, duplicates, refused) = summary(&first);
    assert_eq!(refused, 0, "{}", text(&first));
    assert_eq!(imported + duplicates, files);
    // Only a file identical to another once stripped of GPS may be a duplicate.
    assert!(imported >= files - 1, "{}", text(&first));
    let second = pixbin(&["import", real.to_str().unwrap()], dir.path());
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(summary(&second), (0, files, 0));
    let store = pixbin::store::Store::open(dir.path()).unwrap();
    assert_eq!(store.totals().unwrap().images, imported);
    drop(store);
    assert!(pixbin(&["check"], dir.path()).status.success());
}

#[tokio::test]
async fn nested_folders_times_refusals_and_privacy() {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("2020/january")).unwrap();
    let shot = src.path().join("2020/january/shot.png");
    std::fs::write(&shot, fixture("real/logo.png")).unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_577_934_245); // 2020-01-02T03:04:05Z
    std::fs::File::options()
        .write(true)
        .open(&shot)
        .unwrap()
        .set_modified(when)
        .unwrap();
    std::fs::write(src.path().join("notes.txt"), b"not an image").unwrap();
    std::fs::write(src.path().join("fake.jpg"), b"<html><script>x</script>").unwrap();
    std::fs::write(
        src.path().join("tiny.gif"),
        fixture("real/no_time_for_that_tiny.gif"),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let o = pixbin(
        &["import", src.path().to_str().unwrap(), "--private"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(summary(&o), (2, 0, 2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("notes.txt") && err.contains("fake.jpg") && err.contains("not allowed"),
        "{err}"
    );
    assert!(!err.contains('\r'), "no progress bar without a terminal");

    let app = spawn_app_in(dir, |_| {}).await;
    let (page, _) = app
        .state
        .store
        .list_images(&pixbin::store::ListFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.len(), 2);
    let png = page
        .iter()
        .find(|i| i.record.filename == "shot.png")
        .unwrap();
    let expected = when.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    assert_eq!(png.record.uploaded_at, expected);
    assert!(page.iter().all(|i| i.record.private_key.is_some()));
    // A private import is not served without its key.
    let path = format!("/{}.png", uuid::Uuid::from_bytes(png.record.uuid));
    let res = fetch(app.url(&path)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(SystemTime::now() > when);
}

#[test]
fn import_refuses_a_data_dir_in_use() {
    let app = spawn_binary(&[]);
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real");
    let o = pixbin(&["import", real.to_str().unwrap()], &app.dir);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("in use by a running pixbin server"),
        "{}",
        text(&o)
    );
}

/// The upload settings changed in the admin UI (stored in the database)
/// bound an import too: a type no longer allowed is refused.
#[tokio::test]
async fn import_follows_the_runtime_upload_settings() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = pixbin::store::Store::open(dir.path()).unwrap();
        let runtime = pixbin::settings::Runtime {
            allowed_types: Some(vec![pixbin::media::ImageType::Png]),
            ..Default::default()
        };
        store.put_runtime_settings(&runtime.to_stored()).unwrap();
    }
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.png"), fixture("real/logo.png")).unwrap();
    std::fs::write(src.path().join("b.jpg"), fixture("real/rocket.jpg")).unwrap();
    let o = pixbin(&["import", src.path().to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(summary(&o), (1, 0, 1), "{}", text(&o));
    assert!(text(&o).contains("b.jpg"), "{}", text(&o));
}
