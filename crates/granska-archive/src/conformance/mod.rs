//! The archive conformance suite: behavioural cases generic over [`ArchiveStore`], which every
//! backend must pass. The SQLite and PostgreSQL archives run it in this crate's tests
//! (`tests/it/conformance.rs`, `tests/it/postgres.rs`); a backend of another crate runs the same
//! cases from its own tests, with this crate's `conformance` feature enabled:
//!
//! ```text
//! granska_archive::archive_store_conformance!(make_archives());
//! ```
//!
//! where `make_archives()` returns an `impl Fn() -> A` giving a fresh, empty archive
//! per call (evaluated once per case, so it may own temporary storage for the case). The macro
//! expands to one `#[test]` per case and a test that the expansion and [`cases`] agree.
//!
//! Behind a feature rather than `#[doc(hidden)]`, so production builds do not compile it.

use crate::{
    ArchiveStore, AuditFilter, Completion, Error, NewInstance, NewReport, PutOutcome, ReportAttempt, StudyState, Uid,
};
use granska_types::ReportState;
use granska_types::ScoringRecord;

fn uid(text: &str) -> Uid {
    Uid::parse(text).unwrap()
}

/// A For Presentation MG instance of study `1.2.3` (a fixture for any backend's tests).
pub fn instance(sop: &str, lat: &str, view: &str) -> NewInstance {
    in_study("1.2.3", sop, lat, view)
}

/// A For Presentation MG instance of `study` (a fixture for any backend's tests).
pub fn in_study(study: &str, sop: &str, lat: &str, view: &str) -> NewInstance {
    NewInstance {
        sop_instance_uid: uid(sop),
        study_uid: uid(study),
        series_uid: uid(&format!("{study}.1")),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.2".into(),
        laterality: granska_types::Laterality::parse(lat).expect("test laterality"),
        view: granska_types::View::parse(view).expect("test view"),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
        patient_id: Some("PHANTOM-1".into()),
        patient_name: None,
    }
}

fn four_views(archive: &impl ArchiveStore, study: &str) {
    for (i, (lat, view)) in [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")].iter().enumerate() {
        archive
            .put(format!("{study} {i}").as_bytes(), &in_study(study, &format!("{study}.1.{i}"), lat, view), 100)
            .unwrap();
    }
}

/// One case: it calls `make` for each archive it needs (fresh and empty).
pub type Case<A> = fn(&dyn Fn() -> A);

/// Every case with its name.
pub fn cases<A: ArchiveStore>() -> Vec<(&'static str, Case<A>)> {
    vec![
        (
            "four_views_complete_a_study_and_late_instances_reopen_it",
            four_views_complete_a_study_and_late_instances_reopen_it::<A>,
        ),
        ("quiet_and_explicit_completion", quiet_and_explicit_completion::<A>),
        ("the_audit_log_filters_by_study_and_principal", the_audit_log_filters_by_study_and_principal::<A>),
        (
            "repeated_failures_park_a_study_until_a_retry_or_a_new_instance",
            repeated_failures_park_a_study_until_a_retry_or_a_new_instance::<A>,
        ),
        ("removing_an_instance_lets_the_correct_copy_in", removing_an_instance_lets_the_correct_copy_in::<A>),
        ("reports_are_kept_and_delivered_once_or_given_up", reports_are_kept_and_delivered_once_or_given_up::<A>),
        ("work_is_claimed_with_leases", work_is_claimed_with_leases::<A>),
    ]
}

/// Expands to one `#[test]` per archive conformance case, each calling the case with the
/// factory `$make` (an expression of type `impl Fn() -> A`, evaluated once per case), and a
/// test that every case of [`cases`] is expanded.
#[macro_export]
macro_rules! archive_store_conformance {
    ($make:expr) => {
        $crate::archive_store_conformance!(@cases $make;
            four_views_complete_a_study_and_late_instances_reopen_it,
            quiet_and_explicit_completion,
            the_audit_log_filters_by_study_and_principal,
            repeated_failures_park_a_study_until_a_retry_or_a_new_instance,
            removing_an_instance_lets_the_correct_copy_in,
            reports_are_kept_and_delivered_once_or_given_up,
            work_is_claimed_with_leases,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let make = $make;
                $crate::conformance::$case(&make);
            }
        )*

        #[test]
        fn every_conformance_case_is_expanded() {
            fn names<A: $crate::ArchiveStore>(_: &dyn Fn() -> A) -> Vec<&'static str> {
                $crate::conformance::cases::<A>().into_iter().map(|(name, _)| name).collect()
            }
            let make = $make;
            assert_eq!(names(&make), [$(stringify!($case)),*]);
        }
    };
}

