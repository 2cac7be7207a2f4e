//! The archive interface the server uses: every operation on received instances, study
//! assembly, scoring results, failures needing attention and the audit log. [`crate::Archive`]
//! (an SQLite index over a [`crate::BlobStore`]) implements it, and so does `PgArchive` (feature
//! `postgres`: a PostgreSQL index that several replicas share); every backend must pass the
//! same conformance suite (`conformance`, behind the feature of that name).
//!
//! Every method is atomic: it happens completely or not at all, and a method that returned
//! `Ok` is durable.

use std::path::Path;

use granska_types::ScoringRecord;

use crate::attention::FailureOutcome;
use crate::audit::{AuditFilter, AuditRecord};
use crate::error::Result;
use crate::index::{Attention, Completion, NewInstance, PutOutcome, StudyRecord};
use crate::maintenance::Removed;
use crate::reports::{NewReport, ReportAttempt, ReportRecord};

/// The durable archive.
pub trait ArchiveStore: Send + Sync {
    /// The local data directory (the server watches its free space). Every backend keeps its
    /// blobs or at least its spool there.
    fn root(&self) -> &Path;

    /// Stores one validated instance: the bytes first (durable), then its index row and the
    /// study's assembly state. The same UID with the same bytes is a `Duplicate`; with other
    /// bytes, [`crate::Error::Conflict`]. Returns once everything is durable, so an
    /// acknowledged instance survives a crash.
    fn put(&self, bytes: &[u8], instance: &NewInstance, now_ms: i64) -> Result<PutOutcome>;

    /// Marks a receiving study complete; `Ok(false)` when it already was complete or routed.
    fn complete(&self, study_uid: &str, why: Completion) -> Result<bool>;

    /// Receiving studies whose last instance arrived at or before `cutoff_ms`.
    fn quiet_studies(&self, cutoff_ms: i64) -> Result<Vec<String>>;

    /// Studies waiting to be scored (complete, not parked), oldest last instance first.
    fn pending(&self) -> Result<Vec<String>>;

    /// How many studies wait to be scored (those [`ArchiveStore::pending`] lists).
    fn pending_count(&self) -> Result<u64>;

    /// Whether the index answers now (the readiness check).
    fn ping(&self) -> Result<()>;

