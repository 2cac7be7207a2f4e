//! The words of triage and reading: risk category, reading mode, flags, task kind and state, a
//! reader's decision and how an outcome was reached. Stored and shown by these names.

use serde::{Deserialize, Serialize};

/// A calibrated risk category, 1 (lowest) to 10 (highest); each holds ~10 % of a screening
/// population by construction of the model's calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Category(u8);

/// A number outside 1–10 offered as a [`Category`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("category must be 1–10, found {0}")]
pub struct CategoryError(pub u8);

impl Category {
    /// The highest category.
    pub const MAX: Category = Category(10);

    /// A category, refusing anything outside 1–10.
    pub fn new(value: u8) -> Result<Category, CategoryError> {
        if (1..=10).contains(&value) { Ok(Category(value)) } else { Err(CategoryError(value)) }
    }

    /// The number, 1–10.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Category {
    type Error = CategoryError;
    fn try_from(value: u8) -> Result<Category, CategoryError> {
        Category::new(value)
    }
}

impl From<Category> for u8 {
    fn from(c: Category) -> u8 {
        c.0
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident,)+ }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray,
        )]
        #[serde(rename_all = "kebab-case")]
        #[strum(serialize_all = "kebab-case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }
        crate::text_names!($name);
    };
}

vocabulary! {
    /// How many independent screening reads an exam gets.
    ReadingMode {
        /// One radiologist (with the AI as the other reader).
        Single,
        /// Two independent, blinded radiologists; discordant reads go to consensus.
        Double,
    }
}

impl ReadingMode {
    /// Screening reads this mode asks for (consensus not counted).
    pub fn reads(self) -> u32 {
        match self {
            ReadingMode::Single => 1,
            ReadingMode::Double => 2,
        }
    }
}

vocabulary! {
    /// A tag on a triage decision, shown to readers. `ExtraHigh` and `SafetyNet` place the exam
    /// first.
    Flag {
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
}

impl Flag {
    /// Whether this flag places the exam ahead of unflagged ones.
    pub fn places_first(self) -> bool {
        matches!(self, Flag::ExtraHigh | Flag::SafetyNet)
    }
}

vocabulary! {
    /// Which read a task is.
    TaskKind {
        /// The first (or only) screening read.
        First,
        /// The second, independent screening read of a double-read exam.
        Second,
        /// The consensus discussion after discordant screening reads.
        Consensus,
    }
}

impl TaskKind {
    /// A screening read (first or second), as opposed to consensus.
    pub fn is_screening(self) -> bool {
        !matches!(self, TaskKind::Consensus)
    }
}

vocabulary! {
    /// Where a task is in its life.
    TaskState {
        /// Waiting for a reader.
        Queued,
        /// Held by a reader under a lease.
        Claimed,
        /// Its read was submitted.
        Done,
        /// Superseded by a newer routing before anyone started reading.
        Cancelled,
    }
}

vocabulary! {
    /// A reader's decision on an exam.
    ReadDecision {
        /// Recall the woman for assessment.
        Recall,
        /// Normal; no recall.
        NoRecall,
    }
}

vocabulary! {
    /// How a final outcome was reached.
    OutcomeVia {
        /// The single read of a single-read exam.
        Single,
        /// Two concordant screening reads.
        Concordant,
        /// The consensus read after discordant screening reads.
        Consensus,
    }
}

vocabulary! {
    /// Where a received study is: the archive's assembly state, the durable scoring queue.
    StudyState {
        /// Instances arriving; not yet complete.
        Receiving,
        /// Complete and waiting to be (re-)scored.
        Complete,
        /// Scored and routed for its latest instances.
        Routed,
        /// Scoring or routing failed repeatedly after the study was acknowledged; it waits for
        /// an admin (`granska retry`) or a new instance, with its reason.
        NeedsAttention,
    }
}

vocabulary! {
    /// Why a study was completed.
    Completion {
        /// All four standard views arrived.
        FourViews,
        /// No instance arrived for the quiet period.
        QuietPeriod,
        /// The sender called CompleteStudy.
        CompleteStudyCall,
        /// An instance arrived after the study was routed: re-scored.
        LateInstance,
        /// The DICOM association that sent it was released (the sender's whole study).
        AssociationReleased,
    }
}

vocabulary! {
    /// Where a result report (the exam's CAD SR) is on its way to the PACS.
    ReportState {
        /// Made and waiting to be sent (or retried after a failed attempt).
        Pending,
        /// The destination stored it (status 0x0000 or a warning).
        Sent,
        /// Not delivered before `results.give_up_after_h`: given up, counted, shown.
        Failed,
        /// No destination configured: kept in the archive only.
        Kept,
        /// A newer report of the study was made before this one was delivered: not sent.
        Superseded,
    }
}

vocabulary! {
    /// What happened to an exam on the worklist (Watch).
    ChangeKind {
        /// Routed for the first time: new tasks.
        Routed,
        /// Routed again (re-scored before any read): tasks replaced.
        Rerouted,
        /// A task was claimed.
        Claimed,
        /// A task went back to the queue.
        Released,
        /// A read was submitted.
        Read,
        /// Discordant reads opened a consensus task.
        Consensus,
        /// The exam has its final outcome.
        Final,
        /// The watcher missed changes: list again.
        Resync,
    }
}

vocabulary! {
    /// What an exam needs after a read was submitted.
    AfterRead {
        /// The other screening read is still outstanding.
        AwaitingOtherRead,
        /// Discordant screening reads: a consensus task was opened.
        Consensus,
        /// The exam has its final outcome.
        Final,
    }
}

vocabulary! {
    /// The kind of a triage policy's rule.
    PolicyRule {
        /// MASAI: categories 1–9 single, 10 double; extra-high flagged.
        Masai,
        /// Double reading from a category up.
        Threshold,
        /// Lowest categories single with a likely-normal tag, a safety-net band flagged.
        NormalTriage,
        /// Everything double read (today's standard).
        DoubleAll,
    }
}
