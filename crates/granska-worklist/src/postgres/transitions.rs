//! The workflow's transitions on PostgreSQL (route, claim, release, submit, lease expiry), each
//! the body of one READ COMMITTED transaction, correct with any number of replicas at once.
//! Two locks, taken in this order:
//!
//! 1. the reader: a transaction-scoped advisory lock on the reader's id (claim, release,
//!    submit), so one reader's transitions run one at a time across replicas: what makes a
//!    reader ineligible for a task (their own reads and held task) cannot change during their
//!    claim, and a request id they repeat finds their first submit committed;
//! 2. the exam: its `studies` row. Every transaction that changes an exam's tasks, reads,
//!    outcome or events holds it until it commits, so a decision made after taking it (is the
//!    task held, has reading started, which reads are in) stays true, and within one exam the
//!    events' `seq` order is commit order. Route, release, submit and a claim renewing the
//!    reader's task wait for it, holding no other row lock meanwhile (`route_many` waits for
//!    one exam after another: two bulk routings of the same exams in different orders can
//!    deadlock, and PostgreSQL then aborts one, which is run again). A claim's scans and the
//!    lease expiry take it together with the task's row (`FOR NO KEY UPDATE OF t, s SKIP
//!    LOCKED`) and pass over an exam busy elsewhere: they never wait.
//!
//! Task rows are locked only by those scans, so that PostgreSQL re-checks a candidate's state
//! once it is locked. A scan may keep the lock of a task it passed over (row locks last until
//! commit), so a writer of that exam may wait for the claim to end; never the reverse.
//!
//! `NO KEY UPDATE` rather than `UPDATE`: the foreign-key checks of inserted events, reads and
//! tasks take `KEY SHARE` on the rows they reference, which `NO KEY UPDATE` allows.

use ::postgres::types::Type;
use granska_triage::ReadingMode;

use crate::error::Error;
use crate::model::{
    ClaimedTask, NextStep, Read, ReadDecision, Reader, RouteInput, RouteOutcome, Submission, SubmitOutcome, TaskId,
    TaskKind, TaskState,
};
use crate::requests;
use crate::workflow::{self, Step};

use super::txn::{self, Fail, Param, READ_COLUMNS, TASK_COLUMNS, TaskRow, Tx, get, load_task};

/// First key of the readers' advisory locks (the second is the hash of the reader's id). The
/// two-key form is a lock space of its own, apart from the migrations' one-key lock.
const READER_LOCK: i32 = 0x5752_4452; // "WRDR"

/// [`workflow::may_take`] in SQL over `tasks t`, with "involved" being a screening read of the
/// exam submitted or another screening task of it held; `$1` is the reader, `$2` whether they
/// take consensus tasks. The rule is the Rust function; this filter is checked against it on
/// random store states by the conformance case `eligibility_is_may_take`.
pub(super) const ELIGIBLE: &str = "(CASE WHEN t.kind = 'consensus' THEN $2
    ELSE NOT EXISTS (SELECT 1 FROM reads x WHERE x.study_id = t.study_id AND x.reader = $1 AND x.kind <> 'consensus')
     AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.study_id = t.study_id AND o.id <> t.id AND o.state = 'claimed'
                     AND o.claimed_by = $1 AND o.kind <> 'consensus') END)";

/// The (flagged, rank) groups of the queue holding a task queued since before `cutoff`, in
/// priority order: one index probe of `tasks_queue` per group, in one statement. (`LATERAL …
/// LIMIT 1` rather than `EXISTS`, which the planner may turn into a pass over every overdue
/// task.)
pub(super) fn overdue_groups(
    tx: &mut Tx<'_, '_>,
    operation: &'static str,
    cutoff: i64,
) -> Result<Vec<(bool, i16)>, Fail> {
    let rows = tx.rows(
        operation,
        "SELECT f.flagged, r.rank::smallint FROM (VALUES (true), (false)) f (flagged)
             CROSS JOIN generate_series(1, 10) r (rank)
             CROSS JOIN LATERAL (SELECT 1 FROM tasks t WHERE t.state = 'queued' AND t.flagged = f.flagged
                                 AND t.rank = r.rank AND t.waiting_since < $1 LIMIT 1) overdue
         ORDER BY f.flagged DESC, r.rank DESC",
        &[(&cutoff, Type::INT8)],
    )?;
    Ok(rows.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect::<crate::Result<Vec<_>>>()?)
}