/// Four views complete a study; duplicates and conflicts change nothing; a scoring routes only its generation; a late instance sends the study back to be scored.
pub fn four_views_complete_a_study_and_late_instances_reopen_it<A: ArchiveStore>(make: &dyn Fn() -> A) {
    let archive = make();
    let views = [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")];
    for (i, (lat, view)) in views.iter().enumerate() {
        let out = archive
            .put(format!("bytes {i}").as_bytes(), &instance(&format!("1.2.3.1.{i}"), lat, view), 1000 + i as i64)
            .unwrap();
        let PutOutcome::Stored { state, became_complete, .. } = out else { panic!("stored") };
        assert_eq!(became_complete, i == 3);
        assert_eq!(state, if i == 3 { StudyState::Complete } else { StudyState::Receiving });
    }
    assert_eq!(archive.pending().unwrap(), vec!["1.2.3".to_owned()]);
    // Resending is a duplicate; the same UID with other bytes is a conflict; neither changes anything.
    assert!(matches!(
        archive.put(b"bytes 0", &instance("1.2.3.1.0", "L", "CC"), 2000).unwrap(),
        PutOutcome::Duplicate { .. }
    ));
    assert!(matches!(archive.put(b"other", &instance("1.2.3.1.0", "L", "CC"), 2000), Err(Error::Conflict { .. })));
    let study = archive.study("1.2.3").unwrap().unwrap();
    assert_eq!((study.generation, study.instances.len()), (4, 4));
    // A scoring of generation 4 routes it; a late instance sends it back to be re-scored.
    assert!(archive.record_scoring("1.2.3", 4, &ScoringRecord::unscorable("test".into()), false, 3000).unwrap());
    assert!(archive.pending().unwrap().is_empty());
    let out = archive.put(b"late", &instance("1.2.3.1.9", "L", "XCCL"), 4000).unwrap();
    assert!(matches!(out, PutOutcome::Stored { state: StudyState::Complete, became_complete: true, .. }));
    let study = archive.study("1.2.3").unwrap().unwrap();
    assert_eq!(study.completion, Some(Completion::LateInstance));
    // A scoring of an older generation does not route it.
    assert!(!archive.record_scoring("1.2.3", 4, &ScoringRecord::unscorable("test".into()), false, 5000).unwrap());
    assert!(archive.record_scoring("1.2.3", 5, &ScoringRecord::unscorable("test".into()), false, 5000).unwrap());
    assert_eq!(archive.study("1.2.3").unwrap().unwrap().scorings.len(), 3);
    // Blobs read back and are checked.
    let sha = &study.instances[0].sha256;
    assert_eq!(archive.read_blob(sha).unwrap(), b"bytes 0");
    assert_eq!(archive.totals().unwrap().0, 5);
}

/// Quiet and explicit completion.
pub fn quiet_and_explicit_completion<A: ArchiveStore>(make: &dyn Fn() -> A) {
    let archive = make();
    archive.put(b"a", &instance("1.2.3.1.1", "L", "CC"), 1000).unwrap();
    assert!(archive.quiet_studies(999).unwrap().is_empty());
    assert_eq!(archive.quiet_studies(1000).unwrap(), vec!["1.2.3".to_owned()]);
    assert!(archive.complete("1.2.3", Completion::QuietPeriod).unwrap());
    assert!(!archive.complete("1.2.3", Completion::CompleteStudyCall).unwrap(), "already complete");
    assert!(matches!(archive.complete("9.9", Completion::CompleteStudyCall), Err(Error::UnknownStudy { .. })));
    assert_eq!(archive.study("1.2.3").unwrap().unwrap().completion, Some(Completion::QuietPeriod));
    // The release of the association that sent a study completes it too.
    archive.put(b"b", &in_study("4.5.6", "4.5.6.1", "R", "CC"), 1000).unwrap();
    assert!(archive.complete("4.5.6", Completion::AssociationReleased).unwrap());
    assert_eq!(archive.study("4.5.6").unwrap().unwrap().completion, Some(Completion::AssociationReleased));
}

/// The audit log filters by study and by principal.
pub fn the_audit_log_filters_by_study_and_principal<A: ArchiveStore>(make: &dyn Fn() -> A) {
    let archive = make();
    archive.audit(1, "pacs-1", "pacs", "Ingest.Upload", &[Some("1.2.3")], "ok").unwrap();
    archive.audit(2, "alice", "radiologist", "Worklist.List", &[Some("1.2.3"), Some("1.2.4")], "ok").unwrap();
    archive.audit(3, "alice", "radiologist", "Worklist.ClaimNext", &[None], "ok").unwrap();
    let f = |study: Option<&str>, principal: Option<&str>| {
        archive
            .audit_records(&AuditFilter {
                study_uid: study.map(Into::into),
                principal: principal.map(Into::into),
                last: None,
            })
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r.principal, r.action, r.study_uid.as_deref().unwrap_or("-")))
            .collect::<Vec<_>>()
    };
    assert_eq!(f(Some("1.2.3"), None), ["pacs-1 Ingest.Upload 1.2.3", "alice Worklist.List 1.2.3"]);
    assert_eq!(f(None, Some("alice")).len(), 3);
    assert_eq!(f(Some("1.2.4"), Some("pacs-1")).len(), 0);
    let last_two = archive.audit_records(&AuditFilter { last: Some(2), ..AuditFilter::default() }).unwrap();
    let all = archive.audit_records(&AuditFilter::default()).unwrap();
    assert_eq!(last_two, all[all.len() - 2..], "the last two, still oldest first");
}

