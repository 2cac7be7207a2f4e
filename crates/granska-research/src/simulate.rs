//! What a routing policy would do to a screening population: reads per exam against double
//! reading of every exam, the workload reduction, expected consensus sessions, and expected
//! cancers found and normals recalled under stated reader assumptions.
//!
//! The reader model (stated in every output): each radiologist reads independently with
//! sensitivity S and specificity P; a double-read exam is recalled when either reader recalls
//! it (discordant reads go to consensus, which is assumed to uphold the recall); so double
//! reading finds a cancer with probability 1 − (1 − S)² and recalls a normal with probability
//! 1 − P², and a discordant pair (a consensus session) happens with probability 2S(1 − S) for a
//! cancer and 2P(1 − P) for a normal. Exams without a label count as normal. Unscorable exams
//! are double read under every policy (triage's rule), so they count as double here too.

use granska_triage::{Assessment, Category, Policy, ReadingMode};
use serde::{Deserialize, Serialize};

use crate::ScoredExam;

/// Reader assumptions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Readers {
    /// Per-reader sensitivity.
    pub sensitivity: f64,
    /// Per-reader specificity.
    pub specificity: f64,
}

/// The outcome of one policy over a population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Policy name.
    pub policy: String,
    /// Policy version.
    pub policy_version: String,
    /// Exams.
    pub exams: usize,
    /// Single-read exams.
    pub single_read: usize,
    /// Double-read exams.
    pub double_read: usize,
    /// Flagged exams (extra-high, safety net).
    pub flagged: usize,
    /// Screening reads in total.
    pub screen_reads: usize,
    /// Screening reads per exam.
    pub reads_per_exam: f64,
    /// Screen reads saved against double reading of every exam (0.45 = 45 % fewer).
    pub workload_reduction: f64,
    /// Expected consensus sessions.
    pub expected_consensus: f64,
    /// Cancers in the population (labelled).
    pub cancers: usize,
    /// Expected cancers found (recalled).
    pub expected_cancers_found: f64,
    /// Expected normals recalled.
    pub expected_false_recalls: f64,
}

fn assessment(e: &ScoredExam) -> Assessment {
    match e.category.and_then(|c| Category::new(c).ok()) {
        Some(category) if e.exam_score.is_some() => Assessment::Scored { category, extra_high: e.extra_high },
        _ => Assessment::Unscorable { reason: "no score".into() },
    }
}

/// Runs `policy` over `exams`.
pub fn simulate(exams: &[ScoredExam], policy: &Policy, readers: Readers) -> Arm {
    let (s, p) = (readers.sensitivity, readers.specificity);
    let mut arm = Arm {
        policy: policy.name.clone(),
        policy_version: policy.version.clone(),
        exams: exams.len(),
        single_read: 0,
        double_read: 0,
        flagged: 0,
        screen_reads: 0,
        reads_per_exam: 0.0,
        workload_reduction: 0.0,
        expected_consensus: 0.0,
        cancers: 0,
        expected_cancers_found: 0.0,
        expected_false_recalls: 0.0,
    };
    for e in exams {
        let d = policy.decide(&assessment(e));
        let cancer = e.label == Some(true);
        arm.cancers += usize::from(cancer);
        arm.flagged += usize::from(d.is_flagged());
        arm.screen_reads += d.mode.reads() as usize;
        match d.mode {
            ReadingMode::Single => {
                arm.single_read += 1;
                if cancer {
                    arm.expected_cancers_found += s;
                } else {
                    arm.expected_false_recalls += 1.0 - p;
                }
            }
            ReadingMode::Double => {
                arm.double_read += 1;
                if cancer {
                    arm.expected_cancers_found += 1.0 - (1.0 - s).powi(2);
                    arm.expected_consensus += 2.0 * s * (1.0 - s);
                } else {
                    arm.expected_false_recalls += 1.0 - p * p;
                    arm.expected_consensus += 2.0 * p * (1.0 - p);
                }
            }
        }
    }
    if !exams.is_empty() {
        arm.reads_per_exam = arm.screen_reads as f64 / exams.len() as f64;
        arm.workload_reduction = 1.0 - arm.reads_per_exam / 2.0;
    }
    arm
}
