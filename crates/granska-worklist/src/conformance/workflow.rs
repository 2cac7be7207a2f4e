//! Snapshot cases of the reading workflow: each scenario logs every call and its result, then
//! the exam's audit trail, and fails if the store is inconsistent afterwards.

use crate::model::ReadDecision::{NoRecall, Recall};
use crate::{StoreOptions, WorklistStore};
use expect_test::expect;
use granska_triage::Assessment;

use super::support::{Scenario, scored};

const UID: &str = "1.2.826.0.1.3680043.8.498.1";

/// Single reading: one first read gives the final outcome.
pub fn single_reading<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, scored(3, false));
    s.advance(60);
    let t = s.claim("alice").unwrap();
    s.advance(90);
    s.submit("alice", t, NoRecall, "r1");
    s.claim("bob");
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → single reading, tasks [1], applied true
        -- 60 s later
        alice claims → task 1 (first), sees prior reads []
        -- 90 s later
        alice submits task 1 no-recall [r1] → Final(NoRecall, Single)
        bob claims → nothing available
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: single reading (masai v1): scored category 3; tasks 1 first
          +60s   claimed task 1 by alice: first read; lease 300 s
          +150s  submitted task 1 by alice: first read: no-recall
          +150s  final: no-recall (single)
          outcome: no-recall via single at +150s
    "#]]
    .assert_eq(&s.finish(UID));
}

/// Double reading: two agreeing reads give the final outcome (concordant).
pub fn double_reading_concordant<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, scored(10, false));
    let a = s.claim("alice").unwrap();
    let b = s.claim("bob").unwrap();
    s.advance(120);
    s.submit("bob", b, Recall, "rb");
    s.advance(30);
    s.submit("alice", a, Recall, "ra");
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        alice claims → task 1 (first), sees prior reads []
        bob claims → task 2 (second), sees prior reads []
        -- 120 s later
        bob submits task 2 recall [rb] → AwaitingOtherRead
        -- 30 s later
        alice submits task 1 recall [ra] → Final(Recall, Concordant)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (masai v1): scored category 10; tasks 1 first, 2 second
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    claimed task 2 by bob: second read; lease 300 s
          +120s  submitted task 2 by bob: second read: recall
          +150s  submitted task 1 by alice: first read: recall
          +150s  final: recall (concordant)
          outcome: recall via concordant at +150s
    "#]]
    .assert_eq(&s.finish(UID));
}

/// Double reading: disagreeing reads open a consensus task that sees both reads.
pub fn double_reading_discordant_goes_to_consensus<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, scored(10, true));
    let a = s.claim("alice").unwrap();
    let b = s.claim("bob").unwrap();
    s.submit("alice", a, Recall, "ra");
    s.submit("bob", b, NoRecall, "rb");
    s.advance(600);
    let c = s.claim("carol").unwrap();
    s.submit("carol", c, Recall, "rc");
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        alice claims → task 1 (first), sees prior reads []
        bob claims → task 2 (second), sees prior reads []
        alice submits task 1 recall [ra] → AwaitingOtherRead
        bob submits task 2 no-recall [rb] → Consensus(3)
        -- 600 s later
        carol claims → task 3 (consensus), sees prior reads [first by alice: recall; second by bob: no-recall]
        carol submits task 3 recall [rc] → Final(Recall, Consensus)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (masai v1): scored category 10, flags extra-high; tasks 1 first, 2 second
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    claimed task 2 by bob: second read; lease 300 s
          +0s    submitted task 1 by alice: first read: recall
          +0s    submitted task 2 by bob: second read: no-recall
          +0s    consensus-opened task 3: discordant screening reads; consensus task queued
          +600s  claimed task 3 by carol: consensus read; lease 300 s
          +600s  submitted task 3 by carol: consensus read: recall
          +600s  final: recall (consensus)
          outcome: recall via consensus at +600s
    "#]].assert_eq(&s.finish(UID));
}

/// An expired lease returns the task to the queue and refuses the late submit.
pub fn an_expired_lease_returns_the_task_to_the_queue<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, scored(2, false));
    let t = s.claim("alice").unwrap();
    s.advance(299);
    s.claim("bob");
    s.advance(2);
    s.submit("alice", t, Recall, "late");
    s.claim("bob");
    s.submit("alice", t, Recall, "late");
    s.submit("bob", t, NoRecall, "rb");
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → single reading, tasks [1], applied true
        alice claims → task 1 (first), sees prior reads []
        -- 299 s later
        bob claims → nothing available
        -- 2 s later
        alice submits task 1 recall [late] → error: the lease of alice on task 1 expired 1.0 s ago; claim it again
        bob claims → task 1 (first), sees prior reads []
        alice submits task 1 recall [late] → error: task 1 is not claimed by alice (it is claimed by bob)
        bob submits task 1 no-recall [rb] → Final(NoRecall, Single)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: single reading (masai v1): scored category 2; tasks 1 first
          +0s    claimed task 1 by alice: first read; lease 300 s
          +301s  lease-expired task 1: lease of alice expired; back in the queue
          +301s  claimed task 1 by bob: first read; lease 300 s
          +301s  submitted task 1 by bob: first read: no-recall
          +301s  final: no-recall (single)
          outcome: no-recall via single at +301s
    "#]]
    .assert_eq(&s.finish(UID));
}

