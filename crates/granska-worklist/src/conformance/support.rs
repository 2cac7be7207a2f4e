//! Shared helpers of the conformance cases (and of the SQLite-specific tests): store options
//! with a manual clock, routing inputs built by a real triage policy, and a text rendering of
//! what happened for snapshots.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::model::{
    ExamStatus, ModelIdentity, PageRequest, ReadDecision, Reader, RouteInput, RouteOutcome, StudyHistory, Submission,
    TaskId,
};
use crate::{ManualClock, StoreOptions, WorklistStore};
use granska_triage::{Assessment, Category, Policy};

/// The cases' start time, 2026-01-01T00:00:00Z, so times in snapshots are offsets from a round number.
pub const T0: i64 = 1_767_225_600_000;
/// The lease the cases' stores are given, seconds.
pub const LEASE_S: u64 = 300;

/// Store options with `clock`, [`LEASE_S`] and the policy's waiting-time limit.
pub fn options(clock: &ManualClock, policy: &Policy) -> StoreOptions {
    StoreOptions {
        lease: Duration::from_secs(LEASE_S),
        max_wait: Duration::from_millis(policy.max_wait_ms() as u64),
        clock: Arc::new(clock.clone()),
    }
}

/// The model named in routing inputs.
pub fn model() -> ModelIdentity {
    ModelIdentity { name: "granska-phantom-v1".into(), version: "1.0.0".into(), sha256: "880620c7".into() }
}

/// A scored assessment.
pub fn scored(category: u8, extra_high: bool) -> Assessment {
    Assessment::Scored { category: Category::new(category).unwrap(), extra_high }
}

/// The routing input for `assessment` under `policy`, as the server will build it.
pub fn route_input(policy: &Policy, study_uid: &str, assessment: &Assessment, waiting_since_ms: i64) -> RouteInput {
    let decision = policy.decide(assessment);
    let (status, category, extra_high, raw_score) = match assessment {
        Assessment::Scored { category, extra_high } => {
            (ExamStatus::Scored, Some(category.get()), *extra_high, Some(category.get() as f64 / 10.0 - 0.05))
        }
        Assessment::Incomplete { .. } => (ExamStatus::Incomplete, None, false, None),
        Assessment::Unscorable { .. } => (ExamStatus::Unscorable, None, false, None),
    };
    RouteInput {
        study_uid: study_uid.to_owned(),
        waiting_since_ms,
        status,
        model: (status != ExamStatus::Unscorable).then(model),
        raw_score,
        category,
        extra_high,
        policy: policy.id(),
        decision,
    }
}

/// A workflow scenario: every call and its result is logged, then the exam's history.
pub struct Scenario<S> {
    /// The store under test.
    pub store: S,
    /// Its clock.
    pub clock: ManualClock,
    /// The triage policy routing inputs are decided by.
    pub policy: Policy,
    /// What happened so far.
    pub log: String,
}

fn secs(ms: i64) -> String {
    format!("+{}s", (ms - T0) / 1000)
}

impl<S: WorklistStore> Scenario<S> {
    /// A scenario on a new store made by `make`.
    pub fn new(make: &dyn Fn(StoreOptions) -> S, policy: &str) -> Self {
        let clock = ManualClock::new(T0);
        let policy = Policy::builtin(policy).unwrap();
        let store = make(options(&clock, &policy));
        Scenario { store, clock, policy, log: String::new() }
    }

    /// Moves the clock.
    pub fn advance(&mut self, seconds: i64) {
        self.clock.advance(seconds * 1000);
        writeln!(self.log, "-- {} s later", seconds).unwrap();
    }

    /// Routes an exam as the server would.
    pub fn route(&mut self, uid: &str, assessment: Assessment) -> RouteOutcome {
        let input = route_input(&self.policy, uid, &assessment, self.clock.now());
        let out = self.store.route(&input).unwrap();
        writeln!(
            self.log,
            "route {uid} → {} reading, tasks {:?}, applied {}",
            input.decision.mode, out.tasks, out.applied
        )
        .unwrap();
        out
    }

