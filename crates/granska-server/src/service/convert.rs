//! Domain → protobuf: the core's typed answers as `granska.v1` messages. Enumerations become
//! their stored names here (the one place of this edge that turns them into text).

use granska_app::{Change, ClaimedExam, ModelsView, StudyView, WorklistView};
use granska_archive::{Attention, StudyState};
use granska_proto::v1 as pb;
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
                status: e.entry.status.as_str().into(),
                category: e.entry.category.map(u32::from),
                reading_mode: e.entry.mode.as_str().into(),
                flags: e.entry.flags.iter().map(|f| f.as_str().into()).collect(),
                reason: e.entry.reason.unwrap_or_default(),
                overdue: e.entry.overdue,
                waiting_since_unix_ms: e.entry.waiting_since_ms,
                tasks: e
                    .tasks
                    .into_iter()
                    .map(|t| pb::WorklistTask {
                        task_id: t.task_id,
                        kind: t.kind.as_str().into(),
                        state: t.state.as_str().into(),
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
        change: c.change.to_string(),
        task_id: c.task.map_or(0, |(id, _)| id),
        task_kind: c.task.map(|(_, k)| k.as_str().to_owned()).unwrap_or_default(),
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
        kind: task.kind.as_str().into(),
        lease_expires_unix_ms: task.lease_until_ms.unwrap_or_default(),
        resumed: c.claim.resumed,
        status: routing.map(|r| r.status.as_str().into()).unwrap_or_default(),
        category: routing.and_then(|r| r.category).map(u32::from),
        reading_mode: routing.map(|r| r.mode.as_str().into()).unwrap_or_default(),
        flags: routing.map(|r| r.flags.iter().map(|f| f.as_str().into()).collect()).unwrap_or_default(),
        reason: routing.and_then(|r| r.reason.clone()).unwrap_or_default(),
        sop_instance_uids: c.sop_instance_uids,
        prior_reads: c
            .claim
            .prior_reads
            .into_iter()
            .map(|r| pb::PriorRead {
                kind: r.kind.as_str().into(),
                reader: r.reader,
                decision: r.decision.as_str().into(),
                note: r.note.unwrap_or_default(),
            })
            .collect(),
    }
}

/// What a submit led to.
pub fn submitted(out: SubmitOutcome) -> pb::SubmitReadResponse {
    let mut response = pb::SubmitReadResponse { duplicate: out.duplicate, ..Default::default() };
    match out.next {
        NextStep::AwaitingOtherRead => response.next = "awaiting-other-read".into(),
        NextStep::Consensus(_) => response.next = "consensus".into(),
        NextStep::Final(decision, via) => {
            response.next = "final".into();
            response.outcome = decision.as_str().into();
            response.outcome_via = via.as_str().into();
        }
    }
    response
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
        status: s.status.as_str().into(),
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
                laterality: v.laterality.as_str().into(),
                view: v.view.as_str().into(),
                score: v.score,
                error: v.error.unwrap_or_default(),
            })
            .collect(),
        scored_unix_ms: at_ms,
    }
}

fn routing(r: &Routing) -> pb::Routing {
    pb::Routing {
        reading_mode: r.mode.as_str().into(),
        flags: r.flags.iter().map(|f| f.as_str().into()).collect(),
        reason: r.reason.clone().unwrap_or_default(),
        policy_name: r.policy.name.clone(),
        policy_version: r.policy.version.clone(),
        decided_unix_ms: r.decided_at_ms,
    }
}

/// Everything about a study.
pub fn study(v: StudyView) -> pb::Study {
    let StudyView { record, scorings, history, patient } = v;
    let mut scorings: Vec<pb::ScoringResult> = scorings.into_iter().map(|(s, at)| scoring(s, at)).collect();
    let latest = scorings.pop();
    let applied =
        history.as_ref().and_then(|h| h.routings.iter().rev().find(|r| r.applied && !r.superseded)).map(routing);
    let reading = history.as_ref().map(|h| pb::ReadingState {
        tasks: h
            .tasks
            .iter()
            .map(|t| pb::TaskState { task_id: t.id, kind: t.kind.as_str().into(), state: t.state.as_str().into() })
            .collect(),
        outcome: h.outcome.map(|o| o.decision.as_str().into()).unwrap_or_default(),
        outcome_via: h.outcome.map(|o| o.via.as_str().into()).unwrap_or_default(),
    });
    pb::Study {
        study_instance_uid: record.study_uid.clone(),
        state: record.state.as_str().into(),
        views: record
            .instances
            .iter()
            .map(|i| pb::ReceivedView {
                sop_instance_uid: i.instance.sop_instance_uid.to_string(),
                laterality: i.instance.laterality.as_str().into(),
                view: i.instance.view.as_str().into(),
                transfer_syntax_uid: i.instance.transfer_syntax_uid.clone(),
                size_bytes: i.size_bytes,
                received_unix_ms: i.received_ms,
            })
            .collect(),
        complete: record.state != StudyState::Receiving,
        completion: record.completion.clone().unwrap_or_default(),
        scoring: latest,
        routing: applied,
        reading,
        patient: patient.map(|(id, name)| pb::PatientIdentity {
            patient_id: id.unwrap_or_default(),
            patient_name: name.unwrap_or_default(),
        }),
        superseded_scorings: scorings,
        attention: record.attention.as_ref().map(attention),
    }
}

/// The loaded model and the active policy.
pub fn models(v: ModelsView) -> pb::GetModelsResponse {
    let path = |p: Option<std::path::PathBuf>| p.map(|p| p.display().to_string()).unwrap_or_default();
    let policy = &v.policy;
    let rule = match policy.rule {
        granska_triage::Rule::Masai => "masai",
        granska_triage::Rule::Threshold { .. } => "threshold",
        granska_triage::Rule::NormalTriage { .. } => "normal-triage",
        granska_triage::Rule::DoubleAll => "double-all",
    };
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
            rule: rule.into(),
            definition: v.policy_toml,
            max_wait_hours: policy.max_wait_hours,
        }),
    }
}
