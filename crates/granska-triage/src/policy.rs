//! Policies: named, versioned TOML configuration, and the rule that applies one to an exam.
//!
//! ```toml
//! name = "threshold"          # shown with every routing decision
//! version = "1"               # bump when the rule or its numbers change
//! max_wait_hours = 72         # older exams move ahead of everything not yet overdue
//! [rule]
//! kind = "threshold"          # masai | threshold | normal-triage | double-all
//! double_from_category = 8
//! ```
//! The built-in policies are `policies/*.toml` in this crate, embedded at build time.

use serde::Deserialize;

use crate::{Assessment, Decision, Error, Flag, ReadingMode};

/// The built-in policies, by name, with their TOML.
pub const BUILTIN_POLICIES: [(&str, &str); 4] = [
    ("masai", include_str!("../policies/masai.toml")),
    ("threshold", include_str!("../policies/threshold.toml")),
    ("normal-triage", include_str!("../policies/normal-triage.toml")),
    ("double-all", include_str!("../policies/double-all.toml")),
];

/// A policy's identity, recorded with every routing decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A triage policy: a rule plus the waiting-time limit that keeps low-risk exams from starving.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Name, recorded with every decision.
    pub name: String,
    /// Version, recorded with every decision.
    pub version: String,
    /// An exam waiting longer than this is placed ahead of every exam that is not overdue.
    pub max_wait_hours: f64,
    /// How scores become reading modes.
    pub rule: Rule,
}

/// How a policy turns a scored exam into a reading mode and flags.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Rule {
    /// MASAI: categories 1–9 single, 10 double; extra-high flagged and placed first.
    Masai,
    /// Categories at or above `double_from_category` double, the rest single.
    Threshold {
        /// The lowest category that is double read (1–10).
        double_from_category: u8,
        /// Flag extra-high exams and place them first.
        #[serde(default = "yes")]
        flag_extra_high: bool,
    },
    /// PRAIM-style normal triage: the lowest band single read and tagged likely normal, the
    /// rest double read, the top band (safety net) flagged and placed first.
    NormalTriage {
        /// Categories up to and including this one are single read (1–9).
        normal_up_to_category: u8,
        /// The safety net starts at this category; absent: at the model's extra-high cut.
        #[serde(default)]
        safety_net_from_category: Option<u8>,
    },
    /// Every exam double read.
    DoubleAll,
}

impl Rule {
    /// The rule's kind, as the policy file and the API name it.
    pub fn kind(&self) -> granska_types::PolicyRule {
        match self {
            Rule::Masai => granska_types::PolicyRule::Masai,
            Rule::Threshold { .. } => granska_types::PolicyRule::Threshold,
            Rule::NormalTriage { .. } => granska_types::PolicyRule::NormalTriage,
            Rule::DoubleAll => granska_types::PolicyRule::DoubleAll,
        }
    }
}

fn yes() -> bool {
    true
}

impl Policy {
    /// A built-in policy by name (`masai`, `threshold`, `normal-triage`, `double-all`).
    pub fn builtin(name: &str) -> Result<Policy, Error> {
        let (_, text) = BUILTIN_POLICIES.iter().find(|(n, _)| *n == name).ok_or_else(|| Error::UnknownPolicy {
            name: name.to_owned(),
            known: BUILTIN_POLICIES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        })?;
        Policy::from_toml(text, &format!("built-in {name}"))
    }

    /// Parses and validates a policy; `origin` names the source in errors (e.g. its path).
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, Error> {
        let policy: Policy =
            toml::from_str(text).map_err(|e| Error::Parse { origin: origin.to_owned(), message: e.to_string() })?;
        policy.validate(origin)?;
        Ok(policy)
    }

    fn validate(&self, origin: &str) -> Result<(), Error> {
        let invalid = |field, expected: &str, found: String| Error::Invalid {
            origin: origin.to_owned(),
            field,
            expected: expected.to_owned(),
            found,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "a non-empty name", format!("{:?}", self.name)));
        }
        if self.version.trim().is_empty() {
            return Err(invalid("version", "a non-empty version", format!("{:?}", self.version)));
        }
        if !(self.max_wait_hours.is_finite() && self.max_wait_hours > 0.0) {
            return Err(invalid("max_wait_hours", "a positive number of hours", self.max_wait_hours.to_string()));
        }
        match self.rule {
            Rule::Masai | Rule::DoubleAll => {}
            Rule::Threshold { double_from_category, .. } => {
                if !(1..=10).contains(&double_from_category) {
                    return Err(invalid("rule.double_from_category", "1–10", double_from_category.to_string()));
                }
            }
            Rule::NormalTriage { normal_up_to_category, safety_net_from_category } => {
                if !(1..=9).contains(&normal_up_to_category) {
                    return Err(invalid("rule.normal_up_to_category", "1–9", normal_up_to_category.to_string()));
                }
                if let Some(net) = safety_net_from_category
                    && !(normal_up_to_category + 1..=10).contains(&net)
                {
                    return Err(invalid(
                        "rule.safety_net_from_category",
                        &format!("{}–10 (above normal_up_to_category)", normal_up_to_category + 1),
                        net.to_string(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The name and version recorded with each decision.
    pub fn id(&self) -> PolicyId {
        PolicyId { name: self.name.clone(), version: self.version.clone() }
    }

    /// The waiting-time limit in milliseconds.
    pub fn max_wait_ms(&self) -> i64 {
        (self.max_wait_hours * 3_600_000.0).round() as i64
    }

    /// Whether an exam waiting since `waiting_since_ms` is over the limit at `now_ms`.
    pub fn is_overdue(&self, waiting_since_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(waiting_since_ms) > self.max_wait_ms()
    }

    /// Applies the policy to one exam.
    pub fn decide(&self, assessment: &Assessment) -> Decision {
        let (category, extra_high) = match assessment {
            Assessment::Scored { category, extra_high } => (*category, *extra_high),
            Assessment::Incomplete { reason } => return unscored(Flag::Incomplete, reason),
            Assessment::Unscorable { reason } => return unscored(Flag::Unscorable, reason),
        };
        let c = category.get();
        let mut flags = Vec::new();
        let mode = match self.rule {
            Rule::Masai => {
                if extra_high {
                    flags.push(Flag::ExtraHigh);
                }
                if c >= 10 || extra_high { ReadingMode::Double } else { ReadingMode::Single }
            }
            Rule::Threshold { double_from_category, flag_extra_high } => {
                if extra_high && flag_extra_high {
                    flags.push(Flag::ExtraHigh);
                }
                if c >= double_from_category || extra_high { ReadingMode::Double } else { ReadingMode::Single }
            }
            Rule::NormalTriage { normal_up_to_category, safety_net_from_category } => {
                let in_net = match safety_net_from_category {
                    Some(net) => c >= net,
                    None => extra_high,
                };
                if in_net {
                    flags.push(Flag::SafetyNet);
                }
                // The safety net wins over the normal band: a model whose extra-high cut falls
                // inside the normal band still has those exams double read.
                if c <= normal_up_to_category && !in_net {
                    flags.push(Flag::LikelyNormal);
                    ReadingMode::Single
                } else {
                    ReadingMode::Double
                }
            }
            Rule::DoubleAll => ReadingMode::Double,
        };
        Decision { mode, flags, reason: None, rank: c }
    }
}

fn unscored(flag: Flag, reason: &str) -> Decision {
    Decision { mode: ReadingMode::Double, flags: vec![flag], reason: Some(reason.to_owned()), rank: 10 }
}
