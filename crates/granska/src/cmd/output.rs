//! The documented `--json` outputs of the client, admin, maintenance, audit and load commands,
//! one serde struct per shape. Every conversion from a protobuf message (or a library record)
//! happens here, in the `From` impls, so a change of a proto field (a string becoming an enum,
//! say) touches these lines and nothing in the commands.
//!
//! [`to_json`] prints with keys in alphabetical order at every level: these outputs were
//! built as `serde_json::Value` (whose map is sorted) before the structs existed, and they keep
//! that byte layout, so the struct fields can be declared in the order a reader thinks of them.
//! `push --json` is the exception: its lines were always printed in field order
//! ([`PushLine`]).

use std::collections::BTreeMap;

use granska_archive::AuditRecord;
use granska_client::pb;
use granska_proto::name;
use granska_types as vocab;
use serde::{Deserialize, Serialize};

/// Pretty-printed JSON of `value`, keys sorted alphabetically at every level.
pub fn to_json<T: Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&serde_json::to_value(value)?)
}

/// One-line JSON of `value`, keys sorted alphabetically at every level (JSON Lines records).
pub fn to_json_line<T: Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(&serde_json::to_value(value)?)
}

/// Unix milliseconds as an RFC 3339 UTC time with millisecond precision, e.g.
/// `2026-11-30T03:13:41.123Z`; `None` outside the range jiff represents (about the years
/// -9999 to 9999).
pub fn rfc3339(unix_ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(unix_ms).ok().map(|t| format!("{t:.3}"))
}

/// Unix milliseconds for a person: RFC 3339 UTC, or the raw number (marked as such) when it is
/// outside the calendar range.
pub fn human_time(unix_ms: i64) -> String {
    rfc3339(unix_ms).unwrap_or_else(|| format!("{unix_ms} (Unix ms)"))
}

