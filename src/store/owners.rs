//! Who owns what: each account's images (an index beside the image rows), what
//! they hold against the account's quota, handing every image of one account
//! to another, and the schema step that gave a single-admin database owners.
//!
//! An account's usage counts every image in full, whether or not its bytes are
//! shared with another image (deduplicated blobs stay one file with a
//! reference count, `store::images`). Charging only new bytes would tell an
//! uploader that someone already holds the same file; charging in full tells
//! nothing, and keeps one account's usage independent of every other.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec::{ImageRecord, KeyRecord, Uploader, UserRecord};
use super::meta::*;
use super::quota::Refusal;
use super::{Result, Store};

/// What an account's images hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Their sizes summed, each image in full.
    pub bytes: u64,
    /// How many.
    pub images: u64,
}

fn usage_in(t: &impl ReadableTable<&'static str, (u64, u64)>, owner: &str) -> Result<Usage> {
    Ok(t.get(owner)?
        .map(|v| {
            let (bytes, images) = v.value();
            Usage { bytes, images }
        })
        .unwrap_or_default())
}

/// Records a new image of `owner` (inside the transaction that inserts it).
pub(super) fn add(txn: &WriteTransaction, owner: &str, id: u64, size: u64) -> Result<()> {
    txn.open_table(OWNER_ID_TO_IMAGE)?.insert((owner, id), ())?;
    let mut t = txn.open_table(OWNER_TO_USAGE)?;
    let u = usage_in(&t, owner)?;
    t.insert(owner, (u.bytes.saturating_add(size), u.images + 1))?;
    Ok(())
}

/// Forgets an image of `owner` (inside the transaction that removes it).
pub(super) fn remove(txn: &WriteTransaction, owner: &str, id: u64, size: u64) -> Result<()> {
    txn.open_table(OWNER_ID_TO_IMAGE)?.remove((owner, id))?;
    let mut t = txn.open_table(OWNER_TO_USAGE)?;
    let u = usage_in(&t, owner)?;
    if u.images <= 1 {
        t.remove(owner)?;
    } else {
        t.insert(owner, (u.bytes.saturating_sub(size), u.images - 1))?;
    }
    Ok(())
}

/// Checks a new image of `size` bytes against its owner's quota, inside the
/// write transaction that will insert it, so parallel uploads of one account
/// cannot pass its quota together. An image of no account has no quota.
pub(super) fn check(txn: &WriteTransaction, owner: &str, size: u64) -> Result<Option<Refusal>> {
    if owner.is_empty() {
        return Ok(None);
    }
    let user = txn
        .open_table(NAME_TO_USER)?
        .get(owner)?
        .map(|v| UserRecord::decode(v.value()))
        .transpose()?;
    let Some(user) = user else {
        return Ok(None);
    };
    let u = usage_in(&txn.open_table(OWNER_TO_USAGE)?, owner)?;
    if user.quota_images.is_some_and(|max| u.images >= max) {
        return Ok(Some(Refusal::Images));
    }
    if user
        .quota_bytes
        .is_some_and(|max| u.bytes.saturating_add(size) > max)
    {
        return Ok(Some(Refusal::Bytes));
    }
    Ok(None)
}

/// The ids of `owner`'s images, oldest id first.
pub(super) fn ids_in(
    t: &impl ReadableTable<(&'static str, u64), ()>,
    owner: &str,
) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in t.range((owner, 0)..=(owner, u64::MAX))? {
        out.push(e?.0.value().1);
    }
    Ok(out)
}

