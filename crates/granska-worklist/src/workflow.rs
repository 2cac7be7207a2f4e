//! The reading state machine as pure functions, so every store applies the same rules:
//!
//! - single reading: one `first` read → final outcome (`single`);
//! - double reading: `first` and `second` reads are open at once and independent; concordant
//!   → final (`concordant`); discordant (one recall, one not) → a `consensus` task → final
//!   (`consensus`);
//! - blinding: a screening reader sees no other read of the exam; the consensus task sees both
//!   screening reads;
//! - one person never takes both screening reads of an exam; consensus may be taken by any
//!   reader allowed consensus (the discussion usually includes the two screening readers).

use granska_triage::ReadingMode;

use crate::model::{OutcomeVia, Read, ReadDecision, Reader, TaskKind};

/// The tasks a routing creates.
pub fn initial_tasks(mode: ReadingMode) -> &'static [TaskKind] {
    match mode {
        ReadingMode::Single => &[TaskKind::First],
        ReadingMode::Double => &[TaskKind::First, TaskKind::Second],
    }
}

/// What an exam needs once a read is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wait for the other screening read.
    AwaitOtherRead,
    /// Open a consensus task.
    OpenConsensus,
    /// Record the final outcome.
    Final(ReadDecision, OutcomeVia),
}

/// The next step given the exam's reading mode, its screening reads so far and its consensus
/// read, if any.
pub fn after_read(mode: ReadingMode, screening: &[ReadDecision], consensus: Option<ReadDecision>) -> Step {
    if let Some(decision) = consensus {
        return Step::Final(decision, OutcomeVia::Consensus);
    }
    match (mode, screening) {
        (ReadingMode::Single, [decision, ..]) => Step::Final(*decision, OutcomeVia::Single),
        (ReadingMode::Double, [a, b, ..]) if a == b => Step::Final(*a, OutcomeVia::Concordant),
        (ReadingMode::Double, [_, _, ..]) => Step::OpenConsensus,
        (_, _) => Step::AwaitOtherRead,
    }
}

/// Whether `reader` may take a task of `kind` on an exam where they already hold or have
/// submitted a screening read (`involved`). This is the eligibility rule; a store that filters
/// in its query language must agree with it (conformance case `eligibility_is_may_take`).
pub fn may_take(kind: TaskKind, reader: &Reader, involved: bool) -> bool {
    match kind {
        TaskKind::First | TaskKind::Second => !involved,
        TaskKind::Consensus => reader.consensus,
    }
}

/// Whether the holder of a task of `kind` sees any earlier read (a store need not load the
/// reads for a task that sees none).
pub fn sees_earlier_reads(kind: TaskKind) -> bool {
    match kind {
        TaskKind::First | TaskKind::Second => false,
        TaskKind::Consensus => true,
    }
}

/// The earlier reads that the holder of a task of `kind` may see.
pub fn visible_to_task(kind: TaskKind, reads: &[Read]) -> Vec<Read> {
    if !sees_earlier_reads(kind) {
        return Vec::new();
    }
    reads.iter().filter(|r| r.kind.is_screening()).cloned().collect()
}

/// The reads of an exam that `reader` may see outside a task: their own, and everyone's once
/// they have submitted their own screening read or the exam is final.
pub fn visible_to_reader(reader: &str, reads: &[Read], is_final: bool) -> Vec<Read> {
    let own_done = reads.iter().any(|r| r.reader == reader && r.kind.is_screening());
    reads.iter().filter(|r| is_final || own_done || r.reader == reader).cloned().collect()
}
