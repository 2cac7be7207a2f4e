//! Read-only queries on PostgreSQL: the reader's worklist page, an exam's tasks and history,
//! counts, and the consistency check. Each runs in one REPEATABLE READ, READ ONLY transaction,
//! so it sees one snapshot while replicas keep writing.

use std::collections::HashMap;

use ::postgres::Row;
use ::postgres::types::Type;
use granska_triage::{Flag, PolicyId, ReadingMode};

use super::transitions::{ELIGIBLE, overdue_groups};
use super::txn::{self, Fail, Param, READ_COLUMNS, TASK_COLUMNS, Tx, category, get, parse};
use crate::error::{Error, Result};
use crate::model::{
    Counts, Event, ExamStatus, ModelIdentity, Outcome, OutcomeVia, PageRequest, ReadDecision, Reader, Routing,
    StudyHistory, Task, TaskKind, TaskState, WorklistEntry, WorklistPage,
};
use crate::workflow;

const ENTRY_COLUMNS: &str = "t.id, t.kind, t.state, s.study_uid, r.status, r.category, r.reading_mode, r.flags,
    r.reason, t.waiting_since";
const PRIORITY_ORDER: &str = "t.flagged DESC, t.rank DESC, t.waiting_since, t.id";

fn flags(row: &Row, index: usize) -> Result<Vec<Flag>> {
    let text: String = get(row, index)?;
    text.split(',')
        .filter(|f| !f.is_empty())
        .map(|f| Flag::parse(f).ok_or_else(|| Error::Corrupt { what: "flag", found: f.to_owned() }))
        .collect()
}

fn entry(row: &Row, cutoff: i64) -> Result<WorklistEntry> {
    let waiting_since_ms: i64 = get(row, 9)?;
    Ok(WorklistEntry {
        task_id: get(row, 0)?,
        kind: parse(row, 1, "task kind", TaskKind::parse)?,
        state: parse(row, 2, "task state", TaskState::parse)?,
        study_uid: get(row, 3)?,
        status: parse(row, 4, "score status", ExamStatus::parse)?,
        category: category(row, 5)?,
        mode: parse(row, 6, "reading mode", ReadingMode::parse)?,
        flags: flags(row, 7)?,
        reason: get(row, 8)?,
        waiting_since_ms,
        overdue: waiting_since_ms < cutoff,
    })
}

