//! Result reports and their outbox on PostgreSQL (`crate::reports`): a report is kept under its
//! study's row lock (superseding the older pending ones and taking its routing off the queue in
//! the same transaction), and a send attempt is recorded under the report row's lock, so two
//! replicas' senders never both record one report as delivered.

use postgres::Row;

use granska_types::ReportState;

use crate::blobs::sha256_hex;
use crate::error::{Error, Result};
use crate::reports::{NewReport, ReportAttempt, ReportRecord};

use super::PgArchive;
use super::index::lock_study;
use super::txn::{BlobLock, Fail, code, col, count, lock_blob, uid};

const COLUMNS: &str = "sop_instance_uid, study_uid, generation, sha256, size_bytes, destination, state, attempts, \
                       last_status, created, last_at, next_at";

fn row(r: &Row) -> Result<ReportRecord, Fail> {
    Ok(ReportRecord {
        sop_instance_uid: uid(r, 0)?,
        study_uid: uid(r, 1)?,
        generation: col(r, 2)?,
        sha256: col(r, 3)?,
        size_bytes: count(r, 4)?,
        destination: col(r, 5)?,
        state: code(r, 6, "report state", ReportState::parse)?,
        attempts: col::<i64>(r, 7)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_status: col(r, 8)?,
        created_ms: col(r, 9)?,
        last_ms: col(r, 10)?,
        next_ms: col(r, 11)?,
    })
}

