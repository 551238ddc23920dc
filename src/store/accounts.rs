//! Accounts and their credentials: users, sessions (keyed by the digest of
//! their token) and upload keys (keyed by the digest of the key). An account's
//! sessions as a whole: list them, end some or all, record activity, and change
//! the password while ending every other session in the same commit. Each
//! upload key belongs to one account (`KeyRecord::owner`).

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::codec::{self, KeyRecord, SessionRecord, UserRecord};
use super::meta::{
    KEY_HASH_TO_UPLOAD_KEY, NAME_TO_META, NAME_TO_USER, TOKEN_HASH_TO_SESSION, keys,
};
use super::{Result, Store, StoreError, get_meta};
use crate::secret::{KeyHash, TokenHash};

/// A session row with the digest of its token.
pub type SessionRow = (TokenHash, SessionRecord);

impl Store {
    /// Number of accounts.
    pub fn user_count(&self) -> Result<u64> {
        let r = self.db.begin_read()?;
        Ok(r.open_table(NAME_TO_USER)?.len()?)
    }

    /// An account by name.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(NAME_TO_USER)?;
        Ok(t.get(name)?
            .map(|v| UserRecord::decode(v.value()))
            .transpose()?)
    }

    /// Creates or replaces an account. Replacing also ends its sessions, so a
    /// password change logs every browser out.
    pub fn put_user(&self, name: &str, rec: &UserRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(NAME_TO_USER)?
                .insert(name, rec.encode().as_slice())?;
            let mut sessions = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            sessions.retain(|_, v| SessionRecord::decode(v).is_ok_and(|s| s.username != name))?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores a new session under the hash of its token.
    pub fn put_session(&self, token_hash: &TokenHash, rec: &SessionRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(TOKEN_HASH_TO_SESSION)?
            .insert(token_hash.as_slice(), rec.encode().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Replaces one session by another in one transaction (refresh, login over an
    /// existing session).
    pub fn rotate_session(
        &self,
        old: Option<&TokenHash>,
        new: &TokenHash,
        rec: &SessionRecord,
    ) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            if let Some(old) = old {
                t.remove(old.as_slice())?;
            }
            t.insert(new.as_slice(), rec.encode().as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// A live session by token hash (expired ones read as absent).
    pub fn session(&self, token_hash: &TokenHash, now: i64) -> Result<Option<SessionRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(TOKEN_HASH_TO_SESSION)?;
        let s = t
            .get(token_hash.as_slice())?
            .map(|v| SessionRecord::decode(v.value()))
            .transpose()?;
        Ok(s.filter(|s| s.expires_at > now))
    }

    /// Ends a session.
    pub fn delete_session(&self, token_hash: &TokenHash) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let existed = txn
            .open_table(TOKEN_HASH_TO_SESSION)?
            .remove(token_hash.as_slice())?
            .is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Drops expired sessions; returns how many.
    pub fn purge_sessions(&self, now: i64) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let mut n = 0;
        {
            let mut t = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            t.retain(|_, v| {
                let live = SessionRecord::decode(v).is_ok_and(|s| s.expires_at > now);
                n += u64::from(!live);
                live
            })?;
        }
        txn.commit()?;
        Ok(n)
    }

    // ---- upload keys ------------------------------------------------------

    /// Stores a new upload key of account `owner` under its hash, assigning
    /// the next id.
    pub fn create_key(
        &self,
        key_hash: &KeyHash,
        (name, owner): (&str, &str),
        prefix: &str,
        now: i64,
        policy: codec::KeyPolicy,
    ) -> Result<KeyRecord> {
        let txn = self.db.begin_write()?;
        let rec;
        {
            let mut meta = txn.open_table(NAME_TO_META)?;
            let id = get_meta(&meta, keys::NEXT_KEY_ID)?.max(1);
            meta.insert(keys::NEXT_KEY_ID, id + 1)?;
            rec = KeyRecord {
                id,
                name: name.to_string(),
                prefix: prefix.to_string(),
                created_at: now,
                last_used_at: None,
                policy,
                owner: owner.to_string(),
            };
            txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?
                .insert(key_hash.as_slice(), rec.encode().as_slice())?;
        }
        txn.commit()?;
        Ok(rec)
    }

    /// The upload key with this hash, if it exists.
    pub fn key_by_hash(&self, key_hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
        Ok(t.get(key_hash.as_slice())?
            .map(|v| KeyRecord::decode(v.value()))
            .transpose()?)
    }

    /// The upload keys of `owner` (all of them for `None`), by id.
    pub fn list_keys(&self, owner: Option<&str>) -> Result<Vec<KeyRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let k = KeyRecord::decode(e?.1.value())?;
            if owner.is_none_or(|o| o == k.owner) {
                out.push(k);
            }
        }
        out.sort_by_key(|k| k.id);
        Ok(out)
    }

    /// Revokes (deletes) the upload key with this id, when `owner` owns it
    /// (any owner for `None`); `false` when none had it.
    pub fn revoke_key(&self, id: u64, owner: Option<&str>) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let mut found = false;
        {
            let mut t = txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
            t.retain(|_, v| {
                let hit = KeyRecord::decode(v)
                    .is_ok_and(|k| k.id == id && owner.is_none_or(|o| o == k.owner));
                found |= hit;
                !hit
            })?;
        }
        txn.commit()?;
        Ok(found)
    }

    /// Number of upload keys.
    pub fn key_count(&self) -> Result<u64> {
        let r = self.db.begin_read()?;
        Ok(r.open_table(KEY_HASH_TO_UPLOAD_KEY)?.len()?)
    }

    /// The live sessions of `username`, newest first.
    pub fn sessions_of(&self, username: &str, now: i64) -> Result<Vec<SessionRow>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(TOKEN_HASH_TO_SESSION)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            let rec = SessionRecord::decode(v.value())?;
            if rec.username == username && rec.expires_at > now {
                let hash: [u8; 32] = k
                    .value()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("session key is not 32 bytes".into()))?;
                out.push((TokenHash::from_bytes(hash), rec));
            }
        }
        out.sort_by_key(|(_, s)| std::cmp::Reverse(s.created_at));
        Ok(out)
    }

    /// Ends every session of `username` except `keep`; returns how many.
    pub fn end_sessions_of(&self, username: &str, keep: Option<&TokenHash>) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let mut n = 0;
        {
            let mut t = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            t.retain(|k, v| {
                let theirs = SessionRecord::decode(v).is_ok_and(|s| s.username == username);
                let ends = theirs && keep.is_none_or(|h| h.as_slice() != k);
                n += u64::from(ends);
                !ends
            })?;
        }
        txn.commit()?;
        Ok(n)
    }

    /// Records activity on a session and its account (a missing one stays
    /// missing).
    pub fn touch_session(&self, token_hash: &TokenHash, now: i64) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            let rec = t
                .get(token_hash.as_slice())?
                .map(|v| SessionRecord::decode(v.value()))
                .transpose()?;
            if let Some(mut rec) = rec {
                rec.last_seen_at = now;
                t.insert(token_hash.as_slice(), rec.encode().as_slice())?;
                let mut users = txn.open_table(NAME_TO_USER)?;
                let user = users
                    .get(rec.username.as_str())?
                    .map(|v| UserRecord::decode(v.value()))
                    .transpose()?;
                if let Some(mut user) = user {
                    user.last_seen_at = Some(now);
                    users.insert(rec.username.as_str(), user.encode().as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Sets `username`'s password hash and ends all its sessions but `keep`,
    /// in one commit: no other browser outlives the change.
    pub fn change_password(
        &self,
        username: &str,
        password_hash: String,
        keep: &TokenHash,
    ) -> Result<bool> {
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(NAME_TO_USER)?;
            let Some(mut user) = users
                .get(username)?
                .map(|v| UserRecord::decode(v.value()))
                .transpose()?
            else {
                return Ok(false);
            };
            user.password_hash = password_hash;
            users.insert(username, user.encode().as_slice())?;
            let mut sessions = txn.open_table(TOKEN_HASH_TO_SESSION)?;
            sessions.retain(|k, v| {
                k == keep.as_slice()
                    || SessionRecord::decode(v).is_ok_and(|s| s.username != username)
            })?;
        }
        txn.commit()?;
        Ok(true)
    }
}
