//! Many readers at once on one real SQLite file: 16 threads (half sharing one store, half with
//! their own connection, like separate server processes) claim, sometimes release, and submit
//! until every exam is final. No task may be handed to two readers, none may be lost, and every
//! exam must end with exactly one final outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use granska_triage::{Assessment, Policy};
use granska_worklist::model::{NextStep, ReadDecision, Reader, Submission};
use granska_worklist::{SqliteStore, StoreOptions, WorklistStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::{route_input, scored};

const STUDIES: usize = 2000;
const THREADS: usize = 16;

#[test]
fn sixteen_readers_never_share_a_task_and_every_exam_ends_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worklist.db");
    let policy = Policy::builtin("threshold").unwrap();
    let opts = || StoreOptions { lease: Duration::from_secs(3600), ..StoreOptions::default() };
    let shared = Arc::new(SqliteStore::open(&path, opts()).unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let now = granska_worklist::Clock::now_ms(&granska_worklist::SystemClock);
    let inputs: Vec<_> = (0..STUDIES)
        .map(|i| {
            let a = if i % 97 == 0 {
                Assessment::Unscorable { reason: "decode failed".into() }
            } else {
                scored(rng.random_range(1..=10), false)
            };
            route_input(&policy, &format!("1.2.826.0.1.3680043.8.498.{}", 10_000 + i), &a, now - i as i64)
        })
        .collect();
    shared.route_many(&inputs).unwrap();

    let finals = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let stores: Vec<Arc<SqliteStore>> = (0..THREADS)
        .map(|t| if t % 2 == 0 { shared.clone() } else { Arc::new(SqliteStore::open(&path, opts()).unwrap()) })
        .collect();
    let start = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(t, store)| {
            let finals = finals.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let reader = Reader::new(format!("reader-{t:02}"));
                let mut rng = ChaCha8Rng::seed_from_u64(t as u64);
                let (mut submitted, mut released) = (0usize, 0usize);
                while finals.load(Ordering::SeqCst) < STUDIES {
                    assert!(started.elapsed() < Duration::from_secs(300), "{} made no progress", reader.id);
                    let Some(claim) = store.claim_next(&reader).unwrap() else {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    assert!(!claim.resumed, "a reader who submits or releases holds nothing between claims");
                    // Reading takes a moment; other readers claim meanwhile.
                    std::thread::sleep(Duration::from_micros(rng.random_range(0..1500)));
                    if rng.random_bool(0.05) {
                        store.release(claim.task.id, &reader.id).unwrap();
                        released += 1;
                        continue;
                    }
                    // Readers disagree now and then, so some exams go to consensus.
                    let decision = if rng.random_bool(0.2) { ReadDecision::Recall } else { ReadDecision::NoRecall };
                    let out = store
                        .submit(&Submission {
                            task_id: claim.task.id,
                            reader: reader.id.clone(),
                            decision,
                            note: None,
                            request_id: format!("{}-{}", reader.id, claim.task.id),
                        })
                        .unwrap_or_else(|e| panic!("{} lost task {} to someone else: {e}", reader.id, claim.task.id));
                    submitted += 1;
                    if let NextStep::Final(..) = out.next {
                        finals.fetch_add(1, Ordering::SeqCst);
                    }
                }
                (submitted, released)
            })
        })
        .collect();
    let per_thread: Vec<(usize, usize)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let submitted: usize = per_thread.iter().map(|p| p.0).sum();
    let released: usize = per_thread.iter().map(|p| p.1).sum();
    println!(
        "{THREADS} threads: {submitted} reads, {released} releases in {:.1} s; per thread {per_thread:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(per_thread.iter().all(|p| p.0 > 0), "every thread got work: {per_thread:?}");

    let store = SqliteStore::open(&path, opts()).unwrap();
    assert_eq!(store.check_consistency().unwrap(), Vec::<String>::new());
    let counts = store.counts().unwrap();
    assert_eq!(counts.studies_by_state.get("final"), Some(&(STUDIES as u64)), "{counts:?}");
    assert_eq!(counts.studies_by_state.len(), 1, "{counts:?}");
    let tasks_done: u64 = counts.tasks.iter().filter(|(k, _)| k.ends_with("/done")).map(|(_, n)| n).sum();
    let tasks_total: u64 = counts.tasks.values().sum();
    assert_eq!(tasks_done, tasks_total, "every task done: {counts:?}");
    assert_eq!(tasks_done as usize, submitted, "every submitted read is stored, no more");
    assert!(counts.tasks.get("consensus/done").copied().unwrap_or(0) > 10, "consensus exercised: {counts:?}");

    // The audit trail, task by task: claims and their ends strictly alternate, and a task is
    // only ever released or submitted by the reader whose claim is open.
    let mut holder: HashMap<i64, Option<String>> = HashMap::new();
    let mut finals_seen = 0;
    for input in &inputs {
        let h = store.history(&input.study_uid).unwrap();
        assert!(h.outcome.is_some());
        for e in &h.events {
            let Some(task) = e.task_id else {
                finals_seen += usize::from(e.kind == "final");
                continue;
            };
            let slot = holder.entry(task).or_default();
            match e.kind.as_str() {
                "claimed" => {
                    assert!(slot.is_none(), "task {task} claimed by {:?} while held by {slot:?}", e.actor);
                    *slot = e.actor.clone();
                }
                "released" | "submitted" => {
                    assert_eq!(slot.as_ref(), e.actor.as_ref(), "task {task}: {} by a non-holder", e.kind);
                    *slot = None;
                }
                "consensus-opened" => {}
                other => panic!("unexpected event {other} on task {task}"),
            }
        }
    }
    assert_eq!(finals_seen, STUDIES, "exactly one final outcome per exam");
}
