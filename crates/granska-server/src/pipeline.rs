//! The ingest → store → assemble → score → route pipeline.
//!
//! - `ingest`: validate (strict profile by default) → archive (blob + index, durable) → answer.
//!   A study becomes complete with its four standard views, after the quiet period, or on
//!   CompleteStudy; an instance after routing re-opens it for re-scoring.
//! - complete studies go through a bounded queue (ingest waits when it is full: backpressure)
//!   to the scoring workers, whose views share the engine's inference batches;
//! - the exam result → triage policy → worklist; the result is recorded in the archive, and the
//!   study is `routed` only if no instance arrived meanwhile (otherwise it is scored again);
//! - any failure (decode, model, timeout) routes the exam to double reading with the reason.
//!
//! The archive's study states are the durable queue: on start every `complete` study is queued
//! again and every `receiving` one gets its quiet timer from its last instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use granska_archive::{ArchiveStore, Completion, NewInstance, PutOutcome, StudyRecord, StudyState};
use granska_dicom::{DicomFile, ErrorKind, Profile};
use granska_model::exam::ViewInput;
use granska_model::{ExamResult, ExamStatus, Scorer};
use granska_triage::{Assessment, Category, Policy};
use granska_worklist::model::{ModelRef, RouteInput, ScoreStatus};
use granska_worklist::{SqliteStore, WorklistStore};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, broadcast, mpsc};

use crate::metrics::Metrics;

/// The longest wait between two scoring attempts of a study.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    granska_worklist::Clock::now_ms(&granska_worklist::SystemClock)
}

/// A change on the worklist, for Watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The exam.
    pub study_uid: String,
    /// routed | rerouted | claimed | released | read | consensus | final
    pub change: &'static str,
    /// The task, 0 for none.
    pub task_id: i64,
    /// The task's kind, empty for none.
    pub task_kind: String,
    /// When, Unix ms.
    pub at_ms: i64,
}

/// Why an instance was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// gRPC code name (INVALID_ARGUMENT, ALREADY_EXISTS, RESOURCE_EXHAUSTED, INTERNAL).
    pub code: &'static str,
    /// One line.
    pub message: String,
    /// (field, description) pairs.
    pub violations: Vec<(String, String)>,
    /// UIDs, when the header could be read.
    pub sop_instance_uid: String,
    /// Study UID, when the header could be read.
    pub study_uid: String,
}

/// An acknowledged instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// `false`: stored now; `true`: it was stored before.
    pub duplicate: bool,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// sha256 of the bytes.
    pub sha256: String,
}

/// A scoring result as recorded in the archive (the JSON of [`ExamResult`], or a failure).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredScoring {
    /// scored | incomplete | unscorable
    pub status: String,
    /// Why incomplete or unscorable.
    pub reason: Option<String>,
    /// Exam score.
    pub exam_score: Option<f64>,
    /// Category.
    pub category: Option<u8>,
    /// Extra-high.
    #[serde(default)]
    pub extra_high: bool,
    /// Per view.
    #[serde(default)]
    pub views: Vec<StoredView>,
    /// The model, when one ran.
    pub model: Option<StoredModel>,
}

/// One view of a [`StoredScoring`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredView {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// L | R
    pub laterality: String,
    /// CC | MLO | …
    pub view: String,
    /// Probability.
    pub score: Option<f64>,
    /// Why not scored.
    pub error: Option<String>,
}

/// The model of a [`StoredScoring`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredModel {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// sha256 of model.onnx.
    pub sha256: String,
}

/// Settings the pipeline needs from the configuration.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Validation profile.
    pub profile: Profile,
    /// Quiet period before a study with fewer than four views is completed.
    pub quiet: Duration,
    /// Scoring timeout per exam.
    pub timeout: Duration,
    /// Scoring workers.
    pub workers: usize,
    /// Queue length.
    pub queue: usize,
    /// Ingest is refused (RESOURCE_EXHAUSTED) while the data disk has less free space.
    pub min_free_bytes: u64,
    /// Failed scoring/routing attempts before a study is parked as needs-attention.
    pub max_attempts: u32,
    /// First retry delay; doubled per failed attempt, at most five minutes.
    pub retry_backoff: Duration,
}

