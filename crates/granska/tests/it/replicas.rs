//! Several `granska serve` replicas on one PostgreSQL (Debian's, started by the test with
//! initdb/pg_ctl in a temporary directory) and one shared data directory, as an operator runs
//! them behind a load balancer:
//!
//! - exams pushed to replica A (gRPC) and B (DICOM C-STORE) are scored exactly once, and every
//!   replica's watchers see every routing (LISTEN/NOTIFY);
//! - 16 readers claiming through all three replicas at once get every task exactly once;
//! - a replica SIGKILLed while it holds scoring jobs and a read lease: its jobs are taken over
//!   after the lease, every acknowledged instance is there, no exam is routed twice, the read
//!   is not lost; PostgreSQL restarted under a replica: it reports not-ready, then recovers
//!   without a restart, and nothing is lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use granska_client::{Client, pb};
use granska_postgres::testing::TempPostgres;
use granska_worklist::WorklistStore;

use super::dicom_network::{study_dirs, token};
use super::service::{Served, json, serve_full};
use super::{granska, phantoms, run_ok};

/// dcmtk's storescu (pynetdicom's is first on PATH in the test venv).
const DCMTK_STORESCU: &str = "/usr/bin/storescu";

/// One database, one data directory, the tokens every replica accepts.
struct Cluster {
    pg: TempPostgres,
    url: String,
    work: tempfile::TempDir,
    config: PathBuf,
    admin: String,
    pacs: String,
    readers: Vec<String>,
}

impl Cluster {
    fn new(readers: usize, lease_s: u64) -> Cluster {
        let pg = TempPostgres::start().expect("start PostgreSQL (bash scripts/setup.sh --test installs it)");
        let url = pg.create_database("granska").unwrap();
        let work = tempfile::tempdir().unwrap();
        let (admin, admin_entry) = token("admin", "admin");
        let (pacs, pacs_entry) = token("pacs", "pacs");
        let mut entries = vec![admin_entry, pacs_entry];
        let mut tokens = Vec::new();
        for i in 0..readers {
            let (t, e) = token(&format!("dr-{i:02}"), "radiologist");
            tokens.push(t);
            entries.push(e);
        }
        let config = work.path().join("granska.toml");
        std::fs::write(
            &config,
            format!(
                "[ingest]\nquiet_period_s = 2\n\n[scoring]\nworkers = 1\nqueue = 2\nlease_s = {lease_s}\nretry_backoff_ms = 200\n\n\
                 [store]\nbackend = \"postgres\"\npool_size = 8\nacquire_timeout_s = 2\n\n{}\n",
                entries.join("\n\n")
            ),
        )
        .unwrap();
        Cluster { pg, url, work, config, admin, pacs, readers: tokens }
    }

    fn data(&self) -> PathBuf {
        self.work.path().join("data")
    }

    /// A replica named `id` (its URL from the environment, as an operator would pass a secret).
    fn replica(&self, id: &str) -> Served {
        self.replica_with(id, &[])
    }

    fn replica_with(&self, id: &str, env: &[(&str, &str)]) -> Served {
        let mut all = vec![("GRANSKA__STORE__URL", self.url.as_str()), ("GRANSKA__SERVER__REPLICA_ID", id)];
        all.extend_from_slice(env);
        serve_full(&self.data(), Some(&self.config), &all)
    }

    fn sql(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test database")
    }

