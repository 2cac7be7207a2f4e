//! `granska.v1.Models`: the loaded model and the active policy.

use std::sync::Arc;

use granska_app::App;
use granska_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::error::status;

/// The Models service.
pub struct ModelsService {
    /// The application core.
    pub app: Arc<App>,
}

#[tonic::async_trait]
impl pb::models_server::Models for ModelsService {
    async fn get(&self, request: Request<pb::GetModelsRequest>) -> Result<Response<pb::GetModelsResponse>, Status> {
        let view = self.app.models(&caller(&request)?).map_err(status)?;
        Ok(Response::new(super::convert::models(view)))
    }
}
