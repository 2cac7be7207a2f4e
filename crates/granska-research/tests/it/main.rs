//! Tests of granska-research: the simulation on constructed populations, AUC and DeLong.

use expect_test::expect;
use granska_research::ScoredExam;
use granska_research::metrics::{auc, metrics, roc};
use granska_research::simulate::{Readers, simulate};
use granska_triage::Policy;
use proptest::prelude::*;

fn exam(i: usize, category: u8, extra_high: bool, label: bool) -> ScoredExam {
    ScoredExam {
        study_uid: format!("1.2.{i}"),
        exam_score: Some(category as f64 / 10.0 - 0.05),
        category: Some(category),
        extra_high,
        label: Some(label),
    }
}

/// 1000 exams, each category holding 10 %, no extra-high, 1 % cancers in category 10.
fn population() -> Vec<ScoredExam> {
    (0..1000).map(|i| exam(i, (i % 10) as u8 + 1, false, i % 10 == 9 && i < 100)).collect()
}

#[test]
fn masai_reads_1_1_per_exam_against_2_0() {
    let readers = Readers { sensitivity: 0.8, specificity: 0.95 };
    let exams = population();
    let masai = simulate(&exams, &Policy::builtin("masai").unwrap(), readers);
    let control = simulate(&exams, &Policy::builtin("double-all").unwrap(), readers);
    assert_eq!((masai.single_read, masai.double_read, masai.screen_reads), (900, 100, 1100));
    assert!((masai.reads_per_exam - 1.1).abs() < 1e-12);
    assert!((control.reads_per_exam - 2.0).abs() < 1e-12);
    assert!((masai.workload_reduction - 0.45).abs() < 1e-12, "−45 % (MASAI reported −44 %)");
    // The ten cancers sit in category 10: double read in both arms, so found equally.
    assert!((masai.expected_cancers_found - 10.0 * (1.0 - 0.2f64.powi(2))).abs() < 1e-9);
    assert!((masai.expected_cancers_found - control.expected_cancers_found).abs() < 1e-9);
    // Consensus: 10 cancers × 2·0.8·0.2 + 90 normals × 2·0.95·0.05 in category 10 under MASAI.
    assert!((masai.expected_consensus - (10.0 * 0.32 + 90.0 * 0.095)).abs() < 1e-9);
    let threshold = simulate(&exams, &Policy::builtin("threshold").unwrap(), readers);
    assert!((threshold.reads_per_exam - 1.3).abs() < 1e-12, "categories 8–10 double: 0.7 + 0.3·2");
    let normal = simulate(&exams, &Policy::builtin("normal-triage").unwrap(), readers);
    assert!((normal.reads_per_exam - 1.5).abs() < 1e-12, "categories 1–5 single: 0.5 + 0.5·2");
    // Unscorable exams are double read under every policy.
    let mut broken = exams.clone();
    broken[0].exam_score = None;
    broken[0].category = None;
    assert_eq!(simulate(&broken, &Policy::builtin("masai").unwrap(), readers).double_read, 101);
}

#[test]
fn auc_and_delong_interval_on_a_small_case() {
    // Hanley & McNeil style toy data with a tie across classes.
    let pos = [0.9, 0.8, 0.7, 0.55, 0.4];
    let neg = [0.6, 0.55, 0.3, 0.2, 0.1, 0.05];
    let a = auc(&pos, &neg).unwrap();
    // Pairs won: 6 + 6 + 6 + 4.5 (a tie at 0.55) + 4 = 26.5 of 30.
    assert!((a.auc - 26.5 / 30.0).abs() < 1e-12);
    assert!(a.ci_low < a.auc && a.auc < a.ci_high);
    expect!["0.883333 ± 0.1043 → [0.678811, 1.000000]"]
        .assert_eq(&format!("{:.6} ± {:.4} → [{:.6}, {:.6}]", a.auc, a.se, a.ci_low, a.ci_high));
    let curve = roc(&pos, &neg);
    assert_eq!(curve.first().unwrap().true_positive_rate, 0.0);
    assert_eq!((curve.last().unwrap().false_positive_rate, curve.last().unwrap().true_positive_rate), (1.0, 1.0));
    assert!(auc(&pos, &[]).is_none());
}

#[test]
fn metrics_count_categories_and_cuts() {
    let m = metrics(&population());
    assert_eq!((m.n_exams, m.n_cancers, m.n_unscored), (1000, 10, 0));
    assert_eq!(m.category_counts[9], [100, 10, 90]);
    let cut10 = &m.operating_points[8];
    assert_eq!(cut10.cut, "category >= 10");
    assert_eq!((cut10.sensitivity, cut10.positive_fraction), (1.0, 0.1));
    assert!((cut10.specificity - 900.0 / 990.0).abs() < 1e-12);
}

proptest! {
    /// The midrank AUC equals the pairwise Mann–Whitney count (ties one half).
    #[test]
    fn auc_is_the_mann_whitney_statistic(
        pos in prop::collection::vec(0u8..20, 1..30),
        neg in prop::collection::vec(0u8..20, 1..30),
    ) {
        let p: Vec<f64> = pos.iter().map(|&x| x as f64 / 20.0).collect();
        let n: Vec<f64> = neg.iter().map(|&x| x as f64 / 20.0).collect();
        let mut wins = 0.0;
        for a in &p {
            for b in &n {
                wins += if a > b { 1.0 } else if a == b { 0.5 } else { 0.0 };
            }
        }
        let got = auc(&p, &n).unwrap();
        prop_assert!((got.auc - wins / (p.len() * n.len()) as f64).abs() < 1e-12);
        prop_assert!(got.ci_low <= got.auc && got.auc <= got.ci_high);
    }
}

mod outputs;
mod tables;