/// The running pipeline; cheap to share.
pub struct Pipeline {
    /// The archive.
    pub archive: Arc<dyn ArchiveStore>,
    /// The worklist.
    pub worklist: Arc<SqliteStore>,
    /// The active policy.
    pub policy: Arc<Policy>,
    /// The model and its engine.
    pub scorer: Arc<Scorer>,
    /// Metrics.
    pub metrics: Metrics,
    /// Worklist changes, for Watch.
    pub changes: broadcast::Sender<Change>,
    /// Becomes `true` when the server is stopping (long-lived streams end then).
    pub stopping: tokio::sync::watch::Receiver<bool>,
    options: PipelineOptions,
    queue: mpsc::Sender<String>,
}

/// Runs a blocking closure (SQLite, file I/O, decoding) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        // A panic in a blocking task is a bug; surface it rather than hide it.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl Pipeline {
    /// Starts the workers, the quiet timer and the recovery of unfinished studies.
    pub fn start(
        archive: Arc<dyn ArchiveStore>,
        worklist: Arc<SqliteStore>,
        policy: Arc<Policy>,
        scorer: Arc<Scorer>,
        metrics: Metrics,
        options: PipelineOptions,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Arc<Pipeline> {
        let (queue, rx) = mpsc::channel(options.queue.max(1));
        let (changes, _) = broadcast::channel(1024);
        let pipeline =
            Arc::new(Pipeline { archive, worklist, policy, scorer, metrics, changes, stopping, options, queue });
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

    async fn enqueue(&self, study_uid: String) {
        self.metrics.queue_depth.inc();
        if self.queue.send(study_uid).await.is_err() {
            self.metrics.queue_depth.dec();
        }
    }

    /// Publishes a worklist change (nobody listening is fine).
    pub fn publish(&self, study_uid: &str, change: &'static str, task_id: i64, task_kind: &str) {
        let _ = self.changes.send(Change {
            study_uid: study_uid.to_owned(),
            change,
            task_id,
            task_kind: task_kind.to_owned(),
            at_ms: now_ms(),
        });
    }

    /// Validates and stores one uploaded instance.
    pub async fn ingest(&self, bytes: Vec<u8>, instance_ref: String) -> Result<Ingested, Rejected> {
        let started = Instant::now();
        let profile = self.options.profile;
        let archive = self.archive.clone();
        let size = bytes.len() as u64;
        let min_free = self.options.min_free_bytes;
        let outcome = blocking(move || {
            let file = DicomFile::from_bytes(&bytes, &instance_ref).map_err(|e| rejection(&e.kind, "", ""))?;
            let meta = file.mammogram(profile).map_err(|e| {
                // Name the instance when its header could be read, even though it is refused.
                let (sop, study) = file.identifying_uids();
                rejection(&e.kind, &sop, &study)
            })?;
            let (patient_id, patient_name) = file.patient_identity();
            let free = free_bytes(archive.root());
            if free < min_free {
                return Err(Rejected {
                    code: "RESOURCE_EXHAUSTED",
                    message: format!(
                        "the data disk has {} MiB free, below ingest.min_free_mib = {} MiB: ingest is paused \
                         (reading and scoring go on); free space and re-send",
                        free >> 20,
                        min_free >> 20
                    ),
                    violations: vec![("ingest.min_free_mib".into(), "free disk space below the watermark".into())],
                    sop_instance_uid: meta.sop_instance_uid.to_string(),
                    study_uid: meta.study_instance_uid.to_string(),
                });
            }
            let instance = NewInstance {
                sop_instance_uid: meta.sop_instance_uid.clone(),
                study_uid: meta.study_instance_uid.clone(),
                series_uid: meta.series_instance_uid.clone(),
                sop_class_uid: meta.sop_class_uid.clone(),
                laterality: meta.laterality.code().to_owned(),
                view: meta.view.code().to_owned(),
                transfer_syntax_uid: file.transfer_syntax_uid().to_owned(),
                patient_id,
                patient_name,
            };
            let put = archive.put(&bytes, &instance, now_ms()).map_err(|e| {
                let code = match e {
                    granska_archive::Error::Conflict { .. } => "ALREADY_EXISTS",
                    _ => "INTERNAL",
                };
                Rejected {
                    code,
                    message: e.to_string(),
                    violations: vec![("SOPInstanceUID (0008,0018)".into(), e.to_string())],
                    sop_instance_uid: instance.sop_instance_uid.to_string(),
                    study_uid: instance.study_uid.to_string(),
                }
            })?;
            Ok::<_, Rejected>((instance, put))
        })
        .await;
        let (instance, put) = match outcome {
            Ok(v) => v,
            Err(r) => {
                self.metrics.rejections.with_label_values(&[reason_class(&r)]).inc();
                return Err(r);
            }
        };
        self.metrics.observe("store", started.elapsed().as_secs_f64());
        let (duplicate, sha256) = match put {
            PutOutcome::Duplicate { sha256 } => {
                self.metrics.duplicates.inc();
                (true, sha256)
            }
            PutOutcome::Stored { sha256, became_complete, .. } => {
                self.metrics.instances.inc();
                self.metrics.bytes.inc_by(size);
                tracing::debug!(study_uid = %instance.study_uid, sop_instance_uid = %instance.sop_instance_uid, "instance stored");
                if became_complete {
                    self.enqueue(instance.study_uid.to_string()).await;
                }
                (false, sha256)
            }
        };
        Ok(Ingested {
            duplicate,
            sop_instance_uid: instance.sop_instance_uid.into_string(),
            study_uid: instance.study_uid.into_string(),
            sha256,
        })
    }

    /// CompleteStudy: `Ok(completed_now, state)`.
    pub async fn complete(&self, study_uid: &str) -> Result<(bool, StudyState), granska_archive::Error> {
        let archive = self.archive.clone();
        let uid = study_uid.to_owned();
        let (now, state) = blocking(move || {
            let now = archive.complete(&uid, Completion::CompleteStudyCall)?;
            let state = archive.study(&uid)?.map_or(StudyState::Receiving, |s| s.state);
            Ok::<_, granska_archive::Error>((now, state))
        })
        .await?;
        if now {
            self.enqueue(study_uid.to_owned()).await;
        }
        Ok((now, state))
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
    pub async fn refresh_attention_gauge(&self) {
        let archive = self.archive.clone();
        match blocking(move || archive.needs_attention_count()).await {
            Ok(n) => self.metrics.needs_attention.set(n as i64),
            Err(e) => tracing::error!(error = %e, "cannot count studies that need attention"),
        }
    }

    /// An admin's retry of a study: forgets its failures and queues it if it waits for scoring.
    pub async fn retry(&self, study_uid: &str) -> Result<bool, granska_archive::Error> {
        let (archive, uid) = (self.archive.clone(), study_uid.to_owned());
        let queued = blocking(move || archive.retry(&uid)).await?;
        if queued {
            self.enqueue(study_uid.to_owned()).await;
        }
        self.refresh_attention_gauge().await;
        Ok(queued)
    }

    async fn route(self: &Arc<Self>, record: &StudyRecord, scoring: &StoredScoring) -> Result<(), String> {
        let assessment = match (scoring.status.as_str(), scoring.category) {
            ("scored", Some(c)) => match Category::new(c) {
                Ok(category) => Assessment::Scored { category, extra_high: scoring.extra_high },
                Err(e) => Assessment::Unscorable { reason: format!("model gave an invalid category: {e}") },
            },
            ("incomplete", _) => Assessment::Incomplete { reason: scoring.reason.clone().unwrap_or_default() },
            _ => Assessment::Unscorable { reason: scoring.reason.clone().unwrap_or_else(|| "no score".into()) },
        };
        let decision = self.policy.decide(&assessment);
        let status = match assessment {
            Assessment::Scored { .. } => ScoreStatus::Scored,
            Assessment::Incomplete { .. } => ScoreStatus::Incomplete,
            Assessment::Unscorable { .. } => ScoreStatus::Unscorable,
        };
        let input = RouteInput {
            study_uid: record.study_uid.clone(),
            waiting_since_ms: record.first_received_ms,
            status,
            model: scoring.model.as_ref().map(|m| ModelRef {
                name: m.name.clone(),
                version: m.version.clone(),
                sha256: m.sha256.clone(),
            }),
            raw_score: scoring.exam_score,
            category: scoring.category,
            extra_high: scoring.extra_high,
            policy: self.policy.id(),
            decision: decision.clone(),
        };
        let (worklist, archive) = (self.worklist.clone(), self.archive.clone());
        let json = serde_json::to_string(scoring).map_err(|e| e.to_string())?;
        let (uid, generation) = (record.study_uid.clone(), record.generation);
        let (outcome, routed) = blocking(move || {
            let outcome = worklist.route(&input).map_err(|e| e.to_string())?;
            let routed = archive.record_scoring(&uid, generation, &json, now_ms()).map_err(|e| e.to_string())?;
            Ok::<_, String>((outcome, routed))
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
            let change = if outcome.superseded.is_some() { "rerouted" } else { "routed" };
            self.publish(&record.study_uid, change, 0, "");
        }
        if !routed {
            // An instance arrived while scoring: score the newer generation.
            self.enqueue(record.study_uid.clone()).await;
        }
        Ok(())
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

fn failed(reason: String) -> StoredScoring {
    StoredScoring { status: "unscorable".into(), reason: Some(reason), ..StoredScoring::default() }
}

/// Reads, decodes and scores every instance of a study (blocking).
fn score(archive: &dyn ArchiveStore, scorer: &Scorer, record: &StudyRecord, profile: Profile) -> StoredScoring {
    let started = Instant::now();
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for i in &record.instances {
        let label = format!("{}-{} {}", i.instance.laterality, i.instance.view, i.instance.sop_instance_uid);
        // Each view is read in isolation: whatever fails on one (even a panic in a codec)
        // costs that view only; the exam is scored on the rest and says why.
        let view = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let bytes = archive.read_blob(&i.sha256).map_err(|e| e.to_string())?;
            let file = DicomFile::from_bytes(&bytes, &label).map_err(|e| e.to_string())?;
            let meta = file.mammogram(profile).map_err(|e| e.to_string())?;
            let pixels = file.pixels().map_err(|e| e.to_string());
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
    let mut stored = StoredScoring {
        status: match result.status {
            ExamStatus::Scored => "scored",
            ExamStatus::Incomplete => "incomplete",
            ExamStatus::Unscorable => "unscorable",
        }
        .into(),
        reason: result.reason.clone(),
        exam_score: result.exam_score,
        category: result.category,
        extra_high: result.extra_high,
        views: result
            .views
            .iter()
            .map(|v| StoredView {
                sop_instance_uid: v.sop_instance_uid.clone(),
                laterality: v.laterality.code().to_owned(),
                view: v.view.code().to_owned(),
                score: v.score,
                error: v.error.clone(),
            })
            .collect(),
        model: Some(StoredModel {
            name: result.model.name.clone(),
            version: result.model.version.clone(),
            sha256: result.model.sha256.clone(),
        }),
    };
    if !unreadable.is_empty() {
        // Instances that could not even be read from the archive make the exam incomplete.
        if stored.status == "scored" {
            stored.status = "incomplete".into();
        }
        let extra = unreadable.join("; ");
        stored.reason = Some(match stored.reason.take() {
            Some(r) => format!("{r}; {extra}"),
            None => extra,
        });
    }
    stored
}

/// A DICOM error as a rejection with field-level violations.
fn rejection(kind: &ErrorKind, sop: &str, study: &str) -> Rejected {
    let field = match kind {
        ErrorKind::Missing { attr, .. } | ErrorKind::Invalid { attr, .. } | ErrorKind::InvalidUid { attr, .. } => {
            attr.to_string()
        }
        ErrorKind::DeclaredLength { group, element, .. }
        | ErrorKind::InvalidVr { group, element, .. }
        | ErrorKind::UndefinedLength { group, element, .. }
        | ErrorKind::MetaGroupInterrupted { group, element, .. } => {
            format!("({group:04X},{element:04X})")
        }
        ErrorKind::UnsupportedTransferSyntax { .. } => "TransferSyntaxUID (0002,0010)".into(),
        _ => "UploadChunk.data".into(),
    };
    Rejected {
        code: "INVALID_ARGUMENT",
        message: kind.to_string(),
        violations: vec![(field, kind.to_string())],
        sop_instance_uid: sop.to_owned(),
        study_uid: study.to_owned(),
    }
}

/// A short label for the rejections metric.
fn reason_class(r: &Rejected) -> &'static str {
    match r.code {
        "ALREADY_EXISTS" => "conflict",
        "INVALID_ARGUMENT" if r.violations.iter().any(|(f, _)| f.contains('(')) => "invalid-attribute",
        "INVALID_ARGUMENT" => "not-dicom",
        _ => "internal",
    }
}