/// A proto string where empty means absent.
/// The domain words of a repeated `Flag` field.
fn flags(values: &[i32]) -> Vec<String> {
    values.iter().map(|&f| name::<vocab::Flag>(f)).collect()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// One line of `push --json` (JSON Lines): an instance's result, printed when acknowledged.
#[derive(Debug, Serialize)]
pub struct PushLine {
    /// The file sent.
    pub file: String,
    /// stored | duplicate | rejected
    pub outcome: &'static str,
    /// Its SOPInstanceUID, when the header could be read.
    pub sop_instance_uid: String,
    /// Its StudyInstanceUID, when the header could be read.
    pub study_uid: String,
    /// Bytes sent.
    pub size_bytes: u64,
    /// sha256 of the bytes, when stored.
    pub sha256: String,
    /// Why it was refused.
    pub rejection: Option<PushRejection>,
}

/// The `rejection` of a [`PushLine`].
#[derive(Debug, Serialize)]
pub struct PushRejection {
    /// gRPC code name, e.g. `INVALID_ARGUMENT`.
    pub code: String,
    /// One line.
    pub message: String,
    /// The offending fields.
    pub field_violations: Vec<Violation>,
}

/// One field violation of a [`PushRejection`].
#[derive(Debug, Serialize)]
pub struct Violation {
    /// The field (a DICOM attribute, a tag, or an upload field).
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

impl From<&pb::InstanceResult> for PushLine {
    fn from(r: &pb::InstanceResult) -> PushLine {
        PushLine {
            file: r.instance_ref.clone(),
            outcome: match pb::instance_result::Outcome::try_from(r.outcome) {
                Ok(pb::instance_result::Outcome::Stored) => "stored",
                Ok(pb::instance_result::Outcome::Duplicate) => "duplicate",
                _ => "rejected",
            },
            sop_instance_uid: r.sop_instance_uid.clone(),
            study_uid: r.study_instance_uid.clone(),
            size_bytes: r.size_bytes,
            sha256: r.sha256.clone(),
            rejection: r.rejection.as_ref().map(|x| PushRejection {
                code: x.code.clone(),
                message: x.message.clone(),
                field_violations: x
                    .field_violations
                    .iter()
                    .map(|v| Violation { field: v.field.clone(), description: v.description.clone() })
                    .collect(),
            }),
        }
    }
}

/// One exam of `worklist --json` (the output is an array of these, in worklist order).
#[derive(Debug, Serialize)]
pub struct WorklistEntry {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// The exam's scoring status: scored | incomplete | unscorable
    pub status: String,
    /// Category 1–10; null when the exam was not scored.
    pub category: Option<u32>,
    /// single | double
    pub reading_mode: String,
    /// The policy's flags (e.g. extra-high).
    pub flags: Vec<String>,
    /// Why the exam is double read regardless of its score, when it is.
    pub reason: Option<String>,
    /// Waiting longer than the policy's limit.
    pub overdue: bool,
    /// When it entered the worklist, Unix ms.
    pub waiting_since_unix_ms: i64,
    /// Its reading tasks.
    pub tasks: Vec<WorklistTask>,
}

/// A reading task of a [`WorklistEntry`], as the caller sees it.
#[derive(Debug, Serialize)]
pub struct WorklistTask {
    /// The id `read claim` and `read submit` use.
    pub task_id: i64,
    /// first | second | consensus
    pub kind: String,
    /// queued | claimed | done | cancelled
    pub state: String,
    /// Claimed by the caller.
    pub held_by_you: bool,
    /// The caller may claim it (blinding and roles allowing).
    pub available_to_you: bool,
}

impl From<&pb::WorklistEntry> for WorklistEntry {
    fn from(e: &pb::WorklistEntry) -> WorklistEntry {
        WorklistEntry {
            study_uid: e.study_instance_uid.clone(),
            status: name::<vocab::ExamStatus>(e.status),
            category: e.category,
            reading_mode: name::<vocab::ReadingMode>(e.reading_mode),
            flags: flags(&e.flags),
            reason: non_empty(&e.reason),
            overdue: e.overdue,
            waiting_since_unix_ms: e.waiting_since_unix_ms,
            tasks: e.tasks.iter().map(WorklistTask::from).collect(),
        }
    }
}

impl From<&pb::WorklistTask> for WorklistTask {
    fn from(t: &pb::WorklistTask) -> WorklistTask {
        WorklistTask {
            task_id: t.task_id,
            kind: name::<vocab::TaskKind>(t.kind),
            state: name::<vocab::TaskState>(t.state),
            held_by_you: t.held_by_you,
            available_to_you: t.available_to_you,
        }
    }
}

/// `read claim --json`: the task just claimed (or `null` when none is available).
#[derive(Debug, Serialize)]
pub struct ClaimedTask {
    /// The id to submit or release.
    pub task_id: i64,
    /// StudyInstanceUID.
    pub study_uid: String,
    /// first | second | consensus
    pub kind: String,
    /// When the claim lapses unless the read is submitted, Unix ms.
    pub lease_expires_unix_ms: i64,
    /// The caller already held this task (a repeated claim).
    pub resumed: bool,
    /// The exam's scoring status: scored | incomplete | unscorable
    pub status: String,
    /// Category 1–10; null when not scored.
    pub category: Option<u32>,
    /// single | double
    pub reading_mode: String,
    /// The policy's flags.
    pub flags: Vec<String>,
    /// The policy's reason, when it gave one.
    pub reason: Option<String>,
    /// The instances to display.
    pub sop_instance_uids: Vec<String>,
    /// For a consensus task, the two screening reads; empty for a screening read (blinded).
    pub prior_reads: Vec<PriorRead>,
}

/// A read shown with a [`ClaimedTask`].
#[derive(Debug, Serialize)]
pub struct PriorRead {
    /// first | second
    pub kind: String,
    /// Who read it.
    pub reader: String,
    /// recall | no-recall
    pub decision: String,
    /// The reader's note (empty when none).
    pub note: String,
}

impl From<&pb::ClaimedTask> for ClaimedTask {
    fn from(t: &pb::ClaimedTask) -> ClaimedTask {
        ClaimedTask {
            task_id: t.task_id,
            study_uid: t.study_instance_uid.clone(),
            kind: name::<vocab::TaskKind>(t.kind),
            lease_expires_unix_ms: t.lease_expires_unix_ms,
            resumed: t.resumed,
            status: name::<vocab::ExamStatus>(t.status),
            category: t.category,
            reading_mode: name::<vocab::ReadingMode>(t.reading_mode),
            flags: flags(&t.flags),
            reason: non_empty(&t.reason),
            sop_instance_uids: t.sop_instance_uids.clone(),
            prior_reads: t.prior_reads.iter().map(PriorRead::from).collect(),
        }
    }
}

impl From<&pb::PriorRead> for PriorRead {
    fn from(r: &pb::PriorRead) -> PriorRead {
        PriorRead {
            kind: name::<vocab::TaskKind>(r.kind),
            reader: r.reader.clone(),
            decision: name::<vocab::ReadDecision>(r.decision),
            note: r.note.clone(),
        }
    }
}

/// `read submit --json`: what the submitted read led to.
#[derive(Debug, Serialize)]
pub struct Submitted {
    /// A retry of a read already recorded (same request id): nothing changed.
    pub duplicate: bool,
    /// awaiting-other-read | consensus | final
    pub next: String,
    /// recall | no-recall, when `next` is final.
    pub outcome: Option<String>,
    /// single | concordant | consensus, when `next` is final.
    pub outcome_via: Option<String>,
}

impl From<&pb::SubmitReadResponse> for Submitted {
    fn from(r: &pb::SubmitReadResponse) -> Submitted {
        Submitted {
            duplicate: r.duplicate,
            next: name::<vocab::AfterRead>(r.next),
            outcome: non_empty(&name::<vocab::ReadDecision>(r.outcome)),
            outcome_via: non_empty(&name::<vocab::OutcomeVia>(r.outcome_via)),
        }
    }
}

/// `study --json`: what the server knows of one study.
#[derive(Debug, Serialize)]
pub struct Study {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// receiving | complete (queued for scoring) | routed | needs-attention
    pub state: String,
    /// Completed (four standard views, the quiet period, or a CompleteStudy call).
    pub complete: bool,
    /// four-views | quiet-period | complete-study-call | late-instance; empty while receiving.
    pub completion: String,
    /// The stored instances.
    pub views: Vec<ReceivedView>,
    /// The current scoring, once scored.
    pub scoring: Option<Scoring>,
    /// Earlier scorings replaced by a later one (e.g. after a late instance).
    pub superseded_scorings: Vec<Scoring>,
    /// The policy's decision, once routed.
    pub routing: Option<Routing>,
    /// The reading tasks and outcome, once on the worklist.
    pub reading: Option<Reading>,
    /// Patient identifiers (absent for callers who may not see them).
    pub patient: Option<Patient>,
    /// Failed scoring or routing attempts, when there were any.
    pub attention: Option<Attention>,
    /// Result reports (CAD SRs) made for its routings, oldest first.
    pub reports: Vec<Report>,
}

/// A result report of a [`Study`] and where it is on its way to the PACS.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The SR's SOPInstanceUID.
    pub sop_instance_uid: String,
    /// pending | sent | failed | kept
    pub state: String,
    /// `AE@host:port`; empty when kept only.
    pub destination: String,
    /// Send attempts so far.
    pub attempts: u32,
    /// The last attempt's outcome: the destination's status (`0x0000`) or why none came.
    pub last_status: String,
    /// When it was made, Unix ms.
    pub created_unix_ms: i64,
    /// The last attempt, Unix ms (0: never attempted).
    pub last_attempt_unix_ms: i64,
}

impl From<&pb::ResultReport> for Report {
    fn from(r: &pb::ResultReport) -> Report {
        Report {
            sop_instance_uid: r.sop_instance_uid.clone(),
            state: name::<vocab::ReportState>(r.state),
            destination: r.destination.clone(),
            attempts: r.attempts,
            last_status: r.last_status.clone(),
            created_unix_ms: r.created_unix_ms,
            last_attempt_unix_ms: r.last_attempt_unix_ms,
        }
    }
}

/// A stored instance of a [`Study`].
#[derive(Debug, Serialize)]
pub struct ReceivedView {
    /// SOPInstanceUID.
    pub sop_instance_uid: String,
    /// L | R
    pub laterality: String,
    /// CC | MLO | …
    pub view: String,
    /// As stored.
    pub transfer_syntax_uid: String,
    /// Stored bytes.
    pub size_bytes: u64,
    /// When it was stored, Unix ms.
    pub received_unix_ms: i64,
}

/// A scoring of a [`Study`].
#[derive(Debug, Serialize)]
pub struct Scoring {
    /// scored | incomplete | unscorable
    pub status: String,
    /// Why incomplete or unscorable.
    pub reason: Option<String>,
    /// Exam score 0–1; null when unscorable.
    pub exam_score: Option<f64>,
    /// Category 1–10; null when unscorable.
    pub category: Option<u32>,
    /// Above the extra-high threshold.
    pub extra_high: bool,
    /// The model that scored it.
    pub model: Option<Model>,
    /// Per view.
    pub views: Vec<ViewScore>,
    /// When, Unix ms.
    pub scored_unix_ms: i64,
}

/// The model identity of a [`Scoring`].
#[derive(Debug, Serialize)]
pub struct Model {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// sha256 of the model file: the identity that matters.
    pub sha256: String,
}

/// One view's score in a [`Scoring`].
#[derive(Debug, Serialize)]
pub struct ViewScore {
    /// SOPInstanceUID.
    pub sop_instance_uid: String,
    /// L | R
    pub laterality: String,
    /// CC | MLO | …
    pub view: String,
    /// 0–1; null when the view could not be scored.
    pub score: Option<f64>,
    /// Why it could not be scored.
    pub error: Option<String>,
}

/// The routing of a [`Study`].
#[derive(Debug, Serialize)]
pub struct Routing {
    /// single | double
    pub reading_mode: String,
    /// The policy's flags.
    pub flags: Vec<String>,
    /// The policy's reason, when it gave one.
    pub reason: Option<String>,
    /// The policy as `NAME vVERSION`.
    pub policy: String,
    /// When, Unix ms.
    pub decided_unix_ms: i64,
}

/// The reading state of a [`Study`].
#[derive(Debug, Serialize)]
pub struct Reading {
    /// Its tasks.
    pub tasks: Vec<TaskState>,
    /// The outcome, once final.
    pub outcome: Option<String>,
    /// How the outcome was reached, once final.
    pub outcome_via: Option<String>,
}

/// A reading task of a [`Reading`].
#[derive(Debug, Serialize)]
pub struct TaskState {
    /// The task id.
    pub task_id: i64,
    /// first | second | consensus
    pub kind: String,
    /// queued | claimed | done | cancelled
    pub state: String,
    /// Who read it, once done.
    pub reader: Option<String>,
    /// recall | no-recall, once done.
    pub decision: Option<String>,
    /// When it was read, Unix ms.
    pub read_unix_ms: Option<i64>,
    /// The reader's note (shown to the admin only).
    pub note: Option<String>,
}

/// Patient identifiers of a [`Study`].
#[derive(Debug, Serialize)]
pub struct Patient {
    /// PatientID.
    pub patient_id: String,
    /// PatientName.
    pub patient_name: String,
}

impl From<&pb::Study> for Study {
    fn from(s: &pb::Study) -> Study {
        Study {
            study_uid: s.study_instance_uid.clone(),
            state: name::<vocab::StudyState>(s.state),
            complete: s.complete,
            completion: name::<vocab::Completion>(s.completion),
            views: s.views.iter().map(ReceivedView::from).collect(),
            scoring: s.scoring.as_ref().map(Scoring::from),
            superseded_scorings: s.superseded_scorings.iter().map(Scoring::from).collect(),
            routing: s.routing.as_ref().map(Routing::from),
            reading: s.reading.as_ref().map(Reading::from),
            patient: s.patient.as_ref().map(Patient::from),
            attention: s.attention.as_ref().map(Attention::from),
            reports: s.reports.iter().map(Report::from).collect(),
        }
    }
}

impl From<&pb::ReceivedView> for ReceivedView {
    fn from(v: &pb::ReceivedView) -> ReceivedView {
        ReceivedView {
            sop_instance_uid: v.sop_instance_uid.clone(),
            laterality: name::<vocab::Laterality>(v.laterality),
            view: name::<vocab::View>(v.view),
            transfer_syntax_uid: v.transfer_syntax_uid.clone(),
            size_bytes: v.size_bytes,
            received_unix_ms: v.received_unix_ms,
        }
    }
}

impl From<&pb::ScoringResult> for Scoring {
    fn from(s: &pb::ScoringResult) -> Scoring {
        Scoring {
            status: name::<vocab::ExamStatus>(s.status),
            reason: non_empty(&s.reason),
            exam_score: s.exam_score,
            category: s.category,
            extra_high: s.extra_high,
            model: s.model.as_ref().map(Model::from),
            views: s.views.iter().map(ViewScore::from).collect(),
            scored_unix_ms: s.scored_unix_ms,
        }
    }
}

impl From<&pb::ModelIdentity> for Model {
    fn from(m: &pb::ModelIdentity) -> Model {
        Model { name: m.name.clone(), version: m.version.clone(), sha256: m.sha256.clone() }
    }
}

impl From<&pb::ViewScore> for ViewScore {
    fn from(v: &pb::ViewScore) -> ViewScore {
        ViewScore {
            sop_instance_uid: v.sop_instance_uid.clone(),
            laterality: name::<vocab::Laterality>(v.laterality),
            view: name::<vocab::View>(v.view),
            score: v.score,
            error: non_empty(&v.error),
        }
    }
}

impl From<&pb::Routing> for Routing {
    fn from(r: &pb::Routing) -> Routing {
        Routing {
            reading_mode: name::<vocab::ReadingMode>(r.reading_mode),
            flags: flags(&r.flags),
            reason: non_empty(&r.reason),
            policy: format!("{} v{}", r.policy_name, r.policy_version),
            decided_unix_ms: r.decided_unix_ms,
        }
    }
}

impl From<&pb::ReadingState> for Reading {
    fn from(r: &pb::ReadingState) -> Reading {
        Reading {
            tasks: r.tasks.iter().map(TaskState::from).collect(),
            outcome: non_empty(&name::<vocab::ReadDecision>(r.outcome)),
            outcome_via: non_empty(&name::<vocab::OutcomeVia>(r.outcome_via)),
        }
    }
}

impl From<&pb::StudyTask> for TaskState {
    fn from(t: &pb::StudyTask) -> TaskState {
        TaskState {
            task_id: t.task_id,
            kind: name::<vocab::TaskKind>(t.kind),
            state: name::<vocab::TaskState>(t.state),
            reader: non_empty(&t.reader),
            decision: (t.decision != 0).then(|| name::<vocab::ReadDecision>(t.decision)),
            read_unix_ms: (t.read_unix_ms != 0).then_some(t.read_unix_ms),
            note: non_empty(&t.note),
        }
    }
}

impl From<&pb::PatientIdentity> for Patient {
    fn from(p: &pb::PatientIdentity) -> Patient {
        Patient { patient_id: p.patient_id.clone(), patient_name: p.patient_name.clone() }
    }
}

/// A study whose scoring or routing failed: one element of `attention --json`, and the
/// `attention` of [`Study`].
#[derive(Debug, Serialize)]
pub struct Attention {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub reason: String,
    /// First failure, Unix ms.
    pub since_unix_ms: i64,
    /// Last failure, Unix ms.
    pub last_unix_ms: i64,
    /// No more automatic retries (until `granska retry` or a new instance).
    pub parked: bool,
}

impl From<&pb::Attention> for Attention {
    fn from(a: &pb::Attention) -> Attention {
        Attention {
            study_uid: a.study_instance_uid.clone(),
            attempts: a.attempts,
            reason: a.reason.clone(),
            since_unix_ms: a.since_unix_ms,
            last_unix_ms: a.last_unix_ms,
            parked: a.parked,
        }
    }
}

/// `check --json`: the state of a data directory.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Instances whose blob matched its sha256 and index row.
    pub instances_ok: u64,
    /// Result reports (CAD SRs) whose blob matched its sha256.
    pub reports_ok: u64,
    /// Every problem found; empty when the data directory is sound.
    pub problems: Vec<String>,
    /// Blob files no index row names (harmless leftovers of interrupted uploads).
    pub orphan_blobs: Vec<String>,
}