/// Repeated failures park a study until an admin retries it or a new instance arrives.
pub fn repeated_failures_park_a_study_until_a_retry_or_a_new_instance<A: ArchiveStore>(make: &dyn Fn() -> A) {
    let archive = make();
    four_views(&archive, "1.2.3");
    four_views(&archive, "1.2.4");
    let r1 = archive.record_failure("1.2.3", "cannot route the exam: injected", 3, 1000).unwrap();
    let r2 = archive.record_failure("1.2.3", "cannot route the exam: again", 3, 2000).unwrap();
    assert_eq!((r1.attempts, r1.parked, r2.attempts, r2.parked), (1, false, 2, false));
    assert_eq!(archive.pending().unwrap(), ["1.2.3", "1.2.4"], "still retried while under the limit");
    let r3 = archive.record_failure("1.2.3", "cannot route the exam: third", 3, 3000).unwrap();
    assert!(r3.parked);
    assert_eq!(archive.pending().unwrap(), ["1.2.4"], "a parked study is not queued again on start");
    let study = archive.study("1.2.3").unwrap().unwrap();
    assert_eq!(study.state, StudyState::NeedsAttention);
    let a = study.attention.unwrap();
    assert_eq!((a.attempts, a.reason.as_str(), a.since_ms, a.last_ms), (3, "cannot route the exam: third", 1000, 3000));
    let listed = archive.needs_attention().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].study_uid, "1.2.3");
    assert_eq!(archive.needs_attention_count().unwrap(), 1);
    // The admin's retry forgets the failures and queues it.
    assert!(archive.retry("1.2.3").unwrap());
    assert_eq!(archive.study("1.2.3").unwrap().unwrap().state, StudyState::Complete);
    assert_eq!(archive.pending().unwrap(), ["1.2.3", "1.2.4"]);
    assert!(matches!(archive.retry("9.9"), Err(Error::UnknownStudy { .. })));
    // Parked again, then a new instance un-parks and re-queues it.
    for t in 0..3 {
        archive.record_failure("1.2.3", "x", 3, 4000 + t).unwrap();
    }
    let out = archive.put(b"late", &in_study("1.2.3", "1.2.3.1.9", "L", "XCCL"), 5000).unwrap();
    assert!(matches!(out, PutOutcome::Stored { became_complete: true, .. }), "{out:?}");
    assert!(archive.study("1.2.3").unwrap().unwrap().attention.is_none());
    // Routing clears what is left of failures under the limit.
    archive.record_failure("1.2.4", "transient", 3, 6000).unwrap();
    assert!(archive.record_scoring("1.2.4", 4, &ScoringRecord::unscorable("test".into()), false, 7000).unwrap());
    assert!(archive.study("1.2.4").unwrap().unwrap().attention.is_none());
}

