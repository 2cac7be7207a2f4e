//! Authentication (bearer tokens, compared by sha256) and authorisation (role per RPC).
//!
//! No anonymous access: an interceptor in front of every service (health and reflection
//! included) turns `authorization: Bearer <token>` into a [`Principal`] or answers
//! `UNAUTHENTICATED`; each handler then asks [`authorize`] whether the principal's role may
//! call it, or answers `PERMISSION_DENIED`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::TryRngCore;
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use crate::config::TokenEntry;
use crate::error::ServerError;

pub use granska_types::Role;
pub use granska_types::auth::{PlainToken, TokensFile};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Its configured name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Every RPC, for the permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rpc {
    /// Ingest.Upload
    Upload,
    /// Ingest.CompleteStudy
    CompleteStudy,
    /// Ingest.GetStudy
    GetStudy,
    /// Worklist.List
    List,
    /// Worklist.Watch
    Watch,
    /// Worklist.ClaimNext
    ClaimNext,
    /// Worklist.Release
    Release,
    /// Worklist.SubmitRead
    SubmitRead,
    /// Models.Get
    Models,
    /// Ingest.ListNeedsAttention
    ListNeedsAttention,
    /// Ingest.RetryStudy
    RetryStudy,
    /// Ingest.RemoveInstance
    RemoveInstance,
}

impl Rpc {
    /// Every RPC.
    pub const ALL: [Rpc; 12] = [
        Rpc::Upload,
        Rpc::CompleteStudy,
        Rpc::GetStudy,
        Rpc::List,
        Rpc::Watch,
        Rpc::ClaimNext,
        Rpc::Release,
        Rpc::SubmitRead,
        Rpc::Models,
        Rpc::ListNeedsAttention,
        Rpc::RetryStudy,
        Rpc::RemoveInstance,
    ];

    /// `Service.Method`, as audit records name it.
    pub fn name(self) -> &'static str {
        match self {
            Rpc::Upload => "Ingest.Upload",
            Rpc::CompleteStudy => "Ingest.CompleteStudy",
            Rpc::GetStudy => "Ingest.GetStudy",
            Rpc::List => "Worklist.List",
            Rpc::Watch => "Worklist.Watch",
            Rpc::ClaimNext => "Worklist.ClaimNext",
            Rpc::Release => "Worklist.Release",
            Rpc::SubmitRead => "Worklist.SubmitRead",
            Rpc::Models => "Models.Get",
            Rpc::ListNeedsAttention => "Ingest.ListNeedsAttention",
            Rpc::RetryStudy => "Ingest.RetryStudy",
            Rpc::RemoveInstance => "Ingest.RemoveInstance",
        }
    }

    /// The permission table: which roles may call this RPC.
    pub fn allowed(self, role: Role) -> bool {
        use Role::*;
        match self {
            Rpc::Upload | Rpc::CompleteStudy => matches!(role, Pacs | Admin),
            Rpc::GetStudy | Rpc::Models => matches!(role, Researcher | Admin),
            Rpc::List | Rpc::Watch | Rpc::ClaimNext | Rpc::Release | Rpc::SubmitRead => {
                matches!(role, Radiologist | Admin)
            }
            Rpc::ListNeedsAttention | Rpc::RetryStudy | Rpc::RemoveInstance => matches!(role, Admin),
        }
    }
}

/// Token hashes → principals.
#[derive(Clone, Default)]
pub struct Tokens(Arc<HashMap<String, Principal>>);

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} principals)", self.0.len())
    }
}

/// Lower-case hex sha256 of a token.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes from the OS, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).expect("the OS random source works");
    hex::encode(bytes)
}

/// The path of the generated tokens file.
pub fn tokens_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tokens.toml")
}