impl From<&granska_app::maintenance::CheckReport> for Check {
    fn from(r: &granska_app::maintenance::CheckReport) -> Check {
        Check {
            instances_ok: r.instances_ok,
            reports_ok: r.reports_ok,
            problems: r.problems.clone(),
            orphan_blobs: r.orphan_blobs.clone(),
        }
    }
}

/// One record of `audit --json` (the output is an array of these, in commit order).
#[derive(Debug, Serialize)]
pub struct AuditRow {
    /// Sequence number (commit order).
    pub seq: i64,
    /// When, Unix ms.
    pub at_unix_ms: i64,
    /// When, RFC 3339 UTC with milliseconds (null only outside about the years -9999 to 9999).
    pub at_rfc3339: Option<String>,
    /// The authenticated principal.
    pub principal: String,
    /// Its role.
    pub role: String,
    /// The RPC or action, e.g. `Worklist.ClaimNext`.
    pub action: String,
    /// The study concerned, if any.
    pub study_uid: Option<String>,
    /// `ok`, or the error code and message.
    pub outcome: String,
}

impl From<&AuditRecord> for AuditRow {
    fn from(r: &AuditRecord) -> AuditRow {
        AuditRow {
            seq: r.seq,
            at_unix_ms: r.at_ms,
            at_rfc3339: rfc3339(r.at_ms),
            principal: r.principal.clone(),
            role: r.role.clone(),
            action: r.action.clone(),
            study_uid: r.study_uid.clone(),
            outcome: r.outcome.clone(),
        }
    }
}

