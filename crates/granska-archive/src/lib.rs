//! The archive: what Granska has received, durably.
//!
//! - a content-addressed blob store (`blobs/ab/cd/<sha256>`), each blob written to a temporary
//!   file, fsync'd, renamed into place and its directory fsync'd before the index refers to it;
//! - an SQLite index (WAL, `synchronous = FULL`) of instances and studies, with each study's
//!   assembly state: `receiving` → `complete` (waiting to be scored) → `routed`; an instance
//!   arriving after routing sends the study back to `complete` (re-scoring);
//! - every scoring result ever recorded (JSON, newest last);
//! - the studies whose scoring or routing failed after acknowledgement (`attention`): retried,
//!   then parked as `needs-attention` with their reason until an admin or a new instance;
//! - the audit log of accesses to studies;
//! - the result reports (CAD SRs) made for routings, with their outbox state.
//!
//! The server sees all of this through [`ArchiveStore`] (and the bytes through [`BlobStore`]);
//! [`Archive`] is the SQLite + local-disk implementation, and `PgArchive` (feature `postgres`)
//! keeps the index in PostgreSQL for several replicas sharing one database and one blob
//! directory. Both pass the same conformance suite. Errors are backend-neutral
//! ([`Error::Busy`], [`Error::Backend`]).
//!
//! An instance is acknowledged to its sender only after [`ArchiveStore::put`] returned, so an
//! acknowledged instance survives a crash or power loss.
#![warn(missing_docs)]

mod attention;
mod audit;
mod blobs;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod index;
mod maintenance;
#[cfg(feature = "postgres")]
mod postgres;
mod reports;
mod store;

pub use attention::FailureOutcome;
pub use audit::{AuditFilter, AuditRecord};
pub use blobs::{BlobStore, LocalBlobs, sha256_hex};
pub use error::{BackendError, Error, Result};
pub use granska_types::Uid;
pub use index::{
    Archive, Attention, Completion, InstanceRecord, NewInstance, PutOutcome, RecordedScoring, STANDARD_VIEWS,
    StudyRecord, StudyState,
};
pub use maintenance::{CheckReport, Removed};
#[cfg(feature = "postgres")]
pub use postgres::PgArchive;
pub use reports::{NewReport, ReportAttempt, ReportRecord};
pub use store::ArchiveStore;