    /// Claims up to `limit` studies waiting to be scored (complete, not parked, and not held:
    /// never claimed, given back, or their claim ran out at or before `now_ms`) for `owner` until
    /// `until_ms`, oldest last instance first. Replicas claiming at once get different studies
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`). The claim is a lease, kept by
    /// [`ArchiveStore::renew_scoring`] and ended by [`ArchiveStore::release_scoring`]; a
    /// replica that dies stops renewing, and its studies are claimed again once it ran out.
    fn claim_scoring(&self, owner: &str, limit: usize, now_ms: i64, until_ms: i64) -> Result<Vec<String>>;

    /// Extends `owner`'s claims on `studies` to `until_ms`; returns the studies it still holds
    /// (one missing was claimed by another replica after it expired).
    fn renew_scoring(&self, owner: &str, studies: &[String], until_ms: i64) -> Result<Vec<String>>;

    /// Gives `owner`'s claim on a study back (nothing when another replica holds it).
    fn release_scoring(&self, owner: &str, study_uid: &str) -> Result<()>;

    /// Gives back every claim `owner` holds (a replica restarted under its name); how many.
    fn release_all_scoring(&self, owner: &str) -> Result<u64>;

    /// Records a scoring result for `generation`. The study becomes `routed` only if no
    /// instance arrived since that generation; returns whether it did (otherwise it stays
    /// `complete` and must be scored again). With `report` (the routing was applied to the
    /// worklist), a routed study's generation is queued for its result report in the same
    /// transaction ([`ArchiveStore::claim_unreported`]).
    fn record_scoring(
        &self,
        study_uid: &str,
        generation: i64,
        record: &ScoringRecord,
        report: bool,
        now_ms: i64,
    ) -> Result<bool>;

    /// Everything about one study, or `None` when nothing of it was received.
    fn study(&self, study_uid: &str) -> Result<Option<StudyRecord>>;

    /// A stored instance's bytes, checked against their sha256.
    fn read_blob(&self, sha256: &str) -> Result<Vec<u8>>;

    /// Number of instances and of their bytes stored (for metrics and tests).
    fn totals(&self) -> Result<(u64, u64)>;

    /// Appends audit records atomically, one per study an answer touches (`None`: no study).
    fn audit(
        &self,
        at_ms: i64,
        principal: &str,
        role: &str,
        action: &str,
        studies: &[Option<&str>],
        outcome: &str,
    ) -> Result<()>;

    /// Audit records matching `filter`, in commit order.
    fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;

    /// Records one failed scoring/routing attempt of a study with its reason; parks the study
    /// once `max_attempts` failures have been recorded since it was last stored or retried.
    fn record_failure(&self, study_uid: &str, reason: &str, max_attempts: u32, now_ms: i64) -> Result<FailureOutcome>;

    /// Every parked study, oldest failure first.
    fn needs_attention(&self) -> Result<Vec<Attention>>;

    /// How many studies are parked (for the metrics gauge).
    fn needs_attention_count(&self) -> Result<u64>;

    /// An admin's retry: forgets the failures of a study and returns `true` when it is waiting
    /// to be scored, so the caller queues it again. Unknown study → `UnknownStudy`.
    fn retry(&self, study_uid: &str) -> Result<bool>;

    /// Removes one stored instance (an admin's way out when a copy corrupted in transit was
    /// stored and the correct copy is refused). The study goes back to `receiving` with its
    /// quiet timer restarted; the blob is deleted when no other instance shares its bytes.
    fn remove_instance(&self, sop_instance_uid: &str, now_ms: i64) -> Result<Removed>;

    /// Keeps a result report: its bytes as a blob (durable), then its outbox row — `pending`
    /// with a destination, `kept` without — and, in the same transaction, takes its routing
    /// off the report queue and marks the study's older pending reports `superseded` (a
    /// stale result is not sent after a newer one). Unknown study → `UnknownStudy`.
    fn add_report(&self, report: &NewReport, bytes: &[u8], now_ms: i64) -> Result<ReportRecord>;

    /// Claims the pending reports due at `now_ms`, the longest waiting first, at most
    /// `limit`: each is due again only at `hold_until_ms` (unless its attempt is recorded
    /// first), so another replica does not send it meanwhile, and a replica that dies while
    /// sending leaves it to be sent again then.
    fn claim_due_reports(&self, now_ms: i64, limit: usize, hold_until_ms: i64) -> Result<Vec<ReportRecord>>;

    /// When the next pending report is due (`None`: nothing pending).
    fn next_report_due(&self) -> Result<Option<i64>>;

    /// Records one send attempt of a pending report: delivered (`sent`), retry later
    /// (`pending`, due then) or given up (`failed`). A report that is not pending →
    /// `ReportNotPending` (it was delivered once: never twice); unknown → `UnknownReport`.
    fn record_report_attempt(
        &self,
        sop_instance_uid: &str,
        attempt: &ReportAttempt,
        now_ms: i64,
    ) -> Result<ReportRecord>;

    /// A study's reports, oldest first.
    fn reports(&self, study_uid: &str) -> Result<Vec<ReportRecord>>;

    /// How many reports are in each state (for the metrics gauge).
    fn report_counts(&self) -> Result<Vec<(granska_types::ReportState, u64)>>;

    /// Claims routings queued for a report by [`ArchiveStore::record_scoring`] and not yet kept
    /// by [`ArchiveStore::add_report`], for the study's current generation, and not held by
    /// another claim at `now_ms`: `(study, generation)`, oldest first, at most `limit`, each
    /// held until `hold_until_ms` so that one replica alone makes its report.
    fn claim_unreported(&self, now_ms: i64, hold_until_ms: i64, limit: usize) -> Result<Vec<(String, i64)>>;
}
