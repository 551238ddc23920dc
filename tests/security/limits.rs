//! Size and quota limits (A17–A19): a chunked body one byte over the limit is
//! refused as soon as it crosses it; a huge Content-Length is refused before any
//! body byte is read (no `100 Continue`); parallel uploads never exceed the
//! storage quota and the usage counter matches the blobs, also after a restart.

use std::io::Write;
use std::time::Duration;

use super::*;

/// A17: chunked bodies (raw and multipart) one byte over the limit. The answer
/// comes before the client has even ended the body, and the temp file goes.
#[tokio::test]
async fn a17_chunked_body_over_limit_is_refused() {
    let img = bmp_filled(512, 512, 0x42);
    let limit = img.len() as u64 - 1;
    let app = spawn_app_with(|c| c.max_upload_bytes = limit).await;
    let multipart_body = {
        let mut b = part_bytes(&RawPart::file("file", "big.bmp", &img));
        b.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
        b
    };
    for (ct, body) in [
        ("image/bmp".to_string(), img.clone()),
        (form_type(), multipart_body),
    ] {
        let mut s = connect(app.addr);
        s.write_all(upload_head(&app, &ct, "Transfer-Encoding: chunked\r\n").as_bytes())
            .unwrap();
        for chunk in body.chunks(16 * 1024) {
            // The server may stop reading once it has answered.
            if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|_| s.write_all(chunk))
                .and_then(|_| s.write_all(b"\r\n"))
                .is_err()
            {
                break;
            }
        }
        // No terminating `0` chunk: only the size check can answer now.
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf).expect("an answer before the body ends");
        assert_error(r.status, &r.body, 400, "file_too_large");
        assert_no_store(&app);
    }
    // One byte less is accepted.
    let small = spawn_app_with(|c| c.max_upload_bytes = limit + 1).await;
    small.upload_ok(img, "fits.bmp").await;
}

/// A18: `Content-Length: 1099511627776`, with and without `Expect:
/// 100-continue`: 413 before any body byte, never `100 Continue`, then the
/// connection closes.
#[tokio::test]
async fn a18_huge_content_length_is_refused_before_the_body() {
    let app = spawn_app().await;
    for (ct, expect) in [
        ("image/png", "Expect: 100-continue\r\n"),
        ("image/png", ""),
        (form_type().as_str(), "Expect: 100-continue\r\n"),
    ] {
        let head = upload_head(
            &app,
            ct,
            &format!("Content-Length: 1099511627776\r\n{expect}"),
        );
        let mut s = connect(app.addr);
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf).expect("an answer");
        assert_ne!(r.status, 100, "the body was invited");
        assert_error(r.status, &r.body, 413, "file_too_large");
        assert_eq!(r.header("connection"), Some("close"));
        assert!(closed_within(&mut s, Duration::from_secs(5)), "{expect:?}");
    }
    assert_no_store(&app);
}

/// A19: a quota of four files and 16 parallel uploads of distinct files of that
/// size: at most four are accepted, the others get `storage_full`, and the
/// usage counter equals the bytes of the blobs on disk, before and after a
/// restart.
#[tokio::test]
async fn a19_parallel_uploads_never_exceed_the_quota() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_path_buf();
    let files: Vec<Vec<u8>> = (0..16u8).map(|i| bmp_filled(128, 170, i)).collect();
    let size = files[0].len() as u64;
    let quota = 4 * size;
    let app = spawn_app_with(|c| {
        c.data_dir = dir.clone();
        c.max_storage_bytes = Some(quota);
    })
    .await;
    let mut tasks = Vec::new();
    for (i, f) in files.into_iter().enumerate() {
        let url = app.url("/api/upload");
        let key = app.upload_key.clone();
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(f).file_name(format!("{i}.bmp")),
            );
            let res = client()
                .post(url)
                .bearer_auth(key)
                .multipart(form)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.bytes().await.unwrap())
        }));
    }
    let mut accepted = 0u64;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => accepted += 1,
            _ => assert_error(status, &body, 400, "storage_full"),
        }
    }
    assert!((1..=4).contains(&accepted), "accepted {accepted}");
    let on_disk = |dir: &std::path::Path| -> u64 {
        fn walk(p: &std::path::Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.map(|e| {
                        let e = e.unwrap();
                        if e.file_type().unwrap().is_dir() {
                            walk(&e.path())
                        } else {
                            e.metadata().unwrap().len()
                        }
                    })
                    .sum()
                })
                .unwrap_or(0)
        }
        walk(&dir.join("blobs"))
    };
    let t = app.totals();
    assert_eq!(t.bytes_stored, accepted * size);
    assert!(t.bytes_stored <= quota);
    assert_eq!(on_disk(&dir), t.bytes_stored);
    assert_eq!(count_files(&dir.join("tmp")), 0);
    drop(app);
    let store = pixbin::store::Store::open(&dir).unwrap();
    let t = store.totals().unwrap();
    assert_eq!(t.bytes_stored, accepted * size, "after a restart");
    assert_eq!(t.images, accepted);
    assert_eq!(on_disk(&dir), t.bytes_stored);
}
