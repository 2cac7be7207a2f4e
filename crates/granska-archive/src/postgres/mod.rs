//! The archive with its index in PostgreSQL ([`PgArchive`]), for running several replicas of
//! the server on one database. The blobs stay content-addressed files ([`LocalBlobs`]) under
//! the data directory that every replica mounts: written fsync-then-rename, so two replicas
//! writing the same blob is harmless.
//!
//! Concurrency, across processes: every operation is one transaction (READ COMMITTED for
//! writes). A writer locks the study's row (`SELECT … FOR UPDATE`) before deciding anything
//! about the study, so its state machine (`receiving` → `complete` → `routed`, generations)
//! moves one transaction at a time; inserts that may race (the same instance from two
//! replicas, a new study, a queued routing) are arbitrated by unique constraints with
//! `ON CONFLICT` and a re-read; a report's row is locked before a send attempt is recorded, so
//! it is never recorded as delivered twice. Blob files are guarded by transaction-scoped
//! advisory locks (see `txn::lock_blob`). Deadlocks and serialisation failures are retried a
//! few times before the caller hears [`crate::Error::Busy`].

mod attention;
mod audit;
mod index;
mod maintenance;
mod reports;
mod txn;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use granska_postgres::{Migration, Pool, PoolOptions};
use granska_types::ScoringRecord;

use crate::attention::FailureOutcome;
use crate::audit::{AuditFilter, AuditRecord};
use crate::blobs::{BlobStore, LocalBlobs};
use crate::error::{Result, io, pg_plumbing};
use crate::index::{Attention, Completion, NewInstance, PutOutcome, StudyRecord};
use crate::maintenance::Removed;
use crate::reports::{NewReport, ReportAttempt, ReportRecord};
use crate::store::ArchiveStore;

/// The PostgreSQL schema the archive's tables live in (sessions see it first on their
/// `search_path`, so the SQL is unqualified).
const SCHEMA: &str = "archive";

/// The index's migrations, oldest first (tracked in `archive.schema_version`). Never edit one
/// that has shipped; add a new one.
const MIGRATIONS: &[Migration] =
    &[Migration { name: "0001_initial", sql: include_str!("../../migrations/postgres/0001_initial.sql") }];

/// The archive on a PostgreSQL index (schema `archive`) and a [`BlobStore`], by default
/// [`LocalBlobs`] in `<data_dir>/blobs/`. Any number of `PgArchive`s, in one process or many,
/// may share one database and one data directory; each operation of [`ArchiveStore`] is
/// atomic and behaves as it does on the SQLite [`crate::Archive`].
pub struct PgArchive {
    root: PathBuf,
    blobs: Arc<dyn BlobStore>,
    pool: Pool,
}

impl std::fmt::Debug for PgArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgArchive")
            .field("root", &self.root)
            .field("database", &self.pool.target())
            .finish_non_exhaustive()
    }
}

impl PgArchive {
    /// Connects to the database, brings schema `archive` to this build's version (refusing a
    /// newer one: [`crate::Error::SchemaTooNew`]) and keeps the blobs under
    /// `data_dir/blobs/` (created owner-only), laid out as [`crate::Archive::open`] lays them.
    pub fn open(pg: &PoolOptions, data_dir: impl AsRef<Path>) -> Result<Self> {
        let root = data_dir.as_ref().to_path_buf();
        let blobs = root.join("blobs");
        granska_types::private::create_dir_all(&root).map_err(io("creating", &root))?;
        granska_types::private::create_dir_all(&blobs).map_err(io("creating", &blobs))?;
        PgArchive::open_with_blobs(pg, root, Arc::new(LocalBlobs::new(blobs)))
    }

    /// Connects and migrates as [`PgArchive::open`] does, over another blob store;
    /// `data_dir` (created owner-only) is still the archive's [`ArchiveStore::root`].
    pub fn open_with_blobs(pg: &PoolOptions, data_dir: impl AsRef<Path>, blobs: Arc<dyn BlobStore>) -> Result<Self> {
        let root = data_dir.as_ref().to_path_buf();
        granska_types::private::create_dir_all(&root).map_err(io("creating", &root))?;
        let pool = granska_postgres::pool(pg, SCHEMA).map_err(pg_plumbing("connecting to the archive index"))?;
        let mut client = pool.get().map_err(pg_plumbing("connecting to the archive index"))?;
        granska_postgres::migrate(&mut client, SCHEMA, MIGRATIONS)
            .map_err(pg_plumbing("migrating the archive index"))?;
        drop(client);
        Ok(PgArchive { root, blobs, pool })
    }

    /// Where the instances' bytes are.
    pub fn blobs(&self) -> &dyn BlobStore {
        self.blobs.as_ref()
    }
}

