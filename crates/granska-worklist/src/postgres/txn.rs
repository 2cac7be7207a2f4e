//! How every operation of [`super::PgStore`] talks to PostgreSQL: one transaction per
//! operation, run again a few times when PostgreSQL rolled it back to let a concurrent one win
//! (deadlock, serialisation failure, a unique key taken meanwhile) before the caller hears
//! `Busy`; statements prepared once per connection and kept with it in the pool (planning a
//! claim's scan costs several times what running it does); and stored values decoded without
//! panicking (an unexpected value is [`Error::Corrupt`]).

use std::collections::HashMap;
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::types::{FromSql, ToSql, Type};
use ::postgres::{IsolationLevel, Row, Statement, Transaction};
use granska_postgres::PooledClient;

use crate::error::{BackendError, Error, Result};
use crate::model::{Read, ReadDecision, Task, TaskId, TaskKind, TaskState};
use crate::store::Clock;

use super::PgStore;

/// Attempts of one operation, the first included, before losing races is reported as `Busy`.
const ATTEMPTS: u32 = 5;

/// A statement parameter with its PostgreSQL type.
pub(super) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// Why one attempt of a transaction's body stopped.
#[derive(Debug)]
pub(super) enum Fail {
    /// A statement failed while doing `operation`; the transaction is rolled back and, when
    /// PostgreSQL chose it as a race's loser, run again.
    Db {
        /// What was being done, e.g. `claiming a task`.
        operation: &'static str,
        /// The server's (or the connection's) error.
        source: ::postgres::Error,
    },
    /// A row changed between two statements of this transaction (another replica got there
    /// first): rolled back and run again.
    Raced {
        /// What was being done.
        operation: &'static str,
    },
    /// The answer is a worklist error (unknown task, not the holder…): rolled back and
    /// returned as it is.
    Store(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Store(e)
    }
}

/// Attaches the operation to a statement's failure.
pub(super) trait Ctx<T> {
    /// The failure as [`Fail::Db`].
    fn ctx(self, operation: &'static str) -> Result<T, Fail>;
}

impl<T> Ctx<T> for Result<T, ::postgres::Error> {
    fn ctx(self, operation: &'static str) -> Result<T, Fail> {
        self.map_err(|source| Fail::Db { operation, source })
    }
}

/// PostgreSQL's error as the crate's backend-neutral one: `Busy` when retrying later may
/// succeed (server restarting, connection lost, a lock not available…), else `Backend`.
pub(super) fn backend(operation: &'static str, source: ::postgres::Error) -> Error {
    if granska_postgres::is_transient(&source) {
        Error::Busy { operation, source: BackendError::new(source) }
    } else {
        Error::Backend { operation, source: BackendError::new(source) }
    }
}

/// The shared plumbing's error (pool, migrations) as the crate's one.
pub(super) fn plumbing(operation: &'static str, e: granska_postgres::Error) -> Error {
    use granska_postgres::Error as P;
    match e {
        P::SchemaTooNew { found, supported, .. } => Error::SchemaTooNew { found, supported },
        P::Migration { version, source, .. } => Error::Migration { version, source: BackendError::new(source) },
        e if e.is_transient() => Error::Busy { operation, source: BackendError::new(e) },
        e => Error::Backend { operation, source: BackendError::new(e) },
    }
}

/// The retries ran out while concurrent transactions kept winning.
#[derive(Debug, thiserror::Error)]
#[error("concurrent changes interfered with {attempts} attempts in a row")]
struct Contended {
    attempts: u32,
}

/// Whether PostgreSQL rolled the transaction back so that a concurrent one could go on, and
/// running it again will see that one's result. A unique violation counts: every unique key
/// this store inserts is either checked first under a lock or is a request id that a
/// concurrent submit may take between the check and the insert.
fn lost_a_race(e: &::postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        [SqlState::T_R_DEADLOCK_DETECTED, SqlState::T_R_SERIALIZATION_FAILURE, SqlState::UNIQUE_VIOLATION].contains(c)
    })
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(2u64 << attempt.min(6))
}

/// Kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// READ COMMITTED: writers lock what they decide on, so every statement after a lock sees
    /// what committed before it.
    Write,
    /// REPEATABLE READ, READ ONLY: several statements see one snapshot.
    Read,
}

