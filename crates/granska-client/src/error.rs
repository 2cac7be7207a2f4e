//! The client's one error type: every variant names the server, file or call concerned.

use std::path::PathBuf;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No token was given and the tokens file has none for the role.
    #[error("{0}")]
    NoToken(String),
    /// The tokens file exists but cannot be read or parsed.
    #[error("cannot read tokens file {path}: {message}")]
    TokensFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A local file (a CA certificate, a DICOM file to upload) cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server URL is not a valid `http://` or `https://` URL.
    #[error("bad server URL {server:?}: {source}")]
    BadUrl {
        /// The URL given.
        server: String,
        /// Why it was refused.
        #[source]
        source: tonic::transport::Error,
    },
    /// The token contains characters a header cannot carry.
    #[error("the token must be printable ASCII")]
    BadToken,
    /// The connection (TCP, TLS, HTTP/2) failed.
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// The URL.
        server: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The server answered a call with an error status.
    #[error("{call}: {code:?}: {message}", code = .status.code(), message = .status.message())]
    Status {
        /// The call, e.g. `Ingest.Upload` or `CompleteStudy 1.2.3`.
        call: String,
        /// The server's status.
        status: tonic::Status,
    },
}

impl Error {
    /// The gRPC status, when the server answered with one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            Error::Status { status, .. } => Some(status),
            _ => None,
        }
    }
}
