//! Scoring: claiming complete studies from the archive for the scoring workers, the
//! quiet-period timer, and routing the result to the worklist.
//!
//! - a study becomes complete with its four standard views, after the quiet period, or on
//!   CompleteStudy; an instance after routing re-opens it for re-scoring;
//! - the archive's complete studies are the queue, shared by every replica: a replica claims
//!   only as many as its workers can start (`scoring.workers` + `scoring.queue`), each with a
//!   lease it renews while scoring; a replica that dies stops renewing, and its studies are
//!   claimed by another once the lease ran out. A replica restarted under its name takes its
//!   own claims back at once;
//! - the exam result → triage policy → worklist; the result is recorded in the archive, and the
//!   study is `routed` only if no instance arrived meanwhile (otherwise it is scored again);
//! - any failure (decode, model, timeout) routes the exam to double reading with the reason;
//!   a failure to *route* (storage) is retried with backoff and, after `max_attempts`, parks
//!   the study as needs-attention.
//!
//! The archive's study states are the durable queue: nothing is lost with a replica, and the
//! quiet timer is a due time in the archive (the last instance's time), fired by whichever
//! replica looks first (completing is idempotent).

use std::collections::HashSet;
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
/// How often a replica looks for studies to claim when nothing woke it: the studies other
/// replicas completed or gave back, and the claims that expired.
const CLAIM_POLL: Duration = Duration::from_secs(1);
/// How often the gauges read from the shared state are refreshed.
const GAUGE_REFRESH: Duration = Duration::from_secs(5);

/// What becomes of a claimed study after one scoring attempt.
#[derive(Debug, Clone, Copy)]
enum AfterScoring {
    /// Done here (routed, parked, or to be claimed again for a newer generation).
    Release,
    /// Failed: hold the claim until the retry is due, so no replica retries sooner.
    RetryIn(Duration),
    /// Another replica took the study over; nothing of it is this replica's any more.
    Lost,
}

/// A change on the worklist, for Watch (and, as JSON, for the other replicas' watchers).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Carries the changes this replica commits to the other replicas' watchers (PostgreSQL
/// `LISTEN`/`NOTIFY`); a single node has none. What the other replicas send comes back
/// through [`App::relayed`].
pub trait ChangeRelay: Send + Sync {
    /// Sends one change; must not block (a relay that cannot keep up drops, and the other
    /// replicas' watchers are told to resync when it recovers).
    fn send(&self, change: &Change);
}