    /// `granska study --json` through `served`, once the study is routed.
    fn wait_routed(&self, served: &Served, study: &str, within: Duration) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let out = granska(&["study", "--server", &served.grpc, "--token", &self.admin, "--json", study]);
            if out.status.success() {
                let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                if s["state"] == "routed" {
                    return s;
                }
                assert!(started.elapsed() < within, "study {study} not routed within {within:?}: {s:#}");
            } else {
                assert!(started.elapsed() < within, "study {study}: {}", String::from_utf8_lossy(&out.stderr));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Routings recorded per study in the worklist (every one, superseded or not).
    fn routings_per_study(&self) -> BTreeMap<String, i64> {
        self.sql()
            .query(
                "SELECT s.study_uid, COUNT(r.id) FROM worklist.studies s JOIN worklist.routings r ON r.study_id = s.id
                 GROUP BY s.study_uid",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}

fn uid_of(dir: &Path) -> String {
    dir.file_name().unwrap().to_str().unwrap().to_owned()
}

fn dcm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    files
}

fn push(served: &Served, pacs: &str, dirs: &[PathBuf]) -> Vec<serde_json::Value> {
    let mut args = vec!["push", "--server", &served.grpc, "--token", pacs, "--json"];
    let paths: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    run_ok(&args).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn store_by_dicom(served: &Served, dir: &Path) {
    let (host, port) = served.dicom.rsplit_once(':').unwrap();
    let out = Command::new(DCMTK_STORESCU)
        .args(["-aet", "PACS", "-aec", "GRANSKA", host, port])
        .args(dcm_files(dir))
        .output()
        .expect("dcmtk's storescu runs (bash scripts/setup.sh --test installs it)");
    assert!(out.status.success(), "storescu: {}", String::from_utf8_lossy(&out.stderr));
}

/// Follows Watch on `served`, collecting `(study, change)` until the runtime stops.
fn watch(rt: &tokio::runtime::Runtime, served: &Served, admin: &str) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (server, token, into) = (served.grpc.clone(), admin.to_owned(), seen.clone());
    let ready = Arc::new(tokio::sync::Notify::new());
    let started = ready.clone();
    rt.spawn(async move {
        let client = Client::connect_lazy(&server, &token, Duration::from_secs(10)).unwrap();
        let mut stream = client.worklist().watch(pb::WatchRequest {}).await.expect("Watch starts").into_inner();
        started.notify_one();
        while let Ok(Some(change)) = stream.message().await {
            let kind = granska_proto::name::<granska_types::ChangeKind>(change.change);
            into.lock().unwrap().push((change.study_instance_uid, kind));
        }
    });
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), ready.notified()).await.expect("Watch started")
    });
    seen
}

