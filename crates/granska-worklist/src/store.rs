//! The store interface the rest of Granska uses, and the clock it reads time from.
//!
//! Every method is one transaction: it happens completely or not at all. The SQLite store and
//! the PostgreSQL one (feature `postgres`) implement it, and both pass the same conformance
//! suite (`conformance`, behind the feature of that name).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::model::{
    ClaimedTask, Counts, PageRequest, Read, Reader, RouteInput, RouteOutcome, StudyHistory, Submission, SubmitOutcome,
    Task, TaskId, WorklistPage,
};

/// The durable reading workflow.
pub trait WorklistStore: Send + Sync {
    /// Records an exam's routing and creates its tasks; re-routing supersedes the earlier
    /// routing while no read has started (both records are kept).
    fn route(&self, input: &RouteInput) -> Result<RouteOutcome>;

    /// Routes many exams in one transaction (bulk import, benchmarks): all or nothing.
    fn route_many(&self, inputs: &[RouteInput]) -> Result<Vec<RouteOutcome>>;

    /// Whether the store answers now (the readiness check).
    fn ping(&self) -> Result<()>;

    /// Atomically claims the highest-priority task this reader may take, with a lease. A
    /// reader who already holds a task gets it back (lease renewed). `None` when nothing is
    /// available to this reader.
    fn claim_next(&self, reader: &Reader) -> Result<Option<ClaimedTask>>;

    /// Returns a held task to the queue at once.
    fn release(&self, task_id: TaskId, reader: &str) -> Result<()>;

    /// Submits a read of a held task; idempotent per request id.
    fn submit(&self, submission: &Submission) -> Result<SubmitOutcome>;

    /// Returns every task whose lease has expired to the queue; the number returned.
    fn reap_expired(&self) -> Result<u64>;

    /// The reader's worklist in priority order: their own claimed tasks, then every queued
    /// task they may take.
    fn worklist(&self, reader: &Reader, page: PageRequest) -> Result<WorklistPage>;

    /// One task (its exam, kind, state and holder).
    fn task(&self, task_id: TaskId) -> Result<Task>;

    /// The tasks of one exam, oldest first (kinds, states and holders; no reads).
    fn study_tasks(&self, study_uid: &str) -> Result<Vec<Task>>;

    /// Everything stored about one exam (for audit and administration; not blinded).
    fn history(&self, study_uid: &str) -> Result<StudyHistory>;

    /// The reads of an exam this reader may see (blinded until they submitted their own).
    fn visible_reads(&self, study_uid: &str, reader: &str) -> Result<Vec<Read>>;

    /// Exams by reading mode and state, tasks by kind and state.
    fn counts(&self) -> Result<Counts>;

    /// Checks the store's invariants; each violation is one sentence. Empty when consistent.
    fn check_consistency(&self) -> Result<Vec<String>>;
}

/// How a store behaves; the defaults suit a screening unit.
#[derive(Clone)]
pub struct StoreOptions {
    /// How long a claim lasts without being renewed or submitted.
    pub lease: Duration,
    /// The triage policy's waiting-time limit (exams waiting longer go first).
    pub max_wait: Duration,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            lease: Duration::from_secs(15 * 60),
            max_wait: Duration::from_secs(72 * 3600),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("lease", &self.lease)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

/// Where the store reads the time from (Unix milliseconds).
pub trait Clock: Send + Sync {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
