//! Bearer tokens on HTTP: `Authorization: Bearer <token>` → the principal the token table names
//! → a [`Caller`]. What the caller may do is the core's decision (its role × action table);
//! this module only answers 401 when no known token was sent.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use granska_app::auth::Authenticate;
use granska_app::{Caller, Edge};

/// Why a request carries no known principal (answered 401 with `WWW-Authenticate: Bearer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unauthenticated {
    /// No `Authorization: Bearer …` header.
    #[error("expected an authorization header with a bearer token, found none")]
    Missing,
    /// A bearer token no principal holds.
    #[error("the bearer token is not known")]
    Unknown,
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        // RFC 6750 §3: a request without credentials gets the bare challenge; a bad token
        // gets `invalid_token`.
        let challenge = match self {
            Unauthenticated::Missing => HeaderValue::from_static("Bearer realm=\"granska\""),
            Unauthenticated::Unknown => HeaderValue::from_static("Bearer realm=\"granska\", error=\"invalid_token\""),
        };
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], self.to_string()).into_response()
    }
}

/// The caller a request's bearer token names, coming through `edge`.
pub(crate) fn caller(headers: &HeaderMap, auth: &dyn Authenticate, edge: Edge) -> Result<Caller, Unauthenticated> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or(Unauthenticated::Missing)?;
    let principal = auth.principal(token).ok_or(Unauthenticated::Unknown)?;
    Ok(Caller { principal: principal.name, role: principal.role, edge })
}

/// The token of an `Authorization` value `Bearer <token>` (the scheme is case-insensitive,
/// RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
