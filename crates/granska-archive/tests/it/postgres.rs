//! The archive on PostgreSQL: the conformance suite (each case on a fresh database and data
//! directory of the test binary's one server), replicas racing on one database and one blob
//! directory, and the refusal of a schema newer than the build.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use granska_archive::conformance::in_study;
use granska_archive::{
    ArchiveStore, Completion, Error, NewReport, PgArchive, PutOutcome, ReportAttempt, StudyState, Uid,
};
use granska_postgres::PoolOptions;
use granska_postgres::testing::TempPostgres;
use granska_types::ReportState;

fn options(url: String) -> PoolOptions {
    PoolOptions { url, max_size: 8, acquire_timeout: Duration::from_secs(10) }
}

/// Opens a new archive per call, each on a fresh database and in its own directory under one
/// temporary directory that lives as long as the factory.
fn postgres_archives() -> impl Fn() -> PgArchive {
    let dir = tempfile::tempdir().unwrap();
    let opened = AtomicUsize::new(0);
    move || {
        let data = dir.path().join(format!("data-{}", opened.fetch_add(1, Ordering::Relaxed)));
        PgArchive::open(&options(TempPostgres::shared().fresh_database()), data).unwrap()
    }
}

granska_archive::archive_store_conformance!(postgres_archives());

/// A deterministic shuffle (xorshift), so a failing order can be replayed from its seed.
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

fn replicas(data: &Path) -> [PgArchive; 2] {
    let url = TempPostgres::shared().fresh_database();
    [PgArchive::open(&options(url.clone()), data).unwrap(), PgArchive::open(&options(url), data).unwrap()]
}

#[test]
fn replicas_racing_on_the_same_instances_store_each_once() {
    const STUDIES: usize = 50;
    const THREADS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let replicas = replicas(dir.path());
    let views = [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")];
    let instances: Vec<_> = (0..STUDIES)
        .flat_map(|s| {
            views.iter().enumerate().map(move |(v, (lat, view))| {
                let study = format!("1.2.{s}");
                let sop = format!("{study}.1.{v}");
                (format!("bytes of {sop}").into_bytes(), in_study(&study, &sop, lat, view))
            })
        })
        .collect();
    let outcomes: Vec<Vec<PutOutcome>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let archive = &replicas[t % 2];
                let order = shuffled((0..instances.len()).collect(), 0x9e37_79b9_7f4a_7c15 ^ t as u64);
                let instances = &instances;
                scope.spawn(move || {
                    order.into_iter().map(|i| archive.put(&instances[i].0, &instances[i].1, 1000).unwrap()).collect()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let stored: Vec<_> = outcomes.iter().flatten().filter(|o| matches!(o, PutOutcome::Stored { .. })).collect();
    assert_eq!(stored.len(), instances.len(), "each instance stored exactly once");
    let completed = stored.iter().filter(|o| matches!(o, PutOutcome::Stored { became_complete: true, .. })).count();
    assert_eq!(completed, STUDIES, "each study completed by exactly one put");
    let bytes: u64 = instances.iter().map(|(b, _)| b.len() as u64).sum();
    for archive in &replicas {
        assert_eq!(archive.totals().unwrap(), (instances.len() as u64, bytes));
    }
    for s in 0..STUDIES {
        let study = replicas[s % 2].study(&format!("1.2.{s}")).unwrap().unwrap();
        assert_eq!(
            (study.state, study.completion, study.generation, study.instances.len()),
            (StudyState::Complete, Some(Completion::FourViews), 4, 4),
            "study 1.2.{s}"
        );
        for i in &study.instances {
            replicas[(s + 1) % 2].read_blob(&i.sha256).unwrap();
        }
    }
    assert_eq!(replicas[0].pending().unwrap().len(), STUDIES);
}

#[test]
fn replicas_racing_on_one_study_complete_it_once_and_deliver_a_report_once() {
    const THREADS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let replicas = replicas(dir.path());
    replicas[0].put(b"a", &in_study("1.2.3", "1.2.3.1", "L", "CC"), 10).unwrap();
    let replicas = &replicas;
    let race = |f: &(dyn Fn(&PgArchive) -> bool + Sync)| -> usize {
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..THREADS).map(|t| scope.spawn(move || f(&replicas[t % 2]))).collect();
            threads.into_iter().map(|t| t.join().unwrap()).filter(|&won| won).count()
        })
    };
    assert_eq!(race(&|a| a.complete("1.2.3", Completion::QuietPeriod).unwrap()), 1, "completed once");
    let scoring = granska_types::ScoringRecord::unscorable("test".into());
    assert_eq!(race(&|a| a.record_scoring("1.2.3", 1, &scoring, true, 20).unwrap()), 1, "routed once");
    assert_eq!(replicas[1].claim_unreported(0, 0, 10).unwrap(), [("1.2.3".to_owned(), 1)]);
    let report = NewReport {
        sop_instance_uid: Uid::parse("9.1").unwrap(),
        study_uid: Uid::parse("1.2.3").unwrap(),
        generation: 1,
        destination: "PACS@127.0.0.1:104".into(),
    };
    replicas[1].add_report(&report, b"sr", 30).unwrap();
    let delivered =
        race(&|a| match a.record_report_attempt("9.1", &ReportAttempt::Delivered { status: "0x0000".into() }, 40) {
            Ok(r) => r.state == ReportState::Sent,
            Err(Error::ReportNotPending { state: ReportState::Sent, .. }) => false,
            Err(e) => panic!("{e}"),
        });
    assert_eq!(delivered, 1, "recorded as delivered once");
    assert_eq!(replicas[0].reports("1.2.3").unwrap()[0].attempts, 1);
    // Failures recorded at once from both replicas are each counted.
    replicas[0].put(b"b", &in_study("1.2.3", "1.2.3.2", "L", "MLO"), 50).unwrap();
    race(&|a| a.record_failure("1.2.3", "injected", 100, 60).unwrap().parked);
    assert_eq!(replicas[1].study("1.2.3").unwrap().unwrap().attention.unwrap().attempts, THREADS as u32);
}

