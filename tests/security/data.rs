//! Round 2, the data side (SECURITY.md §2): what an upload may leave behind and
//! what the files at rest give away.
//! - A44: location hidden in PNG text chunks, JPEG XMP/IPTC or WebP XMP is removed
//!   in `gps` mode, and `metadataStripped` names only what was removed.
//! - A47: the storage quota charges what an upload really costs (blocks, rows,
//!   names), and an image-count cap holds per uploader and overall.
//! - A48: an empty or unknown `private` value (field or header) is a 400, never
//!   a silent public upload.
//! - A49: `/metrics` answers only loopback clients that came through no proxy
//!   (or the token), and the upload answer is the same whether the bytes existed.
//! - A50: the data dir, database, blobs and backups are private to the owner
//!   whatever the umask, and the database alone does not open private images.
//! - A53: `restore` refuses an archive whose manifest has an endless line, with
//!   bounded memory.

use super::*;

/// An upload request with extra header lines (each ending in `\r\n`).
fn upload_with_headers(app: &TestApp, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST /api/upload HTTP/1.1\r\nHost: pixbin.test\r\nAuthorization: Bearer {}\r\n{extra}Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
        app.upload_key,
        form_type(),
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// A48: blank and unknown spellings of `private`, as a form field or as the
/// `X-Pixbin-Private` header, are refused with a 400 naming the option, and
/// nothing is stored, even where the default would have been private.
#[tokio::test]
async fn a48_empty_or_unknown_private_value_is_refused() {
    let app = spawn_app_with(|c| c.private_by_default = true).await;
    let img = bmp_filled(2, 2, 7);
    for bad in ["", " ", "maybe", "tru", "null", "2"] {
        let body = form(&[
            RawPart::text("private", bad),
            RawPart::file("file", "a.bmp", &img),
        ]);
        let res = roundtrip(app.addr, form_upload_request(&app, &body));
        assert_error(res.status, &res.body, 400, "invalid_request");
        let msg = res.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains("private"), "field {bad:?}: {msg}");
        let only_file = form(&[RawPart::file("file", "a.bmp", &img)]);
        let res = roundtrip(
            app.addr,
            upload_with_headers(&app, &format!("X-Pixbin-Private: {bad}\r\n"), &only_file),
        );
        assert_error(res.status, &res.body, 400, "invalid_request");
        let msg = res.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains("X-Pixbin-Private"), "header {bad:?}: {msg}");
    }
    assert_no_store(&app);
    // The documented spellings still work, in any case.
    for (v, private) in [("TRUE", true), ("no", false), ("1", true), ("Off", false)] {
        let res = app
            .upload_with(img.clone(), "a.bmp", &[("private", v)])
            .await;
        assert_eq!(res.status(), 200, "{v}");
        let j: serde_json::Value = res.json().await.unwrap();
        assert_eq!(j["isPrivate"], private, "{v}");
    }
}

/// GET /metrics over a raw socket with extra header lines.
fn metrics_request(extra: &str) -> Vec<u8> {
    format!("GET /metrics HTTP/1.1\r\nHost: pixbin.test\r\n{extra}Connection: close\r\n\r\n")
        .into_bytes()
}

