//! SECURITY A36, A37, A39, A41: fifty identical uploads at once share one blob
//! that outlives 49 deletes and goes with the 50th; a delete during a slow
//! download never yields wrong bytes; a full disk answers 507, leaves nothing
//! behind and recovers without a restart (a real 8 MiB tmpfs as root, else
//! fault injection behind the blob store); a blob removed by hand costs only
//! its own image.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::*;

#[tokio::test]
async fn a36_fifty_identical_uploads_share_one_blob() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let bytes = bmp(64, 64, 36);
    let uploads = (0..50).map(|i| {
        let (base, key, bytes) = (app.base.clone(), app.upload_key.clone(), bytes.clone());
        tokio::spawn(async move { upload_to(&base, &key, bytes, &format!("{i}.bmp")).await })
    });
    let mut images = Vec::new();
    for u in uploads {
        images.push(u.await.unwrap());
    }
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let blob = app
        .dir
        .path()
        .join("blobs")
        .join(&hash[..2])
        .join(&hash[2..4])
        .join(&hash);
    assert_eq!(app.files_on_disk(), (1, 0), "one blob, no temp");
    assert_eq!(std::fs::read(&blob).unwrap(), bytes);
    let mut ids: Vec<u64> = images.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    for img in &images {
        let got = fetch_bytes(img["url"].as_str().unwrap()).await;
        assert_eq!(&got[..], &bytes[..]);
    }
    for img in &images[..49] {
        assert_eq!(app.delete_image(img).await.status(), StatusCode::OK);
    }
    assert!(blob.exists(), "one image still uses it");
    assert_eq!(
        app.state
            .store
            .blob(&pixbin::store::blobs::BlobHash::of(&bytes))
            .unwrap()
            .unwrap()
            .refcount,
        1
    );
    assert_eq!(app.delete_image(&images[49]).await.status(), StatusCode::OK);
    assert!(!blob.exists());
    assert_eq!(app.files_on_disk(), (0, 0));
    assert_eq!(app.totals().bytes_stored, 0);
}

