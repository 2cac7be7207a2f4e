//! `granska.v1.Ingest`: chunked upload, CompleteStudy, GetStudy.

use std::sync::Arc;

use granska_archive::StudyState;
use granska_worklist::WorklistStore;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

use super::{audit, check_uid, outcome_of};
use crate::auth::{Principal, Role, Rpc, authorize};
use crate::error::{archive_status, worklist_status};
use crate::pipeline::{Pipeline, Rejected, StoredScoring, blocking};
use crate::proto::v1 as pb;
use crate::upload::{Assembled, Chunk, Reassembler, StreamError};

/// The Ingest service.
pub struct IngestService {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Upload limits.
    pub limits: UploadLimits,
}

/// What one Upload stream, and all of them together, may hold.
#[derive(Clone)]
pub struct UploadLimits {
    /// Largest accepted instance, bytes (`ingest.max_instance_mib`).
    pub max_instance: usize,
    /// Concurrent Upload streams (`ingest.max_uploads`).
    pub max_uploads: usize,
    /// One slot per open Upload stream.
    pub uploads: Arc<Semaphore>,
    /// Bytes of unfinished instances buffered across all streams (`ingest.max_buffered_mib`).
    pub max_buffered: usize,
    /// One permit per buffered byte.
    pub buffered: Arc<Semaphore>,
    /// A stream with no chunk for this long is ended (`ingest.idle_timeout_s`).
    pub idle_timeout: Duration,
}

impl UploadLimits {
    /// Limits with fresh slot and byte pools.
    pub fn new(max_instance: usize, max_uploads: usize, max_buffered: usize, idle_timeout: Duration) -> UploadLimits {
        UploadLimits {
            max_instance,
            max_uploads: max_uploads.max(1),
            uploads: Arc::new(Semaphore::new(max_uploads.max(1))),
            max_buffered,
            buffered: Arc::new(Semaphore::new(max_buffered.min(Semaphore::MAX_PERMITS))),
            idle_timeout,
        }
    }
}

/// How long a chunk waits at most for other uploads to free buffer space before it is
/// refused (and never longer than the stream's idle timeout).
const BUFFER_WAIT: Duration = Duration::from_secs(10);

