//! Behavioural cases of the store: queue order against triage's priority key, pagination,
//! blinding, eligibility, counts and input errors.

use expect_test::expect;
use granska_triage::{Assessment, Policy, PriorityKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::support::{T0, options, route_input, scored};
use crate::model::{PageRequest, ReadDecision, Reader, Submission};
use crate::{Error, ManualClock, StoreOptions, WorklistStore};

const HOUR: i64 = 3_600_000;

fn uid(i: usize) -> String {
    format!("1.2.826.0.1.3680043.8.498.{}", 1000 + i)
}

fn submit(store: &impl WorklistStore, task: i64, reader: &str, decision: ReadDecision) {
    let sub = Submission {
        task_id: task,
        reader: reader.into(),
        decision,
        note: Some("note".into()),
        request_id: format!("{reader}-{task}"),
    };
    store.submit(&sub).unwrap();
}

/// A new store with the clock at `T0`.
fn fresh<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S, policy: &str) -> (Policy, S) {
    let policy = Policy::builtin(policy).unwrap();
    let store = make(options(&ManualClock::new(T0), &policy));
    (policy, store)
}

/// The store's queue order (worklist pages and successive claims) is exactly the order of
/// triage's `PriorityKey`, overdue exams included.
pub fn queue_order_is_the_triage_priority_order<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let clock = ManualClock::new(T0 + 200 * HOUR);
    let policy = Policy::builtin("normal-triage").unwrap();
    let store = make(options(&clock, &policy));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut inputs = Vec::new();
    for i in 0..300 {
        let assessment = match rng.random_range(0..20) {
            0 => Assessment::Unscorable { reason: "decode failed".into() },
            1 => Assessment::Incomplete { reason: "L-CC missing".into() },
            _ => {
                let c = rng.random_range(1..=10u8);
                scored(c, c == 10 && rng.random_bool(0.3))
            }
        };
        // Waiting 0–150 h (the limit is 72 h); some exams share a waiting time.
        let since = T0 + 200 * HOUR - rng.random_range(0..150) * HOUR;
        inputs.push(route_input(&policy, &uid(i), &assessment, since));
    }
    let routed: Vec<_> = inputs.iter().map(|input| store.route(input).unwrap()).collect();
    let now = T0 + 200 * HOUR;
    let mut expected: Vec<(PriorityKey, i64)> = Vec::new();
    for (input, out) in inputs.iter().zip(&routed) {
        for &task in &out.tasks {
            expected.push((PriorityKey::new(&policy, &input.decision, input.waiting_since_ms, now, task), task));
        }
    }
    expected.sort();
    let expected: Vec<i64> = expected.into_iter().map(|(_, t)| t).collect();
    assert!(expected.len() > 300);

    // Worklist pages of an uninvolved reader, 37 at a time.
    let reader = Reader::new("zed");
    let mut listed = Vec::new();
    let mut offset = 0;
    loop {
        let page = store.worklist(&reader, PageRequest { offset, limit: 37 }).unwrap();
        listed.extend(page.entries.iter().map(|e| e.task_id));
        match page.next_offset {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(listed, expected, "worklist pages");
    let overdue = store.worklist(&reader, PageRequest { offset: 0, limit: 1000 }).unwrap();
    assert!(overdue.entries.iter().any(|e| e.overdue) && overdue.entries.iter().any(|e| !e.overdue));

    // A page beyond the end is empty; a mid-list page starts where it should.
    let beyond = store.worklist(&reader, PageRequest { offset: 5000, limit: 10 }).unwrap();
    assert!(beyond.entries.is_empty() && beyond.next_offset.is_none());
    let mid = store.worklist(&reader, PageRequest { offset: 100, limit: 5 }).unwrap();
    assert_eq!(mid.entries.iter().map(|e| e.task_id).collect::<Vec<_>>(), expected[100..105]);

    // Claims by fresh readers follow the same order (each reader may take anything).
    let claimed: Vec<i64> = (0..expected.len())
        .map(|i| store.claim_next(&Reader::new(format!("r{i}"))).unwrap().unwrap().task.id)
        .collect();
    assert_eq!(claimed, expected, "claim order");
    assert!(store.claim_next(&Reader::new("late")).unwrap().is_none());
}

/// A screening reader sees no other read until they submitted theirs; consensus sees both.
pub fn reads_stay_hidden_until_the_reader_has_read<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let (policy, store) = fresh(make, "masai");
    store.route(&route_input(&policy, &uid(1), &scored(10, false), T0)).unwrap();
    let a = store.claim_next(&Reader::new("alice")).unwrap().unwrap();
    submit(&store, a.task.id, "alice", ReadDecision::Recall);
    let b = store.claim_next(&Reader::new("bob")).unwrap().unwrap();
    assert!(b.prior_reads.is_empty(), "the second reader sees no first read");
    assert!(store.visible_reads(&uid(1), "bob").unwrap().is_empty());
    let alice_sees = store.visible_reads(&uid(1), "alice").unwrap();
    assert_eq!(alice_sees.len(), 1);
    assert_eq!(alice_sees[0].reader, "alice");
    submit(&store, b.task.id, "bob", ReadDecision::NoRecall);
    assert_eq!(store.visible_reads(&uid(1), "bob").unwrap().len(), 2);
    assert_eq!(store.visible_reads(&uid(1), "alice").unwrap().len(), 2);
    // A reader who may not take consensus tasks does not get (or see) the consensus task.
    let no_consensus = Reader { id: "dave".into(), consensus: false };
    assert!(store.claim_next(&no_consensus).unwrap().is_none());
    assert!(store.worklist(&no_consensus, PageRequest { offset: 0, limit: 10 }).unwrap().entries.is_empty());
    let c = store.claim_next(&Reader::new("carol")).unwrap().unwrap();
    assert_eq!(c.prior_reads.len(), 2, "the consensus task sees both screening reads");
    assert!(store.visible_reads(&uid(1), "carol").unwrap().is_empty(), "outside the task, carol sees nothing yet");
    assert_eq!(store.check_consistency().unwrap(), Vec::<String>::new());
}

