//! What a hostile PACS, a broken disk or a confused client found, each reproduced: nothing
//! acknowledged is stranded (an invalid UID is refused at ingest; a study whose routing keeps
//! failing is retried, then parked as needs-attention for the admin), a corrupt view costs only
//! that view, every upload failure is reported, limits hold and say which one was hit, and an
//! admin can remove a corrupted copy that blocks the correct one.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use granska_server::proto::v1 as pb;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::support::{TestServer, config, exam, exam_files, push_exams, upload, wait_routed};

/// Replaces the first occurrence of `from` in `bytes` with `to` (same length).
fn replace(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes.windows(from.len()).position(|w| w == from).expect("pattern in file");
    bytes[at..at + to.len()].copy_from_slice(to);
}

async fn get(server: &TestServer, uid: &str) -> pb::Study {
    let mut admin = server.ingest("root").await;
    admin.get_study(pb::GetStudyRequest { study_instance_uid: uid.into() }).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_uid_with_a_backslash_or_control_byte_is_refused_at_ingest_and_named() {
    let server = TestServer::start("masai").await;
    let e = exam(41, 0);
    let files = exam_files(&e);
    let mut cases = Vec::new();
    for (name, bad) in [("backslash", b'\\'), ("nul", 0u8), ("control", 1u8)] {
        let mut bytes = files[0].clone();
        let uid = e.study_uid.as_bytes();
        let mut broken = uid.to_vec();
        broken[uid.len() - 2] = bad;
        replace(&mut bytes, uid, &broken);
        cases.push((name.to_owned(), bytes));
    }
    let mut pacs = server.ingest("pacs-1").await;
    for r in upload(&mut pacs, cases).await.unwrap() {
        assert_eq!(r.outcome, pb::instance_result::Outcome::Rejected as i32, "{r:?}");
        let rej = r.rejection.unwrap();
        assert_eq!(rej.code, "INVALID_ARGUMENT");
        assert_eq!(rej.field_violations[0].field, "StudyInstanceUID (0020,000D)", "{}", rej.message);
        assert!(rej.message.contains("expected a DICOM UID (digits and dots)"), "{}", rej.message);
        // The refusal names the instance: its header was readable.
        assert_eq!(r.sop_instance_uid, e.views[0].sop_instance_uid);
        assert!(!r.study_instance_uid.is_empty());
    }
    let mut admin = server.ingest("root").await;
    let err = admin.get_study(pb::GetStudyRequest { study_instance_uid: e.study_uid.clone() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "nothing of a refused instance is stored");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_whose_routing_keeps_failing_is_retried_then_needs_attention_then_retried_by_the_admin() {
    let data = tempfile::tempdir().unwrap();
    let mut c = config("masai", data.path());
    c.scoring.max_attempts = 3;
    c.scoring.retry_backoff_ms = 50;
    let server = TestServer::start_with(c, data).await;
    // Fault injection: every routing insert fails, as a full or broken worklist disk would.
    let worklist = rusqlite::Connection::open(server.data.path().join("worklist.db")).unwrap();
    worklist
        .execute_batch(
            "CREATE TRIGGER injected_fault BEFORE INSERT ON routings BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
        )
        .unwrap();
    let e = exam(42, 0);
    push_exams(&server, std::slice::from_ref(&e)).await;
    let started = Instant::now();
    let study = loop {
        let s = get(&server, &e.study_uid).await;
        if s.state == pb::StudyState::NeedsAttention as i32 {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never parked: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let a = study.attention.unwrap();
    assert_eq!(a.attempts, 3);
    assert!(a.parked);
    assert!(a.reason.contains("cannot route the exam") && a.reason.contains("injected fault"), "{}", a.reason);
    // The admin sees it listed, and in metrics; it is not retried any more.
    let mut admin = server.ingest("root").await;
    let listed = admin.list_needs_attention(pb::ListNeedsAttentionRequest {}).await.unwrap().into_inner().studies;
    assert_eq!(listed.iter().map(|a| a.study_instance_uid.as_str()).collect::<Vec<_>>(), [e.study_uid.as_str()]);
    let started = Instant::now();
    while server.metric("granska_studies_needing_attention").await != 1.0 {
        assert!(started.elapsed() < Duration::from_secs(10), "gauge not set");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.metric("granska_scoring_failures_total").await, 3.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&server, &e.study_uid).await.attention.unwrap().attempts, 3, "parked: no more attempts");
    // The cause is fixed; the admin retries; the exam is routed and leaves the list.
    worklist.execute_batch("DROP TRIGGER injected_fault;").unwrap();
    let retried = admin.retry_study(pb::RetryStudyRequest { study_instance_uid: e.study_uid.clone() }).await.unwrap();
    assert!(retried.get_ref().queued);
    let routed = wait_routed(&server, &e.study_uid).await;
    assert!(routed.attention.is_none());
    assert!(admin.list_needs_attention(pb::ListNeedsAttentionRequest {}).await.unwrap().get_ref().studies.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_rle_view_costs_only_that_view() {
    let server = TestServer::start("masai").await;
    let e = exam(43, 0);
    let mut files = exam_files(&e);
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("r-mlo.dcm"), dir.path().join("r-mlo.rle.dcm"));
    std::fs::write(&src, &files[3]).unwrap();
    let out = std::process::Command::new("dcmcrle").arg(&src).arg(&dst).output().expect("dcmcrle runs (dcmtk)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut rle = std::fs::read(&dst).unwrap();
    // The RLE header of the first fragment: segment count 2 (16 bits) → 255.
    let header = rle.windows(8).position(|w| w == [2, 0, 0, 0, 64, 0, 0, 0]).expect("RLE header");
    rle[header] = 0xFF;
    files[3] = rle;
    let mut pacs = server.ingest("pacs-1").await;
    let named: Vec<(String, Vec<u8>)> = files.into_iter().enumerate().map(|(i, b)| (format!("v{i}"), b)).collect();
    for r in upload(&mut pacs, named).await.unwrap() {
        assert_eq!(r.outcome, pb::instance_result::Outcome::Stored as i32, "{r:?}");
    }
    let study = wait_routed(&server, &e.study_uid).await;
    let scoring = study.scoring.unwrap();
    assert_eq!(scoring.status, pb::ExamStatus::Incomplete as i32);
    let scored: Vec<_> = scoring.views.iter().filter(|v| v.score.is_some()).collect();
    assert_eq!(scored.len(), 3, "the three good views keep their scores: {:?}", scoring.views);
    let bad = scoring.views.iter().find(|v| v.score.is_none()).unwrap();
    assert!(bad.error.contains("expected 2 RLE segments, found 255"), "{}", bad.error);
    assert_eq!(study.routing.unwrap().reading_mode, pb::ReadingMode::Double as i32);
    server.stop().await;
}

/// An Upload stream the test controls: chunks go in as sent; results come out.
async fn open_stream(
    server: &TestServer,
) -> Result<(mpsc::Sender<pb::UploadChunk>, tonic::Streaming<pb::InstanceResult>), tonic::Status> {
    let mut pacs = server.ingest("pacs-1").await;
    let (tx, rx) = mpsc::channel(8);
    let results = pacs.upload(ReceiverStream::new(rx)).await?.into_inner();
    Ok((tx, results))
}

fn chunk(name: &str, len: usize, last: bool) -> pb::UploadChunk {
    pb::UploadChunk { instance_ref: name.into(), data: vec![0x5a; len], last }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upload_failure_ends_in_an_error_or_a_rejection_naming_the_instance() {
    let data = tempfile::tempdir().unwrap();
    let mut c = config("masai", data.path());
    c.ingest.idle_timeout_s = 1;
    c.ingest.max_uploads = 2;
    c.ingest.max_buffered_mib = 1;
    let server = TestServer::start_with(c, data).await;
    // A chunk over the 4 MiB message limit: an error status, not OK with no results.
    let mut pacs = server.ingest("pacs-1").await.max_encoding_message_size(16 << 20);
    let big = vec![chunk("huge", 5 << 20, true)];
    let err = match pacs.upload(tokio_stream::iter(big)).await {
        Ok(r) => r.into_inner().message().await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("at most 4 MiB"), "{}", err.message());
    // Half-closed inside an instance: a REJECTED result names it.
    let half = vec![chunk("half.dcm", 1000, false)];
    let results: Vec<_> = pacs.upload(tokio_stream::iter(half)).await.unwrap().into_inner().collect().await;
    let r = results.into_iter().next().expect("a result").unwrap();
    assert_eq!((r.instance_ref.as_str(), r.outcome), ("half.dcm", pb::instance_result::Outcome::Rejected as i32));
    assert!(r.rejection.unwrap().message.contains("before its last chunk: not stored"));
    // Idle: a stream that sends part of an instance and then nothing is ended.
    let (tx, mut results) = open_stream(&server).await.unwrap();
    tx.send(chunk("idle.dcm", 1000, false)).await.unwrap();
    let err = results.message().await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(err.message().contains("ingest.idle_timeout_s") && err.message().contains("\"idle.dcm\""), "{err:?}");
    drop(tx);
    // Memory: two streams may not buffer more than ingest.max_buffered_mib between them.
    let (tx1, _r1) = open_stream(&server).await.unwrap();
    tx1.send(chunk("a.dcm", 900 << 10, false)).await.unwrap();
    // Keep a.dcm's stream alive (empty chunks buffer nothing) while b.dcm waits for memory.
    let keep = tx1.clone();
    let alive = tokio::spawn(async move {
        while keep.send(chunk("a.dcm", 0, false)).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (tx2, mut r2) = open_stream(&server).await.unwrap();
    tx2.send(chunk("b.dcm", 300 << 10, false)).await.unwrap();
    let err = r2.message().await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(
        err.message().contains("ingest.max_buffered_mib = 1 MiB") && err.message().contains("\"b.dcm\""),
        "{err:?}"
    );
    // Streams: at most ingest.max_uploads at once; the refusal names the limit.
    let (_tx2b, _r2b) = open_stream(&server).await.unwrap();
    let refused = loop {
        // The two streams above are still open (a's idle timer has not run out).
        match open_stream(&server).await {
            Err(e) => break e,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("ingest.max_uploads = 2"), "{refused:?}");
    assert!(server.metric("granska_refused_total{limit=\"ingest.max_uploads\"}").await >= 1.0);
    alive.abort();
    drop((tx1, tx2));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_and_connections_and_streams_are_limited() {
    let data = tempfile::tempdir().unwrap();
    let mut c = config("masai", data.path());
    c.server.max_connections = 3;
    c.server.handshake_timeout_s = 1;
    c.server.max_concurrent_streams = 2;
    let server = TestServer::start_with(c, data).await;
    // Three silent TCP connections take the three slots; a fourth is closed at once.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let n = tokio::time::timeout(Duration::from_millis(900), fourth.read(&mut [0u8; 16])).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "over server.max_connections: closed at once ({n:?})");
    assert!(started.elapsed() < Duration::from_millis(900));
    // The silent ones are closed after the handshake timeout (1 s), never answered.
    for mut s in silent {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut [0u8; 16])).await.expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    assert!(server.metric("granska_refused_total{limit=\"server.handshake_timeout_s\"}").await >= 3.0);
    assert!(server.metric("granska_refused_total{limit=\"server.max_connections\"}").await >= 1.0);
    // Slots are free again; one connection carries at most two streams at once: a third waits.
    let channel = server.channel("pacs-1").await;
    let mut pacs = pb::ingest_client::IngestClient::new(channel);
    let mut held = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::channel(1);
        held.push((tx, pacs.upload(ReceiverStream::new(rx)).await.unwrap()));
    }
    let (_tx3, rx3) = mpsc::channel::<pb::UploadChunk>(1);
    let third = tokio::time::timeout(Duration::from_millis(500), pacs.upload(ReceiverStream::new(rx3))).await;
    assert!(third.is_err(), "a third concurrent stream on one connection must wait (max_concurrent_streams = 2)");
    drop(held);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_disk_watermark_ingest_is_refused_while_reading_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let mut c = config("masai", data.path());
    c.ingest.min_free_mib = 1 << 40; // more than any disk has
    let server = TestServer::start_with(c, data).await;
    let e = exam(44, 0);
    let mut pacs = server.ingest("pacs-1").await;
    let r = upload(&mut pacs, vec![("v0".into(), exam_files(&e)[0].clone())]).await.unwrap().remove(0);
    let rej = r.rejection.expect("refused");
    assert_eq!(rej.code, "RESOURCE_EXHAUSTED");
    assert!(rej.message.contains("below ingest.min_free_mib") && rej.message.contains("reading and scoring go on"));
    assert_eq!(r.sop_instance_uid, e.views[0].sop_instance_uid);
    let mut reader = server.worklist("alice").await;
    reader.list(pb::ListRequest::default()).await.expect("reading goes on");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_removes_a_corrupted_copy_so_the_correct_one_is_stored() {
    let server = TestServer::start("masai").await;
    let e = exam(45, 0);
    let files = exam_files(&e);
    // A copy damaged in transit that still parses: pixel bytes changed near the end.
    let mut damaged = files[0].clone();
    let n = damaged.len();
    damaged[n - 4000..n - 2000].iter_mut().for_each(|b| *b ^= 0x55);
    let mut pacs = server.ingest("pacs-1").await;
    let mut first = vec![("damaged".to_owned(), damaged)];
    first.extend(files[1..].iter().enumerate().map(|(i, b)| (format!("v{}", i + 1), b.clone())));
    upload(&mut pacs, first).await.unwrap();
    wait_routed(&server, &e.study_uid).await;
    let r = upload(&mut pacs, vec![("correct".into(), files[0].clone())]).await.unwrap().remove(0);
    assert_eq!(r.rejection.unwrap().code, "ALREADY_EXISTS", "the correct copy is blocked");
    let mut admin = server.ingest("root").await;
    let removed = admin
        .remove_instance(pb::RemoveInstanceRequest {
            sop_instance_uid: e.views[0].sop_instance_uid.clone(),
            reason: "corrupted in transit; PACS re-sends".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.study_instance_uid, e.study_uid);
    assert_eq!(get(&server, &e.study_uid).await.state, pb::StudyState::Receiving as i32);
    let r = upload(&mut pacs, vec![("correct".into(), files[0].clone())]).await.unwrap().remove(0);
    assert_eq!(r.outcome, pb::instance_result::Outcome::Stored as i32);
    let started = Instant::now();
    loop {
        let s = wait_routed(&server, &e.study_uid).await;
        if s.scoring.as_ref().unwrap().views.len() == 4 && s.superseded_scorings.len() == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not re-scored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let archive: Box<dyn granska_archive::ArchiveStore> =
        Box::new(granska_archive::Archive::open(server.data.path()).unwrap());
    let audit = archive
        .audit_records(&granska_archive::AuditFilter {
            study_uid: Some(e.study_uid.clone()),
            principal: None,
            last: None,
        })
        .unwrap();
    let removal = audit.iter().find(|a| a.action == "Ingest.RemoveInstance").expect("audited");
    assert!(removal.outcome.contains("corrupted in transit"), "{removal:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_data_is_owner_only_and_token_files_must_be_private() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("data");
    let mut c = config("masai", &root);
    c.auth.tokens.clear(); // tokens.toml is generated
    // `data` outlives the server (its TempDir is the server's own, empty one).
    let server = TestServer::start_with(c.clone(), tempfile::tempdir().unwrap()).await;
    // The generated pacs token, from the generated file.
    let tokens: toml::Value = toml::from_str(&std::fs::read_to_string(root.join("tokens.toml")).unwrap()).unwrap();
    let pacs_token = tokens["tokens"].as_array().unwrap().iter().find(|t| t["role"].as_str() == Some("pacs")).unwrap()
        ["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut pacs = granska_client::Client::connect_with_token(&format!("http://{}", server.addr), &pacs_token, None)
        .await
        .unwrap()
        .ingest();
    let files = exam_files(&exam(46, 0)).into_iter().enumerate().map(|(i, b)| (format!("v{i}"), b)).collect();
    for r in upload(&mut pacs, files).await.unwrap() {
        assert_eq!(r.outcome, pb::instance_result::Outcome::Stored as i32);
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    for f in ["archive.db", "archive.db-wal", "worklist.db", "worklist.db-wal", "tokens.toml"] {
        assert_eq!(mode(&root.join(f)), 0o600, "{f}");
    }
    let wide = granska_types_wide(&root);
    assert!(wide.is_empty(), "{wide:?}");
    server.stop().await;
    // A tokens file others can read is refused, with the fix.
    std::fs::set_permissions(root.join("tokens.toml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = granska_server::serve(c.clone(), only_grpc(listener), async {}).await.unwrap_err().to_string();
    assert!(err.contains("readable by group or others (mode 644)") && err.contains("chmod 600"), "{err}");
    // Two entries with the same token hash are a configuration error.
    std::fs::set_permissions(root.join("tokens.toml"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut dup = config("masai", &root);
    let mut twin = dup.auth.tokens[0].clone();
    twin.principal = "someone-else".into();
    dup.auth.tokens.push(twin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = granska_server::serve(dup, only_grpc(listener), async {}).await.unwrap_err().to_string();
    assert!(err.contains("has the same sha256 as the token of"), "{err}");
}

/// Every file and directory under `root` whose mode lets group or others in.
fn granska_types_wide(root: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    fn walk(p: &std::path::Path, out: &mut Vec<(std::path::PathBuf, u32)>) {
        // Files may come and go while the server runs (SQLite's journals): skip those.
        let Ok(meta) = std::fs::metadata(p) else { return };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push((p.to_path_buf(), mode));
        }
        if p.is_dir() {
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

fn only_grpc(grpc: tokio::net::TcpListener) -> granska_server::Listeners {
    granska_server::Listeners { grpc, metrics: None, dicom: None, http: None }
}
