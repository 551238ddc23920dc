//! The local control file: how `pixbin backup` reaches the server that holds the
//! database lock.
//!
//! redb admits one process, so a backup of a running server must be made by that
//! server. At start it writes `<data dir>/pixbin.control` (mode 0600): the
//! loopback address it listens on and a fresh random token. The CLI, finding the
//! database locked, reads the file and asks `GET /api/backup` with that token.
//! The file also names the server's storage, so `pixbin repair`, which
//! writes the blobs itself, refuses to write them anywhere else.
//! Whoever can read the file can read the whole data directory anyway, so the
//! token grants nothing new; the server also accepts it only from the machine
//! itself (a loopback address or its own listening address), and stores only
//! its hash.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::secret::{self, Secret};

/// The file's name inside the data directory.
pub const FILE: &str = "pixbin.control";

/// Hashes one `POST /api/integrity/repaired` request may name (64 hex
/// characters and quotes each): the server's limit and `pixbin repair`'s
/// batch size, one number for both ends.
pub const MAX_REPAIRED_HASHES: usize = 10_000;

/// What the server checks a presented control token against.
#[derive(Debug, Clone, Default)]
pub struct Control {
    token_hash: Option<[u8; 32]>,
}

impl Control {
    /// Whether `presented` is this process's control token (constant time).
    pub fn accepts(&self, presented: &str) -> bool {
        match &self.token_hash {
            Some(h) => secret::ct_eq(&secret::token_hash(presented), h),
            None => false,
        }
    }
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The address a local client should dial for a listener bound to `addr`.
fn dialable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Writes a new control file for a server listening on `addr` (replacing one a
/// crashed run left) and returns what to check tokens against.
pub fn publish(data_dir: &Path, addr: SocketAddr, storage: &str) -> std::io::Result<Control> {
    let token = secret::random_token();
    let tmp = data_dir.join(format!("{FILE}.new"));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        writeln!(
            f,
            "addr {}\ntoken {}\nstorage {storage}",
            dialable(addr),
            token.expose()
        )?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(data_dir))?;
    Ok(Control {
        token_hash: Some(secret::token_hash(token.expose())),
    })
}

/// Removes the control file (graceful shutdown).
pub fn retract(data_dir: &Path) {
    let _ = std::fs::remove_file(path(data_dir));
}

/// What a running server published.
#[derive(Debug)]
pub struct Published {
    /// Where it listens (a dialable address).
    pub addr: SocketAddr,
    /// The control token.
    pub token: Secret,
    /// Where its blobs live (`Storage::location`), so a command that works
    /// on the blobs beside the server can tell it was given other ones.
    pub storage: Option<String>,
}

/// Reads what a running server published.
pub fn read(data_dir: &Path) -> anyhow::Result<Published> {
    let p = path(data_dir);
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "the server holding {} left no readable {FILE} (run this as the service's user or root)",
            data_dir.display()
        )
    })?;
    let mut addr = None;
    let mut token = None;
    let mut storage = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("addr", a)) => addr = a.trim().parse::<SocketAddr>().ok(),
            Some(("token", t)) => token = Some(Secret::new(t.trim())),
            Some(("storage", s)) => storage = Some(s.trim().to_string()),
            _ => {}
        }
    }
    match (addr, token) {
        (Some(addr), Some(token)) => Ok(Published {
            addr,
            token,
            storage,
        }),
        _ => bail!("{} is malformed", p.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_read_and_accept() {
        let dir = tempfile::tempdir().unwrap();
        let control = publish(dir.path(), "0.0.0.0:8080".parse().unwrap(), "s3://pix/").unwrap();
        let published = read(dir.path()).unwrap();
        assert_eq!(published.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(published.storage.as_deref(), Some("s3://pix/"));
        let token = published.token;
        assert!(control.accepts(token.expose()));
        assert!(!control.accepts("guess"));
        assert!(!Control::default().accepts(token.expose()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        retract(dir.path());
        assert!(read(dir.path()).is_err());
        assert_eq!(
            dialable("[::]:1".parse().unwrap()),
            "[::1]:1".parse().unwrap()
        );
    }
}
