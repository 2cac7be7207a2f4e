//! Scoring: the queue from complete studies to the scoring workers, the quiet-period timer,
//! recovery after a restart, and routing the result to the worklist.
//!
//! - a study becomes complete with its four standard views, after the quiet period, or on
//!   CompleteStudy; an instance after routing re-opens it for re-scoring;
//! - complete studies go through a bounded queue (ingest waits when it is full: backpressure)
//!   to the scoring workers, whose views share the engine's inference batches;
//! - the exam result → triage policy → worklist; the result is recorded in the archive, and the
//!   study is `routed` only if no instance arrived meanwhile (otherwise it is scored again);
//! - any failure (decode, model, timeout) routes the exam to double reading with the reason;
//!   a failure to *route* (storage) is retried with backoff and, after `max_attempts`, parks
//!   the study as needs-attention.
//!
//! The archive's study states are the durable queue: on start every `complete` study is queued
//! again and every `receiving` one gets its quiet timer from its last instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use granska_archive::{ArchiveStore, Completion, StudyRecord, StudyState};
use granska_dicom::{DicomFile, Profile};
use granska_model::exam::ViewInput;
use granska_model::{ExamResult, ExamStatus, Scorer};
use granska_triage::{Assessment, Category};
use granska_types::{SCORING_RECORD_VERSION, ScoringRecord, ViewScore};
use granska_worklist::model::RouteInput;
use tokio::sync::{Mutex, broadcast, mpsc};

use crate::{App, AppError, AppOptions, AppParts, blocking, now_ms};

/// The longest wait between two scoring attempts of a study.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A change on the worklist, for Watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The exam (empty for [`ChangeKind::Resync`]).
    pub study_uid: String,
    /// What happened.
    pub change: ChangeKind,
    /// The task, when one changed.
    pub task: Option<(granska_worklist::model::TaskId, granska_worklist::model::TaskKind)>,
    /// When, Unix ms.
    pub at_ms: i64,
}

pub use granska_types::ChangeKind;

