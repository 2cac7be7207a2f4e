//! End to end over real sockets: push → store → score → route → worklist → reads.

use granska_server::proto::v1 as pb;
use granska_types as vocab;
use tokio_stream::StreamExt;

use crate::support::{TestServer, exam, exam_files, push_exams, upload, wait_routed, word};

fn order_key(e: &pb::WorklistEntry) -> (bool, bool, u32, i64) {
    let flagged = e.flags.iter().any(|&f| f == pb::Flag::ExtraHigh as i32 || f == pb::Flag::SafetyNet as i32);
    // Sorting ascending by this key is the policy's order: overdue, flagged, higher rank, older.
    (!e.overdue, !flagged, 10 - e.category.unwrap_or(10), e.waiting_since_unix_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exams_are_routed_by_the_policy_and_listed_in_priority_order() {
    let server = TestServer::start("masai").await;
    // Seed 41 with a high cancer fraction gives a mix of categories, including 10.
    let exams: Vec<_> = (0..8)
        .map(|i| {
            granska_phantom::generate_exam(
                41,
                i,
                &granska_phantom::Options {
                    size: granska_phantom::Size::Small,
                    cancer_fraction: 0.5,
                    ..Default::default()
                },
            )
        })
        .collect();
    push_exams(&server, &exams).await;
    let mut doubles = 0;
    for e in &exams {
        let study = wait_routed(&server, &e.study_uid).await;
        let scoring = study.scoring.as_ref().unwrap();
        let routing = study.routing.as_ref().unwrap();
        assert_eq!(study.completion, pb::Completion::FourViews as i32);
        assert_eq!(scoring.status, pb::ExamStatus::Scored as i32);
        let category = scoring.category.unwrap();
        // MASAI: 10 (or extra-high) → double, 1–9 → single.
        let expected = if category == 10 || scoring.extra_high { "double" } else { "single" };
        assert_eq!(word::<vocab::ReadingMode>(routing.reading_mode), expected, "{} category {category}", e.study_uid);
        assert_eq!((routing.policy_name.as_str(), routing.policy_version.as_str()), ("masai", "1"));
        assert_eq!(scoring.model.as_ref().unwrap().name, "granska-phantom-v1");
        assert_eq!(study.reading.as_ref().unwrap().tasks.len(), if expected == "double" { 2 } else { 1 });
        assert_eq!(study.patient.as_ref().unwrap().patient_id, e.patient_id, "admin sees the patient identity");
        doubles += usize::from(expected == "double");
    }
    assert!(doubles > 0 && doubles < exams.len(), "a mix of single and double reading: {doubles} double");
    let as_researcher = server
        .ingest("rita")
        .await
        .get_study(pb::GetStudyRequest { study_instance_uid: exams[0].study_uid.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(as_researcher.patient.is_none(), "researchers get no patient identifiers");
    assert!(as_researcher.scoring.is_some());

    let list = server
        .worklist("alice")
        .await
        .list(pb::ListRequest { page_size: 100, page_token: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.entries.len(), exams.len());
    let keys: Vec<_> = list.entries.iter().map(order_key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "the worklist is in the policy's priority order");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_read_exam_goes_through_two_readers_and_consensus_by_rpc() {
    let server = TestServer::start("double-all").await;
    let mut watch = server.worklist("carol").await.watch(pb::WatchRequest {}).await.unwrap().into_inner();
    let e = exam(7, 0);
    push_exams(&server, std::slice::from_ref(&e)).await;
    wait_routed(&server, &e.study_uid).await;

    let (mut alice, mut bob, mut carol) =
        (server.worklist("alice").await, server.worklist("bob").await, server.worklist("carol").await);
    let a = alice.claim_next(pb::ClaimNextRequest {}).await.unwrap().into_inner().task.unwrap();
    assert_eq!((a.kind, a.sop_instance_uids.len()), (pb::TaskKind::First as i32, 4));
    // alice holds the first read; her list shows only it, bob's the second.
    let alice_list = alice.list(pb::ListRequest::default()).await.unwrap().into_inner();
    let tasks = &alice_list.entries[0].tasks;
    assert!(tasks.iter().any(|t| t.kind == pb::TaskKind::First as i32 && t.held_by_you));
    assert!(tasks.iter().all(|t| t.kind != pb::TaskKind::Second as i32 || !t.available_to_you), "never both reads");
    let submit = |task_id, decision: pb::ReadDecision, id: &str| pb::SubmitReadRequest {
        task_id,
        decision: decision as i32,
        note: String::new(),
        request_id: id.into(),
    };
    let r = alice.submit_read(submit(a.task_id, pb::ReadDecision::Recall, "a1")).await.unwrap().into_inner();
    assert_eq!(r.next, pb::AfterRead::AwaitingOtherRead as i32);
    // alice cannot take the second read of the same exam.
    assert!(alice.claim_next(pb::ClaimNextRequest {}).await.unwrap().into_inner().task.is_none());
    let b = bob.claim_next(pb::ClaimNextRequest {}).await.unwrap().into_inner().task.unwrap();
    assert_eq!(b.kind, pb::TaskKind::Second as i32);
    assert!(b.prior_reads.is_empty(), "blinded: bob does not see alice's read");
    // Someone else's task cannot be submitted or released.
    let err = carol.submit_read(submit(b.task_id, pb::ReadDecision::Recall, "c0")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(!err.message().contains("bob"), "no other reader's identity leaks: {}", err.message());
    let r = bob.submit_read(submit(b.task_id, pb::ReadDecision::NoRecall, "b1")).await.unwrap().into_inner();
    assert_eq!(r.next, pb::AfterRead::Consensus as i32);
    // A retried submit is a duplicate, not an error.
    let again = bob.submit_read(submit(b.task_id, pb::ReadDecision::NoRecall, "b1")).await.unwrap().into_inner();
    assert!(again.duplicate);
    let c = carol.claim_next(pb::ClaimNextRequest {}).await.unwrap().into_inner().task.unwrap();
    assert_eq!(c.kind, pb::TaskKind::Consensus as i32);
    let mut prior: Vec<_> = c
        .prior_reads
        .iter()
        .map(|r| (word::<vocab::TaskKind>(r.kind), r.reader.clone(), word::<vocab::ReadDecision>(r.decision)))
        .collect();
    prior.sort();
    assert_eq!(
        prior,
        [("first".into(), "alice".into(), "recall".into()), ("second".into(), "bob".into(), "no-recall".into())]
            as [(String, String, String); 2]
    );
    let r = carol.submit_read(submit(c.task_id, pb::ReadDecision::Recall, "c1")).await.unwrap().into_inner();
    assert_eq!(
        (r.next, r.outcome, r.outcome_via),
        (pb::AfterRead::Final as i32, pb::ReadDecision::Recall as i32, pb::OutcomeVia::Consensus as i32)
    );

    let study = wait_routed(&server, &e.study_uid).await;
    let reading = study.reading.unwrap();
    assert_eq!(
        (reading.outcome, reading.outcome_via),
        (pb::ReadDecision::Recall as i32, pb::OutcomeVia::Consensus as i32)
    );
    // Watch saw the whole path.
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("final") {
        let change =
            tokio::time::timeout(std::time::Duration::from_secs(10), watch.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(change.study_instance_uid, e.study_uid);
        seen.push(word::<vocab::ChangeKind>(change.change));
    }
    assert_eq!(seen, ["routed", "claimed", "read", "claimed", "read", "consensus", "claimed", "read", "final"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_view_is_double_read_with_the_reason_shown() {
    let server = TestServer::start("masai").await;
    let e = exam(3, 1);
    let mut files = exam_files(&e);
    // Halve R-MLO's pixel data (its header stays valid): it cannot be decoded when scored.
    let bytes = &files[3];
    let at = bytes.windows(8).rposition(|w| w == b"\xe0\x7f\x10\x00OW\x00\x00").unwrap();
    let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    let mut short = bytes[..at + 8].to_vec();
    short.extend_from_slice(&((len / 2) as u32).to_le_bytes());
    short.extend_from_slice(&bytes[at + 12..at + 12 + len / 2]);
    files[3] = short;
    let mut client = server.ingest("pacs-1").await;
    let named = files.into_iter().enumerate().map(|(i, b)| (format!("view-{i}"), b)).collect();
    let results = upload(&mut client, named).await.unwrap();
    assert!(
        results.iter().all(|r| r.outcome == pb::instance_result::Outcome::Stored as i32),
        "accepted: the header is valid"
    );

    let study = wait_routed(&server, &e.study_uid).await;
    let scoring = study.scoring.unwrap();
    assert_eq!(scoring.status, pb::ExamStatus::Incomplete as i32);
    assert!(scoring.reason.contains("R-MLO"), "{}", scoring.reason);
    let routing = study.routing.unwrap();
    assert_eq!(routing.reading_mode, pb::ReadingMode::Double as i32);
    assert_eq!(routing.flags, [pb::Flag::Incomplete as i32]);
    assert!(routing.reason.contains("pixel data too short"), "{}", routing.reason);
    let list = server.worklist("alice").await.list(pb::ListRequest::default()).await.unwrap().into_inner();
    assert_eq!(list.entries[0].reason, routing.reason, "the reader sees why");
    assert_eq!(list.entries[0].reading_mode, pb::ReadingMode::Double as i32);
    server.stop().await;
}
