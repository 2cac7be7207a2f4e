//! The instance and study index, and study assembly.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use granska_sqlite::Migration;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use granska_types::{Laterality, ScoringRecord, Uid, View};

use crate::attention::FailureOutcome;
use crate::audit::{AuditFilter, AuditRecord};
use crate::blobs::{self, BlobStore, LocalBlobs};
use crate::error::{Ctx, Error, Result, io, plumbing};
use crate::maintenance::Removed;
use crate::reports::{NewReport, ReportAttempt, ReportRecord};
use crate::store::ArchiveStore;

/// The index's migrations, oldest first (run by `granska_sqlite::migrate`, tracked in
/// `user_version`). Never edit one that has shipped; add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration { name: "0001_initial", sql: include_str!("../migrations/0001_initial.sql") },
    Migration { name: "0002_attention", sql: include_str!("../migrations/0002_attention.sql") },
    Migration { name: "0003_reports", sql: include_str!("../migrations/0003_reports.sql") },
    Migration { name: "0004_claims", sql: include_str!("../migrations/0004_claims.sql") },
];

pub use granska_types::STANDARD_VIEWS;

pub use granska_types::{Completion, StudyState};

/// A stored study state, or a corrupt row.
pub(crate) fn study_state(text: &str) -> Result<StudyState> {
    StudyState::parse(text).ok_or_else(|| Error::Corrupt { what: "study state", found: text.to_owned() })
}

/// An instance to store, with what was read from its (validated) header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    /// SOP Instance UID.
    pub sop_instance_uid: Uid,
    /// Study Instance UID.
    pub study_uid: Uid,
    /// Series Instance UID.
    pub series_uid: Uid,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Which breast.
    pub laterality: Laterality,
    /// Which view.
    pub view: View,
    /// Transfer syntax UID.
    pub transfer_syntax_uid: String,
    /// Patient ID (0010,0020), kept for the admin role only.
    pub patient_id: Option<String>,
    /// Patient's Name (0010,0010), kept for the admin role only.
    pub patient_name: Option<String>,
}

/// A stored instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    /// What was stored.
    pub instance: NewInstance,
    /// Size in bytes.
    pub size_bytes: u64,
    /// sha256 of the bytes (the blob's name).
    pub sha256: String,
    /// When it was stored, Unix ms.
    pub received_ms: i64,
}

/// What [`crate::ArchiveStore::put`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored; the study's state after it, and whether this instance made it complete (four
    /// views, or a late instance after routing).
    Stored {
        /// sha256 of the bytes.
        sha256: String,
        /// The study's state now.
        state: StudyState,
        /// This instance moved the study to `complete`.
        became_complete: bool,
    },
    /// The same instance (UID and bytes) was stored before; nothing changed.
    Duplicate {
        /// sha256 of the bytes.
        sha256: String,
    },
}

/// One recorded scoring result.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedScoring {
    /// The study generation it scored.
    pub generation: i64,
    /// The result (stored as versioned JSON; a record this build cannot read comes back as an
    /// unscorable one that says why).
    pub record: ScoringRecord,
    /// When, Unix ms.
    pub at_ms: i64,
}

/// Everything the index holds about one study.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRecord {
    /// Study Instance UID.
    pub study_uid: String,
    /// Assembly state.
    pub state: StudyState,
    /// Why it was completed (the latest reason).
    pub completion: Option<Completion>,
    /// Bumped by every stored instance.
    pub generation: i64,
    /// First instance stored, Unix ms.
    pub first_received_ms: i64,
    /// Last instance stored, Unix ms.
    pub last_received_ms: i64,
    /// Its instances, in arrival order.
    pub instances: Vec<InstanceRecord>,
    /// Its scoring results, oldest first.
    pub scorings: Vec<RecordedScoring>,
    /// Failed scoring/routing attempts since it was last stored or retried, with the last
    /// reason; `parked` when it needs an admin (state [`StudyState::NeedsAttention`]).
    pub attention: Option<Attention>,
}

/// Why a study's scoring or routing failed, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    /// The study (its text as stored: a study parked for an invalid UID is listed as it came).
    pub study_uid: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub reason: String,
    /// First failure, Unix ms.
    pub since_ms: i64,
    /// Last failure, Unix ms.
    pub last_ms: i64,
    /// No more automatic retries: it waits for an admin or a new instance.
    pub parked: bool,
}

