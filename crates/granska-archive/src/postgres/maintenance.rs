//! The admin's way out of a corrupted copy on PostgreSQL ([`crate::ArchiveStore::remove_instance`]).
//! The SQLite archive's integrity check and backup are SQLite-file maintenance with no
//! counterpart here: PostgreSQL has its own (`pg_dump`, `amcheck`).

use crate::error::{Error, Result};
use crate::maintenance::Removed;

use super::PgArchive;
use super::index::lock_study;
use super::txn::{BlobLock, Fail, col, count, lock_blob};

impl PgArchive {
    pub(super) fn remove_instance(&self, sop_instance_uid: &str, now_ms: i64) -> Result<Removed> {
        // Set once the file is gone, in case the commit after it must be run again.
        let mut deleted = false;
        self.write("removing an instance", |tx| {
            let Some(row) = tx.query_opt(
                "SELECT study_uid, sha256 FROM instances WHERE sop_instance_uid = $1",
                &[&sop_instance_uid],
            )?
            else {
                return Err(Error::UnknownInstance { sop_instance_uid: sop_instance_uid.to_owned() }.into());
            };
            let (study_uid, sha256): (String, String) = (col(&row, 0)?, col(&row, 1)?);
            // The blob's lock before the study's, in the order every put takes them.
            lock_blob(tx, &sha256, BlobLock::Exclusive)?;
            lock_study(tx, &study_uid)?;
            let removed = tx.execute(
                "DELETE FROM instances WHERE sop_instance_uid = $1 AND study_uid = $2 AND sha256 = $3",
                &[&sop_instance_uid, &study_uid, &sha256],
            )?;
            if removed == 0 {
                // Removed (or removed and stored again) by another replica since the first read.
                return Err(Fail::Raced);
            }
            tx.execute(
                "UPDATE studies SET state = 'receiving', generation = generation + 1, last_received = $2
                 WHERE study_uid = $1",
                &[&study_uid, &now_ms],
            )?;
            tx.execute("DELETE FROM attention WHERE study_uid = $1", &[&study_uid])?;
            let shared = count(&tx.query_one("SELECT COUNT(*) FROM instances WHERE sha256 = $1", &[&sha256])?, 0)?;
            // Deleted before the commit, under the blob's exclusive lock: no put of the same
            // bytes can have found the file present and be about to name it. Should the commit
            // fail, the instance is still listed with its blob gone (`check` would say so) and
            // removing it again finishes the job. Failing to delete leaves an orphan, not an
            // inconsistency.
            if shared == 0 && !deleted {
                deleted = matches!(self.blobs.delete(&sha256), Ok(true));
            }
            Ok(Removed { study_uid, sha256, blob_deleted: shared == 0 && deleted })
        })
    }
}
