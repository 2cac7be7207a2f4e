//! Crash test: a child process works through the workflow (route, claim, release, submit) on
//! a real SQLite file and is killed with SIGKILL at a random moment, again and again. After
//! each kill the file is reopened: every transition the child saw committed is there, and the
//! store is consistent (no orphan tasks, every exam has a path to a final outcome).
//!
//! The child is this same test binary, re-run filtered to this test with `CRASH_CHILD_DB` set.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use granska_triage::Policy;
use granska_worklist::model::{ReadDecision, Reader, Submission};
use granska_worklist::{SqliteStore, StoreOptions, SystemClock, WorklistStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::{route_input, scored};

const ROUNDS: u64 = 15;
const READERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erik"];

fn options() -> StoreOptions {
    // Leases outlive the test, so a claim made before a kill is still held afterwards.
    StoreOptions { lease: Duration::from_secs(3600), ..StoreOptions::default() }
}

/// The child: an endless random workflow; prints `begin …` before a call that changes a held
/// task and `committed …` after every call that returned.
fn child(db: &str, seed: u64) -> ! {
    let store = SqliteStore::open(db, options()).unwrap();
    let policy = Policy::builtin("masai").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let out = std::io::stdout();
    let mut study = 0u64;
    loop {
        let reader = READERS[rng.random_range(0..READERS.len())];
        match store.claim_next(&Reader::new(reader)).unwrap() {
            None => {
                let uid = format!("1.2.826.0.1.3680043.8.498.{seed}.{study}");
                study += 1;
                let category = if rng.random_bool(0.5) { 10 } else { rng.random_range(1..=9) };
                let now = granska_worklist::Clock::now_ms(&SystemClock);
                store.route(&route_input(&policy, &uid, &scored(category, false), now)).unwrap();
                writeln!(out.lock(), "committed route {uid}").unwrap();
            }
            Some(claim) => {
                let task = claim.task.id;
                writeln!(out.lock(), "committed claim {task} {reader}").unwrap();
                if rng.random_bool(0.15) {
                    writeln!(out.lock(), "begin release {task} {reader}").unwrap();
                    store.release(task, reader).unwrap();
                    writeln!(out.lock(), "committed release {task} {reader}").unwrap();
                } else if rng.random_bool(0.9) {
                    let decision = if rng.random_bool(0.3) { ReadDecision::Recall } else { ReadDecision::NoRecall };
                    let request_id = format!("{reader}-{task}");
                    let sub = Submission { task_id: task, reader: reader.into(), decision, note: None, request_id };
                    writeln!(out.lock(), "begin submit {task} {reader}").unwrap();
                    store.submit(&sub).unwrap();
                    writeln!(out.lock(), "committed submit {task} {reader} {decision}").unwrap();
                }
                // else: keep holding it, as a reader whose client crashed would.
            }
        }
    }
}

#[test]
fn sigkill_at_random_points_loses_no_committed_transition() {
    if let Ok(db) = std::env::var("CRASH_CHILD_DB") {
        child(&db, std::env::var("CRASH_CHILD_SEED").unwrap().parse().unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("worklist.db");
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut total_lines = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash::sigkill_at_random_points_loses_no_committed_transition", "--nocapture"])
            .env("CRASH_CHILD_DB", &db)
            .env("CRASH_CHILD_SEED", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.starts_with("committed ") || line.starts_with("begin ") {
                        lines.lock().unwrap().push(line);
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child runs until killed");
        reader.join().unwrap();
        let lines = std::mem::take(&mut *lines.lock().unwrap());
        assert!(lines.iter().any(|l| l.starts_with("committed")), "round {round}: nothing committed before the kill");
        total_lines += lines.iter().filter(|l| l.starts_with("committed")).count();

        let store = SqliteStore::open(&db, options()).unwrap();
        verify(&store, &lines, round);
        assert_eq!(store.check_consistency().unwrap(), Vec::<String>::new(), "round {round}");
    }
    println!("{ROUNDS} SIGKILLs, {total_lines} committed transitions verified");
}

/// Every transition the child saw committed is in the reopened store, and held tasks are in
/// exactly the state the child left them (or the one its unfinished last call was making).
fn verify(store: &SqliteStore, lines: &[String], round: u64) {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Last<'a> {
        Held(&'a str),
        // A release or submit begun but not seen to return: either outcome is allowed.
        Unsure(&'a str),
        Released,
        Done(&'a str),
    }
    let mut last: std::collections::HashMap<i64, Last> = Default::default();
    for line in lines {
        let words: Vec<&str> = line.split(' ').collect();
        let task = || words[2].parse::<i64>().unwrap();
        match (words[0], words[1]) {
            ("committed", "route") => {
                store.history(words[2]).unwrap_or_else(|e| panic!("round {round}: routed {} is gone: {e}", words[2]));
            }
            ("committed", "claim") => {
                last.insert(task(), Last::Held(words[3]));
            }
            ("begin", _) => {
                last.insert(task(), Last::Unsure(words[3]));
            }
            ("committed", "release") => {
                last.insert(task(), Last::Released);
            }
            ("committed", "submit") => {
                last.insert(task(), Last::Done(words[3]));
            }
            other => panic!("unexpected line {other:?}"),
        }
    }
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    for (task, expected) in last {
        let (state, holder, read_by): (String, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT t.state, t.claimed_by, r.reader FROM tasks t LEFT JOIN reads r ON r.task_id = t.id WHERE t.id = ?1",
                [task],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let now = (state.as_str(), holder.as_deref(), read_by.as_deref());
        let ok = match expected {
            Last::Held(reader) => now == ("claimed", Some(reader), None),
            Last::Unsure(reader) => {
                now == ("claimed", Some(reader), None)
                    || now == ("queued", None, None)
                    || now == ("done", None, Some(reader))
            }
            // Released: since then anyone may have claimed it, but the child's next lines would
            // say so; a later claim by someone else is still possible after the last line.
            Last::Released => now.0 == "queued" || now.0 == "claimed",
            Last::Done(reader) => now == ("done", None, Some(reader)),
        };
        assert!(ok, "round {round}: task {task} expected {expected:?}, found {now:?}");
    }
}
