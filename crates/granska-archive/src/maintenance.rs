//! Keeping an archive healthy: the admin's way out of a corrupted copy
//! ([`crate::ArchiveStore::remove_instance`]), the integrity check ([`Archive::check`]) and the online
//! backup ([`Archive::backup_into`]).

use std::collections::HashSet;

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::blobs::{BlobStore, LocalBlobs};
use crate::error::{Ctx, Error, Result, io, plumbing};
use crate::index::Archive;
use crate::store::ArchiveStore;

/// What [`crate::ArchiveStore::remove_instance`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The instance's study.
    pub study_uid: String,
    /// sha256 of the removed bytes.
    pub sha256: String,
    /// The blob file was deleted too (no other instance had the same bytes).
    pub blob_deleted: bool,
}

/// What [`Archive::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Instances whose blob was read and matched its sha256.
    pub instances_ok: u64,
    /// Result reports (CAD SRs) whose blob was read and matched its sha256.
    pub reports_ok: u64,
    /// Problems: a missing or corrupt blob, an index row that does not agree, SQLite's
    /// integrity check. Any problem means the archive is damaged.
    pub problems: Vec<String>,
    /// Blob files no index row names: left by an upload interrupted between its fsync'd blob
    /// and its index commit (harmless; never acknowledged).
    pub orphan_blobs: Vec<String>,
}

impl Archive {
    /// Removes one stored instance (an admin's way out when a copy corrupted in transit was
    /// stored and the correct copy is refused as ALREADY_EXISTS). The study goes back to
    /// `receiving` with its quiet timer restarted, so the re-sent copy is scored with the rest;
    /// the blob is deleted when no other instance shares its bytes.
    pub(crate) fn remove_instance(&self, sop_instance_uid: &str, now_ms: i64) -> Result<Removed> {
        let mut conn = self.connection();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("removing an instance")?;
        let row: Option<(String, String)> = tx
            .query_row("SELECT study_uid, sha256 FROM instances WHERE sop_instance_uid = ?1", [sop_instance_uid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .ctx("removing an instance")?;
        let Some((study_uid, sha256)) = row else {
            return Err(Error::UnknownInstance { sop_instance_uid: sop_instance_uid.to_owned() });
        };
        tx.execute("DELETE FROM instances WHERE sop_instance_uid = ?1", [sop_instance_uid])
            .ctx("removing an instance")?;
        tx.execute(
            "UPDATE studies SET state = 'receiving', generation = generation + 1, last_received = ?2
             WHERE study_uid = ?1",
            params![study_uid, now_ms],
        )
        .ctx("removing an instance")?;
        tx.execute("DELETE FROM attention WHERE study_uid = ?1", [&study_uid]).ctx("removing an instance")?;
        let shared: i64 = tx
            .query_row("SELECT COUNT(*) FROM instances WHERE sha256 = ?1", [&sha256], |r| r.get(0))
            .ctx("removing an instance")?;
        tx.commit().ctx("removing an instance")?;
        // The index no longer names the blob, so failing to delete it leaves only an orphan
        // (reported by `check`), not an inconsistency.
        let blob_deleted = shared == 0 && matches!(self.blobs().delete(&sha256), Ok(true));
        Ok(Removed { study_uid, sha256, blob_deleted })
    }

    /// Reads every stored instance's blob and checks it against its sha256 and index row, runs
    /// SQLite's integrity check, and lists blob files no row names. `progress` is called with
    /// (checked, total) as it goes.
    pub fn check(&self, mut progress: impl FnMut(u64, u64)) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let (rows, integrity) = {
            let conn = self.connection();
            let integrity: Vec<String> = conn
                .prepare("PRAGMA integrity_check")
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .ctx("checking the index")?;
            let rows: Vec<(String, String, i64)> = conn
                .prepare(
                    "SELECT 'instance ' || sop_instance_uid, sha256, size_bytes FROM instances
                     UNION ALL SELECT 'report ' || sop_instance_uid, sha256, size_bytes FROM reports
                     ORDER BY 1",
                )
                .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
                .ctx("checking the index")?;
            (rows, integrity)
        };
        if integrity != ["ok"] {
            report.problems.extend(integrity.into_iter().map(|m| format!("archive.db integrity: {m}")));
        }
        let total = rows.len() as u64;
        let mut named = HashSet::new();
        for (i, (sop, sha, size)) in rows.into_iter().enumerate() {
            progress(i as u64, total);
            match self.blobs().read(&sha) {
                Ok(bytes) if bytes.len() as i64 == size => {
                    if sop.starts_with("instance ") {
                        report.instances_ok += 1;
                    } else {
                        report.reports_ok += 1;
                    }
                }
                Ok(bytes) => report
                    .problems
                    .push(format!("{sop}: blob {sha} holds {} bytes, the index says {size}", bytes.len())),
                Err(e) => report.problems.push(format!("{sop}: {e}")),
            }
            named.insert(sha);
        }
        progress(total, total);
        for sha in self.blobs().list()? {
            if !named.contains(&sha) {
                report.orphan_blobs.push(sha);
            }
        }
        Ok(report)
    }

    /// Copies the archive into the empty directory `out` while it is in use: the index by
    /// SQLite's online backup (a consistent snapshot), then every blob that snapshot names,
    /// each checked against its sha256 as it is copied. Returns the number of blobs copied.
    /// Everything acknowledged before the call began is in the copy.
    pub fn backup_into(&self, out: &Path) -> Result<u64> {
        let db = out.join("archive.db");
        granska_types::private::create_dir_all(out).map_err(io("creating", out))?;
        granska_sqlite::backup(&self.root().join("archive.db"), &db).map_err(plumbing("backing up the index"))?;
        let copy =
            Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).ctx("reading the backup index")?;
        let shas: Vec<String> = copy
            .prepare("SELECT sha256 FROM instances UNION SELECT sha256 FROM reports ORDER BY sha256")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .ctx("reading the backup index")?;
        let out_blobs = LocalBlobs::new(out.join("blobs"));
        for sha in &shas {
            let bytes = self.blobs().read(sha)?;
            out_blobs.write(sha, &bytes)?;
        }
        Ok(shas.len() as u64)
    }
}
