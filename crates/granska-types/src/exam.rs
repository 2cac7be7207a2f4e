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

crate::text_names!(ExamStatus);

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

/// The version of [`ScoringRecord`] this build writes. Records written before versioning read
/// as version 1 (the same fields).
pub const SCORING_RECORD_VERSION: u32 = 1;

fn version_one() -> u32 {
    1
}

/// An exam's scoring result as recorded with its study and shown by GetStudy: what the model
/// said (or why it could not), per view, and which model said it. Stored as versioned JSON by
/// the archive; read back into this type, never re-parsed by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringRecord {
    /// The record's format version ([`SCORING_RECORD_VERSION`] when written by this build).
    #[serde(default = "version_one")]
    pub version: u32,
    /// How the exam was scored.
    pub status: ExamStatus,
    /// Why incomplete or unscorable.
    pub reason: Option<String>,
    /// Exam score 0–1, when any view was scored.
    pub exam_score: Option<f64>,
    /// Calibrated category, when scored.
    pub category: Option<crate::Category>,
    /// At or above the model's extra-high-risk cut.
    #[serde(default)]
    pub extra_high: bool,
    /// Per view, in the order scored.
    #[serde(default)]
    pub views: Vec<ViewScore>,
    /// The model, when one ran.
    pub model: Option<ModelIdentity>,
}

/// One view of a [`ScoringRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewScore {
    /// SOP Instance UID of the image.
    pub sop_instance_uid: String,
    /// Which breast.
    pub laterality: crate::Laterality,
    /// Which view.
    pub view: crate::View,
    /// Malignancy probability, when scored.
    pub score: Option<f64>,
    /// Why not scored.
    pub error: Option<String>,
}

impl ScoringRecord {
    /// An exam that could not be scored, and why.
    pub fn unscorable(reason: String) -> ScoringRecord {
        ScoringRecord {
            version: SCORING_RECORD_VERSION,
            status: ExamStatus::Unscorable,
            reason: Some(reason),
            exam_score: None,
            category: None,
            extra_high: false,
            views: Vec::new(),
            model: None,
        }
    }

    /// The stored form (JSON). Plain data: serde_json cannot fail on it (a non-finite score
    /// is written as `null`); were it ever to, the stored record says so instead of vanishing.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"version":1,"status":"unscorable","reason":"scoring record not serialisable"}"#.into()
        })
    }

    /// Reads [`ScoringRecord::to_json`]'s output (any version this build knows); a record it
    /// cannot read becomes an unscorable one that says why, so a study stays visible.
    pub fn from_json(json: &str) -> ScoringRecord {
        match serde_json::from_str::<ScoringRecord>(json) {
            Ok(r) if r.version <= SCORING_RECORD_VERSION => r,
            Ok(r) => ScoringRecord::unscorable(format!(
                "stored scoring record version {} is newer than this granska reads ({SCORING_RECORD_VERSION})",
                r.version
            )),
            Err(e) => ScoringRecord::unscorable(format!("stored scoring result cannot be read: {e}")),
        }
    }
}
