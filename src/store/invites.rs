//! Invite links (create an account, a set number of times, until they expire)
//! and password-reset links (set one account's password, once), keyed by the
//! blake3 of the token in the link like sessions: the token itself is never
//! stored (invariant 5). Using a link and creating what it grants happen in one
//! commit, so a link cannot be used more often than allowed, however many
//! requests race for it.

use redb::{ReadableDatabase, ReadableTable};

use super::codec::{Grant, InviteRecord, Role, UserRecord};
use super::meta::*;
use super::users::{insert_new_user, set_password_in};
use super::{Result, Store, get_meta};
use crate::secret::TokenHash;

/// Why a link was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Unknown, expired, used up, or for something else: one answer for all,
    /// so a link cannot be probed.
    Invalid,
}

impl Store {
    /// Stores a new link under the hash of its token, assigning its id.
    pub fn create_link(
        &self,
        token_hash: &TokenHash,
        mut rec: InviteRecord,
    ) -> Result<InviteRecord> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(NAME_TO_META)?;
            let id = get_meta(&meta, keys::NEXT_INVITE_ID)?.max(1);
            meta.insert(keys::NEXT_INVITE_ID, id + 1)?;
            rec.id = id;
            txn.open_table(TOKEN_HASH_TO_INVITE)?
                .insert(token_hash.as_slice(), rec.encode().as_slice())?;
        }
        txn.commit()?;
        Ok(rec)
    }

    /// Every invite still usable at `now` (not reset links), newest first.
    pub fn invites(&self, now: i64) -> Result<Vec<InviteRecord>> {
        let r = self.db.begin_read()?;
        let mut out = Vec::new();
        for e in r.open_table(TOKEN_HASH_TO_INVITE)?.iter()? {
            let rec = InviteRecord::decode(e?.1.value())?;
            if matches!(rec.grant, Grant::Invite { .. }) && usable(&rec, now) {
                out.push(rec);
            }
        }
        out.sort_by_key(|i| std::cmp::Reverse(i.id));
        Ok(out)
    }

    /// The link with this token, while usable.
    pub fn link(&self, token_hash: &TokenHash, now: i64) -> Result<Option<InviteRecord>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(TOKEN_HASH_TO_INVITE)?;
        let rec = t
            .get(token_hash.as_slice())?
            .map(|v| InviteRecord::decode(v.value()))
            .transpose()?;
        Ok(rec.filter(|r| usable(r, now)))
    }

    /// Revokes the invite with this id; `false` when none had it.
    pub fn revoke_invite(&self, id: u64) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let mut found = false;
        txn.open_table(TOKEN_HASH_TO_INVITE)?.retain(|_, v| {
            let hit = InviteRecord::decode(v)
                .is_ok_and(|i| i.id == id && matches!(i.grant, Grant::Invite { .. }));
            found |= hit;
            !hit
        })?;
        txn.commit()?;
        Ok(found)
    }

    /// Creates the account `name` with an invite, counting the use in the same
    /// commit; `make` builds the account for the invite's role. Refused with
    /// `name_taken` (the invite stays unused) when the name exists.
    pub fn redeem_invite(
        &self,
        token_hash: &TokenHash,
        now: i64,
        name: &str,
        make: impl FnOnce(Role) -> UserRecord,
    ) -> Result<std::result::Result<UserRecord, LinkRefusal>> {
        let txn = self.db.begin_write()?;
        let Some(mut rec) = take_usable(&txn, token_hash, now)? else {
            return Ok(Err(LinkRefusal::Invalid));
        };
        let Grant::Invite { role } = rec.grant else {
            return Ok(Err(LinkRefusal::Invalid));
        };
        let user = make(role);
        insert_new_user(&txn, name, &user)?;
        rec.uses += 1;
        put_back(&txn, token_hash, &rec)?;
        txn.commit()?;
        Ok(Ok(user))
    }

    /// Sets the password of the account a reset link names and spends the
    /// link, in one commit; every session of the account ends. Returns the
    /// account's name.
    pub fn redeem_reset(
        &self,
        token_hash: &TokenHash,
        now: i64,
        password_hash: String,
    ) -> Result<std::result::Result<String, LinkRefusal>> {
        let txn = self.db.begin_write()?;
        let Some(mut rec) = take_usable(&txn, token_hash, now)? else {
            return Ok(Err(LinkRefusal::Invalid));
        };
        let Grant::PasswordReset { username } = rec.grant.clone() else {
            return Ok(Err(LinkRefusal::Invalid));
        };
        if !set_password_in(&txn, &username, password_hash)? {
            return Ok(Err(LinkRefusal::Invalid));
        }
        rec.uses += 1;
        put_back(&txn, token_hash, &rec)?;
        txn.commit()?;
        Ok(Ok(username))
    }

    /// Drops expired and used-up links; returns how many.
    pub fn purge_links(&self, now: i64) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let mut n = 0;
        txn.open_table(TOKEN_HASH_TO_INVITE)?.retain(|_, v| {
            let keep = InviteRecord::decode(v).is_ok_and(|i| usable(&i, now));
            n += u64::from(!keep);
            keep
        })?;
        txn.commit()?;
        Ok(n)
    }
}

fn usable(rec: &InviteRecord, now: i64) -> bool {
    rec.expires_at > now && rec.uses < rec.max_uses
}

fn take_usable(
    txn: &redb::WriteTransaction,
    token_hash: &TokenHash,
    now: i64,
) -> Result<Option<InviteRecord>> {
    let t = txn.open_table(TOKEN_HASH_TO_INVITE)?;
    let rec = t
        .get(token_hash.as_slice())?
        .map(|v| InviteRecord::decode(v.value()))
        .transpose()?;
    Ok(rec.filter(|r| usable(r, now)))
}

/// Stores a link after a use, or removes it once used up.
fn put_back(
    txn: &redb::WriteTransaction,
    token_hash: &TokenHash,
    rec: &InviteRecord,
) -> Result<()> {
    let mut t = txn.open_table(TOKEN_HASH_TO_INVITE)?;
    if rec.uses >= rec.max_uses {
        t.remove(token_hash.as_slice())?;
    } else {
        t.insert(token_hash.as_slice(), rec.encode().as_slice())?;
    }
    Ok(())
}