/// Release returns a task at once; only its holder may release it.
pub fn release_returns_the_task_at_once<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, scored(5, false));
    let t = s.claim("alice").unwrap();
    s.worklist("bob");
    s.release("bob", t);
    s.release("alice", t);
    s.worklist("bob");
    s.release("alice", t);
    let t = s.claim("bob").unwrap();
    s.submit("bob", t, NoRecall, "rb");
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → single reading, tasks [1], applied true
        alice claims → task 1 (first), sees prior reads []
        bob's worklist:
        bob releases task 1 → error: task 1 is not claimed by bob (it is claimed by alice)
        alice releases task 1
        bob's worklist:
          task 1 first queued 1.2.826.0.1.3680043.8.498.1 single category 5 []
        alice releases task 1 → error: task 1 is not claimed by alice (it is queued)
        bob claims → task 1 (first), sees prior reads []
        bob submits task 1 no-recall [rb] → Final(NoRecall, Single)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: single reading (masai v1): scored category 5; tasks 1 first
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    released task 1 by alice: first read back in the queue
          +0s    claimed task 1 by bob: first read; lease 300 s
          +0s    submitted task 1 by bob: first read: no-recall
          +0s    final: no-recall (single)
          outcome: no-recall via single at +0s
    "#]]
    .assert_eq(&s.finish(UID));
}

/// A repeated submit with the same request id changes nothing; a different one is refused.
pub fn a_duplicate_submit_changes_nothing<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, scored(4, false));
    let t = s.claim("alice").unwrap();
    s.submit("alice", t, Recall, "req-7");
    s.advance(5);
    s.submit("alice", t, Recall, "req-7");
    s.submit("alice", t, NoRecall, "req-7");
    s.submit("alice", t, NoRecall, "req-8");
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → single reading, tasks [1], applied true
        alice claims → task 1 (first), sees prior reads []
        alice submits task 1 recall [req-7] → Final(Recall, Single)
        -- 5 s later
        alice submits task 1 recall [req-7] → Final(Recall, Single) (duplicate, nothing changed)
        alice submits task 1 no-recall [req-7] → error: request id "req-7" was already used for a different submission (task 1)
        alice submits task 1 no-recall [req-8] → error: task 1 is not claimed by alice (it is done)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: single reading (masai v1): scored category 4; tasks 1 first
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    submitted task 1 by alice: first read: recall
          +0s    final: recall (single)
          outcome: recall via single at +0s
    "#]].assert_eq(&s.finish(UID));
}

/// One reader never takes both screening reads of an exam.
pub fn one_reader_never_takes_both_reads<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, scored(10, false));
    let first = s.claim("alice").unwrap();
    // The second read is queued, but alice holds the first: she gets her own task back, and
    // her worklist shows only her own task while bob's shows the second read.
    s.claim("alice");
    s.worklist("alice");
    s.worklist("bob");
    s.submit("alice", first, NoRecall, "ra");
    s.claim("alice");
    let second = s.claim("bob").unwrap();
    s.submit("bob", second, NoRecall, "rb");
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        alice claims → task 1 (first), sees prior reads []
        alice claims → task 1 (first) again, sees prior reads []
        alice's worklist:
          task 1 first claimed 1.2.826.0.1.3680043.8.498.1 double category 10 []
        bob's worklist:
          task 2 second queued 1.2.826.0.1.3680043.8.498.1 double category 10 []
        alice submits task 1 no-recall [ra] → AwaitingOtherRead
        alice claims → nothing available
        bob claims → task 2 (second), sees prior reads []
        bob submits task 2 no-recall [rb] → Final(NoRecall, Concordant)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (masai v1): scored category 10; tasks 1 first, 2 second
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    lease-renewed task 1 by alice: first read, held already; lease 300 s
          +0s    submitted task 1 by alice: first read: no-recall
          +0s    claimed task 2 by bob: second read; lease 300 s
          +0s    submitted task 2 by bob: second read: no-recall
          +0s    final: no-recall (concordant)
          outcome: no-recall via concordant at +0s
    "#]]
    .assert_eq(&s.finish(UID));
}

