//! Media handling as a user sees it:
//! - a phone photo with a location loses its GPS tags by default, keeps its
//!   orientation (still displays upright) and its exact pixel data, and the
//!   upload response says what was removed; `all` keeps only the orientation,
//!   `none` stores the bytes untouched;
//! - every real image gets a thumbnail of at most 320 px (JPEG, or WebP with
//!   transparency), upright, recorded on the image; an animated GIF's thumbnail
//!   is its first frame;
//! - a private image's thumbnail needs its key (or a session on the proxy
//!   route); deleting the last image that uses a thumbnail frees it;
//! - a motion photo keeps its photo and loses the video appended to it;
//! - images without a thumbnail get one on first request or from the backfill;
//! - pixel bombs and a truncated PNG are refused while the server's peak
//!   memory stays under 64 MiB.

use std::io::Cursor;

use crate::support::*;
use image::AnimationDecoder;
use pixbin::config::Config;
use pixbin::media::strip::StripMode;
use reqwest::StatusCode;
use serde_json::Value;

/// The bytes from the first SOS marker on: the entropy-coded scan data.
#[track_caller]
fn scan_data(jpeg: &[u8]) -> &[u8] {
    let mut pos = 2;
    loop {
        assert_eq!(jpeg[pos], 0xff, "marker expected at {pos}");
        let code = jpeg[pos + 1];
        if code == 0xda {
            return &jpeg[pos..];
        }
        pos += 2 + u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
    }
}

fn exif_of(bytes: &[u8]) -> exif::Exif {
    exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .expect("EXIF readable")
}

fn orientation(e: &exif::Exif) -> Option<u32> {
    e.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
}

