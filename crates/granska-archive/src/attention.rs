//! Studies that need attention: scoring or routing failed after the study was acknowledged.
//!
//! Each failure is counted; the pipeline retries with backoff until `max_attempts`, then the
//! study is parked (`needs-attention`) with its reason, listed for the admin and counted in
//! metrics. It leaves that state when it is routed, when a new instance arrives, or when an
//! admin retries it. Nothing acknowledged loops for ever or stays invisible.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Ctx, Error, Result};
use crate::index::{Archive, Attention};

/// What [`crate::ArchiveStore::record_failure`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Failed attempts so far, this one included.
    pub attempts: u32,
    /// The study is now parked: no more automatic retries.
    pub parked: bool,
}

pub(crate) fn read(tx: &Transaction<'_>, study_uid: &str) -> Result<Option<Attention>> {
    tx.query_row(
        "SELECT study_uid, attempts, reason, since, last_at, parked FROM attention WHERE study_uid = ?1",
        [study_uid],
        row,
    )
    .optional()
    .ctx("loading a study")
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attention> {
    Ok(Attention {
        study_uid: r.get(0)?,
        attempts: r.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
        reason: r.get(2)?,
        since_ms: r.get(3)?,
        last_ms: r.get(4)?,
        parked: r.get::<_, i64>(5)? == 1,
    })
}

impl Archive {
    /// Records one failed scoring/routing attempt of a study with its reason; parks the study
    /// once `max_attempts` failures have been recorded since it was last stored or retried.
    pub(crate) fn record_failure(
        &self,
        study_uid: &str,
        reason: &str,
        max_attempts: u32,
        now_ms: i64,
    ) -> Result<FailureOutcome> {
        let mut conn = self.connection();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("recording a failure")?;
        let exists: i64 = tx
            .query_row("SELECT COUNT(*) FROM studies WHERE study_uid = ?1", [study_uid], |r| r.get(0))
            .ctx("recording a failure")?;
        if exists == 0 {
            return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() });
        }
        tx.execute(
            "INSERT INTO attention (study_uid, attempts, reason, since, last_at, parked) VALUES (?1, 1, ?2, ?3, ?3, 0)
             ON CONFLICT (study_uid) DO UPDATE SET attempts = attempts + 1, reason = ?2, last_at = ?3",
            params![study_uid, reason, now_ms],
        )
        .ctx("recording a failure")?;
        let attempts: i64 = tx
            .query_row("SELECT attempts FROM attention WHERE study_uid = ?1", [study_uid], |r| r.get(0))
            .ctx("recording a failure")?;
        let parked = attempts >= i64::from(max_attempts.max(1));
        if parked {
            tx.execute("UPDATE attention SET parked = 1 WHERE study_uid = ?1", [study_uid])
                .ctx("recording a failure")?;
        }
        tx.commit().ctx("recording a failure")?;
        Ok(FailureOutcome { attempts: attempts as u32, parked })
    }

    /// Every parked study, oldest failure first.
    pub(crate) fn needs_attention(&self) -> Result<Vec<Attention>> {
        self.connection()
            .prepare_cached(
                "SELECT study_uid, attempts, reason, since, last_at, parked FROM attention WHERE parked = 1
                 ORDER BY since, study_uid",
            )
            .and_then(|mut s| s.query_map([], row)?.collect())
            .ctx("listing studies that need attention")
    }

    /// How many studies are parked (for the metrics gauge).
    pub(crate) fn needs_attention_count(&self) -> Result<u64> {
        self.connection()
            .query_row("SELECT COUNT(*) FROM attention WHERE parked = 1", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .ctx("counting studies that need attention")
    }

    /// An admin's retry: forgets the failures of a study and, if it is waiting to be scored,
    /// returns `true` so the caller queues it again. Unknown study → `UnknownStudy`.
    pub(crate) fn retry(&self, study_uid: &str) -> Result<bool> {
        let mut conn = self.connection();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("retrying a study")?;
        let state: Option<String> = tx
            .query_row("SELECT state FROM studies WHERE study_uid = ?1", [study_uid], |r| r.get(0))
            .optional()
            .ctx("retrying a study")?;
        let Some(state) = state else { return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() }) };
        tx.execute("DELETE FROM attention WHERE study_uid = ?1", [study_uid]).ctx("retrying a study")?;
        tx.commit().ctx("retrying a study")?;
        Ok(state == "complete")
    }
}
