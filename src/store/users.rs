//! Managing accounts: create, list with usage, change role, disable, set
//! quotas, delete (their images deleted or handed to another account), and the
//! lookups that let a session or an upload key act only while its account is
//! enabled. No change ever leaves the instance without an enabled admin.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec::{KeyRecord, Role, SessionRecord, UserRecord};
use super::meta::*;
use super::owners::{self, Usage};
use super::{Result, Store, StoreError, albums};
use crate::secret::{KeyHash, TokenHash};

/// An account with what its images hold.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its name (the key of its row).
    pub name: String,
    /// The row.
    pub record: UserRecord,
    /// What its images hold.
    pub usage: Usage,
}

/// A change to an account; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    /// A new role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// A new byte quota (`Some(None)`: unlimited).
    pub quota_bytes: Option<Option<u64>>,
    /// A new image quota (`Some(None)`: unlimited).
    pub quota_images: Option<Option<u64>>,
}

/// What happens to a deleted account's images (and its albums with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftovers {
    /// They are deleted with it.
    Delete,
    /// They belong to this account from now on.
    TransferTo(String),
}

/// A refusal that leaves everything as it was (409 at the HTTP edge).
fn refused(code: &'static str, message: &'static str) -> StoreError {
    StoreError::Refused { code, message }
}

