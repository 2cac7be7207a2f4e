//! Results back to the PACS: after an exam is routed the core builds a Mammography CAD SR
//! (`granska-report`), keeps it in the archive and puts it in a durable outbox; a worker sends
//! due reports through a [`ResultSender`] (the DICOM edge's C-STORE SCU), retrying with
//! backoff, recording each response status, and giving up after `give_up_after`.
//!
//! The core knows nothing of DIMSE: the sender answers with the peer's status word or a
//! [`SendError`], and the outbox records it.

use std::future::Future;
use std::pin::Pin;

/// Sends one result report to the configured destination.
pub trait ResultSender: Send + Sync {
    /// Where reports go, for logs and `granska study` (e.g. `PACS@10.0.0.5:104`).
    fn destination(&self) -> &str;

    /// Sends one Part 10 SR; `Ok` with the destination's DIMSE status word (0x0000 stored,
    /// 0xB000–0xBFFF stored with a warning, anything else refused), `Err` when no answer came.
    fn send<'a>(&'a self, report: &'a [u8]) -> Pin<Box<dyn Future<Output = Result<u16, SendError>> + Send + 'a>>;
}

/// Why a report could not be handed over (no status from the destination).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection (refused, unreachable, timed out).
    #[error("cannot connect to {destination}: {reason}")]
    Unreachable {
        /// `AE@host:port`.
        destination: String,
        /// The transport's error.
        reason: String,
    },
    /// The destination rejected or aborted the association.
    #[error("{destination} rejected the association: {reason}")]
    Rejected {
        /// `AE@host:port`.
        destination: String,
        /// The rejection's source and reason, as the upper layer gave them.
        reason: String,
    },
    /// The association broke, or the peer answered something that is not a C-STORE response.
    #[error("C-STORE to {destination} failed: {reason}")]
    Protocol {
        /// `AE@host:port`.
        destination: String,
        /// What went wrong.
        reason: String,
    },
}

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use granska_archive::{NewReport, ReportAttempt, ReportRecord, StudyRecord};
use granska_types::{ReportState, Uid};

use crate::{Action, App, AppError, Caller, blocking, now_ms};