impl App {
    /// Starts the scoring workers, the quiet timer and the recovery of unfinished studies;
    /// everything stops when `stopping` becomes `true`.
    pub fn start(parts: AppParts, options: AppOptions, stopping: tokio::sync::watch::Receiver<bool>) -> Arc<App> {
        let (changes, _) = broadcast::channel(1024);
        let AppParts { archive, worklist, policy: (policy, policy_toml), scorer, metrics, results, relay } = parts;
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
            scoring_due: Arc::new(tokio::sync::Notify::new()),
            claimed: Arc::new(std::sync::Mutex::new(HashSet::new())),
            results,
            results_due: Arc::new(tokio::sync::Notify::new()),
            relay,
        });
        // Claimed studies wait here for a worker: the channel's capacity bounds what this
        // replica holds beyond the studies being scored.
        let (work, rx) = mpsc::channel::<String>(pipeline.options.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..pipeline.options.workers.max(1) {
            let (p, rx) = (pipeline.clone(), rx.clone());
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(uid) = next else { break };
                    let after = p.score_and_route(&uid).await;
                    p.finish_claim(&uid, after).await;
                }
            });
        }
        tokio::spawn(pipeline.clone().claim_loop(work));
        tokio::spawn(pipeline.clone().renew_claims());
        let p = pipeline.clone();
        tokio::spawn(async move { p.quiet_timer().await });
        tokio::spawn(pipeline.clone().results_loop());
        let p = pipeline.clone();
        tokio::spawn(async move { p.refresh_gauges().await });
        pipeline
    }

    /// Wakes the claim loop: a study became complete (or was given back) here.
    pub(crate) fn score_soon(&self) {
        self.scoring_due.notify_one();
    }

    /// Claims studies for the workers whenever there is room and something may be waiting:
    /// woken by [`App::score_soon`], and every [`CLAIM_POLL`] for the studies other
    /// replicas completed or gave back, and the claims that expired.
    async fn claim_loop(self: Arc<Self>, work: mpsc::Sender<String>) {
        let me = self.options.replica.clone();
        // A replica restarted under its name takes back what its previous life held.
        let (archive, owner) = (self.archive.clone(), me.clone());
        match blocking(move || archive.release_all_scoring(&owner)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(studies = n, "taking back the scoring claims of this replica's previous run"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release this replica's earlier scoring claims; they expire with their lease")
            }
        }
        let mut stopping = self.stopping.clone();
        loop {
            let room = work.capacity();
            if room > 0 {
                let (archive, owner, lease) = (self.archive.clone(), me.clone(), self.lease_ms());
                let now = now_ms();
                match blocking(move || archive.claim_scoring(&owner, room, now, now + lease)).await {
                    Ok(uids) => {
                        let full = uids.len() == room;
                        for uid in uids {
                            // Already held here (its lease ran out while this replica was cut
                            // off from the database, and this claim only renewed it): the
                            // worker that has it goes on.
                            if !self.claimed_set().insert(uid.clone()) {
                                continue;
                            }
                            if work.send(uid).await.is_err() {
                                return;
                            }
                        }
                        if full {
                            // There may be more: claim again as soon as a worker takes one.
                            let stop = tokio::select! {
                                _ = tokio::time::sleep(Duration::from_millis(20)) => false,
                                _ = stopping.wait_for(|s| *s) => true,
                            };
                            if stop {
                                break;
                            }
                            continue;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot claim studies to score; retrying"),
                }
            }
            let stop = tokio::select! {
                _ = self.scoring_due.notified() => false,
                _ = tokio::time::sleep(CLAIM_POLL) => false,
                _ = stopping.wait_for(|s| *s) => true,
            };
            if stop {
                break;
            }
        }
        // Stopping: give every claim back, so other replicas need not wait for the leases. A
        // worker still scoring finds its claim gone before routing and drops its result.
        let (archive, owner) = (self.archive.clone(), me);
        if let Err(e) = blocking(move || archive.release_all_scoring(&owner)).await {
            tracing::warn!(error = %e, "cannot give the scoring claims back on stopping; they expire with their leases");
        }
    }

    /// Renews the leases of every study this replica holds, every quarter of the lease.
    async fn renew_claims(self: Arc<Self>) {
        let mut stopping = self.stopping.clone();
        let every = Duration::from_millis((self.lease_ms() / 4).max(100) as u64);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            let held: Vec<String> = self.claimed_set().iter().cloned().collect();
            if held.is_empty() {
                continue;
            }
            let (archive, owner, until) =
                (self.archive.clone(), self.options.replica.clone(), now_ms() + self.lease_ms());
            let asked = held.clone();
            match blocking(move || archive.renew_scoring(&owner, &asked, until)).await {
                Ok(kept) if kept.len() < held.len() => {
                    tracing::warn!(
                        lost = held.len() - kept.len(),
                        "scoring claims expired and were taken by another replica (this one stalled); their results will not be routed here"
                    );
                    // Forget them here, so that claiming one again later is a fresh claim.
                    let mut set = self.claimed_set();
                    for uid in held.iter().filter(|u| !kept.contains(u)) {
                        set.remove(uid);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew scoring claims; another replica takes them over if this lasts past the lease")
                }
            }
        }
    }

    fn claimed_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // Only inserts and removes under the lock: a poisoned set is still consistent.
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lease_ms(&self) -> i64 {
        self.options.scoring_lease.as_millis().max(1000) as i64
    }

    /// Ends this replica's part in a study's scoring: the claim is given back (or kept until
    /// the retry is due, so that no replica retries sooner).
    async fn finish_claim(&self, study_uid: &str, after: AfterScoring) {
        self.claimed_set().remove(study_uid);
        let (archive, owner, uid) = (self.archive.clone(), self.options.replica.clone(), study_uid.to_owned());
        let result = match after {
            AfterScoring::Release => blocking(move || archive.release_scoring(&owner, &uid)).await,
            AfterScoring::RetryIn(delay) => {
                let until = now_ms() + delay.as_millis() as i64;
                blocking(move || archive.renew_scoring(&owner, &[uid], until).map(drop)).await
            }
            AfterScoring::Lost => Ok(()),
        };
        if let Err(e) = result {
            // The claim then simply expires with its lease.
            tracing::warn!(study_uid, error = %e, "cannot end a scoring claim; it expires with its lease");
        }
        if matches!(after, AfterScoring::Release) {
            self.score_soon();
        }
    }

    /// Publishes a worklist change (nobody listening is fine).
    pub(crate) fn publish(
        &self,
        study_uid: &str,
        change: ChangeKind,
        task: Option<(granska_worklist::model::TaskId, granska_worklist::model::TaskKind)>,
    ) {
        let change = Change { study_uid: study_uid.to_owned(), change, task, at_ms: now_ms() };
        if let Some(relay) = &self.relay {
            relay.send(&change);
        }
        let _ = self.changes.send(change);
    }

    /// Hands a change another replica committed to this replica's watchers; after the relay
    /// lost contact, a [`ChangeKind::Resync`] tells them to list again.
    pub fn relayed(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    async fn quiet_timer(&self) {
        let period = (self.options.quiet / 10).clamp(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            tokio::time::sleep(period).await;
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
                    for uid in &uids {
                        tracing::info!(study_uid = %uid, "study complete after the quiet period");
                    }
                    if !uids.is_empty() {
                        self.score_soon();
                    }
                }
                Err(e) => tracing::error!(error = %e, "quiet-period check failed"),
            }
        }
    }

    /// Scores one complete study this replica holds and routes it. Never loses it: on a
    /// storage failure the study stays `complete` and is retried after a pause.
    async fn score_and_route(self: &Arc<Self>, study_uid: &str) -> AfterScoring {
        let archive = self.archive.clone();
        let uid = study_uid.to_owned();
        let record = match blocking(move || archive.study(&uid)).await {
            Ok(Some(r)) if r.state == StudyState::Complete => r,
            Ok(_) => return AfterScoring::Release, // routed meanwhile, or removed
            Err(e) => return self.failed_attempt(study_uid, format!("cannot load the study for scoring: {e}")).await,
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
        // Route only while this replica still holds the study: if it stalled past the lease,
        // another replica has it and routes it (a study generation is routed once).
        let (archive, owner, uid, until) =
            (self.archive.clone(), self.options.replica.clone(), study_uid.to_owned(), now_ms() + self.lease_ms());
        match blocking(move || archive.renew_scoring(&owner, &[uid], until)).await {
            Ok(held) if held.is_empty() => {
                tracing::warn!(
                    study_uid,
                    "scoring claim lost before routing (another replica took it over); result dropped"
                );
                return AfterScoring::Lost;
            }
            Ok(_) => {}
            Err(e) => return self.failed_attempt(study_uid, format!("cannot confirm the scoring claim: {e}")).await,
        }
        match self.route(&record, &scoring).await {
            Ok(()) => AfterScoring::Release,
            Err(e) => self.failed_attempt(study_uid, format!("cannot route the exam: {e}")).await,
        }
    }

    /// A scoring or routing attempt failed after the study was acknowledged: record it durably,
    /// then retry with exponential backoff, or, after `max_attempts`, park the study as
    /// needs-attention (listed for the admin, counted in metrics) instead of looping for ever.
    async fn failed_attempt(self: &Arc<Self>, study_uid: &str, reason: String) -> AfterScoring {
        self.metrics.scoring_failures.inc();
        let (archive, uid, why, max) =
            (self.archive.clone(), study_uid.to_owned(), reason.clone(), self.options.max_attempts);
        let recorded = blocking(move || archive.record_failure(&uid, &why, max, now_ms())).await;
        let attempts = match recorded {
            Ok(outcome) if outcome.parked => {
                tracing::error!(study_uid, attempts = outcome.attempts, reason = %reason,
                    "study needs attention: scoring/routing failed repeatedly; listed for the admin");
                self.refresh_attention_gauge().await;
                return AfterScoring::Release;
            }
            Ok(outcome) => outcome.attempts,
            Err(e) => {
                // Even the failure cannot be written (disk, database): retry at the longest
                // backoff; the study stays `complete`, so it is claimed again.
                tracing::error!(study_uid, error = %e, "cannot record a scoring failure");
                u32::MAX
            }
        };
        let delay = self.options.retry_backoff.saturating_mul(1 << attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF);
        tracing::warn!(study_uid, attempts, retry_in_s = delay.as_secs_f64(), reason = %reason, "scoring/routing failed; will retry");
        AfterScoring::RetryIn(delay)
    }

    /// Sets the needs-attention gauge from the archive.
    pub(crate) async fn refresh_attention_gauge(&self) {
        let archive = self.archive.clone();
        match blocking(move || archive.needs_attention_count()).await {
            Ok(n) => self.metrics.needs_attention.set(n as i64),
            Err(e) => tracing::error!(error = %e, "cannot count studies that need attention"),
        }
    }

    /// Keeps the gauges that come from the shared state current (another replica's work, a
    /// new instance or an admin's retry changes them).
    async fn refresh_gauges(&self) {
        loop {
            self.refresh_attention_gauge().await;
            let archive = self.archive.clone();
            match blocking(move || archive.pending_count()).await {
                Ok(waiting) => self.metrics.queue_depth.set(waiting as i64),
                Err(e) => tracing::warn!(error = %e, "cannot count the studies waiting to be scored"),
            }
            tokio::time::sleep(GAUGE_REFRESH).await;
        }
    }

    /// Forgets a study's failures and queues it if it waits for scoring.
    pub(crate) async fn requeue(&self, study_uid: &str) -> Result<bool, granska_archive::Error> {
        let (archive, uid) = (self.archive.clone(), study_uid.to_owned());
        let queued = blocking(move || archive.retry(&uid)).await?;
        if queued {
            self.score_soon();
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
        }
        // Otherwise an instance arrived while scoring: the study is still complete, and is
        // claimed again for its newer generation once this claim is given back.
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