/// Removing an instance lets the correct copy in.
pub fn removing_an_instance_lets_the_correct_copy_in<A: ArchiveStore>(make: &dyn Fn() -> A) {
    let archive = make();
    four_views(&archive, "1.2.3");
    assert!(archive.record_scoring("1.2.3", 4, &ScoringRecord::unscorable("test".into()), false, 200).unwrap());
    // A copy corrupted in transit was stored; the correct copy is refused.
    let err = archive.put(b"correct", &in_study("1.2.3", "1.2.3.1.0", "L", "CC"), 300).unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }));
    let removed = archive.remove_instance("1.2.3.1.0", 400).unwrap();
    assert_eq!(removed.study_uid, "1.2.3");
    assert!(removed.blob_deleted);
    let study = archive.study("1.2.3").unwrap().unwrap();
    assert_eq!((study.state, study.instances.len(), study.last_received_ms), (StudyState::Receiving, 3, 400));
    let out = archive.put(b"correct", &in_study("1.2.3", "1.2.3.1.0", "L", "CC"), 500).unwrap();
    assert!(matches!(out, PutOutcome::Stored { became_complete: true, .. }), "four views again: {out:?}");
    assert!(matches!(archive.remove_instance("9.9", 600), Err(Error::UnknownInstance { .. })));
}

