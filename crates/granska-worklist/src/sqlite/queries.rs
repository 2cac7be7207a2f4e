//! Read-only queries: the reader's worklist page, an exam's history, counts, and the
//! consistency check. Each runs in one read transaction, so it sees one snapshot.

use granska_triage::{Flag, PolicyId, ReadingMode};
use rusqlite::{Connection, OptionalExtension, Row, named_params};

use super::ELIGIBLE;
use super::rows::{self, Ctx};
use crate::error::{Error, Result};
use crate::model::{
    Counts, Event, ExamStatus, ModelIdentity, Outcome, OutcomeVia, PageRequest, ReadDecision, Reader, Routing,
    StudyHistory, TaskKind, TaskState, WorklistEntry, WorklistPage,
};
use crate::workflow;

const ENTRY_COLUMNS: &str = "t.id, t.kind, t.state, s.study_uid, r.status, r.category, r.reading_mode, r.flags,
    r.reason, t.waiting_since";
const PRIORITY_ORDER: &str = "t.flagged DESC, t.rank DESC, t.waiting_since, t.id";

fn flags(row: &Row, index: usize) -> rusqlite::Result<Vec<Flag>> {
    let text: String = row.get(index)?;
    text.split(',')
        .filter(|f| !f.is_empty())
        .map(|f| {
            Flag::parse(f).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    index,
                    rusqlite::types::Type::Text,
                    Box::new(Error::Corrupt { what: "flag", found: f.to_owned() }),
                )
            })
        })
        .collect()
}

fn entry(row: &Row, cutoff: i64) -> rusqlite::Result<WorklistEntry> {
    let waiting_since_ms: i64 = row.get(9)?;
    Ok(WorklistEntry {
        task_id: row.get(0)?,
        kind: rows::parse(row, 1, "task kind", TaskKind::parse)?,
        state: rows::parse(row, 2, "task state", TaskState::parse)?,
        study_uid: row.get(3)?,
        status: rows::parse(row, 4, "score status", ExamStatus::parse)?,
        category: row.get(5)?,
        mode: rows::parse(row, 6, "reading mode", ReadingMode::parse)?,
        flags: flags(row, 7)?,
        reason: row.get(8)?,
        waiting_since_ms,
        overdue: waiting_since_ms < cutoff,
    })
}

/// The reader's claimed tasks, then overdue eligible tasks, then the other eligible tasks,
/// each segment in its order; `page` indexes the concatenation.
pub fn worklist(
    conn: &Connection,
    reader: &Reader,
    page: PageRequest,
    now: i64,
    max_wait: i64,
) -> Result<WorklistPage> {
    const OP: &str = "listing the worklist";
    let tx = conn.unchecked_transaction().ctx(OP)?;
    let cutoff = now - max_wait;
    let from = "FROM tasks t {index} JOIN studies s ON s.id = t.study_id JOIN routings r ON r.id = t.routing_id";
    let segments = [
        (from.replace("{index}", ""), "t.state = 'claimed' AND t.claimed_by = :reader".to_owned(), "t.id", false),
        (
            from.replace("{index}", "INDEXED BY tasks_waiting"),
            format!("t.state = 'queued' AND t.waiting_since < :cutoff AND {ELIGIBLE}"),
            PRIORITY_ORDER,
            true,
        ),
        (
            from.replace("{index}", "INDEXED BY tasks_queue"),
            format!("t.state = 'queued' AND t.waiting_since >= :cutoff AND {ELIGIBLE}"),
            PRIORITY_ORDER,
            true,
        ),
    ];
    let want = page.limit as usize + 1;
    let mut skip = page.offset;
    let mut entries: Vec<WorklistEntry> = Vec::with_capacity(want);
    for (from, condition, order, queued) in &segments {
        if entries.len() >= want {
            break;
        }
        let take = want - entries.len();
        let sql = format!("SELECT {ENTRY_COLUMNS} {from} WHERE {condition} ORDER BY {order} LIMIT :take OFFSET :skip");
        let mut stmt = tx.prepare_cached(&sql).ctx(OP)?;
        let to_entry = |row: &Row| entry(row, cutoff);
        let found: Vec<WorklistEntry> = if *queued {
            stmt.query_map(
                named_params! {":reader": reader.id, ":consensus": reader.consensus, ":cutoff": cutoff, ":take": take as i64, ":skip": skip as i64},
                to_entry,
            )
            .and_then(|rows| rows.collect())
        } else {
            stmt.query_map(named_params! {":reader": reader.id, ":take": take as i64, ":skip": skip as i64}, to_entry)
                .and_then(|rows| rows.collect())
        }
        .ctx(OP)?;
        if found.len() < take {
            // This segment is exhausted; the rest of the offset applies to the next one.
            skip = if found.is_empty() && skip > 0 {
                let count_sql = format!("SELECT COUNT(*) {from} WHERE {condition}");
                let total: i64 = if *queued {
                    tx.query_row(
                        &count_sql,
                        named_params! {":reader": reader.id, ":consensus": reader.consensus, ":cutoff": cutoff},
                        |r| r.get(0),
                    )
                } else {
                    tx.query_row(&count_sql, named_params! {":reader": reader.id}, |r| r.get(0))
                }
                .ctx(OP)?;
                skip.saturating_sub(total as u64)
            } else {
                0
            };
        } else {
            skip = 0;
        }
        entries.extend(found);
    }
    let next_offset = if entries.len() > page.limit as usize {
        entries.truncate(page.limit as usize);
        Some(page.offset + page.limit as u64)
    } else {
        None
    };
    Ok(WorklistPage { entries, next_offset })
}

