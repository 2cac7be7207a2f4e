//! Studies that need attention, on PostgreSQL: the failure count and parking of
//! `crate::attention`, decided under the study row's lock so that replicas recording failures
//! of one study at once count each of them.

use postgres::{Row, Transaction};

use crate::attention::FailureOutcome;
use crate::error::{Error, Result};
use crate::index::Attention;

use super::PgArchive;
use super::index::lock_study;
use super::txn::{Fail, col, count};

const COLUMNS: &str = "study_uid, attempts, reason, since, last_at, parked";

fn row(r: &Row) -> Result<Attention, Fail> {
    Ok(Attention {
        study_uid: col(r, 0)?,
        attempts: col::<i64>(r, 1)?.clamp(0, i64::from(u32::MAX)) as u32,
        reason: col(r, 2)?,
        since_ms: col(r, 3)?,
        last_ms: col(r, 4)?,
        parked: col(r, 5)?,
    })
}

pub(super) fn read(tx: &mut Transaction<'_>, study_uid: &str) -> Result<Option<Attention>, Fail> {
    tx.query_opt(&format!("SELECT {COLUMNS} FROM attention WHERE study_uid = $1"), &[&study_uid])?
        .map(|r| row(&r))
        .transpose()
}

impl PgArchive {
    pub(super) fn record_failure(
        &self,
        study_uid: &str,
        reason: &str,
        max_attempts: u32,
        now_ms: i64,
    ) -> Result<FailureOutcome> {
        self.write("recording a failure", |tx| {
            if lock_study(tx, study_uid)?.is_none() {
                return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() }.into());
            }
            let counted = tx.query_one(
                "INSERT INTO attention (study_uid, attempts, reason, since, last_at, parked)
                 VALUES ($1, 1, $2, $3, $3, FALSE)
                 ON CONFLICT (study_uid) DO UPDATE
                     SET attempts = attention.attempts + 1, reason = EXCLUDED.reason, last_at = EXCLUDED.last_at
                 RETURNING attempts",
                &[&study_uid, &reason, &now_ms],
            )?;
            let attempts: i64 = col(&counted, 0)?;
            let parked = attempts >= i64::from(max_attempts.max(1));
            if parked {
                tx.execute("UPDATE attention SET parked = TRUE WHERE study_uid = $1", &[&study_uid])?;
            }
            Ok(FailureOutcome { attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32, parked })
        })
    }

    pub(super) fn needs_attention(&self) -> Result<Vec<Attention>> {
        self.read("listing studies that need attention", |tx| {
            tx.query(&format!("SELECT {COLUMNS} FROM attention WHERE parked ORDER BY since, study_uid"), &[])?
                .iter()
                .map(row)
                .collect()
        })
    }

    pub(super) fn needs_attention_count(&self) -> Result<u64> {
        self.read("counting studies that need attention", |tx| {
            count(&tx.query_one("SELECT COUNT(*) FROM attention WHERE parked", &[])?, 0)
        })
    }

    pub(super) fn retry(&self, study_uid: &str) -> Result<bool> {
        self.write("retrying a study", |tx| {
            let Some(state) = lock_study(tx, study_uid)? else {
                return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() }.into());
            };
            tx.execute("DELETE FROM attention WHERE study_uid = $1", &[&study_uid])?;
            Ok(state == "complete")
        })
    }
}
