//! `granska.v1.Ingest`: chunked upload, CompleteStudy, GetStudy and the admin's
//! needs-attention calls, as translation to and from the core's ingest use cases. What is
//! gRPC's own stays here: reassembling chunks into instances under this edge's flow-control
//! limits (streams, buffered bytes, idle streams).

use std::sync::Arc;
use std::time::Duration;

use granska_app::{Action, App, AppError, Caller, Rejected};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

use super::{convert, uid};
use crate::auth::caller;
use crate::error::{code, code_name, status};
use crate::proto::v1 as pb;
use crate::upload::{Assembled, Chunk, Reassembler, StreamError, Unfinished};

/// The Ingest service.
pub struct IngestService {
    /// The application core.
    pub app: Arc<App>,
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
    app: &Arc<App>,
    limits: &UploadLimits,
    who: &Caller,
    mut chunks: Streaming<pb::UploadChunk>,
    tx: &mpsc::Sender<Result<pb::InstanceResult, Status>>,
) -> Result<(), Status> {
    let mut upload = Upload { app, limits, who, tx, reassembler: Reassembler::new(limits.max_instance), held: None };
    while let Some(chunk) = upload.next_chunk(&mut chunks).await? {
        upload.reserve(&chunk).await?;
        let Some(assembled) = upload.push(chunk)? else { continue };
        let result = upload.store(assembled).await?;
        // The client going away is not an error: what was stored stays stored.
        let _ = tx.send(Ok(result)).await;
    }
    Ok(())
}

/// One Upload stream being read: the instance it is reassembling and the buffer budget that
/// instance holds.
struct Upload<'a> {
    app: &'a Arc<App>,
    limits: &'a UploadLimits,
    who: &'a Caller,
    tx: &'a mpsc::Sender<Result<pb::InstanceResult, Status>>,
    reassembler: Reassembler,
    /// Budget held for the bytes the reassembler buffers; returned when an instance completes.
    held: Option<OwnedSemaphorePermit>,
}

