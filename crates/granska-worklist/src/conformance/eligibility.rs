//! The eligibility rule is stated once, in Rust ([`crate::workflow::may_take`]); a store
//! that filters in its query language (SQLite's `ELIGIBLE`) is checked against it here, on
//! random store states: random single and double routings (some re-routed), claims, releases,
//! submits and lease expiries by a few readers.

use std::collections::BTreeSet;

use granska_triage::Policy;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::support::{options, route_input, scored};
use crate::model::{PageRequest, ReadDecision, Reader, Submission, TaskId, TaskState};
use crate::workflow::may_take;
use crate::{Clock, ManualClock, StoreOptions, WorklistStore};

const READERS: [&str; 3] = ["alice", "bob", "carol"];
const STUDIES: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    /// Route study `n`, double read or single.
    Route(usize, bool),
    /// `READERS[n]` claims (with or without the consensus permission).
    Claim(usize, bool),
    /// `READERS[n]` submits the task they hold, recall or not.
    Submit(usize, bool),
    /// `READERS[n]` releases the task they hold.
    Release(usize),
    /// The clock moves on (seconds; past the lease sometimes).
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..STUDIES, any::<bool>()).prop_map(|(s, d)| Op::Route(s, d)),
        4 => (0..READERS.len(), any::<bool>()).prop_map(|(r, c)| Op::Claim(r, c)),
        3 => (0..READERS.len(), any::<bool>()).prop_map(|(r, d)| Op::Submit(r, d)),
        1 => (0..READERS.len()).prop_map(Op::Release),
        1 => (1i64..400).prop_map(Op::Advance),
    ]
}

fn uid(n: usize) -> String {
    format!("1.2.826.0.1.3680043.8.498.7{n}")
}

/// What the Rust rule says `reader` may take: every queued task of every routed study whose
/// kind `may_take` allows given the reader's involvement in that study (a screening read
/// submitted, or a screening task held).
fn rust_eligible(store: &impl WorklistStore, routed: &BTreeSet<usize>, reader: &Reader) -> BTreeSet<TaskId> {
    let mut out = BTreeSet::new();
    for &n in routed {
        let h = store.history(&uid(n)).expect("a routed study has a history");
        let involved = h.reads.iter().any(|r| r.reader == reader.id && r.kind.is_screening())
            || h.tasks.iter().any(|t| {
                t.state == TaskState::Claimed && t.claimed_by.as_deref() == Some(&reader.id) && t.kind.is_screening()
            });
        for t in h.tasks.iter().filter(|t| t.state == TaskState::Queued) {
            if may_take(t.kind, reader, involved) {
                out.insert(t.id);
            }
        }
    }
    out
}

/// What the store offers `reader`: the queued tasks of their worklist.
fn store_eligible(store: &impl WorklistStore, reader: &Reader) -> BTreeSet<TaskId> {
    let page = store.worklist(reader, PageRequest { offset: 0, limit: 1000 }).expect("worklist");
    page.entries.iter().filter(|e| e.state == TaskState::Queued).map(|e| e.task_id).collect()
}

fn held(store: &impl WorklistStore, reader: &Reader) -> Option<TaskId> {
    let page = store.worklist(reader, PageRequest { offset: 0, limit: 1000 }).expect("worklist");
    page.entries.iter().find(|e| e.state == TaskState::Claimed).map(|e| e.task_id)
}

fn run<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(super::support::T0);
    let policy = Policy::builtin("masai").expect("built-in policy");
    let store = make(options(&clock, &policy));
    let mut routed = BTreeSet::new();
    let mut request = 0;
    for op in ops {
        match *op {
            Op::Route(n, double) => {
                let assessment = scored(if double { 10 } else { 3 }, false);
                store.route(&route_input(&policy, &uid(n), &assessment, clock.now_ms())).expect("route");
                routed.insert(n);
            }
            Op::Claim(r, consensus) => {
                let reader = Reader { id: READERS[r].into(), consensus };
                // claim_next returns expired leases first; do it here so both sides agree.
                store.reap_expired().expect("reap");
                let holds = held(&store, &reader);
                let expected = rust_eligible(&store, &routed, &reader);
                let claimed = store.claim_next(&reader).expect("claim");
                match (holds, claimed) {
                    (Some(h), Some(c)) => prop_assert!(c.resumed && c.task.id == h, "{op:?}: held {h}, got {c:?}"),
                    (Some(h), None) => prop_assert!(false, "{op:?}: held {h}, got nothing"),
                    (None, Some(c)) => prop_assert!(
                        expected.contains(&c.task.id),
                        "{op:?}: claimed {} not allowed by may_take ({expected:?})",
                        c.task.id
                    ),
                    (None, None) => {
                        prop_assert!(expected.is_empty(), "{op:?}: nothing claimed, may_take allows {expected:?}")
                    }
                }
            }
            Op::Submit(r, recall) => {
                let reader = Reader::new(READERS[r]);
                if let Some(task_id) = held(&store, &reader) {
                    request += 1;
                    let decision = if recall { ReadDecision::Recall } else { ReadDecision::NoRecall };
                    let sub = Submission {
                        task_id,
                        reader: reader.id,
                        decision,
                        note: None,
                        request_id: format!("q{request}"),
                    };
                    // A lease that ran out is refused; that is the store's business, not this rule's.
                    let _ = store.submit(&sub);
                }
            }
            Op::Release(r) => {
                if let Some(task_id) = held(&store, &Reader::new(READERS[r])) {
                    store.release(task_id, READERS[r]).expect("release");
                }
            }
            Op::Advance(s) => clock.advance(s * 1000),
        }
        for id in READERS {
            for consensus in [false, true] {
                let reader = Reader { id: id.into(), consensus };
                let sql = store_eligible(&store, &reader);
                let rust = rust_eligible(&store, &routed, &reader);
                prop_assert_eq!(&sql, &rust, "after {:?}, {} (consensus {})", op, id, consensus);
            }
        }
    }
    Ok(())
}

/// For every reader (with and without the consensus permission) and every queued task, the
/// store offers the task (worklist, claim) exactly when [`may_take`] allows it.
pub fn eligibility_is_may_take<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    // Each case opens a store; 48 sequences of up to 30 steps cover re-routing, consensus and
    // expiry while keeping the case to a few seconds on SQLite.
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    let result = runner.run(&proptest::collection::vec(op(), 1..30), |ops| run(make, &ops));
    if let Err(e) = result {
        panic!("{e}");
    }
}
