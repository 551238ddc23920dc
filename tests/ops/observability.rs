//! What an operator watches: `/metrics` counts requests by route and status,
//! uploads, images, bytes and views, with no per-image label, and can require a
//! token; logs never carry `key=` or `token=` values nor upload keys, nor
//! colour codes when they go to a file or a pipe; under
//! systemd the server reports readiness, feeds the watchdog while its database
//! answers, and says when it stops.

use std::os::unix::net::UnixDatagram;

use pixbin::secret::Secret;

use super::*;

async fn scrape(base: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = client().get(format!("{base}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    if status == StatusCode::OK {
        assert_eq!(
            res.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
    }
    (status, res.text().await.unwrap())
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test]
async fn metrics_count_requests_uploads_and_views_without_image_labels() {
    let app = spawn_app().await;
    let img = app.upload_ok(bmp(30, 20, 77), "m.bmp").await;
    let url = img["url"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(fetch(url).await.status(), StatusCode::OK);
    }
    let missing = format!("/{}.bmp", uuid::Uuid::new_v4());
    let res = fetch(app.url(&missing)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = fetch(app.url("/no/such/page")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.wait_for_views(img["id"].as_u64().unwrap(), 3).await;

    let (status, m) = scrape(&app.base, None).await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "pixbin_http_requests_total{route=\"upload\",status=\"200\"} 1",
        "pixbin_http_requests_total{route=\"public\",status=\"200\"} 3",
        "pixbin_http_requests_total{route=\"public\",status=\"404\"} 1",
        "pixbin_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "pixbin_http_request_duration_seconds_count{route=\"public\"} 4",
        "pixbin_uploads_total{result=\"stored\"} 1",
        "pixbin_images 1",
        "pixbin_image_views_total 3",
        "pixbin_view_events_dropped_total 0",
        "# TYPE pixbin_http_request_duration_seconds histogram",
    ] {
        assert!(has_line(&m, line), "missing {line:?} in\n{m}");
    }
    assert!(has_line(
        &m,
        &format!("pixbin_storage_bytes {}", img["size"].as_u64().unwrap())
    ));
    assert!(m.contains("pixbin_build_info{version=\""));
    let uuid = img["uuid"].as_str().unwrap();
    assert!(
        !m.contains(uuid) && !m.contains(&missing[1..37]),
        "an image id in a label"
    );
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app = spawn_app_with(|c| c.metrics_token = Some(Secret::new("scrape-me-please"))).await;
    assert_eq!(scrape(&app.base, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&app.base, Some("scrape-me-pleasf")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = scrape(&app.base, Some("scrape-me-please")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("pixbin_images 0"));
}

#[tokio::test]
async fn logs_never_carry_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("PIXBIN_LOG", "debug")
        .env("PIXBIN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut key) = (String::new(), String::new());
    for l in lines.by_ref() {
        let l = l.unwrap();
        if let Some(k) = l.strip_prefix("created upload key: ") {
            key = k.to_string();
        }
        if let Some(b) = l.strip_prefix("pixbin listening on ") {
            base = b.to_string();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let img = upload_to(&base, &key, bmp(8, 8, 8), "s.bmp").await;
    let u = img["uuid"].as_str().unwrap();
    for path in [
        format!("/{u}.bmp?key=SECRET-KEY-VALUE-1"),
        format!("/api/delete/{u}?token=SECRET-TOKEN-VALUE-2"),
        format!("/{u}.bmp?a=1&Key=SECRET-KEY-VALUE-3"),
    ] {
        fetch(format!("{base}{path}")).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("REDACTED"),
        "requests are logged at debug:\n{text}"
    );
    assert!(
        !text.contains("SECRET-"),
        "a secret reached the log:\n{text}"
    );
    assert!(!text.contains(&key), "the upload key reached the log");
    assert!(!text.contains(ADMIN_PASSWORD));
    for l in text.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
    }
}

/// Waits for a datagram containing `want`, up to a bound.
fn expect_notify(sock: &UnixDatagram, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            if msg.lines().any(|l| l == want) {
                return msg;
            }
        }
    }
    panic!("no {want:?} from the server");
}

#[test]
fn systemd_readiness_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut app = spawn_binary(&[
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "200000"),
    ]);
    let ready = expect_notify(&sock, "READY=1");
    assert!(ready.contains("STATUS=serving on 127.0.0.1:"), "{ready}");
    for _ in 0..3 {
        expect_notify(&sock, "WATCHDOG=1");
    }
    let status = Command::new("kill")
        .args(["-TERM", &app.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    expect_notify(&sock, "STOPPING=1");
    assert!(app.child.wait().unwrap().success());
    assert!(
        !app.dir.join(pixbin::ops::control::FILE).exists(),
        "a clean stop removes the control file"
    );
}

/// A log sent to a file or a pipe (a journal, `docker logs`, `> pixbin.log`)
/// is plain text: no ANSI colour codes, whatever the level or field.
#[tokio::test]
async fn logs_to_a_file_carry_no_colour_codes() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let path = logs.path().join("server.log");
    let file = std::fs::File::create(&path).unwrap();
    let app = spawn_binary_logging(data, &[("PIXBIN_LOG", "debug")], file.into());
    // Some requests so info and debug lines with fields are written.
    for p in ["/healthz", "/api/list", "/nope"] {
        let _ = fetch(format!("{}{p}", app.base)).await;
    }
    drop(app);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("INFO") && text.contains("request"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape in a log file: {:?}",
        &text[..text.len().min(400)]
    );
}