/// A49: without a token `/metrics` answers only a loopback peer that relays
/// nobody: a request a same-host reverse proxy forwards (any forwarding header),
/// or one from a configured trusted proxy, is 403. With a token, the token
/// decides. The upload answer is the same whether or not the bytes were already
/// stored, quota refusals included.
#[tokio::test]
async fn a49_metrics_are_local_only_and_uploads_do_not_reveal_dedup() {
    let app = spawn_app().await;
    let res = roundtrip(app.addr, metrics_request(""));
    assert_eq!(res.status, 200, "a local scraper is served");
    assert!(String::from_utf8_lossy(&res.body).contains("pixbin_storage_bytes"));
    for fwd in [
        "X-Forwarded-For: 203.0.113.9\r\n",
        "Forwarded: for=203.0.113.9\r\n",
        "X-Real-IP: 203.0.113.9\r\n",
        "X-Forwarded-Proto: https\r\n",
        "Via: 1.1 proxy\r\n",
    ] {
        let res = roundtrip(app.addr, metrics_request(fwd));
        assert_error(res.status, &res.body, 403, "forbidden");
        assert!(!String::from_utf8_lossy(&res.body).contains("pixbin_"));
    }
    drop(app);

    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let res = roundtrip(app.addr, metrics_request(""));
    assert_error(res.status, &res.body, 403, "forbidden");
    drop(app);

    let app =
        spawn_app_with(|c| c.metrics_token = Some(pixbin::secret::Secret::new("scrape-token-123")))
            .await;
    let res = roundtrip(app.addr, metrics_request(""));
    assert_error(res.status, &res.body, 401, "unauthorized");
    let res = roundtrip(
        app.addr,
        metrics_request(
            "Authorization: Bearer scrape-token-123\r\nX-Forwarded-For: 203.0.113.9\r\n",
        ),
    );
    assert_eq!(res.status, 200);
    drop(app);

    // The answer to a first upload and to a duplicate have the same shape and
    // the same uploader-visible values.
    let app = spawn_app().await;
    let img = bmp_filled(8, 8, 3);
    let first = app.upload_ok(img.clone(), "one.bmp").await;
    let again = app.upload_ok(img.clone(), "one.bmp").await;
    let (a, b) = (upload_shape(&first), upload_shape(&again));
    assert_eq!(a, b, "a duplicate's answer differs from a first upload's");
    drop(app);

    // Near the quota, a duplicate is refused exactly like new bytes of its
    // size: whether it fits does not depend on what is stored.
    let cost = pixbin::store::quota::upload_cost(img.len() as u64);
    let app = spawn_app_with(|c| c.max_storage_bytes = Some(cost + cost / 2)).await;
    app.upload_ok(img.clone(), "one.bmp").await;
    let dup = app.upload(img.clone(), "dup.bmp").await;
    let (s, body) = (dup.status().as_u16(), dup.bytes().await.unwrap());
    assert_error(s, &body, 400, "storage_full");
    let other = app.upload(bmp_filled(8, 8, 4), "other.bmp").await;
    let (s2, body2) = (other.status().as_u16(), other.bytes().await.unwrap());
    assert_error(s2, &body2, 400, "storage_full");
    assert_eq!(body, body2);
}

/// Bytes a directory tree takes on disk (allocated blocks), files and directories.
fn disk_usage(p: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap();
    let mut n = m.blocks() * 512;
    if m.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            n += disk_usage(&e.unwrap().path());
        }
    }
    n
}

/// Uploads each (bytes, name) in turn until one is refused, which must be
/// for `storage_full`; returns how many were accepted.
async fn uploads_until_full(app: &TestApp, files: impl Iterator<Item = (Vec<u8>, String)>) -> u64 {
    let mut accepted = 0;
    for (bytes, name) in files {
        let res = app.upload(bytes, &name).await;
        let (s, body) = (res.status().as_u16(), res.bytes().await.unwrap());
        if s != 200 {
            assert_error(s, &body, 400, "storage_full");
            break;
        }
        accepted += 1;
    }
    accepted
}