/// The statements prepared on one connection, by SQL text. Kept in the pool with the
/// connection (r2d2's per-connection extensions) and dropped with it.
#[derive(Default)]
struct Prepared(HashMap<String, Statement>);

/// One open transaction, its connection's prepared statements and the store's clock.
pub(super) struct Tx<'a, 'c> {
    inner: Transaction<'c>,
    prepared: &'a mut Prepared,
    clock: &'a dyn Clock,
}

fn values<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|(value, _)| *value).collect()
}

impl Tx<'_, '_> {
    /// Now, Unix ms. Writers read it after taking their locks, so that within one exam time
    /// order and commit order agree.
    pub(super) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// `sql` prepared on this connection (the first time it is used there). Its plan is
    /// PostgreSQL's to cache: after a few runs, a generic one when that costs no more, so only
    /// statements whose best plan does not depend on the parameters' values go through here.
    fn statement(&mut self, operation: &'static str, sql: &str, params: &[Param<'_>]) -> Result<Statement, Fail> {
        if let Some(statement) = self.prepared.0.get(sql) {
            return Ok(statement.clone());
        }
        let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
        let statement = self.inner.prepare_typed(sql, &types).ctx(operation)?;
        self.prepared.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Every row of a prepared query.
    pub(super) fn rows(&mut self, operation: &'static str, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Fail> {
        let statement = self.statement(operation, sql, params)?;
        self.inner.query(&statement, &values(params)).ctx(operation)
    }

    /// At most one row of a prepared query.
    pub(super) fn opt(
        &mut self,
        operation: &'static str,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, Fail> {
        let statement = self.statement(operation, sql, params)?;
        self.inner.query_opt(&statement, &values(params)).ctx(operation)
    }

    /// Exactly one row of a prepared query.
    pub(super) fn one(&mut self, operation: &'static str, sql: &str, params: &[Param<'_>]) -> Result<Row, Fail> {
        let statement = self.statement(operation, sql, params)?;
        self.inner.query_one(&statement, &values(params)).ctx(operation)
    }

    /// The number of rows a prepared statement changed.
    pub(super) fn execute(&mut self, operation: &'static str, sql: &str, params: &[Param<'_>]) -> Result<u64, Fail> {
        let statement = self.statement(operation, sql, params)?;
        self.inner.execute(&statement, &values(params)).ctx(operation)
    }

    /// Every row of a query planned for these parameters' values, not prepared: for
    /// statements whose best plan depends on them (a page's offset, a waiting-time cutoff), or
    /// that run too rarely to keep.
    pub(super) fn rows_planned(
        &mut self,
        operation: &'static str,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, Fail> {
        self.inner.query_typed(sql, params).ctx(operation)
    }
}

impl PgStore {
    /// Runs `body` in one READ COMMITTED transaction and commits it.
    pub(super) fn write<T>(
        &self,
        operation: &'static str,
        body: impl FnMut(&mut Tx<'_, '_>) -> Result<T, Fail>,
    ) -> Result<T> {
        self.run(operation, Access::Write, body)
    }

    /// Runs `body` in one read-only snapshot.
    pub(super) fn read<T>(
        &self,
        operation: &'static str,
        body: impl FnMut(&mut Tx<'_, '_>) -> Result<T, Fail>,
    ) -> Result<T> {
        self.run(operation, Access::Read, body)
    }

    fn run<T>(
        &self,
        operation: &'static str,
        access: Access,
        body: impl FnMut(&mut Tx<'_, '_>) -> Result<T, Fail>,
    ) -> Result<T> {
        let mut client = self.pool.get().map_err(|e| plumbing(operation, e))?;
        // Out of the connection's extensions while the transaction borrows the connection.
        let mut prepared = PooledClient::extensions_mut(&mut client).remove::<Prepared>().unwrap_or_default();
        let result = self.attempts(&mut client, &mut prepared, operation, access, body);
        PooledClient::extensions_mut(&mut client).insert(prepared);
        result
    }

