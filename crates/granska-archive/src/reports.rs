//! Result reports and their outbox: every Mammography CAD SR the core made for a routing, kept
//! as a blob, with its delivery state. The core's sender takes due reports, records each
//! attempt's outcome (the destination's status or why none came), and a report either ends
//! `sent`, or `failed` after the configured time: nothing waits for ever or silently.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use granska_types::{ReportState, Uid};

use crate::error::{Ctx, Error, Result};
use crate::index::Archive;

/// A report to keep (and send, when it has a destination).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// The SR's SOP Instance UID (new for every report).
    pub sop_instance_uid: Uid,
    /// The study it reports on.
    pub study_uid: Uid,
    /// The study generation whose routing it reports.
    pub generation: i64,
    /// `AE@host:port`, or empty to keep it in the archive only.
    pub destination: String,
}

/// One report as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// The SR's SOP Instance UID.
    pub sop_instance_uid: Uid,
    /// The study it reports on.
    pub study_uid: Uid,
    /// The study generation whose routing it reports.
    pub generation: i64,
    /// The SR's bytes in the blob store.
    pub sha256: String,
    /// Its size.
    pub size_bytes: u64,
    /// Where it goes (empty: kept only).
    pub destination: String,
    /// Delivery state.
    pub state: ReportState,
    /// Send attempts so far.
    pub attempts: u32,
    /// The last attempt's outcome: the status word (`0x0000`) or why no status came.
    pub last_status: Option<String>,
    /// When it was made, Unix ms.
    pub created_ms: i64,
    /// The last attempt, Unix ms.
    pub last_ms: Option<i64>,
    /// Pending: the next attempt is due then, Unix ms.
    pub next_ms: i64,
}

/// The outcome of one send attempt, as [`crate::ArchiveStore::record_report_attempt`] stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportAttempt {
    /// The destination stored it.
    Delivered {
        /// Its status word, e.g. `0x0000` (or a `0xB…` warning).
        status: String,
    },
    /// Not stored; try again at `retry_at_ms`, or give up (`None`: the report is `failed`).
    NotDelivered {
        /// The status word or why no status came.
        status: String,
        /// The next attempt, Unix ms; `None` gives up.
        retry_at_ms: Option<i64>,
    },
}

const COLUMNS: &str = "sop_instance_uid, study_uid, generation, sha256, size_bytes, destination, state, attempts, \
                       last_status, created, last_at, next_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRecord> {
    let uid = |i: usize| crate::index::stored_uid(r, i);
    let state: String = r.get(6)?;
    Ok(ReportRecord {
        sop_instance_uid: uid(0)?,
        study_uid: uid(1)?,
        generation: r.get(2)?,
        sha256: r.get(3)?,
        size_bytes: r.get::<_, i64>(4)?.max(0) as u64,
        destination: r.get(5)?,
        state: ReportState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Text,
                format!("report state {state:?}").into(),
            )
        })?,
        attempts: r.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_status: r.get(8)?,
        created_ms: r.get(9)?,
        last_ms: r.get(10)?,
        next_ms: r.get(11)?,
    })
}

