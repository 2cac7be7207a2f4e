//! Integration tests of granska-archive on a real data directory.

use granska_archive::{Archive, AuditFilter, Completion, Error, NewInstance, PutOutcome, StudyState};

fn instance(sop: &str, lat: &str, view: &str) -> NewInstance {
    NewInstance {
        sop_instance_uid: sop.into(),
        study_uid: "1.2.3".into(),
        series_uid: "1.2.3.1".into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.2".into(),
        laterality: lat.into(),
        view: view.into(),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
        patient_id: Some("PHANTOM-1".into()),
        patient_name: None,
    }
}

#[test]
fn four_views_complete_a_study_and_late_instances_reopen_it() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
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
    assert!(archive.record_scoring("1.2.3", 4, "{}", 3000).unwrap());
    assert!(archive.pending().unwrap().is_empty());
    let out = archive.put(b"late", &instance("1.2.3.1.9", "L", "XCCL"), 4000).unwrap();
    assert!(matches!(out, PutOutcome::Stored { state: StudyState::Complete, became_complete: true, .. }));
    let study = archive.study("1.2.3").unwrap().unwrap();
    assert_eq!(study.completion.as_deref(), Some("late-instance"));
    // A scoring of an older generation does not route it.
    assert!(!archive.record_scoring("1.2.3", 4, "{}", 5000).unwrap());
    assert!(archive.record_scoring("1.2.3", 5, "{}", 5000).unwrap());
    assert_eq!(archive.study("1.2.3").unwrap().unwrap().scorings.len(), 3);
    // Blobs read back and are checked.
    let sha = &study.instances[0].sha256;
    assert_eq!(archive.read_blob(sha).unwrap(), b"bytes 0");
    assert_eq!(archive.totals().unwrap().0, 5);
}

#[test]
fn quiet_and_explicit_completion() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    archive.put(b"a", &instance("1.2.3.1.1", "L", "CC"), 1000).unwrap();
    assert!(archive.quiet_studies(999).unwrap().is_empty());
    assert_eq!(archive.quiet_studies(1000).unwrap(), vec!["1.2.3".to_owned()]);
    assert!(archive.complete("1.2.3", Completion::QuietPeriod).unwrap());
    assert!(!archive.complete("1.2.3", Completion::CompleteStudyCall).unwrap(), "already complete");
    assert!(matches!(archive.complete("9.9", Completion::CompleteStudyCall), Err(Error::UnknownStudy { .. })));
    // Reopening keeps everything.
    drop(archive);
    let archive = Archive::open(dir.path()).unwrap();
    assert_eq!(archive.study("1.2.3").unwrap().unwrap().completion.as_deref(), Some("quiet-period"));
}

#[test]
fn a_corrupted_blob_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    let PutOutcome::Stored { sha256, .. } = archive.put(b"abc", &instance("1.2.3.1.1", "L", "CC"), 1).unwrap() else {
        panic!()
    };
    let path = dir.path().join("blobs").join(&sha256[..2]).join(&sha256[2..4]).join(&sha256);
    std::fs::write(&path, b"abd").unwrap();
    let err = archive.read_blob(&sha256).unwrap_err();
    assert!(err.to_string().starts_with(&format!("blob {sha256} is corrupt")), "{err}");
}

#[test]
fn the_audit_log_filters_by_study_and_principal() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    archive.audit(1, "pacs-1", "pacs", "Ingest.Upload", &[Some("1.2.3")], "ok").unwrap();
    archive.audit(2, "alice", "radiologist", "Worklist.List", &[Some("1.2.3"), Some("1.2.4")], "ok").unwrap();
    archive.audit(3, "alice", "radiologist", "Worklist.ClaimNext", &[None], "ok").unwrap();
    let f = |study: Option<&str>, principal: Option<&str>| {
        archive
            .audit_records(&AuditFilter { study_uid: study.map(Into::into), principal: principal.map(Into::into) })
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r.principal, r.action, r.study_uid.as_deref().unwrap_or("-")))
            .collect::<Vec<_>>()
    };
    assert_eq!(f(Some("1.2.3"), None), ["pacs-1 Ingest.Upload 1.2.3", "alice Worklist.List 1.2.3"]);
    assert_eq!(f(None, Some("alice")).len(), 3);
    assert_eq!(f(Some("1.2.4"), Some("pacs-1")).len(), 0);
}
