//! The tonic services: thin adapters from protobuf to the pipeline, archive and worklist, with
//! the role check first and the audit record written before the answer leaves.

pub mod ingest;
pub mod models;
pub mod worklist;

use std::sync::Arc;

use tonic::Status;

use crate::auth::{Principal, Rpc};
use crate::pipeline::{Pipeline, blocking, now_ms};

/// Writes one audit record per study (or one without a study). If the audit log cannot be
/// written, the access is refused: an unaudited access to patient data must not happen.
pub async fn audit(
    pipeline: &Arc<Pipeline>,
    who: &Principal,
    rpc: Rpc,
    studies: Vec<Option<String>>,
    outcome: &str,
) -> Result<(), Status> {
    let archive = pipeline.archive.clone();
    let (principal, role, outcome) = (who.name.clone(), who.role.as_str(), outcome.to_owned());
    let studies = if studies.is_empty() { vec![None] } else { studies };
    blocking(move || {
        let refs: Vec<Option<&str>> = studies.iter().map(|s| s.as_deref()).collect();
        archive.audit(now_ms(), &principal, role, rpc.name(), &refs, &outcome)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "audit log write failed; refusing the access");
        Status::internal("the audit log cannot be written; access refused")
    })
}

/// `ok`, or the status code and message, for audit records.
pub fn outcome_of<T>(result: &Result<T, Status>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(s) => format!("{:?}: {}", s.code(), s.message()),
    }
}

/// A UID argument, by the one rule ingest applies ([`granska_types::Uid`]): a UID that
/// ingest stored is accepted here. Otherwise INVALID_ARGUMENT naming `field`.
pub fn check_uid(field: &str, uid: &str) -> Result<(), Status> {
    if let Err(e) = granska_types::Uid::parse(uid) {
        let mut details = tonic_types::ErrorDetails::new();
        details.add_bad_request_violation(field, e.to_string());
        use tonic_types::StatusExt;
        return Err(Status::with_error_details(tonic::Code::InvalidArgument, format!("{field}: {e}"), details));
    }
    Ok(())
}