/// One line of the human-readable `audit` output: sequence, RFC 3339 time, principal, role,
/// action, study (`-` for none) and outcome, in aligned columns.
pub fn audit_line(r: &AuditRecord) -> String {
    format!(
        "{:>6} {:<24} {:<14} {:<12} {:<22} {:<40} {}",
        r.seq,
        human_time(r.at_ms),
        r.principal,
        r.role,
        r.action,
        r.study_uid.as_deref().unwrap_or("-"),
        r.outcome
    )
}

/// `load run --json-out`: the load run's report.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    /// Wall time of the run.
    pub seconds: f64,
    /// Concurrent uploaders.
    pub uploaders: usize,
    /// Concurrent readers.
    pub readers: usize,
    /// Percent of instances corrupted on purpose.
    pub corrupt_percent: u32,
    /// Client-side latency per operation (upload, claim_next, submit_read).
    pub ops: BTreeMap<String, OpLatency>,
    /// Event counts (stored, duplicate, rejected, reads, claim_empty).
    pub counts: BTreeMap<String, u64>,
    /// Failed calls by `op: gRPC code`.
    pub errors: BTreeMap<String, u64>,
    /// The server's resident set size, MB (null without `--server-pid`).
    pub rss_mb: RssSamples,
}

/// Latency of one operation in a [`LoadReport`]; NaN (printed as null) when it never ran.
#[derive(Debug, Serialize)]
pub struct OpLatency {
    /// Successful calls.
    pub calls: usize,
    /// Calls per second over the run.
    pub per_s: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// The server's RSS at three points of a load run, MB.
#[derive(Debug, Serialize)]
pub struct RssSamples {
    /// At the start.
    pub start: Option<f64>,
    /// Halfway.
    pub middle: Option<f64>,
    /// At the end.
    pub end: Option<f64>,
}

/// A line of the load journal's `acked.jsonl`: an instance the server acknowledged, which
/// `load verify` expects to find stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct AckedLine {
    /// SOPInstanceUID.
    pub sop: String,
    /// StudyInstanceUID.
    pub study: String,
    /// sha256 of the stored bytes.
    pub sha256: String,
}

