//! `granska.v1.Models`: the loaded model and the active policy.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::auth::{Role, Rpc, authorize};
use crate::pipeline::Pipeline;
use crate::proto::v1 as pb;

/// The Models service.
pub struct ModelsService {
    /// The pipeline (its scorer and policy).
    pub pipeline: Arc<Pipeline>,
    /// The active policy's TOML, as loaded.
    pub policy_toml: String,
}

#[tonic::async_trait]
impl pb::models_server::Models for ModelsService {
    async fn get(&self, request: Request<pb::GetModelsRequest>) -> Result<Response<pb::GetModelsResponse>, Status> {
        let who = authorize(&request, Rpc::Models)?;
        // Server file paths are for the admin: a researcher learns what runs, not where.
        let admin = who.role == Role::Admin;
        let path = |p: &std::path::Path| if admin { p.display().to_string() } else { String::new() };
        let scorer = &self.pipeline.scorer;
        let card = &scorer.model.card;
        let info = scorer.engine.info();
        let policy = &self.pipeline.policy;
        let rule = match policy.rule {
            granska_triage::Rule::Masai => "masai",
            granska_triage::Rule::Threshold { .. } => "threshold",
            granska_triage::Rule::NormalTriage { .. } => "normal-triage",
            granska_triage::Rule::DoubleAll => "double-all",
        };
        Ok(Response::new(pb::GetModelsResponse {
            models: vec![pb::LoadedModel {
                name: card.identity.name.clone(),
                version: card.identity.version.clone(),
                sha256: card.identity.sha256.clone(),
                dir: path(&scorer.model.dir),
                intended_use: card.identity.intended_use.clone(),
                training_data: card.identity.training_data.clone(),
                input_shape: card.input.shape.to_vec(),
                device: info.device.clone(),
                onnxruntime_library: path(&info.library),
            }],
            policy: Some(pb::ActivePolicy {
                name: policy.name.clone(),
                version: policy.version.clone(),
                rule: rule.into(),
                definition: self.policy_toml.clone(),
                max_wait_hours: policy.max_wait_hours,
            }),
        }))
    }
}
