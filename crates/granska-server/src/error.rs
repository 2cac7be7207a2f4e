//! Start-up errors of the server, and the one exhaustive mapping from domain errors to gRPC
//! status codes.

use granska_app::{AppError, Limit};
use granska_archive::Error as A;
use granska_worklist::Error as W;
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

/// The one mapping from the core's errors to gRPC: exhaustive, no wildcard arm, so a new
/// variant (in the core or a store) must be mapped here before the server compiles.
pub fn status(e: AppError) -> Status {
    let code = code(&e);
    if let AppError::InvalidArgument { field, message } = &e {
        let mut details = tonic_types::ErrorDetails::new();
        details.add_bad_request_violation(field.clone(), message.clone());
        use tonic_types::StatusExt;
        return Status::with_error_details(code, e.to_string(), details);
    }
    Status::new(code, e.to_string())
}

/// The gRPC code of a core error.
pub fn code(e: &AppError) -> Code {
    match e {
        AppError::Forbidden { .. } => Code::PermissionDenied,
        AppError::InvalidArgument { .. } | AppError::InvalidInstance { .. } => Code::InvalidArgument,
        AppError::Exhausted { limit: Limit::DiskSpace | Limit::InstanceSize, .. } => Code::ResourceExhausted,
        AppError::UnknownStudy { .. } | AppError::UnknownReport { .. } | AppError::UnknownInstance { .. } => {
            Code::NotFound
        }
        AppError::NotYourExam { .. } => Code::PermissionDenied,
        AppError::Report(_) => Code::Internal,
        AppError::NotHolder { .. } => Code::FailedPrecondition,
        AppError::AuditUnavailable { .. } => Code::Internal,
        AppError::Archive(a) => archive_code(a),
        AppError::Worklist(w) => worklist_code(w),
    }
}

fn worklist_code(e: &W) -> Code {
    match e {
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
    }
}

fn archive_code(e: &A) -> Code {
    match e {
        A::UnknownStudy { .. } | A::UnknownInstance { .. } | A::UnknownReport { .. } => Code::NotFound,
        A::Conflict { .. } => Code::AlreadyExists,
        A::ReportNotPending { .. } => Code::FailedPrecondition,
        A::Busy { .. } => Code::Unavailable,
        A::BadSha256 { .. } => Code::InvalidArgument,
        A::Io { .. } | A::Backend { .. } | A::SchemaTooNew { .. } | A::CorruptBlob { .. } | A::Corrupt { .. } => {
            Code::Internal
        }
    }
}

/// The upper-case name of a gRPC code, as `Rejection.code` carries it (`INVALID_ARGUMENT`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
