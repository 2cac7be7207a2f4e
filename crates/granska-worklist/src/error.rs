//! The worklist's one error type: every refusal names the task, study or request concerned.
//!
//! It is backend-neutral: a storage failure is [`Error::Busy`] (contention, retry later) or
//! [`Error::Backend`] with an opaque [`BackendError`], whichever store produced it.

use crate::model::{TaskId, TaskState};

/// Why a worklist operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened or configured.
    #[error("cannot open worklist database {path}: {source}")]
    Open {
        /// The file or connection target.
        path: String,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The database file could not be created with owner-only permissions.
    #[error("cannot create worklist database {path}: {source}")]
    Create {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The backend stayed busy (another connection held the lock) for longer than its wait
    /// limit; nothing changed and the caller may retry later.
    #[error("worklist database busy while {operation}, retry later: {source}")]
    Busy {
        /// What was being done, e.g. `claiming a task`.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// A statement failed (I/O error, disk full, constraint…).
    #[error("worklist database error while {operation}: {source}")]
    Backend {
        /// What was being done, e.g. `claiming a task`.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The database was written by a newer Granska.
    #[error("worklist database schema version {found} is newer than this granska supports ({supported})")]
    SchemaTooNew {
        /// `user_version` found in the file.
        found: i64,
        /// The newest migration this build knows.
        supported: i64,
    },
    /// A migration failed; the database is left at the version before it.
    #[error("worklist database migration to version {version} failed: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// No exam with this StudyInstanceUID has been routed.
    #[error("unknown study {study_uid}")]
    UnknownStudy {
        /// The UID asked for.
        study_uid: String,
    },
    /// No task with this id.
    #[error("unknown task {task_id}")]
    UnknownTask {
        /// The id asked for.
        task_id: TaskId,
    },
    /// The reader does not hold this task.
    #[error("task {task_id} is not claimed by {reader} (it is {state}{})", holder_text(.holder))]
    NotHolder {
        /// The task.
        task_id: TaskId,
        /// Who asked.
        reader: String,
        /// The task's state.
        state: TaskState,
        /// Who holds it, if anyone (only for the caller's own diagnostics; the server does not
        /// forward other readers' ids to radiologists).
        holder: Option<String>,
    },
    /// The reader's lease ran out before the submit; the task may be claimed again.
    #[error("the lease of {reader} on task {task_id} expired {:.1} s ago; claim it again", *.expired_ms_ago as f64 / 1000.0)]
    LeaseExpired {
        /// The task.
        task_id: TaskId,
        /// Who asked.
        reader: String,
        /// How long ago the lease ended, ms.
        expired_ms_ago: i64,
    },
    /// The request id was used before for a different submission.
    #[error("request id {request_id:?} was already used for a different submission (task {task_id})")]
    RequestIdReused {
        /// The request id.
        request_id: String,
        /// The task the first use submitted.
        task_id: TaskId,
    },
    /// An argument is out of range.
    #[error("{field} must be {expected}, found {found}")]
    InvalidInput {
        /// The argument.
        field: &'static str,
        /// What is accepted.
        expected: &'static str,
        /// What was given.
        found: String,
    },
    /// A stored value this build cannot interpret (a corrupted or foreign database).
    #[error("worklist database holds an unexpected {what}: {found:?}")]
    Corrupt {
        /// The column or value kind.
        what: &'static str,
        /// The stored value.
        found: String,
    },
}

pub use granska_types::BackendError;

fn holder_text(holder: &Option<String>) -> String {
    match holder {
        Some(h) => format!(" by {h}"),
        None => String::new(),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
