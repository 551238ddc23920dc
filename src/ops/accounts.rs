//! `pixbin user` and `pixbin key`: create accounts and set their passwords,
//! create, list and revoke upload keys, on a stopped server's data directory.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};

use crate::auth::{password, upload_key};
use crate::clock;
use crate::ops::commands::open_store;
use crate::store::blobs::storage::Storage;
use crate::store::codec::{KeyPolicy, Role, UserRecord};

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
    /// The account whose uploads it makes (`--user`; default the oldest admin).
    pub owner: Option<&'a str>,
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

/// `pixbin user add` (`adding`, with a role) or `pixbin user passwd`: sets
/// the password of a new or an existing account; a generated one is printed
/// on stdout. Without a role, the first account is an admin and later ones
/// are users.
pub fn put_user(
    dir: &Path,
    storage: &Storage,
    name: &str,
    password_stdin: bool,
    adding: Option<Option<Role>>,
) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        bail!("account names are 1-64 characters without spaces");
    }
    let store = open_store(dir, storage)?;
    let exists = store.user(name)?.is_some();
    if adding.is_some() && exists {
        bail!("account {name:?} already exists (use `pixbin user passwd`)");
    }
    if adding.is_none() && !exists {
        bail!("no account named {name:?}");
    }
    let (pw, generated) = read_password(password_stdin)?;
    let hash = password::hash(&pw);
    match adding {
        Some(role) => {
            let role = match role {
                Some(r) => r,
                None if store.user_count()? == 0 => Role::Admin,
                None => Role::User,
            };
            let rec = UserRecord::new(hash, role, (None, None), clock::now_ms());
            store.create_user(name, &rec)?;
            eprintln!("created {} account {name:?}", role.as_str());
        }
        None => {
            store.set_password(name, hash)?;
            eprintln!("updated the password of account {name:?}");
        }
    }
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
    let owner = match opts.owner {
        Some(o) if store.user(o)?.is_some() => o.to_string(),
        Some(o) => bail!("no account named {o:?}"),
        None => store.oldest_admin()?.unwrap_or_default(),
    };
    let key = upload_key::generate();
    let rec = store.create_key(
        &upload_key::hash(key.expose()),
        (opts.name, &owner),
        &upload_key::display_prefix(key.expose()),
        clock::now_ms(),
        policy,
    )?;
    eprintln!(
        "created upload key {} ({}) of account {:?}; it is shown only now:",
        rec.id, rec.name, rec.owner
    );
    println!("{}", key.expose());
    Ok(())
}

/// `pixbin key list`: ids, prefixes and dates, never the keys.
pub fn list_keys(dir: &Path, storage: &Storage) -> anyhow::Result<()> {
    let store = open_store(dir, storage)?;
    println!(
        "{:>4}  {:<10}  {:<20}  {:<20}  {:<16}  name",
        "id", "prefix", "created", "last used", "account"
    );
    for k in store.list_keys(None)? {
        println!(
            "{:>4}  {:<10}  {:<20}  {:<20}  {:<16}  {}",
            k.id,
            k.prefix,
            clock::rfc3339(k.created_at),
            k.last_used_at
                .map(clock::rfc3339)
                .unwrap_or_else(|| "never".into()),
            k.owner,
            k.name
        );
    }
    Ok(())
}

/// `pixbin key revoke <id>`.
pub fn revoke_key(dir: &Path, storage: &Storage, id: u64) -> anyhow::Result<()> {
    let store = open_store(dir, storage)?;
    if !store.revoke_key(id, None)? {
        bail!("no upload key with id {id}");
    }
    eprintln!("revoked upload key {id}");
    Ok(())
}