impl PgArchive {
    pub(super) fn add_report(&self, report: &NewReport, bytes: &[u8], now_ms: i64) -> Result<ReportRecord> {
        let sha256 = sha256_hex(bytes);
        let state = if report.destination.is_empty() { ReportState::Kept } else { ReportState::Pending };
        let study = report.study_uid.as_str();
        self.write("keeping a report", |tx| {
            // The bytes first, durable; then the row that refers to them.
            lock_blob(tx, &sha256, BlobLock::Shared)?;
            self.blobs.write(&sha256, bytes)?;
            if lock_study(tx, study)?.is_none() {
                return Err(Error::UnknownStudy { study_uid: study.to_owned() }.into());
            }
            tx.execute(
                "UPDATE reports SET state = 'superseded', last_status = $2 WHERE study_uid = $1 AND state = 'pending'",
                &[&study, &format!("superseded by {}", report.sop_instance_uid)],
            )?;
            tx.execute(
                "DELETE FROM report_queue WHERE study_uid = $1 AND generation = $2",
                &[&study, &report.generation],
            )?;
            let kept = tx.query_one(
                &format!(
                    "INSERT INTO reports (sop_instance_uid, study_uid, generation, sha256, size_bytes, destination,
                                          state, attempts, created, next_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)
                     RETURNING {COLUMNS}"
                ),
                &[
                    &report.sop_instance_uid.as_str(),
                    &study,
                    &report.generation,
                    &sha256,
                    &(bytes.len() as i64),
                    &report.destination,
                    &state.as_str(),
                    &now_ms,
                ],
            )?;
            row(&kept)
        })
    }

    pub(super) fn claim_due_reports(&self, now_ms: i64, limit: usize, hold_until_ms: i64) -> Result<Vec<ReportRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("claiming due reports", |tx| {
            // SKIP LOCKED: replicas sending at once take different reports.
            let mut due = tx
                .query(
                    &format!(
                        "WITH due AS (
                             SELECT sop_instance_uid AS due_sop FROM reports WHERE state = 'pending' AND next_at <= $1
                             ORDER BY next_at, created, sop_instance_uid LIMIT $2
                             FOR UPDATE SKIP LOCKED)
                         UPDATE reports SET next_at = $3 FROM due WHERE sop_instance_uid = due.due_sop
                         RETURNING {COLUMNS}"
                    ),
                    &[&now_ms, &limit, &hold_until_ms],
                )?
                .iter()
                .map(row)
                .collect::<Result<Vec<_>, Fail>>()?;
            due.sort_by(|a, b| {
                (a.created_ms, a.sop_instance_uid.as_str()).cmp(&(b.created_ms, b.sop_instance_uid.as_str()))
            });
            Ok(due)
        })
    }

    pub(super) fn next_report_due(&self) -> Result<Option<i64>> {
        self.read("finding the next report due", |tx| {
            col(&tx.query_one("SELECT MIN(next_at) FROM reports WHERE state = 'pending'", &[])?, 0)
        })
    }

    pub(super) fn record_report_attempt(
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
        self.write("recording a report attempt", |tx| {
            // The row's lock: another replica's sender recording the same report waits, then
            // finds it no longer pending.
            let Some(locked) =
                tx.query_opt("SELECT state FROM reports WHERE sop_instance_uid = $1 FOR UPDATE", &[&sop_instance_uid])?
            else {
                return Err(Error::UnknownReport { sop_instance_uid: sop_instance_uid.to_owned() }.into());
            };
            let now_state = code(&locked, 0, "report state", ReportState::parse)?;
            if now_state != ReportState::Pending {
                return Err(Error::ReportNotPending {
                    sop_instance_uid: sop_instance_uid.to_owned(),
                    state: now_state,
                }
                .into());
            }
            let updated = tx.query_one(
                &format!(
                    "UPDATE reports SET state = $2, attempts = attempts + 1, last_status = $3, last_at = $4,
                            next_at = COALESCE($5, next_at)
                     WHERE sop_instance_uid = $1
                     RETURNING {COLUMNS}"
                ),
                &[&sop_instance_uid, &state.as_str(), status, &now_ms, &next],
            )?;
            row(&updated)
        })
    }

    pub(super) fn reports(&self, study_uid: &str) -> Result<Vec<ReportRecord>> {
        self.read("listing a study's reports", |tx| {
            tx.query(
                &format!("SELECT {COLUMNS} FROM reports WHERE study_uid = $1 ORDER BY created, sop_instance_uid"),
                &[&study_uid],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }

    pub(super) fn report_counts(&self) -> Result<Vec<(ReportState, u64)>> {
        self.read("counting reports", |tx| {
            let counted = tx
                .query("SELECT state, COUNT(*) FROM reports GROUP BY state", &[])?
                .iter()
                .map(|r| Ok((code(r, 0, "report state", ReportState::parse)?, count(r, 1)?)))
                .collect::<Result<Vec<_>, Fail>>()?;
            Ok(ReportState::ALL
                .iter()
                .map(|&state| (state, counted.iter().find(|(s, _)| *s == state).map_or(0, |&(_, n)| n)))
                .collect())
        })
    }

    pub(super) fn claim_unreported(&self, now_ms: i64, hold_until_ms: i64, limit: usize) -> Result<Vec<(String, i64)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("claiming routings to report", |tx| {
            let rows = tx.query(
                "WITH due AS (
                     SELECT q.id AS due_id FROM report_queue q
                     JOIN studies s ON s.study_uid = q.study_uid AND s.generation = q.generation AND s.state = 'routed'
                     WHERE q.held_until IS NULL OR q.held_until <= $1
                     ORDER BY q.id LIMIT $2
                     FOR UPDATE OF q SKIP LOCKED)
                 UPDATE report_queue SET held_until = $3 FROM due WHERE id = due.due_id
                 RETURNING id, study_uid, generation",
                &[&now_ms, &limit, &hold_until_ms],
            )?;
            let mut held = rows
                .iter()
                .map(|r| Ok((col::<i64>(r, 0)?, col::<String>(r, 1)?, col::<i64>(r, 2)?)))
                .collect::<Result<Vec<_>, Fail>>()?;
            held.sort();
            Ok(held.into_iter().map(|(_, study, generation)| (study, generation)).collect())
        })
    }
}