/// Counts of exams by reading mode and state, and of tasks by kind and state.
pub fn counts_by_mode_and_state<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let (policy, store) = fresh(make, "masai");
    for (i, c) in [1u8, 5, 9, 10, 10].into_iter().enumerate() {
        store.route(&route_input(&policy, &uid(i), &scored(c, false), T0)).unwrap();
    }
    // Finish one single read, make one double read discordant.
    let t = store.claim_next(&Reader::new("alice")).unwrap().unwrap().task.id; // category 10, first
    submit(&store, t, "alice", ReadDecision::Recall);
    let t = store.claim_next(&Reader::new("bob")).unwrap().unwrap().task.id; // its second read
    submit(&store, t, "bob", ReadDecision::NoRecall);
    let tasks = store.study_tasks(&uid(3)).unwrap();
    assert_eq!(
        tasks.iter().map(|t| (t.kind.as_str(), t.state.as_str())).collect::<Vec<_>>(),
        [("first", "done"), ("second", "done"), ("consensus", "queued")]
    );
    assert!(matches!(store.study_tasks("1.2.999"), Err(Error::UnknownStudy { .. })));
    let c = store.counts().unwrap();
    expect![[r#"
        Counts {
            studies_by_mode: {
                "double": 2,
                "single": 3,
            },
            studies_by_state: {
                "consensus": 1,
                "reading": 4,
            },
            tasks: {
                "consensus/queued": 1,
                "first/done": 1,
                "first/queued": 4,
                "second/done": 1,
                "second/queued": 1,
            },
        }"#]]
    .assert_eq(&format!("{c:#?}"));
}

/// Bad requests are refused with clear errors and store nothing.
pub fn bad_requests_get_clear_errors<S: WorklistStore>(make: &dyn Fn(StoreOptions) -> S) {
    let (policy, store) = fresh(make, "masai");
    let mut bad_uid = route_input(&policy, "1.2.3", &scored(3, false), T0);
    bad_uid.study_uid = "1.2.abc".into();
    let mut bad_category = route_input(&policy, "1.2.3", &scored(3, false), T0);
    bad_category.category = Some(11);
    let mut nan = route_input(&policy, "1.2.3", &scored(3, false), T0);
    nan.raw_score = Some(f64::NAN);
    let errors = [
        store.route(&bad_uid).unwrap_err(),
        store.route(&bad_category).unwrap_err(),
        store.route(&nan).unwrap_err(),
        store.claim_next(&Reader::new(" ")).unwrap_err(),
        store.worklist(&Reader::new("a"), PageRequest { offset: 0, limit: 0 }).unwrap_err(),
        store.release(42, "alice").unwrap_err(),
        store
            .submit(&Submission {
                task_id: 42,
                reader: "alice".into(),
                decision: ReadDecision::Recall,
                note: None,
                request_id: "x".into(),
            })
            .unwrap_err(),
        store
            .submit(&Submission {
                task_id: 42,
                reader: "alice".into(),
                decision: ReadDecision::Recall,
                note: Some("n".repeat(9000)),
                request_id: "x".into(),
            })
            .unwrap_err(),
        store.history("1.2.999").unwrap_err(),
    ];
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    expect![[r#"
        study_uid must be a DICOM UID (digits and dots, at most 64), found 1.2.abc
        category must be 1–10, found 11
        raw_score must be a finite number, found NaN
        reader must be 1–256 bytes, not blank, found 1 bytes
        limit must be 1–1000, found 0
        unknown task 42
        unknown task 42
        note must be at most 8192 bytes, found 9000 bytes
        unknown study 1.2.999"#]]
    .assert_eq(&text.join("\n"));
    assert_eq!(store.counts().unwrap(), Default::default(), "nothing was stored");
}
