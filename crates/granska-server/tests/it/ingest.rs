//! Ingest: bad DICOM is rejected with INVALID_ARGUMENT and field-level details and nothing of
//! it is stored; a re-sent instance is a duplicate; a malformed stream is refused; an exam
//! with fewer than four views is completed by CompleteStudy or the quiet period; a late
//! instance re-scores the exam.

use granska_server::proto::v1 as pb;
use tonic_types::StatusExt;

use crate::support::{TestServer, exam, exam_files, upload, wait_routed};

fn blob_files(server: &TestServer) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| if e.path().is_dir() { count(&e.path()) } else { 1 }).sum())
            .unwrap_or(0)
    }
    count(&server.data.path().join("blobs"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dicom_is_rejected_with_field_details_and_nothing_is_stored() {
    let server = TestServer::start("masai").await;
    let e = exam(11, 0);
    let files = exam_files(&e);
    // Modality MG → CT: a valid DICOM file that is not a mammogram.
    let at = files[0].windows(8).position(|w| w == b"\x08\x00\x60\x00CS\x02\x00").unwrap();
    let mut ct = files[0].clone();
    ct[at + 8..at + 10].copy_from_slice(b"CT");
    let mut client = server.ingest("pacs-1").await;
    let results = upload(
        &mut client,
        vec![("ct.dcm".into(), ct), ("random.bin".into(), vec![7u8; 1000]), ("empty.dcm".into(), Vec::new())],
    )
    .await
    .unwrap();
    let summary: Vec<String> = results
        .iter()
        .map(|r| {
            let rej = r.rejection.as_ref().unwrap();
            let fields: Vec<&str> = rej.field_violations.iter().map(|v| v.field.as_str()).collect();
            format!("{} {} {} [{}]: {}", r.instance_ref, r.outcome, rej.code, fields.join(","), rej.message)
        })
        .collect();
    assert_eq!(
        summary,
        [
            "ct.dcm 3 INVALID_ARGUMENT [Modality (0008,0060)]: invalid Modality (0008,0060): expected MG, found \"CT\"",
            "random.bin 3 INVALID_ARGUMENT [UploadChunk.data]: not a DICOM Part 10 file: expected 'DICM' at byte 128 (or 0), found \"\\u{7}\\u{7}\\u{7}\\u{7}\"",
            "empty.dcm 3 INVALID_ARGUMENT [UploadChunk.data]: file is empty, expected a DICOM Part 10 file",
        ]
    );
    assert_eq!(blob_files(&server), 0, "nothing of a rejected instance is stored");
    let err = client.get_study(pb::GetStudyRequest { study_instance_uid: e.study_uid.clone() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "pacs may not read studies");
    let mut admin = server.ingest("root").await;
    let err = admin.get_study(pb::GetStudyRequest { study_instance_uid: e.study_uid.clone() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // The same valid instance twice: stored, then duplicate.
    let one = vec![("l-cc".to_owned(), files[0].clone())];
    let first = upload(&mut client, one.clone()).await.unwrap();
    let second = upload(&mut client, one).await.unwrap();
    assert_eq!(first[0].outcome, pb::instance_result::Outcome::Stored as i32);
    assert_eq!(second[0].outcome, pb::instance_result::Outcome::Duplicate as i32);
    assert_eq!(first[0].sha256, second[0].sha256);
    assert_eq!(blob_files(&server), 1);

    // A malformed stream (no instance_ref) ends the call with INVALID_ARGUMENT and details.
    let bad = vec![pb::UploadChunk { instance_ref: String::new(), data: vec![1], last: true }];
    let mut stream = client.upload(tokio_stream::iter(bad)).await.unwrap().into_inner();
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let details = err.get_error_details();
    let violations = &details.bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "UploadChunk.instance_ref");
    // A bad UID argument gets field details too.
    let err = admin.get_study(pb::GetStudyRequest { study_instance_uid: "x; drop".into() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(err.get_error_details().bad_request().unwrap().field_violations[0].field, "study_instance_uid");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_studies_complete_on_request_or_after_the_quiet_period_and_late_views_rescore() {
    let server = TestServer::start("masai").await;
    let mut client = server.ingest("pacs-1").await;
    // Three views, then CompleteStudy: scored as incomplete, double read.
    let a = exam(12, 0);
    let files = exam_files(&a);
    upload(&mut client, files[..3].iter().enumerate().map(|(i, b)| (format!("a{i}"), b.clone())).collect())
        .await
        .unwrap();
    let done =
        client.complete_study(pb::CompleteStudyRequest { study_instance_uid: a.study_uid.clone() }).await.unwrap();
    assert!(done.get_ref().completed_now);
    let study = wait_routed(&server, &a.study_uid).await;
    assert_eq!(study.completion, pb::Completion::CompleteStudyCall as i32);
    assert_eq!(study.scoring.as_ref().unwrap().status, pb::ExamStatus::Incomplete as i32);
    assert_eq!(study.routing.as_ref().unwrap().reading_mode, pb::ReadingMode::Double as i32);
    // The fourth view arrives late: the exam is re-scored and, as no read has started, the
    // new routing replaces the old one; both results are kept.
    upload(&mut client, vec![("a3".into(), files[3].clone())]).await.unwrap();
    let started = std::time::Instant::now();
    let study = loop {
        let s = wait_routed(&server, &a.study_uid).await;
        if s.superseded_scorings.len() == 1 {
            break s;
        }
        assert!(started.elapsed().as_secs() < 60, "not re-scored");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(study.completion, pb::Completion::LateInstance as i32);
    assert_eq!(study.scoring.as_ref().unwrap().status, pb::ExamStatus::Scored as i32);
    assert_eq!(study.superseded_scorings[0].status, pb::ExamStatus::Incomplete as i32);
    let reading = study.reading.unwrap();
    assert!(
        reading.tasks.iter().filter(|t| t.state == pb::TaskState::Cancelled as i32).count() >= 1,
        "{:?}",
        reading.tasks
    );
    // Each routing has its own result report, kept (no destination in tests): the re-scoring
    // made a new SR (a new SOP instance), the first one is unchanged.
    let started = std::time::Instant::now();
    let reports = loop {
        let s = wait_routed(&server, &a.study_uid).await;
        if s.reports.len() == 2 {
            break s.reports;
        }
        assert!(started.elapsed().as_secs() < 60, "reports: {:?}", s.reports);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_ne!(reports[0].sop_instance_uid, reports[1].sop_instance_uid);
    assert!(reports.iter().all(|r| r.state == pb::ReportState::Kept as i32 && r.destination.is_empty()), "{reports:?}");
    let newest = client
        .get_report(pb::GetReportRequest { study_instance_uid: a.study_uid.clone(), sop_instance_uid: String::new() })
        .await;
    assert_eq!(newest.unwrap_err().code(), tonic::Code::PermissionDenied, "a PACS may not read reports");
    let mut admin = server.ingest("root").await;
    let newest = admin
        .get_report(pb::GetReportRequest { study_instance_uid: a.study_uid.clone(), sop_instance_uid: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(newest.report.unwrap().sop_instance_uid, reports[1].sop_instance_uid);
    let summary = granska_report::describe(&newest.dicom).unwrap();
    assert!(summary.scored, "the newest report is of the full exam");
    let first = admin
        .get_report(pb::GetReportRequest {
            study_instance_uid: a.study_uid.clone(),
            sop_instance_uid: reports[0].sop_instance_uid.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!granska_report::describe(&first.dicom).unwrap().scored, "the first report says the exam was incomplete");
    let missing = admin
        .get_report(pb::GetReportRequest { study_instance_uid: a.study_uid.clone(), sop_instance_uid: "1.2.3".into() })
        .await;
    assert_eq!(missing.unwrap_err().code(), tonic::Code::NotFound);

    // Two views and silence: completed by the quiet period (2 s in tests).
    let b = exam(12, 1);
    let files = exam_files(&b);
    upload(&mut client, files[..2].iter().enumerate().map(|(i, x)| (format!("b{i}"), x.clone())).collect())
        .await
        .unwrap();
    let study = wait_routed(&server, &b.study_uid).await;
    assert_eq!(study.completion, pb::Completion::QuietPeriod as i32);
    assert_eq!(study.routing.unwrap().flags, [pb::Flag::Incomplete as i32]);
    let err =
        client.complete_study(pb::CompleteStudyRequest { study_instance_uid: "1.2.3.4".into() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    server.stop().await;
}
