//! The JSON documents pinned: field names, nesting and key order of `metrics.json`,
//! `simulate --json` and `bench --json` on small deterministic instances.

use expect_test::expect;
use granska_research::ScoredExam;
use granska_research::metrics::metrics;
use granska_research::outputs::{
    ASSUMPTIONS, BenchModel, BenchReport, Machine, MetricsFile, ModelSummary, OnnxRuntime, Percentiles, SimulateReport,
    Stages, to_json,
};
use granska_research::simulate::{Readers, simulate};
use granska_triage::Policy;

/// Four exams: two cancers in categories 9 and 10 (one extra-high), two normals in 1 and 9.
fn exams() -> Vec<ScoredExam> {
    let exam = |i: u8, score: f64, category: u8, extra_high: bool, label: bool| ScoredExam {
        study_uid: format!("1.2.{i}"),
        exam_score: Some(score),
        category: Some(category),
        extra_high,
        label: Some(label),
    };
    vec![
        exam(1, 0.75, 10, true, true),
        exam(2, 0.5, 9, false, true),
        exam(3, 0.5, 9, false, false),
        exam(4, 0.125, 1, false, false),
    ]
}

fn json_of<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> String {
    let text = to_json(value).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), value, "the document reads back");
    text
}

#[test]
fn metrics_json_layout() {
    let rows = exams();
    let arm = simulate(&rows, &Policy::builtin("masai").unwrap(), Readers { sensitivity: 0.8, specificity: 0.96 });
    let model = ModelSummary { name: "granska-phantom-v1".into(), version: "1.0.0".into(), sha256: "ab".repeat(32) };
    let mut file = MetricsFile::new(&metrics(&rows), &arm, model, 0, 1, "granska eval --data d".into());
    // Keep the snapshot short: two cuts and three categories show the shape.
    file.operating_points.drain(1..8);
    file.category_distribution.drain(1..8);
    expect![[r#"
        {
          "auc": 0.875,
          "auc_ci_high": 1.0,
          "auc_ci_low": 0.5285240439125805,
          "auc_ci_method": "DeLong",
          "category_distribution": [
            {
              "cancers": 0,
              "category": 1,
              "exams": 1,
              "normals": 1
            },
            {
              "cancers": 1,
              "category": 9,
              "exams": 2,
              "normals": 1
            },
            {
              "cancers": 1,
              "category": 10,
              "exams": 1,
              "normals": 0
            }
          ],
          "command": "granska eval --data d",
          "model": {
            "name": "granska-phantom-v1",
            "sha256": "abababababababababababababababababababababababababababababababab",
            "version": "1.0.0"
          },
          "n_cancers": 2,
          "n_exams": 4,
          "n_invalid_files": 1,
          "n_unlabelled": 0,
          "n_unscored": 0,
          "operating_points": [
            {
              "cut": "category >= 2",
              "positive_fraction": 0.75,
              "sensitivity": 1.0,
              "specificity": 0.5
            },
            {
              "cut": "category >= 10",
              "positive_fraction": 0.25,
              "sensitivity": 0.5,
              "specificity": 1.0
            },
            {
              "cut": "extra-high",
              "positive_fraction": 0.25,
              "sensitivity": 0.5,
              "specificity": 1.0
            }
          ],
          "policy": {
            "double_read": 1,
            "flagged": 1,
            "name": "masai",
            "reads_per_exam": 1.25,
            "single_read": 3,
            "version": "1",
            "workload_reduction": 0.375
          }
        }"#]]
    .assert_eq(&json_of(&file));
}

#[test]
fn simulate_json_layout() {
    let readers = Readers { sensitivity: 0.8, specificity: 0.96 };
    let rows = exams();
    let report = SimulateReport {
        readers,
        assumptions: ASSUMPTIONS.into(),
        reference: simulate(&rows, &Policy::builtin("double-all").unwrap(), readers),
        policies: vec![simulate(&rows, &Policy::builtin("masai").unwrap(), readers)],
    };
    expect![[r#"
        {
          "assumptions": "readers independent; double reading recalls when either reader recalls (consensus upholds); unlabelled exams count as normal",
          "policies": [
            {
              "cancers": 2,
              "double_read": 1,
              "exams": 4,
              "expected_cancers_found": 1.76,
              "expected_consensus": 0.31999999999999995,
              "expected_false_recalls": 0.08000000000000007,
              "flagged": 1,
              "policy": "masai",
              "policy_version": "1",
              "reads_per_exam": 1.25,
              "screen_reads": 5,
              "single_read": 3,
              "workload_reduction": 0.375
            }
          ],
          "readers": {
            "sensitivity": 0.8,
            "specificity": 0.96
          },
          "reference": {
            "cancers": 2,
            "double_read": 4,
            "exams": 4,
            "expected_cancers_found": 1.92,
            "expected_consensus": 0.7936000000000001,
            "expected_false_recalls": 0.15680000000000005,
            "flagged": 0,
            "policy": "double-all",
            "policy_version": "1",
            "reads_per_exam": 2.0,
            "screen_reads": 8,
            "single_read": 0,
            "workload_reduction": 0.0
          }
        }"#]].assert_eq(&json_of(&report));
}

#[test]
fn bench_json_layout() {
    let p = Percentiles::of(vec![4.0, 1.0, 3.0, 2.0]);
    let report = BenchReport {
        machine: Machine { cores: 16, cpu: "Example CPU".into(), os: "linux".into(), arch: "x86_64".into() },
        onnxruntime: OnnxRuntime {
            library: "/opt/libonnxruntime.so".into(),
            runtime: "1.22.0".into(),
            device: "cpu".into(),
            max_batch: 16,
            intra_threads: 0,
        },
        model: BenchModel { name: "granska-phantom-v1".into(), version: "1.0.0".into() },
        jobs: 4,
        exams: 2,
        views: 8,
        wall_s: 0.5,
        exams_per_s: 4.0,
        views_per_s: 16.0,
        infer_run_s: 0.25,
        pipeline_over_inference: 2.0,
        stages_ms_per_exam: Stages { decode: p, preprocess: p, infer: p, infer_run: p },
    };
    expect![[r#"
        {
          "exams": 2,
          "exams_per_s": 4.0,
          "infer_run_s": 0.25,
          "jobs": 4,
          "machine": {
            "arch": "x86_64",
            "cores": 16,
            "cpu": "Example CPU",
            "os": "linux"
          },
          "model": {
            "name": "granska-phantom-v1",
            "version": "1.0.0"
          },
          "onnxruntime": {
            "device": "cpu",
            "intra_threads": 0,
            "library": "/opt/libonnxruntime.so",
            "max_batch": 16,
            "runtime": "1.22.0"
          },
          "pipeline_over_inference": 2.0,
          "stages_ms_per_exam": {
            "decode": {
              "mean": 2.5,
              "p50": 3.0,
              "p90": 4.0,
              "p99": 4.0
            },
            "infer": {
              "mean": 2.5,
              "p50": 3.0,
              "p90": 4.0,
              "p99": 4.0
            },
            "infer_run": {
              "mean": 2.5,
              "p50": 3.0,
              "p90": 4.0,
              "p99": 4.0
            },
            "preprocess": {
              "mean": 2.5,
              "p50": 3.0,
              "p90": 4.0,
              "p99": 4.0
            }
          },
          "views": 8,
          "views_per_s": 16.0,
          "wall_s": 0.5
        }"#]]
    .assert_eq(&json_of(&report));
}
