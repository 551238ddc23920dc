//! Runtime settings (the few upload defaults the admin UI may change), kept
//! as numbers in the meta table under `setting.` names so they live and die
//! with the database (backups and restores carry them). What the numbers mean
//! is `crate::settings`' business.

use std::collections::BTreeMap;

use redb::ReadableDatabase;

use super::meta::NAME_TO_META;
use super::{Result, Store};

/// Prefix of every runtime setting's name in the meta table.
pub const PREFIX: &str = "setting.";

impl Store {
    /// Every stored runtime setting, by its name without the prefix.
    pub fn runtime_settings(&self) -> Result<BTreeMap<String, u64>> {
        let r = self.db.begin_read()?;
        let meta = r.open_table(NAME_TO_META)?;
        let mut out = BTreeMap::new();
        // `setting/` is the first name after every `setting.…`.
        for e in meta.range(PREFIX.."setting/")? {
            let (k, v) = e?;
            if let Some(name) = k.value().strip_prefix(PREFIX) {
                out.insert(name.to_string(), v.value());
            }
        }
        Ok(out)
    }

    /// Stores runtime settings, all in one commit.
    pub fn put_runtime_settings(&self, values: &[(&str, u64)]) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(NAME_TO_META)?;
            for (name, v) in values {
                meta.insert(format!("{PREFIX}{name}").as_str(), *v)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}
