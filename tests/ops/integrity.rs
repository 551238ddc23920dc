//! Integrity (ARCHITECTURE invariant 9): a flipped byte or a truncated file,
//! in an original or a thumbnail, small (served from memory) or large
//! (streamed), is never a clean complete 200; each detection is one error log
//! line and one count in `/metrics`, the mark survives a restart and answers
//! at once until `pixbin repair --from` a backup puts the bytes back, online
//! or offline; the scrub finds a flipped byte nobody fetched.

use std::time::Duration;

use super::*;

/// The blob file of a hash in a data dir.
fn blob_path(dir: &Path, hash: &str) -> std::path::PathBuf {
    dir.join("blobs")
        .join(&hash[..2])
        .join(&hash[2..4])
        .join(hash)
}

fn flip_byte(p: &Path, at: usize) {
    let mut b = std::fs::read(p).unwrap();
    b[at] ^= 0x40;
    std::fs::write(p, b).unwrap();
}

fn truncate(p: &Path, by: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - by).unwrap();
}

/// The thumbnail's hash, from the ETag of a HEAD (which makes the thumbnail
/// if needed but reads no bytes, so nothing enters the memory cache).
async fn thumb_hash(img: &Value) -> String {
    let res = client()
        .head(img["thumbnail_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

/// A GET as a client sees it: status, Cache-Control, and the body if it
/// arrived whole (`None` when the transfer broke off).
async fn fetch_range(url: &str, range: Option<&str>) -> (StatusCode, String, Option<Vec<u8>>) {
    let mut req = client().get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let cc = res
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = res.bytes().await.ok().map(|b| b.to_vec());
    (status, cc, body)
}

/// Asserts the answer is the damaged-blob error: 500, `blob_damaged`, never
/// cacheable.
async fn assert_damaged(url: &str, range: Option<&str>) {
    let (status, cc, body) = fetch_range(url, range).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{url}");
    assert_eq!(cc, "no-store");
    let v: Value = serde_json::from_slice(&body.unwrap()).unwrap();
    assert_eq!(v["code"], "blob_damaged", "{v}");
}

async fn metrics(base: &str) -> String {
    fetch(format!("{base}/metrics")).await.text().await.unwrap()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

fn detected(text: &str, kind: &str, reason: &str) -> f64 {
    metric(
        text,
        &format!("pixbin_blob_damage_detected_total{{kind=\"{kind}\",reason=\"{reason}\"}}"),
    )
}

/// Waits (bounded) until `cond` holds.
async fn wait_until(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(limit, cond).await,
        "timed out waiting for {what}"
    );
}

#[tokio::test]
async fn damaged_originals_and_thumbnails_never_serve_complete_and_repair_heals_them() {
    let app = spawn_app().await;
    let dir = app.dir.path().to_path_buf();
    // Small ones are served from memory (up to 256 KiB), large ones streamed.
    let small_flip = bmp(200, 150, 1301);
    let small_cut = bmp(200, 150, 1302);
    let large_flip = bmp(400, 400, 1303);
    let large_cut = bmp(400, 400, 1304);
    assert!(small_flip.len() < 256 * 1024 && large_flip.len() > 256 * 1024);
    let mut originals = Vec::new();
    for (bytes, name) in [
        (&small_flip, "sf.bmp"),
        (&small_cut, "sc.bmp"),
        (&large_flip, "lf.bmp"),
        (&large_cut, "lc.bmp"),
    ] {
        originals.push((app.upload_ok(bytes.clone(), name).await, bytes.clone()));
    }
    let t_flip = thumb_hash(&originals[0].0).await;
    let t_cut = thumb_hash(&originals[2].0).await;
    let thumb_flip = std::fs::read(blob_path(&dir, &t_flip)).unwrap();
    let thumb_cut = std::fs::read(blob_path(&dir, &t_cut)).unwrap();

    // A backup while all is well, through the running server.
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("b.tar");
    let o = pixbin(&["backup", "--out", backup.to_str().unwrap()], &dir);
    assert!(o.status.success(), "{}", text(&o));

    // The large flipped one streams whole once before it is damaged, so it
    // counts as verified: rewriting its file must still get it hashed again.
    let (status, _, body) = fetch_range(originals[2].0["url"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_deref(), Some(&large_flip[..]));

    let hash_of = |i: usize| originals[i].0["hash"].as_str().unwrap().to_string();
    flip_byte(&blob_path(&dir, &hash_of(0)), 5000);
    truncate(&blob_path(&dir, &hash_of(1)), 1);
    flip_byte(&blob_path(&dir, &hash_of(2)), 300_000);
    truncate(&blob_path(&dir, &hash_of(3)), 4096);
    flip_byte(&blob_path(&dir, &t_flip), 200);
    truncate(&blob_path(&dir, &t_cut), 10);

    // Paths, so they still work on the restarted server's new port.
    let paths: Vec<String> = originals.iter().map(|(v, _)| public_path(v)).collect();
    let mut base = app.base.clone();
    let url = |base: &str, i: usize| format!("{base}{}", paths[i]);
    let thumb_url = |base: &str, i: usize| format!("{base}/thumb{}", paths[i]);
    // Small, flipped or cut: refused before any byte.
    assert_damaged(&url(&base, 0), None).await;
    assert_damaged(&url(&base, 1), None).await;
    // Large and cut: the length is checked before the headers, ranges too.
    assert_damaged(&url(&base, 3), Some("bytes=0-99")).await;
    // Large and flipped: found while streaming; the transfer never ends cleanly.
    let (status, _, body) = fetch_range(&url(&base, 2), None).await;
    assert_eq!(status, StatusCode::OK, "headers went out before the fault");
    assert!(
        body.as_ref().is_none_or(|b| b.len() < large_flip.len()),
        "a complete body was delivered for a damaged blob"
    );
    assert_damaged(&thumb_url(&base, 0), None).await;
    assert_damaged(&thumb_url(&base, 2), None).await;

    let m = metrics(&app.base).await;
    assert_eq!(detected(&m, "original", "hash"), 2.0, "{m}");
    assert_eq!(detected(&m, "original", "length"), 2.0);
    assert_eq!(detected(&m, "thumbnail", "hash"), 1.0);
    assert_eq!(detected(&m, "thumbnail", "length"), 1.0);
    assert_eq!(detected(&m, "original", "missing"), 0.0);
    assert_eq!(metric(&m, "pixbin_damaged_blobs"), 6.0);

    // The next requests fail at once, the whole large one included, and count
    // nothing new.
    for i in 0..4 {
        assert_damaged(&url(&base, i), None).await;
    }
    assert_damaged(&thumb_url(&base, 0), None).await;
    assert_damaged(&thumb_url(&base, 2), None).await;
    let again = metrics(&app.base).await;
    assert_eq!(detected(&again, "original", "hash"), 2.0);
    assert_eq!(detected(&again, "original", "length"), 2.0);

    // The marks survive a restart, before anything is read again.
    let app = app.restart(|_| {}).await;
    base = app.base.clone();
    assert_eq!(app.state.store.integrity().damaged(), 6);
    assert_damaged(&url(&base, 0), None).await;

    // Repair with the server running.
    let o = pixbin(&["repair", "--from", backup.to_str().unwrap()], &dir);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("repaired: blob").count(),
        6,
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("through the running server"));
    assert_eq!(app.state.store.integrity().damaged(), 0);
    for (i, (_, bytes)) in originals.iter().enumerate() {
        let (status, _, body) = fetch_range(&url(&base, i), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_deref(), Some(&bytes[..]), "image {i} byte-exact");
    }
    let (_, _, t) = fetch_range(&thumb_url(&base, 0), None).await;
    assert_eq!(t.as_deref(), Some(&thumb_flip[..]));
    let (_, _, t) = fetch_range(&thumb_url(&base, 2), None).await;
    assert_eq!(t.as_deref(), Some(&thumb_cut[..]));
    assert_eq!(
        metric(&metrics(&app.base).await, "pixbin_damaged_blobs"),
        0.0
    );
    // Nothing was left in tmp/.
    assert_eq!(app.files_on_disk().1, 0);
}

#[tokio::test]
async fn each_detection_is_one_error_log_line_naming_image_and_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log.jsonl");
    let data = tempfile::tempdir().unwrap();
    let app = spawn_binary_logging(
        data,
        &[("PIXBIN_LOG_FORMAT", "json")],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let small = upload_to(&app.base, &app.upload_key, bmp(60, 60, 1311), "s.bmp").await;
    let large = upload_to(&app.base, &app.upload_key, bmp(400, 400, 1312), "l.bmp").await;
    let (sh, lh) = (
        small["hash"].as_str().unwrap(),
        large["hash"].as_str().unwrap(),
    );
    flip_byte(&blob_path(&app.dir, sh), 100);
    truncate(&blob_path(&app.dir, lh), 1);
    for img in [&small, &large, &small, &large, &small] {
        let (status, _, _) = fetch_range(img["url"].as_str().unwrap(), None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("damaged blob detected"))
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (img, reason) in [(&small, "hash"), (&large, "length")] {
        let line = lines
            .iter()
            .find(|l| l["fields"]["hash"] == img["hash"])
            .unwrap_or_else(|| panic!("no line for {img}"));
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["fields"]["image"], img["id"]);
        assert_eq!(line["fields"]["reason"], reason);
        assert_eq!(line["fields"]["kind"], "original");
    }
}

#[tokio::test]
async fn offline_repair_puts_back_missing_and_silently_flipped_blobs_and_names_the_rest() {
    let app = spawn_app().await;
    let dir = app.dir.path().to_path_buf();
    let a = bmp(50, 50, 1321);
    let b = bmp(400, 400, 1322);
    let ia = app.upload_ok(a.clone(), "a.bmp").await;
    let ib = app.upload_ok(b.clone(), "b.bmp").await;
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("b.tar");
    let o = pixbin(&["backup", "--out", backup.to_str().unwrap()], &dir);
    assert!(o.status.success(), "{}", text(&o));
    let late_bytes = bmp(50, 50, 1323);
    let late = app.upload_ok(late_bytes.clone(), "late.bmp").await;
    // Stop the server, keeping its data dir.
    let data = {
        let app = app;
        let TestApp { dir, .. } = app;
        dir
    };

    // Never read, so never marked: repair must find them itself.
    std::fs::remove_file(blob_path(&dir, ia["hash"].as_str().unwrap())).unwrap();
    flip_byte(&blob_path(&dir, ib["hash"].as_str().unwrap()), 1000);
    truncate(&blob_path(&dir, late["hash"].as_str().unwrap()), 3);

    let o = pixbin(&["repair", "--from", backup.to_str().unwrap()], &dir);
    assert!(!o.status.success(), "the late image is not in the backup");
    let out = text(&o);
    assert_eq!(out.matches("repaired: blob").count(), 2, "{out}");
    assert!(
        out.contains(&format!(
            "problem: blob {} is damaged or missing and not in the backup",
            late["hash"].as_str().unwrap()
        )),
        "{out}"
    );
    assert!(!out.contains("through the running server"));

    let app = spawn_app_in(data, |_| {}).await;
    for (img, bytes) in [(&ia, &a), (&ib, &b)] {
        let (status, _, body) = fetch_range(&app.url(&public_path(img)), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_deref(), Some(&bytes[..]));
    }
    assert_damaged(&app.url(&public_path(&late)), None).await;

    // `check` names the mark and the scrub's last result.
    let data = {
        let app = app;
        let TestApp { dir, .. } = app;
        dir
    };
    let late_hash = late["hash"].as_str().unwrap();
    let o = pixbin(&["check"], data.path());
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains(&format!(
            "damaged: blob {late_hash} (original of image {}, length)",
            late["id"]
        )),
        "{out}"
    );
    assert!(out.contains("scrub: last pass completed"), "{out}");
    // Put back by hand: whole but still marked until `check --repair`.
    std::fs::write(blob_path(data.path(), late_hash), &late_bytes).unwrap();
    let o = pixbin(&["check"], data.path());
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is whole again but still marked"),
        "{}",
        text(&o)
    );
    let o = pixbin(&["check", "--repair"], data.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("repaired: stale damage mark"));
    let o = pixbin(&["check"], data.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("damaged: blob"));
}

#[tokio::test]
async fn the_scrub_finds_a_flipped_byte_nobody_fetched_and_the_mark_sticks() {
    let now_secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let app = spawn_app_with(|c| c.scrub_interval = Duration::from_millis(500)).await;
    let bytes = bmp(100, 100, 1331);
    let img = app.upload_ok(bytes.clone(), "s.bmp").await;
    let hash = img["hash"].as_str().unwrap().to_string();
    let path = blob_path(app.dir.path(), &hash);
    flip_byte(&path, 2000);
    // A quarantined orphan whose bytes do not match its name: trash/ is not
    // the scrub's to judge (nothing serves it), so it is never marked.
    let trashed = pixbin::store::blobs::BlobHash::of(b"a quarantined orphan");
    std::fs::create_dir_all(app.dir.path().join("trash")).unwrap();
    std::fs::write(
        app.dir.path().join("trash").join(format!(
            "{}.{}",
            now_secs(),
            pixbin::store::blobs::hex(&trashed)
        )),
        b"a quarantined orphan, rotted",
    )
    .unwrap();
    let raw = pixbin::store::blobs::parse_hex(&hash).unwrap();
    let integrity = app.state.store.integrity();
    wait_until(
        "the scrub to mark the blob",
        Duration::from_secs(20),
        || integrity.is_damaged(&raw),
    )
    .await;
    let m = metrics(&app.base).await;
    assert_eq!(detected(&m, "original", "hash"), 1.0);
    assert_damaged(img["url"].as_str().unwrap(), None).await;
    wait_until("a pass to complete", Duration::from_secs(20), || {
        app.state.store.integrity().scrub_status().last_damaged == 1
    })
    .await;
    assert!(!integrity.is_damaged(&trashed));
    assert_eq!(integrity.damaged(), 1);
    let m = metrics(&app.base).await;
    assert!(metric(&m, "pixbin_scrub_last_completed_timestamp_seconds") > 0.0);
    assert_eq!(metric(&m, "pixbin_scrub_last_damaged_blobs"), 1.0);
    assert!(metric(&m, "pixbin_scrub_last_checked_blobs") >= 1.0);

    // Sticky: good bytes put back by hand do not serve until something has
    // verified them; the next scrub pass does, and clears the mark.
    std::fs::write(&path, &bytes).unwrap();
    assert_damaged(img["url"].as_str().unwrap(), None).await;
    wait_until(
        "the scrub to clear the mark",
        Duration::from_secs(20),
        || !integrity.is_damaged(&raw),
    )
    .await;
    let (status, _, body) = fetch_range(img["url"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_deref(), Some(&bytes[..]));
}

#[tokio::test]
async fn the_server_clears_a_mark_only_for_a_blob_it_verifies_whole() {
    let app = spawn_app().await;
    let bytes = bmp(60, 60, 1341);
    let img = app.upload_ok(bytes.clone(), "a.bmp").await;
    let hash = img["hash"].as_str().unwrap().to_string();
    let path = blob_path(app.dir.path(), &hash);
    flip_byte(&path, 500);
    assert_damaged(img["url"].as_str().unwrap(), None).await;
    let control = std::fs::read_to_string(app.dir.path().join("pixbin.control")).unwrap();
    let token = control
        .lines()
        .find_map(|l| l.strip_prefix("token "))
        .unwrap()
        .to_string();
    let post = |token: Option<&str>, body: Value| {
        let mut req = client()
            .post(app.url("/api/integrity/repaired"))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let res = post(None, serde_json::json!({ "hashes": [hash] }))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(
        Some(&app.upload_key),
        serde_json::json!({ "hashes": [hash] }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(Some(&token), serde_json::json!({ "hashes": ["XYZ"] }))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "invalid_request"
    );

    // Still wrong on disk: a claim of repair clears nothing.
    let res = post(Some(&token), serde_json::json!({ "hashes": [hash] }))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["stillDamaged"][0], hash.as_str());
    assert_eq!(app.state.store.integrity().damaged(), 1);
    assert_damaged(img["url"].as_str().unwrap(), None).await;

    // Whole again: verified, cleared, served.
    std::fs::write(&path, &bytes).unwrap();
    let v: Value = post(Some(&token), serde_json::json!({ "hashes": [hash] }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["cleared"][0], hash.as_str());
    let (status, _, body) = fetch_range(img["url"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_deref(), Some(&bytes[..]));

    // The dashboard's view needs a session or the token.
    let anon = fetch(app.url("/api/integrity")).await;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let v: Value = client()
        .get(app.url("/api/integrity"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["damagedBlobs"], 0);
    assert!(v["scrub"]["intervalSecs"].as_u64().unwrap() > 0, "{v}");
}

#[tokio::test]
async fn a_damaged_view_limited_image_spends_no_view() {
    // The view of a view-limited image is paid before its bytes go out; a
    // blob found damaged sends none, so it must cost none either.
    let app = spawn_app().await;
    for (bytes, damage) in [
        (bmp(60, 60, 1351), "flip"),
        (bmp(400, 400, 1352), "truncate"),
    ] {
        let img: Value = app
            .upload_with_ok(bytes.clone(), "v.bmp", &[("max_views", "1")])
            .await;
        let url = img["url"].as_str().unwrap();
        let hash = img["hash"].as_str().unwrap();
        let path = blob_path(app.dir.path(), hash);
        if damage == "flip" {
            flip_byte(&path, 500);
        } else {
            truncate(&path, 7);
        }
        assert_damaged(url, None).await;
        assert_damaged(url, None).await;
        // Put back and verified: the one view is still there to spend.
        std::fs::write(&path, &bytes).unwrap();
        let raw = pixbin::store::blobs::parse_hex(hash).unwrap();
        assert!(app.state.store.clear_damage(&raw).unwrap());
        let (status, _, body) = fetch_range(url, None).await;
        assert_eq!(status, StatusCode::OK, "{damage}: the view was spent");
        assert_eq!(body.as_deref(), Some(&bytes[..]));
        let (status, _, _) = fetch_range(url, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{damage}: one view only");
    }
}
