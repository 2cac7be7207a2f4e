//! `granska.v1.Ingest`: chunked upload, CompleteStudy, GetStudy.

use std::sync::Arc;

use granska_archive::StudyState;
use granska_worklist::WorklistStore;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

use super::{audit, check_uid, outcome_of};
use crate::auth::{Role, Rpc, authorize};
use crate::error::{archive_status, worklist_status};
use crate::pipeline::{Pipeline, Rejected, StoredScoring, blocking};
use crate::proto::v1 as pb;

/// The Ingest service.
pub struct IngestService {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Largest accepted instance, bytes.
    pub max_instance: usize,
}

fn bad_request(field: &str, message: String) -> Status {
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field, message.clone());
    Status::with_error_details(Code::InvalidArgument, message, details)
}

fn rejected_result(instance_ref: String, size: u64, r: Rejected) -> pb::InstanceResult {
    pb::InstanceResult {
        instance_ref,
        outcome: pb::instance_result::Outcome::Rejected as i32,
        sop_instance_uid: r.sop_instance_uid,
        study_instance_uid: r.study_uid,
        size_bytes: size,
        rejection: Some(pb::Rejection {
            code: r.code.into(),
            message: r.message,
            field_violations: r
                .violations
                .into_iter()
                .map(|(field, description)| pb::FieldViolation { field, description })
                .collect(),
        }),
        sha256: String::new(),
    }
}

#[tonic::async_trait]
impl pb::ingest_server::Ingest for IngestService {
    type UploadStream = ReceiverStream<Result<pb::InstanceResult, Status>>;

