//! The workflow's domain types: what goes into the store and what comes out of it.
//!
//! Nothing here knows SQL; the SQLite and PostgreSQL stores use the same types.

use std::collections::BTreeMap;

use granska_triage::{Decision, Flag, PolicyId, ReadingMode};

/// A reading task's id (unique in one store).
pub type TaskId = i64;

pub use granska_types::{ExamStatus, ModelIdentity, OutcomeVia, ReadDecision, TaskKind, TaskState};

/// Who is asking, and what they may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The reader's stable id (the authenticated principal).
    pub id: String,
    /// Whether this reader takes consensus tasks.
    pub consensus: bool,
}

impl Reader {
    /// A screening reader who also takes consensus tasks.
    pub fn new(id: impl Into<String>) -> Self {
        Reader { id: id.into(), consensus: true }
    }
}

/// Everything recorded when an exam is routed (DESIGN §4: model, raw score, category, policy,
/// time), and the decision that creates its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteInput {
    /// The exam's StudyInstanceUID.
    pub study_uid: String,
    /// When the exam started waiting (its first instance arrived), Unix ms. Kept from the first
    /// routing when an exam is re-routed, so re-scoring never sends it to the back.
    pub waiting_since_ms: i64,
    /// Scoring status.
    pub status: ExamStatus,
    /// The model, when one ran.
    pub model: Option<ModelIdentity>,
    /// The exam score (probability), when there is one.
    pub raw_score: Option<f64>,
    /// The calibrated category, when there is one.
    pub category: Option<u8>,
    /// At or above the extra-high cut.
    pub extra_high: bool,
    /// The triage policy's identity.
    pub policy: PolicyId,
    /// The policy's decision.
    pub decision: Decision,
}

/// What routing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOutcome {
    /// The new routing record's id.
    pub routing_id: i64,
    /// Whether its tasks were created. `false` when reading had already started on an earlier
    /// routing (or the exam is final): the record is kept but the earlier routing stands.
    pub applied: bool,
    /// The routing it superseded, when it replaced one.
    pub superseded: Option<i64>,
    /// The tasks it created.
    pub tasks: Vec<TaskId>,
}

/// A stored routing record.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// Record id.
    pub id: i64,
    /// Scoring status.
    pub status: ExamStatus,
    /// The model, when one ran.
    pub model: Option<ModelIdentity>,
    /// Exam score.
    pub raw_score: Option<f64>,
    /// Category.
    pub category: Option<u8>,
    /// Extra-high.
    pub extra_high: bool,
    /// Why it is double read regardless of score.
    pub reason: Option<String>,
    /// Policy.
    pub policy: PolicyId,
    /// Reading mode decided.
    pub mode: ReadingMode,
    /// Flags decided.
    pub flags: Vec<Flag>,
    /// When it was recorded, Unix ms.
    pub decided_at_ms: i64,
    /// Whether it created the exam's tasks.
    pub applied: bool,
    /// Whether a later routing replaced it.
    pub superseded: bool,
}

/// A stored reading task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Task id.
    pub id: TaskId,
    /// The exam.
    pub study_uid: String,
    /// Which read.
    pub kind: TaskKind,
    /// Its state.
    pub state: TaskState,
    /// The holder, while claimed.
    pub claimed_by: Option<String>,
    /// The lease's end, while claimed, Unix ms.
    pub lease_until_ms: Option<i64>,
}

/// A task handed to a reader by [`crate::WorklistStore::claim_next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedTask {
    /// The task.
    pub task: Task,
    /// `true` when the reader already held it (a retried claim); the lease was renewed.
    pub resumed: bool,
    /// Earlier reads the reader may see: none for a screening read (blinded), both screening
    /// reads for a consensus task.
    pub prior_reads: Vec<Read>,
}

/// A submitted read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The task it completed.
    pub task_id: TaskId,
    /// Which read.
    pub kind: TaskKind,
    /// Who read.
    pub reader: String,
    /// The decision.
    pub decision: ReadDecision,
    /// Free-text note.
    pub note: Option<String>,
    /// When, Unix ms.
    pub submitted_at_ms: i64,
}

