//! Integration tests of granska-triage: built-in policies (snapshots), configuration errors,
//! and property tests of the rules every policy must keep.

mod policies;
mod properties;
