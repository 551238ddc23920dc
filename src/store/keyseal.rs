//! Private-image keys sealed at rest with a server secret kept outside the
//! database.
//!
//! A private link's key must come back out (the list API returns working
//! `?key=` links), so it cannot be stored as a one-way hash. Instead the row
//! holds the key XORed with a pad that blake3, keyed by a 32-byte secret in
//! `pixbin.key` (0600, next to the database), derives from the image's uuid. A
//! copy of the database alone (a stray backup of `pixbin.redb`, a file another
//! local user could read) then opens no private image. Each uuid has its own
//! pad, and a rotated key is a fresh random value under it.
//!
//! Rows are sealed when written and unsealed when read by `Store`, so nothing
//! above the store sees sealed keys. A database from before sealing is sealed
//! in place at its first open (`keys::KEYS_SEALED` marks it); a sealed database
//! whose key file is missing is refused rather than given a new secret, which
//! would silently break every private link.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::perms;

/// `NAME_TO_META` key: 1 once every private key in the database is sealed.
pub const KEYS_SEALED: &str = "keys_sealed";

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "pixbin.key";

/// The server secret. `Debug` never prints it.
#[derive(Clone)]
pub struct KeySeal([u8; 32]);

impl std::fmt::Debug for KeySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySeal(***)")
    }
}

impl KeySeal {
    /// A seal from raw secret bytes.
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        KeySeal(secret)
    }

    fn pad(&self, uuid: &[u8; 16]) -> [u8; 16] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"pixbin private-image key v1\0");
        h.update(uuid);
        let mut pad = [0u8; 16];
        pad.copy_from_slice(&h.finalize().as_bytes()[..16]);
        pad
    }

    /// The stored form of `key` for the image `uuid`.
    pub fn seal(&self, uuid: &[u8; 16], key: [u8; 16]) -> [u8; 16] {
        let pad = self.pad(uuid);
        std::array::from_fn(|i| key[i] ^ pad[i])
    }

    /// The key back from its stored form.
    pub fn unseal(&self, uuid: &[u8; 16], sealed: [u8; 16]) -> [u8; 16] {
        self.seal(uuid, sealed)
    }
}

/// The key file of a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// Reads the secret, if the file exists; a file of the wrong size is an error.
pub fn load(data_dir: &Path) -> io::Result<Option<KeySeal>> {
    Ok(raw(data_dir)?.map(KeySeal))
}

/// The secret's bytes, for backups (the archive must carry them, or a restore
/// would lose every private link).
pub fn raw(data_dir: &Path) -> io::Result<Option<[u8; 32]>> {
    let f = match std::fs::File::open(path(data_dir)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::with_capacity(33);
    f.take(33).read_to_end(&mut buf)?;
    let secret: [u8; 32] = buf.try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{KEY_FILE} is not 32 bytes long"),
        )
    })?;
    perms::restrict(&path(data_dir), perms::FILE_MODE)?;
    Ok(Some(secret))
}

/// Writes a new random secret (0600, fsynced with its directory entry).
pub fn create(data_dir: &Path) -> io::Result<KeySeal> {
    let secret = crate::secret::random_bytes::<32>();
    write(data_dir, &secret)?;
    Ok(KeySeal(secret))
}

/// Writes `secret` as the key file of `data_dir` (which must not have one).
pub fn write(data_dir: &Path, secret: &[u8; 32]) -> io::Result<()> {
    let mut f = perms::create_new(&path(data_dir))?;
    f.write_all(secret)?;
    f.sync_all()?;
    std::fs::File::open(data_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_depends_on_secret_and_uuid() {
        let a = KeySeal([1; 32]);
        let key = [7u8; 16];
        let s = a.seal(&[9; 16], key);
        assert_ne!(s, key);
        assert_eq!(a.unseal(&[9; 16], s), key);
        assert_ne!(KeySeal([2; 32]).unseal(&[9; 16], s), key);
        assert_ne!(a.seal(&[8; 16], key), s);
        assert_eq!(format!("{a:?}"), "KeySeal(***)");
    }
}
