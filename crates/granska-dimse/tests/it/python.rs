//! pynetdicom as the PACS (`tests/pynetdicom_scu.py`): the exact C-STORE status of each kind of
//! instance it can send (raw bytes pynetdicom would re-encode are sent by hand in `scu.rs`), 30 associations storing at once, the association limit (a transient rejection,
//! counted) and the idle timeout that frees a stalled sender's slot.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{CoreOptions, Scp, exam, exam_files, python, scp_options, workspace_root, write_files};

/// Runs the script in `mode` with `args`; its JSON.
async fn scu(mode: &str, port: u16, args: Vec<String>) -> Value {
    let script = workspace_root().join("crates/granska-dimse/tests/pynetdicom_scu.py");
    let mut all = vec![script.display().to_string(), mode.to_owned(), port.to_string()];
    all.extend(args);
    let output = tokio::task::spawn_blocking(move || std::process::Command::new(python()).args(&all).output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "pynetdicom script failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

fn valid_view(dir: &Path, seed: u64) -> String {
    write_files(dir, &exam_files(&exam(seed, 0))[..1])[0].display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_instance_gets_its_exact_status() {
    let core = CoreOptions { max_instance_bytes: 1 << 20, ..CoreOptions::default() };
    let scp = Scp::start_with(granska_dimse::ScpOptions { max_instance_bytes: 1 << 20, ..scp_options() }, &core).await;
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_view(dir.path(), 21);
    let out = scu("statuses", scp.addr.port(), vec![valid, dir.path().display().to_string()]).await;
    let status = |key: &str| out[key]["status"].as_u64().unwrap_or_else(|| panic!("no status for {key}: {out}"));
    assert_eq!(status("success"), 0x0000);
    assert_eq!(status("duplicate"), 0x0000, "an identical re-send is success");
    assert_eq!(status("modality_ct"), 0xA900, "an MG class data set that is not a mammogram: {out}");
    assert_eq!(out["modality_ct"]["comment"], "invalid Modality (0008,0060)");
    assert_eq!(status("too_large"), 0xA700, "{out}");
    assert_eq!(status("dropped_sc"), 0x0000, "accept-and-drop");
    assert_eq!(status("after_errors"), 0x0000, "refusals do not end the association");
    assert_eq!(out["released"], true);
    assert_eq!(scp.metric("granska_instances_ingested_total"), 2);
    assert_eq!(scp.metric("granska_instances_duplicate_total"), 1);
    assert_eq!(scp.metric("granska_instances_dropped_total{sop_class=\"1.2.840.10008.5.1.4.1.1.7\"}"), 1);
    assert_eq!(scp.metric("granska_instances_rejected_total{reason=\"too-large\"}"), 1);
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_associations_store_at_once() {
    let scp = Scp::start(granska_dimse::ScpOptions { max_associations: 32, ..scp_options() }).await;
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_view(dir.path(), 22);
    let out = scu("parallel", scp.addr.port(), vec!["30".into(), valid, dir.path().display().to_string()]).await;
    assert_eq!(out["statuses"], json!(vec![0; 30]), "{out}");
    assert_eq!(scp.metric("granska_instances_ingested_total"), 30);
    scp.wait_metric("granska_dicom_associations_total{outcome=\"released\"}", 30).await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_association_over_the_limit_is_rejected_transiently_and_counted() {
    let scp = Scp::start(granska_dimse::ScpOptions { max_associations: 2, ..scp_options() }).await;
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_view(dir.path(), 23);
    let out = scu("limit", scp.addr.port(), vec![valid]).await;
    assert_eq!(out["held"], json!([true, true]));
    assert_eq!(out["third_established"], false);
    // Result 2 (transient), source 3 (service provider, presentation), reason 2 (local limit).
    assert_eq!(out["third_rejection"], json!({"result": 2, "source": 3, "reason": 2}), "{out}");
    assert_eq!(out["after_release"]["status"], 0, "a freed slot serves again: {out}");
    scp.wait_metric("granska_dicom_associations_total{outcome=\"refused\"}", 1).await;
    assert_eq!(scp.metric("granska_refused_total{limit=\"dicom_associations\"}"), 1);
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sender_is_aborted_after_the_idle_timeout_and_frees_its_slot() {
    let options =
        granska_dimse::ScpOptions { max_associations: 1, idle_timeout: Duration::from_secs(1), ..scp_options() };
    let scp = Scp::start(options).await;
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_view(dir.path(), 24);
    let out = scu("idle", scp.addr.port(), vec![valid, "1".into()]).await;
    assert_eq!(out["stalled_established"], true);
    assert_eq!(out["while_stalled_established"], false, "the one slot is held: {out}");
    assert_eq!(out["stalled_aborted"], true, "{out}");
    assert_eq!(out["later"]["status"], 0, "{out}");
    scp.wait_metric("granska_dicom_associations_total{outcome=\"idle\"}", 1).await;
    scp.stop().await;
}
