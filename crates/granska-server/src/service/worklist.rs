//! `granska.v1.Worklist`: List, Watch, ClaimNext, Release, SubmitRead. The caller's principal
//! is the reader; nothing here reveals another reader's identity or decision, except the two
//! screening reads shown to the holder of a consensus task.

use std::pin::Pin;
use std::sync::Arc;

use granska_worklist::WorklistStore;
use granska_worklist::model::{NextStep, PageRequest, ReadDecision, Reader, Submission};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{audit, outcome_of};
use crate::auth::{Principal, Rpc, authorize};
use crate::error::{archive_status, worklist_status};
use crate::pipeline::{Pipeline, blocking};
use crate::proto::v1 as pb;

/// The Worklist service.
pub struct WorklistService {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
}

fn reader(who: &Principal) -> Reader {
    Reader::new(who.name.clone())
}

#[tonic::async_trait]
impl pb::worklist_server::Worklist for WorklistService {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WorklistChange, Status>> + Send>>;

    #[tracing::instrument(skip_all)]
    async fn list(&self, request: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        let who = authorize(&request, Rpc::List)?;
        let req = request.into_inner();
        let limit = if req.page_size == 0 { 50 } else { req.page_size.min(1000) };
        let offset: u64 = if req.page_token.is_empty() {
            0
        } else {
            req.page_token.parse().map_err(|_| {
                Status::invalid_argument(format!(
                    "page_token must come from a ListResponse, found {:?}",
                    req.page_token
                ))
            })?
        };
        let (store, me) = (self.pipeline.worklist.clone(), reader(&who));
        let result = blocking(move || {
            let page = store.worklist(&me, PageRequest { offset, limit }).map_err(worklist_status)?;
            let mut entries: Vec<pb::WorklistEntry> = Vec::new();
            for e in &page.entries {
                if entries.last().is_some_and(|last| last.study_instance_uid == e.study_uid) {
                    continue; // the exam's other task, adjacent in the order; listed with it
                }
                let tasks = store
                    .study_tasks(&e.study_uid)
                    .map_err(worklist_status)?
                    .iter()
                    .filter(|t| t.state != granska_worklist::model::TaskState::Cancelled)
                    .map(|t| pb::WorklistTask {
                        task_id: t.id,
                        kind: t.kind.as_str().into(),
                        state: t.state.as_str().into(),
                        held_by_you: t.claimed_by.as_deref() == Some(me.id.as_str()),
                        available_to_you: page
                            .entries
                            .iter()
                            .any(|x| x.task_id == t.id && x.state == granska_worklist::model::TaskState::Queued),
                    })
                    .collect();
                entries.push(pb::WorklistEntry {
                    study_instance_uid: e.study_uid.clone(),
                    status: e.status.as_str().into(),
                    category: e.category.map(u32::from),
                    reading_mode: e.mode.as_str().into(),
                    flags: e.flags.iter().map(|f| f.as_str().into()).collect(),
                    reason: e.reason.clone().unwrap_or_default(),
                    overdue: e.overdue,
                    waiting_since_unix_ms: e.waiting_since_ms,
                    tasks,
                });
            }
            Ok(pb::ListResponse {
                entries,
                next_page_token: page.next_offset.map(|o| o.to_string()).unwrap_or_default(),
            })
        })
        .await;
        let studies = match &result {
            Ok(r) => r.entries.iter().map(|e| Some(e.study_instance_uid.clone())).collect(),
            Err(_) => Vec::new(),
        };
        audit(&self.pipeline, &who, Rpc::List, studies, &outcome_of(&result)).await?;
        result.map(Response::new)
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        authorize(&request, Rpc::Watch)?;
        let mut changes = self.pipeline.changes.subscribe();
        let mut stopping = self.pipeline.stopping.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        // Forward changes until the client goes away or the server stops (a graceful shutdown
        // waits for open streams, so this one must end).
        tokio::spawn(async move {
            loop {
                let change = tokio::select! {
                    _ = stopping.wait_for(|s| *s) => break,
                    c = changes.recv() => c,
                };
                let message = match change {
                    Ok(c) => pb::WorklistChange {
                        study_instance_uid: c.study_uid,
                        change: c.change.into(),
                        task_id: c.task_id,
                        task_kind: c.task_kind,
                        at_unix_ms: c.at_ms,
                    },
                    // A slow watcher missed changes: tell it to List again rather than end.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        pb::WorklistChange { change: "resync".into(), ..Default::default() }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                if tx.send(Ok(message)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    #[tracing::instrument(skip_all)]
    async fn claim_next(
        &self,
        request: Request<pb::ClaimNextRequest>,
    ) -> Result<Response<pb::ClaimNextResponse>, Status> {
        let who = authorize(&request, Rpc::ClaimNext)?;
        let (store, archive, me) = (self.pipeline.worklist.clone(), self.pipeline.archive.clone(), reader(&who));
        let result = blocking(move || {
            let Some(claim) = store.claim_next(&me).map_err(worklist_status)? else {
                return Ok(pb::ClaimNextResponse { task: None });
            };
            let uid = claim.task.study_uid.clone();
            let history = store.history(&uid).map_err(worklist_status)?;
            let routing = history.routings.iter().rev().find(|r| r.applied && !r.superseded);
            let instances = archive.study(&uid).map_err(archive_status)?.map(|s| s.instances).unwrap_or_default();
            Ok(pb::ClaimNextResponse {
                task: Some(pb::ClaimedTask {
                    task_id: claim.task.id,
                    study_instance_uid: uid,
                    kind: claim.task.kind.as_str().into(),
                    lease_expires_unix_ms: claim.task.lease_until_ms.unwrap_or_default(),
                    resumed: claim.resumed,
                    status: routing.map(|r| r.status.as_str().into()).unwrap_or_default(),
                    category: routing.and_then(|r| r.category).map(u32::from),
                    reading_mode: routing.map(|r| r.mode.as_str().into()).unwrap_or_default(),
                    flags: routing.map(|r| r.flags.iter().map(|f| f.as_str().into()).collect()).unwrap_or_default(),
                    reason: routing.and_then(|r| r.reason.clone()).unwrap_or_default(),
                    sop_instance_uids: instances
                        .into_iter()
                        .map(|i| i.instance.sop_instance_uid.into_string())
                        .collect(),
                    prior_reads: claim
                        .prior_reads
                        .iter()
                        .map(|r| pb::PriorRead {
                            kind: r.kind.as_str().into(),
                            reader: r.reader.clone(),
                            decision: r.decision.as_str().into(),
                            note: r.note.clone().unwrap_or_default(),
                        })
                        .collect(),
                }),
            })
        })
        .await;
        let study = result.as_ref().ok().and_then(|r| r.task.as_ref()).map(|t| t.study_instance_uid.clone());
        audit(&self.pipeline, &who, Rpc::ClaimNext, vec![study], &outcome_of(&result)).await?;
        if let Ok(pb::ClaimNextResponse { task: Some(t) }) = &result
            && !t.resumed
        {
            self.pipeline.publish(&t.study_instance_uid, "claimed", t.task_id, &t.kind);
        }
        result.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(task_id = request.get_ref().task_id))]
    async fn release(&self, request: Request<pb::ReleaseRequest>) -> Result<Response<pb::ReleaseResponse>, Status> {
        let who = authorize(&request, Rpc::Release)?;
        let task_id = request.into_inner().task_id;
        let (store, name) = (self.pipeline.worklist.clone(), who.name.clone());
        let result = blocking(move || {
            let task = store.task(task_id).map_err(worklist_status)?;
            store.release(task_id, &name).map_err(worklist_status)?;
            Ok(task)
        })
        .await;
        let study = result.as_ref().ok().map(|t| t.study_uid.clone());
        audit(&self.pipeline, &who, Rpc::Release, vec![study], &outcome_of(&result)).await?;
        let task = result?;
        self.pipeline.publish(&task.study_uid, "released", task.id, task.kind.as_str());
        Ok(Response::new(pb::ReleaseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(task_id = request.get_ref().task_id))]
    async fn submit_read(
        &self,
        request: Request<pb::SubmitReadRequest>,
    ) -> Result<Response<pb::SubmitReadResponse>, Status> {
        let who = authorize(&request, Rpc::SubmitRead)?;
        let req = request.into_inner();
        let decision = match pb::submit_read_request::Decision::try_from(req.decision) {
            Ok(pb::submit_read_request::Decision::Recall) => ReadDecision::Recall,
            Ok(pb::submit_read_request::Decision::NoRecall) => ReadDecision::NoRecall,
            _ => return Err(Status::invalid_argument("decision must be RECALL or NO_RECALL")),
        };
        if req.request_id.trim().is_empty() {
            return Err(Status::invalid_argument("request_id must be set (a unique id per read, e.g. a UUID)"));
        }
        let submission = Submission {
            task_id: req.task_id,
            reader: who.name.clone(),
            decision,
            note: (!req.note.is_empty()).then_some(req.note),
            request_id: req.request_id,
        };
        let store = self.pipeline.worklist.clone();
        let result = blocking(move || {
            let task = store.task(submission.task_id).map_err(worklist_status)?;
            let out = store.submit(&submission).map_err(worklist_status)?;
            Ok((task, out))
        })
        .await;
        let study = result.as_ref().ok().map(|(t, _)| t.study_uid.clone());
        audit(&self.pipeline, &who, Rpc::SubmitRead, vec![study], &outcome_of(&result)).await?;
        let (task, out) = result?;
        let mut response = pb::SubmitReadResponse { duplicate: out.duplicate, ..Default::default() };
        if !out.duplicate {
            self.pipeline.publish(&task.study_uid, "read", task.id, task.kind.as_str());
        }
        match out.next {
            NextStep::AwaitingOtherRead => response.next = "awaiting-other-read".into(),
            NextStep::Consensus(id) => {
                response.next = "consensus".into();
                if !out.duplicate {
                    self.pipeline.publish(&task.study_uid, "consensus", id, "consensus");
                }
            }
            NextStep::Final(decision, via) => {
                response.next = "final".into();
                response.outcome = decision.as_str().into();
                response.outcome_via = via.as_str().into();
                if !out.duplicate {
                    self.pipeline.publish(&task.study_uid, "final", 0, "");
                }
            }
        }
        Ok(Response::new(response))
    }
}
