//! Authentication of gRPC calls: bearer tokens, compared by sha256, turned into the core's `Caller`.
//!
//! No anonymous access: an interceptor in front of every service (health and reflection
//! included) turns `authorization: Bearer <token>` into a [`Principal`] or answers
//! `UNAUTHENTICATED`; each handler passes the [`caller`] to the application core, which
//! decides whether its role may do the action (`PERMISSION_DENIED` otherwise).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonic::{Request, Status};

use crate::config::TokenEntry;
use crate::error::ServerError;

pub use granska_types::Role;
pub use granska_types::auth::{PlainToken, TokensFile};

pub use granska_app::auth::Principal;

/// Token hashes → principals.
#[derive(Clone, Default)]
pub struct Tokens(Arc<HashMap<String, Principal>>);

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} principals)", self.0.len())
    }
}

pub use granska_app::auth::{new_token, token_sha256};

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
                    PlainToken { principal: "admin".into(), role: "admin".into(), token: random_token()? },
                    PlainToken { principal: "pacs".into(), role: "pacs".into(), token: random_token()? },
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

fn random_token() -> Result<String, ServerError> {
    new_token().ok_or_else(|| ServerError::Config("the OS random source failed: cannot generate tokens".into()))
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

impl granska_app::auth::Authenticate for Tokens {
    fn principal(&self, token: &str) -> Option<Principal> {
        Tokens::principal(self, token).cloned()
    }
}

/// The authenticated caller of a request (the interceptor put its principal there).
pub fn caller<T>(request: &Request<T>) -> Result<granska_app::Caller, Status> {
    let principal =
        request.extensions().get::<Principal>().ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
    Ok(granska_app::Caller { principal: principal.name.clone(), role: principal.role, edge: granska_app::Edge::Grpc })
}