fn lock_reader(tx: &mut Tx<'_, '_>, operation: &'static str, reader: &str) -> Result<(), Fail> {
    tx.execute(
        operation,
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[(&READER_LOCK, Type::INT4), (&reader, Type::TEXT)],
    )?;
    Ok(())
}

fn lock_study(tx: &mut Tx<'_, '_>, operation: &'static str, study_id: i64) -> Result<(), Fail> {
    match tx.opt(operation, "SELECT id FROM studies WHERE id = $1 FOR NO KEY UPDATE", &[(&study_id, Type::INT8)])? {
        Some(_) => Ok(()),
        None => Err(Fail::Raced { operation }),
    }
}

/// Locks the exam of a task (a task never changes exam); the task's state is to be read after
/// this, under the lock.
fn lock_study_of(tx: &mut Tx<'_, '_>, operation: &'static str, task_id: TaskId) -> Result<(), Fail> {
    let sql = "SELECT id FROM studies WHERE id = (SELECT study_id FROM tasks WHERE id = $1) FOR NO KEY UPDATE";
    match tx.opt(operation, sql, &[(&task_id, Type::INT8)])? {
        Some(_) => Ok(()),
        None => Err(Error::UnknownTask { task_id }.into()),
    }
}

fn event(
    tx: &mut Tx<'_, '_>,
    study_id: i64,
    task_id: Option<TaskId>,
    at: i64,
    actor: Option<&str>,
    kind: &str,
    detail: &str,
) -> Result<(), Fail> {
    tx.execute(
        "recording an event",
        "INSERT INTO events (study_id, task_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            (&study_id, Type::INT8),
            (&task_id, Type::INT8),
            (&at, Type::INT8),
            (&actor, Type::TEXT),
            (&kind, Type::TEXT),
            (&detail, Type::TEXT),
        ],
    )?;
    Ok(())
}

fn insert_task(tx: &mut Tx<'_, '_>, study_id: i64, routing_id: i64, kind: TaskKind, now: i64) -> Result<TaskId, Fail> {
    let row = tx.one(
        "creating a task",
        "INSERT INTO tasks (study_id, routing_id, kind, state, flagged, rank, waiting_since, created_at)
         SELECT $1, $2, $3, 'queued', r.flagged, r.rank, s.waiting_since, $4
         FROM routings r JOIN studies s ON s.id = r.study_id WHERE r.id = $2
         RETURNING id",
        &[(&study_id, Type::INT8), (&routing_id, Type::INT8), (&kind.as_str(), Type::TEXT), (&now, Type::INT8)],
    )?;
    Ok(get(&row, 0)?)
}

/// An exam's row, locked: `(id, waiting_since, routing_id, has an outcome)`.
type StudyRow = (i64, i64, Option<i64>, bool);

fn lock_study_by_uid(tx: &mut Tx<'_, '_>, study_uid: &str) -> Result<Option<StudyRow>, Fail> {
    let row = tx.opt(
        "routing an exam",
        "SELECT id, waiting_since, routing_id, outcome IS NOT NULL FROM studies WHERE study_uid = $1
         FOR NO KEY UPDATE",
        &[(&study_uid, Type::TEXT)],
    )?;
    Ok(match row {
        Some(r) => Some((get(&r, 0)?, get(&r, 1)?, get(&r, 2)?, get(&r, 3)?)),
        None => None,
    })
}

