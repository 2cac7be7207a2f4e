//! A storage backend's own error (SQLite's, PostgreSQL's…), kept opaque so that no backend type
//! is part of a store's API: both stores' `Busy` and `Backend` variants carry it, and every
//! backend builds it the same way.

/// A storage backend's error; its message is the backend's message.
#[derive(Debug)]
pub struct BackendError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl BackendError {
    /// Wraps a backend's error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        BackendError(Box::new(error))
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendError {
    // The wrapped error's message is this one's, so its cause comes next in a chain.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
