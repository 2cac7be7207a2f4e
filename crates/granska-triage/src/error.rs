//! The one error type of the triage crate: a policy that cannot be used, said precisely.

/// Why a policy or an assessment was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// `Policy::builtin` was given a name it does not know.
    #[error("unknown policy {name:?}: expected one of {known}")]
    UnknownPolicy {
        /// The name asked for.
        name: String,
        /// The built-in names, comma separated.
        known: String,
    },
    /// The policy TOML does not parse or has unknown keys.
    #[error("policy {origin}: {message}")]
    Parse {
        /// Where the TOML came from (a path or `built-in <name>`).
        origin: String,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// The policy parses but a value is out of range.
    #[error("policy {origin}: {field} must be {expected}, found {found}")]
    Invalid {
        /// Where the TOML came from.
        origin: String,
        /// The offending key, e.g. `rule.double_from_category`.
        field: &'static str,
        /// What a valid value looks like.
        expected: String,
        /// The value found.
        found: String,
    },
    /// A category outside 1–10.
    #[error(transparent)]
    Category(#[from] granska_types::CategoryError),
}
