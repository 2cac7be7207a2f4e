//! Bearer tokens: how a token is stored (its sha256, never the token) and made (32 random bytes
//! from the OS). Every edge that authenticates by token (gRPC now, the web station next)
//! compares hashes made here; `granska token` makes new ones.

use granska_types::Role;
use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// Lower-case hex sha256 of a token.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes from the OS, hex. `None` if the OS has no random source.
pub fn new_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// A caller authenticated by its bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Its configured name (audit records name it).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Turns a bearer token into its principal: the one check every token-authenticated edge
/// (gRPC, STOW-RS, the web station) makes, implemented by the server's token table.
pub trait Authenticate: Send + Sync {
    /// The principal whose token this is, if any (compared by sha256).
    fn principal(&self, token: &str) -> Option<Principal>;
}
