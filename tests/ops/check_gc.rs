//! `pixbin check` and `pixbin gc` on the data dir of a server killed with
//! SIGKILL: GC then check is clean; a damaged blob fails check, repair cannot
//! "fix" it away and the image row stays; an orphan and a temp file fail check
//! until GC (or `--repair`) removes them.

use super::*;

/// Sets a file's modification time `by` into the past.
fn age(path: &Path, by: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - by).unwrap();
}

#[tokio::test]
async fn check_and_gc_after_a_crash() {
    let mut app = spawn_binary(&[]);
    let a = upload_to(&app.base, &app.upload_key, bmp(40, 30, 1), "a.bmp").await;
    upload_to(&app.base, &app.upload_key, bmp(40, 30, 1), "a-again.bmp").await;
    upload_to(&app.base, &app.upload_key, bmp(20, 20, 2), "b.bmp").await;
    app.child.kill().unwrap();
    app.child.wait().unwrap();
    let dir = app.dir.clone();

    // Whatever the kill interrupted (a thumbnail in the making) is garbage;
    // it is seconds old, so only an explicit zero grace lets GC take it.
    let gc = pixbin(&["gc", "--grace", "0s"], &dir);
    assert!(gc.status.success(), "{}", text(&gc));
    let ok = pixbin(&["check"], &dir);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("ok: no problems"), "{}", text(&ok));

    // A blob damaged on disk: reported, unrepairable, its image kept.
    let hash = a["hash"].as_str().unwrap();
    let blob = dir
        .join("blobs")
        .join(&hash[..2])
        .join(&hash[2..4])
        .join(hash);
    let original = std::fs::read(&blob).unwrap();
    let mut damaged = original.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&blob, &damaged).unwrap();
    let bad = pixbin(&["check"], &dir);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains(&format!("wrong-content: blob {hash}")),
        "{}",
        text(&bad)
    );
    let repair = pixbin(&["check", "--repair"], &dir);
    assert!(!repair.status.success(), "damage cannot be repaired away");
    assert!(
        text(&repair).contains("repair cannot fix"),
        "{}",
        text(&repair)
    );
    // --quick compares sizes only; the size is right.
    assert!(pixbin(&["check", "--quick"], &dir).status.success());
    std::fs::write(&blob, &original[..last]).unwrap();
    let short = pixbin(&["check", "--quick"], &dir);
    assert!(text(&short).contains("wrong-file-size"), "{}", text(&short));
    std::fs::write(&blob, &original).unwrap();
    {
        let store = pixbin::store::Store::open(&dir).unwrap();
        let id = a["id"].as_u64().unwrap();
        assert!(store.image(id).unwrap().is_some(), "the row was kept");
    }

    // An orphan and a stale temp, as a crash between commit and unlink leaves.
    let orphan_bytes = b"left behind by a crash".to_vec();
    let orphan = blake3::hash(&orphan_bytes).to_hex().to_string();
    let orphan_dir = dir.join("blobs").join(&orphan[..2]).join(&orphan[2..4]);
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join(&orphan), &orphan_bytes).unwrap();
    std::fs::write(dir.join("tmp").join("upload-0123456789abcdef"), b"half").unwrap();
    let dirty = pixbin(&["check"], &dir);
    assert!(!dirty.status.success());
    let t = text(&dirty);
    assert!(
        t.contains(&format!("orphan-blob: blob file {orphan}")),
        "{t}"
    );
    assert!(t.contains("stale-temp"), "{t}");
    assert!(t.contains("check --repair"), "{t}");
    // GC moves the orphan into quarantine, never deletes it outright; the
    // temp file goes (offline nothing is uploading).
    // The first gc may already have quarantined what the kill interrupted
    // (a thumbnail in the making), so only what this pass adds is counted.
    let trash_before = std::fs::read_dir(dir.join("trash"))
        .map(|d| d.count())
        .unwrap_or(0);
    let gc = pixbin(&["gc", "--grace", "0s"], &dir);
    assert!(
        text(&gc).contains("quarantined 1 orphan blobs")
            && text(&gc).contains("removed 1 temp files"),
        "{}",
        text(&gc)
    );
    assert!(!orphan_dir.join(&orphan).exists());
    let trashed: Vec<_> = std::fs::read_dir(dir.join("trash"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(trashed.len(), trash_before + 1, "{trashed:?}");
    assert!(
        trashed.iter().any(|t| t.ends_with(&format!(".{orphan}"))),
        "{trashed:?}"
    );
    let clean = pixbin(&["check"], &dir);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(
        text(&clean).contains(&format!("quarantine: {} blobs", trash_before + 1)),
        "{}",
        text(&clean)
    );

    // The same damage fixed by --repair instead of gc, once it is older than
    // the grace period (1 h by default).
    std::fs::write(orphan_dir.join(&orphan), &orphan_bytes).unwrap();
    let young = pixbin(&["check", "--repair"], &dir);
    assert!(!young.status.success(), "{}", text(&young));
    assert!(orphan_dir.join(&orphan).exists());
    age(&orphan_dir.join(&orphan), Duration::from_secs(2 * 3600));
    let fixed = pixbin(&["check", "--repair"], &dir);
    assert!(fixed.status.success(), "{}", text(&fixed));
    assert!(
        text(&fixed).contains("repaired: orphan-blob"),
        "{}",
        text(&fixed)
    );
    assert!(pixbin(&["check"], &dir).status.success());
}

#[test]
fn check_and_gc_explain_a_missing_or_locked_data_dir() {
    let empty = tempfile::tempdir().unwrap();
    for cmd in [&["check"][..], &["gc"]] {
        let o = pixbin(cmd, empty.path());
        assert!(!o.status.success());
        assert!(
            text(&o).contains("holds no pixbin database"),
            "{}",
            text(&o)
        );
    }
    assert!(
        tree(empty.path()).is_empty(),
        "nothing created in an empty dir"
    );
    let app = spawn_binary(&[]);
    let o = pixbin(&["check"], &app.dir);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("in use by a running pixbin server"),
        "{}",
        text(&o)
    );
}
