//! Each built-in policy over every category (snapshots), and the errors bad policy TOML gets.

use expect_test::{Expect, expect};
use granska_triage::{Assessment, Category, Error, Policy, PriorityKey};

/// One line per category (1–10, then 10 with extra-high), incomplete and unscorable.
fn table(policy: &Policy) -> String {
    let mut cases: Vec<(String, Assessment)> = (1..=10)
        .map(|c| (format!("cat {c:>2}"), Assessment::Scored { category: Category::new(c).unwrap(), extra_high: false }))
        .collect();
    cases.push(("cat 10+EH".into(), Assessment::Scored { category: Category::MAX, extra_high: true }));
    cases.push(("incomplete".into(), Assessment::Incomplete { reason: "R-MLO missing".into() }));
    cases.push(("unscorable".into(), Assessment::Unscorable { reason: "model timeout".into() }));
    let mut out = format!("{} v{} (max wait {} h)\n", policy.name, policy.version, policy.max_wait_hours);
    for (label, a) in cases {
        let d = policy.decide(&a);
        let flags: Vec<_> = d.flags.iter().map(|f| f.as_str()).collect();
        out += &format!(
            "{label:<10} {:<6} rank {:>2} flags [{}]{}\n",
            d.mode,
            d.rank,
            flags.join(","),
            d.reason.map(|r| format!(" reason: {r}")).unwrap_or_default()
        );
    }
    out
}

fn check(name: &str, expect: Expect) {
    expect.assert_eq(&table(&Policy::builtin(name).unwrap()));
}