/// A47: the quota charges blocks and rows, not only distinct bytes, so neither
/// the same file under many long names nor many tiny distinct files gets past
/// it; what is charged covers what the blobs take on disk; and the image-count
/// caps (overall and per upload key) hold with `image_limit`, across a restart.
#[tokio::test]
async fn a47_quota_counts_rows_names_and_blocks() {
    use pixbin::store::quota::{ROW_OVERHEAD, charged, upload_cost};
    let tiny = bmp_filled(1, 1, 9);
    let quota = 64 * 1024;
    let app = spawn_app_with(|c| c.max_storage_bytes = Some(quota)).await;
    // The same bytes under long names: each row is charged, so the quota ends it.
    let long = format!("{}.bmp", "n".repeat(250));
    let accepted = uploads_until_full(&app, (0..64).map(|_| (tiny.clone(), long.clone()))).await;
    let want = (quota - upload_cost(tiny.len() as u64)) / ROW_OVERHEAD + 1;
    assert!(
        accepted <= want,
        "{accepted} duplicates fitted in {quota} bytes"
    );
    assert!(accepted >= 2, "the quota left no room for a duplicate row");
    assert_eq!(app.totals().images, accepted);
    drop(app);

    // Many tiny distinct files: charged at least what they take on disk.
    let app = spawn_app_with(|c| c.max_storage_bytes = Some(quota)).await;
    let accepted = uploads_until_full(
        &app,
        (0..64u8).map(|i| (bmp_filled(1, 1, i), format!("{i}.bmp"))),
    )
    .await;
    assert!((1..64).contains(&accepted), "accepted {accepted}");
    let t = app.totals();
    let charged_now = app.state.store.quota_used().unwrap();
    assert_eq!(charged_now, charged(t.bytes_stored, accepted, t.images));
    assert!(charged_now <= quota);
    let blobs = disk_usage(&app.dir.path().join("blobs"));
    assert!(
        charged_now >= blobs,
        "charged {charged_now} bytes for {blobs} bytes of blobs on disk"
    );
    drop(app);

    // Image-count caps: per upload key, then overall; both survive a restart.
    let mut app = spawn_app_with(|c| c.max_images_per_key = Some(3)).await;
    for i in 0..3u8 {
        app.upload_ok(bmp_filled(2, 2, i), "k.bmp").await;
    }
    let res = app.upload(bmp_filled(2, 2, 9), "k.bmp").await;
    let (s, body) = (res.status().as_u16(), res.bytes().await.unwrap());
    assert_error(s, &body, 400, "image_limit");
    // A duplicate is a new row too.
    let res = app.upload(bmp_filled(2, 2, 0), "k.bmp").await;
    assert_eq!(res.status(), 400);
    app = app.restart(|c| c.max_images_per_key = Some(3)).await;
    let res = app.upload(bmp_filled(2, 2, 9), "k.bmp").await;
    assert_eq!(res.status(), 400, "the count was lost in a restart");
    // Another uploader (a logged-in user) has a count of its own.
    app.login_admin().await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bmp_filled(2, 2, 9)).file_name("u.bmp"),
    );
    let res = app
        .with_csrf(reqwest::Method::POST, "/api/upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Deleting frees a place.
    let list: serde_json::Value = app.get_json("/api/list").await;
    let victim = list["images"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|i| i["filename"] == "k.bmp")
        .unwrap()
        .clone();
    assert_eq!(app.delete_image(&victim).await.status(), 200);
    app.upload_ok(bmp_filled(2, 2, 9), "k.bmp").await;
    drop(app);

    let app = spawn_app_with(|c| c.max_images = Some(2)).await;
    app.upload_ok(bmp_filled(2, 2, 1), "a.bmp").await;
    app.upload_ok(bmp_filled(2, 2, 1), "b.bmp").await;
    let res = app.upload(bmp_filled(2, 2, 2), "c.bmp").await;
    let (s, body) = (res.status().as_u16(), res.bytes().await.unwrap());
    assert_error(s, &body, 400, "image_limit");
    assert_eq!(app.totals().images, 2);
}

