//! The core's one error type. Every edge maps it exhaustively to its own protocol (gRPC status,
//! DIMSE status, HTTP status), so the variants say *what kind* of failure it is — refused by
//! role, bad argument, bad instance (unreadable vs. not a conformant mammogram), a limit, a
//! missing thing, a workflow conflict, a busy or failing store — and carry the typed source.

use granska_types::Role;

use crate::caller::Action;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The caller's role may not do this (gRPC PERMISSION_DENIED, DIMSE 0x0124, HTTP 403).
    #[error("role {role} may not call {action}")]
    Forbidden {
        /// The caller's role.
        role: Role,
        /// What it tried.
        action: Action,
    },
    /// An argument is malformed (gRPC INVALID_ARGUMENT, HTTP 400).
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The argument, as the caller named it.
        field: String,
        /// What was expected and what was found.
        message: String,
    },
    /// An instance was refused for its content (gRPC INVALID_ARGUMENT; DIMSE 0xC000 when it
    /// cannot be read at all, 0xA900 when it is DICOM but not a conformant mammogram).
    #[error("{kind}")]
    InvalidInstance {
        /// The offending attribute or tag, e.g. `ImageLaterality (0020,0062)`; `None` when
        /// the finding is about the whole instance (the edge names its payload field).
        field: Option<String>,
        /// Unreadable or not conformant.
        problem: InstanceProblem,
        /// The validator's finding (boxed: it is large, and errors travel by value).
        kind: Box<granska_dicom::ErrorKind>,
    },
    /// A configured limit refused the request (gRPC RESOURCE_EXHAUSTED, DIMSE 0xA700, HTTP
    /// 503 or 413).
    #[error("{message}")]
    Exhausted {
        /// Which limit.
        limit: Limit,
        /// What was asked and what the limit is.
        message: String,
    },
    /// No such study (gRPC NOT_FOUND, HTTP 404).
    #[error("unknown study {study_uid}")]
    UnknownStudy {
        /// The UID asked for.
        study_uid: String,
    },
    /// A reader asked for an image of an exam she holds and has held no task on (HTTP 403,
    /// gRPC PERMISSION_DENIED): readers see the exams they read, nothing else.
    #[error("study {study_uid}: you hold and have held no task on this exam")]
    NotYourExam {
        /// The exam.
        study_uid: String,
    },
    /// No stored instance with this SOP Instance UID in the study (HTTP 404, gRPC NOT_FOUND).
    #[error("unknown instance {sop_instance_uid}")]
    UnknownInstance {
        /// The UID asked for.
        sop_instance_uid: String,
    },
    /// The study has no such result report (gRPC NOT_FOUND, HTTP 404).
    #[error("study {study_uid} has no result report{}", sop_instance_uid.as_ref().map(|s| format!(" {s}")).unwrap_or_default())]
    UnknownReport {
        /// The study asked for.
        study_uid: String,
        /// The report asked for; `None`: the newest.
        sop_instance_uid: Option<String>,
    },
    /// The result report could not be built from the stored instances (gRPC INTERNAL).
    #[error(transparent)]
    Report(#[from] granska_report::ReportError),
    /// The audit record could not be written, so the access was refused: an unaudited access to
    /// patient data must not happen (gRPC INTERNAL, DIMSE 0x0110, HTTP 500).
    #[error("the audit log cannot be written; access refused")]
    AuditUnavailable {
        /// The archive's error.
        #[source]
        source: granska_archive::Error,
    },
    /// The archive refused or failed (the edge maps its variants: unknown, conflict, busy…).
    #[error(transparent)]
    Archive(#[from] granska_archive::Error),
    /// The caller does not hold this task (gRPC FAILED_PRECONDITION, HTTP 409). Unlike the
    /// worklist's own error it never names who does: a radiologist must not learn who else
    /// holds a task.
    #[error("task {task_id} is not held by you (it is {state})")]
    NotHolder {
        /// The task.
        task_id: granska_worklist::model::TaskId,
        /// Its state.
        state: granska_types::TaskState,
    },
    /// The worklist refused or failed (unknown task, lease expired, busy…).
    #[error(transparent)]
    Worklist(granska_worklist::Error),
}

impl From<granska_worklist::Error> for AppError {
    fn from(e: granska_worklist::Error) -> AppError {
        match e {
            granska_worklist::Error::NotHolder { task_id, state, .. } => AppError::NotHolder { task_id, state },
            other => AppError::Worklist(other),
        }
    }
}

/// Why an instance's content was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "kebab-case")]
pub enum InstanceProblem {
    /// Not DICOM, truncated, or unparseable.
    Unreadable,
    /// DICOM, but not a mammogram this service accepts (an attribute missing or invalid, a
    /// transfer syntax it cannot decode).
    NotConformant,
}

/// A configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::IntoStaticStr)]
pub enum Limit {
    /// `ingest.min_free_mib`: the data disk is nearly full.
    #[strum(serialize = "ingest.min_free_mib")]
    DiskSpace,
    /// `ingest.max_instance_mib`: one instance is too large.
    #[strum(serialize = "ingest.max_instance_mib")]
    InstanceSize,
}

impl AppError {
    /// The metric label of a refused instance.
    pub fn rejection_class(&self) -> &'static str {
        match self {
            // A finding about one attribute or tag, or about the instance as a whole (the
            // metric's labels since before the core existed).
            AppError::InvalidInstance { field: Some(_), .. } => "invalid-attribute",
            AppError::InvalidInstance { field: None, .. } => "not-dicom",
            AppError::Archive(granska_archive::Error::Conflict { .. }) => "conflict",
            AppError::Exhausted { limit: Limit::DiskSpace, .. } => "disk-space",
            AppError::Exhausted { limit: Limit::InstanceSize, .. } => "too-large",
            AppError::Forbidden { .. }
            | AppError::InvalidArgument { .. }
            | AppError::UnknownStudy { .. }
            | AppError::UnknownReport { .. }
            | AppError::NotYourExam { .. }
            | AppError::UnknownInstance { .. }
            | AppError::Report(_)
            | AppError::NotHolder { .. }
            | AppError::AuditUnavailable { .. }
            | AppError::Archive(_)
            | AppError::Worklist(_) => "internal",
        }
    }
}

/// A DICOM validation failure as an [`AppError::InvalidInstance`], naming its field when the
/// finding is about one attribute or tag.
pub fn invalid_instance(kind: granska_dicom::ErrorKind) -> AppError {
    use InstanceProblem::{NotConformant, Unreadable};
    use granska_dicom::ErrorKind as K;
    let (field, problem) = match &kind {
        K::Missing { attr, .. } | K::Invalid { attr, .. } | K::InvalidUid { attr, .. } => {
            (Some(attr.to_string()), NotConformant)
        }
        K::DeclaredLength { group, element, .. }
        | K::InvalidVr { group, element, .. }
        | K::UndefinedLength { group, element, .. }
        | K::MetaGroupInterrupted { group, element, .. } => (Some(format!("({group:04X},{element:04X})")), Unreadable),
        K::UnsupportedTransferSyntax { .. } => (Some("TransferSyntaxUID (0002,0010)".into()), NotConformant),
        K::NoPixelData | K::PixelDataTooShort { .. } | K::ImageTooLarge { .. } => (None, NotConformant),
        K::Io(_)
        | K::Empty
        | K::NotDicom { .. }
        | K::Inflate(_)
        | K::InflateTooLarge { .. }
        | K::Parse(_)
        | K::CodecPanic { .. }
        | K::Decode { .. } => (None, Unreadable),
    };
    AppError::InvalidInstance { field, problem, kind: Box::new(kind) }
}
