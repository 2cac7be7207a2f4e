//! The SQLite store: WAL journal, `synchronous = FULL` (a committed transition survives power
//! loss, not only a process crash), foreign keys on, versioned migrations, and every
//! transition in one `BEGIN IMMEDIATE` transaction.
//!
//! One store holds one connection behind a mutex; several stores (threads or processes) may
//! open the same file, and SQLite's file lock plus the busy timeout serialise their writes.

mod migrations;
mod queries;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use granska_triage::ReadingMode;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use migrations::SCHEMA_VERSION;

use crate::error::{Error, Result};
use crate::model::{
    ClaimedTask, Counts, NextStep, PageRequest, Read, ReadDecision, Reader, RouteInput, RouteOutcome, StudyHistory,
    Submission, SubmitOutcome, Task, TaskId, TaskKind, TaskState, WorklistPage,
};
use crate::requests;
use crate::store::{StoreOptions, WorklistStore};
use crate::workflow::{self, Step};
use rows::{Ctx, TaskRow};

/// The durable worklist on one SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    options: StoreOptions,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).field("options", &self.options).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, then returns every task whose
    /// lease has expired to the queue.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = granska_sqlite::open(&path).map_err(rows::plumbing)?;
        granska_sqlite::migrate(&mut conn, migrations::MIGRATIONS, "worklist").map_err(rows::plumbing)?;
        let store = SqliteStore { conn: Mutex::new(conn), path, options };
        let reaped = store.reap_expired()?;
        if reaped > 0 {
            tracing::info!(reaped, "expired leases returned to the queue on open");
        }
        Ok(store)
    }

    /// Copies the database file `src` into `out` (created 0600) by SQLite's online backup: a
    /// consistent snapshot, taken read-only while a server may be writing it.
    pub fn backup_file(src: &Path, out: &Path) -> Result<()> {
        granska_sqlite::backup(src, out).map_err(rows::plumbing)
    }

    /// Checks the database file `path` read-only with [`WorklistStore::check_consistency`]'s
    /// rules (SQLite's integrity check, foreign keys, and the workflow exam by exam). Returns
    /// the problems found, each prefixed with the file.
    pub fn check_file(path: &Path) -> Result<Vec<String>> {
        let conn = granska_sqlite::open_read_only(path).map_err(rows::plumbing)?;
        Ok(queries::check_consistency(&conn)?.into_iter().map(|p| format!("worklist.db: {p}")).collect())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(journal_mode, synchronous)` as SQLite reports them; `synchronous` 2 is FULL.
    pub fn durability(&self) -> Result<(String, i64)> {
        let conn = self.lock();
        let journal = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).ctx("reading pragmas")?;
        let sync = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).ctx("reading pragmas")?;
        Ok((journal, sync))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction behind (it rolls
        // back on drop), so a poisoned lock is safe to take over.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committing on `Ok`.
    fn transaction<T>(&self, operation: &'static str, f: impl FnOnce(&Transaction, i64) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx(operation)?;
        // Read the clock inside the lock so commit order and time order agree.
        let now = self.options.clock.now_ms();
        let value = f(&tx, now)?;
        tx.commit().ctx(operation)?;
        Ok(value)
    }

    fn lease_ms(&self) -> i64 {
        self.options.lease.as_millis() as i64
    }

    fn max_wait_ms(&self) -> i64 {
        self.options.max_wait.as_millis() as i64
    }
}

fn event(
    tx: &Transaction,
    study_id: i64,
    task_id: Option<TaskId>,
    at: i64,
    actor: Option<&str>,
    kind: &str,
    detail: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (study_id, task_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| s.execute(params![study_id, task_id, at, actor, kind, detail]))
    .ctx("recording an event")?;
    Ok(())
}

fn insert_task(tx: &Transaction, study_id: i64, routing_id: i64, kind: TaskKind, now: i64) -> Result<TaskId> {
    tx.prepare_cached(
        "INSERT INTO tasks (study_id, routing_id, kind, state, flagged, rank, waiting_since, created_at)
         SELECT ?1, ?2, ?3, 'queued', r.flagged, r.rank, s.waiting_since, ?4
         FROM routings r JOIN studies s ON s.id = r.study_id WHERE r.id = ?2",
    )
    .and_then(|mut s| s.execute(params![study_id, routing_id, kind.as_str(), now]))
    .ctx("creating a task")?;
    Ok(tx.last_insert_rowid())
}

fn route_in(tx: &Transaction, input: &RouteInput, now: i64) -> Result<RouteOutcome> {
    let existing: Option<(i64, i64, Option<i64>, Option<String>)> = tx
        .prepare_cached("SELECT id, waiting_since, routing_id, outcome FROM studies WHERE study_uid = ?1")
        .and_then(|mut s| {
            s.query_row([&input.study_uid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()
        })
        .ctx("routing an exam")?;
    let (study_id, previous, final_already) = match existing {
        Some((id, since, routing, outcome)) => {
            if input.waiting_since_ms < since {
                tx.execute("UPDATE studies SET waiting_since = ?1 WHERE id = ?2", params![input.waiting_since_ms, id])
                    .ctx("routing an exam")?;
            }
            (id, routing, outcome.is_some())
        }
        None => {
            tx.execute(
                "INSERT INTO studies (study_uid, waiting_since) VALUES (?1, ?2)",
                params![input.study_uid, input.waiting_since_ms],
            )
            .ctx("routing an exam")?;
            (tx.last_insert_rowid(), None, false)
        }
    };
    let started = match previous {
        Some(p) => {
            tx.query_row(
                "SELECT COUNT(*) FROM tasks WHERE routing_id = ?1 AND state IN ('claimed', 'done')",
                [p],
                |r| r.get::<_, i64>(0),
            )
            .ctx("routing an exam")?
                > 0
        }
        None => false,
    };
    let applied = !final_already && !started;
    let d = &input.decision;
    let flags = requests::flag_list(input);
    let model = input.model.as_ref();
    tx.prepare_cached(
        "INSERT INTO routings (study_id, status, model_name, model_version, model_sha256, raw_score, category,
             extra_high, reason, policy_name, policy_version, reading_mode, flags, flagged, rank, decided_at, applied)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )
    .and_then(|mut s| {
        s.execute(params![
            study_id,
            input.status.as_str(),
            model.map(|m| &m.name),
            model.map(|m| &m.version),
            model.map(|m| &m.sha256),
            input.raw_score,
            input.category,
            input.extra_high,
            d.reason,
            input.policy.name,
            input.policy.version,
            d.mode.as_str(),
            flags,
            d.is_flagged(),
            d.rank,
            now,
            applied,
        ])
    })
    .ctx("routing an exam")?;
    let routing_id = tx.last_insert_rowid();
    let summary = requests::route_summary(input, &flags);
    if !applied {
        let why = if final_already { "the exam already has its final outcome" } else { "reading has started" };
        event(
            tx,
            study_id,
            None,
            now,
            None,
            "routing-kept",
            &format!("routing {routing_id} recorded, not applied ({why}): {summary}"),
        )?;
        return Ok(RouteOutcome { routing_id, applied, superseded: None, tasks: Vec::new() });
    }
    if let Some(p) = previous {
        let cancelled = tx
            .execute("UPDATE tasks SET state = 'cancelled' WHERE routing_id = ?1 AND state = 'queued'", [p])
            .ctx("superseding a routing")?;
        tx.execute("UPDATE routings SET superseded_by = ?1 WHERE id = ?2", params![routing_id, p])
            .ctx("superseding a routing")?;
        event(
            tx,
            study_id,
            None,
            now,
            None,
            "superseded",
            &format!("routing {p} superseded by {routing_id}; {cancelled} queued task(s) cancelled"),
        )?;
    }
    tx.execute("UPDATE studies SET routing_id = ?1 WHERE id = ?2", params![routing_id, study_id])
        .ctx("routing an exam")?;
    let mut tasks = Vec::new();
    for kind in workflow::initial_tasks(d.mode) {
        tasks.push(insert_task(tx, study_id, routing_id, *kind, now)?);
    }
    let listed =
        workflow::initial_tasks(d.mode).iter().zip(&tasks).map(|(k, id)| format!("{id} {k}")).collect::<Vec<_>>();
    event(
        tx,
        study_id,
        None,
        now,
        None,
        "routed",
        &format!("routing {routing_id}: {summary}; tasks {}", listed.join(", ")),
    )?;
    Ok(RouteOutcome { routing_id, applied, superseded: previous, tasks })
}

fn reap_in(tx: &Transaction, now: i64) -> Result<u64> {
    let expired: Vec<(TaskId, i64, String)> = tx
        .prepare_cached(
            "SELECT id, study_id, claimed_by FROM tasks INDEXED BY tasks_lease
             WHERE state = 'claimed' AND lease_until < ?1",
        )
        .and_then(|mut s| s.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .ctx("returning expired leases")?;
    for (task, study, holder) in &expired {
        tx.execute("UPDATE tasks SET state = 'queued', claimed_by = NULL, lease_until = NULL WHERE id = ?1", [task])
            .ctx("returning expired leases")?;
        event(
            tx,
            *study,
            Some(*task),
            now,
            None,
            "lease-expired",
            &format!("lease of {holder} expired; back in the queue"),
        )?;
    }
    Ok(expired.len() as u64)
}

/// Whether `reader` may take task `t`: [`workflow::may_take`] in SQL, with "involved" being a
/// screening read of the exam submitted or another screening task of it held. The rule is the
/// Rust function; this filter is checked against it on random store states by the conformance
/// case `eligibility_is_may_take`.
const ELIGIBLE: &str = "(CASE WHEN t.kind = 'consensus' THEN :consensus
    ELSE NOT EXISTS (SELECT 1 FROM reads x WHERE x.study_id = t.study_id AND x.reader = :reader AND x.kind != 'consensus')
     AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.study_id = t.study_id AND o.id != t.id AND o.state = 'claimed'
                     AND o.claimed_by = :reader AND o.kind != 'consensus') END)";

fn routing_reads(tx: &Transaction, routing_id: i64) -> Result<Vec<Read>> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {} FROM reads r JOIN tasks t ON t.id = r.task_id WHERE t.routing_id = ?1 ORDER BY r.id",
            rows::READ_COLUMNS
        ))
        .ctx("loading reads")?;
    let reads = stmt.query_map([routing_id], rows::read).ctx("loading reads")?.collect::<rusqlite::Result<Vec<_>>>();
    reads.ctx("loading reads")
}

impl SqliteStore {
    fn claimed(&self, tx: &Transaction, task: TaskRow, resumed: bool) -> Result<ClaimedTask> {
        let reads = routing_reads(tx, task.routing_id)?;
        let prior_reads = workflow::visible_to_task(task.task.kind, &reads);
        Ok(ClaimedTask { task: task.task, resumed, prior_reads })
    }
}

impl WorklistStore for SqliteStore {
    fn route_many(&self, inputs: &[RouteInput]) -> Result<Vec<RouteOutcome>> {
        inputs.iter().try_for_each(requests::check_route)?;
        self.transaction("routing exams", |tx, now| inputs.iter().map(|input| route_in(tx, input, now)).collect())
    }

    fn ping(&self) -> Result<()> {
        self.lock().query_row("SELECT 1", [], |_| Ok(())).ctx("checking the worklist database")
    }

    fn route(&self, input: &RouteInput) -> Result<RouteOutcome> {
        requests::check_route(input)?;
        self.transaction("routing an exam", |tx, now| route_in(tx, input, now))
    }

    fn claim_next(&self, reader: &Reader) -> Result<Option<ClaimedTask>> {
        requests::check_id("reader", &reader.id)?;
        let lease = self.lease_ms();
        let cutoff_base = self.max_wait_ms();
        self.transaction("claiming a task", |tx, now| {
            reap_in(tx, now)?;
            let held = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM tasks t JOIN studies s ON s.id = t.study_id
                     WHERE t.state = 'claimed' AND t.claimed_by = ?1 ORDER BY t.id LIMIT 1",
                    rows::TASK_COLUMNS
                ))
                .and_then(|mut s| s.query_row([&reader.id], rows::task).optional())
                .ctx("claiming a task")?;
            if let Some(mut held) = held {
                tx.execute("UPDATE tasks SET lease_until = ?1 WHERE id = ?2", params![now + lease, held.task.id])
                    .ctx("claiming a task")?;
                held.task.lease_until_ms = Some(now + lease);
                event(tx, held.study_id, Some(held.task.id), now, Some(&reader.id), "lease-renewed", &format!("{} read, held already; lease {} s", held.task.kind, lease / 1000))?;
                return self.claimed(tx, held, true).map(Some);
            }
            // Overdue tasks (waiting longer than the limit) come first, then the rest; both in
            // PriorityKey order. Two index scans keep each cheap at any queue length.
            let cutoff = now - cutoff_base;
            let mut found = None;
            for (index, condition) in [("tasks_waiting", "t.waiting_since < :cutoff"), ("tasks_queue", "t.waiting_since >= :cutoff")] {
                let sql = format!(
                    "SELECT {} FROM tasks t INDEXED BY {index} JOIN studies s ON s.id = t.study_id
                     WHERE t.state = 'queued' AND {condition} AND {ELIGIBLE}
                     ORDER BY t.flagged DESC, t.rank DESC, t.waiting_since, t.id LIMIT 1",
                    rows::TASK_COLUMNS
                );
                found = tx
                    .prepare_cached(&sql)
                    .and_then(|mut s| {
                        s.query_row(
                            rusqlite::named_params! {":cutoff": cutoff, ":reader": reader.id, ":consensus": reader.consensus},
                            rows::task,
                        )
                        .optional()
                    })
                    .ctx("claiming a task")?;
                if found.is_some() {
                    break;
                }
            }
            let Some(mut task) = found else { return Ok(None) };
            let changed = tx
                .execute(
                    "UPDATE tasks SET state = 'claimed', claimed_by = ?1, lease_until = ?2 WHERE id = ?3 AND state = 'queued'",
                    params![reader.id, now + lease, task.task.id],
                )
                .ctx("claiming a task")?;
            debug_assert_eq!(changed, 1, "the transaction holds the write lock");
            task.task.state = TaskState::Claimed;
            task.task.claimed_by = Some(reader.id.clone());
            task.task.lease_until_ms = Some(now + lease);
            event(tx, task.study_id, Some(task.task.id), now, Some(&reader.id), "claimed", &format!("{} read; lease {} s", task.task.kind, lease / 1000))?;
            self.claimed(tx, task, false).map(Some)
        })
    }

    fn release(&self, task_id: TaskId, reader: &str) -> Result<()> {
        requests::check_id("reader", reader)?;
        self.transaction("releasing a task", |tx, now| {
            let task = rows::load_task(tx, task_id)?;
            task.ensure_held_by(reader)?;
            tx.execute(
                "UPDATE tasks SET state = 'queued', claimed_by = NULL, lease_until = NULL WHERE id = ?1",
                [task_id],
            )
            .ctx("releasing a task")?;
            event(
                tx,
                task.study_id,
                Some(task_id),
                now,
                Some(reader),
                "released",
                &format!("{} read back in the queue", task.task.kind),
            )
        })
    }

    fn submit(&self, sub: &Submission) -> Result<SubmitOutcome> {
        requests::check_submission(sub)?;
        self.transaction("submitting a read", |tx, now| {
            let earlier: Option<(TaskId, String, String, Option<String>)> = tx
                .prepare_cached("SELECT task_id, reader, decision, note FROM reads WHERE request_id = ?1")
                .and_then(|mut s| {
                    s.query_row([&sub.request_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()
                })
                .ctx("submitting a read")?;
            if let Some((task_id, reader, decision, note)) = earlier {
                if task_id != sub.task_id
                    || reader != sub.reader
                    || decision != sub.decision.as_str()
                    || note != sub.note
                {
                    return Err(Error::RequestIdReused { request_id: sub.request_id.clone(), task_id });
                }
                let task = rows::load_task(tx, task_id)?;
                return Ok(SubmitOutcome { duplicate: true, next: rows::current_step(tx, task.study_id)? });
            }
            let task = rows::load_task(tx, sub.task_id)?;
            task.ensure_held_by(&sub.reader)?;
            let lease_until = task.task.lease_until_ms.unwrap_or(i64::MIN);
            if lease_until < now {
                return Err(Error::LeaseExpired {
                    task_id: sub.task_id,
                    reader: sub.reader.clone(),
                    expired_ms_ago: now - lease_until,
                });
            }
            tx.execute(
                "INSERT INTO reads (task_id, study_id, kind, reader, decision, note, request_id, submitted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    sub.task_id,
                    task.study_id,
                    task.task.kind.as_str(),
                    sub.reader,
                    sub.decision.as_str(),
                    sub.note,
                    sub.request_id,
                    now
                ],
            )
            .ctx("submitting a read")?;
            tx.execute(
                "UPDATE tasks SET state = 'done', claimed_by = NULL, lease_until = NULL WHERE id = ?1",
                [sub.task_id],
            )
            .ctx("submitting a read")?;
            event(
                tx,
                task.study_id,
                Some(sub.task_id),
                now,
                Some(&sub.reader),
                "submitted",
                &format!("{} read: {}", task.task.kind, sub.decision),
            )?;

            let mode: String = tx
                .query_row("SELECT reading_mode FROM routings WHERE id = ?1", [task.routing_id], |r| r.get(0))
                .ctx("submitting a read")?;
            let mode = ReadingMode::parse(&mode).ok_or(Error::Corrupt { what: "reading mode", found: mode })?;
            let reads = routing_reads(tx, task.routing_id)?;
            let screening: Vec<ReadDecision> =
                reads.iter().filter(|r| r.kind.is_screening()).map(|r| r.decision).collect();
            let consensus = reads.iter().find(|r| r.kind == TaskKind::Consensus).map(|r| r.decision);
            let next = match workflow::after_read(mode, &screening, consensus) {
                Step::AwaitOtherRead => NextStep::AwaitingOtherRead,
                Step::OpenConsensus => {
                    let id = insert_task(tx, task.study_id, task.routing_id, TaskKind::Consensus, now)?;
                    event(
                        tx,
                        task.study_id,
                        Some(id),
                        now,
                        None,
                        "consensus-opened",
                        "discordant screening reads; consensus task queued",
                    )?;
                    NextStep::Consensus(id)
                }
                Step::Final(decision, via) => {
                    tx.execute(
                        "UPDATE studies SET outcome = ?1, outcome_via = ?2, outcome_at = ?3 WHERE id = ?4",
                        params![decision.as_str(), via.as_str(), now, task.study_id],
                    )
                    .ctx("recording the outcome")?;
                    event(tx, task.study_id, None, now, None, "final", &format!("{decision} ({})", via.as_str()))?;
                    NextStep::Final(decision, via)
                }
            };
            Ok(SubmitOutcome { duplicate: false, next })
        })
    }

    fn reap_expired(&self) -> Result<u64> {
        self.transaction("returning expired leases", reap_in)
    }

    fn worklist(&self, reader: &Reader, page: PageRequest) -> Result<WorklistPage> {
        requests::check_id("reader", &reader.id)?;
        requests::check_page(page)?;
        let max_wait = self.max_wait_ms();
        let conn = self.lock();
        let now = self.options.clock.now_ms();
        queries::worklist(&conn, reader, page, now, max_wait)
    }

    fn task(&self, task_id: TaskId) -> Result<Task> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("loading a task")?;
        rows::load_task(&tx, task_id).map(|t| t.task)
    }

    fn study_tasks(&self, study_uid: &str) -> Result<Vec<Task>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {} FROM tasks t JOIN studies s ON s.id = t.study_id WHERE s.study_uid = ?1 ORDER BY t.id",
                rows::TASK_COLUMNS
            ))
            .ctx("loading an exam's tasks")?;
        let tasks = stmt
            .query_map([study_uid], |r| rows::task(r).map(|t| t.task))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx("loading an exam's tasks")?;
        if tasks.is_empty() {
            return Err(Error::UnknownStudy { study_uid: study_uid.to_owned() });
        }
        Ok(tasks)
    }

    fn history(&self, study_uid: &str) -> Result<StudyHistory> {
        queries::history(&self.lock(), study_uid)
    }

    fn visible_reads(&self, study_uid: &str, reader: &str) -> Result<Vec<Read>> {
        let history = queries::history(&self.lock(), study_uid)?;
        Ok(workflow::visible_to_reader(reader, &history.reads, history.outcome.is_some()))
    }

    fn counts(&self) -> Result<Counts> {
        queries::counts(&self.lock())
    }

    fn check_consistency(&self) -> Result<Vec<String>> {
        queries::check_consistency(&self.lock())
    }
}
