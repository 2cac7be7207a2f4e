//! Criterion benches of the queue with 100 000 exams in the store (40 % double read, so about
//! 140 000 queued tasks): claiming the next task, and listing a reader's worklist page.
//!
//!     cargo bench -p granska-worklist --bench worklist

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use granska_triage::{Assessment, Category, Policy};
use granska_worklist::model::{ExamStatus, PageRequest, Reader, RouteInput};
use granska_worklist::{SqliteStore, StoreOptions, WorklistStore};

const STUDIES: usize = 100_000;

fn populate(store: &SqliteStore) {
    let policy = Policy::builtin("threshold").unwrap();
    let now = granska_worklist::Clock::now_ms(&granska_worklist::SystemClock);
    let started = Instant::now();
    for chunk in (0..STUDIES).collect::<Vec<_>>().chunks(10_000) {
        let inputs: Vec<RouteInput> = chunk
            .iter()
            .map(|&i| {
                // Categories spread evenly, every 100th exam extra-high; waiting up to 60 h.
                let category = (i % 10) as u8 + 1;
                let extra_high = i % 100 == 99;
                let assessment = Assessment::Scored { category: Category::new(category).unwrap(), extra_high };
                RouteInput {
                    study_uid: format!("1.2.826.0.1.3680043.8.498.{}", 1_000_000 + i),
                    waiting_since_ms: now - (i as i64 * 2161) % (60 * 3_600_000),
                    status: ExamStatus::Scored,
                    model: None,
                    raw_score: Some(category as f64 / 10.0),
                    category: Some(category),
                    extra_high,
                    policy: policy.id(),
                    decision: policy.decide(&assessment),
                }
            })
            .collect();
        store.route_many(&inputs).unwrap();
    }
    eprintln!("routed {STUDIES} exams in {:.1} s", started.elapsed().as_secs_f64());
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("worklist.db"), StoreOptions::default()).unwrap();
    populate(&store);
    let reader = Reader::new("bench-reader");

    // Claim, timed; release, not timed, so the queue stays the same for every iteration.
    c.bench_function("claim_next (100k exams)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let claimed = store.claim_next(black_box(&reader)).unwrap().unwrap();
                total += start.elapsed();
                store.release(claimed.task.id, &reader.id).unwrap();
            }
            total
        })
    });
    c.bench_function("worklist first page of 50 (100k exams)", |b| {
        b.iter(|| store.worklist(black_box(&reader), PageRequest { offset: 0, limit: 50 }).unwrap())
    });
    c.bench_function("worklist page of 50 at offset 10 000 (100k exams)", |b| {
        b.iter(|| store.worklist(black_box(&reader), PageRequest { offset: 10_000, limit: 50 }).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
