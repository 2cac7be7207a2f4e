//! Discrimination metrics: ROC curve, AUC with a DeLong 95 % confidence interval, and the
//! sensitivity and specificity of every category cut.
//!
//! AUC is the Mann–Whitney statistic with ties counted one half — the same number as
//! scikit-learn's `roc_auc_score` for binary labels. The interval follows DeLong, DeLong &
//! Clarke-Pearson (1988), computed with midranks (Sun & Xu 2014) in O(n log n).
//!
//! Hand-written rather than a crate: Rust's statistics crates (statrs and the like) give
//! distributions, not ROC analysis or DeLong's interval, and the midrank form is a few dozen
//! lines checked against the pairwise Mann–Whitney count (proptest) and scikit-learn (CLI test).

use serde::{Deserialize, Serialize};

use crate::ScoredExam;

/// Midranks (1-based, ties averaged) of `values`.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// AUC and its DeLong standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Auc {
    /// Area under the ROC curve.
    pub auc: f64,
    /// DeLong standard error.
    pub se: f64,
    /// Lower end of the 95 % interval (clipped to 0–1).
    pub ci_low: f64,
    /// Upper end of the 95 % interval (clipped to 0–1).
    pub ci_high: f64,
}

/// AUC with DeLong's 95 % interval; `None` without at least one positive and one negative.
pub fn auc(positives: &[f64], negatives: &[f64]) -> Option<Auc> {
    let (m, n) = (positives.len(), negatives.len());
    if m == 0 || n == 0 {
        return None;
    }
    let all: Vec<f64> = positives.iter().chain(negatives).copied().collect();
    let r_all = midranks(&all);
    let r_pos = midranks(positives);
    let r_neg = midranks(negatives);
    // Structural components: V10 per positive, V01 per negative.
    let v10: Vec<f64> = (0..m).map(|i| (r_all[i] - r_pos[i]) / n as f64).collect();
    let v01: Vec<f64> = (0..n).map(|j| 1.0 - (r_all[m + j] - r_neg[j]) / m as f64).collect();
    let auc = v10.iter().sum::<f64>() / m as f64;
    let var = |v: &[f64]| {
        if v.len() < 2 {
            return 0.0;
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64
    };
    let se = (var(&v10) / m as f64 + var(&v01) / n as f64).sqrt();
    Some(Auc {
        auc,
        se,
        ci_low: (auc - 1.959_963_984_540_054 * se).max(0.0),
        ci_high: (auc + 1.959_963_984_540_054 * se).min(1.0),
    })
}

/// One point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// Score threshold (exams at or above are called positive).
    pub threshold: f64,
    /// 1 − specificity.
    pub false_positive_rate: f64,
    /// Sensitivity.
    pub true_positive_rate: f64,
}

/// The ROC curve from (0, 0) to (1, 1), one point per distinct score.
pub fn roc(positives: &[f64], negatives: &[f64]) -> Vec<RocPoint> {
    let mut all: Vec<(f64, bool)> =
        positives.iter().map(|&s| (s, true)).chain(negatives.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (m, n) = (positives.len().max(1) as f64, negatives.len().max(1) as f64);
    let mut points = vec![RocPoint { threshold: f64::INFINITY, false_positive_rate: 0.0, true_positive_rate: 0.0 }];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let t = all[i].0;
        while i < all.len() && all[i].0 == t {
            if all[i].1 {
                tp += 1.0
            } else {
                fp += 1.0
            }
            i += 1;
        }
        points.push(RocPoint { threshold: t, false_positive_rate: fp / n, true_positive_rate: tp / m });
    }
    points
}

/// Sensitivity and specificity when exams at or above a cut are called positive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// `category >= k` or `extra-high`.
    pub cut: String,
    /// Cancers called positive / cancers.
    pub sensitivity: f64,
    /// Normals called negative / normals.
    pub specificity: f64,
    /// Exams called positive / exams.
    pub positive_fraction: f64,
}

/// Everything `metrics.json` holds about discrimination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Exams with a label.
    pub n_exams: usize,
    /// Of which cancers.
    pub n_cancers: usize,
    /// Exams without a score (unscorable), left out of AUC and operating points.
    pub n_unscored: usize,
    /// AUC (null without both classes).
    pub auc: Option<f64>,
    /// DeLong 95 % interval, low end.
    pub auc_ci_low: Option<f64>,
    /// DeLong 95 % interval, high end.
    pub auc_ci_high: Option<f64>,
    /// How the interval is computed.
    pub auc_ci_method: &'static str,
    /// Category cuts 2–10 and extra-high.
    pub operating_points: Vec<OperatingPoint>,
    /// Exams per category 1–10: `[all, cancers, normals]`.
    pub category_counts: Vec<[usize; 3]>,
}

/// Metrics of labelled, scored exams (exams without a label are ignored).
pub fn metrics(exams: &[ScoredExam]) -> Metrics {
    let labelled: Vec<&ScoredExam> = exams.iter().filter(|e| e.label.is_some()).collect();
    let scored: Vec<&ScoredExam> = labelled.iter().copied().filter(|e| e.exam_score.is_some()).collect();
    let pos: Vec<f64> = scored.iter().filter(|e| e.label == Some(true)).filter_map(|e| e.exam_score).collect();
    let neg: Vec<f64> = scored.iter().filter(|e| e.label == Some(false)).filter_map(|e| e.exam_score).collect();
    let a = auc(&pos, &neg);
    let point = |cut: String, positive: &dyn Fn(&ScoredExam) -> bool| {
        let (mut tp, mut tn, mut called) = (0usize, 0usize, 0usize);
        for e in &scored {
            let p = positive(e);
            called += usize::from(p);
            match e.label {
                Some(true) => tp += usize::from(p),
                _ => tn += usize::from(!p),
            }
        }
        OperatingPoint {
            cut,
            sensitivity: tp as f64 / pos.len().max(1) as f64,
            specificity: tn as f64 / neg.len().max(1) as f64,
            positive_fraction: called as f64 / scored.len().max(1) as f64,
        }
    };
    let mut operating_points: Vec<OperatingPoint> = (2..=10u8)
        .map(|k| point(format!("category >= {k}"), &|e: &ScoredExam| e.category.is_some_and(|c| c >= k)))
        .collect();
    operating_points.push(point("extra-high".into(), &|e: &ScoredExam| e.extra_high));
    let mut category_counts = vec![[0usize; 3]; 10];
    for e in &scored {
        if let Some(c) = e.category.filter(|c| (1..=10).contains(c)) {
            let row = &mut category_counts[c as usize - 1];
            row[0] += 1;
            row[if e.label == Some(true) { 1 } else { 2 }] += 1;
        }
    }
    Metrics {
        n_exams: labelled.len(),
        n_cancers: labelled.iter().filter(|e| e.label == Some(true)).count(),
        n_unscored: labelled.len() - scored.len(),
        auc: a.map(|a| a.auc),
        auc_ci_low: a.map(|a| a.ci_low),
        auc_ci_high: a.map(|a| a.ci_high),
        auc_ci_method: "DeLong",
        operating_points,
        category_counts,
    }
}