impl App {
    /// Starts the scoring workers, the quiet timer and the recovery of unfinished studies;
    /// everything stops when `stopping` becomes `true`.
    pub fn start(parts: AppParts, options: AppOptions, stopping: tokio::sync::watch::Receiver<bool>) -> Arc<App> {
        let (queue, rx) = mpsc::channel(options.queue.max(1));
        let (changes, _) = broadcast::channel(1024);
        let AppParts { archive, worklist, policy: (policy, policy_toml), scorer, metrics, results } = parts;
        let pipeline = Arc::new(App {
            archive,
            worklist,
            policy: Arc::new(policy),
            policy_toml,
            scorer,
            metrics,
            changes,
            stopping,
            options,
            queue,
            results,
            results_due: Arc::new(tokio::sync::Notify::new()),
        });
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..pipeline.options.workers.max(1) {
            let (p, rx) = (pipeline.clone(), rx.clone());
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(uid) = next else { break };
                    p.metrics.queue_depth.dec();
                    p.score_and_route(&uid).await;
                }
            });
        }
        let p = pipeline.clone();
        tokio::spawn(async move { p.quiet_timer().await });
        tokio::spawn(pipeline.clone().results_loop());
        let p = pipeline.clone();
        tokio::spawn(async move { p.refresh_attention_gauge().await });
        let p = pipeline.clone();
        tokio::spawn(async move {
            let archive = p.archive.clone();
            match blocking(move || archive.pending()).await {
                Ok(pending) => {
                    if !pending.is_empty() {
                        tracing::info!(studies = pending.len(), "re-queueing complete studies not yet routed");
                    }
                    for uid in pending {
                        p.enqueue(uid).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot list studies to score on start"),
            }
        });
        pipeline
    }

    pub(crate) async fn enqueue(&self, study_uid: String) {
        self.metrics.queue_depth.inc();
        if self.queue.send(study_uid).await.is_err() {
            self.metrics.queue_depth.dec();
        }
    }

    /// Publishes a worklist change (nobody listening is fine).
    pub(crate) fn publish(
        &self,
        study_uid: &str,
        change: ChangeKind,
        task: Option<(granska_worklist::model::TaskId, granska_worklist::model::TaskKind)>,
    ) {
        let _ = self.changes.send(Change { study_uid: study_uid.to_owned(), change, task, at_ms: now_ms() });
    }

    async fn quiet_timer(&self) {
        let period = (self.options.quiet / 10).clamp(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            tokio::time::sleep(period).await;
            // A new instance or an admin's retry un-parks a study: keep the gauge current.
            self.refresh_attention_gauge().await;
            let archive = self.archive.clone();
            let cutoff = now_ms() - self.options.quiet.as_millis() as i64;
            let completed = blocking(move || {
                let mut done = Vec::new();
                for uid in archive.quiet_studies(cutoff)? {
                    if archive.complete(&uid, Completion::QuietPeriod)? {
                        done.push(uid);
                    }
                }
                Ok::<_, granska_archive::Error>(done)
            })
            .await;
            match completed {
                Ok(uids) => {
                    for uid in uids {
                        tracing::info!(study_uid = %uid, "study complete after the quiet period");
                        self.enqueue(uid).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "quiet-period check failed"),
            }
        }
    }

    /// Scores one complete study and routes it. Never loses it: on a storage failure the study
    /// stays `complete` and is queued again after a pause.
    async fn score_and_route(self: &Arc<Self>, study_uid: &str) {
        let archive = self.archive.clone();
        let uid = study_uid.to_owned();
        let record = match blocking(move || archive.study(&uid)).await {
            Ok(Some(r)) if r.state == StudyState::Complete => r,
            Ok(_) => return, // already routed by an earlier queue entry, or parked
            Err(e) => {
                self.failed_attempt(study_uid, format!("cannot load the study for scoring: {e}")).await;
                return;
            }
        };
        self.metrics.scoring_in_flight.inc();
        let started = Instant::now();
        let (archive, scorer, profile) = (self.archive.clone(), self.scorer.clone(), self.options.profile);
        let rec = record.clone();
        let task = tokio::task::spawn_blocking(move || score(&*archive, &scorer, &rec, profile));
        let scoring = match tokio::time::timeout(self.options.timeout, task).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => failed(format!("scoring failed: {e}")),
            Err(_) => failed(format!("scoring timed out after {} s", self.options.timeout.as_secs())),
        };
        self.metrics.scoring_in_flight.dec();
        self.metrics.observe("score", started.elapsed().as_secs_f64());
        if let Err(e) = self.route(&record, &scoring).await {
            self.failed_attempt(study_uid, format!("cannot route the exam: {e}")).await;
        }
    }

    /// A scoring or routing attempt failed after the study was acknowledged: record it durably,
    /// then retry with exponential backoff, or, after `max_attempts`, park the study as
    /// needs-attention (listed for the admin, counted in metrics) instead of looping for ever.
    async fn failed_attempt(self: &Arc<Self>, study_uid: &str, reason: String) {
        self.metrics.scoring_failures.inc();
        let (archive, uid, why, max) =
            (self.archive.clone(), study_uid.to_owned(), reason.clone(), self.options.max_attempts);
        let recorded = blocking(move || archive.record_failure(&uid, &why, max, now_ms())).await;
        let attempts = match recorded {
            Ok(outcome) if outcome.parked => {
                tracing::error!(study_uid, attempts = outcome.attempts, reason = %reason,
                    "study needs attention: scoring/routing failed repeatedly; listed for the admin");
                self.refresh_attention_gauge().await;
                return;
            }
            Ok(outcome) => outcome.attempts,
            Err(e) => {
                // Even the failure cannot be written (disk, database): retry at the longest
                // backoff; the study stays `complete`, so a restart queues it again.
                tracing::error!(study_uid, error = %e, "cannot record a scoring failure");
                u32::MAX
            }
        };
        let delay = self.options.retry_backoff.saturating_mul(1 << attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF);
        tracing::warn!(study_uid, attempts, retry_in_s = delay.as_secs_f64(), reason = %reason, "scoring/routing failed; will retry");
        let (p, uid) = (self.clone(), study_uid.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            p.enqueue(uid).await;
        });
    }

    /// Sets the needs-attention gauge from the archive.
    pub(crate) async fn refresh_attention_gauge(&self) {
        let archive = self.archive.clone();
        match blocking(move || archive.needs_attention_count()).await {
            Ok(n) => self.metrics.needs_attention.set(n as i64),
            Err(e) => tracing::error!(error = %e, "cannot count studies that need attention"),
        }
    }

    /// Forgets a study's failures and queues it if it waits for scoring.
    pub(crate) async fn requeue(&self, study_uid: &str) -> Result<bool, granska_archive::Error> {
        let (archive, uid) = (self.archive.clone(), study_uid.to_owned());
        let queued = blocking(move || archive.retry(&uid)).await?;
        if queued {
            self.enqueue(study_uid.to_owned()).await;
        }
        self.refresh_attention_gauge().await;
        Ok(queued)
    }

    async fn route(self: &Arc<Self>, record: &StudyRecord, scoring: &ScoringRecord) -> Result<(), AppError> {
        let assessment = assessment(scoring);
        let decision = self.policy.decide(&assessment);
        let status = match assessment {
            Assessment::Scored { .. } => ExamStatus::Scored,
            Assessment::Incomplete { .. } => ExamStatus::Incomplete,
            Assessment::Unscorable { .. } => ExamStatus::Unscorable,
        };
        let input = RouteInput {
            study_uid: record.study_uid.clone(),
            waiting_since_ms: record.first_received_ms,
            status,
            model: scoring.model.clone(),
            raw_score: scoring.exam_score,
            category: scoring.category.map(u8::from),
            extra_high: scoring.extra_high,
            policy: self.policy.id(),
            decision: decision.clone(),
        };
        let (worklist, archive) = (self.worklist.clone(), self.archive.clone());
        let stored = scoring.clone();
        let (uid, generation) = (record.study_uid.clone(), record.generation);
        let (outcome, routed) = blocking(move || {
            let outcome = worklist.route(&input)?;
            // A routing the worklist did not apply (reading had started) gets no report: the
            // PACS learns only what is in force.
            let routed = archive.record_scoring(&uid, generation, &stored, outcome.applied, now_ms())?;
            Ok::<_, AppError>((outcome, routed))
        })
        .await?;
        let category = scoring.category.map_or("none".to_owned(), |c| c.to_string());
        self.metrics.exams_routed.with_label_values(&[&category, decision.mode.as_str()]).inc();
        self.metrics.observe("last_instance_to_worklist", (now_ms() - record.last_received_ms).max(0) as f64 / 1000.0);
        tracing::info!(
            study_uid = %record.study_uid,
            status = %scoring.status,
            category = ?scoring.category,
            reading_mode = %decision.mode,
            applied = outcome.applied,
            "exam routed"
        );
        if outcome.applied {
            let change = if outcome.superseded.is_some() { ChangeKind::Rerouted } else { ChangeKind::Routed };
            self.publish(&record.study_uid, change, None);
        }
        if routed {
            self.reports_due();
        } else {
            // An instance arrived while scoring: score the newer generation.
            self.enqueue(record.study_uid.clone()).await;
        }
        Ok(())
    }
}