impl Upload<'_> {
    /// The instance left unfinished, for a stream about to end (the reassembler starts over).
    fn unfinished(&mut self) -> Option<Unfinished> {
        std::mem::replace(&mut self.reassembler, Reassembler::new(self.limits.max_instance)).finish()
    }

    /// Waits (at most the idle timeout) for the next chunk. `Ok(None)`: the client half-closed
    /// the stream, and an instance it left unfinished has been answered as refused.
    async fn next_chunk(&mut self, chunks: &mut Streaming<pb::UploadChunk>) -> Result<Option<Chunk>, Status> {
        let next = match tokio::time::timeout(self.limits.idle_timeout, chunks.next()).await {
            Ok(next) => next,
            Err(_) => {
                self.app.metrics().refused.with_label_values(&["ingest.idle_timeout_s"]).inc();
                return Err(Status::deadline_exceeded(format!(
                    "no chunk for {} s (ingest.idle_timeout_s){}",
                    self.limits.idle_timeout.as_secs(),
                    unfinished_note(self.unfinished())
                )));
            }
        };
        match next {
            None => {
                self.ended().await?;
                Ok(None)
            }
            Some(Err(status)) => Err(self.failed(status)),
            Some(Ok(c)) => Ok(Some(Chunk { instance_ref: c.instance_ref, data: c.data, last: c.last })),
        }
    }

    /// The client half-closed the stream: an instance it ended inside was not delivered, and
    /// is answered as refused.
    async fn ended(&mut self) -> Result<(), Status> {
        if let Some(u) = self.unfinished() {
            self.app.refused_upload(self.who, "unfinished").await.map_err(status)?;
            let rejection = pb::Rejection {
                code: code_name(tonic::Code::InvalidArgument).into(),
                message: format!(
                    "the stream ended after {} bytes of instance {:?}, before its last chunk: not stored",
                    u.received, u.instance_ref
                ),
                field_violations: vec![violation("UploadChunk.last", "the instance's last chunk never came")],
            };
            let _ = self.tx.send(Ok(refused(u.instance_ref, u.received, rejection))).await;
        }
        Ok(())
    }

    /// The client's stream failed: a chunk over the message limit, a reset, a decode error.
    /// The status says so (with the unfinished instance) instead of ending with OK.
    fn failed(&mut self, status: Status) -> Status {
        tracing::debug!(%status, "upload stream failed");
        let code = if status.message().contains("message length too large") {
            self.app.metrics().refused.with_label_values(&["grpc-message-size"]).inc();
            Code::ResourceExhausted
        } else {
            status.code()
        };
        Status::new(
            code,
            format!(
                "upload stream failed: {} (chunks must be at most {} MiB){}",
                status.message(),
                crate::MAX_MESSAGE >> 20,
                unfinished_note(self.unfinished())
            ),
        )
    }

    /// Reserves the buffer budget `chunk` needs, waiting a while for other uploads to free
    /// some; refuses the unfinished instance when none frees up.
    async fn reserve(&mut self, chunk: &Chunk) -> Result<(), Status> {
        let want = self.reassembler.would_buffer(chunk) as u32;
        if want == 0 {
            return Ok(());
        }
        let limits = self.limits;
        let permit = match tokio::time::timeout(
            BUFFER_WAIT.min(limits.idle_timeout),
            limits.buffered.clone().acquire_many_owned(want),
        )
        .await
        {
            Ok(Ok(p)) => p,
            _ => {
                self.app.metrics().refused.with_label_values(&["ingest.max_buffered_mib"]).inc();
                let received = self.reassembler.buffered() + chunk.data.len();
                let unfinished =
                    self.unfinished().map(|u| u.instance_ref).unwrap_or_else(|| chunk.instance_ref.clone());
                return Err(Status::resource_exhausted(format!(
                    "the server is buffering ingest.max_buffered_mib = {} MiB of unfinished instances \
                         across all uploads; retry later; instance {unfinished:?} ({received} bytes \
                         received) was not stored",
                    limits.max_buffered >> 20,
                )));
            }
        };
        match &mut self.held {
            Some(h) => h.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }

    /// Adds `chunk` to the instance being reassembled; returns the instance it completes.
    fn push(&mut self, chunk: Chunk) -> Result<Option<Assembled>, Status> {
        let assembled = self.reassembler.push(chunk).map_err(|e| {
            let field = match e {
                StreamError::BadRef { .. } => "UploadChunk.instance_ref",
                StreamError::Interleaved { .. } => "UploadChunk.last",
            };
            bad_request(field, e.to_string())
        })?;
        if self.reassembler.buffered() == 0 {
            self.held = None; // an instance ended (or went over the limit): its budget is free again
        }
        Ok(assembled)
    }

    /// Stores an assembled instance (or refuses one that grew too large) and says how it went.
    async fn store(&self, assembled: Assembled) -> Result<pb::InstanceResult, Status> {
        let (instance_ref, bytes) = match assembled {
            Assembled::Instance { instance_ref, bytes } => (instance_ref, bytes),
            Assembled::TooLarge { instance_ref, size } => {
                self.app.refused_upload(self.who, "too-large").await.map_err(status)?;
                let rejection = pb::Rejection {
                    code: code_name(tonic::Code::ResourceExhausted).into(),
                    message: format!(
                        "instance is {size} bytes, larger than ingest.max_instance_mib = {} MiB",
                        self.limits.max_instance >> 20
                    ),
                    field_violations: vec![violation("UploadChunk.data", "too large")],
                };
                return Ok(refused(instance_ref, size, rejection));
            }
        };
        let size = bytes.len() as u64;
        match self.app.ingest(self.who, bytes, instance_ref.clone()).await {
            Ok(i) => Ok(pb::InstanceResult {
                instance_ref,
                outcome: if i.duplicate {
                    pb::instance_result::Outcome::Duplicate
                } else {
                    pb::instance_result::Outcome::Stored
                } as i32,
                sop_instance_uid: i.sop_instance_uid.into_string(),
                study_instance_uid: i.study_uid.into_string(),
                size_bytes: size,
                rejection: None,
                sha256: i.sha256,
            }),
            // Nothing may be acknowledged unaudited: end the stream instead.
            Err(Rejected { error: e @ AppError::AuditUnavailable { .. }, .. }) => Err(status(e)),
            Err(r) => Ok(rejected(instance_ref, size, r)),
        }
    }
}

/// `; instance "x" (N bytes received) was not stored`, or nothing.
fn unfinished_note(u: Option<Unfinished>) -> String {
    u.map(|u| format!("; instance {:?} ({} bytes received) was not stored", u.instance_ref, u.received))
        .unwrap_or_default()
}

fn bad_request(field: &str, message: String) -> Status {
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field, message.clone());
    Status::with_error_details(Code::InvalidArgument, message, details)
}

fn violation(field: &str, description: &str) -> pb::FieldViolation {
    pb::FieldViolation { field: field.into(), description: description.into() }
}

fn refused(instance_ref: String, size: u64, rejection: pb::Rejection) -> pb::InstanceResult {
    pb::InstanceResult {
        instance_ref,
        outcome: pb::instance_result::Outcome::Rejected as i32,
        sop_instance_uid: String::new(),
        study_instance_uid: String::new(),
        size_bytes: size,
        rejection: Some(rejection),
        sha256: String::new(),
    }
}