/// A53: an archive whose manifest is one 300 MB line is refused quickly with a
/// clear message, by a `restore` held to 256 MiB of address space (reading the
/// line whole would need more), leaving nothing behind.
#[test]
fn a53_restore_refuses_an_endless_manifest_line_with_bounded_memory() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("evil.tar");
    let line = 300u64 * 1024 * 1024;
    let head = format!("{}\n", pixbin::ops::archive::FORMAT);
    {
        let out = std::io::BufWriter::new(std::fs::File::create(&archive).unwrap());
        let mut tar = tar::Builder::new(out);
        let mut h = tar::Header::new_ustar();
        h.set_size(head.len() as u64 + line);
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        let data = head.as_bytes().chain(std::io::repeat(b'a').take(line));
        tar.append_data(&mut h, "pixbin-backup/MANIFEST", data)
            .unwrap();
        tar.into_inner().unwrap();
    }
    let target = tmp.path().join("restored");
    let started = Instant::now();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 262144 && exec \"$0\" restore \"$1\" --data-dir \"$2\"")
        .arg(env!("CARGO_BIN_EXE_pixbin"))
        .arg(&archive)
        .arg(&target)
        .env("PIXBIN_LOG", "warn")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "not a clean refusal: {stderr}");
    assert!(stderr.contains("longer than"), "{stderr}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert!(!target.exists(), "restore left {}", target.display());
}

fn zlib(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

/// `tEXt` / `zTXt` / `iTXt` (uncompressed or compressed) chunk data.
fn text_chunk(kind: &[u8; 4], keyword: &str, text: &[u8]) -> Vec<u8> {
    let mut d = keyword.as_bytes().to_vec();
    d.push(0);
    match kind {
        b"tEXt" => d.extend(text),
        b"zTXt" => {
            d.push(0);
            d.extend(zlib(text));
        }
        b"iTXt" => {
            d.extend([0, 0, 0, 0]);
            d.extend(text);
        }
        _ => unreachable!(),
    }
    png_chunk(kind, &d)
}

/// A compressed `iTXt` chunk.
fn itxt_z(keyword: &str, text: &[u8]) -> Vec<u8> {
    let mut d = keyword.as_bytes().to_vec();
    d.extend([0, 1, 0, 0, 0]);
    d.extend(zlib(text));
    png_chunk(b"iTXt", &d)
}

/// ImageMagick's raw profile text: type, length, then hex in 72-digit lines.
fn raw_profile(kind: &str, data: &[u8]) -> Vec<u8> {
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    let mut t = format!("\n{kind}\n{:8}\n", data.len());
    for line in hex.as_bytes().chunks(72) {
        t.push_str(std::str::from_utf8(line).unwrap());
        t.push('\n');
    }
    t.into_bytes()
}

fn xmp(props: &str) -> Vec<u8> {
    format!(
        "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description rdf:about='' {props}/></rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
    )
    .into_bytes()
}

/// IPTC IIM dataset 2:`n`, wrapped as Photoshop's IPTC resource.
fn iptc(datasets: &[(u8, &str)]) -> Vec<u8> {
    let mut iim = Vec::new();
    for (n, v) in datasets {
        iim.extend([0x1c, 2, *n]);
        iim.extend((v.len() as u16).to_be_bytes());
        iim.extend(v.as_bytes());
    }
    let mut irb = b"Photoshop 3.0\08BIM\x04\x04\0\0".to_vec();
    irb.extend((iim.len() as u32).to_be_bytes());
    irb.extend(&iim);
    if iim.len() % 2 == 1 {
        irb.push(0);
    }
    irb
}

fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff, marker];
    v.extend(((payload.len() + 2) as u16).to_be_bytes());
    v.extend(payload);
    v
}

/// A JPEG with `segments` right after SOI.
fn jpeg_with(base: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    [base[..2].to_vec(), segments.concat(), base[2..].to_vec()].concat()
}

/// The payload of the first APP1 Exif segment of a JPEG.
fn exif_payload(jpeg: &[u8]) -> Vec<u8> {
    let mut pos = 2;
    loop {
        assert_eq!(jpeg[pos], 0xff);
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        let data = &jpeg[pos + 4..pos + 2 + len];
        if jpeg[pos + 1] == 0xe1 && data.starts_with(b"Exif\0\0") {
            return data.to_vec();
        }
        pos += 2 + len;
    }
}

