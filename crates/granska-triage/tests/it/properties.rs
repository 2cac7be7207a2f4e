//! Property tests of the rules that hold under every policy (built-in and randomly configured).

use granska_triage::{Assessment, Category, Flag, Policy, PriorityKey, ReadingMode, Rule};
use proptest::prelude::*;

/// A built-in policy, or a randomly configured threshold / normal-triage one.
fn any_policy() -> impl Strategy<Value = Policy> {
    let builtin = prop::sample::select(vec!["masai", "threshold", "normal-triage", "double-all"])
        .prop_map(|name| Policy::builtin(name).unwrap());
    let threshold = (1u8..=10, any::<bool>())
        .prop_map(|(c, flag)| policy(Rule::Threshold { double_from_category: c, flag_extra_high: flag }));
    let normal = (1u8..=9, prop::option::of(0u8..10)).prop_map(|(n, net)| {
        let net = net.map(|k| n + 1 + k % (10 - n));
        policy(Rule::NormalTriage { normal_up_to_category: n, safety_net_from_category: net })
    });
    prop_oneof![builtin, threshold, normal]
}

fn policy(rule: Rule) -> Policy {
    Policy { name: "random".into(), version: "0".into(), max_wait_hours: 48.0, rule }
}

/// A calibration like the model's: nine ascending thresholds and an extra-high cut at or above
/// the last one.
fn calibration() -> impl Strategy<Value = (Vec<f64>, f64)> {
    (prop::collection::vec(0.0f64..1.0, 9), 0.0f64..1.0).prop_map(|(mut t, extra)| {
        t.sort_by(f64::total_cmp);
        let cut = t[8] + extra * (1.0 - t[8]);
        (t, cut)
    })
}

fn assess(thresholds: &[f64], cut: f64, score: f64) -> Assessment {
    let category = 1 + thresholds.iter().filter(|&&t| t <= score).count() as u8;
    Assessment::Scored { category: Category::new(category).unwrap(), extra_high: score >= cut }
}

fn any_assessment() -> impl Strategy<Value = Assessment> {
    prop_oneof![
        (1u8..=10, any::<bool>())
            .prop_map(|(c, eh)| Assessment::Scored { category: Category::new(c).unwrap(), extra_high: eh && c == 10 }),
        "[a-z ]{1,20}".prop_map(|reason| Assessment::Incomplete { reason }),
        "[a-z ]{1,20}".prop_map(|reason| Assessment::Unscorable { reason }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reading_mode_is_monotone_in_the_score(
        policy in any_policy(),
        (thresholds, cut) in calibration(),
        a in 0.0f64..1.0,
        b in 0.0f64..1.0,
    ) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let d_low = policy.decide(&assess(&thresholds, cut, low));
        let d_high = policy.decide(&assess(&thresholds, cut, high));
        prop_assert!(d_low.mode.reads() <= d_high.mode.reads(),
            "score {low} got {} but higher score {high} got {}", d_low.mode, d_high.mode);
        // An exam with no full score is never read less than any scored exam.
        let unscored = policy.decide(&Assessment::Unscorable { reason: "x".into() });
        prop_assert!(unscored.mode.reads() >= d_high.mode.reads());
    }

    #[test]
    fn unscorable_and_incomplete_exams_are_always_double_read_with_the_reason(
        policy in any_policy(),
        reason in "[a-zA-Z0-9 -]{1,40}",
        incomplete in any::<bool>(),
    ) {
        let (assessment, flag) = if incomplete {
            (Assessment::Incomplete { reason: reason.clone() }, Flag::Incomplete)
        } else {
            (Assessment::Unscorable { reason: reason.clone() }, Flag::Unscorable)
        };
        let d = policy.decide(&assessment);
        prop_assert_eq!(d.mode, ReadingMode::Double);
        prop_assert_eq!(d.reason.as_deref(), Some(reason.as_str()));
        prop_assert!(d.flags.contains(&flag));
    }

    #[test]
    fn every_exam_gets_at_least_one_read(policy in any_policy(), a in any_assessment()) {
        let d = policy.decide(&a);
        prop_assert!(d.mode.reads() >= 1);
        prop_assert!((1..=10).contains(&d.rank));
        let mut sorted = d.flags.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(sorted, d.flags);
    }

    #[test]
    fn priority_is_a_strict_total_order(
        policy in any_policy(),
        exams in prop::collection::vec((any_assessment(), 0i64..200 * 3_600_000), 3..40),
        now_offset in 0i64..100 * 3_600_000,
    ) {
        let now = 200 * 3_600_000 + now_offset;
        let keys: Vec<PriorityKey> = exams
            .iter()
            .enumerate()
            .map(|(i, (a, since))| PriorityKey::new(&policy, &policy.decide(a), *since, now, i as i64))
            .collect();
        for x in &keys {
            prop_assert!(x.cmp(x).is_eq(), "irreflexive strict part");
            for y in &keys {
                // Totality and antisymmetry: distinct tasks are never equal, and the order flips.
                prop_assert_eq!(x.cmp(y).is_eq(), x.id == y.id);
                prop_assert_eq!(x.cmp(y), y.cmp(x).reverse());
                for z in &keys {
                    if x < y && y < z {
                        prop_assert!(x < z, "transitivity");
                    }
                }
                // The rules, in order of precedence.
                if x.overdue != y.overdue {
                    prop_assert_eq!(x < y, x.overdue);
                } else if x.flagged != y.flagged {
                    prop_assert_eq!(x < y, x.flagged);
                } else if x.rank != y.rank {
                    prop_assert_eq!(x < y, x.rank > y.rank);
                } else if x.waiting_since_ms != y.waiting_since_ms {
                    prop_assert_eq!(x < y, x.waiting_since_ms < y.waiting_since_ms);
                }
            }
        }
        // Overdue is exactly "waiting longer than the limit".
        for (k, (_, since)) in keys.iter().zip(&exams) {
            prop_assert_eq!(k.overdue, now - since > policy.max_wait_ms());
        }
    }
}