/// Records one routing under its exam's lock; see [`crate::WorklistStore::route`].
pub(super) fn route(tx: &mut Tx<'_, '_>, input: &RouteInput) -> Result<RouteOutcome, Fail> {
    const OP: &str = "routing an exam";
    let uid = &input.study_uid;
    let (study_id, previous, final_already) = match lock_study_by_uid(tx, uid)? {
        Some(study) => existing_study(tx, input, study)?,
        None => {
            // A new exam; a concurrent first routing of the same exam may insert it first, and
            // then this one waits for it and routes it again as an existing exam.
            let inserted = tx.opt(
                OP,
                "INSERT INTO studies (study_uid, waiting_since) VALUES ($1, $2)
                 ON CONFLICT (study_uid) DO NOTHING RETURNING id",
                &[(uid, Type::TEXT), (&input.waiting_since_ms, Type::INT8)],
            )?;
            match inserted {
                Some(row) => (get(&row, 0)?, None, false),
                None => match lock_study_by_uid(tx, uid)? {
                    Some(study) => existing_study(tx, input, study)?,
                    None => return Err(Fail::Raced { operation: OP }),
                },
            }
        }
    };
    let now = tx.now();
    let started = match previous {
        Some(p) => {
            let row = tx.one(
                OP,
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE routing_id = $1 AND state IN ('claimed', 'done'))",
                &[(&p, Type::INT8)],
            )?;
            get::<bool>(&row, 0)?
        }
        None => false,
    };
    let applied = !final_already && !started;
    let d = &input.decision;
    let flags = requests::flag_list(input);
    let model = input.model.as_ref();
    let (model_name, model_version, model_sha256) =
        (model.map(|m| &m.name), model.map(|m| &m.version), model.map(|m| &m.sha256));
    let category = input.category.map(i16::from);
    let (mode, flagged, rank) = (d.mode.as_str(), d.is_flagged(), i16::from(d.rank));
    let status = input.status.as_str();
    let params: [Param<'_>; 17] = [
        (&study_id, Type::INT8),
        (&status, Type::TEXT),
        (&model_name, Type::TEXT),
        (&model_version, Type::TEXT),
        (&model_sha256, Type::TEXT),
        (&input.raw_score, Type::FLOAT8),
        (&category, Type::INT2),
        (&input.extra_high, Type::BOOL),
        (&d.reason, Type::TEXT),
        (&input.policy.name, Type::TEXT),
        (&input.policy.version, Type::TEXT),
        (&mode, Type::TEXT),
        (&flags, Type::TEXT),
        (&flagged, Type::BOOL),
        (&rank, Type::INT2),
        (&now, Type::INT8),
        (&applied, Type::BOOL),
    ];
    let row = tx.one(
        OP,
        "INSERT INTO routings (study_id, status, model_name, model_version, model_sha256, raw_score, category,
             extra_high, reason, policy_name, policy_version, reading_mode, flags, flagged, rank, decided_at, applied)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING id",
        &params,
    )?;
    let routing_id: i64 = get(&row, 0)?;
    let summary = requests::route_summary(input, &flags);
    if !applied {
        let why = if final_already { "the exam already has its final outcome" } else { "reading has started" };
        let detail = format!("routing {routing_id} recorded, not applied ({why}): {summary}");
        event(tx, study_id, None, now, None, "routing-kept", &detail)?;
        return Ok(RouteOutcome { routing_id, applied, superseded: None, tasks: Vec::new() });
    }
    if let Some(p) = previous {
        const SUPERSEDING: &str = "superseding a routing";
        let cancelled = tx.execute(
            SUPERSEDING,
            "UPDATE tasks SET state = 'cancelled' WHERE routing_id = $1 AND state = 'queued'",
            &[(&p, Type::INT8)],
        )?;
        tx.execute(
            SUPERSEDING,
            "UPDATE routings SET superseded_by = $1 WHERE id = $2",
            &[(&routing_id, Type::INT8), (&p, Type::INT8)],
        )?;
        let detail = format!("routing {p} superseded by {routing_id}; {cancelled} queued task(s) cancelled");
        event(tx, study_id, None, now, None, "superseded", &detail)?;
    }
    tx.execute(
        OP,
        "UPDATE studies SET routing_id = $1 WHERE id = $2",
        &[(&routing_id, Type::INT8), (&study_id, Type::INT8)],
    )?;
    let mut tasks = Vec::new();
    for kind in workflow::initial_tasks(d.mode) {
        tasks.push(insert_task(tx, study_id, routing_id, *kind, now)?);
    }
    let listed =
        workflow::initial_tasks(d.mode).iter().zip(&tasks).map(|(k, id)| format!("{id} {k}")).collect::<Vec<_>>();
    let detail = format!("routing {routing_id}: {summary}; tasks {}", listed.join(", "));
    event(tx, study_id, None, now, None, "routed", &detail)?;
    Ok(RouteOutcome { routing_id, applied, superseded: previous, tasks })
}

