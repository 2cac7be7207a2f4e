//! Granska's application core: every use case — ingest an instance, complete a study, list,
//! watch, claim, release and submit reads, get a study, describe the models, the admin's
//! needs-attention queue — as one method of [`App`] taking the [`Caller`]. Each use case
//! authorises (role × [`Action`] table), does the work, writes the audit record and publishes
//! the worklist change itself, and answers with typed results or one [`AppError`].
//!
//! The edges (gRPC, DICOM, HTTP) only translate: protocol in → core call → protocol out, with
//! one exhaustive mapping of [`AppError`] each. Claiming studies to score from the shared
//! archive, the completion timers and the results outbox live here too ([`scoring`],
//! [`results`]), so no edge owns any state but its connections.
//!
//! State is behind the stores: the archive (instances, studies, scorings, audit) and the
//! worklist (`dyn WorklistStore`).
#![warn(missing_docs)]

mod audit_log;
pub mod auth;
mod caller;
mod error;
mod ingest;
pub mod maintenance;
pub mod metrics;
mod reading;
pub mod results;
pub mod scoring;
mod study;
#[cfg(feature = "testing")]
pub mod testing;
mod viewing;

use std::sync::Arc;
use std::time::Duration;

use granska_archive::ArchiveStore;
use granska_dicom::Profile;
use granska_model::Scorer;
use granska_triage::Policy;
use granska_worklist::WorklistStore;
use tokio::sync::broadcast;

pub use caller::{Action, Caller, Edge};
pub use error::{AppError, InstanceProblem, Limit, invalid_instance};
pub use ingest::{Ingested, Rejected};
pub use metrics::Metrics;
pub use reading::{ChangeStream, ClaimedExam, ExamTasks, ShownInstance, TaskView, WorklistView};
pub use results::{ResultSender, SendError};
pub use scoring::{Change, ChangeKind, ChangeRelay};
pub use study::{ModelsView, Overview, StudyView};
pub use viewing::ViewImage;

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    granska_worklist::Clock::now_ms(&granska_worklist::SystemClock)
}

/// Settings the core needs from the configuration.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Validation profile.
    pub profile: Profile,
    /// Quiet period before a study with fewer than four views is completed.
    pub quiet: Duration,
    /// Scoring timeout per exam.
    pub timeout: Duration,
    /// Scoring workers.
    pub workers: usize,
    /// Studies claimed ahead of the workers (the rest wait in the archive, claimable by any
    /// replica).
    pub queue: usize,
    /// This replica's name in the archive's scoring claims.
    pub replica: String,
    /// A scoring claim's lease (renewed every quarter of it while the study is scored).
    pub scoring_lease: Duration,
    /// Ingest is refused while the data disk has less free space.
    pub min_free_bytes: u64,
    /// The largest instance accepted, bytes (an edge that streams should refuse earlier, while
    /// receiving; this is the rule every edge shares).
    pub max_instance_bytes: usize,
    /// Failed scoring/routing attempts before a study is parked as needs-attention.
    pub max_attempts: u32,
    /// First retry delay; doubled per failed attempt, at most five minutes.
    pub retry_backoff: Duration,
    /// How a result SR is sent: first retry delay (doubled per attempt, at most ten minutes)
    /// and when to give up.
    pub results: ResultsOptions,
}

/// The results outbox's retry rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultsOptions {
    /// First retry delay after a failed send.
    pub retry_backoff: Duration,
    /// A report not delivered this long after it was made is marked failed (and counted).
    pub give_up_after: Duration,
}

impl Default for ResultsOptions {
    fn default() -> Self {
        ResultsOptions { retry_backoff: Duration::from_secs(5), give_up_after: Duration::from_secs(72 * 3600) }
    }
}

/// The running application; cheap to share (`Arc<App>`).
pub struct App {
    archive: Arc<dyn ArchiveStore>,
    worklist: Arc<dyn WorklistStore>,
    policy: Arc<Policy>,
    policy_toml: String,
    scorer: Arc<Scorer>,
    metrics: Metrics,
    changes: broadcast::Sender<Change>,
    stopping: tokio::sync::watch::Receiver<bool>,
    options: AppOptions,
    /// Wakes the claim loop (a study became complete here).
    scoring_due: Arc<tokio::sync::Notify>,
    /// The studies this replica has claimed and not finished (their leases are renewed).
    claimed: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    results: Option<Arc<dyn results::ResultSender>>,
    results_due: Arc<tokio::sync::Notify>,
    relay: Option<Arc<dyn scoring::ChangeRelay>>,
}

/// What [`App::start`] needs.
pub struct AppParts {
    /// Received instances, studies, scorings, audit.
    pub archive: Arc<dyn ArchiveStore>,
    /// The reading workflow.
    pub worklist: Arc<dyn WorklistStore>,
    /// The active triage policy and its TOML as loaded.
    pub policy: (Policy, String),
    /// The model and its engine.
    pub scorer: Arc<Scorer>,
    /// Where the core counts.
    pub metrics: Metrics,
    /// Where result SRs are sent; `None` keeps them in the archive only.
    pub results: Option<Arc<dyn results::ResultSender>>,
    /// Carries worklist changes to the other replicas; `None` on a single node.
    pub relay: Option<Arc<dyn scoring::ChangeRelay>>,
}

impl App {
    /// The metrics registry (an edge renders it).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether both stores answer now: the readiness check behind health (no caller: it
    /// touches no patient data). A store that does not answer within 5 s is not ready.
    pub async fn ready(&self) -> Result<(), String> {
        let (archive, worklist) = (self.archive.clone(), self.worklist.clone());
        let check = blocking(move || {
            archive.ping().map_err(|e| format!("archive: {e}"))?;
            worklist.ping().map_err(|e| format!("worklist: {e}"))
        });
        let result = match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
            Ok(r) => r,
            Err(_) => Err("the stores did not answer within 5 s".into()),
        };
        self.metrics.store_ready.set(i64::from(result.is_ok()));
        result
    }

    /// Becomes `true` when the application is stopping (long-lived streams end then).
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.clone()
    }

    /// Writes one audit record per study (or one without a study). If the audit log cannot be
    /// written, the access is refused: an unaudited access to patient data must not happen.
    async fn audit(
        &self,
        caller: &Caller,
        action: Action,
        studies: Vec<Option<String>>,
        outcome: String,
    ) -> Result<(), AppError> {
        let archive = self.archive.clone();
        let (principal, role) = (caller.principal.clone(), caller.role.as_str());
        let studies = if studies.is_empty() { vec![None] } else { studies };
        blocking(move || {
            let refs: Vec<Option<&str>> = studies.iter().map(|s| s.as_deref()).collect();
            archive.audit(now_ms(), &principal, role, action.name(), &refs, &outcome)
        })
        .await
        .map_err(|source| {
            tracing::error!(error = %source, "audit log write failed; refusing the access");
            AppError::AuditUnavailable { source }
        })
    }

    /// Audits a use case's result (`ok`, or `failed: why`) and passes it through; an audit
    /// failure replaces it.
    async fn audited<T>(
        &self,
        caller: &Caller,
        action: Action,
        studies: Vec<Option<String>>,
        result: Result<T, AppError>,
    ) -> Result<T, AppError> {
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("failed: {e}"),
        };
        self.audit(caller, action, studies, outcome).await?;
        result
    }
}

/// Runs a blocking closure (SQLite, file I/O, decoding) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        // A panic in a blocking task is a bug; surface it rather than hide it.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
