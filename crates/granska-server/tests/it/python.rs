//! A Python `grpcio` client generated from `proto/` pushes an exam, completes it, sees it
//! routed and listed: others can use the protocol.

use std::process::Command;

use crate::support::{TestServer, exam, exam_files, token_of, workspace_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_grpcio_client_pushes_and_lists() {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run `bash scripts/test.sh` (it installs grpcio and grpcio-tools into .venv)",
        python.display()
    );
    let server = TestServer::start("masai").await;
    let dir = tempfile::tempdir().unwrap();
    let e = exam(21, 0);
    for (i, bytes) in exam_files(&e).into_iter().enumerate() {
        std::fs::write(dir.path().join(format!("view{i}.dcm")), bytes).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let (addr, data) = (server.addr.to_string(), dir.path().to_path_buf());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(workspace_root().join("crates/granska-server/tests/python_client.py"))
            .arg(workspace_root().join("proto"))
            .arg(out.path())
            .arg(addr)
            .args([token_of("pacs-1"), token_of("alice"), token_of("root")])
            .arg(data)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "python client failed: {}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["outcomes"], serde_json::json!(["STORED", "STORED", "STORED", "STORED"]));
    assert_eq!(summary["studies"], serde_json::json!([e.study_uid]));
    let routed = &summary["routed"][&e.study_uid];
    let category = routed["category"].as_u64().unwrap();
    let expected = if category == 10 || routed["flags"].as_array().unwrap().iter().any(|f| f == "extra-high") {
        "double"
    } else {
        "single"
    };
    assert_eq!(routed["reading_mode"], expected);
    assert_eq!(summary["worklist"], serde_json::json!([e.study_uid]));
    assert_eq!(summary["pacs_listing"], "PERMISSION_DENIED");
    server.stop().await;
}