/// `(id, current routing, has an outcome)` of a locked existing exam, its waiting time moved
/// earlier when this routing says it has waited longer.
fn existing_study(
    tx: &mut Tx<'_, '_>,
    input: &RouteInput,
    (id, since, routing, has_outcome): StudyRow,
) -> Result<(i64, Option<i64>, bool), Fail> {
    if input.waiting_since_ms < since {
        tx.execute(
            "routing an exam",
            "UPDATE studies SET waiting_since = $1 WHERE id = $2",
            &[(&input.waiting_since_ms, Type::INT8), (&id, Type::INT8)],
        )?;
    }
    Ok((id, routing, has_outcome))
}

fn requeue_expired(tx: &mut Tx<'_, '_>, task: TaskId, study: i64, holder: &str, now: i64) -> Result<(), Fail> {
    tx.execute(
        "returning expired leases",
        "UPDATE tasks SET state = 'queued', claimed_by = NULL, lease_until = NULL WHERE id = $1",
        &[(&task, Type::INT8)],
    )?;
    event(tx, study, Some(task), now, None, "lease-expired", &format!("lease of {holder} expired; back in the queue"))
}

/// Returns every expired lease whose exam no other transaction holds to the queue (the others
/// are returned by whichever transaction comes next); the number returned.
pub(super) fn reap(tx: &mut Tx<'_, '_>, now: i64) -> Result<u64, Fail> {
    const OP: &str = "returning expired leases";
    let expired = tx.rows(
        OP,
        "SELECT t.id, t.study_id, t.claimed_by FROM tasks t JOIN studies s ON s.id = t.study_id
         WHERE t.state = 'claimed' AND t.lease_until < $1
         ORDER BY t.lease_until, t.id
         FOR NO KEY UPDATE OF t, s SKIP LOCKED",
        &[(&now, Type::INT8)],
    )?;
    for row in &expired {
        let (task, study, holder): (i64, i64, String) = (get(row, 0)?, get(row, 1)?, get(row, 2)?);
        requeue_expired(tx, task, study, &holder, now)?;
    }
    Ok(expired.len() as u64)
}

fn routing_reads(tx: &mut Tx<'_, '_>, routing_id: i64) -> Result<Vec<Read>, Fail> {
    let rows = tx.rows(
        "loading reads",
        &format!(
            "SELECT {READ_COLUMNS} FROM reads r JOIN tasks t ON t.id = r.task_id WHERE t.routing_id = $1 ORDER BY r.id"
        ),
        &[(&routing_id, Type::INT8)],
    )?;
    Ok(rows.iter().map(txn::read).collect::<crate::Result<Vec<_>>>()?)
}

fn claimed(tx: &mut Tx<'_, '_>, task: TaskRow, resumed: bool) -> Result<ClaimedTask, Fail> {
    let reads =
        if workflow::sees_earlier_reads(task.task.kind) { routing_reads(tx, task.routing_id)? } else { Vec::new() };
    let prior_reads = workflow::visible_to_task(task.task.kind, &reads);
    Ok(ClaimedTask { task: task.task, resumed, prior_reads })
}

/// What a claim needs to know before it locks any row, in one statement (a round trip costs
/// more than these index probes): whether any lease has expired, the task the reader holds
/// (id, exam) if any, and the overdue groups (see [`overdue_groups`]) as two arrays, flagged
/// and rank.
const LOOK: &str = "SELECT
        EXISTS (SELECT 1 FROM tasks WHERE state = 'claimed' AND lease_until < $2),
        held.id, held.study_id, overdue.flagged, overdue.ranks
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (SELECT id, study_id FROM tasks WHERE state = 'claimed' AND claimed_by = $1
                       ORDER BY id LIMIT 1) held ON true
    CROSS JOIN (SELECT array_agg(f.flagged ORDER BY f.flagged DESC, r.rank DESC) AS flagged,
                       array_agg(r.rank::smallint ORDER BY f.flagged DESC, r.rank DESC) AS ranks
                FROM (VALUES (true), (false)) f (flagged) CROSS JOIN generate_series(1, 10) r (rank)
                CROSS JOIN LATERAL (SELECT 1 FROM tasks t WHERE t.state = 'queued' AND t.flagged = f.flagged
                                    AND t.rank = r.rank AND t.waiting_since < $3 LIMIT 1) x) overdue";

struct Look {
    expired: bool,
    held: Option<(TaskId, i64)>,
    overdue: Vec<(bool, i16)>,
}

