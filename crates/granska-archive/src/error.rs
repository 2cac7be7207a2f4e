//! The archive's one error type.

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
    /// A statement on the index failed.
    #[error("archive index error while {operation}: {source}")]
    Sqlite {
        /// What was being done.
        operation: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The index was written by a newer Granska.
    #[error("archive index schema version {found} is newer than this granska supports ({supported})")]
    SchemaTooNew {
        /// `user_version` in the file.
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
    /// A blob's bytes no longer match its name (disk corruption).
    #[error("blob {sha256} is corrupt: its content hashes to {found}")]
    CorruptBlob {
        /// The expected hash.
        sha256: String,
        /// The hash of what is on disk.
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

pub(crate) trait Ctx<T> {
    fn ctx(self, operation: &'static str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, operation: &'static str) -> Result<T> {
        self.map_err(|source| Error::Sqlite { operation, source })
    }
}

pub(crate) fn io<'a>(operation: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { operation, path: path.display().to_string(), source }
}
