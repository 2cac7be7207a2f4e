//! Sessions of the web reading station: a credential (today a bearer token, as `granska token`
//! issues) is exchanged once for a random session id in a cookie (HttpOnly, SameSite=Strict,
//! Secure under TLS) that expires after `idle` without a request; every state-changing request
//! must also carry the session's CSRF token in the `X-CSRF-Token` header.
//!
//! The store keeps only the sha256 of each session id (a copy of memory does not hand out live
//! sessions), is bounded (`max_sessions`; expired sessions are dropped first) and lives in the
//! process: a restart signs everyone out. How a principal is established is separate from the
//! session itself ([`Sessions::open`] takes an authenticated principal), so OIDC can sign people
//! in later by adding a route that ends in the same call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use granska_app::auth::{Principal, new_token, token_sha256};

/// The cookie that carries the session id.
pub const COOKIE: &str = "granska_session";
/// The header that carries the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Session settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// A session unused this long is gone.
    pub idle: Duration,
    /// Sessions held at once; at the limit, the least recently used one is dropped.
    pub max_sessions: usize,
    /// Mark the cookie `Secure` (the listener is behind TLS).
    pub secure: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { idle: Duration::from_secs(30 * 60), max_sessions: 10_000, secure: false }
    }
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who.
    pub principal: Principal,
    /// The token every state-changing request must echo in [`CSRF_HEADER`].
    pub csrf: String,
    /// Last request, for the idle expiry.
    last_seen: Instant,
}

/// Why a session could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The OS random source failed: no unguessable id can be made.
    #[error("the OS random source failed: cannot open a session")]
    NoRandomness,
}

/// The sessions of one listener.
#[derive(Debug)]
pub struct Sessions {
    options: SessionOptions,
    by_id_sha256: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// An empty store.
    pub fn new(options: SessionOptions) -> Sessions {
        Sessions { options, by_id_sha256: Mutex::new(HashMap::new()) }
    }

    /// The settings.
    pub fn options(&self) -> SessionOptions {
        self.options
    }

    /// Opens a session for an authenticated principal: `(session id for the cookie, session)`.
    pub fn open(&self, principal: Principal) -> Result<(String, Session), SessionError> {
        let id = new_token().ok_or(SessionError::NoRandomness)?;
        let csrf = new_token().ok_or(SessionError::NoRandomness)?;
        let session = Session { principal, csrf, last_seen: Instant::now() };
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < self.options.idle);
        while map.len() >= self.options.max_sessions.max(1) {
            let oldest = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone());
            match oldest {
                Some(key) => map.remove(&key),
                None => break,
            };
        }
        map.insert(token_sha256(&id), session.clone());
        Ok((id, session))
    }

    /// The live session of `id`, its idle clock restarted; `None` if unknown or expired.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        let key = token_sha256(id);
        let now = Instant::now();
        match map.get_mut(&key) {
            Some(s) if now.duration_since(s.last_seen) < self.options.idle => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session of `id` (signing out); `true` if there was one.
    pub fn close(&self, id: &str) -> bool {
        self.lock().remove(&token_sha256(id)).is_some()
    }

    /// The `Set-Cookie` value that carries `id`.
    pub fn cookie(&self, id: &str) -> String {
        let secure = if self.options.secure { "; Secure" } else { "" };
        format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.options.secure { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave a half-written map (every change is one
        // insert or remove): keep serving.
        self.by_id_sha256.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The session id in a `Cookie` header value, if any.
pub fn session_id(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').map(str::trim).find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name.trim() == COOKIE && !value.trim().is_empty()).then(|| value.trim())
    })
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use granska_types::Role;

    fn alice() -> Principal {
        Principal { name: "alice".into(), role: Role::Radiologist }
    }

    #[test]
    fn a_session_lives_while_used_and_ends_on_close_or_idle() {
        let sessions = Sessions::new(SessionOptions { idle: Duration::from_millis(200), ..SessionOptions::default() });
        let (id, opened) = sessions.open(alice()).unwrap();
        assert_eq!(id.len(), 64, "32 random bytes, hex");
        assert_ne!(opened.csrf, id);
        assert_eq!(sessions.touch(&id).unwrap().principal, alice());
        assert!(sessions.touch("not-a-session").is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(sessions.touch(&id).is_none(), "idle too long");
        let (id, _) = sessions.open(alice()).unwrap();
        assert!(sessions.close(&id));
        assert!(sessions.touch(&id).is_none());
        assert!(!sessions.close(&id));
    }

    #[test]
    fn the_store_is_bounded_and_drops_the_least_recently_used() {
        let sessions = Sessions::new(SessionOptions { max_sessions: 2, ..SessionOptions::default() });
        let (first, _) = sessions.open(alice()).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let (second, _) = sessions.open(alice()).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let (third, _) = sessions.open(alice()).unwrap();
        assert!(sessions.touch(&first).is_none(), "the oldest went");
        assert!(sessions.touch(&second).is_some() && sessions.touch(&third).is_some());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_under_tls() {
        let plain = Sessions::new(SessionOptions::default());
        assert_eq!(plain.cookie("abc"), "granska_session=abc; Path=/; HttpOnly; SameSite=Strict");
        let tls = Sessions::new(SessionOptions { secure: true, ..SessionOptions::default() });
        assert!(tls.cookie("abc").ends_with("; Secure"));
        assert!(tls.clear_cookie().contains("Max-Age=0"));
        assert_eq!(session_id("a=1; granska_session=xyz; b=2"), Some("xyz"));
        assert_eq!(session_id("granska_session="), None);
        assert_eq!(session_id("other=1"), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }
}
