//! Patient data on disk is readable by its owner only: directories are created 0700 and files
//! 0600 whatever the process umask, and [`wider_than_private`] finds what an older version or
//! an operator left more open.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory Granska creates for patient data.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file Granska creates for patient data.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    // The umask may have removed bits from 0700 (never added any): set it exactly.
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
}

/// Opens a new file for writing with mode 0600 (fails if it exists).
pub fn create_new(path: &Path) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path)?;
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Creates `path` empty with mode 0600 if it does not exist, so that a library creating it
/// later (SQLite: the database, and its WAL and shared-memory files, which take the
/// database's mode) never makes it wider.
pub fn precreate(path: &Path) -> io::Result<()> {
    match create_new(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The mode bits of `path` beyond owner-only, if any: `Some(mode)` when group or others may
/// read, write or enter it.
pub fn wider_mode(path: &Path) -> io::Result<Option<u32>> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

/// `dir` itself and every entry below it (to `depth` levels) whose mode lets group or others
/// in, with its mode; unreadable entries are skipped.
pub fn wider_than_private(dir: &Path, depth: usize) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    if let Ok(Some(mode)) = wider_mode(dir) {
        found.push((dir.to_path_buf(), mode));
    }
    if depth == 0 {
        return found;
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(wider_than_private(&path, depth - 1));
            } else if let Ok(Some(mode)) = wider_mode(&path) {
                found.push((path, mode));
            }
        }
    }
    found
}