    fn attempts<T>(
        &self,
        client: &mut PooledClient,
        prepared: &mut Prepared,
        operation: &'static str,
        access: Access,
        mut body: impl FnMut(&mut Tx<'_, '_>) -> Result<T, Fail>,
    ) -> Result<T> {
        let clock = &*self.options.clock;
        let mut attempt = 1;
        loop {
            let outcome = (|| {
                let builder = client.build_transaction();
                let inner = match access {
                    Access::Write => builder.isolation_level(IsolationLevel::ReadCommitted),
                    Access::Read => builder.isolation_level(IsolationLevel::RepeatableRead).read_only(true),
                }
                .start()
                .ctx(operation)?;
                let mut tx = Tx { inner, prepared: &mut *prepared, clock };
                let value = body(&mut tx)?;
                tx.inner.commit().ctx(operation)?;
                Ok::<_, Fail>(value)
            })();
            let reason = match outcome {
                Ok(value) => return Ok(value),
                Err(Fail::Store(e)) => return Err(e),
                Err(Fail::Db { source, .. }) if attempt < ATTEMPTS && lost_a_race(&source) => source.to_string(),
                Err(Fail::Db { operation, source }) => return Err(backend(operation, source)),
                Err(Fail::Raced { operation }) if attempt < ATTEMPTS => format!("a row changed while {operation}"),
                Err(Fail::Raced { operation }) => {
                    return Err(Error::Busy { operation, source: BackendError::new(Contended { attempts: attempt }) });
                }
            };
            tracing::debug!(operation, attempt, %reason, "worklist transaction lost a race, running it again");
            std::thread::sleep(backoff(attempt));
            attempt += 1;
        }
    }
}

/// A column's value; a type this build does not expect is a backend error.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    row.try_get(index)
        .map_err(|source| Error::Backend { operation: "decoding a stored row", source: BackendError::new(source) })
}

/// A stored text that must be one of an enum's names.
pub(super) fn parse<T>(row: &Row, index: usize, what: &'static str, parse: fn(&str) -> Option<T>) -> Result<T> {
    let text: String = get(row, index)?;
    parse(&text).ok_or(Error::Corrupt { what, found: text })
}

/// A stored category (SMALLINT) as the domain's `u8`.
pub(super) fn category(row: &Row, index: usize) -> Result<Option<u8>> {
    let value: Option<i16> = get(row, index)?;
    value.map(|c| u8::try_from(c).map_err(|_| Error::Corrupt { what: "category", found: c.to_string() })).transpose()
}

/// A task with the keys the store needs beside it.
pub(super) struct TaskRow {
    pub(super) task: Task,
    pub(super) study_id: i64,
    pub(super) routing_id: i64,
}

/// Columns for [`task`], over `tasks t JOIN studies s`.
pub(super) const TASK_COLUMNS: &str =
    "t.id, s.study_uid, t.kind, t.state, t.claimed_by, t.lease_until, t.study_id, t.routing_id";

/// Columns for [`read`], over `reads r`.
pub(super) const READ_COLUMNS: &str = "r.task_id, r.kind, r.reader, r.decision, r.note, r.submitted_at";

/// A row of [`TASK_COLUMNS`].
pub(super) fn task(r: &Row) -> Result<TaskRow> {
    Ok(TaskRow {
        task: Task {
            id: get(r, 0)?,
            study_uid: get(r, 1)?,
            kind: parse(r, 2, "task kind", TaskKind::parse)?,
            state: parse(r, 3, "task state", TaskState::parse)?,
            claimed_by: get(r, 4)?,
            lease_until_ms: get(r, 5)?,
        },
        study_id: get(r, 6)?,
        routing_id: get(r, 7)?,
    })
}

/// A row of [`READ_COLUMNS`].
pub(super) fn read(r: &Row) -> Result<Read> {
    Ok(Read {
        task_id: get(r, 0)?,
        kind: parse(r, 1, "read kind", TaskKind::parse)?,
        reader: get(r, 2)?,
        decision: parse(r, 3, "read decision", ReadDecision::parse)?,
        note: get(r, 4)?,
        submitted_at_ms: get(r, 5)?,
    })
}

/// One task with its exam's UID, if it exists.
pub(super) fn load_task(tx: &mut Tx<'_, '_>, task_id: TaskId) -> Result<TaskRow, Fail> {
    let row = tx.opt(
        "loading a task",
        &format!("SELECT {TASK_COLUMNS} FROM tasks t JOIN studies s ON s.id = t.study_id WHERE t.id = $1"),
        &[(&task_id, Type::INT8)],
    )?;
    match row {
        Some(row) => Ok(task(&row)?),
        None => Err(Error::UnknownTask { task_id }.into()),
    }
}