/// A refused instance as its result; a finding about the whole instance is about the chunks'
/// `data`.
fn rejected(instance_ref: String, size: u64, r: Rejected) -> pb::InstanceResult {
    let field_violations = r
        .violations
        .iter()
        .map(|(field, description)| violation(if field.is_empty() { "UploadChunk.data" } else { field }, description))
        .collect();
    let rejection =
        pb::Rejection { code: code_name(code(&r.error)).into(), message: r.error.to_string(), field_violations };
    pb::InstanceResult {
        sop_instance_uid: r.sop_instance_uid,
        study_instance_uid: r.study_uid,
        ..refused(instance_ref, size, rejection)
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
        let who = caller(&request)?;
        who.authorize(Action::Upload).map_err(status)?;
        let Ok(slot) = self.limits.uploads.clone().try_acquire_owned() else {
            self.app.metrics().refused.with_label_values(&["ingest.max_uploads"]).inc();
            return Err(Status::resource_exhausted(format!(
                "too many concurrent uploads: ingest.max_uploads = {} are open; retry when one ends",
                self.limits.max_uploads
            )));
        };
        // Bounded: a client that does not read its results stops being read from.
        let (tx, rx) = mpsc::channel(16);
        let (app, limits, chunks) = (self.app.clone(), self.limits.clone(), request.into_inner());
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(status) = upload_stream(&app, &limits, &who, chunks, &tx).await {
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
        let who = caller(&request)?;
        who.authorize(Action::CompleteStudy).map_err(status)?; // the role before the arguments
        let study = uid("study_instance_uid", &request.get_ref().study_instance_uid)?;
        let (now, state) = self.app.complete_study(&who, &study).await.map_err(status)?;
        Ok(Response::new(pb::CompleteStudyResponse { completed_now: now, state: granska_proto::wire(state) }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_needs_attention(
        &self,
        request: Request<pb::ListNeedsAttentionRequest>,
    ) -> Result<Response<pb::ListNeedsAttentionResponse>, Status> {
        let list = self.app.needs_attention(&caller(&request)?).await.map_err(status)?;
        Ok(Response::new(pb::ListNeedsAttentionResponse { studies: list.iter().map(convert::attention).collect() }))
    }

    #[tracing::instrument(skip_all, fields(study_uid = %request.get_ref().study_instance_uid))]
    async fn retry_study(
        &self,
        request: Request<pb::RetryStudyRequest>,
    ) -> Result<Response<pb::RetryStudyResponse>, Status> {
        let queued =
            self.app.retry_study(&caller(&request)?, &request.get_ref().study_instance_uid).await.map_err(status)?;
        Ok(Response::new(pb::RetryStudyResponse { queued }))
    }

    #[tracing::instrument(skip_all, fields(sop_instance_uid = %request.get_ref().sop_instance_uid))]
    async fn remove_instance(
        &self,
        request: Request<pb::RemoveInstanceRequest>,
    ) -> Result<Response<pb::RemoveInstanceResponse>, Status> {
        let who = caller(&request)?;
        who.authorize(Action::RemoveInstance).map_err(status)?; // the role before the arguments
        let sop = uid("sop_instance_uid", &request.get_ref().sop_instance_uid)?;
        let removed = self.app.remove_instance(&who, &sop, &request.get_ref().reason).await.map_err(status)?;
        Ok(Response::new(pb::RemoveInstanceResponse {
            study_instance_uid: removed.study_uid,
            blob_deleted: removed.blob_deleted,
        }))
    }

    #[tracing::instrument(skip_all, fields(study_uid = %request.get_ref().study_instance_uid))]
    async fn get_study(&self, request: Request<pb::GetStudyRequest>) -> Result<Response<pb::Study>, Status> {
        let who = caller(&request)?;
        who.authorize(Action::GetStudy).map_err(status)?; // the role before the arguments
        let study = uid("study_instance_uid", &request.get_ref().study_instance_uid)?;
        let view = self.app.get_study(&who, &study).await.map_err(status)?;
        Ok(Response::new(convert::study(view)))
    }

    async fn get_report(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, Status> {
        let who = caller(&request)?;
        who.authorize(Action::GetReport).map_err(status)?; // the role before the arguments
        let study = uid("study_instance_uid", &request.get_ref().study_instance_uid)?;
        let sop = match request.get_ref().sop_instance_uid.as_str() {
            "" => None,
            text => Some(uid("sop_instance_uid", text)?),
        };
        let (report, dicom) = self.app.report(&who, &study, sop.as_ref()).await.map_err(status)?;
        Ok(Response::new(pb::GetReportResponse { report: Some(convert::report(&report)), dicom }))
    }
}
