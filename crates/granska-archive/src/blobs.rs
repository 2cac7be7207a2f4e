//! Where the instances' bytes live: [`BlobStore`], content-addressed by sha256, and its
//! local-disk implementation [`LocalBlobs`] (`blobs/ab/cd/<sha256>`, written crash-safely).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result, io};

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Content-addressed storage of instance bytes. A blob's name is the lower-case hex sha256 of
/// its bytes; a write returns only once the blob is durable, and a read checks the hash.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `sha256` unless a blob of that name is there already; returns
    /// when it is durable.
    fn write(&self, sha256: &str, bytes: &[u8]) -> Result<()>;

    /// The blob's bytes, checked against its name ([`Error::CorruptBlob`] if they differ).
    fn read(&self, sha256: &str) -> Result<Vec<u8>>;

    /// The name of every stored blob, sorted; half-written temporaries are not listed.
    fn list(&self) -> Result<Vec<String>>;

    /// Deletes a blob; `Ok(false)` when there was none of that name.
    fn delete(&self, sha256: &str) -> Result<bool>;
}

/// Blobs as files under one directory: `<root>/ab/cd/<sha256>`, each written to a temporary
/// file, fsync'd, renamed into place and its directories fsync'd.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Blobs under `root` (created owner-only on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBlobs { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this hash lives; refuses a name that is not a sha256, so no name
    /// can reach outside the directory.
    pub fn path(&self, sha256: &str) -> Result<PathBuf> {
        if !is_sha256(sha256) {
            return Err(Error::BadSha256 { found: sha256.to_owned() });
        }
        Ok(self.root.join(&sha256[..2]).join(&sha256[2..4]).join(sha256))
    }
}

fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl BlobStore for LocalBlobs {
    fn write(&self, sha256: &str, bytes: &[u8]) -> Result<()> {
        write(&self.root, &self.path(sha256)?, sha256, bytes)
    }

    fn read(&self, sha256: &str) -> Result<Vec<u8>> {
        let p = self.path(sha256)?;
        let bytes = fs::read(&p).map_err(io("reading blob", &p))?;
        let found = sha256_hex(&bytes);
        if found != sha256 {
            return Err(Error::CorruptBlob { sha256: sha256.to_owned(), found });
        }
        Ok(bytes)
    }

    fn list(&self) -> Result<Vec<String>> {
        list(&self.root)
    }

    fn delete(&self, sha256: &str) -> Result<bool> {
        let p = self.path(sha256)?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("deleting blob", &p)(e)),
        }
    }
}

/// Writes `bytes` to `target` unless it is there already; returns when it is durable
/// (file and directory entries fsync'd).
fn write(root: &Path, target: &Path, sha256: &str, bytes: &[u8]) -> Result<()> {
    if target.exists() {
        return Ok(());
    }
    let dir = target.parent().expect("blob paths have a parent");
    granska_types::private::create_dir_all(dir).map_err(io("creating blob directory", dir))?;
    // A unique temporary name: concurrent writers of the same blob must not share one.
    let tmp = dir.join(format!(".{sha256}.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
    let result = (|| {
        let mut f = granska_types::private::create_new(&tmp).map_err(io("creating blob", &tmp))?;
        f.write_all(bytes).map_err(io("writing blob", &tmp))?;
        f.sync_all().map_err(io("syncing blob", &tmp))?;
        fs::rename(&tmp, target).map_err(io("renaming blob", target))?;
        // The rename is durable once the directory is; its parents were made durable when created.
        sync_dir(dir)?;
        sync_dir(dir.parent().expect("two levels"))?;
        sync_dir(root)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing directory", dir))
}

/// Every blob file under `root` by name; temporary files are skipped.
fn list(root: &Path) -> Result<Vec<String>> {
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
                if is_sha256(&name) {
                    found.push(name);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}