/// A VP8X WebP around a lossless bitstream, with extra chunks after it.
fn webp_with(vp8l: &[u8], flags: u8, extra: &[Vec<u8>]) -> Vec<u8> {
    let bits = u32::from_le_bytes(vp8l[9..13].try_into().unwrap());
    let (w, h) = ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
    let alpha = if bits >> 28 & 1 == 1 { 0x10 } else { 0 };
    let mut x = vec![flags | alpha, 0, 0, 0];
    x.extend(&(w - 1).to_le_bytes()[..3]);
    x.extend(&(h - 1).to_le_bytes()[..3]);
    let mut body = b"WEBPVP8X".to_vec();
    body.extend(10u32.to_le_bytes());
    body.extend(x);
    body.extend(vp8l);
    for c in extra {
        body.extend(c);
    }
    let mut out = b"RIFF".to_vec();
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// Uploads `bytes` (default `gps` mode); returns the stored bytes and
/// `metadataStripped`.
async fn stored(app: &TestApp, bytes: Vec<u8>, name: &str) -> (Vec<u8>, Vec<String>) {
    let j = app.upload_ok(bytes, name).await;
    let got = fetch_bytes(j["url"].as_str().unwrap()).await;
    let stripped = j["metadataStripped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (got, stripped)
}

/// A44: every container a place can hide in is cleaned in the default `gps`
/// mode: PNG `tEXt`/`zTXt`/`iTXt` (ImageMagick `exif:GPS…` entries and raw
/// profiles, XMP plain or compressed), JPEG XMP and IPTC, WebP `XMP ` (with the
/// VP8X flag and RIFF size kept right). The stored file is exactly the upload
/// without the offending blocks; blocks that name no place stay byte for byte,
/// and `metadataStripped` says `gps` only when a place was removed.
#[tokio::test]
async fn a44_location_in_text_chunks_xmp_and_iptc_is_removed() {
    // `gps` is the production default; test configs store bytes as sent.
    let app = spawn_app_with(|c| c.strip_metadata = pixbin::media::strip::StripMode::Gps).await;
    let gps_exif = exif_payload(&fixture("real/rocket-gps.jpg"));

    // PNG.
    let logo = fixture("real/logo.png");
    let (plain, none) = stored(&app, logo.clone(), "plain.png").await;
    assert_eq!((plain.as_slice(), none.len()), (logo.as_slice(), 0));
    let keep = vec![
        text_chunk(b"tEXt", "date:create", b"2026-01-01T00:00:00+00:00"),
        text_chunk(b"zTXt", "Comment", b"a harbour at dusk, high velocity"),
        text_chunk(
            b"iTXt",
            "XML:com.adobe.xmp",
            &xmp("xmp:CreatorTool='pixbin test'"),
        ),
        text_chunk(
            b"zTXt",
            "Raw profile type iptc",
            &raw_profile("iptc", &iptc(&[(120, "caption")])[14..]),
        ),
    ];
    let kept = png_with(&logo, &keep);
    let (got, why) = stored(&app, kept.clone(), "kept.png").await;
    assert_eq!(why, Vec::<String>::new(), "nothing to remove");
    assert!(got == kept, "a clean PNG was changed");
    let hostile: Vec<Vec<u8>> = vec![
        text_chunk(b"tEXt", "exif:GPSLatitude", b"52/1, 31/1, 0/1"),
        text_chunk(b"tEXt", "exif:GPSLongitude", b"13/1, 24/1, 0/1"),
        text_chunk(
            b"zTXt",
            "Raw profile type exif",
            &raw_profile("exif", &gps_exif),
        ),
        text_chunk(
            b"tEXt",
            "Raw profile type APP1",
            &raw_profile("APP1", &gps_exif),
        ),
        text_chunk(
            b"iTXt",
            "XML:com.adobe.xmp",
            &xmp("exif:GPSLatitude='52,31.0N'"),
        ),
        itxt_z("XML:com.adobe.xmp", &xmp("exif:GPSLongitude='13,24.0E'")),
        text_chunk(
            b"iTXt",
            "XML:com.adobe.xmp",
            &xmp("photoshop:City='Berlin'"),
        ),
        text_chunk(
            b"zTXt",
            "Raw profile type xmp",
            &raw_profile("xmp", &xmp("Iptc4xmpCore:Location='Mitte'")),
        ),
        text_chunk(
            b"zTXt",
            "Raw profile type iptc",
            &raw_profile("iptc", &iptc(&[(90, "Berlin")])[14..]),
        ),
        text_chunk(b"tEXt", "Description", b"GPS 52.5200 N, 13.4050 E"),
    ];
    for (i, chunk) in hostile.iter().enumerate() {
        let (got, why) = stored(
            &app,
            png_with(&logo, &[keep.clone(), vec![chunk.clone()]].concat()),
            "h.png",
        )
        .await;
        assert!(
            got == kept,
            "PNG case {i}: the location chunk stayed or more went ({} vs {} bytes, {why:?})",
            got.len(),
            kept.len()
        );
        assert!(why.contains(&"gps".to_string()), "PNG case {i}: {why:?}");
    }

    // JPEG: XMP (plain and extended) and IPTC.
    let rocket = fixture("real/rocket.jpg");
    let (base, base_why) = stored(&app, rocket.clone(), "r.jpg").await;
    let caption = jpeg_segment(0xed, &iptc(&[(120, "a caption")]));
    let clean_xmp = jpeg_segment(
        0xe1,
        &[
            &b"http://ns.adobe.com/xap/1.0/\0"[..],
            &xmp("xmp:Rating='3'"),
        ]
        .concat(),
    );
    let (clean, why) = stored(
        &app,
        jpeg_with(&rocket, &[caption.clone(), clean_xmp.clone()]),
        "c.jpg",
    )
    .await;
    assert_eq!(why, base_why);
    assert!(
        clean == jpeg_with(&base, &[caption.clone(), clean_xmp.clone()]),
        "clean JPEG blocks changed"
    );
    for seg in [
        jpeg_segment(
            0xe1,
            &[
                &b"http://ns.adobe.com/xap/1.0/\0"[..],
                &xmp("exif:GPSLatitude='52,31.0N'"),
            ]
            .concat(),
        ),
        jpeg_segment(
            0xe1,
            &[
                &b"http://ns.adobe.com/xap/1.0/\0"[..],
                &xmp("Iptc4xmpExt:LocationShown='x'"),
            ]
            .concat(),
        ),
        jpeg_segment(0xed, &iptc(&[(120, "caption"), (101, "Germany")])),
        jpeg_segment(0xed, &iptc(&[(92, "Mitte")])),
    ] {
        let (got, why) = stored(&app, jpeg_with(&rocket, &[caption.clone(), seg]), "h.jpg").await;
        assert!(
            got == jpeg_with(&base, std::slice::from_ref(&caption)),
            "JPEG location block stayed"
        );
        assert!(why.contains(&"gps".to_string()), "{why:?}");
    }

    // WebP: an `XMP ` chunk naming a place goes, its VP8X flag with it.
    let webp = fixture("real/logo-lossless.webp");
    let vp8l = &webp[12..];
    let bare = webp_with(vp8l, 0, &[]);
    let clean = webp_with(vp8l, 0x04, &[riff_chunk(b"XMP ", &xmp("xmp:Rating='3'"))]);
    let (got, why) = stored(&app, clean.clone(), "c.webp").await;
    assert!(
        got == clean && why.is_empty(),
        "a clean WebP was changed: {why:?}"
    );
    let placed = webp_with(
        vp8l,
        0x04,
        &[riff_chunk(b"XMP ", &xmp("photoshop:Country='DE'"))],
    );
    let (got, why) = stored(&app, placed, "h.webp").await;
    assert!(
        got == bare,
        "the WebP XMP chunk stayed, or the flags/size are off"
    );
    assert_eq!(why, vec!["gps"]);
}

/// Every directory and file under `root`, with its permission bits.
fn modes(root: &std::path::Path) -> Vec<(String, bool, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.push((
            p.display().to_string(),
            m.is_dir(),
            m.permissions().mode() & 0o7777,
        ));
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

#[track_caller]
fn assert_owner_only(root: &std::path::Path) {
    let all = modes(root);
    assert!(
        all.len() > 3,
        "nothing was written under {}",
        root.display()
    );
    for (path, dir, mode) in all {
        let want = if dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{path} has mode {mode:o}");
    }
}

/// Runs the binary through `sh` with umask 000, so only explicit modes count.
fn pixbin_umask0(args: &[&std::ffi::OsStr]) -> std::process::Command {
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pixbin"))
        .args(args)
        .env("PIXBIN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PIXBIN_LOG", "warn")
        .env("PIXBIN_STRIP_METADATA", "gps");
    c
}

/// A server started with umask 000: (child, base URL, upload key).
fn serve_umask0(dir: &std::path::Path) -> (std::process::Child, String, String) {
    use std::io::BufRead;
    let mut child = pixbin_umask0(&[
        "serve".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = String::new();
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(k) = line.strip_prefix("created upload key: ") {
            key = k.trim().to_string();
        }
        if let Some(u) = line.strip_prefix("pixbin listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base, key)
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// The raw private key of an image URL's `?key=`.
fn key_of(url: &str) -> Vec<u8> {
    use base64::Engine;
    let k = url.split("key=").nth(1).expect("a private URL");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(k)
        .unwrap()
}

fn holds(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A50: with umask 000, the data dir and everything in it (database, key
/// file, identity marker, blobs and their fan-out directories, temp dir,
/// control file, GC's trash/, blobs put back by `repair`), a `backup --out`
/// archive and a restored data dir are owner-only. The database
/// alone does not hold a private image's key: a copy of it without
/// `pixbin.key` is refused, and the restored copy (which the archive gives
/// the key file) still opens the private link.
#[tokio::test]
async fn a50_data_and_backups_are_owner_only_and_the_database_alone_opens_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (server, base, key) = serve_umask0(&data);
    let up = |private: &'static str, fill: u8| {
        let (base, key) = (base.clone(), key.clone());
        async move {
            let form = reqwest::multipart::Form::new()
                .text("private", private)
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(bmp_filled(9, 9, fill)).file_name("p.bmp"),
                );
            let res = client()
                .post(format!("{base}/api/upload"))
                .bearer_auth(key)
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let public = up("false", 1).await;
    let private = up("true", 2).await;
    let url = private["url"].as_str().unwrap().to_string();
    let secret = key_of(&url);
    // The thumbnail is a blob written by the server too.
    let thumb = private["thumbnail_url"].as_str().unwrap().to_string();
    assert_eq!(fetch(&thumb).await.status(), 200);
    assert_owner_only(&data);

    let db = std::fs::read(data.join("pixbin.redb")).unwrap();
    assert!(!holds(&db, &secret), "the database holds the private key");
    // The database copied alone does not open.
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::write(copy.join("pixbin.redb"), &db).unwrap();
    let err = pixbin::store::Store::open(&copy).unwrap_err().to_string();
    assert!(err.contains("pixbin.key"), "{err}");

    // A backup through the running server, then a restore, both under umask 000.
    let archive = tmp.path().join("out").join("b.tar");
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let quiet_ok = |args: &[&std::ffi::OsStr]| {
        let st = pixbin_umask0(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{args:?}");
    };
    quiet_ok(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        archive.as_os_str(),
    ]);
    let path_of = |p: &std::path::Path| p.display().to_string();
    let archive_mode = modes(&archive);
    assert_eq!(archive_mode, vec![(path_of(&archive), false, 0o600)]);
    stop(server);

    // What the integrity commands write is owner-only too: GC's quarantine
    // (trash/ and what it holds), a blob `repair` puts back, `adopt`.
    let run = |args: &[&str]| {
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.extend(["--data-dir".as_ref(), data.as_os_str()]);
        let o = pixbin_umask0(&all).output().unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
    };
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let bytes = b"an orphan blob";
        let h = pixbin::store::blobs::hex(blake3::hash(bytes).as_bytes());
        let fan = data.join("blobs").join(&h[..2]).join(&h[2..4]);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&fan)
            .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(fan.join(&h))
            .unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
    }
    run(&["gc", "--grace", "0s"]);
    assert!(data.join("trash").is_dir(), "nothing was quarantined");
    let h = public["hash"].as_str().unwrap();
    let blob = data.join("blobs").join(&h[..2]).join(&h[2..4]).join(h);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(10)
        .unwrap();
    run(&["repair", "--from", archive.to_str().unwrap()]);
    assert_eq!(std::fs::read(&blob).unwrap(), bmp_filled(9, 9, 1));
    assert_owner_only(&data);
    run(&["adopt", "--trash"]);
    assert_owner_only(&data);

    let restored = tmp.path().join("restored");
    quiet_ok(&[
        "restore".as_ref(),
        archive.as_os_str(),
        "--data-dir".as_ref(),
        restored.as_os_str(),
    ]);
    assert_owner_only(&restored);
    let (server, base2, _) = serve_umask0(&restored);
    let path = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let res = fetch(format!("{base2}/{path}")).await;
    assert_eq!(res.status(), 200, "the restored private link does not open");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bmp_filled(9, 9, 2));
    stop(server);
}

/// A50: private links made before keys were sealed keep working after the
/// upgrade, and the first start seals them (the raw key leaves the database).
#[tokio::test]
async fn a50_keys_stored_in_the_clear_are_sealed_at_start_and_links_still_work() {
    use pixbin::store::codec::ImageRecord;
    use pixbin::store::meta::{ID_TO_IMAGE, NAME_TO_META};
    use redb::ReadableTable;
    let app = spawn_app().await;
    let img = app
        .upload_with_ok(bmp_filled(5, 5, 4), "old.bmp", &[("private", "true")])
        .await;
    let url = img["url"].as_str().unwrap().to_string();
    let id = img["id"].as_u64().unwrap();
    let secret: [u8; 16] = key_of(&url).try_into().unwrap();
    // Make it what an older pixbin left: the key in the clear, no key file.
    let app = app
        .restart(|c| {
            let db = redb::Database::create(c.data_dir.join("pixbin.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(ID_TO_IMAGE).unwrap();
                let mut rec = ImageRecord::decode(t.get(id).unwrap().unwrap().value()).unwrap();
                rec.private_key = Some(secret);
                t.insert(id, rec.encode().as_slice()).unwrap();
                txn.open_table(NAME_TO_META)
                    .unwrap()
                    .remove("keys_sealed")
                    .unwrap();
            }
            txn.commit().unwrap();
            drop(db);
            std::fs::remove_file(c.data_dir.join("pixbin.key")).unwrap();
            let legacy = std::fs::read(c.data_dir.join("pixbin.redb")).unwrap();
            assert!(
                holds(&legacy, &secret),
                "the setup did not store the key in the clear"
            );
        })
        .await;
    // The restarted server has a new port; the path and key are what count.
    let path = |u: &str| {
        u.split_once("://")
            .unwrap()
            .1
            .split_once('/')
            .unwrap()
            .1
            .to_string()
    };
    let res = fetch(app.url(&format!("/{}", path(&url)))).await;
    assert_eq!(res.status(), 200, "an old private link broke");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bmp_filled(5, 5, 4));
    let page: serde_json::Value = {
        let mut app2 = app;
        app2.login_admin().await;
        let v = app2.get_json(&format!("/api/images/{id}")).await;
        let db = std::fs::read(app2.dir.path().join("pixbin.redb")).unwrap();
        assert!(!holds(&db, &secret), "the key is still in the clear");
        assert!(app2.dir.path().join("pixbin.key").exists());
        v
    };
    assert_eq!(
        path(page["url"].as_str().unwrap()),
        path(&url),
        "the API no longer gives the working link"
    );
}
