//! Test harness: `spawn_app()` runs a real server in-process on 127.0.0.1:0 with a
//! temp data dir and shuts it down on drop; `spawn_binary()` runs the built
//! `pixbin` executable for tests that need their own process (memory, signals).

#![allow(dead_code)]

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

pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
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

    /// Logs in as admin with this app's client; remembers the CSRF token.
    pub async fn login_admin(&mut self) {
        let res = self
            .client
            .post(self.url("/api/login"))
            .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
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
        self.with_csrf(reqwest::Method::DELETE, &format!("/api/delete/{uuid}"))
            .send()
            .await
            .unwrap()
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

    /// Uploads and asserts success; returns the image JSON.
    pub async fn upload_ok(&self, bytes: Vec<u8>, name: &str) -> Value {
        let res = self.upload(bytes, name).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "upload of {name} failed: {body}");
        serde_json::from_str(&body).unwrap()
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
