//! `granska.v1.Worklist`: List, Watch, ClaimNext, Release, SubmitRead, as translation to and
//! from the core's reading use cases.

use std::pin::Pin;
use std::sync::Arc;

use granska_app::{Action, App, AppError};
use granska_proto::v1 as pb;
use granska_worklist::model::{PageRequest, ReadDecision};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use crate::auth::caller;
use crate::error::status;

/// The Worklist service.
pub struct WorklistService {
    /// The application core.
    pub app: Arc<App>,
}

/// `page_token` → offset (it is the offset, as text, from a ListResponse).
fn page(req: &pb::ListRequest) -> Result<PageRequest, Status> {
    let limit = if req.page_size == 0 { 50 } else { req.page_size.min(1000) };
    let offset = match req.page_token.as_str() {
        "" => 0,
        t => t.parse().map_err(|_| {
            status(AppError::InvalidArgument {
                field: "page_token".into(),
                message: format!("must come from a ListResponse, found {t:?}"),
            })
        })?,
    };
    Ok(PageRequest { offset, limit })
}

#[tonic::async_trait]
impl pb::worklist_server::Worklist for WorklistService {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WorklistChange, Status>> + Send>>;

    #[tracing::instrument(skip_all)]
    async fn list(&self, request: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        let who = caller(&request)?;
        who.authorize(Action::List).map_err(status)?; // the role before the arguments
        let view = self.app.list(&who, page(request.get_ref())?).await.map_err(status)?;
        Ok(Response::new(convert::worklist(view)))
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let mut changes = self.app.watch(&caller(&request)?).map_err(status)?;
        // Forward until the client goes away or the core stops (a graceful shutdown waits for
        // open streams, so this one must end).
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(c) = changes.next().await {
                if tx.send(Ok(convert::change(c))).await.is_err() {
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
        let claimed = self.app.claim_next(&caller(&request)?).await.map_err(status)?;
        Ok(Response::new(pb::ClaimNextResponse { task: claimed.map(convert::claimed) }))
    }

    #[tracing::instrument(skip_all, fields(task_id = request.get_ref().task_id))]
    async fn release(&self, request: Request<pb::ReleaseRequest>) -> Result<Response<pb::ReleaseResponse>, Status> {
        self.app.release(&caller(&request)?, request.get_ref().task_id).await.map_err(status)?;
        Ok(Response::new(pb::ReleaseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(task_id = request.get_ref().task_id))]
    async fn submit_read(
        &self,
        request: Request<pb::SubmitReadRequest>,
    ) -> Result<Response<pb::SubmitReadResponse>, Status> {
        let who = caller(&request)?;
        who.authorize(Action::SubmitRead).map_err(status)?; // the role before the arguments
        let req = request.into_inner();
        let decision = <ReadDecision as granska_proto::Vocabulary>::from_wire(req.decision).map_err(|_| {
            status(AppError::InvalidArgument {
                field: "decision".into(),
                message: "must be READ_DECISION_RECALL or READ_DECISION_NO_RECALL".into(),
            })
        })?;
        let note = (!req.note.is_empty()).then_some(req.note);
        let (_, out) = self.app.submit_read(&who, req.task_id, decision, note, req.request_id).await.map_err(status)?;
        Ok(Response::new(convert::submitted(out)))
    }
}