// The operations are crate-private inherent methods next to their SQL (index, attention,
// audit, reports, maintenance), as for the SQLite archive; `PgArchive::name` resolves to the
// inherent method, not to the trait's.
impl ArchiveStore for PgArchive {
    fn root(&self) -> &Path {
        &self.root
    }

    fn put(&self, bytes: &[u8], instance: &NewInstance, now_ms: i64) -> Result<PutOutcome> {
        PgArchive::put(self, bytes, instance, now_ms)
    }

    fn complete(&self, study_uid: &str, why: Completion) -> Result<bool> {
        PgArchive::complete(self, study_uid, why)
    }

    fn quiet_studies(&self, cutoff_ms: i64) -> Result<Vec<String>> {
        PgArchive::quiet_studies(self, cutoff_ms)
    }

    fn pending(&self) -> Result<Vec<String>> {
        PgArchive::pending(self)
    }

    fn ping(&self) -> Result<()> {
        PgArchive::ping(self)
    }

    fn pending_count(&self) -> Result<u64> {
        PgArchive::pending_count(self)
    }

    fn claim_scoring(&self, owner: &str, limit: usize, now_ms: i64, until_ms: i64) -> Result<Vec<String>> {
        PgArchive::claim_scoring(self, owner, limit, now_ms, until_ms)
    }

    fn renew_scoring(&self, owner: &str, studies: &[String], until_ms: i64) -> Result<Vec<String>> {
        PgArchive::renew_scoring(self, owner, studies, until_ms)
    }

    fn release_scoring(&self, owner: &str, study_uid: &str) -> Result<()> {
        PgArchive::release_scoring(self, owner, study_uid)
    }

    fn release_all_scoring(&self, owner: &str) -> Result<u64> {
        PgArchive::release_all_scoring(self, owner)
    }

    fn record_scoring(
        &self,
        study_uid: &str,
        generation: i64,
        record: &ScoringRecord,
        report: bool,
        now_ms: i64,
    ) -> Result<bool> {
        PgArchive::record_scoring(self, study_uid, generation, record, report, now_ms)
    }

    fn study(&self, study_uid: &str) -> Result<Option<StudyRecord>> {
        PgArchive::study(self, study_uid)
    }

    fn read_blob(&self, sha256: &str) -> Result<Vec<u8>> {
        self.blobs.read(sha256)
    }

    fn totals(&self) -> Result<(u64, u64)> {
        PgArchive::totals(self)
    }

    fn audit(
        &self,
        at_ms: i64,
        principal: &str,
        role: &str,
        action: &str,
        studies: &[Option<&str>],
        outcome: &str,
    ) -> Result<()> {
        PgArchive::audit(self, at_ms, principal, role, action, studies, outcome)
    }

    fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        PgArchive::audit_records(self, filter)
    }

    fn record_failure(&self, study_uid: &str, reason: &str, max_attempts: u32, now_ms: i64) -> Result<FailureOutcome> {
        PgArchive::record_failure(self, study_uid, reason, max_attempts, now_ms)
    }

    fn needs_attention(&self) -> Result<Vec<Attention>> {
        PgArchive::needs_attention(self)
    }

    fn needs_attention_count(&self) -> Result<u64> {
        PgArchive::needs_attention_count(self)
    }

    fn retry(&self, study_uid: &str) -> Result<bool> {
        PgArchive::retry(self, study_uid)
    }

    fn remove_instance(&self, sop_instance_uid: &str, now_ms: i64) -> Result<Removed> {
        PgArchive::remove_instance(self, sop_instance_uid, now_ms)
    }

    fn add_report(&self, report: &NewReport, bytes: &[u8], now_ms: i64) -> Result<ReportRecord> {
        PgArchive::add_report(self, report, bytes, now_ms)
    }

    fn claim_due_reports(&self, now_ms: i64, limit: usize, hold_until_ms: i64) -> Result<Vec<ReportRecord>> {
        PgArchive::claim_due_reports(self, now_ms, limit, hold_until_ms)
    }

    fn next_report_due(&self) -> Result<Option<i64>> {
        PgArchive::next_report_due(self)
    }

    fn record_report_attempt(
        &self,
        sop_instance_uid: &str,
        attempt: &ReportAttempt,
        now_ms: i64,
    ) -> Result<ReportRecord> {
        PgArchive::record_report_attempt(self, sop_instance_uid, attempt, now_ms)
    }

    fn reports(&self, study_uid: &str) -> Result<Vec<ReportRecord>> {
        PgArchive::reports(self, study_uid)
    }

    fn report_counts(&self) -> Result<Vec<(granska_types::ReportState, u64)>> {
        PgArchive::report_counts(self)
    }

    fn claim_unreported(&self, now_ms: i64, hold_until_ms: i64, limit: usize) -> Result<Vec<(String, i64)>> {
        PgArchive::claim_unreported(self, now_ms, hold_until_ms, limit)
    }
}
