//! The HTTP edge's errors, and the one exhaustive mapping of the core's [`AppError`] to HTTP:
//! [`status`] for a request that fails as a whole, [`failure_reason`] for one instance of a
//! STOW-RS request (its (0008,1197) FailureReason). Neither has a wildcard arm, so a new
//! variant of the core or of a store must be mapped here before this crate compiles.

use axum::http::StatusCode;
use granska_app::{AppError, InstanceProblem, Limit};
use granska_archive::Error as A;
use granska_worklist::Error as W;

/// Why the HTTP edge stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listener failed (its address could not be read, or accepting failed for good).
    #[error("http listener: {0}")]
    Io(#[from] std::io::Error),
}

/// A STOW-RS FailureReason (0008,1197): the DIMSE status family PS3.18 §10.5.3 reuses for an
/// instance that was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum FailureReason {
    /// 0110H Processing failure: the server failed (the audit log, the archive), not the
    /// instance.
    ProcessingFailure = 0x0110,
    /// 0124H Refused: not authorised. Never sent in a FailedSOPSequence: a caller whose role
    /// may not store is refused as a whole request (403).
    NotAuthorized = 0x0124,
    /// A700H Out of resources: the disk is nearly full, a store is busy, or the instance is
    /// over the size cap. The first two pass; re-send later.
    OutOfResources = 0xA700,
    /// A900H Data set does not match SOP class: DICOM, but not a mammogram this service
    /// accepts, or not of the study the request's path names.
    DataSetDoesNotMatchSopClass = 0xA900,
    /// C000H Cannot understand: not DICOM, truncated, unparseable, or a part whose media type
    /// is not `application/dicom`.
    CannotUnderstand = 0xC000,
    /// C122H Referenced transfer syntax not supported: a transfer syntax Granska cannot decode.
    TransferSyntaxNotSupported = 0xC122,
}

impl FailureReason {
    /// The value written as (0008,1197), US.
    pub fn code(self) -> u16 {
        self as u16
    }
}

/// A core error that fails a whole station request: its status and message.
pub(crate) fn response(e: &AppError) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status(e), e.to_string()).into_response()
}

/// The HTTP status of a core error that fails a whole request.
pub fn status(e: &AppError) -> StatusCode {
    match e {
        AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
        AppError::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
        // STOW-RS: "409 Conflict" is the answer when no instance was stored because of what
        // they are (PS3.18 §10.5.3).
        AppError::InvalidInstance { .. } => StatusCode::CONFLICT,
        AppError::Exhausted { limit: Limit::InstanceSize, .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::Exhausted { limit: Limit::DiskSpace, .. } => StatusCode::SERVICE_UNAVAILABLE,
        AppError::UnknownStudy { .. } | AppError::UnknownReport { .. } | AppError::UnknownInstance { .. } => {
            StatusCode::NOT_FOUND
        }
        AppError::NotYourExam { .. } => StatusCode::FORBIDDEN,
        AppError::Report(_) => StatusCode::INTERNAL_SERVER_ERROR,
        AppError::AuditUnavailable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        AppError::NotHolder { .. } => StatusCode::CONFLICT,
        AppError::Archive(a) => archive_status(a),
        AppError::Worklist(w) => worklist_status(w),
    }
}

fn archive_status(e: &A) -> StatusCode {
    match e {
        A::UnknownStudy { .. } | A::UnknownInstance { .. } | A::UnknownReport { .. } => StatusCode::NOT_FOUND,
        A::Conflict { .. } | A::ReportNotPending { .. } => StatusCode::CONFLICT,
        A::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        A::BadSha256 { .. } => StatusCode::BAD_REQUEST,
        A::Io { .. } | A::Backend { .. } | A::SchemaTooNew { .. } | A::CorruptBlob { .. } | A::Corrupt { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn worklist_status(e: &W) -> StatusCode {
    match e {
        W::UnknownStudy { .. } | W::UnknownTask { .. } => StatusCode::NOT_FOUND,
        W::NotHolder { .. } | W::LeaseExpired { .. } | W::RequestIdReused { .. } => StatusCode::CONFLICT,
        W::InvalidInput { .. } => StatusCode::BAD_REQUEST,
        W::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        W::Open { .. }
        | W::Create { .. }
        | W::Backend { .. }
        | W::SchemaTooNew { .. }
        | W::Migration { .. }
        | W::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The FailureReason of one STOW-RS instance the core refused.
pub fn failure_reason(e: &AppError) -> FailureReason {
    use FailureReason::*;
    match e {
        AppError::Forbidden { .. } => NotAuthorized,
        AppError::InvalidInstance { problem: InstanceProblem::Unreadable, .. } => CannotUnderstand,
        AppError::InvalidInstance { problem: InstanceProblem::NotConformant, kind, .. } => {
            if matches!(**kind, granska_dicom::ErrorKind::UnsupportedTransferSyntax { .. }) {
                TransferSyntaxNotSupported
            } else {
                DataSetDoesNotMatchSopClass
            }
        }
        AppError::Exhausted { limit: Limit::InstanceSize | Limit::DiskSpace, .. } => OutOfResources,
        AppError::InvalidArgument { .. } => CannotUnderstand,
        AppError::UnknownStudy { .. }
        | AppError::UnknownReport { .. }
        | AppError::NotYourExam { .. }
        | AppError::UnknownInstance { .. }
        | AppError::Report(_)
        | AppError::NotHolder { .. }
        | AppError::AuditUnavailable { .. } => ProcessingFailure,
        AppError::Archive(a) => match a {
            A::Busy { .. } => OutOfResources,
            // The same SOP Instance UID already stored with other bytes: PS3.18 has no
            // "duplicate" reason; the instance is refused, the server did not fail, but 0110H
            // is the nearest code (C-STORE peers use it for this too). The 409 says conflict.
            A::Conflict { .. }
            | A::UnknownStudy { .. }
            | A::UnknownInstance { .. }
            | A::UnknownReport { .. }
            | A::ReportNotPending { .. }
            | A::BadSha256 { .. }
            | A::Io { .. }
            | A::Backend { .. }
            | A::SchemaTooNew { .. }
            | A::CorruptBlob { .. }
            | A::Corrupt { .. } => ProcessingFailure,
        },
        AppError::Worklist(w) => match w {
            W::Busy { .. } => OutOfResources,
            W::UnknownStudy { .. }
            | W::UnknownTask { .. }
            | W::NotHolder { .. }
            | W::LeaseExpired { .. }
            | W::RequestIdReused { .. }
            | W::InvalidInput { .. }
            | W::Open { .. }
            | W::Create { .. }
            | W::Backend { .. }
            | W::SchemaTooNew { .. }
            | W::Migration { .. }
            | W::Corrupt { .. } => ProcessingFailure,
        },
    }
}
