//! An account's sessions as a whole: list them, end some or all, record
//! activity, and change the password while ending every other session in the
//! same commit.

use redb::{ReadableDatabase, ReadableTable};

use super::codec::{SessionRecord, UserRecord};
use super::meta::{NAME_TO_USER, TOKEN_HASH_TO_SESSION};
use super::{Result, Store};

/// A session row with the hash of its token.
pub type SessionRow = ([u8; 32], SessionRecord);

impl Store {
    /// The live sessions of `username`, newest first.
    pub fn sessions_of(&self, username: &str, now: i64) -> Result<Vec<SessionRow>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(TOKEN_HASH_TO_SESSION)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            let rec = SessionRecord::decode(v.value())?;
            if rec.username == username && rec.expires_at > now {
                let hash: [u8; 32] = k.value().try_into().unwrap_or([0; 32]);
                out.push((hash, rec));
            }
        }
        out.sort_by_key(|(_, s)| std::cmp::Reverse(s.created_at));
        Ok(out)
    }

    /// Ends every session of `username` except `keep`; returns how many.
    pub fn end_sessions_of(&self, username: &str, keep: Option<&[u8; 32]>) -> Result<u64> {
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

    /// Records activity on a session (a missing one stays missing).
    pub fn touch_session(&self, token_hash: &[u8; 32], now: i64) -> Result<()> {
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
        keep: &[u8; 32],
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