fn look(tx: &mut Tx<'_, '_>, reader: &str, now: i64, cutoff: i64) -> Result<Look, Fail> {
    let row = tx.one("claiming a task", LOOK, &[(&reader, Type::TEXT), (&now, Type::INT8), (&cutoff, Type::INT8)])?;
    let held: (Option<i64>, Option<i64>) = (get(&row, 1)?, get(&row, 2)?);
    let (flagged, ranks): (Option<Vec<bool>>, Option<Vec<i16>>) = (get(&row, 3)?, get(&row, 4)?);
    Ok(Look {
        expired: get(&row, 0)?,
        held: held.0.zip(held.1),
        overdue: flagged.unwrap_or_default().into_iter().zip(ranks.unwrap_or_default()).collect(),
    })
}

/// One claim; see [`crate::WorklistStore::claim_next`]. `lease` and `max_wait` in ms.
pub(super) fn claim(
    tx: &mut Tx<'_, '_>,
    reader: &Reader,
    lease: i64,
    max_wait: i64,
) -> Result<Option<ClaimedTask>, Fail> {
    const OP: &str = "claiming a task";
    lock_reader(tx, OP, &reader.id)?;
    let now = tx.now();
    let cutoff = now - max_wait;
    let seen = look(tx, &reader.id, now, cutoff)?;
    // The held task first: its exam is the one lock a claim may wait for, so it waits holding
    // no row lock; the reap and the scans after it only take locks they need not wait for.
    let held = match seen.held {
        Some((task_id, study_id)) => Some(resume(tx, reader, task_id, study_id, now, lease)?),
        None => None,
    };
    let reaped = if seen.expired { reap(tx, now)? } else { 0 };
    let overdue = match held {
        Some(Held::Renewed(task)) => return claimed(tx, task, true).map(Some),
        // Tasks back in the queue may be overdue in groups that had none.
        Some(Held::Requeued) => overdue_groups(tx, OP, cutoff)?,
        None if reaped > 0 => overdue_groups(tx, OP, cutoff)?,
        None => seen.overdue,
    };
    // Overdue tasks (waiting longer than the limit) come first, then the rest; both in
    // PriorityKey order. The overdue ones are sought group by group (flagged, rank), among the
    // groups that have any, each an index seek into the group's overdue prefix of
    // `tasks_queue`: the cost grows with neither the queue nor the overdue backlog.
    let by_reader: [Param<'_>; 2] = [(&reader.id, Type::TEXT), (&reader.consensus, Type::BOOL)];
    let mut found = None;
    let overdue_sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks t JOIN studies s ON s.id = t.study_id
         WHERE t.state = 'queued' AND t.flagged = $3 AND t.rank = $4 AND t.waiting_since < $5 AND {ELIGIBLE}
         ORDER BY t.waiting_since, t.id LIMIT 1
         FOR NO KEY UPDATE OF t, s SKIP LOCKED"
    );
    for (flagged, rank) in overdue {
        let params = [
            by_reader[0].clone(),
            by_reader[1].clone(),
            (&flagged, Type::BOOL),
            (&rank, Type::INT2),
            (&cutoff, Type::INT8),
        ];
        found = tx.opt(OP, &overdue_sql, &params)?;
        if found.is_some() {
            break;
        }
    }
    if found.is_none() {
        // The rest: the queue from the top, without a waiting-time condition. Overdue tasks
        // this reader may take were all passed over above (or are locked), unless one became
        // available since; taking it then is right, as it comes first anyway.
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN studies s ON s.id = t.study_id
             WHERE t.state = 'queued' AND {ELIGIBLE}
             ORDER BY t.flagged DESC, t.rank DESC, t.waiting_since, t.id LIMIT 1
             FOR NO KEY UPDATE OF t, s SKIP LOCKED"
        );
        found = tx.opt(OP, &sql, &by_reader)?;
    }
    let Some(row) = found else { return Ok(None) };
    let mut task = txn::task(&row)?;
    let until = now + lease;
    let detail = format!("{} read; lease {} s", task.task.kind, lease / 1000);
    // The task and its event in one statement.
    let changed = tx.execute(
        OP,
        "WITH claimed AS (
             UPDATE tasks SET state = 'claimed', claimed_by = $1, lease_until = $2 WHERE id = $3 AND state = 'queued'
             RETURNING id, study_id)
         INSERT INTO events (study_id, task_id, at, actor, kind, detail)
         SELECT study_id, id, $4, $1, 'claimed', $5 FROM claimed",
        &[
            (&reader.id, Type::TEXT),
            (&until, Type::INT8),
            (&task.task.id, Type::INT8),
            (&now, Type::INT8),
            (&detail, Type::TEXT),
        ],
    )?;
    if changed != 1 {
        // Cannot happen while the row is locked; if it did, nothing is lost by trying again.
        return Err(Fail::Raced { operation: OP });
    }
    task.task.state = TaskState::Claimed;
    task.task.claimed_by = Some(reader.id.clone());
    task.task.lease_until_ms = Some(until);
    claimed(tx, task, false).map(Some)
}