/// Reports: a routing recorded with `report` is queued (one without is not) until its report is
/// kept; kept durably with its bytes; a pending one is due at once, retried when due, and ends
/// `sent` (never recorded twice) or `failed`; a newer report supersedes an older pending one;
/// without a destination a report is `kept`.
pub fn reports_are_kept_and_delivered_once_or_given_up<A: ArchiveStore>(make: &dyn Fn() -> A) {
    let archive = make();
    let report = |sop: &str, destination: &str| NewReport {
        sop_instance_uid: uid(sop),
        study_uid: uid("1.2.3"),
        generation: 4,
        destination: destination.into(),
    };
    let pacs = "PACS@127.0.0.1:104";
    assert!(matches!(archive.add_report(&report("9.1", pacs), b"sr", 10), Err(Error::UnknownStudy { .. })));
    four_views(&archive, "1.2.3");
    let generation = archive.study("1.2.3").unwrap().unwrap().generation;
    let scoring = ScoringRecord::unscorable("test".into());
    // Not applied to the worklist (reading had started): no report.
    archive.record_scoring("1.2.3", generation, &scoring, false, 5000).unwrap();
    assert!(archive.claim_unreported(0, 0, 100).unwrap().is_empty());
    four_views(&archive, "1.2.4");
    let g4 = archive.study("1.2.4").unwrap().unwrap().generation;
    archive.record_scoring("1.2.4", g4, &scoring, true, 5000).unwrap();
    assert_eq!(archive.claim_unreported(0, 0, 100).unwrap(), vec![("1.2.4".to_owned(), g4)]);
    // A late instance: the queued routing is no longer the study's; the next one replaces it.
    archive.put(b"late", &in_study("1.2.4", "1.2.4.1.9", "L", "XCCL"), 6000).unwrap();
    assert!(archive.claim_unreported(0, 0, 100).unwrap().is_empty(), "the queued routing is stale");
    let g4 = archive.study("1.2.4").unwrap().unwrap().generation;
    archive.record_scoring("1.2.4", g4, &scoring, true, 7000).unwrap();
    assert_eq!(archive.claim_unreported(0, 0, 100).unwrap(), vec![("1.2.4".to_owned(), g4)]);
    let for_4 = NewReport { study_uid: uid("1.2.4"), generation: g4, ..report("9.0", pacs) };
    archive.add_report(&for_4, b"sr of 1.2.4", 7100).unwrap();
    assert!(archive.claim_unreported(0, 0, 100).unwrap().is_empty(), "keeping the report takes it off the queue");

    let sent = NewReport { generation, ..report("9.1", pacs) };
    let kept = archive.add_report(&sent, b"first sr", 100).unwrap();
    assert_eq!((kept.state, kept.attempts, kept.next_ms), (ReportState::Pending, 0, 100));
    assert_eq!(archive.read_blob(&kept.sha256).unwrap(), b"first sr");
    assert_eq!(archive.next_report_due().unwrap(), Some(100));
    assert!(archive.claim_due_reports(99, 10, 99).unwrap().is_empty());
    assert_eq!(archive.claim_due_reports(100, 10, 100).unwrap(), vec![kept.clone()]);

    let retry = ReportAttempt::NotDelivered { status: "cannot connect".into(), retry_at_ms: Some(300) };
    let after = archive.record_report_attempt("9.1", &retry, 110).unwrap();
    assert_eq!((after.state, after.attempts, after.next_ms), (ReportState::Pending, 1, 300));
    assert_eq!(after.last_status.as_deref(), Some("cannot connect"));
    assert!(!archive.claim_due_reports(299, 10, 299).unwrap().iter().any(|r| r.sop_instance_uid == "9.1"));
    let done =
        archive.record_report_attempt("9.1", &ReportAttempt::Delivered { status: "0x0000".into() }, 300).unwrap();
    assert_eq!((done.state, done.attempts, done.last_ms), (ReportState::Sent, 2, Some(300)));
    assert!(
        matches!(
            archive.record_report_attempt("9.1", &ReportAttempt::Delivered { status: "0x0000".into() }, 301),
            Err(Error::ReportNotPending { state: ReportState::Sent, .. })
        ),
        "a delivered report is never recorded as delivered twice"
    );

    let give_up = NewReport { generation, ..report("9.2", pacs) };
    archive.add_report(&give_up, b"second sr", 400).unwrap();
    let failed = archive
        .record_report_attempt("9.2", &ReportAttempt::NotDelivered { status: "0xA700".into(), retry_at_ms: None }, 500)
        .unwrap();
    assert_eq!(failed.state, ReportState::Failed);
    // A pending report is superseded by a newer one of its study, which alone is sent.
    archive.add_report(&NewReport { generation, ..report("9.3", pacs) }, b"third sr", 600).unwrap();
    archive.add_report(&NewReport { generation, ..report("9.4", pacs) }, b"fourth sr", 700).unwrap();
    let due: Vec<_> = archive
        .claim_due_reports(i64::MAX, 10, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|r| r.sop_instance_uid.to_string())
        .collect();
    assert!(due.contains(&"9.4".to_owned()) && !due.contains(&"9.3".to_owned()), "{due:?}");
    let only_kept = NewReport { generation, ..report("9.5", "") };
    assert_eq!(archive.add_report(&only_kept, b"fifth sr", 800).unwrap().state, ReportState::Kept);
    assert!(matches!(
        archive.record_report_attempt("9.9", &ReportAttempt::Delivered { status: "0x0000".into() }, 900),
        Err(Error::UnknownReport { .. })
    ));

    let listed: Vec<_> =
        archive.reports("1.2.3").unwrap().into_iter().map(|r| (r.sop_instance_uid.to_string(), r.state)).collect();
    assert_eq!(
        listed,
        [
            ("9.1".to_owned(), ReportState::Sent),
            ("9.2".to_owned(), ReportState::Failed),
            ("9.3".to_owned(), ReportState::Superseded),
            ("9.4".to_owned(), ReportState::Superseded),
            ("9.5".to_owned(), ReportState::Kept),
        ]
    );
    let superseded = &archive.reports("1.2.3").unwrap()[2];
    assert_eq!(superseded.last_status.as_deref(), Some("superseded by 9.4"));
    let counts = archive.report_counts().unwrap();
    assert_eq!(
        counts,
        [
            (ReportState::Pending, 1), // 1.2.4's
            (ReportState::Sent, 1),
            (ReportState::Failed, 1),
            (ReportState::Kept, 1),
            (ReportState::Superseded, 2),
        ]
    );
}

