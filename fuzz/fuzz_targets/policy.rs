//! Arbitrary UTF-8 text as a triage policy file: `Policy::from_toml` returns an error, never
//! panics. A policy it accepts must keep the rules the crate promises under every policy, for
//! every assessment: an incomplete or unscorable exam is double read with its reason, every
//! exam gets at least one read, and reads never decrease as the category or the extra-high
//! flag goes up. Its waiting limit and priority key must be computable at any instant.
#![no_main]

use granska_triage::{Assessment, Category, Policy, PriorityKey, ReadingMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::from_toml(text, "fuzz") else { return };

    for (assessment, reason) in [
        (Assessment::Incomplete { reason: "R-MLO missing".into() }, "R-MLO missing"),
        (Assessment::Unscorable { reason: String::new() }, ""),
    ] {
        let d = policy.decide(&assessment);
        assert_eq!(d.mode, ReadingMode::Double, "{assessment:?} not double read");
        assert_eq!(d.reason.as_deref(), Some(reason));
    }

    let mut previous = [0u32; 2];
    for c in 1..=10 {
        let category = Category::new(c).expect("1–10 is a category");
        let reads = [false, true].map(|extra_high| {
            let d = policy.decide(&Assessment::Scored { category, extra_high });
            assert!(d.mode.reads() >= 1, "category {c} gets no read");
            assert_eq!(d.rank, c);
            let now = 1_800_000_000_000;
            let _ = PriorityKey::new(&policy, &d, now - 3_600_000, now, 1);
            d.mode.reads()
        });
        assert!(reads[1] >= reads[0], "extra-high gets fewer reads than not, at category {c}");
        assert!(reads[0] >= previous[0] && reads[1] >= previous[1], "fewer reads at category {c} than below it");
        previous = reads;
    }

    let _ = policy.max_wait_ms();
    let _ = policy.is_overdue(i64::MIN, i64::MAX);
    let _ = policy.is_overdue(i64::MAX, i64::MIN);
});
