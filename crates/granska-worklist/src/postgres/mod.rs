//! The worklist in PostgreSQL ([`PgStore`]), so that several replicas of the server share one
//! queue: tables in schema `worklist`, versioned migrations, and every transition in one READ
//! COMMITTED transaction that is correct with any number of stores, in any number of
//! processes, claiming at once (how: [`transitions`]).
//!
//! It behaves as the SQLite store does (the same conformance suite), with two differences that
//! only concurrency can show: a claim passes over an exam that another transaction is changing
//! at that moment (it takes the next task instead of waiting), and expired leases of such an
//! exam are returned to the queue by the next transaction rather than this one. Event `seq`
//! numbers follow commit order within each exam, not across exams.

mod queries;
mod transitions;
mod txn;

use granska_postgres::{Migration, Pool, PoolOptions};

use crate::error::{BackendError, Error, Result};
use crate::model::{
    ClaimedTask, Counts, PageRequest, Read, Reader, RouteInput, RouteOutcome, StudyHistory, Submission, SubmitOutcome,
    Task, TaskId, WorklistPage,
};
use crate::requests;
use crate::store::{StoreOptions, WorklistStore};
use crate::workflow;

/// The PostgreSQL schema the worklist's tables live in (sessions see it first on their
/// `search_path`, so the SQL is unqualified).
const SCHEMA: &str = "worklist";

/// The worklist's migrations, oldest first (tracked in `worklist.schema_version`). Never edit
/// one that has shipped; add a new one.
const MIGRATIONS: &[Migration] =
    &[Migration { name: "0001_initial", sql: include_str!("../../migrations/postgres/0001_initial.sql") }];

/// The durable worklist in one PostgreSQL database (schema `worklist`). Any number of
/// `PgStore`s, in one process or many, may share the database; each operation of
/// [`WorklistStore`] is one transaction and behaves as it does on [`crate::SqliteStore`].
pub struct PgStore {
    pool: Pool,
    options: StoreOptions,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("database", &self.pool.target()).field("options", &self.options).finish()
    }
}

impl PgStore {
    /// Connects, brings schema `worklist` to this build's version (refusing a newer one:
    /// [`Error::SchemaTooNew`]), then returns every task whose lease has expired to the queue.
    pub fn open(pg: &PoolOptions, options: StoreOptions) -> Result<Self> {
        let pool = granska_postgres::pool(pg, SCHEMA)
            .map_err(|e| Error::Open { path: granska_postgres::redact(&pg.url), source: BackendError::new(e) })?;
        let open_failed = |e: granska_postgres::Error| match e {
            granska_postgres::Error::SchemaTooNew { found, supported, .. } => Error::SchemaTooNew { found, supported },
            granska_postgres::Error::Migration { version, source, .. } => {
                Error::Migration { version, source: BackendError::new(source) }
            }
            e => Error::Open { path: pool.target().to_owned(), source: BackendError::new(e) },
        };
        let mut client = pool.get().map_err(open_failed)?;
        granska_postgres::migrate(&mut client, SCHEMA, MIGRATIONS).map_err(open_failed)?;
        drop(client);
        let store = PgStore { pool, options };
        let reaped = store.reap_expired()?;
        if reaped > 0 {
            tracing::info!(reaped, "expired leases returned to the queue on open");
        }
        Ok(store)
    }

    /// Host, port and database (no credentials).
    pub fn target(&self) -> &str {
        self.pool.target()
    }

    fn lease_ms(&self) -> i64 {
        self.options.lease.as_millis() as i64
    }

    fn max_wait_ms(&self) -> i64 {
        self.options.max_wait.as_millis() as i64
    }
}

impl WorklistStore for PgStore {
    fn route_many(&self, inputs: &[RouteInput]) -> Result<Vec<RouteOutcome>> {
        inputs.iter().try_for_each(requests::check_route)?;
        self.write("routing exams", |tx| inputs.iter().map(|input| transitions::route(tx, input)).collect())
    }

    fn ping(&self) -> Result<()> {
        self.read("checking the worklist database", |tx| {
            tx.rows_planned("checking the worklist database", "SELECT 1", &[])?;
            Ok(())
        })
    }

    fn route(&self, input: &RouteInput) -> Result<RouteOutcome> {
        requests::check_route(input)?;
        self.write("routing an exam", |tx| transitions::route(tx, input))
    }

    fn claim_next(&self, reader: &Reader) -> Result<Option<ClaimedTask>> {
        requests::check_id("reader", &reader.id)?;
        let (lease, max_wait) = (self.lease_ms(), self.max_wait_ms());
        self.write("claiming a task", |tx| transitions::claim(tx, reader, lease, max_wait))
    }

    fn release(&self, task_id: TaskId, reader: &str) -> Result<()> {
        requests::check_id("reader", reader)?;
        self.write("releasing a task", |tx| transitions::release(tx, task_id, reader))
    }

    fn submit(&self, submission: &Submission) -> Result<SubmitOutcome> {
        requests::check_submission(submission)?;
        self.write("submitting a read", |tx| transitions::submit(tx, submission))
    }

    fn reap_expired(&self) -> Result<u64> {
        self.write("returning expired leases", |tx| {
            let now = tx.now();
            transitions::reap(tx, now)
        })
    }

    fn worklist(&self, reader: &Reader, page: PageRequest) -> Result<WorklistPage> {
        requests::check_id("reader", &reader.id)?;
        requests::check_page(page)?;
        let max_wait = self.max_wait_ms();
        self.read("listing the worklist", |tx| queries::worklist(tx, reader, page, max_wait))
    }

    fn task(&self, task_id: TaskId) -> Result<Task> {
        self.read("loading a task", |tx| queries::task(tx, task_id))
    }

    fn study_tasks(&self, study_uid: &str) -> Result<Vec<Task>> {
        self.read("loading an exam's tasks", |tx| queries::study_tasks(tx, study_uid))
    }

    fn history(&self, study_uid: &str) -> Result<StudyHistory> {
        self.read("loading an exam's history", |tx| queries::history(tx, study_uid))
    }

    fn visible_reads(&self, study_uid: &str, reader: &str) -> Result<Vec<Read>> {
        let history = self.history(study_uid)?;
        Ok(workflow::visible_to_reader(reader, &history.reads, history.outcome.is_some()))
    }

    fn counts(&self) -> Result<Counts> {
        self.read("counting", queries::counts)
    }

    fn check_consistency(&self) -> Result<Vec<String>> {
        self.read("checking consistency", queries::check_consistency)
    }
}
