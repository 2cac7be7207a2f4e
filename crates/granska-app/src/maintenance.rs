//! Backup, restore and the integrity check of a data directory, run by `granska backup`,
//! `granska restore` and `granska check` beside (or without) a running server.
//!
//! A backup is a directory: `archive.db` and `worklist.db` copied by SQLite's online backup
//! (consistent snapshots, the archive first, so every study the archive copy calls routed has
//! its routing in the worklist copy), every blob the archive copy names (checked against its
//! sha256 as it is copied), `tokens.toml` if present, and `manifest.json` with the size and
//! sha256 of every file. Restore verifies the manifest before it writes anything and fills an
//! empty data directory with owner-only modes.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use granska_archive::{Archive, ArchiveStore};
use granska_worklist::SqliteStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a backup, restore or check could not be done.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// The archive failed.
    #[error("archive: {0}")]
    Archive(#[from] granska_archive::Error),
    /// The worklist database failed.
    #[error("worklist: {0}")]
    Worklist(#[from] granska_worklist::Error),
    /// A file could not be read or written.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The directory given is not a data directory.
    #[error("{path} is not a Granska data directory (no archive.db)")]
    NotADataDir {
        /// The path.
        path: String,
    },
    /// Restore or backup refuses to write into a directory that holds files.
    #[error("{path} is not empty: restore and backup write only into a new or empty directory")]
    NotEmpty {
        /// The path.
        path: String,
    },
    /// The manifest is missing or unreadable.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A backed-up file does not match its manifest entry.
    #[error("backup file {file} does not match the manifest: expected {expected}, found {found}")]
    Mismatch {
        /// The file, relative to the backup.
        file: String,
        /// What the manifest says.
        expected: String,
        /// What is there.
        found: String,
    },
}

type Result<T, E = MaintenanceError> = std::result::Result<T, E>;

fn io<'a>(operation: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> MaintenanceError + 'a {
    move |source| MaintenanceError::Io { operation, path: path.display().to_string(), source }
}

/// `manifest.json` of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub format: u32,
    /// The granska version that wrote it.
    pub granska_version: String,
    /// When the backup began, Unix ms: everything acknowledged before then is in it.
    pub started_unix_ms: i64,
    /// Instances in the archive copy.
    pub instances: u64,
    /// Every file, relative path → size and sha256.
    pub files: Vec<ManifestFile>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

fn ensure_empty(dir: &Path) -> Result<()> {
    if dir.exists() && fs::read_dir(dir).map_err(io("reading", dir))?.next().is_some() {
        return Err(MaintenanceError::NotEmpty { path: dir.display().to_string() });
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = fs::File::open(path).map_err(io("reading", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Every regular file under `root`, relative, sorted.
fn files_under(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io("listing", &dir))? {
            let path = entry.map_err(io("listing", &dir))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Backs up the data directory `data_dir` (a server may be running on it) into the new or
/// empty directory `out`; `progress` gets one line per step. Returns the manifest.
pub fn backup(data_dir: &Path, out: &Path, now_ms: i64, mut progress: impl FnMut(&str)) -> Result<Manifest> {
    if !data_dir.join("archive.db").is_file() {
        return Err(MaintenanceError::NotADataDir { path: data_dir.display().to_string() });
    }
    ensure_empty(out)?;
    granska_types::private::create_dir_all(out).map_err(io("creating", out))?;
    let archive = Archive::open(data_dir)?;
    progress("copying the archive index and its blobs");
    let blobs = archive.backup_into(out)?;
    progress(&format!("{blobs} blobs copied; copying the worklist"));
    let worklist = data_dir.join("worklist.db");
    if worklist.is_file() {
        SqliteStore::backup_file(&worklist, &out.join("worklist.db"))?;
    }
    let tokens = data_dir.join("tokens.toml");
    if tokens.is_file() {
        let bytes = fs::read(&tokens).map_err(io("reading", &tokens))?;
        let dst = out.join("tokens.toml");
        let mut f = granska_types::private::create_new(&dst).map_err(io("creating", &dst))?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(io("writing", &dst))?;
    }
    progress("hashing the copy for the manifest");
    let copy = Archive::open(out)?;
    let instances = copy.totals()?.0;
    drop(copy);
    let mut files = Vec::new();
    for rel in files_under(out)? {
        let name = rel.to_string_lossy().replace('\\', "/");
        // SQLite's side files of the copy hold nothing once it is closed.
        if name.ends_with("-wal") || name.ends_with("-shm") {
            continue;
        }
        let (size, sha256) = hash_file(&out.join(&rel))?;
        files.push(ManifestFile { path: name, size, sha256 });
    }
    let manifest = Manifest {
        format: 1,
        granska_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_unix_ms: now_ms,
        instances,
        files,
    };
    let path = out.join("manifest.json");
    let mut f = granska_types::private::create_new(&path).map_err(io("creating", &path))?;
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io("writing", &path))?;
    Ok(manifest)
}

/// Reads and verifies a backup's manifest against its files (size and sha256 of each).
pub fn verify_backup(from: &Path) -> Result<Manifest> {
    let path = from.join("manifest.json");
    let text = fs::read_to_string(&path).map_err(|e| MaintenanceError::Manifest {
        path: path.display().to_string(),
        message: format!("cannot read it ({e}): is {} a backup made by `granska backup`?", from.display()),
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| MaintenanceError::Manifest { path: path.display().to_string(), message: e.to_string() })?;
    if manifest.format != 1 {
        return Err(MaintenanceError::Manifest {
            path: path.display().to_string(),
            message: format!("format {} is not one this granska reads (1)", manifest.format),
        });
    }
    for f in &manifest.files {
        if f.path.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(MaintenanceError::Manifest {
                path: path.display().to_string(),
                message: format!("file path {:?} leaves the backup", f.path),
            });
        }
        let (size, sha256) = hash_file(&from.join(&f.path))?;
        if (size, &sha256) != (f.size, &f.sha256) {
            return Err(MaintenanceError::Mismatch {
                file: f.path.clone(),
                expected: format!("{} bytes, sha256 {}", f.size, f.sha256),
                found: format!("{size} bytes, sha256 {sha256}"),
            });
        }
    }
    Ok(manifest)
}

/// Verifies the backup `from`, then copies it into the new or empty data directory
/// `data_dir` (directories 0700, files 0600).
pub fn restore(from: &Path, data_dir: &Path) -> Result<Manifest> {
    let manifest = verify_backup(from)?;
    ensure_empty(data_dir)?;
    granska_types::private::create_dir_all(data_dir).map_err(io("creating", data_dir))?;
    for f in &manifest.files {
        let src = from.join(&f.path);
        let dst = data_dir.join(&f.path);
        if let Some(parent) = dst.parent() {
            granska_types::private::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        let bytes = fs::read(&src).map_err(io("reading", &src))?;
        let mut out = granska_types::private::create_new(&dst).map_err(io("creating", &dst))?;
        out.write_all(&bytes).and_then(|()| out.sync_all()).map_err(io("writing", &dst))?;
    }
    Ok(manifest)
}

/// What `granska check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Instances whose blob matched its sha256 and index row.
    pub instances_ok: u64,
    /// Result reports (CAD SRs) whose blob matched its sha256.
    pub reports_ok: u64,
    /// Every problem (damage): empty when the data directory is sound.
    pub problems: Vec<String>,
    /// Blob files no index row names (left by uploads interrupted before their commit;
    /// never acknowledged, harmless).
    pub orphan_blobs: Vec<String>,
}

/// Checks a data directory: every blob against its sha256 and index row, both SQLite files'
/// integrity, and the worklist's consistency (one live routing per exam, no duplicate live
/// tasks, an outcome or an open task for every routed exam).
pub fn check(data_dir: &Path, progress: impl FnMut(u64, u64)) -> Result<CheckReport> {
    if !data_dir.join("archive.db").is_file() {
        return Err(MaintenanceError::NotADataDir { path: data_dir.display().to_string() });
    }
    let archive = Archive::open(data_dir)?;
    let a = archive.check(progress)?;
    let mut report = CheckReport {
        instances_ok: a.instances_ok,
        reports_ok: a.reports_ok,
        problems: a.problems,
        orphan_blobs: a.orphan_blobs,
    };
    let worklist = data_dir.join("worklist.db");
    if worklist.is_file() {
        report.problems.extend(SqliteStore::check_file(&worklist)?);
    }
    Ok(report)
}
