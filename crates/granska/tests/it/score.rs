//! `granska score`: JSON shape, exams grouped by study, a broken view making its exam
//! incomplete, ONNX Runtime missing, and the real CBIS-DDSM mammograms in lenient mode.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::{granska, phantoms};

fn score_json(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["score", "--json"];
    all.extend(args);
    let out = granska(&all);
    assert!(out.status.success(), "score failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).expect("json").as_array().expect("array").clone()
}

#[test]
fn scores_exams_grouped_by_study_with_the_documented_fields() {
    let dir = tempfile::tempdir().expect("temp dir");
    phantoms(dir.path(), 3, 9301, &["--photometric", "mixed"]);
    let exams = score_json(&[dir.path().to_str().expect("utf-8")]);
    assert_eq!(exams.len(), 3, "three studies");
    let card =
        std::fs::read_to_string(crate::workspace_root().join("models/granska-phantom-v1/model.toml")).expect("card");
    for e in &exams {
        assert_eq!(e["status"], "scored");
        assert_eq!(e["complete"], true);
        assert_eq!(e["reason"], Value::Null);
        let score = e["exam_score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&score));
        let cat = e["category"].as_u64().expect("category");
        assert!((1..=10).contains(&cat));
        assert!(e["extra_high"].is_boolean());
        let views = e["views"].as_array().expect("views");
        assert_eq!(views.len(), 4);
        let mut seen: Vec<String> = views
            .iter()
            .map(|v| {
                assert!(v["sop_instance_uid"].as_str().is_some_and(|s| s.starts_with("2.25.")));
                assert!(v["score"].as_f64().is_some());
                format!("{}-{}", v["laterality"].as_str().expect("L/R"), v["view"].as_str().expect("view"))
            })
            .collect();
        seen.sort();
        assert_eq!(seen, ["L-CC", "L-MLO", "R-CC", "R-MLO"]);
        // The exam score is the max over breasts of the mean of the breast's views.
        let breast = |l: &str| {
            let s: Vec<f64> =
                views.iter().filter(|v| v["laterality"] == l).map(|v| v["score"].as_f64().expect("f64")).collect();
            s.iter().sum::<f64>() / s.len() as f64
        };
        assert!((score - breast("L").max(breast("R"))).abs() < 1e-12);
        assert_eq!(e["model"]["name"], "granska-phantom-v1");
        assert!(card.contains(e["model"]["sha256"].as_str().expect("sha")));
        for stage in ["decode", "preprocess", "infer"] {
            assert!(e["timings_ms"][stage].as_f64().is_some_and(|t| t >= 0.0), "timings_ms.{stage}");
        }
    }
}

#[test]
fn a_view_that_fails_to_decode_makes_its_exam_incomplete_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    phantoms(dir.path(), 1, 9302, &[]);
    let study = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_dir())
        .expect("study");
    // Rows 512 → 1024: the header stays valid, the pixel data is now too short for it.
    let path = study.join("R-CC.dcm");
    let mut bytes = std::fs::read(&path).expect("reads");
    let rows = [0x28, 0x00, 0x10, 0x00, b'U', b'S', 0x02, 0x00, 0x00, 0x02];
    let at = bytes.windows(rows.len()).position(|w| w == rows).expect("Rows element");
    bytes[at + 9] = 0x04;
    std::fs::write(&path, bytes).expect("writes");

    let exams = score_json(&[dir.path().to_str().expect("utf-8")]);
    assert_eq!(exams.len(), 1);
    let e = &exams[0];
    assert_eq!(e["status"], "incomplete");
    assert_eq!(e["complete"], false);
    assert!(e["exam_score"].as_f64().is_some(), "still scored on the other three views");
    let reason = e["reason"].as_str().expect("reason");
    assert!(reason.starts_with("R-CC not scored (pixels could not be decoded: "), "{reason}");
    let broken: Vec<&Value> = e["views"].as_array().expect("views").iter().filter(|v| v["score"].is_null()).collect();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0]["view"], "CC");
}

#[test]
fn missing_onnx_runtime_names_the_remedy() {
    let dir = tempfile::tempdir().expect("temp dir");
    phantoms(dir.path(), 1, 9303, &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_granska"))
        .args(["score", dir.path().to_str().expect("utf-8")])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ONNX Runtime library not found: /nonexistent/libonnxruntime.so (ORT_DYLIB_PATH) does not exist"),
        "{err}"
    );
    assert!(err.contains("pip install onnxruntime==1.31.1"), "{err}");
}

#[test]
fn cbis_ddsm_mammograms_score_in_lenient_mode() {
    let python = std::env::var_os("GRANSKA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".venv/bin/python"));
    let out = Command::new(&python)
        .args([crate::workspace_root().join("tests/oracle/pydicom_oracle.py").to_str().expect("utf-8"), "mammograms"])
        .output()
        .unwrap_or_else(|e| panic!("{} not runnable ({e}): run `bash scripts/test.sh`", python.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files: Vec<String> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(files.len(), 8);
    let mut args = vec!["--lenient"];
    args.extend(files.iter().map(String::as_str));
    let exams = score_json(&args);
    let views: usize = exams.iter().map(|e| e["views"].as_array().expect("views").len()).sum();
    assert_eq!(views, 8, "every image is in an exam");
    for e in &exams {
        assert!(e["exam_score"].as_f64().is_some(), "{e}");
        for v in e["views"].as_array().expect("views") {
            assert!(v["score"].as_f64().is_some(), "{v}");
        }
        println!(
            "{} {} score {:.4} category {} views {}",
            e["study_uid"],
            e["status"],
            e["exam_score"].as_f64().expect("score"),
            e["category"],
            e["views"]
                .as_array()
                .expect("views")
                .iter()
                .map(|v| format!(
                    "{}-{}={:.4}",
                    v["laterality"].as_str().unwrap_or("?"),
                    v["view"].as_str().unwrap_or("?"),
                    v["score"].as_f64().unwrap_or(f64::NAN)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}