/// The reader's claimed tasks, then overdue eligible tasks, then the other eligible tasks,
/// each segment in its order; `page` indexes the concatenation. The overdue segment is read
/// group by group (flagged, rank) like a claim seeks it, so that listing costs what the page
/// and its offset hold, not what the queue or the overdue backlog holds. These statements are
/// planned for each call's parameters (offset, cutoff), not prepared.
pub(super) fn worklist(
    tx: &mut Tx<'_, '_>,
    reader: &Reader,
    page: PageRequest,
    max_wait: i64,
) -> Result<WorklistPage, Fail> {
    const OP: &str = "listing the worklist";
    let cutoff = tx.now() - max_wait;
    let groups = overdue_groups(tx, OP, cutoff)?;
    let from = "FROM tasks t JOIN studies s ON s.id = t.study_id JOIN routings r ON r.id = t.routing_id";
    // (condition, order, the group's flagged and rank if it is an overdue group)
    let mut segments = vec![("t.state = 'claimed' AND t.claimed_by = $1".to_owned(), "t.id", (false, 0))];
    for group in &groups {
        let condition =
            format!("t.state = 'queued' AND t.flagged = $6 AND t.rank = $7 AND t.waiting_since < $3 AND {ELIGIBLE}");
        segments.push((condition, "t.waiting_since, t.id", *group));
    }
    // With nothing overdue (the usual case) the rest is the whole queue.
    let rest = if groups.is_empty() { "" } else { "AND t.waiting_since >= $3" };
    segments.push((format!("t.state = 'queued' {rest} AND {ELIGIBLE}"), PRIORITY_ORDER, (false, 0)));
    let want = page.limit as usize + 1;
    let mut skip = page.offset;
    let mut entries: Vec<WorklistEntry> = Vec::with_capacity(want);
    for (condition, order, (flagged, rank)) in &segments {
        if entries.len() >= want {
            break;
        }
        let take = (want - entries.len()) as i64;
        let offset = i64::try_from(skip).unwrap_or(i64::MAX);
        // Every segment is given the same typed parameters; one that does not use some
        // ignores them.
        let params: [Param<'_>; 7] = [
            (&reader.id, Type::TEXT),
            (&reader.consensus, Type::BOOL),
            (&cutoff, Type::INT8),
            (&take, Type::INT8),
            (&offset, Type::INT8),
            (flagged, Type::BOOL),
            (rank, Type::INT2),
        ];
        let sql = format!("SELECT {ENTRY_COLUMNS} {from} WHERE {condition} ORDER BY {order} LIMIT $4 OFFSET $5");
        let rows = tx.rows_planned(OP, &sql, &params)?;
        let found = rows.iter().map(|row| entry(row, cutoff)).collect::<Result<Vec<_>>>()?;
        if (found.len() as i64) < take {
            // This segment is exhausted; the rest of the offset applies to the next one.
            skip = if found.is_empty() && skip > 0 {
                let count_sql = format!("SELECT COUNT(*) {from} WHERE {condition}");
                let count = tx.rows_planned(OP, &count_sql, &params)?;
                let total: i64 = count.first().map(|row| get(row, 0)).transpose()?.unwrap_or(0);
                skip.saturating_sub(total.max(0) as u64)
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

/// One task.
pub(super) fn task(tx: &mut Tx<'_, '_>, task_id: i64) -> Result<Task, Fail> {
    Ok(txn::load_task(tx, task_id)?.task)
}

/// The tasks of one exam, oldest first.
pub(super) fn study_tasks(tx: &mut Tx<'_, '_>, study_uid: &str) -> Result<Vec<Task>, Fail> {
    let rows = tx.rows(
        "loading an exam's tasks",
        &format!("SELECT {TASK_COLUMNS} FROM tasks t JOIN studies s ON s.id = t.study_id WHERE s.study_uid = $1 ORDER BY t.id"),
        &[(&study_uid, Type::TEXT)],
    )?;
    if rows.is_empty() {
        return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() }.into());
    }
    Ok(rows.iter().map(|r| txn::task(r).map(|t| t.task)).collect::<Result<Vec<_>>>()?)
}

fn routing(r: &Row) -> Result<Routing> {
    let name: Option<String> = get(r, 2)?;
    Ok(Routing {
        id: get(r, 0)?,
        status: parse(r, 1, "score status", ExamStatus::parse)?,
        model: match name {
            Some(name) => Some(ModelIdentity { name, version: get(r, 3)?, sha256: get(r, 4)? }),
            None => None,
        },
        raw_score: get(r, 5)?,
        category: category(r, 6)?,
        extra_high: get(r, 7)?,
        reason: get(r, 8)?,
        policy: PolicyId { name: get(r, 9)?, version: get(r, 10)? },
        mode: parse(r, 11, "reading mode", ReadingMode::parse)?,
        flags: flags(r, 12)?,
        decided_at_ms: get(r, 13)?,
        applied: get(r, 14)?,
        superseded: get(r, 15)?,
    })
}

fn event(r: &Row) -> Result<Event> {
    Ok(Event {
        seq: get(r, 0)?,
        at_ms: get(r, 1)?,
        task_id: get(r, 2)?,
        actor: get(r, 3)?,
        kind: get(r, 4)?,
        detail: get(r, 5)?,
    })
}

/// Everything about one exam.
pub(super) fn history(tx: &mut Tx<'_, '_>, study_uid: &str) -> Result<StudyHistory, Fail> {
    const OP: &str = "loading an exam's history";
    let study = tx.opt(
        OP,
        "SELECT id, waiting_since, outcome, outcome_via, outcome_at FROM studies WHERE study_uid = $1",
        &[(&study_uid, Type::TEXT)],
    )?;
    let Some(study) = study else {
        return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() }.into());
    };
    let id: i64 = get(&study, 0)?;
    let waiting_since_ms: i64 = get(&study, 1)?;
    let outcome: (Option<String>, Option<String>, Option<i64>) = (get(&study, 2)?, get(&study, 3)?, get(&study, 4)?);
    let outcome = match outcome {
        (Some(o), Some(v), Some(at_ms)) => Some(Outcome {
            decision: ReadDecision::parse(&o).ok_or(Error::Corrupt { what: "outcome", found: o })?,
            via: OutcomeVia::parse(&v).ok_or(Error::Corrupt { what: "outcome route", found: v })?,
            at_ms,
        }),
        _ => None,
    };
    let by_study: [Param<'_>; 1] = [(&id, Type::INT8)];
    let routings = tx.rows(
        OP,
        "SELECT id, status, model_name, model_version, model_sha256, raw_score, category, extra_high, reason,
                policy_name, policy_version, reading_mode, flags, decided_at, applied, superseded_by IS NOT NULL
         FROM routings WHERE study_id = $1 ORDER BY id",
        &by_study,
    )?;
    let routings = routings.iter().map(routing).collect::<Result<Vec<_>>>()?;
    let tasks = tx.rows(
        OP,
        &format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN studies s ON s.id = t.study_id WHERE t.study_id = $1 ORDER BY t.id"
        ),
        &by_study,
    )?;
    let tasks = tasks.iter().map(|r| txn::task(r).map(|t| t.task)).collect::<Result<Vec<_>>>()?;
    let reads =
        tx.rows(OP, &format!("SELECT {READ_COLUMNS} FROM reads r WHERE r.study_id = $1 ORDER BY r.id"), &by_study)?;
    let reads = reads.iter().map(txn::read).collect::<Result<Vec<_>>>()?;
    let events = tx.rows(
        OP,
        "SELECT seq, at, task_id, actor, kind, detail FROM events WHERE study_id = $1 ORDER BY seq",
        &by_study,
    )?;
    let events = events.iter().map(event).collect::<Result<Vec<_>>>()?;
    Ok(StudyHistory { study_uid: study_uid.to_owned(), waiting_since_ms, routings, tasks, reads, outcome, events })
}