/// The archive on one data directory: an SQLite index (`archive.db`, through the shared
/// `granska_sqlite` plumbing) over a [`BlobStore`], by default [`LocalBlobs`] in `blobs/`.
/// Its operations are those of [`ArchiveStore`]; the SQLite-file maintenance (check, backup)
/// is inherent.
pub struct Archive {
    root: PathBuf,
    blobs: Arc<dyn BlobStore>,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("root", &self.root).finish_non_exhaustive()
    }
}

impl Archive {
    /// Opens (creating) `data_dir/archive.db` and `data_dir/blobs/`.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        let root = data_dir.as_ref().to_path_buf();
        let blobs = root.join("blobs");
        granska_types::private::create_dir_all(&root).map_err(io("creating", &root))?;
        granska_types::private::create_dir_all(&blobs).map_err(io("creating", &blobs))?;
        Archive::open_with_blobs(root, Arc::new(LocalBlobs::new(blobs)))
    }

    /// Opens (creating) the index `data_dir/archive.db` over another blob store.
    pub fn open_with_blobs(data_dir: impl AsRef<Path>, blobs: Arc<dyn BlobStore>) -> Result<Self> {
        let root = data_dir.as_ref().to_path_buf();
        granska_types::private::create_dir_all(&root).map_err(io("creating", &root))?;
        let mut conn = granska_sqlite::open(&root.join("archive.db")).map_err(plumbing("opening the archive index"))?;
        granska_sqlite::migrate(&mut conn, MIGRATIONS, "archive index")
            .map_err(plumbing("migrating the archive index"))?;
        Ok(Archive { root, blobs, conn: Mutex::new(conn) })
    }

    /// Where the instances' bytes are.
    pub fn blobs(&self) -> &dyn BlobStore {
        self.blobs.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores one validated instance: the blob first (durable), then its index row and the
    /// study's assembly state in one transaction. Returns once both are durable.
    pub(crate) fn put(&self, bytes: &[u8], instance: &NewInstance, now_ms: i64) -> Result<PutOutcome> {
        let sha256 = blobs::sha256_hex(bytes);
        if let Some(stored) = self.stored_sha(instance.sop_instance_uid.as_str())? {
            return if stored == sha256 {
                Ok(PutOutcome::Duplicate { sha256 })
            } else {
                Err(Error::Conflict { sop_instance_uid: instance.sop_instance_uid.to_string(), stored_sha256: stored })
            };
        }
        self.blobs.write(&sha256, bytes)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("storing an instance")?;
        // Re-check inside the write lock: another connection may have stored it meanwhile.
        let raced: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM instances WHERE sop_instance_uid = ?1",
                [instance.sop_instance_uid.as_str()],
                |r| r.get(0),
            )
            .optional()
            .ctx("storing an instance")?;
        if let Some(stored) = raced {
            return if stored == sha256 {
                Ok(PutOutcome::Duplicate { sha256 })
            } else {
                Err(Error::Conflict { sop_instance_uid: instance.sop_instance_uid.to_string(), stored_sha256: stored })
            };
        }
        let state: Option<String> = tx
            .query_row("SELECT state FROM studies WHERE study_uid = ?1", [instance.study_uid.as_str()], |r| r.get(0))
            .optional()
            .ctx("storing an instance")?;
        match state {
            None => {
                tx.execute(
                    "INSERT INTO studies (study_uid, state, generation, first_received, last_received)
                     VALUES (?1, 'receiving', 1, ?2, ?2)",
                    params![instance.study_uid.as_str(), now_ms],
                )
                .ctx("storing an instance")?;
            }
            Some(_) => {
                tx.execute(
                    "UPDATE studies SET generation = generation + 1, last_received = ?2 WHERE study_uid = ?1",
                    params![instance.study_uid.as_str(), now_ms],
                )
                .ctx("storing an instance")?;
            }
        }
        let i = instance;
        tx.execute(
            "INSERT INTO instances (sop_instance_uid, study_uid, series_uid, sop_class_uid, laterality, view,
                 transfer_syntax_uid, size_bytes, sha256, patient_id, patient_name, received)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                i.sop_instance_uid.as_str(),
                i.study_uid.as_str(),
                i.series_uid.as_str(),
                i.sop_class_uid,
                i.laterality.as_str(),
                i.view.as_str(),
                i.transfer_syntax_uid,
                bytes.len() as i64,
                sha256,
                i.patient_id,
                i.patient_name,
                now_ms
            ],
        )
        .ctx("storing an instance")?;
        // New data is a fresh chance: earlier failures no longer hold the study back.
        let was_parked = tx
            .query_row("SELECT parked FROM attention WHERE study_uid = ?1", [i.study_uid.as_str()], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .ctx("storing an instance")?
            == Some(1);
        tx.execute("DELETE FROM attention WHERE study_uid = ?1", [i.study_uid.as_str()]).ctx("storing an instance")?;
        let before = state.as_deref().map(study_state).transpose()?;
        let completion = match before {
            None | Some(StudyState::Receiving) => {
                let present: Vec<(String, String)> = tx
                    .prepare("SELECT DISTINCT laterality, view FROM instances WHERE study_uid = ?1")
                    .and_then(|mut s| s.query_map([i.study_uid.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                    .ctx("storing an instance")?;
                // The one definition of a standard exam (granska-types), not an SQL literal.
                let four = STANDARD_VIEWS.iter().all(|(l, v)| {
                    present.iter().any(|(pl, pv)| pl.as_str() == l.as_str() && pv.as_str() == v.as_str())
                });
                four.then_some(Completion::FourViews)
            }
            Some(StudyState::Routed) | Some(StudyState::NeedsAttention) => Some(Completion::LateInstance),
            // Already queued: the scorer reads the instances when it starts, and a scoring of
            // an older generation does not count (see `record_scoring`).
            Some(StudyState::Complete) => None,
        };
        if let Some(c) = completion {
            tx.execute(
                "UPDATE studies SET state = 'complete', completion = ?2 WHERE study_uid = ?1",
                params![i.study_uid.as_str(), c.as_str()],
            )
            .ctx("storing an instance")?;
        }
        tx.commit().ctx("storing an instance")?;
        let state = match (completion, before) {
            (Some(_), _) => StudyState::Complete,
            (None, Some(s)) => s,
            (None, None) => StudyState::Receiving,
        };
        // A parked complete study is queued again by the new instance.
        let requeue = was_parked && before == Some(StudyState::Complete);
        Ok(PutOutcome::Stored { sha256, state, became_complete: completion.is_some() || requeue })
    }

    fn stored_sha(&self, sop_instance_uid: &str) -> Result<Option<String>> {
        self.lock()
            .query_row("SELECT sha256 FROM instances WHERE sop_instance_uid = ?1", [sop_instance_uid], |r| r.get(0))
            .optional()
            .ctx("looking up an instance")
    }

    /// Marks a receiving study complete; `Ok(false)` when it already was complete or routed.
    pub(crate) fn complete(&self, study_uid: &str, why: Completion) -> Result<bool> {
        let conn = self.lock();
        let changed = conn
            .execute(
                "UPDATE studies SET state = 'complete', completion = ?2 WHERE study_uid = ?1 AND state = 'receiving'",
                params![study_uid, why.as_str()],
            )
            .ctx("completing a study")?;
        if changed == 0 {
            let exists: bool = conn
                .query_row("SELECT COUNT(*) FROM studies WHERE study_uid = ?1", [study_uid], |r| r.get::<_, i64>(0))
                .ctx("completing a study")?
                > 0;
            if !exists {
                return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() });
            }
        }
        Ok(changed == 1)
    }

    /// Receiving studies whose last instance arrived at or before `cutoff_ms`.
    pub(crate) fn quiet_studies(&self, cutoff_ms: i64) -> Result<Vec<String>> {
        self.lock()
            .prepare_cached("SELECT study_uid FROM studies WHERE state = 'receiving' AND last_received <= ?1")
            .and_then(|mut s| s.query_map([cutoff_ms], |r| r.get(0))?.collect())
            .ctx("finding quiet studies")
    }

    /// Studies waiting to be scored, oldest first.
    pub(crate) fn pending(&self) -> Result<Vec<String>> {
        self.lock()
            .prepare_cached(
                "SELECT study_uid FROM studies s WHERE state = 'complete'
                   AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.study_uid = s.study_uid AND a.parked = 1)
                 ORDER BY last_received",
            )
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .ctx("listing studies to score")
    }

    pub(crate) fn pending_count(&self) -> Result<u64> {
        let n: i64 = self
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM studies s WHERE state = 'complete'
                   AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.study_uid = s.study_uid AND a.parked = 1)",
                [],
                |r| r.get(0),
            )
            .ctx("counting studies to score")?;
        Ok(n as u64)
    }

    pub(crate) fn ping(&self) -> Result<()> {
        self.lock().query_row("SELECT 1", [], |_| Ok(())).ctx("checking the archive index")
    }

    pub(crate) fn claim_scoring(&self, owner: &str, limit: usize, now_ms: i64, until_ms: i64) -> Result<Vec<String>> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("claiming studies to score")?;
        let uids: Vec<String> = tx
            .prepare_cached(
                "SELECT study_uid FROM studies s WHERE state = 'complete'
                   AND (scoring_until IS NULL OR scoring_until <= ?1)
                   AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.study_uid = s.study_uid AND a.parked = 1)
                 ORDER BY last_received, rowid LIMIT ?2",
            )
            .and_then(|mut s| s.query_map(params![now_ms, limit as i64], |r| r.get(0))?.collect())
            .ctx("claiming studies to score")?;
        for uid in &uids {
            tx.execute(
                "UPDATE studies SET scoring_owner = ?1, scoring_until = ?2 WHERE study_uid = ?3",
                params![owner, until_ms, uid],
            )
            .ctx("claiming studies to score")?;
        }
        tx.commit().ctx("claiming studies to score")?;
        Ok(uids)
    }

    pub(crate) fn renew_scoring(&self, owner: &str, studies: &[String], until_ms: i64) -> Result<Vec<String>> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("renewing scoring claims")?;
        let mut held = Vec::new();
        for uid in studies {
            let changed = tx
                .execute(
                    "UPDATE studies SET scoring_until = ?1 WHERE study_uid = ?2 AND scoring_owner = ?3",
                    params![until_ms, uid, owner],
                )
                .ctx("renewing scoring claims")?;
            if changed == 1 {
                held.push(uid.clone());
            }
        }
        tx.commit().ctx("renewing scoring claims")?;
        Ok(held)
    }

    pub(crate) fn release_scoring(&self, owner: &str, study_uid: &str) -> Result<()> {
        self.lock()
            .execute(
                "UPDATE studies SET scoring_owner = NULL, scoring_until = NULL WHERE study_uid = ?1 AND scoring_owner = ?2",
                params![study_uid, owner],
            )
            .ctx("releasing a scoring claim")?;
        Ok(())
    }

    pub(crate) fn release_all_scoring(&self, owner: &str) -> Result<u64> {
        let n = self
            .lock()
            .execute("UPDATE studies SET scoring_owner = NULL, scoring_until = NULL WHERE scoring_owner = ?1", [owner])
            .ctx("releasing scoring claims")?;
        Ok(n as u64)
    }

    /// Records a scoring result for `generation`. The study becomes `routed` only if no
    /// instance arrived since that generation; returns whether it did (otherwise it stays
    /// `complete` and must be scored again).
    pub(crate) fn record_scoring(
        &self,
        study_uid: &str,
        generation: i64,
        record: &ScoringRecord,
        report: bool,
        now_ms: i64,
    ) -> Result<bool> {
        let result_json = record.to_json();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("recording a scoring")?;
        tx.execute(
            "INSERT INTO scorings (study_uid, generation, result_json, at) VALUES (?1, ?2, ?3, ?4)",
            params![study_uid, generation, result_json, now_ms],
        )
        .ctx("recording a scoring")?;
        let routed = tx
            .execute(
                "UPDATE studies SET state = 'routed' WHERE study_uid = ?1 AND generation = ?2 AND state = 'complete'",
                params![study_uid, generation],
            )
            .ctx("recording a scoring")?
            == 1;
        if routed {
            tx.execute("DELETE FROM attention WHERE study_uid = ?1", [study_uid]).ctx("recording a scoring")?;
            // An older routing whose report was not made yet is not reported any more.
            tx.execute(
                "DELETE FROM report_queue WHERE study_uid = ?1 AND generation < ?2",
                params![study_uid, generation],
            )
            .ctx("recording a scoring")?;
            if report {
                tx.execute(
                    "INSERT OR IGNORE INTO report_queue (study_uid, generation) VALUES (?1, ?2)",
                    params![study_uid, generation],
                )
                .ctx("recording a scoring")?;
            }
        }
        tx.commit().ctx("recording a scoring")?;
        Ok(routed)
    }

    /// Everything about one study, or `None` when nothing of it was received.
    pub(crate) fn study(&self, study_uid: &str) -> Result<Option<StudyRecord>> {
        let conn = self.lock();
        let tx = conn.unchecked_transaction().ctx("loading a study")?;
        type Row = (String, Option<String>, i64, i64, i64);
        let row: Option<Row> = tx
            .query_row(
                "SELECT state, completion, generation, first_received, last_received FROM studies WHERE study_uid = ?1",
                [study_uid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .ctx("loading a study")?;
        let Some((state, completion, generation, first_received_ms, last_received_ms)) = row else { return Ok(None) };
        let instances = tx
            .prepare(
                "SELECT sop_instance_uid, study_uid, series_uid, sop_class_uid, laterality, view, transfer_syntax_uid,
                        patient_id, patient_name, size_bytes, sha256, received
                 FROM instances WHERE study_uid = ?1 ORDER BY received, sop_instance_uid",
            )
            .and_then(|mut s| {
                s.query_map([study_uid], |r| {
                    Ok(InstanceRecord {
                        instance: NewInstance {
                            sop_instance_uid: stored_uid(r, 0)?,
                            study_uid: stored_uid(r, 1)?,
                            series_uid: stored_uid(r, 2)?,
                            sop_class_uid: r.get(3)?,
                            laterality: stored_code(r, 4, Laterality::parse)?,
                            view: stored_code(r, 5, View::parse)?,
                            transfer_syntax_uid: r.get(6)?,
                            patient_id: r.get(7)?,
                            patient_name: r.get(8)?,
                        },
                        size_bytes: r.get::<_, i64>(9)? as u64,
                        sha256: r.get(10)?,
                        received_ms: r.get(11)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("loading a study")?;
        let scorings = tx
            .prepare("SELECT generation, result_json, at FROM scorings WHERE study_uid = ?1 ORDER BY id")
            .and_then(|mut s| {
                s.query_map([study_uid], |r| {
                    Ok(RecordedScoring {
                        generation: r.get(0)?,
                        record: ScoringRecord::from_json(&r.get::<_, String>(1)?),
                        at_ms: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("loading a study")?;
        let attention = crate::attention::read(&tx, study_uid)?;
        let mut state = study_state(&state)?;
        if attention.as_ref().is_some_and(|a| a.parked) {
            state = StudyState::NeedsAttention;
        }
        Ok(Some(StudyRecord {
            study_uid: study_uid.to_owned(),
            state,
            attention,
            completion: completion
                .map(|c: String| Completion::parse(&c).ok_or(Error::Corrupt { what: "completion", found: c }))
                .transpose()?,
            generation,
            first_received_ms,
            last_received_ms,
            instances,
            scorings,
        }))
    }

    /// A stored instance's bytes, checked against its hash.
    pub(crate) fn read_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        self.blobs.read(sha256)
    }

    /// Number of instances and of blob bytes stored (for metrics and tests).
    pub(crate) fn totals(&self) -> Result<(u64, u64)> {
        self.lock()
            .query_row("SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM instances", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .ctx("counting instances")
    }

    pub(crate) fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.lock()
    }
}

/// A UID column read back; a value that is not a UID (written before ingest validated them)
/// is reported as a corrupt row rather than guessed at.
/// A stored vocabulary code (laterality, view); an unknown one is a corrupt row.
fn stored_code<T>(row: &rusqlite::Row<'_>, column: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).ok_or_else(|| {
        let e = Error::Corrupt { what: "laterality or view code", found: text };
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(crate) fn stored_uid(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Uid> {
    let text: String = row.get(column)?;
    Uid::parse(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into()))
}

// The operations are written as crate-private inherent methods next to their SQL (index,
// attention, audit, maintenance); the trait exposes them. `Archive::name` resolves to the
// inherent method, not to the trait's.
impl ArchiveStore for Archive {
    fn root(&self) -> &Path {
        &self.root
    }

    fn put(&self, bytes: &[u8], instance: &NewInstance, now_ms: i64) -> Result<PutOutcome> {
        Archive::put(self, bytes, instance, now_ms)
    }

    fn complete(&self, study_uid: &str, why: Completion) -> Result<bool> {
        Archive::complete(self, study_uid, why)
    }

    fn quiet_studies(&self, cutoff_ms: i64) -> Result<Vec<String>> {
        Archive::quiet_studies(self, cutoff_ms)
    }

    fn pending(&self) -> Result<Vec<String>> {
        Archive::pending(self)
    }

    fn ping(&self) -> Result<()> {
        Archive::ping(self)
    }

    fn pending_count(&self) -> Result<u64> {
        Archive::pending_count(self)
    }

    fn claim_scoring(&self, owner: &str, limit: usize, now_ms: i64, until_ms: i64) -> Result<Vec<String>> {
        Archive::claim_scoring(self, owner, limit, now_ms, until_ms)
    }

    fn renew_scoring(&self, owner: &str, studies: &[String], until_ms: i64) -> Result<Vec<String>> {
        Archive::renew_scoring(self, owner, studies, until_ms)
    }

    fn release_scoring(&self, owner: &str, study_uid: &str) -> Result<()> {
        Archive::release_scoring(self, owner, study_uid)
    }

    fn release_all_scoring(&self, owner: &str) -> Result<u64> {
        Archive::release_all_scoring(self, owner)
    }

    fn record_scoring(
        &self,
        study_uid: &str,
        generation: i64,
        record: &ScoringRecord,
        report: bool,
        now_ms: i64,
    ) -> Result<bool> {
        Archive::record_scoring(self, study_uid, generation, record, report, now_ms)
    }

    fn study(&self, study_uid: &str) -> Result<Option<StudyRecord>> {
        Archive::study(self, study_uid)
    }

    fn read_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        Archive::read_blob(self, sha256)
    }

    fn totals(&self) -> Result<(u64, u64)> {
        Archive::totals(self)
    }

    fn audit(
        &self,
        at_ms: i64,
        principal: &str,
        role: &str,
        action: &str,
        studies: &[Option<&str>],
        outcome: &str,
    ) -> Result<()> {
        Archive::audit(self, at_ms, principal, role, action, studies, outcome)
    }

    fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        Archive::audit_records(self, filter)
    }

    fn record_failure(&self, study_uid: &str, reason: &str, max_attempts: u32, now_ms: i64) -> Result<FailureOutcome> {
        Archive::record_failure(self, study_uid, reason, max_attempts, now_ms)
    }

    fn needs_attention(&self) -> Result<Vec<Attention>> {
        Archive::needs_attention(self)
    }

    fn needs_attention_count(&self) -> Result<u64> {
        Archive::needs_attention_count(self)
    }

    fn retry(&self, study_uid: &str) -> Result<bool> {
        Archive::retry(self, study_uid)
    }

    fn add_report(&self, report: &NewReport, bytes: &[u8], now_ms: i64) -> Result<ReportRecord> {
        Archive::add_report(self, report, bytes, now_ms)
    }

    fn claim_due_reports(&self, now_ms: i64, limit: usize, hold_until_ms: i64) -> Result<Vec<ReportRecord>> {
        Archive::claim_due_reports(self, now_ms, limit, hold_until_ms)
    }

    fn next_report_due(&self) -> Result<Option<i64>> {
        Archive::next_report_due(self)
    }

    fn record_report_attempt(
        &self,
        sop_instance_uid: &str,
        attempt: &ReportAttempt,
        now_ms: i64,
    ) -> Result<ReportRecord> {
        Archive::record_report_attempt(self, sop_instance_uid, attempt, now_ms)
    }

    fn reports(&self, study_uid: &str) -> Result<Vec<ReportRecord>> {
        Archive::reports(self, study_uid)
    }

    fn report_counts(&self) -> Result<Vec<(granska_types::ReportState, u64)>> {
        Archive::report_counts(self)
    }

    fn claim_unreported(&self, now_ms: i64, hold_until_ms: i64, limit: usize) -> Result<Vec<(String, i64)>> {
        Archive::claim_unreported(self, now_ms, hold_until_ms, limit)
    }

    fn remove_instance(&self, sop_instance_uid: &str, now_ms: i64) -> Result<Removed> {
        Archive::remove_instance(self, sop_instance_uid, now_ms)
    }
}
