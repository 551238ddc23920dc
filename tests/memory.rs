//! Upload memory does not grow with file size: a 200 MiB image streamed to the
//! real binary keeps its peak RSS under 64 MiB, and the bytes arrive intact.

use crate::support::*;
use reqwest::StatusCode;

/// A valid 24-bit BMP header for `w` x `h` pixels (BITMAPINFOHEADER).
fn bmp_header(w: u32, h: u32) -> Vec<u8> {
    let row = (w * 3).div_ceil(4) * 4;
    let pixels = row * h;
    let mut b = Vec::with_capacity(54);
    b.extend(b"BM");
    b.extend((54 + pixels).to_le_bytes());
    b.extend([0u8; 4]);
    b.extend(54u32.to_le_bytes());
    b.extend(40u32.to_le_bytes());
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(24u16.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend(pixels.to_le_bytes());
    b.extend(2835u32.to_le_bytes());
    b.extend(2835u32.to_le_bytes());
    b.extend([0u8; 8]);
    b
}

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
    let res = client()
        .post(format!("{}/api/upload?filename=huge.bmp", app.base))
        .bearer_auth(&app.upload_key)
        .header("Content-Type", "image/bmp")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
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