/// What became of the task a reader held.
enum Held {
    /// Its lease is renewed.
    Renewed(TaskRow),
    /// Its lease had expired: it is back in the queue.
    Requeued,
}

/// The task `reader` holds (`task_id` of exam `study_id`, as seen before locking), its lease
/// renewed, or returned to the queue if its lease has expired.
fn resume(
    tx: &mut Tx<'_, '_>,
    reader: &Reader,
    task_id: TaskId,
    study_id: i64,
    now: i64,
    lease: i64,
) -> Result<Held, Fail> {
    const OP: &str = "claiming a task";
    lock_study(tx, OP, study_id)?;
    let mut held = load_task(tx, task_id)?;
    if held.task.state != TaskState::Claimed || held.task.claimed_by.as_deref() != Some(&reader.id) {
        // Another replica returned it to the queue between the two statements.
        return Err(Fail::Raced { operation: OP });
    }
    if held.task.lease_until_ms.unwrap_or(i64::MIN) < now {
        requeue_expired(tx, task_id, study_id, &reader.id, now)?;
        return Ok(Held::Requeued);
    }
    let until = now + lease;
    tx.execute(OP, "UPDATE tasks SET lease_until = $1 WHERE id = $2", &[(&until, Type::INT8), (&task_id, Type::INT8)])?;
    held.task.lease_until_ms = Some(until);
    let detail = format!("{} read, held already; lease {} s", held.task.kind, lease / 1000);
    event(tx, study_id, Some(task_id), now, Some(&reader.id), "lease-renewed", &detail)?;
    Ok(Held::Renewed(held))
}

/// One release; see [`crate::WorklistStore::release`].
pub(super) fn release(tx: &mut Tx<'_, '_>, task_id: TaskId, reader: &str) -> Result<(), Fail> {
    const OP: &str = "releasing a task";
    lock_reader(tx, OP, reader)?;
    lock_study_of(tx, OP, task_id)?;
    let now = tx.now();
    let task = load_task(tx, task_id)?;
    requests::ensure_held_by(&task.task, reader)?;
    tx.execute(
        OP,
        "UPDATE tasks SET state = 'queued', claimed_by = NULL, lease_until = NULL WHERE id = $1",
        &[(&task_id, Type::INT8)],
    )?;
    let detail = format!("{} read back in the queue", task.task.kind);
    event(tx, task.study_id, Some(task_id), now, Some(reader), "released", &detail)
}

/// Where an exam stands now (for a repeated submit).
fn current_step(tx: &mut Tx<'_, '_>, study_id: i64) -> Result<NextStep, Fail> {
    const OP: &str = "loading an exam";
    let row = tx.one(OP, "SELECT outcome, outcome_via FROM studies WHERE id = $1", &[(&study_id, Type::INT8)])?;
    let (outcome, via): (Option<String>, Option<String>) = (get(&row, 0)?, get(&row, 1)?);
    if let (Some(outcome), Some(via)) = (outcome, via) {
        let decision = ReadDecision::parse(&outcome).ok_or(Error::Corrupt { what: "outcome", found: outcome })?;
        let via = crate::model::OutcomeVia::parse(&via).ok_or(Error::Corrupt { what: "outcome route", found: via })?;
        return Ok(NextStep::Final(decision, via));
    }
    let consensus = tx.opt(
        OP,
        "SELECT t.id FROM tasks t JOIN studies s ON s.routing_id = t.routing_id
         WHERE s.id = $1 AND t.kind = 'consensus'",
        &[(&study_id, Type::INT8)],
    )?;
    Ok(match consensus {
        Some(row) => NextStep::Consensus(get(&row, 0)?),
        None => NextStep::AwaitingOtherRead,
    })
}

