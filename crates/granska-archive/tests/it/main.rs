//! Integration tests of granska-archive on a real data directory: the conformance suite every
//! archive must pass (on SQLite and on PostgreSQL), what is specific to the SQLite index and
//! local blob files, and PostgreSQL replicas sharing one database (`postgres`).

mod conformance;
mod postgres;

use std::os::unix::fs::PermissionsExt;

use granska_archive::conformance::{in_study, instance};
use granska_archive::{Archive, ArchiveStore, Completion, PutOutcome};

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
fn check_finds_corrupt_and_missing_blobs_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    four_views(&archive, "1.2.3");
    let clean = archive.check(|_, _| {}).unwrap();
    assert_eq!((clean.instances_ok, clean.problems.len(), clean.orphan_blobs.len()), (4, 0, 0));
    let study = archive.study("1.2.3").unwrap().unwrap();
    let path = |sha: &str| dir.path().join("blobs").join(&sha[..2]).join(&sha[2..4]).join(sha);
    std::fs::write(path(&study.instances[0].sha256), b"flipped").unwrap();
    std::fs::remove_file(path(&study.instances[1].sha256)).unwrap();
    let orphan = granska_archive::sha256_hex(b"orphan");
    std::fs::create_dir_all(path(&orphan).parent().unwrap()).unwrap();
    std::fs::write(path(&orphan), b"orphan").unwrap();
    let report = archive.check(|_, _| {}).unwrap();
    assert_eq!(report.instances_ok, 2);
    assert_eq!(report.problems.len(), 2, "{:#?}", report.problems);
    assert!(
        report.problems[0].contains("is corrupt") || report.problems[1].contains("is corrupt"),
        "{:#?}",
        report.problems
    );
    assert!(report.problems.iter().any(|p| p.contains("reading blob")), "{:#?}", report.problems);
    assert_eq!(report.orphan_blobs, [orphan]);
}

#[test]
fn backup_is_a_consistent_copy() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    four_views(&archive, "1.2.3");
    let out = tempfile::tempdir().unwrap();
    assert_eq!(archive.backup_into(&out.path().join("b")).unwrap(), 4);
    let copy = Archive::open(out.path().join("b")).unwrap();
    assert_eq!(copy.study("1.2.3").unwrap(), archive.study("1.2.3").unwrap());
    assert_eq!(copy.check(|_, _| {}).unwrap().instances_ok, 4);
}

#[test]
fn patient_data_is_owner_only_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let archive = Archive::open(&root).unwrap();
    archive.put(b"abc", &instance("1.2.3.1.1", "L", "CC"), 1).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("blobs")), 0o700);
    for name in ["archive.db", "archive.db-wal"] {
        assert_eq!(mode(&root.join(name)), 0o600, "{name}");
    }
    let sha = granska_archive::sha256_hex(b"abc");
    let blob = root.join("blobs").join(&sha[..2]).join(&sha[2..4]).join(&sha);
    assert_eq!((mode(&blob), mode(blob.parent().unwrap())), (0o600, 0o700));
}

#[test]
fn the_reports_migration_widens_completion_and_reports_only_new_routings() {
    use granska_archive::{ArchiveStore, Completion, conformance::in_study};
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    archive.put(b"a", &in_study("1.2.3", "1.2.3.1", "L", "CC"), 10).unwrap();
    archive.complete("1.2.3", Completion::QuietPeriod).unwrap();
    archive.record_scoring("1.2.3", 1, &granska_types::ScoringRecord::unscorable("old".into()), true, 20).unwrap();
    archive.put(b"b", &in_study("4.5.6", "4.5.6.1", "L", "CC"), 10).unwrap();
    drop(archive);
    // Back to schema 2 as version 2 wrote it: no reports, the narrower completion CHECK.
    let conn = rusqlite::Connection::open(dir.path().join("archive.db")).unwrap();
    let cookie: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    conn.execute_batch(&format!(
        "DROP TABLE reports; DROP TABLE report_queue; PRAGMA user_version = 2;
         ALTER TABLE studies DROP COLUMN scoring_owner; ALTER TABLE studies DROP COLUMN scoring_until;
         PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = replace(sql, ', ''association-released''', '') WHERE name = 'studies';
         PRAGMA writable_schema = OFF; PRAGMA schema_version = {};",
        cookie + 10
    ))
    .unwrap();
    drop(conn);
    let conn = rusqlite::Connection::open(dir.path().join("archive.db")).unwrap();
    let narrowed = conn.execute("UPDATE studies SET completion = 'association-released' WHERE study_uid = '4.5.6'", []);
    assert!(narrowed.is_err(), "schema 2 refuses the new completion");
    drop(conn);

    let archive = Archive::open(dir.path()).unwrap();
    assert!(archive.complete("4.5.6", Completion::AssociationReleased).unwrap());
    assert_eq!(archive.study("4.5.6").unwrap().unwrap().completion, Some(Completion::AssociationReleased));
    assert!(archive.claim_unreported(0, 0, 10).unwrap().is_empty(), "routings from before the upgrade get no report");
    archive.put(b"c", &in_study("1.2.3", "1.2.3.2", "L", "MLO"), 30).unwrap();
    archive.complete("1.2.3", Completion::QuietPeriod).unwrap();
    archive.record_scoring("1.2.3", 2, &granska_types::ScoringRecord::unscorable("new".into()), true, 40).unwrap();
    assert_eq!(archive.claim_unreported(0, 0, 10).unwrap(), [("1.2.3".to_owned(), 2)]);
}

#[test]
fn studies_stored_with_an_invalid_uid_before_validation_are_parked_by_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    drop(Archive::open(dir.path()).unwrap());
    // Back to schema 1, holding what older versions stored: a study UID with a backslash.
    let conn = rusqlite::Connection::open(dir.path().join("archive.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE reports; DROP TABLE report_queue; DROP TABLE attention; PRAGMA user_version = 1;
         ALTER TABLE studies DROP COLUMN scoring_owner; ALTER TABLE studies DROP COLUMN scoring_until;
         INSERT INTO studies (study_uid, state, generation, first_received, last_received)
             VALUES ('1.2.3\\4', 'complete', 4, 10, 20), ('1.2.5', 'complete', 4, 10, 20);",
    )
    .unwrap();
    drop(conn);
    let archive = Archive::open(dir.path()).unwrap();
    assert_eq!(archive.pending().unwrap(), ["1.2.5"], "the stranded study no longer loops");
    let listed = archive.needs_attention().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].study_uid, "1.2.3\\4");
    assert!(listed[0].reason.contains("not a valid DICOM UID"), "{}", listed[0].reason);
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).unwrap();
    archive.put(b"a", &instance("1.2.3.1.1", "L", "CC"), 1000).unwrap();
    assert!(archive.complete("1.2.3", Completion::QuietPeriod).unwrap());
    drop(archive);
    let archive = Archive::open(dir.path()).unwrap();
    assert_eq!(archive.study("1.2.3").unwrap().unwrap().completion, Some(granska_archive::Completion::QuietPeriod));
}

fn four_views(archive: &Archive, study: &str) {
    for (i, (lat, view)) in [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")].iter().enumerate() {
        archive
            .put(format!("{study} {i}").as_bytes(), &in_study(study, &format!("{study}.1.{i}"), lat, view), 100)
            .unwrap();
    }
}
