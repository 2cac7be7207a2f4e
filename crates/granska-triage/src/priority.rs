//! Worklist priority: flagged first, then higher risk, then longer waiting; an exam waiting
//! longer than the policy's limit moves ahead of everything not yet over it, so low-risk
//! exams are never starved.
//!
//! [`PriorityKey`]'s `Ord` is the order: smaller is read first. It is a strict total order
//! because the last component is the task's unique id. The worklist store's SQL reproduces
//! exactly this order (its tests check the two agree).

use std::cmp::Ordering;

use crate::{Decision, Policy};

/// Everything that orders one reading task among others, at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PriorityKey {
    /// Waiting longer than the policy's `max_wait_hours`.
    pub overdue: bool,
    /// Carries a flag that places it first (extra-high, safety-net).
    pub flagged: bool,
    /// The decision's risk rank (category, or 10 without a full score).
    pub rank: u8,
    /// When the exam started waiting (received), Unix milliseconds.
    pub waiting_since_ms: i64,
    /// A unique tie-break (the task id).
    pub id: i64,
}

impl PriorityKey {
    /// The key of a task for `decision`, waiting since `waiting_since_ms`, judged at `now_ms`.
    pub fn new(policy: &Policy, decision: &Decision, waiting_since_ms: i64, now_ms: i64, id: i64) -> Self {
        PriorityKey {
            overdue: policy.is_overdue(waiting_since_ms, now_ms),
            flagged: decision.is_flagged(),
            rank: decision.rank,
            waiting_since_ms,
            id,
        }
    }
}

impl Ord for PriorityKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // `true` sorts after `false`, so compare other-to-self for the "descending" parts.
        other
            .overdue
            .cmp(&self.overdue)
            .then(other.flagged.cmp(&self.flagged))
            .then(other.rank.cmp(&self.rank))
            .then(self.waiting_since_ms.cmp(&other.waiting_since_ms))
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for PriorityKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
