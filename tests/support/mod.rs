//! Test harness: `spawn_app()` runs a real server in-process on 127.0.0.1:0 with a
//! temp data dir and shuts it down on drop; `spawn_binary()` runs the built
//! `pixbin` executable for tests that need their own process (memory, signals).
//!
//! Requests: `app.get` / `app.get_json` go out with the app's own client (its
//! session once `login_admin` ran), `app.post` / `app.post_json` /
//! `app.delete` add the CSRF token; `fetch(url)` / `fetch_with` are a
//! stranger's request (a fresh client, no cookies); uploads go through
//! `app.upload*`, `upload_as` (another key) and `upload_raw_to` (a raw body);
//! `log_in` posts credentials with a given client.
//!
//! Waiting: `app.wait_views_written()` waits for the analytics writer to hold
//! nothing instead of sleeping through flush intervals; `poll_until` is the
//! one bounded poll for other conditions. Hand-built images are in `images`.

#![allow(dead_code)]

mod images;
pub use images::*;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use pixbin::config::Config;
use pixbin::state::AppState;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// Reads a fixture file from `tests/fixtures/`.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// Decodes a run-length encoded fixture (`tests/fixtures/*.rle`): `#` lines
/// are comments, one of them `# Decoded length: N bytes.`; then
/// whitespace-separated tokens, `xx*N` the byte xx repeated N times, anything
/// else literal bytes in hex.
pub fn rle_fixture(rel: &str) -> Vec<u8> {
    let text = String::from_utf8(fixture(rel)).unwrap();
    let mut out = Vec::new();
    let mut len = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("# Decoded length: ") {
            len = n.trim_end_matches(" bytes.").parse::<usize>().ok();
        }
        if line.starts_with('#') {
            continue;
        }
        for tok in line.split_whitespace() {
            match tok.split_once('*') {
                Some((b, n)) => out.extend(std::iter::repeat_n(
                    u8::from_str_radix(b, 16).unwrap(),
                    n.parse().unwrap(),
                )),
                None => out.extend(
                    (0..tok.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&tok[i..i + 2], 16).unwrap()),
                ),
            }
        }
    }
    assert_eq!(Some(out.len()), len, "{rel}: decoded length");
    out
}

