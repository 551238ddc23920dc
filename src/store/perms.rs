//! Owner-only file modes for everything pixbin writes: directories 0700, files
//! 0600, whatever the umask.
//!
//! Quick starts run outside systemd's `UMask=0077`, where the default 022
//! left the data directory, the database (which names every image and key
//! digest) and backup archives readable by every local user. Modes are given
//! at creation (no window where a file is readable) and re-applied to what an
//! older version left behind.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory pixbin creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file pixbin creates.
pub const FILE_MODE: u32 = 0o600;

/// `create_dir_all` with each new directory 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Creates `path` (and missing parents) 0700, or tightens it to 0700 if it
/// already exists: for the directories pixbin owns outright.
pub fn own_dir(path: &Path) -> io::Result<()> {
    create_dir_all(path)?;
    restrict(path, DIR_MODE)
}

/// Sets `mode` on an existing path unless it already has it.
pub fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    let current = fs::metadata(path)?.permissions().mode() & 0o7777;
    if current != mode {
        fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// `File::create` with mode 0600 (a file that already existed is tightened).
pub fn create_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Opens a new file 0600 for reading and writing; fails if it exists.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_ignore_a_loose_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"x").unwrap();
        fs::set_permissions(&p, Permissions::from_mode(0o666)).unwrap();
        drop(create_file(&p).unwrap());
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let d = dir.path().join("a/b");
        own_dir(&d).unwrap();
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