/// Exams by mode and state, tasks by kind and state.
pub(super) fn counts(tx: &mut Tx<'_, '_>) -> Result<Counts, Fail> {
    const OP: &str = "counting";
    let mut counts = Counts::default();
    let modes = tx.rows(
        OP,
        "SELECT r.reading_mode, COUNT(*) FROM studies s JOIN routings r ON r.id = s.routing_id GROUP BY 1",
        &[],
    )?;
    for row in &modes {
        let mode = parse(row, 0, "reading mode", ReadingMode::parse)?;
        counts.studies_by_mode.insert(mode.as_str(), get::<i64>(row, 1)? as u64);
    }
    let states = tx.rows(
        OP,
        "SELECT CASE WHEN s.outcome IS NOT NULL THEN 'final'
                     WHEN EXISTS (SELECT 1 FROM tasks t WHERE t.routing_id = s.routing_id AND t.kind = 'consensus')
                     THEN 'consensus' ELSE 'reading' END, COUNT(*)
         FROM studies s GROUP BY 1",
        &[],
    )?;
    for row in &states {
        let state: String = get(row, 0)?;
        let key = ["final", "consensus", "reading"].into_iter().find(|k| *k == state).unwrap_or("reading");
        counts.studies_by_state.insert(key, get::<i64>(row, 1)? as u64);
    }
    let tasks = tx.rows(OP, "SELECT kind, state, COUNT(*) FROM tasks GROUP BY 1, 2", &[])?;
    for row in &tasks {
        let (kind, state, n): (String, String, i64) = (get(row, 0)?, get(row, 1)?, get(row, 2)?);
        counts.tasks.insert(format!("{kind}/{state}"), n as u64);
    }
    Ok(counts)
}

