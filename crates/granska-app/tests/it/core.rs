//! The use cases called directly, without any edge: real SQLite stores on a temporary data
//! directory, the shipped model on real ONNX Runtime, the built-in MASAI policy. Each use case
//! must authorise first (a refused call leaves no audit record and changes nothing), write its
//! audit record, and publish its worklist change.

use std::time::{Duration, Instant};

use granska_app::{Action, AppError, Caller, ChangeKind, Edge};
use granska_archive::{Archive, ArchiveStore, AuditFilter};
use granska_phantom::{Options, Size};
use granska_types::{Role, StudyState, Uid};
use granska_worklist::model::ReadDecision;

fn caller(principal: &str, role: Role) -> Caller {
    Caller { principal: principal.into(), role, edge: Edge::Grpc }
}

fn start() -> granska_app::testing::TestCore {
    granska_app::testing::start(granska_app::testing::options())
}

fn audit_actions(archive: &Archive) -> Vec<(String, String, String)> {
    archive
        .audit_records(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.principal, r.action, r.outcome))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_use_case_authorises_audits_and_publishes() {
    let core = start();
    let (app, archive) = (&core.app, &core.archive);
    let (pacs, alice, rita, root) = (
        caller("pacs-1", Role::Pacs),
        caller("alice", Role::Radiologist),
        caller("rita", Role::Researcher),
        caller("root", Role::Admin),
    );
    let exam = granska_phantom::generate_exam(7, 0, &Options { size: Size::Small, ..Options::default() });
    let files: Vec<Vec<u8>> = (0..4)
        .map(|v| {
            let mut bytes = Vec::new();
            granska_phantom::to_dicom(&exam, v).write_all(&mut bytes).unwrap();
            bytes
        })
        .collect();

    // Refused by the role table: nothing stored, nothing audited.
    let refused = app.ingest(&alice, files[0].clone(), "a".into()).await.unwrap_err();
    assert!(matches!(refused.error, AppError::Forbidden { role: Role::Radiologist, action: Action::Upload }));
    assert!(audit_actions(archive).is_empty());
    assert!(matches!(app.claim_next(&pacs).await, Err(AppError::Forbidden { .. })));
    assert!(matches!(app.models(&alice), Err(AppError::Forbidden { .. })));

    let mut watch = app.watch(&alice).unwrap();
    for (i, bytes) in files.iter().enumerate() {
        let stored = app.ingest(&pacs, bytes.clone(), format!("view {i}")).await.unwrap();
        assert!(!stored.duplicate);
    }
    let again = app.ingest(&pacs, files[0].clone(), "again".into()).await.unwrap();
    assert!(again.duplicate);

    // Four standard views complete the study; the core scores and routes it by itself.
    let uid = Uid::parse(&exam.study_uid).unwrap();
    let started = Instant::now();
    let study = loop {
        let s = app.get_study(&root, &uid).await.unwrap();
        if s.record.state == StudyState::Routed {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never routed: {:?}", s.record.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(study.scorings.len(), 1);
    assert!(study.patient.is_some(), "the admin sees patient identity");
    assert!(app.get_study(&rita, &uid).await.unwrap().patient.is_none(), "a researcher does not");
    let routed = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap();
    assert_eq!((routed.change, routed.study_uid.as_str()), (ChangeKind::Routed, exam.study_uid.as_str()));

    // Reading: claim (published), a submit without a request id is refused by the core.
    let claimed = app.claim_next(&alice).await.unwrap().expect("a task for alice");
    assert_eq!(claimed.claim.task.study_uid, exam.study_uid);
    let change = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap();
    assert_eq!(change.change, ChangeKind::Claimed);
    let task = claimed.claim.task.id;
    let missing_id = app.submit_read(&alice, task, ReadDecision::NoRecall, None, " ".into()).await.unwrap_err();
    assert!(matches!(&missing_id, AppError::InvalidArgument { field, .. } if field == "request_id"), "{missing_id}");
    let (_, out) = app.submit_read(&alice, task, ReadDecision::NoRecall, None, "r-1".into()).await.unwrap();
    assert!(!out.duplicate);
    let change = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap();
    assert_eq!(change.change, ChangeKind::Read);

    // The audit log is the admin's to read, and reading it is audited too.
    assert!(matches!(app.read_audit(&alice, Default::default()).await, Err(AppError::Forbidden { .. })));
    let filter = granska_archive::AuditFilter { study_uid: Some(exam.study_uid.clone()), principal: None, last: None };
    let records = app.read_audit(&root, filter).await.unwrap();
    assert!(records.iter().all(|r| r.study_uid.as_deref() == Some(exam.study_uid.as_str())));
    assert!(records.iter().any(|r| r.action == "Worklist.SubmitRead" && r.principal == "alice"), "{records:?}");

    // The DICOM edge's use cases: an accept-and-drop instance is counted and audited, never
    // stored; a released association completes what it sent (here: nothing left to complete).
    assert!(matches!(app.drop_instance(&alice, "1.2.840.10008.5.1.4.1.1.7").await, Err(AppError::Forbidden { .. })));
    app.drop_instance(&pacs, "1.2.840.10008.5.1.4.1.1.7").await.unwrap();
    assert!(app.metrics().render().contains(r#"instances_dropped_total{sop_class="1.2.840.10008.5.1.4.1.1.7"} 1"#));
    assert!(matches!(
        app.association_released(&alice, std::slice::from_ref(&uid)).await,
        Err(AppError::Forbidden { .. })
    ));
    let unknown = Uid::parse("1.2.3.999").unwrap();
    assert!(app.association_released(&pacs, &[uid.clone(), unknown]).await.unwrap().is_empty(), "already routed");

    // The routing's result report: kept (no destination); it names the patient, so only the
    // admin reads it.
    assert!(matches!(app.report(&pacs, &uid, None).await, Err(AppError::Forbidden { .. })));
    assert!(matches!(app.report(&rita, &uid, None).await, Err(AppError::Forbidden { .. })));
    let started = Instant::now();
    let (report, bytes) = loop {
        match app.report(&root, &uid, None).await {
            Ok(r) => break r,
            Err(AppError::UnknownReport { .. }) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("no report: {e}"),
        }
    };
    assert_eq!(report.state, granska_types::ReportState::Kept);
    let summary = granska_report::describe(&bytes).unwrap();
    assert_eq!(summary.study_uid, uid);
    assert_eq!(summary.images, 4);

    // Paths only for the admin.
    assert!(app.models(&rita).unwrap().dir.is_none());
    assert!(app.models(&root).unwrap().dir.is_some());

    // Every access to the study is on record, by whom and what.
    let audit = audit_actions(archive);
    let count = |who: &str, action: &str| audit.iter().filter(|(p, a, _)| p == who && a == action).count();
    assert_eq!(count("pacs-1", "Ingest.Upload"), 6, "{audit:?}");
    assert!(
        audit.iter().any(|(p, _, o)| p == "pacs-1" && o.starts_with("dropped: SOP class 1.2.840.10008.5.1.4.1.1.7"))
    );
    assert!(audit.iter().any(|(p, a, o)| p == "pacs-1" && a == "Ingest.Upload" && o == "ok: duplicate"));
    assert!(count("root", "Ingest.GetStudy") >= 1 && count("rita", "Ingest.GetStudy") == 1, "{audit:?}");
    assert!(count("root", "Ingest.GetReport") >= 1 && count("rita", "Ingest.GetReport") == 0, "{audit:?}");
    assert_eq!(count("alice", "Worklist.ClaimNext"), 1);
    assert_eq!(count("alice", "Worklist.SubmitRead"), 1, "the refused submit never reached the store");
    assert_eq!(count("alice", "Ingest.Upload"), 0, "a refused role leaves no record");
    assert_eq!(count("root", "Audit.Read"), 1, "reading the audit is audited");
    assert_eq!(count("alice", "Audit.Read"), 0);
}
