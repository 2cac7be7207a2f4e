//! Who may call Granska: the roles, and the tokens file the server generates and clients read.
//! Shared by the application core (the permission table), every edge and the client.

use serde::{Deserialize, Serialize};

/// What a principal may do; the application core's permission table is role × action.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Role {
    /// A PACS or modality router: sends instances, completes studies.
    Pacs,
    /// A breast radiologist: reads from the worklist, own tasks only.
    Radiologist,
    /// A researcher: models and studies without patient identifiers.
    Researcher,
    /// Everything, including patient identity and the needs-attention queue.
    Admin,
}

impl Role {
    /// The configured name (`pacs`, `radiologist`, `researcher`, `admin`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses [`Role::as_str`]'s output.
    pub fn parse(text: &str) -> Option<Role> {
        text.parse().ok()
    }
}

/// The generated tokens file, `<data_dir>/tokens.toml` (mode 0600): the operator's copy of the
/// plain-text tokens, which clients read to find the token for a role.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    /// The tokens, in plain text.
    pub tokens: Vec<PlainToken>,
}

/// One token in plain text.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainToken {
    /// The principal it authenticates.
    pub principal: String,
    /// Its role's configured name.
    pub role: String,
    /// The bearer token.
    pub token: String,
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A token in a log line hands out its role.
        f.debug_struct("PlainToken").field("principal", &self.principal).field("role", &self.role).finish()
    }
}