fn read_user(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<UserRecord>> {
    Ok(t.get(name)?
        .map(|v| UserRecord::decode(v.value()))
        .transpose()?)
}

/// Whether an enabled admin other than `except` exists.
fn another_admin(txn: &WriteTransaction, except: &str) -> Result<bool> {
    for e in txn.open_table(NAME_TO_USER)?.iter()? {
        let (k, v) = e?;
        let u = UserRecord::decode(v.value())?;
        if k.value() != except && u.role == Role::Admin && !u.disabled {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Ends every session of `name` and revokes its upload keys, in `txn`.
fn cut_off(txn: &WriteTransaction, name: &str, keys: bool) -> Result<()> {
    txn.open_table(TOKEN_HASH_TO_SESSION)?
        .retain(|_, v| SessionRecord::decode(v).is_ok_and(|s| s.username != name))?;
    if keys {
        txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?
            .retain(|_, v| KeyRecord::decode(v).is_ok_and(|k| k.owner != name))?;
    }
    Ok(())
}

impl Store {
    /// The oldest enabled admin (by creation, then name): the owner of what
    /// an offline tool brings in.
    pub fn oldest_admin(&self) -> Result<Option<String>> {
        let r = self.db.begin_read()?;
        let mut best: Option<(i64, String)> = None;
        for e in r.open_table(NAME_TO_USER)?.iter()? {
            let (k, v) = e?;
            let u = UserRecord::decode(v.value())?;
            let cand = (u.created_at, k.value().to_string());
            if u.role == Role::Admin && !u.disabled && best.as_ref().is_none_or(|b| cand < *b) {
                best = Some(cand);
            }
        }
        Ok(best.map(|b| b.1))
    }

    /// Every account with its usage, by name.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let r = self.db.begin_read()?;
        let usage = r.open_table(OWNER_TO_USAGE)?;
        let mut out = Vec::new();
        for e in r.open_table(NAME_TO_USER)?.iter()? {
            let (k, v) = e?;
            let name = k.value().to_string();
            let (bytes, images) = usage
                .get(name.as_str())?
                .map(|u| u.value())
                .unwrap_or((0, 0));
            out.push(Account {
                record: UserRecord::decode(v.value())?,
                usage: Usage { bytes, images },
                name,
            });
        }
        Ok(out)
    }

    /// One account with its usage.
    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        let Some(record) = self.user(name)? else {
            return Ok(None);
        };
        Ok(Some(Account {
            name: name.to_string(),
            record,
            usage: self.usage(name)?,
        }))
    }

    /// Creates an account; refused (`name_taken`) when the name exists.
    pub fn create_user(&self, name: &str, rec: &UserRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        insert_new_user(&txn, name, rec)?;
        txn.commit()?;
        Ok(())
    }

    /// A live session and its account, read together; `None` when the
    /// session is unknown or expired, or its account is gone or disabled.
    pub fn session_account(
        &self,
        token_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<(SessionRecord, UserRecord)>> {
        let r = self.db.begin_read()?;
        let Some(s) = r
            .open_table(TOKEN_HASH_TO_SESSION)?
            .get(token_hash.as_slice())?
            .map(|v| SessionRecord::decode(v.value()))
            .transpose()?
            .filter(|s| s.expires_at > now)
        else {
            return Ok(None);
        };
        let user = read_user(&r.open_table(NAME_TO_USER)?, &s.username)?;
        Ok(user.filter(|u| !u.disabled).map(|u| (s, u)))
    }

    /// The upload key with this hash while its account is enabled (a key of
    /// no account, left by the schema upgrade of an instance without
    /// accounts, stays usable).
    pub fn live_key(&self, key_hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let r = self.db.begin_read()?;
        let Some(k) = r
            .open_table(KEY_HASH_TO_UPLOAD_KEY)?
            .get(key_hash.as_slice())?
            .map(|v| KeyRecord::decode(v.value()))
            .transpose()?
        else {
            return Ok(None);
        };
        if k.owner.is_empty() {
            return Ok(Some(k));
        }
        let user = read_user(&r.open_table(NAME_TO_USER)?, &k.owner)?;
        Ok(user.filter(|u| !u.disabled).map(|_| k))
    }

    /// Changes an account. Refused (`last_admin`) when it would leave no
    /// enabled admin. Disabling ends its sessions in the same commit (its keys
    /// stay, refused while it is disabled). `None` when there is no such account.
    pub fn edit_user(&self, name: &str, edit: &UserEdit) -> Result<Option<UserRecord>> {
        let txn = self.db.begin_write()?;
        let rec;
        {
            let Some(mut u) = read_user(&txn.open_table(NAME_TO_USER)?, name)? else {
                return Ok(None);
            };
            let was_admin = u.role == Role::Admin && !u.disabled;
            if let Some(role) = edit.role {
                u.role = role;
            }
            if let Some(d) = edit.disabled {
                u.disabled = d;
            }
            if let Some(q) = edit.quota_bytes {
                u.quota_bytes = q;
            }
            if let Some(q) = edit.quota_images {
                u.quota_images = q;
            }
            let still_admin = u.role == Role::Admin && !u.disabled;
            if was_admin && !still_admin && !another_admin(&txn, name)? {
                return Err(refused(
                    "last_admin",
                    "this is the last enabled admin: make another admin first",
                ));
            }
            if u.disabled {
                cut_off(&txn, name, false)?;
            }
            txn.open_table(NAME_TO_USER)?
                .insert(name, u.encode().as_slice())?;
            rec = u;
        }
        txn.commit()?;
        Ok(Some(rec))
    }

    /// Sets an account's password and ends every one of its sessions.
    pub fn set_password(&self, name: &str, password_hash: String) -> Result<bool> {
        let txn = self.db.begin_write()?;
        if !set_password_in(&txn, name, password_hash)? {
            return Ok(false);
        }
        txn.commit()?;
        Ok(true)
    }

    /// Deletes an account: its sessions end and its upload keys are revoked
    /// first, in one commit, so it can do nothing more; then its images are
    /// deleted one by one (each like any delete, invariant 2) or handed to
    /// another account in the commit that removes the account; its albums
    /// follow its images (deleted, or handed to the same account) in that
    /// commit. Refused
    /// (`last_admin`) for the last enabled admin, (`no_such_user`) for a
    /// missing heir, (`same_user`) for a transfer to itself. Returns how many
    /// images were deleted or transferred; `None` when there is no such account.
    ///
    /// A crash while images are being deleted leaves the account disabled
    /// with the rest of its images: deleting it again finishes the job.
    pub fn delete_user(&self, name: &str, leftovers: &Leftovers) -> Result<Option<u64>> {
        {
            let txn = self.db.begin_write()?;
            let Some(mut u) = read_user(&txn.open_table(NAME_TO_USER)?, name)? else {
                return Ok(None);
            };
            if u.role == Role::Admin && !u.disabled && !another_admin(&txn, name)? {
                return Err(refused(
                    "last_admin",
                    "this is the last enabled admin: make another admin first",
                ));
            }
            if let Leftovers::TransferTo(heir) = leftovers {
                if heir == name {
                    return Err(refused(
                        "same_user",
                        "images cannot be transferred to the account being deleted",
                    ));
                }
                if read_user(&txn.open_table(NAME_TO_USER)?, heir)?.is_none() {
                    return Err(refused(
                        "no_such_user",
                        "the account to transfer the images to does not exist",
                    ));
                }
            }
            u.disabled = true;
            txn.open_table(NAME_TO_USER)?
                .insert(name, u.encode().as_slice())?;
            cut_off(&txn, name, true)?;
            txn.commit()?;
        }
        let mut n = 0;
        if leftovers == &Leftovers::Delete {
            for id in self.image_ids_of(name)? {
                n += u64::from(self.delete_image(id)?.is_some());
            }
        }
        let txn = self.db.begin_write()?;
        let heir = match leftovers {
            Leftovers::TransferTo(heir) => {
                n += owners::transfer(&txn, name, heir)?;
                Some(heir.as_str())
            }
            Leftovers::Delete => None,
        };
        albums::hand_over(&txn, name, heir)?;
        // Images uploaded in between (none can be: its keys and sessions
        // are gone) would be kept by the account's name; refuse rather than
        // orphan them.
        if !owners::ids_in(&txn.open_table(OWNER_ID_TO_IMAGE)?, name)?.is_empty() {
            return Err(refused(
                "images_left",
                "the account still has images; delete it again",
            ));
        }
        // Its statistics went to the heir with the images, or go with it.
        super::owner_stats::forget(&txn, name)?;
        txn.open_table(NAME_TO_USER)?.remove(name)?;
        txn.commit()?;
        Ok(Some(n))
    }
}

/// Inserts a new account in `txn`; refused (`name_taken`) when it exists.
pub(super) fn insert_new_user(txn: &WriteTransaction, name: &str, rec: &UserRecord) -> Result<()> {
    let mut t = txn.open_table(NAME_TO_USER)?;
    if t.get(name)?.is_some() {
        return Err(refused("name_taken", "an account with this name exists"));
    }
    t.insert(name, rec.encode().as_slice())?;
    Ok(())
}

/// Sets a password and ends every session of the account, in `txn`.
pub(super) fn set_password_in(
    txn: &WriteTransaction,
    name: &str,
    password_hash: String,
) -> Result<bool> {
    let Some(mut u) = read_user(&txn.open_table(NAME_TO_USER)?, name)? else {
        return Ok(false);
    };
    u.password_hash = password_hash;
    txn.open_table(NAME_TO_USER)?
        .insert(name, u.encode().as_slice())?;
    cut_off(txn, name, false)?;
    Ok(true)
}
