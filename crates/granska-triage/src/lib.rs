//! Triage: turns an exam's scoring result into a reading mode (single or double), flags and a
//! priority, under a named, versioned policy.
//!
//! Everything here is a pure function of its inputs (no I/O, no clock): the server and the
//! research tools call the same code, and property tests can check the rules exhaustively.
//! Policies are configuration (`policies/*.toml` are the built-in ones); see [`Policy`].
//!
//! Rules that hold under every policy:
//! - an exam that is unscorable or incomplete is double read, with the reason attached;
//! - every exam gets at least one read;
//! - reading mode is monotone in the score: a higher score never gets fewer reads.
#![warn(missing_docs)]

mod decision;
mod error;
mod policy;
mod priority;

pub use decision::{Assessment, Category, Decision, Flag, ReadingMode};
pub use error::Error;
pub use policy::{BUILTIN_POLICIES, Policy, PolicyId, Rule};
pub use priority::PriorityKey;
