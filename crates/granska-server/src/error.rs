//! Start-up errors of the server, and the one exhaustive mapping from domain errors to gRPC
//! status codes.

use tonic::{Code, Status};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The model could not be loaded or its engine started.
    #[error("model: {0}")]
    Model(#[from] granska_model::Error),
    /// The triage policy is invalid.
    #[error("policy: {0}")]
    Policy(#[from] granska_triage::Error),
    /// The archive could not be opened.
    #[error("archive: {0}")]
    Archive(#[from] granska_archive::Error),
    /// The worklist could not be opened.
    #[error("worklist: {0}")]
    Worklist(#[from] granska_worklist::Error),
    /// TLS certificate or key problems, or the listener failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A socket could not be bound or served.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Worklist errors → status. Exhaustive: a new variant must be mapped here.
pub fn worklist_status(e: granska_worklist::Error) -> Status {
    use granska_worklist::Error as W;
    let code = match &e {
        W::UnknownStudy { .. } | W::UnknownTask { .. } => Code::NotFound,
        W::NotHolder { .. } | W::LeaseExpired { .. } => Code::FailedPrecondition,
        W::RequestIdReused { .. } => Code::AlreadyExists,
        W::InvalidInput { .. } => Code::InvalidArgument,
        W::Busy { .. } => Code::Unavailable,
        W::Open { .. }
        | W::Create { .. }
        | W::Backend { .. }
        | W::SchemaTooNew { .. }
        | W::Migration { .. }
        | W::Corrupt { .. } => Code::Internal,
    };
    // A radiologist must not learn who else holds a task: say only that it is not theirs.
    let message = match &e {
        W::NotHolder { task_id, state, .. } => format!("task {task_id} is not held by you (it is {state})"),
        _ => e.to_string(),
    };
    Status::new(code, message)
}

/// Archive errors → status. Exhaustive.
pub fn archive_status(e: granska_archive::Error) -> Status {
    use granska_archive::Error as A;
    let code = match &e {
        A::UnknownStudy { .. } | A::UnknownInstance { .. } => Code::NotFound,
        A::Conflict { .. } => Code::AlreadyExists,
        A::Busy { .. } => Code::Unavailable,
        A::BadSha256 { .. } => Code::InvalidArgument,
        A::Io { .. } | A::Backend { .. } | A::SchemaTooNew { .. } | A::CorruptBlob { .. } | A::Corrupt { .. } => {
            Code::Internal
        }
    };
    Status::new(code, e.to_string())
}