#[tokio::test]
async fn a37_delete_during_a_slow_download() {
    let mut app = spawn_app_with(|c| c.max_upload_bytes = 64 * 1024 * 1024).await;
    app.login_admin().await;
    let bytes = bmp(4096, 4096, 37); // 48 MiB
    let img = app.upload_ok(bytes.clone(), "big.bmp").await;
    let mut res = fetch(img["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut got = Vec::new();
    while got.len() < 1024 * 1024 {
        got.extend_from_slice(&res.chunk().await.unwrap().expect("more body"));
    }
    assert_eq!(app.delete_image(&img).await.status(), StatusCode::OK);
    // The rest arrives complete, or the transfer is cut; never other bytes.
    loop {
        match res.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => {
                assert_eq!(got.len(), bytes.len());
                break;
            }
            Err(_) => break,
        }
    }
    assert_eq!(&got[..], &bytes[..got.len()]);
    let again = fetch(img["url"].as_str().unwrap()).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

/// A tmpfs mounted for one test; unmounted (lazily) when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(at.to_path_buf()))
}

/// A chunked raw-body upload over a raw socket, so the answer is read even
/// when the server answers before the body ends (as it does on ENOSPC).
fn raw_upload(app: &TestApp, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(app.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /api/upload?filename=big.bmp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: image/bmp\r\nTransfer-Encoding: chunked\r\n\r\n",
        app.addr, app.upload_key
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut sent_all = true;
    for chunk in body.chunks(64 * 1024) {
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|_| s.write_all(chunk))
            .and_then(|_| s.write_all(b"\r\n"))
            .is_err()
        {
            sent_all = false;
            break;
        }
    }
    if sent_all {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no response: {text:?}"));
    (
        status,
        text.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn a39_disk_full_answers_507_leaves_nothing_and_recovers() {
    let mnt = tempfile::tempdir().unwrap();
    let mounted = mount_tmpfs(mnt.path(), "8m");
    let data = tempfile::tempdir_in(mnt.path()).unwrap();
    let app = spawn_app_in(data, |c| c.max_upload_bytes = 16 * 1024 * 1024).await;
    let small = bmp(64, 64, 390);
    let kept = app.upload_ok(small.clone(), "kept.bmp").await;
    let before = (app.totals(), app.files_on_disk());
    let big = bmp(1870, 1870, 391); // 10 MiB
    let medium = bmp(700, 700, 392); // 1.4 MiB
    let filler = mnt.path().join("filler");
    if mounted.is_some() {
        // Fill the disk until less than the medium image is free.
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 256 * 1024];
        while f.write_all(&block).is_ok() {}
        drop(f);
        let len = std::fs::metadata(&filler).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(len.saturating_sub(512 * 1024))
            .unwrap();
    } else {
        eprintln!("a39: cannot mount a tmpfs here; injecting ENOSPC in the blob store instead");
        app.state.store.blobs().simulate_disk_full(true);
    }
    for body in [&big, &medium] {
        let (status, json) = raw_upload(&app, body);
        assert_eq!(status, 507, "{json}");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["code"], "disk_full");
        assert!(!json.contains(&mnt.path().display().to_string()));
        // Nothing stored, no temp left (the temp goes with the request).
        poll_until(Duration::from_secs(5), || app.files_on_disk() == before.1).await;
        assert_eq!((app.totals(), app.files_on_disk()), before);
    }
    let res = fetch(kept["url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(&res.bytes().await.unwrap()[..], &small[..]);
    // Space comes back: uploads work again without a restart.
    if mounted.is_some() {
        std::fs::remove_file(&filler).unwrap();
    } else {
        app.state.store.blobs().simulate_disk_full(false);
    }
    let v = app.upload_ok(medium.clone(), "medium.bmp").await;
    let res = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(&res.bytes().await.unwrap()[..], &medium[..]);
    drop(app);
    drop(mounted);
}

#[tokio::test]
async fn a41_a_blob_removed_by_hand_costs_only_its_image() {
    let app = spawn_app().await;
    let a = bmp(20, 20, 411);
    let b = bmp(20, 20, 412);
    let gone = app.upload_ok(a, "gone.bmp").await;
    let fine = app.upload_ok(b.clone(), "fine.bmp").await;
    let hash = gone["hash"].as_str().unwrap();
    std::fs::remove_file(
        app.dir
            .path()
            .join("blobs")
            .join(&hash[..2])
            .join(&hash[2..4])
            .join(hash),
    )
    .unwrap();
    for _ in 0..2 {
        let res = fetch(gone["url"].as_str().unwrap()).await;
        assert!(
            matches!(res.status().as_u16(), 404 | 500),
            "{}",
            res.status()
        );
        let body: Value = res.json().await.unwrap();
        assert!(body["code"].is_string());
        assert!(
            !body.to_string().contains(hash),
            "no path or hash in the body"
        );
    }
    let res = fetch(fine["url"].as_str().unwrap()).await;
    assert_eq!(&res.bytes().await.unwrap()[..], &b[..]);
    let report = app.check_rehash();
    let problems: Vec<String> = report.remaining().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with(&format!("missing-file: blob {hash}")));
}

/// A39, the other half: the disk fills while redb itself writes (the view
/// statistics commit, with no blob involved). redb then refuses all further
/// work until the database is reopened, so the server stops with an error
/// instead of answering 500 to everything (its service manager restarts it);
/// once there is space again, the restarted server has every acknowledged
/// image and takes uploads. Its log is a file on the same full disk, which
/// must not turn the clean stop into a crash.
#[tokio::test]
async fn a39_a_database_write_on_a_full_disk_stops_the_server_and_loses_nothing() {
    let mnt = tempfile::tempdir().unwrap();
    let Some(mounted) = mount_tmpfs(mnt.path(), "8m") else {
        eprintln!("a39: cannot mount a tmpfs here; a real full disk is needed, skipped");
        return;
    };
    let data = tempfile::tempdir_in(mnt.path()).unwrap();
    let log = std::fs::File::create(mnt.path().join("server.log")).unwrap();
    let mut app = spawn_binary_logging(data, &[], log.into());
    let mut stored = Vec::new();
    for seed in 0..3 {
        let bytes = bmp(16, 16, 393 + seed);
        let res = upload_raw_to(
            &app.base,
            &app.upload_key,
            &format!("/api/upload?filename=k{seed}.bmp"),
            &[("Content-Type", "image/bmp")],
            bytes.clone(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        stored.push((v["url"].as_str().unwrap().to_string(), bytes));
    }
    let filler = mnt.path().join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
    }
    // Browser views from many sites: each batch of view statistics is a
    // database commit that needs new pages.
    let viewer = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0u32;
    let status = loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after {n} views on a full disk"
        );
        let _ = viewer
            .get(&stored[0].0)
            .header(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
            )
            .header("Referer", format!("https://site{}.example/", n % 5000))
            .send()
            .await;
        n += 1;
    };
    assert_eq!(status.code(), Some(1), "a clean error exit, not a crash");

    std::fs::remove_file(&filler).unwrap();
    let app = app.crash_and_restart(&[]);
    for (url, bytes) in &stored {
        let url = format!("{}/{}", app.base, url.rsplit('/').next().unwrap());
        let res = fetch(&url).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(&res.bytes().await.unwrap()[..], &bytes[..]);
    }
    let res = upload_raw_to(
        &app.base,
        &app.upload_key,
        "/api/upload?filename=after.bmp",
        &[("Content-Type", "image/bmp")],
        bmp(16, 16, 399),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    drop(app);
    drop(mounted);
}