impl Archive {
    pub(crate) fn add_report(&self, report: &NewReport, bytes: &[u8], now_ms: i64) -> Result<ReportRecord> {
        let sha256 = crate::sha256_hex(bytes);
        // The bytes first, durable; then the row that refers to them.
        self.blobs().write(&sha256, bytes)?;
        let state = if report.destination.is_empty() { ReportState::Kept } else { ReportState::Pending };
        let mut conn = self.connection();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("keeping a report")?;
        let known: i64 = tx
            .query_row("SELECT COUNT(*) FROM studies WHERE study_uid = ?1", [report.study_uid.as_str()], |r| r.get(0))
            .ctx("keeping a report")?;
        if known == 0 {
            return Err(Error::UnknownStudy { study_uid: report.study_uid.to_string() });
        }
        tx.execute(
            "UPDATE reports SET state = 'superseded', last_status = ?2 WHERE study_uid = ?1 AND state = 'pending'",
            params![report.study_uid.as_str(), format!("superseded by {}", report.sop_instance_uid)],
        )
        .ctx("keeping a report")?;
        tx.execute(
            "DELETE FROM report_queue WHERE study_uid = ?1 AND generation = ?2",
            params![report.study_uid.as_str(), report.generation],
        )
        .ctx("keeping a report")?;
        tx.execute(
            "INSERT INTO reports (sop_instance_uid, study_uid, generation, sha256, size_bytes, destination, state,
                                  attempts, created, next_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8)",
            params![
                report.sop_instance_uid.as_str(),
                report.study_uid.as_str(),
                report.generation,
                sha256,
                bytes.len() as i64,
                report.destination,
                state.as_str(),
                now_ms
            ],
        )
        .ctx("keeping a report")?;
        let record = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM reports WHERE sop_instance_uid = ?1"),
                [report.sop_instance_uid.as_str()],
                row,
            )
            .ctx("keeping a report")?;
        tx.commit().ctx("keeping a report")?;
        Ok(record)
    }

    pub(crate) fn claim_due_reports(&self, now_ms: i64, limit: usize, hold_until_ms: i64) -> Result<Vec<ReportRecord>> {
        let mut conn = self.connection();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("claiming due reports")?;
        let due: Vec<ReportRecord> = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM reports WHERE state = 'pending' AND next_at <= ?1
                 ORDER BY next_at, created, sop_instance_uid LIMIT ?2"
            ))
            .and_then(|mut s| s.query_map(params![now_ms, limit as i64], row)?.collect())
            .ctx("claiming due reports")?;
        let mut held = Vec::with_capacity(due.len());
        for mut report in due {
            tx.execute(
                "UPDATE reports SET next_at = ?1 WHERE sop_instance_uid = ?2",
                params![hold_until_ms, report.sop_instance_uid.as_str()],
            )
            .ctx("claiming due reports")?;
            report.next_ms = hold_until_ms;
            held.push(report);
        }
        tx.commit().ctx("claiming due reports")?;
        Ok(held)
    }

    pub(crate) fn next_report_due(&self) -> Result<Option<i64>> {
        self.connection()
            .query_row("SELECT MIN(next_at) FROM reports WHERE state = 'pending'", [], |r| r.get(0))
            .ctx("finding the next report due")
    }

    pub(crate) fn record_report_attempt(
        &self,
        sop_instance_uid: &str,
        attempt: &ReportAttempt,
        now_ms: i64,
    ) -> Result<ReportRecord> {
        let (state, status, next) = match attempt {
            ReportAttempt::Delivered { status } => (ReportState::Sent, status, None),
            ReportAttempt::NotDelivered { status, retry_at_ms: Some(at) } => (ReportState::Pending, status, Some(*at)),
            ReportAttempt::NotDelivered { status, retry_at_ms: None } => (ReportState::Failed, status, None),
        };
        let mut conn = self.connection();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("recording a report attempt")?;
        let changed = tx
            .execute(
                "UPDATE reports SET state = ?2, attempts = attempts + 1, last_status = ?3, last_at = ?4,
                        next_at = COALESCE(?5, next_at)
                 WHERE sop_instance_uid = ?1 AND state = 'pending'",
                params![sop_instance_uid, state.as_str(), status, now_ms, next],
            )
            .ctx("recording a report attempt")?;
        let record = tx
            .query_row(&format!("SELECT {COLUMNS} FROM reports WHERE sop_instance_uid = ?1"), [sop_instance_uid], row)
            .optional()
            .ctx("recording a report attempt")?;
        let Some(record) = record else {
            return Err(Error::UnknownReport { sop_instance_uid: sop_instance_uid.to_owned() });
        };
        if changed == 0 {
            return Err(Error::ReportNotPending { sop_instance_uid: sop_instance_uid.to_owned(), state: record.state });
        }
        tx.commit().ctx("recording a report attempt")?;
        Ok(record)
    }

    pub(crate) fn reports(&self, study_uid: &str) -> Result<Vec<ReportRecord>> {
        self.connection()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM reports WHERE study_uid = ?1 ORDER BY created, sop_instance_uid"
            ))
            .and_then(|mut s| s.query_map([study_uid], row)?.collect())
            .ctx("listing a study's reports")
    }

    pub(crate) fn report_counts(&self) -> Result<Vec<(ReportState, u64)>> {
        let conn = self.connection();
        ReportState::ALL
            .iter()
            .map(|&state| {
                conn.query_row("SELECT COUNT(*) FROM reports WHERE state = ?1", [state.as_str()], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| (state, n.max(0) as u64))
                .ctx("counting reports")
            })
            .collect()
    }

    pub(crate) fn claim_unreported(&self, now_ms: i64, hold_until_ms: i64, limit: usize) -> Result<Vec<(String, i64)>> {
        let mut conn = self.connection();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("claiming routings to report")?;
        let queued: Vec<(String, i64)> = tx
            .prepare_cached(
                "SELECT q.study_uid, q.generation FROM report_queue q
                 JOIN studies s ON s.study_uid = q.study_uid AND s.generation = q.generation AND s.state = 'routed'
                 WHERE q.held_until IS NULL OR q.held_until <= ?1
                 ORDER BY q.rowid LIMIT ?2",
            )
            .and_then(|mut s| s.query_map(params![now_ms, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .ctx("claiming routings to report")?;
        for (study, generation) in &queued {
            tx.execute(
                "UPDATE report_queue SET held_until = ?1 WHERE study_uid = ?2 AND generation = ?3",
                params![hold_until_ms, study, generation],
            )
            .ctx("claiming routings to report")?;
        }
        tx.commit().ctx("claiming routings to report")?;
        Ok(queued)
    }
}
