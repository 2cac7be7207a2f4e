//! The words for an exam's scoring that every layer shares: its status, and the identity of
//! the model that scored it. Stored and shown as the lower-case names (`scored`, …), converted
//! to and from text only here (serde and strum), never by hand.

use serde::{Deserialize, Serialize};

/// How an exam was scored.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ExamStatus {
    /// All four standard views were scored.
    Scored,
    /// Scored on the views present; some standard view is missing or failed.
    Incomplete,
    /// No view could be scored (the exam goes to double reading with the reason).
    Unscorable,
}

impl ExamStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses [`ExamStatus::as_str`]'s output.
    pub fn parse(text: &str) -> Option<ExamStatus> {
        text.parse().ok()
    }
}

/// Which model scored an exam: every routing decision records it (DESIGN.md §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// The model card's name.
    pub name: String,
    /// The model card's version.
    pub version: String,
    /// Lower-case hex sha256 of `model.onnx`, as loaded.
    pub sha256: String,
}