async fn get_bytes(url: &str) -> (StatusCode, String, Vec<u8>) {
    let res = fetch(url).await;
    let status = res.status();
    let ct = content_type(&res).to_string();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

async fn app_with_strip(mode: StripMode) -> TestApp {
    spawn_app_with(|c: &mut Config| c.strip_metadata = mode).await
}

#[tokio::test]
async fn gps_is_stripped_by_default_with_orientation_and_pixels_kept() {
    let app = app_with_strip(StripMode::Gps).await;
    let original = fixture("real/rocket-gps.jpg");
    let before = exif_of(&original);
    assert!(
        before.fields().any(|f| f.tag == exif::Tag::GPSLatitude),
        "fixture has GPS"
    );
    let img = app.upload_ok(original.clone(), "rocket-gps.jpg").await;
    assert_eq!(img["metadataStripped"], serde_json::json!(["gps"]));
    let (status, ct, served) = get_bytes(img["url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/jpeg"));
    // The stored hash and size are those of the stored bytes.
    assert_eq!(img["hash"], blake3::hash(&served).to_hex().as_str());
    assert_eq!(img["size"].as_u64().unwrap(), served.len() as u64);
    assert_ne!(served, original);

    let after = exif_of(&served);
    let gps: Vec<_> = after
        .fields()
        .filter(|f| f.tag.context() == exif::Context::Gps)
        .map(|f| f.tag)
        .collect();
    assert!(gps.is_empty(), "GPS tags left: {gps:?}");
    assert_eq!(orientation(&after), Some(6));
    // Camera make and the date stay: only location and identity go.
    let make = after
        .get_field(exif::Tag::Make, exif::In::PRIMARY)
        .unwrap()
        .display_value()
        .to_string();
    assert!(make.contains("TestCam"), "{make}");
    // Pixels identical: the entropy-coded data is byte for byte the original.
    assert_eq!(scan_data(&served), scan_data(&original));
    // The coordinates are gone from the bytes, not only unlinked.
    let lat = before
        .get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
        .unwrap();
    if let exif::Value::Rational(r) = &lat.value {
        let degrees = r[0].num.to_be_bytes();
        let mut needle = degrees.to_vec();
        needle.extend(r[0].denom.to_be_bytes());
        assert!(!served.windows(8).any(|w| w == needle.as_slice()));
    }
}

#[tokio::test]
async fn strip_all_keeps_only_orientation_and_none_keeps_everything() {
    let original = fixture("real/rocket-gps.jpg");

    let app = app_with_strip(StripMode::All).await;
    let img = app.upload_ok(original.clone(), "rocket-gps.jpg").await;
    assert_eq!(
        img["metadataStripped"],
        serde_json::json!(["gps", "exif", "comment"])
    );
    let (_, _, served) = get_bytes(img["url"].as_str().unwrap()).await;
    let after = exif_of(&served);
    assert_eq!(orientation(&after), Some(6));
    assert_eq!(after.fields().count(), 1, "only Orientation is left");
    assert_eq!(scan_data(&served), scan_data(&original));
    drop(app);

    let app = app_with_strip(StripMode::None).await;
    let img = app.upload_ok(original.clone(), "rocket-gps.jpg").await;
    assert_eq!(img["metadataStripped"], serde_json::json!([]));
    let (_, _, served) = get_bytes(img["url"].as_str().unwrap()).await;
    assert_eq!(served, original);
}

/// A phone's motion photo (the JPEG, then a video appended after its
/// end-of-image marker) is accepted as the photo alone in every strip mode:
/// the video, which can carry its own location, is never stored or served.
#[tokio::test]
async fn motion_photo_trailers_are_cut_in_every_mode() {
    let photo = fixture("real/rocket.jpg");
    let mut upload = photo.clone();
    // An MP4 header, a "location" atom and bytes that look like JPEG markers.
    upload.extend_from_slice(b"\0\0\0\x18ftypmp42\0\0\0\0isommp42");
    upload.extend_from_slice(b"\0\0\0\x1c\xa9xyz+59.3293+018.0686/");
    upload.extend_from_slice(&[0xff, 0xd8, 0xff, 0xd9]);
    upload.extend(std::iter::repeat_n(0x5a, 200_000));
    for mode in [StripMode::Gps, StripMode::All, StripMode::None] {
        let app = app_with_strip(mode).await;
        let img = app.upload_ok(upload.clone(), "motion.jpg").await;
        let stripped = img["metadataStripped"].as_array().unwrap();
        assert!(
            stripped.contains(&"trailer".into()),
            "{mode:?}: {stripped:?}"
        );
        let (status, ct, served) = get_bytes(img["url"].as_str().unwrap()).await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/jpeg"));
        assert!(!served.windows(8).any(|w| w == b"+59.3293"), "{mode:?}");
        assert!(served.ends_with(&[0xff, 0xd9]));
        assert_eq!(img["size"].as_u64().unwrap(), served.len() as u64);
        assert_eq!(img["hash"], blake3::hash(&served).to_hex().as_str());
        assert_eq!(scan_data(&served), scan_data(&photo));
        if mode == StripMode::None {
            // Nothing but the trailer goes: the photo is stored byte for byte.
            assert_eq!(served, photo);
        }
        assert_eq!(
            (img["width"].as_u64(), img["height"].as_u64()),
            (Some(640), Some(427))
        );
    }
}

/// (fixture, thumbnail content type, width, height) — a thumbnail is at most
/// 320 px on its long side, never enlarged, and upright. Every fixture is
/// opaque (logo.png and logo.ico carry an alpha channel that is all 255), so
/// all are JPEG; the WebP path for real transparency is a unit test in
/// `media::thumbnail`.
const THUMBS: &[(&str, &str, u32, u32)] = &[
    ("astronaut.png", "image/jpeg", 320, 320),
    ("chelsea.bmp", "image/jpeg", 320, 213),
    ("chelsea.png", "image/jpeg", 320, 213),
    ("coffee.png", "image/jpeg", 320, 213),
    ("coffee.webp", "image/jpeg", 320, 213),
    ("hubble_deep_field.jpg", "image/jpeg", 320, 279),
    ("logo-lossless.webp", "image/jpeg", 320, 320),
    ("logo.ico", "image/jpeg", 48, 48),
    ("logo.png", "image/jpeg", 320, 320),
    ("no_time_for_that_tiny.gif", "image/jpeg", 14, 25),
    // Stored 640x427 with Orientation 6: upright it is a portrait.
    ("rocket-gps.jpg", "image/jpeg", 214, 320),
    ("rocket.jpg", "image/jpeg", 320, 214),
];

#[tokio::test]
async fn every_real_image_gets_a_small_thumbnail_after_upload() {
    let app = spawn_app_with(|c| c.thumbnail_on_upload = true).await;
    assert_eq!(
        fixture_names("real").len(),
        THUMBS.len(),
        "fixture list changed"
    );
    let mut got = Vec::new();
    for &(name, _, _, _) in THUMBS {
        let img = app.upload_ok(fixture(&format!("real/{name}")), name).await;
        let url = img["thumbnail_url"].as_str().unwrap();
        let uuid = img["uuid"].as_str().unwrap();
        let ext = img["extension"].as_str().unwrap();
        assert_eq!(url, format!("{}/thumb/{uuid}.{ext}", app.base));
        let (status, ct, bytes) = get_bytes(url).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let decoded = image::load_from_memory(&bytes).unwrap();
        // Recorded on the row, by the hash of the bytes served.
        let id = img["id"].as_u64().unwrap();
        let row = app.state.store.image(id).unwrap().unwrap();
        assert_eq!(
            row.record.thumbnail,
            Some(pixbin::store::blobs::BlobHash::of(&bytes)),
            "{name}"
        );
        got.push((name, ct, decoded.width(), decoded.height()));
    }
    let expected: Vec<_> = THUMBS
        .iter()
        .map(|&(n, c, w, h)| (n, c.to_string(), w, h))
        .collect();
    assert_eq!(got, expected);
}

/// Mean absolute difference of two RGB images of one size.
fn distance(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[tokio::test]
async fn an_animated_gif_thumbnail_is_its_first_frame() {
    let app = spawn_app().await;
    let gif = fixture("real/no_time_for_that_tiny.gif");
    let img = app.upload_ok(gif.clone(), "anim.gif").await;
    let (status, _, bytes) = get_bytes(img["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let thumb = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let frames: Vec<image::RgbImage> = image::codecs::gif::GifDecoder::new(Cursor::new(&gif))
        .unwrap()
        .into_frames()
        .map(|f| image::DynamicImage::ImageRgba8(f.unwrap().into_buffer()).to_rgb8())
        .collect();
    assert!(frames.len() > 1, "the fixture is animated");
    let d: Vec<f64> = frames.iter().map(|f| distance(&thumb, f)).collect();
    let closest = d
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert_eq!(closest, 0, "distances to each frame: {d:?}");
}

#[tokio::test]
async fn a_private_thumbnail_needs_the_key_or_a_session() {
    let mut app = spawn_app().await;
    let img = app
        .upload_with_ok(fixture("real/coffee.png"), "c.png", &[("private", "true")])
        .await;
    let url = img["thumbnail_url"].as_str().unwrap();
    assert!(url.contains("?key="), "{url}");
    let bare = url.split('?').next().unwrap();
    assert_eq!(get_bytes(bare).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get_bytes(&format!("{bare}?key=AAAAAAAAAAAAAAAAAAAAAA"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let res = fetch(url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let thumb = res.bytes().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", blake3::hash(&thumb).to_hex()));

    let proxy = format!(
        "{}/api/proxy/thumb/{}.png",
        app.base,
        img["uuid"].as_str().unwrap()
    );
    assert_eq!(fetch(&proxy).await.status(), StatusCode::UNAUTHORIZED);
    app.login_admin().await;
    let res = app.client.get(&proxy).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), thumb);
    // The wrong extension is as unknown as for the original.
    let wrong = bare.replace(".png", ".jpg");
    assert_eq!(
        get_bytes(&format!("{wrong}?key=x")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn shared_thumbnails_are_freed_with_the_last_image() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let bytes = fixture("real/rocket.jpg");
    let a = app.upload_ok(bytes.clone(), "a.jpg").await;
    let b = app.upload_ok(bytes.clone(), "b.jpg").await;
    for img in [&a, &b] {
        assert_eq!(
            get_bytes(img["thumbnail_url"].as_str().unwrap()).await.0,
            StatusCode::OK
        );
    }
    // One original and one thumbnail file, both shared.
    assert_eq!(app.files_on_disk(), (2, 0));
    let stored = app.totals().bytes_stored;
    assert!(
        stored > bytes.len() as u64,
        "the thumbnail counts as stored bytes"
    );
    for img in [&a, &b] {
        let res = app.delete_image(img).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    app.assert_empty_store();
}

#[tokio::test]
async fn the_backfill_makes_every_missing_thumbnail() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for name in ["logo.png", "rocket.jpg", "chelsea.bmp"] {
        let img = app.upload_ok(fixture(&format!("real/{name}")), name).await;
        ids.push(img["id"].as_u64().unwrap());
    }
    let store = app.state.store.clone();
    assert_eq!(store.images_without_thumbnail(0, 10).unwrap(), ids);
    let (made, failed) = tokio::task::spawn_blocking(move || {
        pixbin::thumbnails::backfill(&store, 2, &Default::default(), None).unwrap()
    })
    .await
    .unwrap();
    assert_eq!((made, failed), (3, 0));
    assert!(
        app.state
            .store
            .images_without_thumbnail(0, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.files_on_disk(), (6, 0));

    // The command line runs the same backfill on a stopped server's data.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args(["thumbnails", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("made 0 thumbnails"));
}

#[tokio::test]
async fn pixel_bombs_are_refused_and_memory_stays_bounded() {
    // The real binary with its production defaults (stripping, eager thumbnails).
    let app = spawn_binary(&[]);
    let upload = |name: &'static str| {
        let (base, key) = (app.base.clone(), app.upload_key.clone());
        async move {
            let res = upload_as(&base, &key, fixture(&format!("hostile/{name}")), name).await;
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    for (name, code) in [
        ("pixel-bomb.png", "image_too_large"),
        ("pixel-bomb.jpg", "image_too_large"),
        ("truncated.png", "invalid_image"),
    ] {
        let (status, body) = upload(name).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["code"], code, "{name}");
    }
    // A real photo goes through stripping and the thumbnail pool in this process too.
    let img: Value = upload_as(
        &app.base,
        &app.upload_key,
        fixture("real/hubble_deep_field.jpg"),
        "h.jpg",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        get_bytes(img["thumbnail_url"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
    let peak_kib = app.status_kib("VmHWM");
    eprintln!("peak RSS (VmHWM) after bombs, truncated PNG and one thumbnail: {peak_kib} KiB");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    assert_eq!(count_files(&app.dir.join("tmp")), 0);
}

/// An animated WebP (RFC 9649 §2.7: VP8X with the animation flag, ANIM, one
/// ANMF per frame) of two 16x16 frames, red then blue, built from lossless
/// stills encoded here.
fn animated_webp() -> Vec<u8> {
    let frame = |rgb: [u8; 3]| -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(16, 16, image::Rgba([rgb[0], rgb[1], rgb[2], 255]));
        let mut still = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut still)
            .encode(img.as_raw(), 16, 16, image::ExtendedColorType::Rgba8)
            .unwrap();
        // The VP8L chunk of the still: everything after the RIFF header.
        let mut anmf = vec![0u8; 6]; // X/2, Y/2 = 0
        anmf.extend_from_slice(&15u32.to_le_bytes()[..3]); // width - 1
        anmf.extend_from_slice(&15u32.to_le_bytes()[..3]); // height - 1
        anmf.extend_from_slice(&100u32.to_le_bytes()[..3]); // duration ms
        anmf.push(0); // flags
        anmf.extend_from_slice(&still[12..]);
        let mut chunk = b"ANMF".to_vec();
        chunk.extend_from_slice(&(anmf.len() as u32).to_le_bytes());
        chunk.extend_from_slice(&anmf);
        if anmf.len() % 2 == 1 {
            chunk.push(0);
        }
        chunk
    };
    let mut body = b"WEBP".to_vec();
    body.extend_from_slice(b"VP8X");
    body.extend_from_slice(&10u32.to_le_bytes());
    body.extend_from_slice(&[0x02, 0, 0, 0]); // animation flag
    body.extend_from_slice(&15u32.to_le_bytes()[..3]);
    body.extend_from_slice(&15u32.to_le_bytes()[..3]);
    body.extend_from_slice(b"ANIM");
    body.extend_from_slice(&6u32.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // background, loop forever
    body.extend(frame([255, 0, 0]));
    body.extend(frame([0, 0, 255]));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

#[tokio::test]
async fn an_animated_webp_is_accepted_and_thumbnailed_from_its_first_frame() {
    let app = spawn_app().await;
    let img = app.upload_ok(animated_webp(), "anim.webp").await;
    assert_eq!(img["contentType"], "image/webp");
    assert_eq!(
        (img["width"].as_u64(), img["height"].as_u64()),
        (Some(16), Some(16))
    );
    let (status, ct, bytes) = get_bytes(img["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/jpeg"));
    let thumb = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let p = thumb.get_pixel(8, 8).0;
    assert!(p[0] > 200 && p[2] < 60, "first frame is red, got {p:?}");
}
