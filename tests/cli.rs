//! The command line: the first start prints the generated admin password and an
//! upload key with a curl line exactly once; `key create` prints the key alone on
//! its last stdout line; commands on the data dir of a running server explain why
//! they cannot run; SIGTERM drains and exits cleanly, keeping counted views.

use std::process::{Command, Stdio};

use crate::support::*;
use reqwest::StatusCode;

fn pixbin(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("PIXBIN_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn first_lines(dir: &std::path::Path, envs: &[(&str, &str)]) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pixbin"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("PIXBIN_LOG", "warn")
        .env_remove("PIXBIN_ADMIN_PASSWORD");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = vec![];
    for l in BufReader::new(child.stdout.take().unwrap()).lines() {
        let l = l.unwrap();
        let done = l.starts_with("pixbin listening on");
        lines.push(l);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    lines
}

#[test]
fn first_start_prints_secrets_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = first_lines(dir.path(), &[]).join("\n");
    assert!(
        first.contains("created account admin with password: "),
        "{first}"
    );
    assert!(first.contains("created upload key: pbk_"), "{first}");
    assert!(
        first.contains("curl -H \"Authorization: Bearer pbk_"),
        "{first}"
    );
    let second = first_lines(dir.path(), &[]).join("\n");
    assert!(
        !second.contains("password") && !second.contains("pbk_"),
        "secrets printed again: {second}"
    );
}

#[test]
fn admin_password_comes_from_the_environment_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = first_lines(dir.path(), &[("PIXBIN_ADMIN_PASSWORD", "from-the-env-123")]).join("\n");
    assert!(
        !out.contains("from-the-env-123"),
        "the given password is not echoed"
    );
    assert!(out.contains("PIXBIN_ADMIN_PASSWORD"));
}

#[tokio::test]
async fn key_create_prints_the_key_last_and_it_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let out = pixbin(&["key", "create", "--name", "script"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().to_string();
    assert!(key.starts_with("pbk_") && key.len() == 47, "{stdout:?}");
    let list = pixbin(&["key", "list"], dir.path());
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.contains("script") && !listed.contains(&key));

    // Serve the same data dir and use the key.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("PIXBIN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::{BufRead, BufReader};
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let l = lines.next().unwrap().unwrap();
        if let Some(u) = l.strip_prefix("pixbin listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    // While it runs, CLI commands explain why they cannot open the data dir.
    let locked = pixbin(&["key", "create"], dir.path());
    assert!(!locked.status.success());
    let err = String::from_utf8_lossy(&locked.stderr);
    assert!(err.contains("in use by a running pixbin server"), "{err}");

    let res = upload_as(&base, &key, fixture("real/logo.ico"), "x.ico").await;
    assert_eq!(res.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();

    let revoke = pixbin(&["key", "revoke", "1"], dir.path());
    assert!(revoke.status.success());
    let again = pixbin(&["key", "revoke", "1"], dir.path());
    assert!(!again.status.success());
}

#[test]
fn user_add_and_passwd() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pixbin"))
        .args(["user", "add", "alice", "--password-stdin", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a given password is not printed");
    let dup = pixbin(&["user", "add", "alice"], dir.path());
    assert!(!dup.status.success());
    let pw = pixbin(&["user", "passwd", "alice"], dir.path());
    assert!(pw.status.success());
    let generated = String::from_utf8(pw.stdout).unwrap();
    assert_eq!(generated.trim().len(), 20);
    let missing = pixbin(&["user", "passwd", "bob"], dir.path());
    assert!(!missing.status.success());

    // The first account is an admin, later ones users unless --role says;
    // a key uploads for the account --user names (default the oldest admin).
    assert!(pixbin(&["user", "add", "bob"], dir.path()).status.success());
    let carol = pixbin(&["user", "add", "carol", "--role", "admin"], dir.path());
    assert!(carol.status.success());
    assert!(
        !pixbin(&["user", "add", "dave", "--role", "root"], dir.path())
            .status
            .success()
    );
    assert!(
        pixbin(&["key", "create", "--user", "bob"], dir.path())
            .status
            .success()
    );
    assert!(pixbin(&["key", "create"], dir.path()).status.success());
    assert!(
        !pixbin(&["key", "create", "--user", "nobody"], dir.path())
            .status
            .success()
    );
    let store = pixbin::store::Store::open(dir.path()).unwrap();
    let role = |n: &str| store.user(n).unwrap().unwrap().role;
    use pixbin::store::codec::Role;
    assert_eq!(
        [role("alice"), role("bob"), role("carol")],
        [Role::Admin, Role::User, Role::Admin]
    );
    assert!(store.user("dave").unwrap().is_none());
    let owners: Vec<String> = store
        .list_keys(None)
        .unwrap()
        .into_iter()
        .map(|k| k.owner)
        .collect();
    assert_eq!(owners, ["bob", "alice"]);
}

#[tokio::test]
async fn sigterm_drains_and_keeps_views() {
    let app = spawn_binary(&[]);
    let v: serde_json::Value = upload_as(
        &app.base,
        &app.upload_key,
        fixture("real/logo.ico"),
        "x.ico",
    )
    .await
    .json()
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            fetch(v["url"].as_str().unwrap()).await.status(),
            StatusCode::OK
        );
    }
    let mut app = app;
    let status = Command::new("kill")
        .args(["-TERM", &app.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = app.child.wait().unwrap();
    assert!(exit.success(), "graceful exit: {exit:?}");
    // Reopen the data dir directly: the five views were flushed on shutdown.
    let store = pixbin::store::Store::open(&app.dir).unwrap();
    let img = store.image(v["id"].as_u64().unwrap()).unwrap().unwrap();
    assert_eq!(img.views, 5);
}
