//! Domain → protobuf: the core's typed answers as `granska.v1` messages; enumerations become
//! the protobuf enums through `granska_proto::wire` (the one domain ↔ protobuf table).

use granska_app::{Change, ClaimedExam, ModelsView, StudyView, WorklistView};
use granska_archive::{Attention, StudyState};
use granska_proto::v1 as pb;
use granska_proto::wire;
use granska_types::ScoringRecord;
use granska_worklist::model::{NextStep, Routing, SubmitOutcome};

/// A worklist page.
pub fn worklist(view: WorklistView) -> pb::ListResponse {
    pb::ListResponse {
        entries: view
            .exams
            .into_iter()
            .map(|e| pb::WorklistEntry {
                study_instance_uid: e.entry.study_uid,
                status: wire(e.entry.status),
                category: e.entry.category.map(u32::from),
                reading_mode: wire(e.entry.mode),
                flags: e.entry.flags.iter().map(|f| wire(*f)).collect(),
                reason: e.entry.reason.unwrap_or_default(),
                overdue: e.entry.overdue,
                waiting_since_unix_ms: e.entry.waiting_since_ms,
                tasks: e
                    .tasks
                    .into_iter()
                    .map(|t| pb::WorklistTask {
                        task_id: t.task_id,
                        kind: wire(t.kind),
                        state: wire(t.state),
                        held_by_you: t.held_by_you,
                        available_to_you: t.available_to_you,
                    })
                    .collect(),
            })
            .collect(),
        next_page_token: view.next_offset.map(|o| o.to_string()).unwrap_or_default(),
    }
}

/// A worklist change.
pub fn change(c: Change) -> pb::WorklistChange {
    pb::WorklistChange {
        study_instance_uid: c.study_uid,
        change: wire(c.change),
        task_id: c.task.map_or(0, |(id, _)| id),
        task_kind: c.task.map_or(0, |(_, k)| wire(k)),
        at_unix_ms: c.at_ms,
    }
}

/// A claimed task.
pub fn claimed(c: ClaimedExam) -> pb::ClaimedTask {
    let routing = c.routing.as_ref();
    let task = c.claim.task;
    pb::ClaimedTask {
        task_id: task.id,
        study_instance_uid: task.study_uid,
        kind: wire(task.kind),
        lease_expires_unix_ms: task.lease_until_ms.unwrap_or_default(),
        resumed: c.claim.resumed,
        status: routing.map_or(0, |r| wire(r.status)),
        category: routing.and_then(|r| r.category).map(u32::from),
        reading_mode: routing.map_or(0, |r| wire(r.mode)),
        flags: routing.map(|r| r.flags.iter().map(|f| wire(*f)).collect()).unwrap_or_default(),
        reason: routing.and_then(|r| r.reason.clone()).unwrap_or_default(),
        sop_instance_uids: c.instances.into_iter().map(|i| i.sop_instance_uid).collect(),
        prior_reads: c
            .claim
            .prior_reads
            .into_iter()
            .map(|r| pb::PriorRead {
                kind: wire(r.kind),
                reader: r.reader,
                decision: wire(r.decision),
                note: r.note.unwrap_or_default(),
            })
            .collect(),
    }
}

/// What a submit led to.
pub fn submitted(out: SubmitOutcome) -> pb::SubmitReadResponse {
    let (outcome, outcome_via) = match out.next {
        NextStep::Final(decision, via) => (wire(decision), wire(via)),
        NextStep::AwaitingOtherRead | NextStep::Consensus(_) => (0, 0),
    };
    pb::SubmitReadResponse { duplicate: out.duplicate, next: wire(out.next.kind()), outcome, outcome_via }
}

/// A needs-attention entry.
pub fn attention(a: &Attention) -> pb::Attention {
    pb::Attention {
        study_instance_uid: a.study_uid.clone(),
        attempts: a.attempts,
        reason: a.reason.clone(),
        since_unix_ms: a.since_ms,
        last_unix_ms: a.last_ms,
        parked: a.parked,
    }
}

fn scoring(s: ScoringRecord, at_ms: i64) -> pb::ScoringResult {
    pb::ScoringResult {
        status: wire(s.status),
        reason: s.reason.unwrap_or_default(),
        exam_score: s.exam_score,
        category: s.category.map(|c| u32::from(c.get())),
        extra_high: s.extra_high,
        model: s.model.map(|m| pb::ModelIdentity { name: m.name, version: m.version, sha256: m.sha256 }),
        views: s
            .views
            .into_iter()
            .map(|v| pb::ViewScore {
                sop_instance_uid: v.sop_instance_uid,
                laterality: wire(v.laterality),
                view: wire(v.view),
                score: v.score,
                error: v.error.unwrap_or_default(),
            })
            .collect(),
        scored_unix_ms: at_ms,
    }
}