    #[tracing::instrument(skip_all)]
    async fn upload(
        &self,
        request: Request<Streaming<pb::UploadChunk>>,
    ) -> Result<Response<Self::UploadStream>, Status> {
        let who = authorize(&request, Rpc::Upload)?;
        let mut chunks = request.into_inner();
        // Bounded: a client that does not read its results stops being read from.
        let (tx, rx) = mpsc::channel(16);
        let (pipeline, max) = (self.pipeline.clone(), self.max_instance);
        tokio::spawn(async move {
            let mut current: Option<(String, Vec<u8>, bool)> = None; // (ref, bytes, too large)
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(status) => {
                        tracing::debug!(%status, "upload stream ended by the client");
                        return;
                    }
                };
                if chunk.instance_ref.is_empty() || chunk.instance_ref.len() > 1024 {
                    let _ = tx
                        .send(Err(bad_request(
                            "UploadChunk.instance_ref",
                            format!("instance_ref must be 1–1024 bytes, found {}", chunk.instance_ref.len()),
                        )))
                        .await;
                    return;
                }
                match &mut current {
                    Some((r, _, _)) if *r != chunk.instance_ref => {
                        let message = format!(
                            "chunk for {:?} arrived before instance {r:?} ended (send last = true on an instance's last chunk)",
                            chunk.instance_ref
                        );
                        let _ = tx.send(Err(bad_request("UploadChunk.last", message))).await;
                        return;
                    }
                    Some(_) => {}
                    None => current = Some((chunk.instance_ref.clone(), Vec::new(), false)),
                }
                let (_, bytes, too_large) = current.as_mut().expect("set above");
                if !*too_large {
                    if bytes.len() + chunk.data.len() > max {
                        *too_large = true;
                        *bytes = Vec::new();
                    } else {
                        bytes.extend_from_slice(&chunk.data);
                    }
                }
                if !chunk.last {
                    continue;
                }
                let (instance_ref, bytes, too_large) = current.take().expect("set above");
                let size = bytes.len() as u64;
                let result = if too_large {
                    let r = Rejected {
                        code: "RESOURCE_EXHAUSTED",
                        message: format!("instance is larger than the limit of {} MiB", max >> 20),
                        violations: vec![("UploadChunk.data".into(), "too large".into())],
                        sop_instance_uid: String::new(),
                        study_uid: String::new(),
                    };
                    pipeline.metrics.rejections.with_label_values(&["too-large"]).inc();
                    rejected_result(instance_ref, size, r)
                } else {
                    match pipeline.ingest(bytes, instance_ref.clone()).await {
                        Ok(i) => pb::InstanceResult {
                            instance_ref,
                            outcome: if i.duplicate {
                                pb::instance_result::Outcome::Duplicate
                            } else {
                                pb::instance_result::Outcome::Stored
                            } as i32,
                            sop_instance_uid: i.sop_instance_uid,
                            study_instance_uid: i.study_uid,
                            size_bytes: size,
                            rejection: None,
                            sha256: i.sha256,
                        },
                        Err(r) => rejected_result(instance_ref, size, r),
                    }
                };
                let study = (!result.study_instance_uid.is_empty()).then(|| result.study_instance_uid.clone());
                let outcome = match &result.rejection {
                    None if result.outcome == pb::instance_result::Outcome::Duplicate as i32 => {
                        "ok: duplicate".to_owned()
                    }
                    None => "ok: stored".to_owned(),
                    Some(r) => format!("rejected: {}", r.code),
                };
                if let Err(status) = audit(&pipeline, &who, Rpc::Upload, vec![study], &outcome).await {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                if tx.send(Ok(result)).await.is_err() {
                    return; // the client went away; what was stored stays stored
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    #[tracing::instrument(skip_all, fields(study_uid = %request.get_ref().study_instance_uid))]
    async fn complete_study(
        &self,
        request: Request<pb::CompleteStudyRequest>,
    ) -> Result<Response<pb::CompleteStudyResponse>, Status> {
        let who = authorize(&request, Rpc::CompleteStudy)?;
        let uid = request.into_inner().study_instance_uid;
        check_uid("study_instance_uid", &uid)?;
        let result = self
            .pipeline
            .complete(&uid)
            .await
            .map(|(now, state)| pb::CompleteStudyResponse { completed_now: now, state: state.as_str().into() })
            .map_err(archive_status);
        audit(&self.pipeline, &who, Rpc::CompleteStudy, vec![Some(uid)], &outcome_of(&result)).await?;
        result.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(study_uid = %request.get_ref().study_instance_uid))]
    async fn get_study(&self, request: Request<pb::GetStudyRequest>) -> Result<Response<pb::Study>, Status> {
        let who = authorize(&request, Rpc::GetStudy)?;
        let uid = request.into_inner().study_instance_uid;
        check_uid("study_instance_uid", &uid)?;
        let result = study(&self.pipeline, &uid, who.role == Role::Admin).await;
        audit(&self.pipeline, &who, Rpc::GetStudy, vec![Some(uid)], &outcome_of(&result)).await?;
        result.map(Response::new)
    }
}

fn scoring_pb(json: &str, at_ms: i64) -> pb::ScoringResult {
    let s: StoredScoring = serde_json::from_str(json).unwrap_or_else(|e| StoredScoring {
        status: "unscorable".into(),
        reason: Some(format!("stored scoring result cannot be read: {e}")),
        ..StoredScoring::default()
    });
    pb::ScoringResult {
        status: s.status,
        reason: s.reason.unwrap_or_default(),
        exam_score: s.exam_score,
        category: s.category.map(u32::from),
        extra_high: s.extra_high,
        model: s.model.map(|m| pb::ModelIdentity { name: m.name, version: m.version, sha256: m.sha256 }),
        views: s
            .views
            .into_iter()
            .map(|v| pb::ViewScore {
                sop_instance_uid: v.sop_instance_uid,
                laterality: v.laterality,
                view: v.view,
                score: v.score,
                error: v.error.unwrap_or_default(),
            })
            .collect(),
        scored_unix_ms: at_ms,
    }
}

/// GetStudy's answer; patient identity only when `with_patient`.
async fn study(pipeline: &Arc<Pipeline>, uid: &str, with_patient: bool) -> Result<pb::Study, Status> {
    let (archive, worklist, u) = (pipeline.archive.clone(), pipeline.worklist.clone(), uid.to_owned());
    let (record, history) = blocking(move || {
        let record = archive.study(&u).map_err(archive_status)?;
        let history = match worklist.history(&u) {
            Ok(h) => Some(h),
            Err(granska_worklist::Error::UnknownStudy { .. }) => None,
            Err(e) => return Err(worklist_status(e)),
        };
        Ok((record, history))
    })
    .await?;
    let record = record.ok_or_else(|| Status::not_found(format!("unknown study {uid}")))?;
    let mut scorings: Vec<pb::ScoringResult> =
        record.scorings.iter().map(|s| scoring_pb(&s.result_json, s.at_ms)).collect();
    let latest = scorings.pop();
    let routing =
        history.as_ref().and_then(|h| h.routings.iter().rev().find(|r| r.applied && !r.superseded)).map(|r| {
            pb::Routing {
                reading_mode: r.mode.as_str().into(),
                flags: r.flags.iter().map(|f| f.as_str().into()).collect(),
                reason: r.reason.clone().unwrap_or_default(),
                policy_name: r.policy.name.clone(),
                policy_version: r.policy.version.clone(),
                decided_unix_ms: r.decided_at_ms,
            }
        });
    let reading = history.as_ref().map(|h| pb::ReadingState {
        tasks: h
            .tasks
            .iter()
            .map(|t| pb::TaskState { task_id: t.id, kind: t.kind.as_str().into(), state: t.state.as_str().into() })
            .collect(),
        outcome: h.outcome.map(|o| o.decision.as_str().into()).unwrap_or_default(),
        outcome_via: h.outcome.map(|o| o.via.as_str().into()).unwrap_or_default(),
    });
    let patient = with_patient.then(|| {
        let first = record.instances.first();
        pb::PatientIdentity {
            patient_id: first.and_then(|i| i.instance.patient_id.clone()).unwrap_or_default(),
            patient_name: first.and_then(|i| i.instance.patient_name.clone()).unwrap_or_default(),
        }
    });
    Ok(pb::Study {
        study_instance_uid: record.study_uid.clone(),
        state: record.state.as_str().into(),
        views: record
            .instances
            .iter()
            .map(|i| pb::ReceivedView {
                sop_instance_uid: i.instance.sop_instance_uid.clone(),
                laterality: i.instance.laterality.clone(),
                view: i.instance.view.clone(),
                transfer_syntax_uid: i.instance.transfer_syntax_uid.clone(),
                size_bytes: i.size_bytes,
                received_unix_ms: i.received_ms,
            })
            .collect(),
        complete: record.state != StudyState::Receiving,
        completion: record.completion.clone().unwrap_or_default(),
        scoring: latest,
        routing,
        reading,
        patient,
        superseded_scorings: scorings,
    })
}
