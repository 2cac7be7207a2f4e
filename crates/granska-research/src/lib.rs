//! Offline analysis for screening researchers: how well a model separates cancers from
//! normals ([`metrics`]), and what a routing policy would do to the reading workload and to
//! the cancers found ([`simulate`]). Pure functions over scored exams; the CLI reads and
//! writes the files.
#![warn(missing_docs)]

pub mod metrics;
pub mod outputs;
pub mod report;
pub mod simulate;
pub mod tables;

/// One scored exam with its ground truth, as in `scores.csv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredExam {
    /// Study Instance UID.
    pub study_uid: String,
    /// Exam score 0–1; `None` when unscorable.
    pub exam_score: Option<f64>,
    /// Category 1–10; `None` when unscorable.
    pub category: Option<u8>,
    /// At or above the extra-high cut.
    pub extra_high: bool,
    /// Cancer (1) or not (0); `None` when unknown.
    pub label: Option<bool>,
}
