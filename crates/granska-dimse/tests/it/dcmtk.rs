//! dcmtk's echoscu and storescu against the SCP: the PACS side of a real deployment. Admission
//! by called AE, calling AE and address; whole exams stored and routed (a partial exam by the
//! released association's hint, not the 10-minute quiet period); an RLE-compressed view; a CT
//! refused at negotiation; a view whose pixels cannot be decoded stored and double read.

use std::time::Duration;

use granska_archive::Completion;
use granska_dimse::Peer;
use granska_types::{ExamStatus, ReadingMode};

use crate::support::{Scp, dcmtk, exam, exam_files, halve_pixels, scp_options, write_files};

fn echo(port: &str, calling: &str, called: &str) -> Vec<String> {
    ["-aet", calling, "-aec", called, "127.0.0.1", port].map(String::from).to_vec()
}

fn store_args(port: &str, extra: &[&str], files: &[std::path::PathBuf]) -> Vec<String> {
    let mut args: Vec<String> = ["-aet", "PACS", "-aec", "GRANSKA"].map(String::from).to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["127.0.0.1".to_owned(), port.to_owned()]);
    args.extend(files.iter().map(|p| p.display().to_string()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_needs_the_called_ae_and_without_peers_any_calling_ae_from_loopback() {
    let scp = Scp::start(scp_options()).await;
    let (ok, out) = dcmtk("echoscu", echo(&scp.port(), "PACS", "GRANSKA")).await;
    assert!(ok, "echoscu failed: {out}");
    let (ok, out) = dcmtk("echoscu", echo(&scp.port(), "ANYONE", "GRANSKA")).await;
    assert!(ok, "with no peers configured any calling AE may echo from loopback: {out}");
    let (ok, out) = dcmtk("echoscu", echo(&scp.port(), "PACS", "NOT-GRANSKA")).await;
    assert!(!ok, "a wrong called AE was accepted: {out}");
    assert!(out.contains("Called AE Title Not Recognized"), "{out}");
    scp.wait_metric("granska_dicom_associations_total{outcome=\"released\"}", 2).await;
    scp.wait_metric("granska_dicom_associations_total{outcome=\"rejected\"}", 1).await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_peers_only_a_known_calling_ae_from_its_network_may_associate() {
    let peer = |ae: &str, network: &str| Peer {
        ae_title: ae.into(),
        network: network.parse().unwrap(),
        principal: format!("pacs-{}", ae.to_lowercase()),
    };
    let scp = Scp::start(granska_dimse::ScpOptions {
        peers: vec![peer("PACS", "127.0.0.0/8"), peer("FAR", "10.0.0.0/8")],
        ..scp_options()
    })
    .await;
    let (ok, out) = dcmtk("echoscu", echo(&scp.port(), "PACS", "GRANSKA")).await;
    assert!(ok, "a configured peer failed: {out}");
    let (ok, out) = dcmtk("echoscu", echo(&scp.port(), "INTRUDER", "GRANSKA")).await;
    assert!(!ok && out.contains("Calling AE Title Not Recognized"), "an unknown calling AE: {out}");
    let (ok, out) = dcmtk("echoscu", echo(&scp.port(), "FAR", "GRANSKA")).await;
    assert!(!ok && out.contains("Calling AE Title Not Recognized"), "a known AE from another network: {out}");
    scp.stop().await;

    // No peer's network holds 127.0.0.1: the connection is closed at accept().
    let scp = Scp::start(granska_dimse::ScpOptions { peers: vec![peer("PACS", "10.0.0.0/8")], ..scp_options() }).await;
    let (ok, out) = dcmtk("echoscu", echo(&scp.port(), "PACS", "GRANSKA")).await;
    assert!(!ok, "an address outside every peer network was served: {out}");
    scp.wait_metric("granska_dicom_associations_total{outcome=\"rejected\"}", 1).await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storescu_stores_whole_exams_and_the_release_completes_a_partial_one() {
    let scp = Scp::start(scp_options()).await;
    let dir = tempfile::tempdir().unwrap();
    let full = exam(11, 0);
    let files = write_files(dir.path(), &exam_files(&full));
    let (ok, out) = dcmtk("storescu", store_args(&scp.port(), &[], &files)).await;
    assert!(ok, "storescu failed: {out}");
    let study = scp.wait_routed(&full.study_uid).await;
    assert_eq!(study.record.instances.len(), 4);
    assert_eq!(study.record.completion, Some(Completion::FourViews), "four views complete a study by themselves");

    // Three views: only the released association's hint completes it (quiet period 10 min).
    let partial = exam(11, 1);
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(dir.path(), &exam_files(&partial)[..3]);
    let (ok, out) = dcmtk("storescu", store_args(&scp.port(), &[], &files)).await;
    assert!(ok, "storescu failed: {out}");
    let study = scp.wait_routed(&partial.study_uid).await;
    assert_eq!(study.record.instances.len(), 3);
    assert_eq!(study.record.completion, Some(Completion::AssociationReleased));
    assert_eq!(study.scorings.last().unwrap().0.status, ExamStatus::Incomplete, "a missing view");
    assert_eq!(scp.metric("granska_instances_ingested_total"), 7);
    scp.wait_metric("granska_dicom_associations_total{outcome=\"released\"}", 2).await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_view_is_stored_in_its_own_transfer_syntax() {
    let scp = Scp::start(scp_options()).await;
    let dir = tempfile::tempdir().unwrap();
    let e = exam(12, 0);
    let files = write_files(dir.path(), &exam_files(&e));
    let rle = dir.path().join("rle.dcm");
    let (ok, out) = dcmtk("dcmcrle", vec![files[0].display().to_string(), rle.display().to_string()]).await;
    assert!(ok, "dcmcrle failed: {out}");
    // -xr proposes RLE Lossless first: the view goes as compressed, as a PACS would send it.
    let (ok, out) = dcmtk("storescu", store_args(&scp.port(), &["-xr"], &[rle])).await;
    assert!(ok, "storescu -xr failed: {out}");
    let (ok, out) = dcmtk("storescu", store_args(&scp.port(), &[], &files[1..])).await;
    assert!(ok, "storescu failed: {out}");
    let study = scp.wait_routed(&e.study_uid).await;
    let syntaxes: Vec<&str> = study.record.instances.iter().map(|i| i.instance.transfer_syntax_uid.as_str()).collect();
    assert!(syntaxes.contains(&"1.2.840.10008.1.2.5"), "no RLE instance stored: {syntaxes:?}");
    assert_eq!(study.scorings.last().unwrap().0.status, ExamStatus::Scored, "the RLE view decodes");
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ct_image_is_refused_at_negotiation() {
    let scp = Scp::start(scp_options()).await;
    let dir = tempfile::tempdir().unwrap();
    let e = exam(13, 0);
    let files = write_files(dir.path(), &exam_files(&e)[..1]);
    let ct = "1.2.840.10008.5.1.4.1.1.2";
    // dcmodify updates MediaStorageSOPClassUID with the data set's SOPClassUID.
    let modify = ["-nb", "-m", &format!("(0008,0016)={ct}"), "-m", "(0008,0060)=CT"];
    let mut args: Vec<String> = modify.iter().map(|s| s.to_string()).collect();
    args.push(files[0].display().to_string());
    let (ok, out) = dcmtk("dcmodify", args).await;
    assert!(ok, "dcmodify failed: {out}");
    let (ok, out) = dcmtk("storescu", store_args(&scp.port(), &["-R"], &files)).await;
    assert!(!ok || out.contains("No presentation context"), "a CT was sent: {out}");
    assert!(out.to_lowercase().contains("presentation context"), "{out}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(scp.study(&e.study_uid).await.is_none(), "nothing may be stored");
    assert_eq!(scp.metric("granska_instances_ingested_total"), 0);
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_with_broken_pixels_is_stored_and_double_read_with_the_reason() {
    let scp = Scp::start(scp_options()).await;
    let dir = tempfile::tempdir().unwrap();
    let e = exam(14, 0);
    let mut bytes = exam_files(&e);
    bytes[3] = halve_pixels(&bytes[3]);
    let files = write_files(dir.path(), &bytes);
    let (ok, out) = dcmtk("storescu", store_args(&scp.port(), &[], &files)).await;
    assert!(ok, "storescu failed: {out}");
    let study = scp.wait_routed(&e.study_uid).await;
    assert_eq!(study.record.instances.len(), 4, "the header is valid: stored");
    let (scoring, _) = study.scorings.last().unwrap();
    assert_eq!(scoring.status, ExamStatus::Incomplete);
    let reason = scoring.reason.clone().unwrap_or_default();
    assert!(reason.contains("R-MLO"), "{reason}");
    let routing = study.history.unwrap().routings.pop().unwrap();
    assert_eq!(routing.mode, ReadingMode::Double);
    assert!(routing.reason.unwrap_or_default().contains("pixel data too short"));
    scp.stop().await;
}