/// Every file name in a fixture folder.
pub fn fixture_names(dir: &str) -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut names: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Stops the in-process server when dropped (declared first in `TestApp`, so
/// it is dropped before the state and the data dir).
struct ServerGuard {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct TestApp {
    guard: ServerGuard,
    pub addr: SocketAddr,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub state: Arc<AppState>,
    pub upload_key: String,
    /// Client with a cookie store and no redirects.
    pub client: Client,
    pub csrf: Option<String>,
}

/// An upload answer without the fields that name the new image itself (its
/// ids, links and time) or its owner: what must not differ between a first
/// upload and a duplicate, or between two accounts' copies.
pub fn upload_shape(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    for k in [
        "id",
        "uuid",
        "url",
        "full_link",
        "thumbnail_url",
        "page_url",
        "deletion_url",
        "thumbUrl",
        "uploadedAt",
        "owner",
    ] {
        o.remove(k);
    }
    v
}

pub fn client() -> Client {
    Client::builder()
        // Plain HTTP to loopback only. The S3 client's reqwest features (shared
        // with this one) would otherwise load the system's root certificates
        // for every client, and tests that build hundreds stall on it.
        .tls_built_in_root_certs(false)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // The test server closes a connection idle for its 2 s header
        // timeout; a pooled one idle for about that long could be reused
        // just as the server closes it, failing a request at random.
        .pool_idle_timeout(std::time::Duration::from_millis(1500))
        .build()
        .unwrap()
}

/// Polls `cond` every 20 ms until it holds or `limit` has passed; says whether
/// it held. Callers assert on the state afterwards, so a timeout fails there
/// with their own message.
pub async fn poll_until(limit: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Posts `user` and `password` to `base`'s login with client `c` (whose
/// cookie store keeps the session if it is one); the answer is not checked.
pub async fn log_in(c: &Client, base: &str, user: &str, password: &str) -> Response {
    c.post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

/// `GET url` as a stranger: a fresh client, so no session and no cookies.
pub async fn fetch(url: impl reqwest::IntoUrl) -> Response {
    client().get(url).send().await.unwrap()
}

/// `GET url` as a stranger, with extra request headers.
pub async fn fetch_with(url: impl reqwest::IntoUrl, headers: &[(&str, &str)]) -> Response {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// The body of a stranger's `GET url` (whatever the status).
pub async fn fetch_bytes(url: impl reqwest::IntoUrl) -> Vec<u8> {
    fetch(url).await.bytes().await.unwrap().to_vec()
}

/// A response's `Content-Type` (empty when there is none).
pub fn content_type(res: &Response) -> &str {
    res.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// `POST base + path` with upload key `key`, extra headers and `body` as it is.
pub async fn upload_raw_to(
    base: &str,
    key: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut req = client().post(format!("{base}{path}")).bearer_auth(key);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap()
}

/// Uploads bytes as multipart field `file` to `base` with upload key `key`.
pub async fn upload_as(base: &str, key: &str, bytes: Vec<u8>, name: &str) -> Response {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    client()
        .post(format!("{base}/api/upload"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Starts a server with `Config::for_tests`, adjusted by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_in(tempfile::tempdir().unwrap(), tweak).await
}

/// Starts a server on an existing data dir (e.g. `app.restart()`'s), adjusted by `tweak`.
pub async fn spawn_app_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::for_tests(dir.path());
    tweak(&mut config);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = pixbin::app::start(config, &listener).await.unwrap();
            // Only the first start creates a key; a restart keeps the old one.
            let key = app
                .created
                .upload_key
                .as_ref()
                .map(|k| k.expose().to_string())
                .unwrap_or_default();
            ready_tx.send((addr, app.state.clone(), key)).unwrap();
            pixbin::server::run(listener, app.state.clone(), async {
                let _ = stop_rx.await;
            })
            .await;
            app.tasks.shutdown(app.state.config.shutdown_timeout).await;
        });
    });
    let (addr, state, upload_key) = ready_rx.recv().unwrap();
    TestApp {
        addr,
        base: format!("http://{addr}"),
        dir,
        state,
        upload_key,
        client: client(),
        csrf: None,
        guard: ServerGuard {
            shutdown: Some(stop_tx),
            thread: Some(thread),
        },
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

impl TestApp {
    /// A GC pass on the running server's store as of a second from now with
    /// no grace: every orphan older than that is quarantined.
    pub fn gc_now(&self) -> pixbin::store::gc::GcReport {
        self.state
            .store
            .collect_garbage(&pixbin::store::gc::GcPolicy {
                now: std::time::SystemTime::now() + std::time::Duration::from_secs(1),
                grace: std::time::Duration::ZERO,
                ..Default::default()
            })
            .unwrap()
    }

    /// `pixbin check --rehash` on the running server's store, repairing nothing.
    pub fn check_rehash(&self) -> pixbin::store::check::CheckReport {
        self.state
            .store
            .check(pixbin::store::check::CheckOptions {
                rehash: true,
                repair: false,
            })
            .unwrap()
    }

    /// Stops this server (draining views) and starts a new one on the same data
    /// dir with the same settings tweak; the upload key of the first start is kept.
    pub async fn restart(self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let TestApp {
            guard,
            state,
            dir,
            upload_key,
            ..
        } = self;
        // Stop the server, then let go of the last handle on the database.
        drop(guard);
        drop(state);
        let mut app = spawn_app_in(dir, tweak).await;
        app.upload_key = upload_key;
        app
    }

    /// Stops this server and lets go of the database; returns the data dir
    /// (to change it offline, then `spawn_app_in` it again).
    pub fn stop(self) -> tempfile::TempDir {
        let TestApp {
            guard, state, dir, ..
        } = self;
        drop(guard);
        drop(state);
        dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET path` with this app's client (and its session, once logged in).
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET path` with this app's client, its body read as JSON (whatever the
    /// status: callers that care assert it themselves).
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `POST path` without a body, with the session and its CSRF token.
    pub async fn post(&self, path: &str) -> Response {
        self.with_csrf(reqwest::Method::POST, path)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with a JSON body, the session and its CSRF token.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.with_csrf(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `DELETE path` with the session and its CSRF token.
    pub async fn delete(&self, path: &str) -> Response {
        self.with_csrf(reqwest::Method::DELETE, path)
            .send()
            .await
            .unwrap()
    }

    /// Logs in as admin with this app's client; remembers the CSRF token.
    pub async fn login_admin(&mut self) {
        let res = log_in(&self.client, &self.base, "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        self.csrf = Some(v["csrfToken"].as_str().unwrap().to_string());
    }

    pub fn csrf(&self) -> &str {
        self.csrf.as_deref().expect("log in first")
    }

    /// Deletes an uploaded image (its JSON as the upload answered) through
    /// the session API.
    pub async fn delete_image(&self, img: &Value) -> Response {
        let uuid = img["uuid"].as_str().expect("an image's JSON");
        self.delete(&format!("/api/delete/{uuid}")).await
    }

    /// A state-changing request with this app's session and its CSRF token
    /// (after `login_admin`).
    pub fn with_csrf(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("X-CSRF-Token", self.csrf())
    }

    /// Uploads bytes as multipart field `file` with the upload key.
    pub async fn upload(&self, bytes: Vec<u8>, name: &str) -> Response {
        self.upload_with(bytes, name, &[]).await
    }

    /// `POST path` (an upload route, with its query) with the upload key,
    /// extra headers and `body` as it is: the raw-body and hand-framed uploads.
    pub async fn upload_raw(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Response {
        upload_raw_to(&self.base, &self.upload_key, path, headers, body).await
    }

    /// Uploads bytes as multipart field `file` with another upload key.
    pub async fn upload_with_key(&self, key: &str, bytes: Vec<u8>, name: &str) -> Response {
        upload_as(&self.base, key, bytes, name).await
    }

    pub async fn upload_with(
        &self,
        bytes: Vec<u8>,
        name: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        client()
            .post(self.url("/api/upload"))
            .bearer_auth(&self.upload_key)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Uploads with form fields and asserts success; returns the image JSON.
    pub async fn upload_with_ok(
        &self,
        bytes: Vec<u8>,
        name: &str,
        fields: &[(&str, &str)],
    ) -> Value {
        let res = self.upload_with(bytes, name, fields).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "upload of {name} failed: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Uploads and asserts success; returns the image JSON.
    pub async fn upload_ok(&self, bytes: Vec<u8>, name: &str) -> Value {
        self.upload_with_ok(bytes, name, &[]).await
    }

    pub fn totals(&self) -> pixbin::store::Totals {
        self.state.store.totals().unwrap()
    }

    /// Number of blob files and temp files on disk.
    pub fn files_on_disk(&self) -> (usize, usize) {
        (
            count_files(&self.dir.path().join("blobs")),
            count_files(&self.dir.path().join("tmp")),
        )
    }

    /// Asserts nothing is stored: no rows, no blobs, no temps.
    #[track_caller]
    pub fn assert_empty_store(&self) {
        let t = self.totals();
        assert_eq!((t.images, t.bytes_stored), (0, 0), "rows were stored");
        assert_eq!(self.files_on_disk(), (0, 0), "files were left on disk");
    }

    /// Waits (bounded, 10 s) until the analytics writer has flushed every view
    /// observed so far, so a count read next is final for what was fetched.
    /// A fetch is observed before its response goes out, so everything a test
    /// has had an answer to is covered.
    pub async fn wait_views_written(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.state.views.pending() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the view writer still holds {} events",
                self.state.views.pending()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Waits (bounded) until flushed view counts reach `n` for image `id`.
    pub async fn wait_for_views(&self, id: u64, n: u64) -> u64 {
        let mut last = 0;
        for _ in 0..200 {
            last = self
                .state
                .store
                .image(id)
                .unwrap()
                .map(|i| i.views)
                .unwrap_or(0);
            if last >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        last
    }
}

pub fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.map(|e| e.unwrap())
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// A `pixbin serve` child process on a temp data dir.
pub struct BinaryApp {
    pub child: Child,
    pub base: String,
    pub upload_key: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for BinaryApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl BinaryApp {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line of `/proc/PID/status` in KiB (e.g. `VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }
}

/// Runs the real binary with extra environment variables.
pub fn spawn_binary(envs: &[(&str, &str)]) -> BinaryApp {
    spawn_binary_in(tempfile::tempdir().unwrap(), envs)
}

impl BinaryApp {
    /// SIGKILLs the server (no graceful drain) and starts a new one on the same
    /// data dir; the upload key of the first start is kept.
    pub fn crash_and_restart(mut self, envs: &[(&str, &str)]) -> BinaryApp {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let tmp = self._tmp.take().expect("data dir owned by this app");
        let mut app = spawn_binary_in(tmp, envs);
        app.upload_key = std::mem::take(&mut self.upload_key);
        app
    }
}

/// Runs the real binary on an existing data dir.
pub fn spawn_binary_in(tmp: tempfile::TempDir, envs: &[(&str, &str)]) -> BinaryApp {
    spawn_binary_logging(tmp, envs, Stdio::null())
}

/// Runs the real binary on an existing data dir with its log (stderr) sent to
/// `log`.
pub fn spawn_binary_logging(
    tmp: tempfile::TempDir,
    envs: &[(&str, &str)],
    log: Stdio,
) -> BinaryApp {
    let dir = tmp.path().to_path_buf();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pixbin"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("PIXBIN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PIXBIN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut key = String::new();
    let base;
    loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(k) = line.strip_prefix("created upload key: ") {
            key = k.trim().to_string();
        }
        if let Some(u) = line.strip_prefix("pixbin listening on ") {
            base = u.trim().to_string();
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    BinaryApp {
        child,
        base,
        upload_key: key,
        dir,
        _tmp: Some(tmp),
    }
}
