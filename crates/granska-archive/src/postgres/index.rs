//! The instance and study index on PostgreSQL, and study assembly: the same decisions as the
//! SQLite index (`crate::index`), taken under the study row's lock so that replicas racing on
//! one study take them one after the other.

use postgres::Transaction;

use granska_types::{Laterality, ScoringRecord, View};

use crate::blobs::sha256_hex;
use crate::error::{Error, Result};
use crate::index::{
    Completion, InstanceRecord, NewInstance, PutOutcome, RecordedScoring, STANDARD_VIEWS, StudyRecord, StudyState,
    study_state,
};

use super::PgArchive;
use super::txn::{BlobLock, End, Fail, code, col, count, lock_blob, uid};

/// The same UID stored before: the same bytes are a duplicate, others a conflict.
fn same_or_conflict(sop_instance_uid: &str, stored: String, sha256: &str) -> Result<PutOutcome> {
    if stored == sha256 {
        Ok(PutOutcome::Duplicate { sha256: sha256.to_owned() })
    } else {
        Err(Error::Conflict { sop_instance_uid: sop_instance_uid.to_owned(), stored_sha256: stored })
    }
}

fn stored_sha(tx: &mut Transaction<'_>, sop_instance_uid: &str) -> Result<Option<String>, Fail> {
    tx.query_opt("SELECT sha256 FROM instances WHERE sop_instance_uid = $1", &[&sop_instance_uid])?
        .map(|r| col(&r, 0))
        .transpose()
}

/// Locks the study's row for the rest of the transaction and returns its stored state;
/// `None` when there is no such study.
pub(super) fn lock_study(tx: &mut Transaction<'_>, study_uid: &str) -> Result<Option<String>, Fail> {
    tx.query_opt("SELECT state FROM studies WHERE study_uid = $1 FOR UPDATE", &[&study_uid])?
        .map(|r| col(&r, 0))
        .transpose()
}