/// A read to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The claimed task.
    pub task_id: TaskId,
    /// The reader (must hold the task).
    pub reader: String,
    /// The decision.
    pub decision: ReadDecision,
    /// Optional note.
    pub note: Option<String>,
    /// Client-chosen id; submitting the same id again returns the first result.
    pub request_id: String,
}

/// What a submit led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// `true` when this request id had already been submitted; nothing changed.
    pub duplicate: bool,
    /// The exam's next step after this read.
    pub next: NextStep,
}

/// What an exam needs after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// The other screening read is still outstanding.
    AwaitingOtherRead,
    /// Discordant screening reads: a consensus task was created.
    Consensus(TaskId),
    /// The exam has its final outcome.
    Final(ReadDecision, OutcomeVia),
}

impl NextStep {
    /// The step without its data, as shown to the reader.
    pub fn kind(self) -> granska_types::AfterRead {
        match self {
            NextStep::AwaitingOtherRead => granska_types::AfterRead::AwaitingOtherRead,
            NextStep::Consensus(_) => granska_types::AfterRead::Consensus,
            NextStep::Final(..) => granska_types::AfterRead::Final,
        }
    }
}

/// An exam's final outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Recall or not.
    pub decision: ReadDecision,
    /// How it was reached.
    pub via: OutcomeVia,
    /// When, Unix ms.
    pub at_ms: i64,
}

/// One entry of the audit trail of an exam's workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Sequence number: in commit order among the events of one exam (on SQLite, across
    /// all exams too).
    pub seq: i64,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The task concerned, if any.
    pub task_id: Option<TaskId>,
    /// Who caused it (`None`: the system).
    pub actor: Option<String>,
    /// What happened, e.g. `claimed`.
    pub kind: String,
    /// Human-readable detail.
    pub detail: String,
}

/// Everything stored about one exam.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyHistory {
    /// The exam.
    pub study_uid: String,
    /// When it started waiting, Unix ms.
    pub waiting_since_ms: i64,
    /// Routing records, oldest first.
    pub routings: Vec<Routing>,
    /// Tasks, oldest first.
    pub tasks: Vec<Task>,
    /// Reads, in submission order.
    pub reads: Vec<Read>,
    /// The final outcome, once reached.
    pub outcome: Option<Outcome>,
    /// The audit trail.
    pub events: Vec<Event>,
}

/// A page request: entries `offset..offset + limit` of the ordered list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Entries to skip.
    pub offset: u64,
    /// Entries to return (at most 1000).
    pub limit: u32,
}

/// One task on a reader's worklist. Carries no decision of any read (blinding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorklistEntry {
    /// The task.
    pub task_id: TaskId,
    /// Which read.
    pub kind: TaskKind,
    /// `queued`, or `claimed` when the asking reader holds it.
    pub state: TaskState,
    /// The exam.
    pub study_uid: String,
    /// Scoring status.
    pub status: ExamStatus,
    /// Category, when scored.
    pub category: Option<u8>,
    /// Reading mode.
    pub mode: ReadingMode,
    /// Flags.
    pub flags: Vec<Flag>,
    /// Why it is double read regardless of score.
    pub reason: Option<String>,
    /// When it started waiting, Unix ms.
    pub waiting_since_ms: i64,
    /// Waiting longer than the policy's limit.
    pub overdue: bool,
}

/// A page of a reader's worklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorklistPage {
    /// Entries in priority order: the reader's own claimed tasks first, then the queue.
    pub entries: Vec<WorklistEntry>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u64>,
}

/// Counts for dashboards and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Exams by their current reading mode.
    pub studies_by_mode: BTreeMap<&'static str, u64>,
    /// Exams by state: `reading`, `consensus` (a consensus task is open) or `final`.
    pub studies_by_state: BTreeMap<&'static str, u64>,
    /// Tasks by `kind/state`.
    pub tasks: BTreeMap<String, u64>,
}