/// What the policy decides on: a scoring as an assessment.
pub(crate) fn assessment(scoring: &ScoringRecord) -> Assessment {
    match (scoring.status, scoring.category) {
        (ExamStatus::Scored, Some(category)) => Assessment::Scored { category, extra_high: scoring.extra_high },
        (ExamStatus::Incomplete, _) => Assessment::Incomplete { reason: scoring.reason.clone().unwrap_or_default() },
        (ExamStatus::Scored | ExamStatus::Unscorable, _) => {
            Assessment::Unscorable { reason: scoring.reason.clone().unwrap_or_else(|| "no score".into()) }
        }
    }
}

/// Bytes available to this process on the file system holding `dir` (0 when unknown, so a
/// disk that cannot even be asked refuses ingest rather than filling up).
pub fn free_bytes(dir: &std::path::Path) -> u64 {
    match rustix::fs::statvfs(dir) {
        Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the free space of the data directory");
            0
        }
    }
}

fn failed(reason: String) -> ScoringRecord {
    ScoringRecord::unscorable(reason)
}

/// Reads, decodes and scores every instance of a study (blocking).
fn score(archive: &dyn ArchiveStore, scorer: &Scorer, record: &StudyRecord, profile: Profile) -> ScoringRecord {
    let started = Instant::now();
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for i in &record.instances {
        let label = format!("{}-{} {}", i.instance.laterality, i.instance.view, i.instance.sop_instance_uid);
        // Each view is read in isolation: whatever fails on one (even a panic in a codec)
        // costs that view only; the exam is scored on the rest and says why.
        let view = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let bytes = archive.read_blob(&i.sha256).map_err(|e| e.to_string())?;
            let file = DicomFile::from_vec(bytes, &label).map_err(|e| e.to_string())?;
            let meta = file.mammogram(profile).map_err(|e| e.to_string())?;
            let pixels = file.pixels();
            Ok::<_, String>(ViewInput { source: label.clone(), meta, pixels })
        }));
        match view {
            Ok(Ok(input)) => inputs.push(input),
            Ok(Err(e)) => unreadable.push(e),
            Err(_) => unreadable.push(format!("{label}: reading the instance failed (internal error)")),
        }
    }
    let decode_ms = started.elapsed().as_secs_f64() * 1e3;
    if inputs.is_empty() {
        return failed(if unreadable.is_empty() { "no instances".into() } else { unreadable.join("; ") });
    }
    let result: ExamResult = scorer.score_exam(&record.study_uid, inputs, decode_ms);
    // A calibration that gives no valid category makes the exam unscorable, with why; the
    // model, its score and the views stay on record (every routing names its model).
    let (category, invalid_category) = match result.category.map(Category::new) {
        None => (None, None),
        Some(Ok(c)) => (Some(c), None),
        Some(Err(e)) => (None, Some(format!("model gave an invalid category: {e}"))),
    };
    let mut stored = ScoringRecord {
        version: SCORING_RECORD_VERSION,
        status: result.status,
        reason: result.reason.clone(),
        exam_score: result.exam_score,
        category,
        extra_high: result.extra_high,
        views: result
            .views
            .iter()
            .map(|v| ViewScore {
                sop_instance_uid: v.sop_instance_uid.clone(),
                laterality: v.laterality,
                view: v.view,
                score: v.score,
                error: v.error.as_ref().map(|e| e.to_string()),
            })
            .collect(),
        model: Some(result.model.clone()),
    };
    if let Some(why) = invalid_category {
        stored.status = ExamStatus::Unscorable;
        stored.reason = Some(why);
    }
    if !unreadable.is_empty() {
        // Instances that could not even be read from the archive make the exam incomplete.
        if stored.status == ExamStatus::Scored {
            stored.status = ExamStatus::Incomplete;
        }
        let extra = unreadable.join("; ");
        stored.reason = Some(match stored.reason.take() {
            Some(r) => format!("{r}; {extra}"),
            None => extra,
        });
    }
    stored
}