impl From<&pb::InstanceResult> for AckedLine {
    fn from(r: &pb::InstanceResult) -> AckedLine {
        AckedLine { sop: r.sop_instance_uid.clone(), study: r.study_instance_uid.clone(), sha256: r.sha256.clone() }
    }
}

/// A line of the load journal's `submits.jsonl`: a read the server accepted, which
/// `load verify` expects to find recorded as done.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubmitLine {
    /// The task read.
    pub task_id: i64,
    /// Its StudyInstanceUID.
    pub study: String,
    /// The idempotency key used.
    pub request_id: String,
}

/// Snapshots of every output shape on small fixed instances: a change of a field name, of
/// nesting, of key order or of a value's rendering shows here first.
#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(value: &impl Serialize, expect: Expect) {
        expect.assert_eq(&to_json(value).unwrap());
    }

    const STUDY: &str = "1.2.826.0.1.3680043.10.1";

    fn claimed() -> pb::ClaimedTask {
        pb::ClaimedTask {
            task_id: 7,
            study_instance_uid: STUDY.into(),
            kind: pb::TaskKind::Consensus as i32,
            lease_expires_unix_ms: 1_795_317_221_123,
            resumed: false,
            status: pb::ExamStatus::Scored as i32,
            category: Some(9),
            reading_mode: pb::ReadingMode::Double as i32,
            flags: vec![pb::Flag::ExtraHigh as i32],
            reason: String::new(),
            sop_instance_uids: vec![format!("{STUDY}.1"), format!("{STUDY}.2")],
            prior_reads: vec![
                pb::PriorRead {
                    kind: pb::TaskKind::First as i32,
                    reader: "alice".into(),
                    decision: pb::ReadDecision::Recall as i32,
                    note: "spiculated mass, left upper outer".into(),
                },
                pb::PriorRead {
                    kind: pb::TaskKind::Second as i32,
                    reader: "bob".into(),
                    decision: pb::ReadDecision::NoRecall as i32,
                    note: String::new(),
                },
            ],
        }
    }

    #[test]
    fn push_line_keeps_field_order() {
        let stored = pb::InstanceResult {
            instance_ref: "exams/a/L-CC.dcm".into(),
            outcome: pb::instance_result::Outcome::Stored as i32,
            sop_instance_uid: format!("{STUDY}.1"),
            study_instance_uid: STUDY.into(),
            size_bytes: 437_012,
            rejection: None,
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        };
        let rejected = pb::InstanceResult {
            instance_ref: "exams/a/broken.dcm".into(),
            outcome: pb::instance_result::Outcome::Rejected as i32,
            size_bytes: 12,
            rejection: Some(pb::Rejection {
                code: "INVALID_ARGUMENT".into(),
                message: "not a DICOM file: no DICM prefix".into(),
                field_violations: vec![pb::FieldViolation {
                    field: "preamble".into(),
                    description: "expected DICM at byte 128".into(),
                }],
            }),
            ..Default::default()
        };
        let lines: Vec<String> =
            [stored, rejected].iter().map(|r| serde_json::to_string(&PushLine::from(r)).unwrap()).collect();
        expect![[r#"
            {"file":"exams/a/L-CC.dcm","outcome":"stored","sop_instance_uid":"1.2.826.0.1.3680043.10.1.1","study_uid":"1.2.826.0.1.3680043.10.1","size_bytes":437012,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","rejection":null}
            {"file":"exams/a/broken.dcm","outcome":"rejected","sop_instance_uid":"","study_uid":"","size_bytes":12,"sha256":"","rejection":{"code":"INVALID_ARGUMENT","message":"not a DICOM file: no DICM prefix","field_violations":[{"field":"preamble","description":"expected DICM at byte 128"}]}}"#]].assert_eq(&lines.join("\n"));
    }

    #[test]
    fn worklist_entries() {
        let entries = [
            pb::WorklistEntry {
                study_instance_uid: STUDY.into(),
                status: pb::ExamStatus::Scored as i32,
                category: Some(10),
                reading_mode: pb::ReadingMode::Double as i32,
                flags: vec![pb::Flag::ExtraHigh as i32],
                reason: "category 10".into(),
                overdue: true,
                waiting_since_unix_ms: 1_795_000_000_000,
                tasks: vec![pb::WorklistTask {
                    task_id: 3,
                    kind: pb::TaskKind::First as i32,
                    state: pb::TaskState::Claimed as i32,
                    held_by_you: true,
                    available_to_you: false,
                }],
            },
            pb::WorklistEntry {
                study_instance_uid: format!("{STUDY}9"),
                status: pb::ExamStatus::Unscorable as i32,
                category: None,
                reading_mode: pb::ReadingMode::Double as i32,
                ..Default::default()
            },
        ];
        let rows: Vec<WorklistEntry> = entries.iter().map(Into::into).collect();
        check(
            &rows,
            expect![[r#"
            [
              {
                "category": 10,
                "flags": [
                  "extra-high"
                ],
                "overdue": true,
                "reading_mode": "double",
                "reason": "category 10",
                "status": "scored",
                "study_uid": "1.2.826.0.1.3680043.10.1",
                "tasks": [
                  {
                    "available_to_you": false,
                    "held_by_you": true,
                    "kind": "first",
                    "state": "claimed",
                    "task_id": 3
                  }
                ],
                "waiting_since_unix_ms": 1795000000000
              },
              {
                "category": null,
                "flags": [],
                "overdue": false,
                "reading_mode": "double",
                "reason": null,
                "status": "unscorable",
                "study_uid": "1.2.826.0.1.3680043.10.19",
                "tasks": [],
                "waiting_since_unix_ms": 0
              }
            ]"#]],
        );
    }

    #[test]
    fn claimed_task() {
        check(
            &ClaimedTask::from(&claimed()),
            expect![[r#"
            {
              "category": 9,
              "flags": [
                "extra-high"
              ],
              "kind": "consensus",
              "lease_expires_unix_ms": 1795317221123,
              "prior_reads": [
                {
                  "decision": "recall",
                  "kind": "first",
                  "note": "spiculated mass, left upper outer",
                  "reader": "alice"
                },
                {
                  "decision": "no-recall",
                  "kind": "second",
                  "note": "",
                  "reader": "bob"
                }
              ],
              "reading_mode": "double",
              "reason": null,
              "resumed": false,
              "sop_instance_uids": [
                "1.2.826.0.1.3680043.10.1.1",
                "1.2.826.0.1.3680043.10.1.2"
              ],
              "status": "scored",
              "study_uid": "1.2.826.0.1.3680043.10.1",
              "task_id": 7
            }"#]],
        );
    }

    #[test]
    fn submitted() {
        let waiting = pb::SubmitReadResponse {
            duplicate: false,
            next: pb::AfterRead::AwaitingOtherRead as i32,
            ..Default::default()
        };
        let last = pb::SubmitReadResponse {
            duplicate: true,
            next: pb::AfterRead::Final as i32,
            outcome: pb::ReadDecision::Recall as i32,
            outcome_via: pb::OutcomeVia::Consensus as i32,
        };
        check(
            &[Submitted::from(&waiting), Submitted::from(&last)],
            expect![[r#"
            [
              {
                "duplicate": false,
                "next": "awaiting-other-read",
                "outcome": null,
                "outcome_via": null
              },
              {
                "duplicate": true,
                "next": "final",
                "outcome": "recall",
                "outcome_via": "consensus"
              }
            ]"#]],
        );
    }

    #[test]
    fn study() {
        let scoring = |score: f64, category: u32, at: i64| pb::ScoringResult {
            status: pb::ExamStatus::Incomplete as i32,
            reason: "missing view R-MLO".into(),
            exam_score: Some(score),
            category: Some(category),
            extra_high: false,
            model: Some(pb::ModelIdentity {
                name: "granska-phantom".into(),
                version: "1".into(),
                sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            }),
            views: vec![
                pb::ViewScore {
                    sop_instance_uid: format!("{STUDY}.1"),
                    laterality: pb::Laterality::L as i32,
                    view: pb::View::Cc as i32,
                    score: Some(0.25),
                    error: String::new(),
                },
                pb::ViewScore {
                    sop_instance_uid: format!("{STUDY}.2"),
                    laterality: pb::Laterality::R as i32,
                    view: pb::View::Cc as i32,
                    score: None,
                    error: "cannot decode: truncated pixel data".into(),
                },
            ],
            scored_unix_ms: at,
        };
        let study = pb::Study {
            study_instance_uid: STUDY.into(),
            state: pb::StudyState::Routed as i32,
            views: vec![pb::ReceivedView {
                sop_instance_uid: format!("{STUDY}.1"),
                laterality: pb::Laterality::L as i32,
                view: pb::View::Cc as i32,
                transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
                size_bytes: 437_012,
                received_unix_ms: 1_795_317_200_000,
            }],
            complete: true,
            completion: pb::Completion::QuietPeriod as i32,
            scoring: Some(scoring(0.5, 8, 1_795_317_260_000)),
            routing: Some(pb::Routing {
                reading_mode: pb::ReadingMode::Double as i32,
                flags: vec![],
                reason: String::new(),
                policy_name: "default".into(),
                policy_version: "3".into(),
                decided_unix_ms: 1_795_317_260_001,
            }),
            reading: Some(pb::ReadingState {
                tasks: vec![pb::StudyTask {
                    task_id: 5,
                    kind: pb::TaskKind::First as i32,
                    state: pb::TaskState::Done as i32,
                    reader: "alice".into(),
                    decision: pb::ReadDecision::NoRecall as i32,
                    read_unix_ms: 1_795_317_270_000,
                    note: "dense, no finding".into(),
                }],
                outcome: 0,
                outcome_via: 0,
            }),
            patient: Some(pb::PatientIdentity {
                patient_id: "PHANTOM-0001".into(),
                patient_name: "Phantom^One".into(),
            }),
            superseded_scorings: vec![scoring(0.125, 4, 1_795_317_230_000)],
            attention: None,
            reports: vec![pb::ResultReport {
                sop_instance_uid: "2.25.77".into(),
                state: pb::ReportState::Pending as i32,
                destination: "PACS@10.0.0.5:104".into(),
                attempts: 2,
                last_status: "0xA700".into(),
                created_unix_ms: 1_795_317_240_000,
                last_attempt_unix_ms: 1_795_317_250_000,
                generation: 4,
            }],
        };
        check(
            &Study::from(&study),
            expect![[r#"
                {
                  "attention": null,
                  "complete": true,
                  "completion": "quiet-period",
                  "patient": {
                    "patient_id": "PHANTOM-0001",
                    "patient_name": "Phantom^One"
                  },
                  "reading": {
                    "outcome": null,
                    "outcome_via": null,
                    "tasks": [
                      {
                        "decision": "no-recall",
                        "kind": "first",
                        "note": "dense, no finding",
                        "read_unix_ms": 1795317270000,
                        "reader": "alice",
                        "state": "done",
                        "task_id": 5
                      }
                    ]
                  },
                  "reports": [
                    {
                      "attempts": 2,
                      "created_unix_ms": 1795317240000,
                      "destination": "PACS@10.0.0.5:104",
                      "last_attempt_unix_ms": 1795317250000,
                      "last_status": "0xA700",
                      "sop_instance_uid": "2.25.77",
                      "state": "pending"
                    }
                  ],
                  "routing": {
                    "decided_unix_ms": 1795317260001,
                    "flags": [],
                    "policy": "default v3",
                    "reading_mode": "double",
                    "reason": null
                  },
                  "scoring": {
                    "category": 8,
                    "exam_score": 0.5,
                    "extra_high": false,
                    "model": {
                      "name": "granska-phantom",
                      "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      "version": "1"
                    },
                    "reason": "missing view R-MLO",
                    "scored_unix_ms": 1795317260000,
                    "status": "incomplete",
                    "views": [
                      {
                        "error": null,
                        "laterality": "L",
                        "score": 0.25,
                        "sop_instance_uid": "1.2.826.0.1.3680043.10.1.1",
                        "view": "CC"
                      },
                      {
                        "error": "cannot decode: truncated pixel data",
                        "laterality": "R",
                        "score": null,
                        "sop_instance_uid": "1.2.826.0.1.3680043.10.1.2",
                        "view": "CC"
                      }
                    ]
                  },
                  "state": "routed",
                  "study_uid": "1.2.826.0.1.3680043.10.1",
                  "superseded_scorings": [
                    {
                      "category": 4,
                      "exam_score": 0.125,
                      "extra_high": false,
                      "model": {
                        "name": "granska-phantom",
                        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                        "version": "1"
                      },
                      "reason": "missing view R-MLO",
                      "scored_unix_ms": 1795317230000,
                      "status": "incomplete",
                      "views": [
                        {
                          "error": null,
                          "laterality": "L",
                          "score": 0.25,
                          "sop_instance_uid": "1.2.826.0.1.3680043.10.1.1",
                          "view": "CC"
                        },
                        {
                          "error": "cannot decode: truncated pixel data",
                          "laterality": "R",
                          "score": null,
                          "sop_instance_uid": "1.2.826.0.1.3680043.10.1.2",
                          "view": "CC"
                        }
                      ]
                    }
                  ],
                  "views": [
                    {
                      "laterality": "L",
                      "received_unix_ms": 1795317200000,
                      "size_bytes": 437012,
                      "sop_instance_uid": "1.2.826.0.1.3680043.10.1.1",
                      "transfer_syntax_uid": "1.2.840.10008.1.2.1",
                      "view": "CC"
                    }
                  ]
                }"#]],
        );
        // A researcher's view of a study still receiving: everything optional is null.
        let bare = pb::Study {
            study_instance_uid: STUDY.into(),
            state: pb::StudyState::Receiving as i32,
            ..Default::default()
        };
        check(
            &Study::from(&bare),
            expect![[r#"
                {
                  "attention": null,
                  "complete": false,
                  "completion": "",
                  "patient": null,
                  "reading": null,
                  "reports": [],
                  "routing": null,
                  "scoring": null,
                  "state": "receiving",
                  "study_uid": "1.2.826.0.1.3680043.10.1",
                  "superseded_scorings": [],
                  "views": []
                }"#]],
        );
    }

    #[test]
    fn attention() {
        let a = pb::Attention {
            study_instance_uid: STUDY.into(),
            attempts: 5,
            reason: "model error: input shape".into(),
            since_unix_ms: 1_795_317_000_000,
            last_unix_ms: 1_795_317_221_123,
            parked: true,
        };
        check(
            &[Attention::from(&a)],
            expect![[r#"
            [
              {
                "attempts": 5,
                "last_unix_ms": 1795317221123,
                "parked": true,
                "reason": "model error: input shape",
                "since_unix_ms": 1795317000000,
                "study_uid": "1.2.826.0.1.3680043.10.1"
              }
            ]"#]],
        );
    }

    #[test]
    fn check_report() {
        let report = granska_app::maintenance::CheckReport {
            instances_ok: 41,
            reports_ok: 9,
            problems: vec!["blob ab/cd…: sha256 mismatch".into()],
            orphan_blobs: vec!["blobs/ff/00ff.tmp".into()],
        };
        check(
            &Check::from(&report),
            expect![[r#"
                {
                  "instances_ok": 41,
                  "orphan_blobs": [
                    "blobs/ff/00ff.tmp"
                  ],
                  "problems": [
                    "blob ab/cd…: sha256 mismatch"
                  ],
                  "reports_ok": 9
                }"#]],
        );
    }

    fn audit_record(at_ms: i64, study_uid: Option<&str>) -> AuditRecord {
        AuditRecord {
            seq: 42,
            at_ms,
            principal: "alice".into(),
            role: "radiologist".into(),
            action: "Worklist.SubmitRead".into(),
            study_uid: study_uid.map(str::to_owned),
            outcome: "ok".into(),
        }
    }

    #[test]
    fn audit_json() {
        let rows =
            [AuditRow::from(&audit_record(1_795_317_221_123, Some(STUDY))), AuditRow::from(&audit_record(0, None))];
        check(
            &rows,
            expect![[r#"
            [
              {
                "action": "Worklist.SubmitRead",
                "at_rfc3339": "2026-11-22T03:13:41.123Z",
                "at_unix_ms": 1795317221123,
                "outcome": "ok",
                "principal": "alice",
                "role": "radiologist",
                "seq": 42,
                "study_uid": "1.2.826.0.1.3680043.10.1"
              },
              {
                "action": "Worklist.SubmitRead",
                "at_rfc3339": "1970-01-01T00:00:00.000Z",
                "at_unix_ms": 0,
                "outcome": "ok",
                "principal": "alice",
                "role": "radiologist",
                "seq": 42,
                "study_uid": null
              }
            ]"#]],
        );
    }

    #[test]
    fn audit_human_lines() {
        let lines = [
            audit_line(&audit_record(1_795_317_221_123, Some(STUDY))),
            audit_line(&audit_record(1_795_317_221_000, None)),
            // Outside the calendar range the raw number is shown rather than a wrong date.
            audit_line(&audit_record(i64::MAX, None)),
        ];
        // `|` marks where each line starts: the sequence number is right-aligned.
        let shown: Vec<String> = lines.iter().map(|l| format!("|{l}")).collect();
        expect![[r#"
            |    42 2026-11-22T03:13:41.123Z alice          radiologist  Worklist.SubmitRead    1.2.826.0.1.3680043.10.1                 ok
            |    42 2026-11-22T03:13:41.000Z alice          radiologist  Worklist.SubmitRead    -                                        ok
            |    42 9223372036854775807 (Unix ms) alice          radiologist  Worklist.SubmitRead    -                                        ok"#]]
        .assert_eq(&shown.join("\n"));
    }

    #[test]
    fn rfc3339_is_utc_with_milliseconds() {
        expect![[r#"
            [
                Some(
                    "1970-01-01T00:00:00.000Z",
                ),
                Some(
                    "1969-12-31T23:59:59.999Z",
                ),
                Some(
                    "2026-11-22T03:13:41.123Z",
                ),
                None,
                None,
            ]
        "#]]
        .assert_debug_eq(&[0, -1, 1_795_317_221_123, i64::MAX, i64::MIN].map(rfc3339));
    }

    #[test]
    fn load_report_and_journal() {
        let report = LoadReport {
            seconds: 60.5,
            uploaders: 4,
            readers: 2,
            corrupt_percent: 5,
            ops: BTreeMap::from([
                (
                    "upload".to_owned(),
                    OpLatency { calls: 121, per_s: 2.0, p50_ms: 150.25, p99_ms: 900.0, max_ms: 1200.5 },
                ),
                (
                    "claim_next".to_owned(),
                    OpLatency { calls: 0, per_s: 0.0, p50_ms: f64::NAN, p99_ms: f64::NAN, max_ms: f64::NAN },
                ),
            ]),
            counts: BTreeMap::from([("stored".to_owned(), 480), ("rejected".to_owned(), 4)]),
            errors: BTreeMap::from([("upload: Unavailable".to_owned(), 3)]),
            rss_mb: RssSamples { start: Some(80.5), middle: None, end: Some(96.0) },
        };
        check(
            &report,
            expect![[r#"
            {
              "corrupt_percent": 5,
              "counts": {
                "rejected": 4,
                "stored": 480
              },
              "errors": {
                "upload: Unavailable": 3
              },
              "ops": {
                "claim_next": {
                  "calls": 0,
                  "max_ms": null,
                  "p50_ms": null,
                  "p99_ms": null,
                  "per_s": 0.0
                },
                "upload": {
                  "calls": 121,
                  "max_ms": 1200.5,
                  "p50_ms": 150.25,
                  "p99_ms": 900.0,
                  "per_s": 2.0
                }
              },
              "readers": 2,
              "rss_mb": {
                "end": 96.0,
                "middle": null,
                "start": 80.5
              },
              "seconds": 60.5,
              "uploaders": 4
            }"#]],
        );
        let acked = AckedLine::from(&pb::InstanceResult {
            sop_instance_uid: format!("{STUDY}.1"),
            study_instance_uid: STUDY.into(),
            sha256: "9f86d081".into(),
            ..Default::default()
        });
        let submit = SubmitLine { task_id: 7, study: STUDY.into(), request_id: "load-0-1-99".into() };
        let lines = [to_json_line(&acked).unwrap(), to_json_line(&submit).unwrap()];
        expect![[r#"
            {"sha256":"9f86d081","sop":"1.2.826.0.1.3680043.10.1.1","study":"1.2.826.0.1.3680043.10.1"}
            {"request_id":"load-0-1-99","study":"1.2.826.0.1.3680043.10.1","task_id":7}"#]]
        .assert_eq(&lines.join("\n"));
        // `load verify` reads back what `load run` wrote.
        let back: SubmitLine = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!((back.task_id, back.study.as_str()), (7, STUDY));
    }
}
