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

/// The consistency rules of one routed exam, on its live routing's tasks `(kind, state)` and
/// reads `(kind, decision)` as stored: the tasks its reading mode creates, an outcome exactly
/// when and as the reads give one, an open task while there is none, and a consensus task only
/// for discordant reads. Each violation is one sentence naming the exam. Every store's
/// `check_consistency` applies it, so the rule is stated once.
pub fn check_exam(
    uid: &str,
    mode: ReadingMode,
    outcome: Option<&str>,
    via: Option<&str>,
    tasks: &[(String, String)],
    reads: &[(String, String)],
) -> crate::error::Result<Vec<String>> {
    let mut problems = Vec::new();
    let count = |kind: &str| tasks.iter().filter(|(k, _)| k == kind).count();
    let expected_second = usize::from(mode == ReadingMode::Double);
    if count("first") != 1 || count("second") != expected_second {
        problems.push(format!(
            "{uid}: {mode} reading with {} first and {} second task(s)",
            count("first"),
            count("second")
        ));
    }
    let decision = |d: &str| {
        ReadDecision::parse(d).ok_or(crate::error::Error::Corrupt { what: "read decision", found: d.to_owned() })
    };
    let screening: Vec<ReadDecision> = reads
        .iter()
        .filter(|(k, _)| k != "consensus")
        .map(|(_, d)| decision(d))
        .collect::<crate::error::Result<_>>()?;
    let consensus = reads.iter().find(|(k, _)| k == "consensus").map(|(_, d)| decision(d)).transpose()?;
    let step = after_read(mode, &screening, consensus);
    let open = tasks.iter().filter(|(_, s)| s == "queued" || s == "claimed").count();
    match (&step, outcome) {
        (Step::Final(d, v), Some(o)) if o != d.as_str() || via != Some(v.as_str()) => {
            problems.push(format!("{uid}: outcome {o} ({via:?}) but the reads give {d} ({})", v.as_str()));
        }
        (Step::Final(..), Some(_)) => {}
        (Step::Final(d, _), None) => problems.push(format!("{uid}: reads give {d} but no outcome is recorded")),
        (_, Some(o)) => problems.push(format!("{uid}: outcome {o} recorded before the reads give one")),
        (Step::OpenConsensus, None) if count("consensus") != 1 => {
            problems.push(format!("{uid}: discordant reads without exactly one consensus task"))
        }
        (_, None) if open == 0 => problems.push(format!("{uid}: no outcome and no open task")),
        _ => {}
    }
    if !matches!(step, Step::OpenConsensus) && consensus.is_none() && count("consensus") > 0 {
        problems.push(format!("{uid}: a consensus task without discordant reads"));
    }
    Ok(problems)
}