/// One sentence per broken invariant. Foreign keys and checks are enforced by PostgreSQL
/// itself, so, unlike SQLite's, this check has no storage-level part.
pub(super) fn check_consistency(tx: &mut Tx<'_, '_>) -> Result<Vec<String>, Fail> {
    const OP: &str = "checking consistency";
    let mut problems = Vec::new();
    // Plain SQL invariants: each query lists offending ids.
    let checks: [(&str, &str); 8] = [
        ("study without a current routing", "SELECT study_uid FROM studies WHERE routing_id IS NULL"),
        (
            "current routing not applied or superseded",
            "SELECT s.study_uid FROM studies s JOIN routings r ON r.id = s.routing_id
             WHERE NOT r.applied OR r.superseded_by IS NOT NULL",
        ),
        (
            "superseded routing with a live task",
            "SELECT t.id::text FROM tasks t JOIN routings r ON r.id = t.routing_id
             WHERE r.superseded_by IS NOT NULL AND t.state <> 'cancelled'",
        ),
        (
            "task of another routing than its study's current one that is not cancelled",
            "SELECT t.id::text FROM tasks t JOIN studies s ON s.id = t.study_id
             WHERE t.routing_id <> s.routing_id AND t.state <> 'cancelled'",
        ),
        (
            "done task without exactly one read",
            "SELECT t.id::text FROM tasks t
             WHERE t.state = 'done' AND (SELECT COUNT(*) FROM reads r WHERE r.task_id = t.id) <> 1",
        ),
        (
            "read whose task is not done or differs in kind or exam",
            "SELECT r.id::text FROM reads r JOIN tasks t ON t.id = r.task_id
             WHERE t.state <> 'done' OR t.kind <> r.kind OR t.study_id <> r.study_id",
        ),
        (
            "one reader with both screening reads of an exam",
            "SELECT study_id::text || ':' || reader FROM reads WHERE kind <> 'consensus'
             GROUP BY study_id, reader HAVING COUNT(*) > 1",
        ),
        (
            "exam with a final outcome and an open task",
            "SELECT s.study_uid FROM studies s JOIN tasks t ON t.study_id = s.id
             WHERE s.outcome IS NOT NULL AND t.state IN ('queued', 'claimed')",
        ),
    ];
    for (what, sql) in checks {
        let rows = tx.rows(OP, sql, &[])?;
        let offenders = rows.iter().map(|r| get::<String>(r, 0)).collect::<Result<Vec<_>>>()?;
        if !offenders.is_empty() {
            problems.push(format!("{what}: {}", offenders.join(", ")));
        }
    }
    // The state machine, exam by exam: tasks and outcome must be what `workflow` says the
    // reads lead to, and an exam without an outcome must have an open task (a path to one).
    // The current routings' tasks and reads are loaded in two statements, not two per exam.
    let mut tasks: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for row in &tx.rows(
        OP,
        "SELECT t.routing_id, t.kind, t.state FROM tasks t JOIN studies s ON s.routing_id = t.routing_id",
        &[],
    )? {
        tasks.entry(get(row, 0)?).or_default().push((get(row, 1)?, get(row, 2)?));
    }
    let mut reads: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for row in &tx.rows(
        OP,
        "SELECT t.routing_id, r.kind, r.decision FROM reads r JOIN tasks t ON t.id = r.task_id
         JOIN studies s ON s.routing_id = t.routing_id ORDER BY r.id",
        &[],
    )? {
        reads.entry(get(row, 0)?).or_default().push((get(row, 1)?, get(row, 2)?));
    }
    let studies = tx.rows(
        OP,
        "SELECT s.study_uid, s.routing_id, r.reading_mode, s.outcome, s.outcome_via
         FROM studies s JOIN routings r ON r.id = s.routing_id ORDER BY s.id",
        &[],
    )?;
    let none = Vec::new();
    for row in &studies {
        let (uid, routing): (String, i64) = (get(row, 0)?, get(row, 1)?);
        let mode = parse(row, 2, "reading mode", ReadingMode::parse)?;
        let (outcome, via): (Option<String>, Option<String>) = (get(row, 3)?, get(row, 4)?);
        let tasks = tasks.get(&routing).unwrap_or(&none);
        let reads = reads.get(&routing).unwrap_or(&none);
        problems.extend(workflow::check_exam(&uid, mode, outcome.as_deref(), via.as_deref(), tasks, reads)?);
    }
    Ok(problems)
}
