//! The JSON documents of the research commands: `metrics.json` (`eval`), the policy comparison
//! (`simulate --json`) and the throughput report (`bench --json`), as typed structs so that a
//! field cannot be misspelt on one side and so that readers can deserialise them.
//!
//! [`to_json`] prints them with keys in alphabetical order at every level: the files were
//! written through `serde_json::Value` (whose map is sorted) before these structs existed, and
//! they keep that byte layout.

use serde::{Deserialize, Serialize};

use crate::metrics::{Metrics, OperatingPoint};
use crate::simulate::{Arm, Readers};

/// Pretty-printed JSON of `value` with keys sorted alphabetically at every level.
pub fn to_json<T: Serialize>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&serde_json::to_value(value)?)
}

/// `metrics.json`: discrimination, the category distribution, the policy's reading-mode split,
/// the model and the command that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsFile {
    /// Exams with a label.
    pub n_exams: usize,
    /// Of which cancers.
    pub n_cancers: usize,
    /// Labelled exams without a score, left out of AUC and operating points.
    pub n_unscored: usize,
    /// Scored exams without a label, left out of the metrics.
    pub n_unlabelled: usize,
    /// Files that were not valid mammograms.
    pub n_invalid_files: usize,
    /// AUC (null without both classes).
    pub auc: Option<f64>,
    /// DeLong 95 % interval, low end.
    pub auc_ci_low: Option<f64>,
    /// DeLong 95 % interval, high end.
    pub auc_ci_high: Option<f64>,
    /// How the interval is computed (`DeLong`).
    pub auc_ci_method: String,
    /// Category cuts 2–10 and extra-high.
    pub operating_points: Vec<OperatingPoint>,
    /// Categories 1–10 in order, each with its exams by label.
    pub category_distribution: Vec<CategoryCount>,
    /// The policy's reading-mode split over these exams.
    pub policy: PolicySplit,
    /// The model that scored the exams.
    pub model: ModelSummary,
    /// The command line that wrote the file.
    pub command: String,
}

/// Exams of one category, by label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCount {
    /// Category 1–10.
    pub category: u8,
    /// Scored, labelled exams in the category (`cancers + normals`).
    pub exams: usize,
    /// Of which cancers.
    pub cancers: usize,
    /// Of which normals.
    pub normals: usize,
}

/// A policy's reading-mode split, as `metrics.json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySplit {
    /// Policy name.
    pub name: String,
    /// Policy version.
    pub version: String,
    /// Single-read exams.
    pub single_read: usize,
    /// Double-read exams.
    pub double_read: usize,
    /// Flagged exams.
    pub flagged: usize,
    /// Screening reads per exam.
    pub reads_per_exam: f64,
    /// Screen reads saved against double reading of every exam.
    pub workload_reduction: f64,
}

/// A model's identity as reported with results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Lower-case hex sha256 of model.onnx.
    pub sha256: String,
}

impl MetricsFile {
    /// Assembles `metrics.json` from the metrics, the policy arm and what only the caller knows.
    pub fn new(
        metrics: &Metrics,
        arm: &Arm,
        model: ModelSummary,
        n_unlabelled: usize,
        n_invalid_files: usize,
        command: String,
    ) -> MetricsFile {
        MetricsFile {
            n_exams: metrics.n_exams,
            n_cancers: metrics.n_cancers,
            n_unscored: metrics.n_unscored,
            n_unlabelled,
            n_invalid_files,
            auc: metrics.auc,
            auc_ci_low: metrics.auc_ci_low,
            auc_ci_high: metrics.auc_ci_high,
            auc_ci_method: metrics.auc_ci_method.to_owned(),
            operating_points: metrics.operating_points.clone(),
            category_distribution: (1..=10u8)
                .zip(&metrics.category_counts)
                .map(|(category, &[exams, cancers, normals])| CategoryCount { category, exams, cancers, normals })
                .collect(),
            policy: PolicySplit {
                name: arm.policy.clone(),
                version: arm.policy_version.clone(),
                single_read: arm.single_read,
                double_read: arm.double_read,
                flagged: arm.flagged,
                reads_per_exam: arm.reads_per_exam,
                workload_reduction: arm.workload_reduction,
            },
            model,
            command,
        }
    }
}

/// `simulate --json`: every policy beside double reading of every exam, under stated readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulateReport {
    /// The reader assumptions.
    pub readers: Readers,
    /// The reader model in words.
    pub assumptions: String,
    /// Double reading of every exam.
    pub reference: Arm,
    /// The policies compared, in the order given.
    pub policies: Vec<Arm>,
}

/// The reader model of [`crate::simulate`], in words, as printed with every comparison.
pub const ASSUMPTIONS: &str = "readers independent; double reading recalls when either reader recalls (consensus upholds); unlabelled exams count as normal";

/// `bench --json`: throughput and per-stage latency, with the machine and runtime that made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The machine.
    pub machine: Machine,
    /// The ONNX Runtime in use.
    pub onnxruntime: OnnxRuntime,
    /// The model (name and version).
    pub model: BenchModel,
    /// Exams scored at the same time.
    pub jobs: usize,
    /// Exams timed.
    pub exams: usize,
    /// Views timed.
    pub views: usize,
    /// Wall time of the timed run, in seconds.
    pub wall_s: f64,
    /// Exams per second.
    pub exams_per_s: f64,
    /// Views per second.
    pub views_per_s: f64,
    /// Sum of the exams' ONNX Runtime `run` time, in seconds.
    pub infer_run_s: f64,
    /// Wall time over pure inference time (1 would mean decoding and preprocessing cost nothing).
    pub pipeline_over_inference: f64,
    /// Per-exam latency of each stage, in milliseconds.
    pub stages_ms_per_exam: Stages,
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical cores available to the process.
    pub cores: usize,
    /// CPU model name (empty when unknown).
    pub cpu: String,
    /// Operating system (`std::env::consts::OS`).
    pub os: String,
    /// Architecture (`std::env::consts::ARCH`).
    pub arch: String,
}

/// The ONNX Runtime a benchmark used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnnxRuntime {
    /// Path of the shared library.
    pub library: String,
    /// Its build string.
    pub runtime: String,
    /// The device actually used.
    pub device: String,
    /// Batch limit.
    pub max_batch: usize,
    /// Intra-op threads (0: ONNX Runtime's default).
    pub intra_threads: usize,
}

/// The model a benchmark ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchModel {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
}

/// Latency percentiles of each pipeline stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    /// Reading and decoding pixels.
    pub decode: Percentiles,
    /// Preprocessing.
    pub preprocess: Percentiles,
    /// Waiting for inference (queue and batch).
    pub infer: Percentiles,
    /// ONNX Runtime `run` time.
    pub infer_run: Percentiles,
}

/// Nearest-rank percentiles and the mean of a sample; the percentiles are NaN (JSON `null`)
/// for an empty sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Mean (0 for an empty sample).
    pub mean: f64,
}

impl Percentiles {
    /// Percentiles of `xs`: the value at rank `round((n − 1) · q)` of the sorted sample.
    pub fn of(mut xs: Vec<f64>) -> Percentiles {
        xs.sort_by(f64::total_cmp);
        let at = |q: f64| xs.get(((xs.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
        let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        Percentiles { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean }
    }
}