/// Reads one Upload stream to its end: reassembles instances, stores each and sends its result.
/// `Err` ends the stream with that status; every instance the client sent is either answered
/// with a result or named in the error.
async fn upload_stream(
    pipeline: &Arc<Pipeline>,
    limits: &UploadLimits,
    who: &Principal,
    mut chunks: Streaming<pb::UploadChunk>,
    tx: &mpsc::Sender<Result<pb::InstanceResult, Status>>,
) -> Result<(), Status> {
    let mut reassembler = Reassembler::new(limits.max_instance);
    // Budget held for the bytes the reassembler buffers; returned when an instance completes.
    let mut held: Option<OwnedSemaphorePermit> = None;
    loop {
        let next = match tokio::time::timeout(limits.idle_timeout, chunks.next()).await {
            Ok(next) => next,
            Err(_) => {
                pipeline.metrics.refused.with_label_values(&["ingest.idle_timeout_s"]).inc();
                return Err(Status::deadline_exceeded(format!(
                    "no chunk for {} s (ingest.idle_timeout_s){}",
                    limits.idle_timeout.as_secs(),
                    unfinished_note(reassembler.finish())
                )));
            }
        };
        let chunk = match next {
            None => {
                // Half-closed: a stream that ends inside an instance did not deliver it.
                if let Some(u) = reassembler.finish() {
                    let r = Rejected {
                        code: "INVALID_ARGUMENT",
                        message: format!(
                            "the stream ended after {} bytes of instance {:?}, before its last chunk: not stored",
                            u.received, u.instance_ref
                        ),
                        violations: vec![("UploadChunk.last".into(), "the instance's last chunk never came".into())],
                        sop_instance_uid: String::new(),
                        study_uid: String::new(),
                    };
                    pipeline.metrics.rejections.with_label_values(&["unfinished"]).inc();
                    send_result(pipeline, who, tx, rejected_result(u.instance_ref, u.received, r)).await?;
                }
                return Ok(());
            }
            Some(Err(status)) => {
                // The client's stream failed: a chunk over the message limit, a reset, a decode
                // error. Say so (with the unfinished instance) instead of ending with OK.
                tracing::debug!(%status, "upload stream failed");
                let code = if status.message().contains("message length too large") {
                    pipeline.metrics.refused.with_label_values(&["grpc-message-size"]).inc();
                    Code::ResourceExhausted
                } else {
                    status.code()
                };
                return Err(Status::new(
                    code,
                    format!(
                        "upload stream failed: {} (chunks must be at most {} MiB){}",
                        status.message(),
                        crate::MAX_MESSAGE >> 20,
                        unfinished_note(reassembler.finish())
                    ),
                ));
            }
            Some(Ok(c)) => Chunk { instance_ref: c.instance_ref, data: c.data, last: c.last },
        };
        let want = reassembler.would_buffer(&chunk) as u32;
        if want > 0 {
            let permit = match tokio::time::timeout(
                BUFFER_WAIT.min(limits.idle_timeout),
                limits.buffered.clone().acquire_many_owned(want),
            )
            .await
            {
                Ok(Ok(p)) => p,
                _ => {
                    pipeline.metrics.refused.with_label_values(&["ingest.max_buffered_mib"]).inc();
                    let received = reassembler.buffered() + chunk.data.len();
                    let unfinished = reassembler.finish().map(|u| u.instance_ref).unwrap_or(chunk.instance_ref);
                    return Err(Status::resource_exhausted(format!(
                        "the server is buffering ingest.max_buffered_mib = {} MiB of unfinished instances \
                             across all uploads; retry later; instance {unfinished:?} ({received} bytes \
                             received) was not stored",
                        limits.max_buffered >> 20,
                    )));
                }
            };
            match &mut held {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
        }
        let assembled = reassembler.push(chunk).map_err(|e| {
            let field = match e {
                StreamError::BadRef { .. } => "UploadChunk.instance_ref",
                StreamError::Interleaved { .. } => "UploadChunk.last",
            };
            bad_request(field, e.to_string())
        })?;
        if reassembler.buffered() == 0 {
            held = None; // an instance ended (or went over the limit): its budget is free again
        }
        let result = match assembled {
            None => continue,
            Some(Assembled::TooLarge { instance_ref, size }) => {
                let r = Rejected {
                    code: "RESOURCE_EXHAUSTED",
                    message: format!(
                        "instance is {size} bytes, larger than ingest.max_instance_mib = {} MiB",
                        limits.max_instance >> 20
                    ),
                    violations: vec![("UploadChunk.data".into(), "too large".into())],
                    sop_instance_uid: String::new(),
                    study_uid: String::new(),
                };
                pipeline.metrics.rejections.with_label_values(&["too-large"]).inc();
                rejected_result(instance_ref, size, r)
            }
            Some(Assembled::Instance { instance_ref, bytes }) => {
                let size = bytes.len() as u64;
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
            }
        };
        send_result(pipeline, who, tx, result).await?;
    }
}

/// `; instance "x" (N bytes received) was not stored`, or nothing.
fn unfinished_note(u: Option<crate::upload::Unfinished>) -> String {
    u.map(|u| format!("; instance {:?} ({} bytes received) was not stored", u.instance_ref, u.received))
        .unwrap_or_default()
}

/// Audits one result, then sends it. `Err` when the audit cannot be written.
async fn send_result(
    pipeline: &Arc<Pipeline>,
    who: &Principal,
    tx: &mpsc::Sender<Result<pb::InstanceResult, Status>>,
    result: pb::InstanceResult,
) -> Result<(), Status> {
    let study = (!result.study_instance_uid.is_empty()).then(|| result.study_instance_uid.clone());
    let outcome = match &result.rejection {
        None if result.outcome == pb::instance_result::Outcome::Duplicate as i32 => "ok: duplicate".to_owned(),
        None => "ok: stored".to_owned(),
        Some(r) => format!("rejected: {}", r.code),
    };
    audit(pipeline, who, Rpc::Upload, vec![study], &outcome).await?;
    // The client going away is not an error: what was stored stays stored.
    let _ = tx.send(Ok(result)).await;
    Ok(())
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
        let Ok(slot) = self.limits.uploads.clone().try_acquire_owned() else {
            self.pipeline.metrics.refused.with_label_values(&["ingest.max_uploads"]).inc();
            return Err(Status::resource_exhausted(format!(
                "too many concurrent uploads: ingest.max_uploads = {} are open; retry when one ends",
                self.limits.max_uploads
            )));
        };
        let chunks = request.into_inner();
        // Bounded: a client that does not read its results stops being read from.
        let (tx, rx) = mpsc::channel(16);
        let (pipeline, limits) = (self.pipeline.clone(), self.limits.clone());
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(status) = upload_stream(&pipeline, &limits, &who, chunks, &tx).await {
                let _ = tx.send(Err(status)).await;
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

    #[tracing::instrument(skip_all)]
    async fn list_needs_attention(
        &self,
        request: Request<pb::ListNeedsAttentionRequest>,
    ) -> Result<Response<pb::ListNeedsAttentionResponse>, Status> {
        let who = authorize(&request, Rpc::ListNeedsAttention)?;
        let archive = self.pipeline.archive.clone();
        let result = blocking(move || archive.needs_attention())
            .await
            .map(|list| pb::ListNeedsAttentionResponse { studies: list.iter().map(attention_pb).collect() })
            .map_err(archive_status);
        let studies = match &result {
            Ok(r) if !r.studies.is_empty() => r.studies.iter().map(|a| Some(a.study_instance_uid.clone())).collect(),
            _ => vec![],
        };
        audit(&self.pipeline, &who, Rpc::ListNeedsAttention, studies, &outcome_of(&result)).await?;
        result.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(study_uid = %request.get_ref().study_instance_uid))]
    async fn retry_study(
        &self,
        request: Request<pb::RetryStudyRequest>,
    ) -> Result<Response<pb::RetryStudyResponse>, Status> {
        let who = authorize(&request, Rpc::RetryStudy)?;
        let uid = request.into_inner().study_instance_uid;
        // A study parked for an invalid UID (stored before ingest validated UIDs) can be named
        // here as listed, so this takes any text up to 64 bytes and lets the archive say
        // whether it knows it.
        if uid.is_empty() || uid.len() > 1024 {
            return Err(bad_request("study_instance_uid", format!("expected 1–1024 bytes, found {}", uid.len())));
        }
        let result =
            self.pipeline.retry(&uid).await.map(|queued| pb::RetryStudyResponse { queued }).map_err(archive_status);
        audit(&self.pipeline, &who, Rpc::RetryStudy, vec![Some(uid)], &outcome_of(&result)).await?;
        result.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(sop_instance_uid = %request.get_ref().sop_instance_uid))]
    async fn remove_instance(
        &self,
        request: Request<pb::RemoveInstanceRequest>,
    ) -> Result<Response<pb::RemoveInstanceResponse>, Status> {
        let who = authorize(&request, Rpc::RemoveInstance)?;
        let req = request.into_inner();
        check_uid("sop_instance_uid", &req.sop_instance_uid)?;
        if req.reason.trim().is_empty() || req.reason.len() > 1024 {
            return Err(bad_request("reason", "say why the instance is removed (1–1024 bytes)".into()));
        }
        let (archive, sop) = (self.pipeline.archive.clone(), req.sop_instance_uid.clone());
        let result = blocking(move || archive.remove_instance(&sop, crate::pipeline::now_ms()))
            .await
            .map(|r| pb::RemoveInstanceResponse { study_instance_uid: r.study_uid, blob_deleted: r.blob_deleted })
            .map_err(archive_status);
        let study = result.as_ref().ok().map(|r| r.study_instance_uid.clone());
        let outcome = match &result {
            Ok(_) => format!("ok: removed {} ({})", req.sop_instance_uid, req.reason.trim()),
            Err(_) => outcome_of(&result),
        };
        audit(&self.pipeline, &who, Rpc::RemoveInstance, vec![study], &outcome).await?;
        if let Ok(r) = &result {
            tracing::info!(study_uid = %r.study_instance_uid, sop_instance_uid = %req.sop_instance_uid,
                "instance removed by an admin; the study waits for its re-sent copy");
        }
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
                sop_instance_uid: i.instance.sop_instance_uid.to_string(),
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
        attention: record.attention.as_ref().map(attention_pb),
    })
}

fn attention_pb(a: &granska_archive::Attention) -> pb::Attention {
    pb::Attention {
        study_instance_uid: a.study_uid.clone(),
        attempts: a.attempts,
        reason: a.reason.clone(),
        since_unix_ms: a.since_ms,
        last_unix_ms: a.last_ms,
        parked: a.parked,
    }
}
