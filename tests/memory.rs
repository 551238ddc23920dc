//! Upload memory does not grow with file size: a 200 MiB image streamed to the
//! real binary keeps its peak RSS under 64 MiB, and the bytes arrive intact.

use crate::support::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_200_mib_upload_keeps_server_memory_flat() {
    let app = spawn_binary(&[("PIXBIN_MAX_UPLOAD_BYTES", "300MiB")]);
    let (w, h) = (8000u32, 8740u32);
    let header = bmp_header(w, h);
    let total = header.len() as u64 + (w as u64 * 3) * h as u64;
    assert!(total > 200 * 1024 * 1024);
    // Stream the body in 1 MiB chunks; the hash is computed on the fly for the check.
    let chunk = vec![0x5au8; 1024 * 1024];
    let mut hasher = blake3::Hasher::new();
    hasher.update(&header);
    let mut parts: Vec<Vec<u8>> = vec![header];
    let mut left = total - parts[0].len() as u64;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        hasher.update(&chunk[..n]);
        parts.push(chunk[..n].to_vec());
        left -= n as u64;
    }
    let expected = hasher.finalize().to_hex().to_string();
    let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>));
    let res = upload_raw_to(
        &app.base,
        &app.upload_key,
        "/api/upload?filename=huge.bmp",
        &[("Content-Type", "image/bmp")],
        reqwest::Body::wrap_stream(stream),
    )
    .await;
    let status = res.status();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["size"].as_u64().unwrap(), total);
    assert_eq!(v["hash"], expected.as_str());
    assert_eq!(
        (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()),
        (w as u64, h as u64)
    );
    let peak_kib = app.status_kib("VmHWM");
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB during a {total}-byte upload"
    );
    // The stored file is the full image.
    let blob_files = count_files(&app.dir.join("blobs"));
    assert_eq!(blob_files, 1);
}
