//! The worklist on PostgreSQL (the test binary's one server, a fresh database per store): the
//! conformance suite, replicas claiming and submitting at once on one database, re-routing
//! racing claims, raced submits of one request id, and what opening does (a newer schema is
//! refused, expired leases go back to the queue).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use granska_postgres::PoolOptions;
use granska_postgres::testing::TempPostgres;
use granska_triage::{Assessment, Policy};
use granska_worklist::model::{NextStep, ReadDecision, Reader, Submission, TaskKind, TaskState};
use granska_worklist::{Error, ManualClock, PgStore, StoreOptions, WorklistStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::{LEASE_S, T0, options, route_input, scored};

fn pool_options(url: String) -> PoolOptions {
    PoolOptions { url, max_size: 8, acquire_timeout: Duration::from_secs(10) }
}

/// Opens a new, empty store per call, all on one fresh database of the shared server (created
/// by the first call): each call empties the worklist's tables and restarts their ids, as the
/// cases expect of a new store (task 1 is the first task). Creating a database per call would
/// cost a third of a second each, and one case opens 48 stores; no case holds two stores of
/// one factory at once.
fn postgres_stores() -> impl Fn(StoreOptions) -> PgStore {
    let url = std::sync::OnceLock::new();
    move |options| {
        let url: &String = url.get_or_init(|| TempPostgres::shared().fresh_database());
        let store = PgStore::open(&pool_options(url.clone()), options).unwrap();
        let pool = granska_postgres::pool(&pool_options(url.clone()), "worklist").unwrap();
        pool.get().unwrap().batch_execute("TRUNCATE studies, routings, tasks, reads, events RESTART IDENTITY").unwrap();
        store
    }
}

mod conformance {
    granska_worklist::worklist_store_conformance!(super::postgres_stores());
}

fn uid(i: usize) -> String {
    format!("1.2.826.0.1.3680043.8.498.{}", 10_000 + i)
}

fn long_lease() -> StoreOptions {
    StoreOptions { lease: Duration::from_secs(3600), ..StoreOptions::default() }
}

fn submission(reader: &str, task_id: i64, decision: ReadDecision, request_id: String) -> Submission {
    Submission { task_id, reader: reader.into(), decision, note: None, request_id }
}

#[test]
fn three_replicas_sixteen_readers_each_task_done_once() {
    const STUDIES: usize = 2000;
    const THREADS: usize = 16;
    let url = TempPostgres::shared().fresh_database();
    let replicas: Vec<Arc<PgStore>> =
        (0..3).map(|_| Arc::new(PgStore::open(&pool_options(url.clone()), long_lease()).unwrap())).collect();
    let policy = Policy::builtin("threshold").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let now = granska_worklist::Clock::now_ms(&granska_worklist::SystemClock);
    let inputs: Vec<_> = (0..STUDIES)
        .map(|i| {
            let a = if i % 97 == 0 {
                Assessment::Unscorable { reason: "decode failed".into() }
            } else {
                scored(rng.random_range(1..=10), false)
            };
            route_input(&policy, &uid(i), &a, now - i as i64)
        })
        .collect();
    for (n, chunk) in inputs.chunks(500).enumerate() {
        replicas[n % 3].route_many(chunk).unwrap();
    }
    let doubles = inputs.iter().filter(|i| i.decision.mode == granska_triage::ReadingMode::Double).count();
    assert!(doubles > 100 && doubles < STUDIES, "a mix of single and double reading: {doubles} double");

    let finals = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let started = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, finals, start) = (replicas[t % 3].clone(), finals.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let reader = Reader::new(format!("reader-{t:02}"));
                let mut rng = ChaCha8Rng::seed_from_u64(t as u64);
                let (mut submitted, mut released) = (0usize, 0usize);
                while finals.load(Ordering::SeqCst) < STUDIES {
                    assert!(started.elapsed() < Duration::from_secs(120), "{} made no progress", reader.id);
                    let Some(claim) = store.claim_next(&reader).unwrap() else {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    assert!(!claim.resumed, "a reader who submits or releases holds nothing between claims");
                    std::thread::sleep(Duration::from_micros(rng.random_range(0..500)));
                    if rng.random_bool(0.05) {
                        store.release(claim.task.id, &reader.id).unwrap();
                        released += 1;
                        continue;
                    }
                    // Readers disagree now and then, so some exams go to consensus.
                    let decision = if rng.random_bool(0.2) { ReadDecision::Recall } else { ReadDecision::NoRecall };
                    let request_id = format!("{}-{}", reader.id, claim.task.id);
                    let out = store
                        .submit(&submission(&reader.id, claim.task.id, decision, request_id))
                        .unwrap_or_else(|e| panic!("{} lost task {} to someone else: {e}", reader.id, claim.task.id));
                    assert!(!out.duplicate);
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
        "3 replicas, {THREADS} readers: {submitted} reads, {released} releases in {:.1} s; per reader {per_thread:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(per_thread.iter().all(|p| p.0 > 0), "every reader got work: {per_thread:?}");

    let store = &replicas[0];
    assert_eq!(store.check_consistency().unwrap(), Vec::<String>::new());
    let counts = store.counts().unwrap();
    assert_eq!(counts.studies_by_state.get("final"), Some(&(STUDIES as u64)), "{counts:?}");
    assert_eq!(counts.studies_by_state.len(), 1, "{counts:?}");
    let tasks_done: u64 = counts.tasks.iter().filter(|(k, _)| k.ends_with("/done")).map(|(_, n)| n).sum();
    assert_eq!(tasks_done, counts.tasks.values().sum::<u64>(), "every task done: {counts:?}");
    assert_eq!(tasks_done as usize, submitted, "every submitted read is stored once, no more");
    assert!(counts.tasks.get("consensus/done").copied().unwrap_or(0) > 10, "consensus exercised: {counts:?}");

    // Exam by exam: one read per task, no reader with both screening reads, and in the audit
    // trail claims and their ends strictly alternate, a task only ever released or submitted
    // by the reader whose claim is open.
    let mut finals_seen = 0;
    for input in &inputs {
        let h = store.history(&input.study_uid).unwrap();
        assert!(h.outcome.is_some());
        let read_tasks: HashSet<i64> = h.reads.iter().map(|r| r.task_id).collect();
        assert_eq!(read_tasks.len(), h.reads.len(), "{}: a task read twice", input.study_uid);
        assert_eq!(h.reads.len(), h.tasks.len(), "{}: every task read once", input.study_uid);
        let screeners: Vec<&str> =
            h.reads.iter().filter(|r| r.kind.is_screening()).map(|r| r.reader.as_str()).collect();
        let distinct: HashSet<&str> = screeners.iter().copied().collect();
        assert_eq!(distinct.len(), screeners.len(), "{}: one reader read both: {screeners:?}", input.study_uid);
        let mut holder: HashMap<i64, Option<String>> = HashMap::new();
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

/// Re-scoring arrives while readers claim on other replicas: a routing is superseded only
/// while no read of it has started, so no claimed task is ever left in a superseded routing.
#[test]
fn rerouting_races_claims_without_stranding_a_task() {
    const STUDIES: usize = 200;
    const READERS: usize = 4;
    let url = TempPostgres::shared().fresh_database();
    let replicas: Vec<Arc<PgStore>> =
        (0..2).map(|_| Arc::new(PgStore::open(&pool_options(url.clone()), long_lease()).unwrap())).collect();
    let policy = Policy::builtin("masai").unwrap();
    let now = granska_worklist::Clock::now_ms(&granska_worklist::SystemClock);
    let inputs: Vec<_> = (0..STUDIES).map(|i| route_input(&policy, &uid(i), &scored(5, false), now)).collect();
    replicas[0].route_many(&inputs).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let router = {
        let (store, done, policy) = (replicas[1].clone(), done.clone(), policy.clone());
        std::thread::spawn(move || {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let mut rerouted = 0usize;
            while !done.load(Ordering::SeqCst) {
                let i = rng.random_range(0..STUDIES);
                let assessment = scored(rng.random_range(1..=10), rng.random_bool(0.1));
                let out = store.route(&route_input(&policy, &uid(i), &assessment, now)).unwrap();
                rerouted += usize::from(out.applied);
            }
            rerouted
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|t| {
            let store = replicas[t % 2].clone();
            std::thread::spawn(move || {
                let reader = Reader::new(format!("reader-{t}"));
                let mut idle = 0;
                let started = Instant::now();
                while idle < 20 {
                    assert!(started.elapsed() < Duration::from_secs(60), "no progress");
                    let Some(claim) = store.claim_next(&reader).unwrap() else {
                        idle += 1;
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    idle = 0;
                    let request_id = format!("{}-{}", reader.id, claim.task.id);
                    store.submit(&submission(&reader.id, claim.task.id, ReadDecision::NoRecall, request_id)).unwrap();
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let rerouted = router.join().unwrap();
    let store = &replicas[0];
    assert_eq!(store.check_consistency().unwrap(), Vec::<String>::new());
    let counts = store.counts().unwrap();
    assert_eq!(counts.studies_by_state.get("final"), Some(&(STUDIES as u64)), "{counts:?}");
    assert!(rerouted > 0 && counts.tasks.contains_key("first/cancelled"), "re-routing applied: {counts:?}");
    println!("{rerouted} re-routings applied while reading; {counts:?}");
}

/// The same submit sent to every replica at once is stored once; the others are told it is a
/// duplicate. Another reader's submit reusing the request id is refused.
#[test]
fn raced_submits_of_one_request_id_store_one_read() {
    let url = TempPostgres::shared().fresh_database();
    let replicas: Vec<Arc<PgStore>> =
        (0..3).map(|_| Arc::new(PgStore::open(&pool_options(url.clone()), long_lease()).unwrap())).collect();
    let policy = Policy::builtin("masai").unwrap();
    let now = granska_worklist::Clock::now_ms(&granska_worklist::SystemClock);
    let inputs: Vec<_> = (0..20).map(|i| route_input(&policy, &uid(i), &scored(10, false), now)).collect();
    replicas[0].route_many(&inputs).unwrap();
    for round in 0..20 {
        let alice = replicas[0].claim_next(&Reader::new("alice")).unwrap().unwrap();
        let bob = replicas[1].claim_next(&Reader::new("bob")).unwrap().unwrap();
        let barrier = Arc::new(Barrier::new(6));
        let request_id = format!("req-{round}");
        let handles: Vec<_> = (0..6)
            .map(|n| {
                let store = replicas[n % 3].clone();
                let barrier = barrier.clone();
                // Four identical submits by alice, two by bob reusing her request id.
                let (reader, task) = if n < 4 { ("alice", alice.task.id) } else { ("bob", bob.task.id) };
                let sub = submission(reader, task, ReadDecision::NoRecall, request_id.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.submit(&sub)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let stored = results.iter().filter(|r| matches!(r, Ok(o) if !o.duplicate)).count();
        let duplicates = results.iter().filter(|r| matches!(r, Ok(o) if o.duplicate)).count();
        let refused = results.iter().filter(|r| matches!(r, Err(Error::RequestIdReused { .. }))).count();
        // Either alice's first submit stored the read (3 duplicates, bob refused twice) or
        // bob's did (his second is a duplicate, alice is refused four times).
        assert!(
            (stored, duplicates, refused) == (1, 3, 2) || (stored, duplicates, refused) == (1, 1, 4),
            "round {round}: {results:?}"
        );
        for (reader, task) in [("alice", alice.task.id), ("bob", bob.task.id)] {
            if replicas[2].task(task).unwrap().state == TaskState::Claimed {
                replicas[2].release(task, reader).unwrap();
            }
        }
    }
    assert_eq!(replicas[2].check_consistency().unwrap(), Vec::<String>::new());
}

#[test]
fn opening_refuses_a_newer_schema() {
    let url = TempPostgres::shared().fresh_database();
    let clock = ManualClock::new(T0);
    let policy = Policy::builtin("masai").unwrap();
    let store = PgStore::open(&pool_options(url.clone()), options(&clock, &policy)).unwrap();
    store.route(&route_input(&policy, &uid(1), &scored(4, false), T0)).unwrap();
    drop(store);
    // Reopening keeps everything and migrates nothing twice.
    let store = PgStore::open(&pool_options(url.clone()), options(&clock, &policy)).unwrap();
    assert_eq!(store.study_tasks(&uid(1)).unwrap().len(), 1);
    drop(store);
    let pool = granska_postgres::pool(&pool_options(url.clone()), "worklist").unwrap();
    let insert = "INSERT INTO worklist.schema_version (version, name) VALUES (2, 'from a newer granska')";
    pool.get().unwrap().execute(insert, &[]).unwrap();
    let err = PgStore::open(&pool_options(url), options(&clock, &policy)).unwrap_err();
    assert!(matches!(err, Error::SchemaTooNew { found: 2, supported: 1 }), "{err}");
    assert_eq!(err.to_string(), "worklist database schema version 2 is newer than this granska supports (1)");
}

#[test]
fn opening_returns_expired_leases_to_the_queue() {
    let url = TempPostgres::shared().fresh_database();
    let clock = ManualClock::new(T0);
    let policy = Policy::builtin("masai").unwrap();
    let task = {
        let store = PgStore::open(&pool_options(url.clone()), options(&clock, &policy)).unwrap();
        store.route(&route_input(&policy, &uid(1), &scored(4, false), T0)).unwrap();
        store.claim_next(&Reader::new("alice")).unwrap().unwrap().task.id
    };
    clock.advance(LEASE_S as i64 * 1000 + 1);
    let store = PgStore::open(&pool_options(url), options(&clock, &policy)).unwrap();
    let h = store.history(&uid(1)).unwrap();
    assert_eq!(h.tasks[0].state, TaskState::Queued);
    assert_eq!(h.tasks[0].kind, TaskKind::First);
    assert_eq!(h.events.last().unwrap().kind, "lease-expired");
    assert_eq!(h.events.last().unwrap().task_id, Some(task));
}

#[test]
fn an_unreachable_server_is_an_open_error_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://granska:secret@127.0.0.1:{port}/nowhere");
    let pg = PoolOptions { url, max_size: 1, acquire_timeout: Duration::from_millis(300) };
    let err = PgStore::open(&pg, StoreOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("cannot open worklist database 127.0.0.1:{port}/nowhere")), "{text}");
    assert!(!text.contains("secret"), "{text}");
}