/// Re-routing supersedes the earlier routing until reading starts, then is only recorded.
pub fn rescoring_supersedes_until_reading_starts<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut s = Scenario::new(make, "masai");
    s.route(UID, Assessment::Incomplete { reason: "R-MLO missing".into() });
    s.advance(30);
    s.route(UID, scored(2, false));
    let t = s.claim("alice").unwrap();
    s.route(UID, scored(10, true));
    s.submit("alice", t, NoRecall, "ra");
    s.route(UID, scored(10, true));
    expect![[r#"
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        -- 30 s later
        route 1.2.826.0.1.3680043.8.498.1 → single reading, tasks [3], applied true
        alice claims → task 3 (first), sees prior reads []
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [], applied false
        alice submits task 3 no-recall [ra] → Final(NoRecall, Single)
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [], applied false
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (masai v1): incomplete, flags incomplete, reason: R-MLO missing; tasks 1 first, 2 second
          +30s   superseded: routing 1 superseded by 2; 2 queued task(s) cancelled
          +30s   routed: routing 2: single reading (masai v1): scored category 2; tasks 3 first
          +30s   claimed task 3 by alice: first read; lease 300 s
          +30s   routing-kept: routing 3 recorded, not applied (reading has started): double reading (masai v1): scored category 10, flags extra-high
          +30s   submitted task 3 by alice: first read: no-recall
          +30s   final: no-recall (single)
          +30s   routing-kept: routing 4 recorded, not applied (the exam already has its final outcome): double reading (masai v1): scored category 10, flags extra-high
          outcome: no-recall via single at +30s
    "#]].assert_eq(&s.finish(UID));
}

/// An unscorable exam is double read under every built-in policy.
pub fn an_unscorable_exam_is_double_read_under_every_policy<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let mut out = String::new();
    for policy in ["masai", "threshold", "normal-triage", "double-all"] {
        let mut s = Scenario::new(make, policy);
        s.route(UID, Assessment::Unscorable { reason: "pixel data of L-CC cannot be decoded".into() });
        s.worklist("alice");
        let a = s.claim("alice").unwrap();
        let b = s.claim("bob").unwrap();
        s.submit("alice", a, NoRecall, "ra");
        s.submit("bob", b, NoRecall, "rb");
        out += &format!("== {policy}\n{}", s.finish(UID));
    }
    expect![[r#"
        == masai
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        alice's worklist:
          task 1 first queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
          task 2 second queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
        alice claims → task 1 (first), sees prior reads []
        bob claims → task 2 (second), sees prior reads []
        alice submits task 1 no-recall [ra] → AwaitingOtherRead
        bob submits task 2 no-recall [rb] → Final(NoRecall, Concordant)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (masai v1): unscorable, flags unscorable, reason: pixel data of L-CC cannot be decoded; tasks 1 first, 2 second
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    claimed task 2 by bob: second read; lease 300 s
          +0s    submitted task 1 by alice: first read: no-recall
          +0s    submitted task 2 by bob: second read: no-recall
          +0s    final: no-recall (concordant)
          outcome: no-recall via concordant at +0s
        == threshold
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        alice's worklist:
          task 1 first queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
          task 2 second queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
        alice claims → task 1 (first), sees prior reads []
        bob claims → task 2 (second), sees prior reads []
        alice submits task 1 no-recall [ra] → AwaitingOtherRead
        bob submits task 2 no-recall [rb] → Final(NoRecall, Concordant)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (threshold v1): unscorable, flags unscorable, reason: pixel data of L-CC cannot be decoded; tasks 1 first, 2 second
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    claimed task 2 by bob: second read; lease 300 s
          +0s    submitted task 1 by alice: first read: no-recall
          +0s    submitted task 2 by bob: second read: no-recall
          +0s    final: no-recall (concordant)
          outcome: no-recall via concordant at +0s
        == normal-triage
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        alice's worklist:
          task 1 first queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
          task 2 second queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
        alice claims → task 1 (first), sees prior reads []
        bob claims → task 2 (second), sees prior reads []
        alice submits task 1 no-recall [ra] → AwaitingOtherRead
        bob submits task 2 no-recall [rb] → Final(NoRecall, Concordant)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (normal-triage v1): unscorable, flags unscorable, reason: pixel data of L-CC cannot be decoded; tasks 1 first, 2 second
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    claimed task 2 by bob: second read; lease 300 s
          +0s    submitted task 1 by alice: first read: no-recall
          +0s    submitted task 2 by bob: second read: no-recall
          +0s    final: no-recall (concordant)
          outcome: no-recall via concordant at +0s
        == double-all
        route 1.2.826.0.1.3680043.8.498.1 → double reading, tasks [1, 2], applied true
        alice's worklist:
          task 1 first queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
          task 2 second queued 1.2.826.0.1.3680043.8.498.1 double category - [unscorable] reason: pixel data of L-CC cannot be decoded
        alice claims → task 1 (first), sees prior reads []
        bob claims → task 2 (second), sees prior reads []
        alice submits task 1 no-recall [ra] → AwaitingOtherRead
        bob submits task 2 no-recall [rb] → Final(NoRecall, Concordant)
        history of 1.2.826.0.1.3680043.8.498.1:
          +0s    routed: routing 1: double reading (double-all v1): unscorable, flags unscorable, reason: pixel data of L-CC cannot be decoded; tasks 1 first, 2 second
          +0s    claimed task 1 by alice: first read; lease 300 s
          +0s    claimed task 2 by bob: second read; lease 300 s
          +0s    submitted task 1 by alice: first read: no-recall
          +0s    submitted task 2 by bob: second read: no-recall
          +0s    final: no-recall (concordant)
          outcome: no-recall via concordant at +0s
    "#]].assert_eq(&out);
}