/// GET `path` on `host:port`: the status code.
fn http_status(address: &str, path: &str) -> u16 {
    let Ok(mut stream) = std::net::TcpStream::connect(address) else { return 0 };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn wait_http(address: &str, path: &str, status: u16, within: Duration) {
    let started = Instant::now();
    loop {
        let now = http_status(address, path);
        if now == status {
            return;
        }
        assert!(started.elapsed() < within, "GET {path} on {address}: {now}, waited {within:?} for {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn three_replicas_score_each_exam_once_and_hand_out_each_task_once() {
    let cluster = Cluster::new(16, 5);
    let replicas = [cluster.replica("a"), cluster.replica("b"), cluster.replica("c")];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let watched: Vec<_> = replicas.iter().map(|r| watch(&rt, r, &cluster.admin)).collect();

    // Eight exams: four pushed to A over gRPC, four stored on B over DICOM.
    let images = cluster.work.path().join("images");
    phantoms(&images, 8, 61, &[]);
    let dirs = study_dirs(&images);
    let acked = push(&replicas[0], &cluster.pacs, &dirs[..4]);
    assert_eq!(acked.iter().filter(|a| a["outcome"] == "stored").count(), 16, "{acked:#?}");
    for dir in &dirs[4..] {
        store_by_dicom(&replicas[1], dir);
    }
    let uids: Vec<String> = dirs.iter().map(|d| uid_of(d)).collect();
    for (i, uid) in uids.iter().enumerate() {
        // Asked through C, which received none of them.
        let s = cluster.wait_routed(&replicas[2], uid, Duration::from_secs(120));
        assert_eq!(s["views"].as_array().unwrap().len(), 4, "{s:#}");
        assert!(s["scoring"].is_object(), "{s:#}");
        assert_eq!(s["superseded_scorings"], serde_json::json!([]), "study {i} scored more than once: {s:#}");
    }
    // Scored and routed exactly once each, whichever replica did it.
    let routings = cluster.routings_per_study();
    for uid in &uids {
        assert_eq!(routings.get(uid), Some(&1), "routings of {uid}: {routings:?}");
    }
    let scorings: i64 = cluster.sql().query_one("SELECT COUNT(*) FROM archive.scorings", &[]).unwrap().get(0);
    assert_eq!(scorings, 8);
    // Every replica's watchers saw every routing, wherever it happened (LISTEN/NOTIFY).
    let started = Instant::now();
    for (replica, seen) in ["a", "b", "c"].iter().zip(&watched) {
        loop {
            let routed: BTreeSet<String> =
                seen.lock().unwrap().iter().filter(|(_, k)| k == "routed").map(|(s, _)| s.clone()).collect();
            if uids.iter().all(|u| routed.contains(u)) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "replica {replica}'s Watch saw {routed:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // 2,000 more exams routed straight into the shared worklist, then 16 readers claiming
    // and submitting through the three replicas at once, until nothing is left.
    let policy = granska_triage::Policy::builtin("masai").unwrap();
    let inputs: Vec<_> = (0..2000u64)
        .map(|i| {
            let category = (i % 10 + 1) as u8;
            let assessment = granska_worklist::conformance::support::scored(category, i % 97 == 0);
            granska_worklist::conformance::support::route_input(
                &policy,
                &format!("1.2.826.0.1.3680043.10.1.{i}"),
                &assessment,
                1_790_000_000_000 + i as i64,
            )
        })
        .collect();
    let store = granska_worklist::PgStore::open(
        &granska_postgres::PoolOptions {
            url: cluster.url.clone(),
            max_size: 2,
            acquire_timeout: Duration::from_secs(5),
        },
        granska_worklist::StoreOptions::default(),
    )
    .unwrap();
    store.route_many(&inputs).unwrap();
    let total_tasks: i64 = cluster.sql().query_one("SELECT COUNT(*) FROM worklist.tasks", &[]).unwrap().get(0);

    let claims: Arc<Mutex<HashMap<i64, Vec<usize>>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    rt.block_on(async {
        let mut readers = Vec::new();
        for (i, token) in cluster.readers.iter().enumerate() {
            let server = replicas[i % 3].grpc.clone();
            let (token, claims, failures) = (token.clone(), claims.clone(), failures.clone());
            readers.push(tokio::spawn(async move {
                let client = Client::connect_lazy(&server, &token, Duration::from_secs(30)).unwrap();
                let mut empty = 0;
                while empty < 3 {
                    let task = match client.worklist().claim_next(pb::ClaimNextRequest {}).await {
                        Ok(r) => r.into_inner().task,
                        Err(s) => {
                            failures.lock().unwrap().push(format!("reader {i} claim: {s}"));
                            continue;
                        }
                    };
                    let Some(task) = task else {
                        // Other readers may still hold tasks this reader may take after they
                        // release them: look again a few times.
                        empty += 1;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        continue;
                    };
                    empty = 0;
                    claims.lock().unwrap().entry(task.task_id).or_default().push(i);
                    let submitted = client
                        .submit_read(pb::SubmitReadRequest {
                            task_id: task.task_id,
                            decision: pb::ReadDecision::NoRecall as i32,
                            note: String::new(),
                            request_id: granska_client::new_request_id(),
                        })
                        .await;
                    if let Err(e) = submitted {
                        failures.lock().unwrap().push(format!("reader {i} submit of task {}: {e}", task.task_id));
                    }
                }
            }));
        }
        for r in readers {
            r.await.unwrap();
        }
    });
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    let claims = claims.lock().unwrap();
    let twice: Vec<_> = claims.iter().filter(|(_, by)| by.len() != 1).collect();
    assert!(twice.is_empty(), "tasks claimed more than once: {twice:?}");
    assert_eq!(claims.len() as i64, total_tasks, "every task claimed");
    let (done, reads): (i64, i64) = {
        let row = cluster
            .sql()
            .query_one(
                "SELECT (SELECT COUNT(*) FROM worklist.tasks WHERE state = 'done'), (SELECT COUNT(*) FROM worklist.reads)",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((done, reads), (total_tasks, total_tasks));
    let problems = WorklistStore::check_consistency(&store).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    // Each replica counts its own work, labelled with its name.
    let metrics = http_body(&replicas[2].metrics, "/metrics");
    assert!(metrics.contains("replica=\"c\""), "{metrics}");
}

/// GET `path`: the body.
fn http_body(address: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_killed_replica_is_taken_over_and_a_restarted_database_recovers() {
    let cluster = Cluster::new(1, 3);
    // A scores slowly (each view waits 4 s for its inference batch to fill), so that it holds
    // scoring jobs when it is killed.
    let mut a = cluster.replica_with("a", &[("GRANSKA__MODEL__BATCH_WAIT_MS", "4000")]);
    let images = cluster.work.path().join("images");
    phantoms(&images, 8, 62, &[]);
    let dirs = study_dirs(&images);
    let uids: Vec<String> = dirs.iter().map(|d| uid_of(d)).collect();

    // A reader holds a task through A.
    let first = push(&a, &cluster.pacs, &dirs[..1]);
    assert_eq!(first.len(), 4);
    cluster.wait_routed(&a, &uids[0], Duration::from_secs(120));
    let reader = &cluster.readers[0];
    let claimed = json(&["read", "claim", "--server", &a.grpc, "--token", reader, "--json"]);
    let task_id = claimed["task_id"].as_i64().unwrap_or_else(|| panic!("a task: {claimed:#}"));

    // A is killed right after acknowledging seven more exams, holding their scoring jobs.
    let acked = push(&a, &cluster.pacs, &dirs[1..]);
    assert_eq!(acked.iter().filter(|x| x["outcome"] == "stored").count(), 28);
    let held: i64 = cluster
        .sql()
        .query_one(
            "SELECT COUNT(*) FROM archive.studies WHERE state = 'complete' AND scoring_owner = 'a'
             AND scoring_until > (extract(epoch from now()) * 1000)::bigint",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(held > 0, "A holds scoring jobs when it is killed");
    a.server.kill();
    // B takes the jobs over once A's leases (3 s) ran out; the reader goes on through B and
    // gets her task back, and her read is kept.
    let b = cluster.replica("b");
    for uid in &uids {
        cluster.wait_routed(&b, uid, Duration::from_secs(120));
    }
    let again = json(&["read", "claim", "--server", &b.grpc, "--token", reader, "--json"]);
    assert_eq!(again["task_id"].as_i64(), Some(task_id), "the held task comes back: {again:#}");
    run_ok(&[
        "read",
        "submit",
        "--server",
        &b.grpc,
        "--token",
        reader,
        "--task",
        &task_id.to_string(),
        "--decision",
        "no-recall",
    ]);
    // Every acknowledged instance is there; no exam was routed twice.
    for ack in acked.iter().chain(&first) {
        let study = ack["study_uid"].as_str().unwrap();
        let s = json(&["study", "--server", &b.grpc, "--token", &cluster.admin, "--json", study]);
        let sop = ack["sop_instance_uid"].as_str().unwrap();
        assert!(s["views"].as_array().unwrap().iter().any(|v| v["sop_instance_uid"] == sop), "{sop} lost: {s:#}");
    }
    let routings = cluster.routings_per_study();
    assert_eq!(routings.len(), 8);
    assert!(routings.values().all(|n| *n == 1), "an exam routed twice: {routings:?} ({held} were waiting at the kill)");
    let reads: i64 = cluster.sql().query_one("SELECT COUNT(*) FROM worklist.reads", &[]).unwrap().get(0);
    assert_eq!(reads, 1);

    // PostgreSQL restarted under B: not ready while it is down, ready again after, without
    // restarting B; what was there still is, and new exams are taken.
    wait_http(&b.metrics, "/health/ready", 200, Duration::from_secs(10));
    cluster.pg.stop().unwrap();
    wait_http(&b.metrics, "/health/ready", 503, Duration::from_secs(15));
    assert_eq!(http_status(&b.metrics, "/health/live"), 200);
    cluster.pg.start_again().unwrap();
    wait_http(&b.metrics, "/health/ready", 200, Duration::from_secs(30));
    let more = cluster.work.path().join("more");
    phantoms(&more, 1, 63, &[]);
    let late = study_dirs(&more);
    let pushed = push(&b, &cluster.pacs, &late);
    assert_eq!(pushed.iter().filter(|x| x["outcome"] == "stored").count(), 4);
    cluster.wait_routed(&b, &uid_of(&late[0]), Duration::from_secs(60));
    for uid in &uids {
        cluster.wait_routed(&b, uid, Duration::from_secs(5));
    }
    let problems = WorklistStore::check_consistency(
        &granska_worklist::PgStore::open(
            &granska_postgres::PoolOptions {
                url: cluster.url.clone(),
                max_size: 1,
                acquire_timeout: Duration::from_secs(5),
            },
            granska_worklist::StoreOptions::default(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(problems.is_empty(), "{problems:#?}");

    // `granska migrate` finds both schemas current, and refuses a database a newer granska
    // wrote (as every replica's start does).
    let migrate = || {
        Command::new(env!("CARGO_BIN_EXE_granska"))
            .args(["migrate", "--config", cluster.config.to_str().unwrap()])
            .env("GRANSKA__STORE__URL", &cluster.url)
            .env("GRANSKA__SERVER__DATA_DIR", cluster.data())
            .output()
            .unwrap()
    };
    let out = migrate();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("archive schema 1, worklist schema 1"), "{said}");
    cluster
        .sql()
        .execute("INSERT INTO worklist.schema_version (version, name) VALUES (99, 'from the future')", &[])
        .unwrap();
    let out = migrate();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("schema version 99 is newer than this granska supports (1)"),
        "{said}"
    );
}
