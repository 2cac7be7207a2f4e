//! Clear errors from the model contract: each names what is wrong.

use std::path::Path;

use granska_model::{Engine, EngineConfig, Error, Model};

use crate::support;

/// A copy of the shipped model whose model.toml has `edit` applied.
fn edited(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = support::shipped_dir();
    std::fs::copy(src.join("model.onnx"), dir.path().join("model.onnx")).expect("copies onnx");
    let toml = std::fs::read_to_string(src.join("model.toml")).expect("reads toml");
    std::fs::write(dir.path().join("model.toml"), edit(toml)).expect("writes toml");
    dir
}

fn replace_line(toml: &str, prefix: &str, line: &str) -> String {
    toml.lines().map(|l| if l.starts_with(prefix) { line } else { l }).collect::<Vec<_>>().join("\n")
}

#[test]
fn missing_model_dir_is_named() {
    let err = Model::load(Path::new("/nonexistent/granska-model")).expect_err("no such dir");
    assert!(matches!(err, Error::ModelDirMissing { .. }));
    assert_eq!(
        err.to_string(),
        "model directory /nonexistent/granska-model not found (expected a directory with model.toml and model.onnx)"
    );
}

#[test]
fn wrong_sha256_names_both_hashes() {
    let bad = "0".repeat(64);
    let dir = edited(|t| replace_line(&t, "sha256 =", &format!("sha256 = \"{bad}\"")));
    let err = Model::load(dir.path()).expect_err("hash differs");
    let msg = err.to_string();
    assert!(matches!(err, Error::Sha256Mismatch { .. }), "{msg}");
    assert!(msg.contains(&format!("model.toml says {bad}")) && msg.contains("the file has "), "{msg}");
}

#[test]
fn wrong_input_name_is_reported_with_the_graph_names() {
    let dir = edited(|t| t.replacen("name = \"image\"", "name = \"pixels\"", 1));
    let model = Model::load(dir.path()).expect("contract itself is fine");
    let err = Engine::start(&model, &EngineConfig::default()).err().expect("graph has no input \"pixels\"");
    assert!(matches!(err, Error::Signature { .. }));
    assert_eq!(
        err.to_string(),
        "model.onnx does not match model.toml: input name: model.toml says \"pixels\", the graph has [\"image\"]"
    );
}

#[test]
fn wrong_input_shape_and_output_name_are_reported() {
    let dir = edited(|t| t.replace("shape = [-1, 1, 384, 320]", "shape = [-1, 1, 384, 300]"));
    let model = Model::load(dir.path()).expect("contract itself is fine");
    let err = Engine::start(&model, &EngineConfig::default()).err().expect("shape differs").to_string();
    assert!(err.contains("input shape: model.toml says [-1, 1, 384, 300], the graph has [-1, 1, 384, 320]"), "{err}");

    let dir = edited(|t| t.replacen("name = \"probability\"", "name = \"score\"", 1));
    let model = Model::load(dir.path()).expect("contract itself is fine");
    let err = Engine::start(&model, &EngineConfig::default()).err().expect("output differs").to_string();
    assert!(err.contains("output name: model.toml says \"score\", the graph has [\"probability\"]"), "{err}");
}

#[test]
fn invalid_calibration_and_unknown_fields_are_rejected() {
    let dir =
        edited(|t| replace_line(&t, "thresholds =", "thresholds = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]"));
    let msg = Model::load(dir.path()).expect_err("not ascending").to_string();
    assert!(msg.contains("calibration.thresholds must be finite and ascending"), "{msg}");

    let dir = edited(|t| t.replace("[output]", "[output]\ntemperature = 2.0"));
    let msg = Model::load(dir.path()).expect_err("unknown field").to_string();
    assert!(msg.contains("unknown field `temperature`"), "{msg}");
}

#[test]
#[cfg(not(feature = "cuda"))] // with the feature, CUDA may really be there
fn cuda_without_the_feature_or_fallback_is_an_error() {
    let model = Model::load(support::shipped_dir()).expect("loads");
    let config = EngineConfig { device: granska_model::Device::Cuda { device_id: 0 }, ..EngineConfig::default() };
    let err = Engine::start(&model, &config).err().expect("no CUDA here").to_string();
    assert!(err.contains("CUDA"), "{err}");
    // With the fallback allowed it runs on CPU and says so.
    let engine = Engine::start(&model, &EngineConfig { cuda_fallback_to_cpu: true, ..config }).expect("falls back");
    assert_eq!(engine.info().device, "cpu (CUDA unavailable)");
}

/// The shipped model keeps the rules it was calibrated with (breast mean, exam max), and
/// `exam = "mean"` is a valid contract whose rule the scorer then follows (exam.rs unit tests).
#[test]
fn the_exam_aggregation_is_read_from_model_toml() {
    use granska_model::contract::{BreastAggregation, ExamAggregation};
    let shipped = Model::load(support::shipped_dir()).expect("shipped model loads");
    assert_eq!(
        (shipped.card.aggregation.breast, shipped.card.aggregation.exam),
        (BreastAggregation::Mean, ExamAggregation::Max)
    );
    let dir = edited(|t| replace_line(&t, "exam = ", "exam = \"mean\""));
    let mean = Model::load(dir.path()).expect("exam = \"mean\" is valid");
    assert_eq!(mean.card.aggregation.exam, ExamAggregation::Mean);
    let dir = edited(|t| replace_line(&t, "exam = ", "exam = \"median\""));
    let err = Model::load(dir.path()).expect_err("median is not a rule").to_string();
    assert!(err.contains("unknown variant `median`, expected `max` or `mean`"), "{err}");
}