impl PgArchive {
    pub(super) fn put(&self, bytes: &[u8], instance: &NewInstance, now_ms: i64) -> Result<PutOutcome> {
        let sha256 = sha256_hex(bytes);
        let i = instance;
        let sop = i.sop_instance_uid.as_str();
        let study = i.study_uid.as_str();
        // Most resends stop here, before any write.
        if let Some(stored) = self.read("looking up an instance", |tx| stored_sha(tx, sop))? {
            return same_or_conflict(sop, stored, &sha256);
        }
        self.write_or_undo("storing an instance", |tx| {
            // The bytes first, durable, under the blob's shared lock (a removal of the same bytes
            // on another replica cannot delete them until this row is committed).
            lock_blob(tx, &sha256, BlobLock::Shared)?;
            self.blobs.write(&sha256, bytes)?;
            let before = match lock_study(tx, study)? {
                Some(state) => Some(state),
                None => {
                    // A new study; if another replica created it meanwhile, this waited for its
                    // commit, inserted nothing, and the row can now be locked.
                    let created = tx.execute(
                        "INSERT INTO studies (study_uid, state, generation, first_received, last_received)
                         VALUES ($1, 'receiving', 1, $2, $2) ON CONFLICT (study_uid) DO NOTHING",
                        &[&study, &now_ms],
                    )?;
                    if created == 1 { None } else { Some(lock_study(tx, study)?.ok_or(Fail::Raced)?) }
                }
            };
            // The instance's primary key decides between replicas storing the same UID at once:
            // the second waits for the first to commit and then inserts nothing.
            let inserted = tx.execute(
                "INSERT INTO instances (sop_instance_uid, study_uid, series_uid, sop_class_uid, laterality, view,
                     transfer_syntax_uid, size_bytes, sha256, patient_id, patient_name, received)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (sop_instance_uid) DO NOTHING",
                &[
                    &sop,
                    &study,
                    &i.series_uid.as_str(),
                    &i.sop_class_uid,
                    &i.laterality.as_str(),
                    &i.view.as_str(),
                    &i.transfer_syntax_uid,
                    &(bytes.len() as i64),
                    &sha256,
                    &i.patient_id,
                    &i.patient_name,
                    &now_ms,
                ],
            )?;
            if inserted == 0 {
                // Stored meanwhile: nothing of this transaction (a study it created) holds.
                let stored = stored_sha(tx, sop)?.ok_or(Fail::Raced)?;
                return Ok((same_or_conflict(sop, stored, &sha256)?, End::Rollback));
            }
            if before.is_some() {
                tx.execute(
                    "UPDATE studies SET generation = generation + 1, last_received = $2 WHERE study_uid = $1",
                    &[&study, &now_ms],
                )?;
            }
            // New data is a fresh chance: earlier failures no longer hold the study back.
            let was_parked =
                match tx.query_opt("DELETE FROM attention WHERE study_uid = $1 RETURNING parked", &[&study])? {
                    Some(row) => col::<bool>(&row, 0)?,
                    None => false,
                };
            let before = before.as_deref().map(study_state).transpose()?;
            let completion = match before {
                None | Some(StudyState::Receiving) => {
                    let present = tx
                        .query("SELECT DISTINCT laterality, view FROM instances WHERE study_uid = $1", &[&study])?
                        .iter()
                        .map(|r| Ok((col::<String>(r, 0)?, col::<String>(r, 1)?)))
                        .collect::<Result<Vec<_>, Fail>>()?;
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
                    "UPDATE studies SET state = 'complete', completion = $2 WHERE study_uid = $1",
                    &[&study, &c.as_str()],
                )?;
            }
            let state = match (completion, before) {
                (Some(_), _) => StudyState::Complete,
                (None, Some(s)) => s,
                (None, None) => StudyState::Receiving,
            };
            // A parked complete study is queued again by the new instance.
            let requeue = was_parked && before == Some(StudyState::Complete);
            let outcome =
                PutOutcome::Stored { sha256: sha256.clone(), state, became_complete: completion.is_some() || requeue };
            Ok((outcome, End::Commit))
        })
    }

    pub(super) fn complete(&self, study_uid: &str, why: Completion) -> Result<bool> {
        self.write("completing a study", |tx| {
            let Some(state) = lock_study(tx, study_uid)? else {
                return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() }.into());
            };
            if state != StudyState::Receiving.as_str() {
                return Ok(false);
            }
            tx.execute(
                "UPDATE studies SET state = 'complete', completion = $2 WHERE study_uid = $1",
                &[&study_uid, &why.as_str()],
            )?;
            Ok(true)
        })
    }

    pub(super) fn quiet_studies(&self, cutoff_ms: i64) -> Result<Vec<String>> {
        self.read("finding quiet studies", |tx| {
            tx.query(
                "SELECT study_uid FROM studies WHERE state = 'receiving' AND last_received <= $1
                 ORDER BY last_received, id",
                &[&cutoff_ms],
            )?
            .iter()
            .map(|r| col(r, 0))
            .collect()
        })
    }

    pub(super) fn pending(&self) -> Result<Vec<String>> {
        self.read("listing studies to score", |tx| {
            tx.query(
                "SELECT study_uid FROM studies s WHERE state = 'complete'
                   AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.study_uid = s.study_uid AND a.parked)
                 ORDER BY last_received, id",
                &[],
            )?
            .iter()
            .map(|r| col(r, 0))
            .collect()
        })
    }

    pub(super) fn pending_count(&self) -> Result<u64> {
        self.read("counting studies to score", |tx| {
            count(
                &tx.query_one(
                    "SELECT COUNT(*) FROM studies s WHERE state = 'complete'
                       AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.study_uid = s.study_uid AND a.parked)",
                    &[],
                )?,
                0,
            )
        })
    }

    pub(super) fn ping(&self) -> Result<()> {
        self.read("checking the archive index", |tx| {
            tx.query_one("SELECT 1", &[])?;
            Ok(())
        })
    }

    pub(super) fn claim_scoring(&self, owner: &str, limit: usize, now_ms: i64, until_ms: i64) -> Result<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("claiming studies to score", |tx| {
            // SKIP LOCKED: replicas claiming at once pass over each other's rows instead of
            // waiting; a row claimed and committed meanwhile is re-checked on its new version
            // (its scoring_until) when locked, so it is never claimed twice.
            let rows = tx.query(
                "WITH due AS (
                     SELECT study_uid AS due_uid FROM studies s WHERE state = 'complete'
                       AND (scoring_until IS NULL OR scoring_until <= $1)
                       AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.study_uid = s.study_uid AND a.parked)
                     ORDER BY last_received, id LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE studies SET scoring_owner = $3, scoring_until = $4 FROM due
                 WHERE study_uid = due.due_uid
                 RETURNING study_uid, last_received, id",
                &[&now_ms, &limit, &owner, &until_ms],
            )?;
            let mut claimed = rows
                .iter()
                .map(|r| Ok((col::<i64>(r, 1)?, col::<i64>(r, 2)?, col::<String>(r, 0)?)))
                .collect::<Result<Vec<_>, Fail>>()?;
            claimed.sort();
            Ok(claimed.into_iter().map(|(_, _, uid)| uid).collect())
        })
    }

    pub(super) fn renew_scoring(&self, owner: &str, studies: &[String], until_ms: i64) -> Result<Vec<String>> {
        if studies.is_empty() {
            return Ok(Vec::new());
        }
        // Locked in one order (the uids sorted), so two replicas renewing never deadlock.
        let mut sorted = studies.to_vec();
        sorted.sort();
        self.write("renewing scoring claims", |tx| {
            let rows = tx.query(
                "WITH mine AS (SELECT study_uid AS mine_uid FROM studies WHERE study_uid = ANY($2) AND scoring_owner = $3
                               ORDER BY study_uid FOR UPDATE)
                 UPDATE studies SET scoring_until = $1 FROM mine WHERE study_uid = mine.mine_uid RETURNING study_uid",
                &[&until_ms, &sorted, &owner],
            )?;
            let held: std::collections::HashSet<String> = rows.iter().map(|r| col(r, 0)).collect::<Result<_, Fail>>()?;
            Ok(studies.iter().filter(|s| held.contains(*s)).cloned().collect())
        })
    }

    pub(super) fn release_scoring(&self, owner: &str, study_uid: &str) -> Result<()> {
        self.write("releasing a scoring claim", |tx| {
            tx.execute(
                "UPDATE studies SET scoring_owner = NULL, scoring_until = NULL WHERE study_uid = $1 AND scoring_owner = $2",
                &[&study_uid, &owner],
            )?;
            Ok(())
        })
    }

    pub(super) fn release_all_scoring(&self, owner: &str) -> Result<u64> {
        self.write("releasing scoring claims", |tx| {
            Ok(tx.execute(
                "UPDATE studies SET scoring_owner = NULL, scoring_until = NULL WHERE scoring_owner = $1",
                &[&owner],
            )?)
        })
    }

    pub(super) fn record_scoring(
        &self,
        study_uid: &str,
        generation: i64,
        record: &ScoringRecord,
        report: bool,
        now_ms: i64,
    ) -> Result<bool> {
        let result_json = record.to_json();
        self.write("recording a scoring", |tx| {
            // The lock first: the scoring row's foreign key would otherwise share-lock the study
            // row, and two replicas upgrading their share locks would deadlock. (An unknown
            // study fails the foreign key below, as on SQLite.)
            lock_study(tx, study_uid)?;
            tx.execute(
                "INSERT INTO scorings (study_uid, generation, result_json, at) VALUES ($1, $2, $3, $4)",
                &[&study_uid, &generation, &result_json, &now_ms],
            )?;
            let routed = tx.execute(
                "UPDATE studies SET state = 'routed' WHERE study_uid = $1 AND generation = $2 AND state = 'complete'",
                &[&study_uid, &generation],
            )? == 1;
            if routed {
                tx.execute("DELETE FROM attention WHERE study_uid = $1", &[&study_uid])?;
                // An older routing whose report was not made yet is not reported any more.
                tx.execute(
                    "DELETE FROM report_queue WHERE study_uid = $1 AND generation < $2",
                    &[&study_uid, &generation],
                )?;
                if report {
                    tx.execute(
                        "INSERT INTO report_queue (study_uid, generation) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&study_uid, &generation],
                    )?;
                }
            }
            Ok(routed)
        })
    }

    pub(super) fn study(&self, study_uid: &str) -> Result<Option<StudyRecord>> {
        self.read("loading a study", |tx| {
            let Some(row) = tx.query_opt(
                "SELECT state, completion, generation, first_received, last_received FROM studies WHERE study_uid = $1",
                &[&study_uid],
            )?
            else {
                return Ok(None);
            };
            let stored: String = col(&row, 0)?;
            let completion: Option<String> = col(&row, 1)?;
            let instances = tx
                .query(
                    "SELECT sop_instance_uid, study_uid, series_uid, sop_class_uid, laterality, view,
                            transfer_syntax_uid, patient_id, patient_name, size_bytes, sha256, received
                     FROM instances WHERE study_uid = $1 ORDER BY received, sop_instance_uid",
                    &[&study_uid],
                )?
                .iter()
                .map(|r| {
                    Ok(InstanceRecord {
                        instance: NewInstance {
                            sop_instance_uid: uid(r, 0)?,
                            study_uid: uid(r, 1)?,
                            series_uid: uid(r, 2)?,
                            sop_class_uid: col(r, 3)?,
                            laterality: code(r, 4, "laterality or view code", Laterality::parse)?,
                            view: code(r, 5, "laterality or view code", View::parse)?,
                            transfer_syntax_uid: col(r, 6)?,
                            patient_id: col(r, 7)?,
                            patient_name: col(r, 8)?,
                        },
                        size_bytes: count(r, 9)?,
                        sha256: col(r, 10)?,
                        received_ms: col(r, 11)?,
                    })
                })
                .collect::<Result<Vec<_>, Fail>>()?;
            let scorings = tx
                .query(
                    "SELECT generation, result_json, at FROM scorings WHERE study_uid = $1 ORDER BY id",
                    &[&study_uid],
                )?
                .iter()
                .map(|r| {
                    Ok(RecordedScoring {
                        generation: col(r, 0)?,
                        record: ScoringRecord::from_json(col(r, 1)?),
                        at_ms: col(r, 2)?,
                    })
                })
                .collect::<Result<Vec<_>, Fail>>()?;
            let attention = super::attention::read(tx, study_uid)?;
            let mut state = study_state(&stored)?;
            if attention.as_ref().is_some_and(|a| a.parked) {
                state = StudyState::NeedsAttention;
            }
            let completion = match completion {
                None => None,
                Some(text) => match Completion::parse(&text) {
                    Some(c) => Some(c),
                    None => return Err(Error::Corrupt { what: "completion", found: text }.into()),
                },
            };
            Ok(Some(StudyRecord {
                study_uid: study_uid.to_owned(),
                state,
                attention,
                completion,
                generation: col(&row, 2)?,
                first_received_ms: col(&row, 3)?,
                last_received_ms: col(&row, 4)?,
                instances,
                scorings,
            }))
        })
    }

    pub(super) fn totals(&self) -> Result<(u64, u64)> {
        self.read("counting instances", |tx| {
            let row = tx.query_one("SELECT COUNT(*), COALESCE(SUM(size_bytes), 0)::BIGINT FROM instances", &[])?;
            Ok((count(&row, 0)?, count(&row, 1)?))
        })
    }
}