/// Everything about one exam.
pub fn history(conn: &Connection, study_uid: &str) -> Result<StudyHistory> {
    const OP: &str = "loading an exam's history";
    let tx = conn.unchecked_transaction().ctx(OP)?;
    type StudyRow = (i64, i64, Option<String>, Option<String>, Option<i64>);
    let study: Option<StudyRow> = tx
        .query_row(
            "SELECT id, waiting_since, outcome, outcome_via, outcome_at FROM studies WHERE study_uid = ?1",
            [study_uid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .ctx(OP)?;
    let Some((id, waiting_since_ms, outcome, via, at)) = study else {
        return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() });
    };
    let outcome = match (outcome, via, at) {
        (Some(o), Some(v), Some(at_ms)) => Some(Outcome {
            decision: ReadDecision::parse(&o).ok_or(Error::Corrupt { what: "outcome", found: o })?,
            via: OutcomeVia::parse(&v).ok_or(Error::Corrupt { what: "outcome route", found: v })?,
            at_ms,
        }),
        _ => None,
    };
    let routings = tx
        .prepare(
            "SELECT id, status, model_name, model_version, model_sha256, raw_score, category, extra_high, reason,
                    policy_name, policy_version, reading_mode, flags, decided_at, applied, superseded_by IS NOT NULL
             FROM routings WHERE study_id = ?1 ORDER BY id",
        )
        .and_then(|mut s| {
            s.query_map([id], |r| {
                let name: Option<String> = r.get(2)?;
                Ok(Routing {
                    id: r.get(0)?,
                    status: rows::parse(r, 1, "score status", ExamStatus::parse)?,
                    model: match name {
                        Some(name) => Some(ModelIdentity { name, version: r.get(3)?, sha256: r.get(4)? }),
                        None => None,
                    },
                    raw_score: r.get(5)?,
                    category: r.get(6)?,
                    extra_high: r.get(7)?,
                    reason: r.get(8)?,
                    policy: PolicyId { name: r.get(9)?, version: r.get(10)? },
                    mode: rows::parse(r, 11, "reading mode", ReadingMode::parse)?,
                    flags: flags(r, 12)?,
                    decided_at_ms: r.get(13)?,
                    applied: r.get(14)?,
                    superseded: r.get(15)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx(OP)?;
    let tasks = tx
        .prepare(&format!(
            "SELECT {} FROM tasks t JOIN studies s ON s.id = t.study_id WHERE t.study_id = ?1 ORDER BY t.id",
            rows::TASK_COLUMNS
        ))
        .and_then(|mut s| s.query_map([id], |r| rows::task(r).map(|t| t.task))?.collect::<rusqlite::Result<Vec<_>>>())
        .ctx(OP)?;
    let reads = tx
        .prepare(&format!("SELECT {} FROM reads r WHERE r.study_id = ?1 ORDER BY r.id", rows::READ_COLUMNS))
        .and_then(|mut s| s.query_map([id], rows::read)?.collect::<rusqlite::Result<Vec<_>>>())
        .ctx(OP)?;
    let events = tx
        .prepare("SELECT seq, at, task_id, actor, kind, detail FROM events WHERE study_id = ?1 ORDER BY seq")
        .and_then(|mut s| {
            s.query_map([id], |r| {
                Ok(Event {
                    seq: r.get(0)?,
                    at_ms: r.get(1)?,
                    task_id: r.get(2)?,
                    actor: r.get(3)?,
                    kind: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx(OP)?;
    Ok(StudyHistory { study_uid: study_uid.to_owned(), waiting_since_ms, routings, tasks, reads, outcome, events })
}

/// Exams by mode and state, tasks by kind and state.
pub fn counts(conn: &Connection) -> Result<Counts> {
    const OP: &str = "counting";
    let tx = conn.unchecked_transaction().ctx(OP)?;
    let mut counts = Counts::default();
    let modes: Vec<(String, i64)> = tx
        .prepare("SELECT r.reading_mode, COUNT(*) FROM studies s JOIN routings r ON r.id = s.routing_id GROUP BY 1")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .ctx(OP)?;
    for (mode, n) in modes {
        let mode = ReadingMode::parse(&mode).ok_or(Error::Corrupt { what: "reading mode", found: mode })?;
        counts.studies_by_mode.insert(mode.as_str(), n as u64);
    }
    let states: Vec<(String, i64)> = tx
        .prepare(
            "SELECT CASE WHEN s.outcome IS NOT NULL THEN 'final'
                         WHEN EXISTS (SELECT 1 FROM tasks t WHERE t.routing_id = s.routing_id AND t.kind = 'consensus')
                         THEN 'consensus' ELSE 'reading' END, COUNT(*)
             FROM studies s GROUP BY 1",
        )
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .ctx(OP)?;
    for (state, n) in states {
        let key = ["final", "consensus", "reading"].into_iter().find(|k| *k == state).unwrap_or("reading");
        counts.studies_by_state.insert(key, n as u64);
    }
    let tasks: Vec<(String, String, i64)> = tx
        .prepare("SELECT kind, state, COUNT(*) FROM tasks GROUP BY 1, 2")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .ctx(OP)?;
    for (kind, state, n) in tasks {
        counts.tasks.insert(format!("{kind}/{state}"), n as u64);
    }
    Ok(counts)
}

/// One sentence per broken invariant.
pub fn check_consistency(conn: &Connection) -> Result<Vec<String>> {
    const OP: &str = "checking consistency";
    let tx = conn.unchecked_transaction().ctx(OP)?;
    let mut problems = Vec::new();
    let integrity: String = tx.query_row("PRAGMA integrity_check", [], |r| r.get(0)).ctx(OP)?;
    if integrity != "ok" {
        problems.push(format!("sqlite integrity check: {integrity}"));
    }
    let fk: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).ctx(OP)?;
    if fk > 0 {
        problems.push(format!("{fk} rows break a foreign key"));
    }
    // Plain SQL invariants: each query lists offending ids.
    let checks: [(&str, &str); 8] = [
        ("study without a current routing", "SELECT study_uid FROM studies WHERE routing_id IS NULL"),
        (
            "current routing not applied or superseded",
            "SELECT s.study_uid FROM studies s JOIN routings r ON r.id = s.routing_id WHERE r.applied = 0 OR r.superseded_by IS NOT NULL",
        ),
        (
            "superseded routing with a live task",
            "SELECT t.id FROM tasks t JOIN routings r ON r.id = t.routing_id WHERE r.superseded_by IS NOT NULL AND t.state != 'cancelled'",
        ),
        (
            "task of another routing than its study's current one that is not cancelled",
            "SELECT t.id FROM tasks t JOIN studies s ON s.id = t.study_id WHERE t.routing_id != s.routing_id AND t.state != 'cancelled'",
        ),
        (
            "done task without exactly one read",
            "SELECT t.id FROM tasks t WHERE t.state = 'done' AND (SELECT COUNT(*) FROM reads r WHERE r.task_id = t.id) != 1",
        ),
        (
            "read whose task is not done or differs in kind or exam",
            "SELECT r.id FROM reads r JOIN tasks t ON t.id = r.task_id WHERE t.state != 'done' OR t.kind != r.kind OR t.study_id != r.study_id",
        ),
        (
            "one reader with both screening reads of an exam",
            "SELECT study_id || ':' || reader FROM reads WHERE kind != 'consensus' GROUP BY study_id, reader HAVING COUNT(*) > 1",
        ),
        (
            "exam with a final outcome and an open task",
            "SELECT s.study_uid FROM studies s JOIN tasks t ON t.study_id = s.id WHERE s.outcome IS NOT NULL AND t.state IN ('queued', 'claimed')",
        ),
    ];
    for (what, sql) in checks {
        let offenders: Vec<String> = tx
            .prepare(sql)
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, rusqlite::types::Value>(0))?.collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx(OP)?
            .into_iter()
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .collect();
        if !offenders.is_empty() {
            problems.push(format!("{what}: {}", offenders.join(", ")));
        }
    }
    // The state machine, exam by exam: tasks and outcome must be what `workflow` says the
    // reads lead to, and an exam without an outcome must have an open task (a path to one).
    type StudyRow = (String, i64, String, Option<String>, Option<String>);
    let studies: Vec<StudyRow> = tx
        .prepare(
            "SELECT s.study_uid, s.routing_id, r.reading_mode, s.outcome, s.outcome_via
             FROM studies s JOIN routings r ON r.id = s.routing_id ORDER BY s.id",
        )
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?.collect())
        .ctx(OP)?;
    let mut task_stmt = tx.prepare("SELECT kind, state FROM tasks WHERE routing_id = ?1").ctx(OP)?;
    let mut read_stmt = tx
        .prepare("SELECT r.kind, r.decision FROM reads r JOIN tasks t ON t.id = r.task_id WHERE t.routing_id = ?1 ORDER BY r.id")
        .ctx(OP)?;
    for (uid, routing, mode, outcome, via) in studies {
        let mode = ReadingMode::parse(&mode).ok_or(Error::Corrupt { what: "reading mode", found: mode })?;
        let tasks: Vec<(String, String)> =
            task_stmt.query_map([routing], |r| Ok((r.get(0)?, r.get(1)?))).and_then(|r| r.collect()).ctx(OP)?;
        let reads: Vec<(String, String)> =
            read_stmt.query_map([routing], |r| Ok((r.get(0)?, r.get(1)?))).and_then(|r| r.collect()).ctx(OP)?;
        problems.extend(workflow::check_exam(&uid, mode, outcome.as_deref(), via.as_deref(), &tasks, &reads)?);
    }
    Ok(problems)
}