/// Gives every image of `from` to `to`, in `txn`; returns how many.
pub(super) fn transfer(txn: &WriteTransaction, from: &str, to: &str) -> Result<u64> {
    let ids = ids_in(&txn.open_table(OWNER_ID_TO_IMAGE)?, from)?;
    let mut images = txn.open_table(ID_TO_IMAGE)?;
    for &id in &ids {
        let Some(v) = images.get(id)? else { continue };
        let mut rec = ImageRecord::decode(v.value())?;
        drop(v);
        let size = rec.size;
        rec.owner = to.to_string();
        images.insert(id, rec.encode().as_slice())?;
        remove(txn, from, id, size)?;
        add(txn, to, id, size)?;
    }
    super::owner_stats::transfer(txn, from, to)?;
    Ok(ids.len() as u64)
}

impl Store {
    /// What `owner`'s images hold.
    pub fn usage(&self, owner: &str) -> Result<Usage> {
        let r = self.db.begin_read()?;
        usage_in(&r.open_table(OWNER_TO_USAGE)?, owner)
    }

    /// How many of `owner`'s images are private.
    pub fn private_count_of(&self, owner: &str) -> Result<u64> {
        let r = self.db.begin_read()?;
        let images = r.open_table(ID_TO_IMAGE)?;
        let mut n = 0;
        for id in ids_in(&r.open_table(OWNER_ID_TO_IMAGE)?, owner)? {
            if let Some(v) = images.get(id)? {
                n += u64::from(ImageRecord::decode(v.value())?.private_key.is_some());
            }
        }
        Ok(n)
    }

    /// The ids of `owner`'s images, oldest first.
    pub fn image_ids_of(&self, owner: &str) -> Result<Vec<u64>> {
        let r = self.db.begin_read()?;
        ids_in(&r.open_table(OWNER_ID_TO_IMAGE)?, owner)
    }
}

/// The account that inherits what had no owner before owners existed: the
/// oldest account (by creation time, then name), or none without accounts.
fn heir(txn: &WriteTransaction) -> Result<Option<String>> {
    let mut best: Option<(i64, String)> = None;
    for e in txn.open_table(NAME_TO_USER)?.iter()? {
        let (k, v) = e?;
        let at = UserRecord::decode(v.value())?.created_at;
        let cand = (at, k.value().to_string());
        if best.as_ref().is_none_or(|b| cand < *b) {
            best = Some(cand);
        }
    }
    Ok(best.map(|b| b.1))
}

/// Rebuilds the owner index and usage from the image rows (the schema
/// upgrade, and `check` repairs).
pub(crate) fn reindex(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(OWNER_ID_TO_IMAGE)?.retain(|_, _| false)?;
    txn.open_table(OWNER_TO_USAGE)?.retain(|_, _| false)?;
    let mut rows = Vec::new();
    for e in txn.open_table(ID_TO_IMAGE)?.iter()? {
        let (k, v) = e?;
        let rec = ImageRecord::decode(v.value())?;
        rows.push((k.value(), rec.owner, rec.size));
    }
    for (id, owner, size) in rows {
        add(txn, &owner, id, size)?;
    }
    Ok(())
}

/// Schema 1 -> 2, inside the opening write transaction. Every account
/// becomes an admin (the account codec reads version-1 rows so: before roles
/// every account could do everything). Every image gets an owner: the
/// account that uploaded it when it was uploaded by a session and that
/// account still exists; otherwise (upload keys, imports) the oldest account,
/// which also owns every upload key. Without accounts, images stay without
/// an owner (admins-only) and keys too, until an admin gives them away.
pub(super) fn upgrade(txn: &WriteTransaction) -> Result<UpgradeReport> {
    let heir = heir(txn)?.unwrap_or_default();
    let mut report = UpgradeReport::default();
    let mut accounts = std::collections::BTreeMap::new();
    for e in txn.open_table(NAME_TO_USER)?.iter()? {
        let (k, v) = e?;
        accounts.insert(k.value().to_string(), UserRecord::decode(v.value())?);
    }
    {
        let mut images = txn.open_table(ID_TO_IMAGE)?;
        let mut rows = Vec::new();
        for e in images.iter()? {
            let (k, v) = e?;
            rows.push((k.value(), ImageRecord::decode(v.value())?));
        }
        for (id, mut rec) in rows {
            rec.owner = match &rec.uploader {
                Uploader::User(name) if accounts.contains_key(name) => name.clone(),
                _ => heir.clone(),
            };
            images.insert(id, rec.encode().as_slice())?;
            report.images += 1;
        }
        let mut keys = txn.open_table(KEY_HASH_TO_UPLOAD_KEY)?;
        let mut rows = Vec::new();
        for e in keys.iter()? {
            let (k, v) = e?;
            rows.push((k.value().to_vec(), KeyRecord::decode(v.value())?));
        }
        for (hash, mut rec) in rows {
            rec.owner = heir.clone();
            keys.insert(hash.as_slice(), rec.encode().as_slice())?;
            report.keys += 1;
        }
        // Rewrite accounts in the current layout (they read as admins).
        let mut users = txn.open_table(NAME_TO_USER)?;
        for (name, rec) in &accounts {
            users.insert(name.as_str(), rec.encode().as_slice())?;
            report.accounts += 1;
        }
    }
    reindex(txn)?;
    report.heir = heir;
    Ok(report)
}

