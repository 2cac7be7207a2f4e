//! What triage reads (an exam's [`Assessment`]) and what it decides ([`Decision`]).
//!
//! The vocabulary (category, reading mode, flags) is `granska-types`'; the assessment and the
//! decision are triage's own: triage stays free of I/O and of ONNX Runtime.

pub use granska_types::Category;

/// An exam's scoring result, as triage needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Assessment {
    /// All four standard views scored.
    Scored {
        /// Calibrated category.
        category: Category,
        /// At or above the model's extra-high-risk cut (top ~1 %).
        extra_high: bool,
    },
    /// Some views missing or failed; the rest may have been scored. Always double read.
    Incomplete {
        /// What is missing or failed, for the reader.
        reason: String,
    },
    /// No score at all (decode, model or timeout failure). Always double read.
    Unscorable {
        /// Why, for the reader.
        reason: String,
    },
}

pub use granska_types::{Flag, ReadingMode};

/// What a policy decided for one exam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Single or double reading.
    pub mode: ReadingMode,
    /// Tags, sorted and without duplicates.
    pub flags: Vec<Flag>,
    /// Why the exam is double read regardless of its score (unscorable or incomplete).
    pub reason: Option<String>,
    /// The risk rank used for ordering: the category, or 10 when the exam has no full score
    /// (its risk is unknown, so it is treated like the highest category).
    pub rank: u8,
}

impl Decision {
    /// Whether the exam is placed ahead of unflagged exams.
    pub fn is_flagged(&self) -> bool {
        self.flags.iter().any(|f| f.places_first())
    }
}