    /// Claims for `reader`; the task, if any.
    pub fn claim(&mut self, reader: &str) -> Option<TaskId> {
        match self.store.claim_next(&Reader::new(reader)) {
            Ok(Some(c)) => {
                let prior: Vec<String> =
                    c.prior_reads.iter().map(|r| format!("{} by {}: {}", r.kind, r.reader, r.decision)).collect();
                writeln!(
                    self.log,
                    "{reader} claims → task {} ({}){}, sees prior reads [{}]",
                    c.task.id,
                    c.task.kind,
                    if c.resumed { " again" } else { "" },
                    prior.join("; ")
                )
                .unwrap();
                Some(c.task.id)
            }
            Ok(None) => {
                writeln!(self.log, "{reader} claims → nothing available").unwrap();
                None
            }
            Err(e) => {
                writeln!(self.log, "{reader} claims → error: {e}").unwrap();
                None
            }
        }
    }

    /// Submits a read of `task`.
    pub fn submit(&mut self, reader: &str, task: TaskId, decision: ReadDecision, request_id: &str) {
        let sub =
            Submission { task_id: task, reader: reader.into(), decision, note: None, request_id: request_id.into() };
        match self.store.submit(&sub) {
            Ok(out) => writeln!(
                self.log,
                "{reader} submits task {task} {decision} [{request_id}] → {:?}{}",
                out.next,
                if out.duplicate { " (duplicate, nothing changed)" } else { "" }
            ),
            Err(e) => writeln!(self.log, "{reader} submits task {task} {decision} [{request_id}] → error: {e}"),
        }
        .unwrap();
    }

    /// Releases `task`.
    pub fn release(&mut self, reader: &str, task: TaskId) {
        match self.store.release(task, reader) {
            Ok(()) => writeln!(self.log, "{reader} releases task {task}"),
            Err(e) => writeln!(self.log, "{reader} releases task {task} → error: {e}"),
        }
        .unwrap();
    }

    /// Logs `reader`'s worklist.
    pub fn worklist(&mut self, reader: &str) {
        let page = self.store.worklist(&Reader::new(reader), PageRequest { offset: 0, limit: 50 }).unwrap();
        writeln!(self.log, "{reader}'s worklist:").unwrap();
        for e in &page.entries {
            let flags: Vec<&str> = e.flags.iter().map(|f| f.as_str()).collect();
            writeln!(
                self.log,
                "  task {} {} {} {} {} category {} [{}]{}{}",
                e.task_id,
                e.kind,
                e.state,
                e.study_uid,
                e.mode,
                e.category.map_or("-".to_owned(), |c| c.to_string()),
                flags.join(","),
                e.reason.as_ref().map(|r| format!(" reason: {r}")).unwrap_or_default(),
                if e.overdue { " OVERDUE" } else { "" },
            )
            .unwrap();
        }
    }

    /// The log, then the exam's audit trail and outcome, then any consistency problem.
    pub fn finish(mut self, uid: &str) -> String {
        let history = self.store.history(uid).unwrap();
        self.log += &render_history(&history);
        let problems = self.store.check_consistency().unwrap();
        if !problems.is_empty() {
            writeln!(self.log, "INCONSISTENT: {problems:?}").unwrap();
        }
        self.log
    }
}

/// An exam's audit trail and outcome as text.
pub fn render_history(h: &StudyHistory) -> String {
    let mut out = format!("history of {}:\n", h.study_uid);
    for e in &h.events {
        let task = e.task_id.map(|t| format!(" task {t}")).unwrap_or_default();
        let actor = e.actor.as_ref().map(|a| format!(" by {a}")).unwrap_or_default();
        writeln!(out, "  {:<6} {}{task}{actor}: {}", secs(e.at_ms), e.kind, e.detail).unwrap();
    }
    match &h.outcome {
        Some(o) => writeln!(out, "  outcome: {} via {} at {}", o.decision, o.via.as_str(), secs(o.at_ms)).unwrap(),
        None => writeln!(out, "  outcome: none yet").unwrap(),
    }
    out
}

/// The clock's reading, in tests.
pub trait Now {
    /// Now, Unix ms.
    fn now(&self) -> i64;
}

impl Now for ManualClock {
    fn now(&self) -> i64 {
        crate::Clock::now_ms(self)
    }
}