/// Scoring jobs, routings to report and due reports are claimed with leases: a claim keeps
/// others off until it expires or is given back; renewing keeps it; a claim taken over after
/// it expired is no longer the first owner's; a replica restarted under its name takes its
/// claims back; parked studies are not claimed.
pub fn work_is_claimed_with_leases<A: ArchiveStore>(make: &dyn Fn() -> A) {
    let archive = make();
    archive.ping().unwrap();
    for study in ["1.2.1", "1.2.2", "1.2.3"] {
        four_views(&archive, study);
    }
    // Oldest last instance first; each study to one claimant.
    assert_eq!(archive.claim_scoring("a", 2, 1000, 2000).unwrap(), ["1.2.1", "1.2.2"]);
    assert_eq!(archive.claim_scoring("b", 5, 1000, 2000).unwrap(), ["1.2.3"]);
    assert!(archive.claim_scoring("c", 5, 1500, 2500).unwrap().is_empty(), "all held");
    // Renewing keeps a claim; only the owner can.
    assert_eq!(archive.renew_scoring("a", &["1.2.1".into(), "1.2.3".into()], 3000).unwrap(), ["1.2.1"]);
    // Expired claims are taken over: 1.2.2 (a's, not renewed) and 1.2.3 (b's) at 2500.
    assert_eq!(archive.claim_scoring("c", 5, 2500, 4000).unwrap(), ["1.2.2", "1.2.3"]);
    assert!(archive.renew_scoring("a", &["1.2.2".into()], 5000).unwrap().is_empty(), "lost to c");
    // Given back: claimable at once; another owner's release changes nothing.
    archive.release_scoring("b", "1.2.2").unwrap();
    assert!(archive.claim_scoring("d", 5, 2600, 4000).unwrap().is_empty());
    archive.release_scoring("c", "1.2.2").unwrap();
    assert_eq!(archive.claim_scoring("d", 5, 2600, 4000).unwrap(), ["1.2.2"]);
    // A restarted replica releases what its previous run held.
    assert_eq!(archive.release_all_scoring("c").unwrap(), 1);
    assert_eq!(archive.claim_scoring("c", 5, 2700, 4000).unwrap(), ["1.2.3"]);
    // A routed study is not claimed; neither is a parked one.
    let g = archive.study("1.2.3").unwrap().unwrap().generation;
    assert!(archive.record_scoring("1.2.3", g, &ScoringRecord::unscorable("test".into()), true, 2800).unwrap());
    archive.release_scoring("c", "1.2.3").unwrap();
    archive.release_all_scoring("a").unwrap();
    archive.release_all_scoring("d").unwrap();
    archive.record_failure("1.2.2", "disk", 1, 2900).unwrap();
    assert_eq!(archive.claim_scoring("e", 5, 3000, 4000).unwrap(), ["1.2.1"]);

    // The routing of 1.2.3 waits for its report: held by one replica's pass at a time.
    assert_eq!(archive.claim_unreported(3000, 4000, 10).unwrap(), [("1.2.3".to_owned(), g)]);
    assert!(archive.claim_unreported(3500, 5000, 10).unwrap().is_empty(), "held until 4000");
    assert_eq!(archive.claim_unreported(4000, 5000, 10).unwrap(), [("1.2.3".to_owned(), g)], "the hold ran out");
    let report = NewReport {
        sop_instance_uid: uid("9.7"),
        study_uid: uid("1.2.3"),
        generation: g,
        destination: "PACS@127.0.0.1:104".into(),
    };
    archive.add_report(&report, b"sr", 4100).unwrap();
    assert!(archive.claim_unreported(9000, 9000, 10).unwrap().is_empty(), "kept: off the queue");
    // A due report is held by the replica sending it; its attempt's record releases it.
    let due = archive.claim_due_reports(4200, 10, 6000).unwrap();
    assert_eq!(due.iter().map(|r| r.sop_instance_uid.to_string()).collect::<Vec<_>>(), ["9.7"]);
    assert_eq!(due[0].next_ms, 6000);
    assert!(archive.claim_due_reports(5000, 10, 7000).unwrap().is_empty(), "being sent elsewhere");
    assert_eq!(archive.next_report_due().unwrap(), Some(6000));
    let retry = ReportAttempt::NotDelivered { status: "cannot connect".into(), retry_at_ms: Some(5500) };
    archive.record_report_attempt("9.7", &retry, 5100).unwrap();
    assert_eq!(archive.claim_due_reports(5500, 10, 8000).unwrap().len(), 1);
}
