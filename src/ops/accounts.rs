//! `pixbin user` and `pixbin key`: create accounts and set their passwords,
//! create, list and revoke upload keys, on a stopped server's data directory.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};

use crate::auth::{password, upload_key};
use crate::clock;
use crate::ops::commands::open_store;
use crate::store::blobs::storage::Storage;
use crate::store::codec::{KeyPolicy, UserRecord};

/// What `pixbin key create` asks of the new key's uploads.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions<'a> {
    /// A label, e.g. "laptop ShareX".
    pub name: &'a str,
    /// Expiry of uploads that name none (`--default-expiry`).
    pub default_expiry: Option<&'a str>,
    /// Longest expiry an upload may ask for (`--max-expiry`).
    pub max_expiry: Option<&'a str>,
    /// Private unless an upload says otherwise.
    pub private_by_default: bool,
    /// Always private.
    pub force_private: bool,
}

fn read_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((password::generate(), true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    Ok((pw, false))
}

/// `pixbin user add` (`adding`) or `pixbin user passwd`: sets the password of
/// a new or an existing account; a generated one is printed on stdout.
pub fn put_user(
    dir: &Path,
    storage: &Storage,
    name: &str,
    password_stdin: bool,
    adding: bool,
) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        bail!("account names are 1-64 characters without spaces");
    }
    let store = open_store(dir, storage)?;
    let exists = store.user(name)?.is_some();
    if adding && exists {
        bail!("account {name:?} already exists (use `pixbin user passwd`)");
    }
    if !adding && !exists {
        bail!("no account named {name:?}");
    }
    let (pw, generated) = read_password(password_stdin)?;
    store.put_user(
        name,
        &UserRecord {
            password_hash: password::hash(&pw),
            created_at: clock::now_ms(),
        },
    )?;
    eprintln!(
        "{} account {name:?}",
        if adding {
            "created"
        } else {
            "updated the password of"
        }
    );
    if generated {
        println!("{pw}");
    }
    Ok(())
}

/// `pixbin key create`: the key alone is printed on the last line of stdout.
pub fn create_key(dir: &Path, storage: &Storage, opts: &KeyOptions<'_>) -> anyhow::Result<()> {
    let secs = |v: Option<&str>, what: &str| -> anyhow::Result<Option<u64>> {
        v.map(|s| crate::duration::expiry_duration(s).with_context(|| format!("{what} {s:?}")))
            .transpose()
            .map(|d| d.map(|d| d.as_secs()))
    };
    let policy = KeyPolicy {
        default_expiry_secs: secs(opts.default_expiry, "--default-expiry")?,
        max_expiry_secs: secs(opts.max_expiry, "--max-expiry")?,
        private_by_default: opts.private_by_default.then_some(true),
        force_private: opts.force_private,
    };
    let store = open_store(dir, storage)?;
    let key = upload_key::generate();
    let rec = store.create_key(
        &upload_key::hash(key.expose()),
        opts.name,
        &upload_key::display_prefix(key.expose()),
        clock::now_ms(),
        policy,
    )?;
    eprintln!(
        "created upload key {} ({}); it is shown only now:",
        rec.id, rec.name
    );
    println!("{}", key.expose());
    Ok(())
}

/// `pixbin key list`: ids, prefixes and dates, never the keys.
pub fn list_keys(dir: &Path, storage: &Storage) -> anyhow::Result<()> {
    let store = open_store(dir, storage)?;
    println!(
        "{:>4}  {:<10}  {:<20}  {:<20}  name",
        "id", "prefix", "created", "last used"
    );
    for k in store.list_keys()? {
        println!(
            "{:>4}  {:<10}  {:<20}  {:<20}  {}",
            k.id,
            k.prefix,
            clock::rfc3339(k.created_at),
            k.last_used_at
                .map(clock::rfc3339)
                .unwrap_or_else(|| "never".into()),
            k.name
        );
    }
    Ok(())
}

/// `pixbin key revoke <id>`.
pub fn revoke_key(dir: &Path, storage: &Storage, id: u64) -> anyhow::Result<()> {
    let store = open_store(dir, storage)?;
    if !store.revoke_key(id)? {
        bail!("no upload key with id {id}");
    }
    eprintln!("revoked upload key {id}");
    Ok(())
}