/// One submit; see [`crate::WorklistStore::submit`].
pub(super) fn submit(tx: &mut Tx<'_, '_>, sub: &Submission) -> Result<SubmitOutcome, Fail> {
    const OP: &str = "submitting a read";
    lock_reader(tx, OP, &sub.reader)?;
    // A concurrent submit with this request id by another reader may commit after this check;
    // the insert below then fails on the unique key and the transaction runs again.
    let earlier = tx.opt(
        OP,
        "SELECT task_id, reader, decision, note FROM reads WHERE request_id = $1",
        &[(&sub.request_id, Type::TEXT)],
    )?;
    if let Some(row) = earlier {
        let (task_id, reader, decision, note): (TaskId, String, String, Option<String>) =
            (get(&row, 0)?, get(&row, 1)?, get(&row, 2)?, get(&row, 3)?);
        if task_id != sub.task_id || reader != sub.reader || decision != sub.decision.as_str() || note != sub.note {
            return Err(Error::RequestIdReused { request_id: sub.request_id.clone(), task_id }.into());
        }
        let task = load_task(tx, task_id)?;
        return Ok(SubmitOutcome { duplicate: true, next: current_step(tx, task.study_id)? });
    }
    lock_study_of(tx, OP, sub.task_id)?;
    let now = tx.now();
    let task = load_task(tx, sub.task_id)?;
    requests::ensure_held_by(&task.task, &sub.reader)?;
    let lease_until = task.task.lease_until_ms.unwrap_or(i64::MIN);
    if lease_until < now {
        return Err(Error::LeaseExpired {
            task_id: sub.task_id,
            reader: sub.reader.clone(),
            expired_ms_ago: now.saturating_sub(lease_until),
        }
        .into());
    }
    let (kind, decision) = (task.task.kind.as_str(), sub.decision.as_str());
    tx.execute(
        OP,
        "INSERT INTO reads (task_id, study_id, kind, reader, decision, note, request_id, submitted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            (&sub.task_id, Type::INT8),
            (&task.study_id, Type::INT8),
            (&kind, Type::TEXT),
            (&sub.reader, Type::TEXT),
            (&decision, Type::TEXT),
            (&sub.note, Type::TEXT),
            (&sub.request_id, Type::TEXT),
            (&now, Type::INT8),
        ],
    )?;
    tx.execute(
        OP,
        "UPDATE tasks SET state = 'done', claimed_by = NULL, lease_until = NULL WHERE id = $1",
        &[(&sub.task_id, Type::INT8)],
    )?;
    let detail = format!("{} read: {}", task.task.kind, sub.decision);
    event(tx, task.study_id, Some(sub.task_id), now, Some(&sub.reader), "submitted", &detail)?;

    let row = tx.one(OP, "SELECT reading_mode FROM routings WHERE id = $1", &[(&task.routing_id, Type::INT8)])?;
    let mode: String = get(&row, 0)?;
    let mode = ReadingMode::parse(&mode).ok_or(Error::Corrupt { what: "reading mode", found: mode })?;
    let reads = routing_reads(tx, task.routing_id)?;
    let screening: Vec<ReadDecision> = reads.iter().filter(|r| r.kind.is_screening()).map(|r| r.decision).collect();
    let consensus = reads.iter().find(|r| r.kind == TaskKind::Consensus).map(|r| r.decision);
    let next = match workflow::after_read(mode, &screening, consensus) {
        Step::AwaitOtherRead => NextStep::AwaitingOtherRead,
        Step::OpenConsensus => {
            let id = insert_task(tx, task.study_id, task.routing_id, TaskKind::Consensus, now)?;
            let detail = "discordant screening reads; consensus task queued";
            event(tx, task.study_id, Some(id), now, None, "consensus-opened", detail)?;
            NextStep::Consensus(id)
        }
        Step::Final(decision, via) => {
            let (outcome, via_text) = (decision.as_str(), via.as_str());
            tx.execute(
                "recording the outcome",
                "UPDATE studies SET outcome = $1, outcome_via = $2, outcome_at = $3 WHERE id = $4",
                &[(&outcome, Type::TEXT), (&via_text, Type::TEXT), (&now, Type::INT8), (&task.study_id, Type::INT8)],
            )?;
            event(tx, task.study_id, None, now, None, "final", &format!("{decision} ({})", via.as_str()))?;
            NextStep::Final(decision, via)
        }
    };
    Ok(SubmitOutcome { duplicate: false, next })
}
