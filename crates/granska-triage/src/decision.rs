//! What triage reads (an exam's [`Assessment`]) and what it decides ([`Decision`]).
//!
//! These are triage's own types, not the model crate's: triage must stay free of I/O and of
//! ONNX Runtime, and the server converts at the edge.

use std::fmt;

use crate::Error;

/// A calibrated risk category, 1 (lowest) to 10 (highest); each holds ~10 % of a screening
/// population by construction of the model's calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category(u8);

impl Category {
    /// The highest category.
    pub const MAX: Category = Category(10);

    /// A category, refusing anything outside 1–10.
    pub fn new(value: u8) -> Result<Self, Error> {
        if (1..=10).contains(&value) { Ok(Category(value)) } else { Err(Error::Category(value)) }
    }

    /// The number, 1–10.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

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

/// How many independent screening reads an exam gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadingMode {
    /// One radiologist (with the AI as the other reader).
    Single,
    /// Two independent, blinded radiologists; discordant reads go to consensus.
    Double,
}

impl ReadingMode {
    /// Screening reads this mode asks for (consensus not counted).
    pub fn reads(self) -> u32 {
        match self {
            ReadingMode::Single => 1,
            ReadingMode::Double => 2,
        }
    }

    /// `single` or `double`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadingMode::Single => "single",
            ReadingMode::Double => "double",
        }
    }

    /// Parses [`ReadingMode::as_str`]'s output.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "single" => Some(ReadingMode::Single),
            "double" => Some(ReadingMode::Double),
            _ => None,
        }
    }
}

impl fmt::Display for ReadingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tag on a decision, shown to readers. `ExtraHigh` and `SafetyNet` place the exam first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// At or above the model's extra-high-risk cut.
    ExtraHigh,
    /// In the normal-triage policy's safety-net band.
    SafetyNet,
    /// In the normal-triage policy's lowest band.
    LikelyNormal,
    /// Not all standard views were scored.
    Incomplete,
    /// No score could be computed.
    Unscorable,
}

impl Flag {
    /// Every flag, in display order.
    pub const ALL: [Flag; 5] =
        [Flag::ExtraHigh, Flag::SafetyNet, Flag::LikelyNormal, Flag::Incomplete, Flag::Unscorable];

    /// Kebab-case name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::ExtraHigh => "extra-high",
            Flag::SafetyNet => "safety-net",
            Flag::LikelyNormal => "likely-normal",
            Flag::Incomplete => "incomplete",
            Flag::Unscorable => "unscorable",
        }
    }

    /// Parses [`Flag::as_str`]'s output.
    pub fn parse(text: &str) -> Option<Self> {
        Flag::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// Whether this flag places the exam ahead of unflagged ones.
    pub fn places_first(self) -> bool {
        matches!(self, Flag::ExtraHigh | Flag::SafetyNet)
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