#[test]
fn masai() {
    check(
        "masai",
        expect![[r#"
            masai v1 (max wait 72 h)
            cat  1     single rank  1 flags []
            cat  2     single rank  2 flags []
            cat  3     single rank  3 flags []
            cat  4     single rank  4 flags []
            cat  5     single rank  5 flags []
            cat  6     single rank  6 flags []
            cat  7     single rank  7 flags []
            cat  8     single rank  8 flags []
            cat  9     single rank  9 flags []
            cat 10     double rank 10 flags []
            cat 10+EH  double rank 10 flags [extra-high]
            incomplete double rank 10 flags [incomplete] reason: R-MLO missing
            unscorable double rank 10 flags [unscorable] reason: model timeout
        "#]],
    );
}

#[test]
fn threshold() {
    check(
        "threshold",
        expect![[r#"
            threshold v1 (max wait 72 h)
            cat  1     single rank  1 flags []
            cat  2     single rank  2 flags []
            cat  3     single rank  3 flags []
            cat  4     single rank  4 flags []
            cat  5     single rank  5 flags []
            cat  6     single rank  6 flags []
            cat  7     single rank  7 flags []
            cat  8     double rank  8 flags []
            cat  9     double rank  9 flags []
            cat 10     double rank 10 flags []
            cat 10+EH  double rank 10 flags [extra-high]
            incomplete double rank 10 flags [incomplete] reason: R-MLO missing
            unscorable double rank 10 flags [unscorable] reason: model timeout
        "#]],
    );
}

#[test]
fn normal_triage() {
    check(
        "normal-triage",
        expect![[r#"
            normal-triage v1 (max wait 72 h)
            cat  1     single rank  1 flags [likely-normal]
            cat  2     single rank  2 flags [likely-normal]
            cat  3     single rank  3 flags [likely-normal]
            cat  4     single rank  4 flags [likely-normal]
            cat  5     single rank  5 flags [likely-normal]
            cat  6     double rank  6 flags []
            cat  7     double rank  7 flags []
            cat  8     double rank  8 flags []
            cat  9     double rank  9 flags []
            cat 10     double rank 10 flags []
            cat 10+EH  double rank 10 flags [safety-net]
            incomplete double rank 10 flags [incomplete] reason: R-MLO missing
            unscorable double rank 10 flags [unscorable] reason: model timeout
        "#]],
    );
}

#[test]
fn double_all() {
    check(
        "double-all",
        expect![[r#"
            double-all v1 (max wait 72 h)
            cat  1     double rank  1 flags []
            cat  2     double rank  2 flags []
            cat  3     double rank  3 flags []
            cat  4     double rank  4 flags []
            cat  5     double rank  5 flags []
            cat  6     double rank  6 flags []
            cat  7     double rank  7 flags []
            cat  8     double rank  8 flags []
            cat  9     double rank  9 flags []
            cat 10     double rank 10 flags []
            cat 10+EH  double rank 10 flags []
            incomplete double rank 10 flags [incomplete] reason: R-MLO missing
            unscorable double rank 10 flags [unscorable] reason: model timeout
        "#]],
    );
}

#[test]
fn normal_triage_with_a_category_safety_net() {
    let p = Policy::from_toml(
        "name = \"nt\"\nversion = \"2\"\nmax_wait_hours = 24\n[rule]\nkind = \"normal-triage\"\nnormal_up_to_category = 6\nsafety_net_from_category = 9\n",
        "test",
    )
    .unwrap();
    expect![[r#"
        nt v2 (max wait 24 h)
        cat  1     single rank  1 flags [likely-normal]
        cat  2     single rank  2 flags [likely-normal]
        cat  3     single rank  3 flags [likely-normal]
        cat  4     single rank  4 flags [likely-normal]
        cat  5     single rank  5 flags [likely-normal]
        cat  6     single rank  6 flags [likely-normal]
        cat  7     double rank  7 flags []
        cat  8     double rank  8 flags []
        cat  9     double rank  9 flags [safety-net]
        cat 10     double rank 10 flags [safety-net]
        cat 10+EH  double rank 10 flags [safety-net]
        incomplete double rank 10 flags [incomplete] reason: R-MLO missing
        unscorable double rank 10 flags [unscorable] reason: model timeout
    "#]]
    .assert_eq(&table(&p));
}

#[test]
fn bad_policies_are_refused_with_the_field_named() {
    let cases = [
        ("unknown key", "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 1\nspeed = 3\n[rule]\nkind = \"masai\"\n"),
        ("unknown kind", "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 1\n[rule]\nkind = \"coin-flip\"\n"),
        (
            "threshold 11",
            "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 1\n[rule]\nkind = \"threshold\"\ndouble_from_category = 11\n",
        ),
        (
            "threshold extra key",
            "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 1\n[rule]\nkind = \"threshold\"\ndouble_from_category = 5\nnormal_up_to_category = 3\n",
        ),
        (
            "net below normal",
            "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 1\n[rule]\nkind = \"normal-triage\"\nnormal_up_to_category = 5\nsafety_net_from_category = 4\n",
        ),
        (
            "normal 10",
            "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 1\n[rule]\nkind = \"normal-triage\"\nnormal_up_to_category = 10\n",
        ),
        ("empty name", "name = \"\"\nversion = \"1\"\nmax_wait_hours = 1\n[rule]\nkind = \"masai\"\n"),
        ("zero wait", "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 0\n[rule]\nkind = \"masai\"\n"),
        ("missing rule", "name = \"x\"\nversion = \"1\"\nmax_wait_hours = 1\n"),
    ];
    let mut out = String::new();
    for (label, text) in cases {
        let err = Policy::from_toml(text, "p.toml").unwrap_err();
        out += &format!("{label}: {}\n", err.to_string().replace('\n', " | "));
    }
    out += &format!("builtin: {}\n", Policy::builtin("masia").unwrap_err());
    out += &format!("category: {}\n", Category::new(0).unwrap_err());
    expect![[r#"
        unknown key: policy p.toml: TOML parse error at line 4, column 1 |   | | 4 | speed = 3 |   | ^^^^^ | unknown field `speed`, expected one of `name`, `version`, `max_wait_hours`, `rule` | 
        unknown kind: policy p.toml: TOML parse error at line 5, column 8 |   | | 5 | kind = "coin-flip" |   |        ^^^^^^^^^^^ | unknown variant `coin-flip`, expected one of `masai`, `threshold`, `normal-triage`, `double-all` | 
        threshold 11: policy p.toml: rule.double_from_category must be 1–10, found 11
        threshold extra key: policy p.toml: TOML parse error at line 4, column 1 |   | | 4 | [rule] |   | ^^^^^^ | unknown field `normal_up_to_category`, expected `double_from_category` or `flag_extra_high` | 
        net below normal: policy p.toml: rule.safety_net_from_category must be 6–10 (above normal_up_to_category), found 4
        normal 10: policy p.toml: rule.normal_up_to_category must be 1–9, found 10
        empty name: policy p.toml: name must be a non-empty name, found ""
        zero wait: policy p.toml: max_wait_hours must be a positive number of hours, found 0
        missing rule: policy p.toml: TOML parse error at line 1, column 1 |   | | 1 | name = "x" |   | ^ | missing field `rule` | 
        builtin: unknown policy "masia": expected one of masai, threshold, normal-triage, double-all
        category: category must be 1–10, found 0
    "#]]
    .assert_eq(&out);
    assert!(matches!(Policy::builtin("nope"), Err(Error::UnknownPolicy { .. })));
}

#[test]
fn overdue_exams_go_ahead_of_flagged_ones() {
    let p = Policy::builtin("masai").unwrap();
    let hour = 3_600_000;
    let now = 1000 * hour;
    let low = p.decide(&Assessment::Scored { category: Category::new(1).unwrap(), extra_high: false });
    let flagged = p.decide(&Assessment::Scored { category: Category::MAX, extra_high: true });
    let old_low = PriorityKey::new(&p, &low, now - 73 * hour, now, 1);
    let fresh_flagged = PriorityKey::new(&p, &flagged, now - hour, now, 2);
    let at_limit_low = PriorityKey::new(&p, &low, now - 72 * hour, now, 3);
    assert!(old_low.overdue && !at_limit_low.overdue, "over the limit means strictly longer than 72 h");
    let mut keys = vec![at_limit_low.clone(), fresh_flagged.clone(), old_low.clone()];
    keys.sort();
    assert_eq!(keys, vec![old_low, fresh_flagged, at_limit_low]);
}