/// The longest pause between two looks at the outbox, and the longest retry delay.
const MAX_PAUSE: Duration = Duration::from_secs(30);
/// The shortest pause between two looks (a report due in the past does not spin the loop).
const MIN_PAUSE: Duration = Duration::from_millis(100);
/// How long a report whose send attempt could not be recorded is held back.
const HOLD: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How long one send may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a replica holds a routing it is making the report of (and the margin beyond a
/// send's timeout that it holds a report it is sending).
const MAKE_HOLD: Duration = Duration::from_secs(60);

impl App {
    /// The results loop: makes the report of every routing that has none yet (after a crash
    /// too), then sends the due reports, until the application stops. Woken when a routing is
    /// recorded, otherwise every 30 s or when the next retry is due.
    pub(crate) async fn results_loop(self: Arc<Self>) {
        let mut failed_builds = HashSet::new();
        let mut held = HashMap::new();
        let mut stopping = self.stopping.clone();
        loop {
            self.make_missing_reports(&mut failed_builds).await;
            let troubled = self.send_due_reports(&mut held).await;
            self.refresh_results_gauge().await;
            let archive = self.archive.clone();
            let pause = match blocking(move || archive.next_report_due()).await {
                _ if troubled => MAX_PAUSE,
                Ok(Some(at)) => Duration::from_millis((at - now_ms()).max(0) as u64).clamp(MIN_PAUSE, MAX_PAUSE),
                _ => MAX_PAUSE,
            };
            tokio::select! {
                _ = self.results_due.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    }

    /// Makes and keeps the report of every routing that has none (each routing gets exactly
    /// one; a build that fails is logged once per process and made again, by any replica,
    /// once its hold ran out).
    async fn make_missing_reports(&self, failed_builds: &mut HashSet<(String, i64)>) {
        // One at a time: each is held only while it is made (well within the hold), so no
        // other replica makes the same report.
        const BATCH: usize = 1;
        loop {
            let archive = self.archive.clone();
            // Held while this replica makes them, so another replica does not make the same;
            // one whose making failed here is made again once the hold ran out.
            let now = now_ms();
            let hold = now + MAKE_HOLD.as_millis() as i64;
            let missing = match blocking(move || archive.claim_unreported(now, hold, BATCH)).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "cannot list routings without a report");
                    return;
                }
            };
            let more = missing.len() == BATCH;
            for (study, generation) in missing {
                if failed_builds.contains(&(study.clone(), generation)) {
                    continue;
                }
                match self.make_report(&study, generation).await {
                    Ok(()) => {}
                    // The stored images cannot make a report (a header it cannot copy): retrying
                    // will not help. Counted and logged; retried at the next start.
                    Err(e @ AppError::Report(_)) => {
                        self.metrics.result_attempts.with_label_values(&["unbuildable"]).inc();
                        tracing::error!(study_uid = %study, generation, error = %e,
                            "cannot make the result report from the stored images; the exam stays on the worklist");
                        failed_builds.insert((study, generation));
                    }
                    // Storage trouble: the routing stays queued and is tried again after its hold.
                    Err(e) => {
                        tracing::warn!(study_uid = %study, generation, error = %e, "cannot make the result report yet; will retry");
                    }
                }
            }
            if !more {
                return;
            }
        }
    }

    /// Builds the SR of one study's routing at `generation` and keeps it in the outbox.
    async fn make_report(&self, study_uid: &str, generation: i64) -> Result<(), AppError> {
        let (archive, policy, uid) = (self.archive.clone(), self.policy.clone(), study_uid.to_owned());
        let destination = self.results.as_ref().map(|s| s.destination().to_owned()).unwrap_or_default();
        let record = blocking(move || {
            let Some(study) = archive.study(&uid)? else { return Ok(None) };
            if study.generation != generation {
                return Ok(None); // an instance arrived since: the next routing gets the report
            }
            let Some(scoring) = study.scorings.iter().rev().find(|s| s.generation == generation) else {
                return Ok(None);
            };
            let images = study.instances.iter().map(|i| archive.read_blob(&i.sha256)).collect::<Result<Vec<_>, _>>()?;
            let images: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
            let decision = policy.decide(&crate::scoring::assessment(&scoring.record));
            let policy_id = policy.id();
            let (sop, series) = (granska_report::uid_2_25(), granska_report::uid_2_25());
            let report = granska_report::build(&granska_report::ReportInput {
                images: &images,
                scoring: &scoring.record,
                reading_mode: decision.mode,
                flags: &decision.flags,
                policy: &format!("{} {}", policy_id.name, policy_id.version),
                sop_instance_uid: &sop,
                series_instance_uid: &series,
                created: jiff::Timestamp::now(),
            })?;
            let new = NewReport { sop_instance_uid: sop, study_uid: study_uid_of(&study)?, generation, destination };
            let kept = archive.add_report(&new, &report.bytes, now_ms())?;
            Ok::<_, AppError>(Some(kept))
        })
        .await?;
        if let Some(kept) = record {
            tracing::info!(study_uid, sop_instance_uid = %kept.sop_instance_uid, state = %kept.state, "result report made");
        }
        Ok(())
    }

    /// Sends every due report once, recording each outcome; `true` when the archive failed
    /// (the loop then pauses). A report whose attempt could not be recorded is held back for
    /// [`HOLD`], so that a failing archive does not make the loop resend it at once.
    async fn send_due_reports(&self, held: &mut HashMap<Uid, std::time::Instant>) -> bool {
        held.retain(|_, until| *until > std::time::Instant::now());
        let mut troubled = false;
        // One at a time, each held while this replica sends it (well within the hold: a send
        // times out first), so no other replica sends it meanwhile; one whose sender died is
        // due again when the hold runs out.
        for _ in 0..32 {
            let archive = self.archive.clone();
            let now = now_ms();
            let hold = now + (SEND_TIMEOUT + MAKE_HOLD).as_millis() as i64;
            let report = match blocking(move || archive.claim_due_reports(now, 1, hold)).await {
                Ok(due) => match due.into_iter().next() {
                    Some(report) => report,
                    None => break,
                },
                Err(e) => {
                    tracing::error!(error = %e, "cannot list due reports");
                    return true;
                }
            };
            if held.contains_key(&report.sop_instance_uid) {
                continue;
            }
            let attempt = self.send_one(&report).await;
            let (archive, sop) = (self.archive.clone(), report.sop_instance_uid.to_string());
            let delivered = matches!(attempt, ReportAttempt::Delivered { .. });
            match blocking(move || archive.record_report_attempt(&sop, &attempt, now_ms())).await {
                Ok(after) => {
                    let outcome = if delivered {
                        "sent"
                    } else if after.state == ReportState::Failed {
                        "gave up"
                    } else {
                        "retry"
                    };
                    tracing::info!(study_uid = %after.study_uid, sop_instance_uid = %after.sop_instance_uid,
                        destination = %after.destination, attempts = after.attempts,
                        status = after.last_status.as_deref().unwrap_or(""), outcome, "result report send attempt");
                    if after.state == ReportState::Failed {
                        tracing::error!(study_uid = %after.study_uid, sop_instance_uid = %after.sop_instance_uid,
                            "result report not delivered within results.give_up_after_h: given up (shown in `granska study`)");
                    }
                    if delivered {
                        self.observe_delivery(&after).await;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, sop_instance_uid = %report.sop_instance_uid,
                        "cannot record a report send attempt; holding the report back");
                    held.insert(report.sop_instance_uid.clone(), std::time::Instant::now() + HOLD);
                    troubled = true;
                }
            }
        }
        troubled
    }

    async fn send_one(&self, report: &ReportRecord) -> ReportAttempt {
        let now = now_ms();
        let given_up = now - report.created_ms >= self.options.results.give_up_after.as_millis() as i64;
        let backoff = self.options.results.retry_backoff.saturating_mul(1 << report.attempts.min(16)).min(MAX_BACKOFF);
        let retry_at = (!given_up).then(|| now + backoff.as_millis() as i64);
        let Some(sender) = &self.results else {
            return ReportAttempt::NotDelivered {
                status: "no destination configured (results.destination is empty)".into(),
                retry_at_ms: retry_at,
            };
        };
        let (archive, sha) = (self.archive.clone(), report.sha256.clone());
        let bytes = match blocking(move || archive.read_blob(&sha)).await {
            Ok(b) => b,
            Err(e) => {
                self.metrics.result_attempts.with_label_values(&["unreadable"]).inc();
                return ReportAttempt::NotDelivered {
                    status: format!("cannot read the report: {e}"),
                    retry_at_ms: retry_at,
                };
            }
        };
        let answer = tokio::time::timeout(SEND_TIMEOUT, sender.send(&bytes)).await;
        match answer {
            Ok(Ok(status)) if status == 0 || (0xB000..=0xBFFF).contains(&status) => {
                self.metrics.result_attempts.with_label_values(&["sent"]).inc();
                ReportAttempt::Delivered { status: format!("0x{status:04X}") }
            }
            Ok(Ok(status)) => {
                self.metrics.result_attempts.with_label_values(&["refused"]).inc();
                ReportAttempt::NotDelivered { status: format!("0x{status:04X}"), retry_at_ms: retry_at }
            }
            Ok(Err(e)) => {
                self.metrics.result_attempts.with_label_values(&["unreachable"]).inc();
                ReportAttempt::NotDelivered { status: e.to_string(), retry_at_ms: retry_at }
            }
            Err(_) => {
                self.metrics.result_attempts.with_label_values(&["unreachable"]).inc();
                ReportAttempt::NotDelivered {
                    status: format!("no answer within {} s", SEND_TIMEOUT.as_secs()),
                    retry_at_ms: retry_at,
                }
            }
        }
    }

    /// Records the time from the study's last instance to its report's delivery.
    async fn observe_delivery(&self, report: &ReportRecord) {
        let (archive, uid) = (self.archive.clone(), report.study_uid.to_string());
        if let Ok(Some(study)) = blocking(move || archive.study(&uid)).await {
            self.metrics.observe("last_instance_to_report", (now_ms() - study.last_received_ms).max(0) as f64 / 1000.0);
        }
    }

    /// Sets the reports gauge from the archive.
    async fn refresh_results_gauge(&self) {
        let archive = self.archive.clone();
        match blocking(move || archive.report_counts()).await {
            Ok(counts) => {
                for (state, n) in counts {
                    self.metrics.results.with_label_values(&[state.as_str()]).set(n as i64);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot count reports"),
        }
    }

    /// One report of a study (the newest when `sop_instance_uid` is `None`) with its bytes, for
    /// inspection (`granska report`): the admin's only, as the SR names the patient. Audited.
    pub async fn report(
        &self,
        caller: &Caller,
        study_uid: &Uid,
        sop_instance_uid: Option<&Uid>,
    ) -> Result<(ReportRecord, Vec<u8>), AppError> {
        caller.authorize(Action::GetReport)?;
        let (archive, uid, sop) = (self.archive.clone(), study_uid.to_string(), sop_instance_uid.cloned());
        let result = blocking(move || {
            let reports = archive.reports(&uid)?;
            let chosen = match &sop {
                Some(sop) => reports.into_iter().find(|r| &r.sop_instance_uid == sop),
                None => reports.into_iter().last(),
            };
            let Some(report) = chosen else {
                return Err(AppError::UnknownReport { study_uid: uid, sop_instance_uid: sop.map(|s| s.to_string()) });
            };
            let bytes = archive.read_blob(&report.sha256)?;
            Ok((report, bytes))
        })
        .await;
        self.audited(caller, Action::GetReport, vec![Some(study_uid.to_string())], result).await
    }

    /// Wakes the results loop (a routing was recorded).
    pub(crate) fn reports_due(&self) {
        self.results_due.notify_one();
    }
}

fn study_uid_of(study: &StudyRecord) -> Result<Uid, AppError> {
    Uid::parse(&study.study_uid).map_err(|e| AppError::InvalidArgument {
        field: "study_instance_uid".into(),
        message: format!("stored study UID is not a valid UID: {e}"),
    })
}
