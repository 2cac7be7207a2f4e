//! Content-addressed blob files: `blobs/ab/cd/<sha256>`, written crash-safely.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result, io};

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the blob with this hash lives.
pub fn path(root: &Path, sha256: &str) -> PathBuf {
    root.join(&sha256[..2]).join(&sha256[2..4]).join(sha256)
}

/// Writes `bytes` under its hash unless it is there already; returns when it is durable
/// (file and directory entries fsync'd).
pub fn write(root: &Path, sha256: &str, bytes: &[u8]) -> Result<PathBuf> {
    let target = path(root, sha256);
    if target.exists() {
        return Ok(target);
    }
    let dir = target.parent().expect("blob paths have a parent");
    granska_types::private::create_dir_all(dir).map_err(io("creating blob directory", dir))?;
    // A unique temporary name: concurrent writers of the same blob must not share one.
    let tmp = dir.join(format!(".{sha256}.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
    let result = (|| {
        let mut f = granska_types::private::create_new(&tmp).map_err(io("creating blob", &tmp))?;
        f.write_all(bytes).map_err(io("writing blob", &tmp))?;
        f.sync_all().map_err(io("syncing blob", &tmp))?;
        fs::rename(&tmp, &target).map_err(io("renaming blob", &target))?;
        // The rename is durable once the directory is; its parents were made durable when created.
        sync_dir(dir)?;
        sync_dir(dir.parent().expect("two levels"))?;
        sync_dir(root)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| target)
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing directory", dir))
}

/// Reads a blob and checks its hash.
pub fn read(root: &Path, sha256: &str) -> Result<Vec<u8>> {
    let p = path(root, sha256);
    let bytes = fs::read(&p).map_err(io("reading blob", &p))?;
    let found = sha256_hex(&bytes);
    if found != sha256 {
        return Err(Error::CorruptBlob { sha256: sha256.to_owned(), found });
    }
    Ok(bytes)
}

/// Every blob file under `root` as (sha256, path); temporary files are skipped.
pub fn list(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let read = |dir: &Path| fs::read_dir(dir).map_err(io("listing", dir));
    for a in read(root)? {
        let a = a.map_err(io("listing", root))?.path();
        if !a.is_dir() {
            continue;
        }
        for b in read(&a)? {
            let b = b.map_err(io("listing", &a))?.path();
            if !b.is_dir() {
                continue;
            }
            for f in read(&b)? {
                let f = f.map_err(io("listing", &b))?.path();
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                if name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit()) {
                    found.push((name, f));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}