#[test]
fn open_refuses_a_schema_newer_than_the_build() {
    let url = TempPostgres::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    drop(PgArchive::open(&options(url.clone()), dir.path()).unwrap());
    let mut client = granska_postgres::pool(&options(url.clone()), "archive").unwrap().get().unwrap();
    client.execute("INSERT INTO schema_version (version, name) VALUES (99, 'from the future')", &[]).unwrap();
    drop(client);
    let err = PgArchive::open(&options(url), dir.path()).unwrap_err();
    assert!(matches!(err, Error::SchemaTooNew { found: 99, supported: 1 }), "{err}");
}

#[test]
fn blobs_are_laid_out_as_the_sqlite_archive_lays_them_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let archive = PgArchive::open(&options(TempPostgres::shared().fresh_database()), &root).unwrap();
    archive.put(b"abc", &in_study("1.2.3", "1.2.3.1", "L", "CC"), 1).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&root), mode(&root.join("blobs"))), (0o700, 0o700));
    let sha = granska_archive::sha256_hex(b"abc");
    let blob = root.join("blobs").join(&sha[..2]).join(&sha[2..4]).join(&sha);
    assert_eq!((mode(&blob), mode(blob.parent().unwrap())), (0o600, 0o700));
    assert_eq!(archive.root(), root);
}

#[test]
fn removing_an_instance_never_deletes_bytes_another_replica_is_storing() {
    let dir = tempfile::tempdir().unwrap();
    let replicas = replicas(dir.path());
    for round in 0..20 {
        let bytes = format!("shared bytes {round}").into_bytes();
        let first = in_study(&format!("1.2.{round}"), &format!("1.2.{round}.1"), "L", "CC");
        let second = in_study(&format!("1.3.{round}"), &format!("1.3.{round}.1"), "L", "CC");
        replicas[0].put(&bytes, &first, 10).unwrap();
        let (removed, stored) = std::thread::scope(|scope| {
            let removing = scope.spawn(|| replicas[0].remove_instance(first.sop_instance_uid.as_str(), 20).unwrap());
            let storing = scope.spawn(|| replicas[1].put(&bytes, &second, 20).unwrap());
            (removing.join().unwrap(), storing.join().unwrap())
        });
        assert!(matches!(stored, PutOutcome::Stored { .. }), "{stored:?}");
        // Whichever committed first, the second instance's bytes are there.
        assert_eq!(replicas[0].read_blob(&removed.sha256).unwrap(), bytes, "round {round}: {removed:?}");
    }
}

#[test]
fn a_corrupt_stored_value_is_reported_not_guessed() {
    let url = TempPostgres::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let archive = PgArchive::open(&options(url.clone()), dir.path()).unwrap();
    archive.put(b"a", &in_study("1.2.3", "1.2.3.1", "L", "CC"), 10).unwrap();
    let mut client = granska_postgres::pool(&options(url), "archive").unwrap().get().unwrap();
    client.execute("UPDATE instances SET view = 'sideways'", &[]).unwrap();
    drop(client);
    let err = archive.study("1.2.3").unwrap_err();
    assert!(matches!(&err, Error::Corrupt { found, .. } if found == "sideways"), "{err}");
}

#[test]
fn an_unreachable_database_is_busy() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pg = PoolOptions {
        url: format!("postgres://granska@127.0.0.1:{port}/none"),
        max_size: 1,
        acquire_timeout: Duration::from_millis(300),
    };
    let dir = tempfile::tempdir().unwrap();
    let err = PgArchive::open(&pg, dir.path()).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
}