/// What the schema upgrade did, for the log line.
#[derive(Debug, Default)]
pub(super) struct UpgradeReport {
    pub accounts: u64,
    pub images: u64,
    pub keys: u64,
    pub heir: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upgrade_gives_session_uploads_to_their_account_and_the_rest_to_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut u = txn.open_table(NAME_TO_USER).unwrap();
            for (name, at) in [("zed", 5), ("amy", 9), ("old", 1)] {
                let rec = UserRecord::new(
                    "h".into(),
                    super::super::codec::Role::User,
                    (None, None),
                    at,
                );
                u.insert(name, rec.encode().as_slice()).unwrap();
            }
            let mut i = txn.open_table(ID_TO_IMAGE).unwrap();
            let mut rec = super::super::codec::test_record(b"a");
            rec.uploader = Uploader::User("amy".into());
            i.insert(1, rec.encode().as_slice()).unwrap();
            rec.uploader = Uploader::Key(3);
            i.insert(2, rec.encode().as_slice()).unwrap();
            rec.uploader = Uploader::User("gone".into());
            i.insert(3, rec.encode().as_slice()).unwrap();
        }
        let report = upgrade(&txn).unwrap();
        assert_eq!((report.images, report.accounts), (3, 3));
        assert_eq!(report.heir, "old");
        let owner = |id: u64| {
            let t = txn.open_table(ID_TO_IMAGE).unwrap();
            ImageRecord::decode(t.get(id).unwrap().unwrap().value())
                .unwrap()
                .owner
        };
        assert_eq!([owner(1), owner(2), owner(3)], ["amy", "old", "old"]);
        let usage = txn.open_table(OWNER_TO_USAGE).unwrap();
        assert_eq!(usage_in(&usage, "old").unwrap().images, 2);
        assert_eq!(
            usage_in(&usage, "amy").unwrap(),
            Usage {
                bytes: 1,
                images: 1
            }
        );
    }

    #[test]
    fn check_reports_a_usage_the_rows_do_not_add_up_to_and_repair_rebuilds_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let txn = store.db.begin_write().unwrap();
        txn.open_table(OWNER_TO_USAGE)
            .unwrap()
            .insert("ghost", (10, 1))
            .unwrap();
        txn.commit().unwrap();
        let opts = |repair| crate::store::check::CheckOptions {
            rehash: false,
            repair,
        };
        let report = store.check(opts(true)).unwrap();
        let kinds: Vec<&str> = report.problems.iter().map(|p| p.kind()).collect();
        assert_eq!(kinds, ["owner-index"]);
        assert_eq!(report.repaired.len(), 1);
        assert!(store.check(opts(false)).unwrap().problems.is_empty());
        assert_eq!(store.usage("ghost").unwrap(), Usage::default());
    }
}
