//! Row ↔ domain-type conversion shared by the store's statements.

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, Transaction};

use crate::error::{BackendError, Error, Result};
use crate::model::{NextStep, OutcomeVia, Read, ReadDecision, Task, TaskId, TaskKind, TaskState};

/// Attaches the operation to a SQLite error.
pub trait Ctx<T> {
    /// `Error::Busy` when SQLite gave up waiting for a lock, else `Error::Backend`.
    fn ctx(self, operation: &'static str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, operation: &'static str) -> Result<T> {
        self.map_err(|source| backend(operation, source))
    }
}

/// SQLite's error as the crate's backend-neutral one.
pub fn backend(operation: &'static str, source: rusqlite::Error) -> Error {
    if granska_sqlite::is_busy(&source) {
        Error::Busy { operation, source: BackendError::new(source) }
    } else {
        Error::Backend { operation, source: BackendError::new(source) }
    }
}

/// The shared plumbing's error as the crate's one, keeping today's messages.
pub fn plumbing(e: granska_sqlite::Error) -> Error {
    use granska_sqlite::Error as P;
    match e {
        P::Create { path, source } => Error::Create { path: path.display().to_string(), source },
        P::Open { path, source } => Error::Open { path: path.display().to_string(), source: BackendError::new(source) },
        P::NotWal { found, .. } => Error::Corrupt { what: "journal mode after asking for WAL", found },
        P::SchemaVersion { source } => backend("reading the schema version", source),
        P::SchemaTooNew { found, supported } => Error::SchemaTooNew { found, supported },
        P::Migration { version, source } => Error::Migration { version, source: BackendError::new(source) },
        P::Backup { source, .. } => backend("backing up the worklist", source),
    }
}

/// A task with the keys the store needs beside it.
pub struct TaskRow {
    pub task: Task,
    pub study_id: i64,
    pub routing_id: i64,
}

impl TaskRow {
    /// `Ok` when `reader` holds this task now.
    pub fn ensure_held_by(&self, reader: &str) -> Result<()> {
        crate::requests::ensure_held_by(&self.task, reader)
    }
}

/// Columns for [`task`], over `tasks t JOIN studies s`.
pub const TASK_COLUMNS: &str =
    "t.id, s.study_uid, t.kind, t.state, t.claimed_by, t.lease_until, t.study_id, t.routing_id";

/// Columns for [`read`], over `reads r`.
pub const READ_COLUMNS: &str = "r.task_id, r.kind, r.reader, r.decision, r.note, r.submitted_at";

/// A stored text that must be one of an enum's names.
pub fn parse<T>(row: &Row, index: usize, what: &'static str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(Error::Corrupt { what, found: text }))
    })
}

pub fn task(r: &Row) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        task: Task {
            id: r.get(0)?,
            study_uid: r.get(1)?,
            kind: parse(r, 2, "task kind", TaskKind::parse)?,
            state: parse(r, 3, "task state", TaskState::parse)?,
            claimed_by: r.get(4)?,
            lease_until_ms: r.get(5)?,
        },
        study_id: r.get(6)?,
        routing_id: r.get(7)?,
    })
}

pub fn read(r: &Row) -> rusqlite::Result<Read> {
    Ok(Read {
        task_id: r.get(0)?,
        kind: parse(r, 1, "read kind", TaskKind::parse)?,
        reader: r.get(2)?,
        decision: parse(r, 3, "read decision", ReadDecision::parse)?,
        note: r.get(4)?,
        submitted_at_ms: r.get(5)?,
    })
}

pub fn load_task(tx: &Transaction, task_id: TaskId) -> Result<TaskRow> {
    tx.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks t JOIN studies s ON s.id = t.study_id WHERE t.id = ?1"
    ))
    .and_then(|mut s| s.query_row([task_id], task).optional())
    .ctx("loading a task")?
    .ok_or(Error::UnknownTask { task_id })
}

/// Where an exam stands now (for a repeated submit).
pub fn current_step(tx: &Transaction, study_id: i64) -> Result<NextStep> {
    let (outcome, via): (Option<String>, Option<String>) = tx
        .query_row("SELECT outcome, outcome_via FROM studies WHERE id = ?1", [study_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .ctx("loading an exam")?;
    if let (Some(outcome), Some(via)) = (outcome, via) {
        let decision = ReadDecision::parse(&outcome).ok_or(Error::Corrupt { what: "outcome", found: outcome })?;
        let via = OutcomeVia::parse(&via).ok_or(Error::Corrupt { what: "outcome route", found: via })?;
        return Ok(NextStep::Final(decision, via));
    }
    let consensus: Option<TaskId> = tx
        .query_row(
            "SELECT t.id FROM tasks t JOIN studies s ON s.routing_id = t.routing_id
             WHERE s.id = ?1 AND t.kind = 'consensus'",
            [study_id],
            |r| r.get(0),
        )
        .optional()
        .ctx("loading an exam")?;
    Ok(consensus.map_or(NextStep::AwaitingOtherRead, NextStep::Consensus))
}