fn routing(r: &Routing) -> pb::Routing {
    pb::Routing {
        reading_mode: wire(r.mode),
        flags: r.flags.iter().map(|f| wire(*f)).collect(),
        reason: r.reason.clone().unwrap_or_default(),
        policy_name: r.policy.name.clone(),
        policy_version: r.policy.version.clone(),
        decided_unix_ms: r.decided_at_ms,
    }
}

/// Everything about a study.
pub fn study(v: StudyView) -> pb::Study {
    let StudyView { record, scorings, history, patient, reports } = v;
    let mut scorings: Vec<pb::ScoringResult> = scorings.into_iter().map(|(s, at)| scoring(s, at)).collect();
    let latest = scorings.pop();
    let applied =
        history.as_ref().and_then(|h| h.routings.iter().rev().find(|r| r.applied && !r.superseded)).map(routing);
    let reading = history.as_ref().map(|h| pb::ReadingState {
        tasks: h
            .tasks
            .iter()
            .map(|t| {
                let read = h.reads.iter().find(|r| r.task_id == t.id);
                pb::StudyTask {
                    task_id: t.id,
                    kind: wire(t.kind),
                    state: wire(t.state),
                    reader: read.map(|r| r.reader.clone()).unwrap_or_default(),
                    decision: read.map_or(0, |r| wire(r.decision)),
                    read_unix_ms: read.map_or(0, |r| r.submitted_at_ms),
                    note: read.and_then(|r| r.note.clone()).unwrap_or_default(),
                }
            })
            .collect(),
        outcome: h.outcome.map_or(0, |o| wire(o.decision)),
        outcome_via: h.outcome.map_or(0, |o| wire(o.via)),
    });
    pb::Study {
        study_instance_uid: record.study_uid.clone(),
        state: wire(record.state),
        views: record
            .instances
            .iter()
            .map(|i| pb::ReceivedView {
                sop_instance_uid: i.instance.sop_instance_uid.to_string(),
                laterality: wire(i.instance.laterality),
                view: wire(i.instance.view),
                transfer_syntax_uid: i.instance.transfer_syntax_uid.clone(),
                size_bytes: i.size_bytes,
                received_unix_ms: i.received_ms,
            })
            .collect(),
        complete: record.state != StudyState::Receiving,
        completion: record.completion.map_or(0, wire),
        scoring: latest,
        routing: applied,
        reading,
        patient: patient.map(|(id, name)| pb::PatientIdentity {
            patient_id: id.unwrap_or_default(),
            patient_name: name.unwrap_or_default(),
        }),
        superseded_scorings: scorings,
        attention: record.attention.as_ref().map(attention),
        reports: reports.iter().map(report).collect(),
    }
}

/// The loaded model and the active policy.
pub fn models(v: ModelsView) -> pb::GetModelsResponse {
    let path = |p: Option<std::path::PathBuf>| p.map(|p| p.display().to_string()).unwrap_or_default();
    let policy = &v.policy;
    let id = &v.card.identity;
    pb::GetModelsResponse {
        models: vec![pb::LoadedModel {
            name: id.name.clone(),
            version: id.version.clone(),
            sha256: id.sha256.clone(),
            dir: path(v.dir),
            intended_use: id.intended_use.clone(),
            training_data: id.training_data.clone(),
            input_shape: v.card.input.shape.to_vec(),
            device: v.device,
            onnxruntime_library: path(v.onnxruntime_library),
        }],
        policy: Some(pb::ActivePolicy {
            name: policy.name.clone(),
            version: policy.version.clone(),
            rule: wire(policy.rule.kind()),
            definition: v.policy_toml,
            max_wait_hours: policy.max_wait_hours,
        }),
    }
}

/// A result report's outbox row.
pub fn report(r: &granska_archive::ReportRecord) -> pb::ResultReport {
    pb::ResultReport {
        sop_instance_uid: r.sop_instance_uid.to_string(),
        state: wire(r.state),
        destination: r.destination.clone(),
        attempts: r.attempts,
        last_status: r.last_status.clone().unwrap_or_default(),
        created_unix_ms: r.created_ms,
        last_attempt_unix_ms: r.last_ms.unwrap_or(0),
        generation: r.generation,
    }
}