impl Tokens {
    /// The configured tokens, plus those of `<data_dir>/tokens.toml` if it exists. With none
    /// configured and no file, generates an admin and a pacs token into the file (mode 0600).
    pub fn load(configured: &[TokenEntry], data_dir: &Path) -> Result<Tokens, ServerError> {
        let mut map = HashMap::new();
        let mut add = |principal: &str, role: &str, sha: &str, origin: &str| -> Result<(), ServerError> {
            let role = Role::parse(role).ok_or_else(|| {
                ServerError::Config(format!(
                    "{origin}: role of {principal:?} must be pacs, radiologist, researcher or admin, found {role:?}"
                ))
            })?;
            let sha = sha.to_ascii_lowercase();
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ServerError::Config(format!(
                    "{origin}: token_sha256 of {principal:?} must be 64 hex digits"
                )));
            }
            if let Some(other) = map.get(&sha) {
                let other: &Principal = other;
                return Err(ServerError::Config(format!(
                    "{origin}: the token of {principal:?} ({role}) has the same sha256 as the token of {:?} ({}): \
                     one token must name one principal",
                    other.name, other.role
                )));
            }
            map.insert(sha, Principal { name: principal.to_owned(), role });
            Ok(())
        };
        for t in configured {
            add(&t.principal, &t.role, &t.token_sha256, "[[auth.tokens]]")?;
        }
        let file = tokens_file(data_dir);
        if file.is_file() {
            // Plain-text tokens readable by others would hand out the admin role.
            if let Some(mode) = granska_types::private::wider_mode(&file)
                .map_err(|e| ServerError::Config(format!("cannot read {}: {e}", file.display())))?
            {
                return Err(ServerError::Config(format!(
                    "{} holds bearer tokens but is readable by group or others (mode {mode:o}): \
                     run `chmod 600 {}` and start again",
                    file.display(),
                    file.display()
                )));
            }
            let text = std::fs::read_to_string(&file)
                .map_err(|e| ServerError::Config(format!("cannot read {}: {e}", file.display())))?;
            let parsed: TokensFile =
                toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", file.display())))?;
            for t in &parsed.tokens {
                add(&t.principal, &t.role, &token_sha256(&t.token), &file.display().to_string())?;
            }
        } else if configured.is_empty() {
            let generated = TokensFile {
                tokens: vec![
                    PlainToken { principal: "admin".into(), role: "admin".into(), token: new_token() },
                    PlainToken { principal: "pacs".into(), role: "pacs".into(), token: new_token() },
                ],
            };
            write_private(&file, &generated)?;
            for t in &generated.tokens {
                add(&t.principal, &t.role, &token_sha256(&t.token), "generated")?;
            }
            tracing::warn!(path = %file.display(), "no tokens configured: generated an admin and a pacs token (keep the file secret)");
        }
        if map.is_empty() {
            return Err(ServerError::Config("no bearer tokens: add [[auth.tokens]] entries".into()));
        }
        Ok(Tokens(Arc::new(map)))
    }

    /// The principal of a token, if any.
    pub fn principal(&self, token: &str) -> Option<&Principal> {
        self.0.get(&token_sha256(token))
    }

    /// The interceptor: bearer token → [`Principal`] in the request's extensions.
    pub fn authenticate(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization metadata: expected `Bearer <token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| Status::unauthenticated("authorization metadata must be `Bearer <token>`"))?;
        let principal = self.principal(token.trim()).ok_or_else(|| Status::unauthenticated("unknown bearer token"))?;
        request.extensions_mut().insert(principal.clone());
        Ok(request)
    }
}

fn write_private(path: &Path, tokens: &TokensFile) -> Result<(), ServerError> {
    use std::io::Write;
    let text = format!(
        "# Granska bearer tokens, generated on first start. Keep this file secret (mode 0600).\n\
         # Use one with `--token` or GRANSKA_TOKEN; add more as [[auth.tokens]] with token_sha256 in the config.\n{}",
        toml::to_string(tokens).expect("tokens serialise")
    );
    if let Some(dir) = path.parent() {
        granska_types::private::create_dir_all(dir)
            .map_err(|e| ServerError::Config(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut f = granska_types::private::create_new(path)
        .map_err(|e| ServerError::Config(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| ServerError::Config(format!("cannot write {}: {e}", path.display())))
}

/// The caller, if its role may call `rpc`.
pub fn authorize<T>(request: &Request<T>, rpc: Rpc) -> Result<Principal, Status> {
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
    if !rpc.allowed(principal.role) {
        return Err(Status::permission_denied(format!("role {} may not call {}", principal.role, rpc.name())));
    }
    Ok(principal)
}
