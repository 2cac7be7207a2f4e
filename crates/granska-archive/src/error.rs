//! The archive's one error type. It is backend-neutral: an index failure is [`Error::Busy`]
//! (contention, retry later) or [`Error::Backend`] with an opaque [`BackendError`], whichever
//! store produced it.

/// Why an archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory of the data directory could not be read or written.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done, e.g. `writing blob`.
        operation: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The index stayed busy (another connection held the lock) for longer than its wait
    /// limit; nothing changed and the caller may retry later.
    #[error("archive index busy while {operation}, retry later: {source}")]
    Busy {
        /// What was being done.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// A statement on the index failed (I/O error, disk full, constraint…).
    #[error("archive index error while {operation}: {source}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The index was written by a newer Granska.
    #[error("archive index schema version {found} is newer than this granska supports ({supported})")]
    SchemaTooNew {
        /// The index's version: SQLite's `user_version`, PostgreSQL's `archive.schema_version`.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// The SOP Instance UID is already stored with different bytes.
    #[error("SOP Instance UID {sop_instance_uid} is already stored with other content (sha256 {stored_sha256})")]
    Conflict {
        /// The UID.
        sop_instance_uid: String,
        /// The sha256 of what is stored.
        stored_sha256: String,
    },
    /// No instance of this study has been received.
    #[error("unknown study {study_uid}")]
    UnknownStudy {
        /// The UID asked for.
        study_uid: String,
    },
    /// No instance with this SOP Instance UID is stored.
    #[error("unknown instance {sop_instance_uid}")]
    UnknownInstance {
        /// The UID asked for.
        sop_instance_uid: String,
    },
    /// No report with this SOP Instance UID.
    #[error("unknown report {sop_instance_uid}")]
    UnknownReport {
        /// The UID asked for.
        sop_instance_uid: String,
    },
    /// A send attempt was recorded for a report that is no longer pending.
    #[error("report {sop_instance_uid} is {state}, not pending: an attempt cannot be recorded")]
    ReportNotPending {
        /// The report.
        sop_instance_uid: String,
        /// Its state.
        state: granska_types::ReportState,
    },
    /// A blob's bytes no longer match its name (disk corruption).
    #[error("blob {sha256} is corrupt: its content hashes to {found}")]
    CorruptBlob {
        /// The expected hash.
        sha256: String,
        /// The hash of what is on disk.
        found: String,
    },
    /// A blob name that is not a sha256 (64 lower-case hex digits).
    #[error("blob name must be a sha256 (64 lower-case hex digits), found {found:?}")]
    BadSha256 {
        /// The name given.
        found: String,
    },
    /// A stored value this build cannot interpret.
    #[error("archive index holds an unexpected {what}: {found:?}")]
    Corrupt {
        /// What kind of value.
        what: &'static str,
        /// The value.
        found: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use granska_types::BackendError;

/// PostgreSQL's error as the crate's backend-neutral one: `Error::Busy` when retrying later may
/// succeed (lost connection, server restarting, deadlock, serialisation failure), else
/// `Error::Backend`.
#[cfg(feature = "postgres")]
pub(crate) fn pg(operation: &'static str, source: postgres::Error) -> Error {
    if granska_postgres::is_transient(&source) {
        Error::Busy { operation, source: BackendError::new(source) }
    } else {
        Error::Backend { operation, source: BackendError::new(source) }
    }
}

/// The shared PostgreSQL plumbing's error as the crate's one; `operation` says which step.
#[cfg(feature = "postgres")]
pub(crate) fn pg_plumbing(operation: &'static str) -> impl FnOnce(granska_postgres::Error) -> Error {
    use granska_postgres::Error as P;
    move |e| match e {
        P::SchemaTooNew { found, supported, .. } => Error::SchemaTooNew { found, supported },
        e if e.is_transient() => Error::Busy { operation, source: BackendError::new(e) },
        e => Error::Backend { operation, source: BackendError::new(e) },
    }
}

/// Attaches the operation to a SQLite error.
pub(crate) trait Ctx<T> {
    /// `Error::Busy` when SQLite gave up waiting for a lock, else `Error::Backend`.
    fn ctx(self, operation: &'static str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, operation: &'static str) -> Result<T> {
        self.map_err(|source| backend(operation, source))
    }
}

/// SQLite's error as the crate's backend-neutral one.
pub(crate) fn backend(operation: &'static str, source: rusqlite::Error) -> Error {
    if granska_sqlite::is_busy(&source) {
        Error::Busy { operation, source: BackendError::new(source) }
    } else {
        Error::Backend { operation, source: BackendError::new(source) }
    }
}

/// The shared SQLite plumbing's error as the crate's one; `operation` says which step.
pub(crate) fn plumbing(operation: &'static str) -> impl FnOnce(granska_sqlite::Error) -> Error {
    use granska_sqlite::Error as P;
    move |e| match e {
        P::Create { path, source } => Error::Io { operation: "creating", path: path.display().to_string(), source },
        P::SchemaTooNew { found, supported } => Error::SchemaTooNew { found, supported },
        P::Open { source, .. }
        | P::SchemaVersion { source }
        | P::Migration { source, .. }
        | P::Backup { source, .. } => backend(operation, source),
        P::NotWal { found, .. } => Error::Corrupt { what: "journal mode after asking for WAL", found },
    }
}

pub(crate) fn io<'a>(operation: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { operation, path: path.display().to_string(), source }
}
