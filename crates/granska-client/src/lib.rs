//! The typed gRPC client of Granska, used by the CLI's client commands and by the tests: it
//! connects (plain or TLS, with a bearer token given or read from the server's tokens file),
//! streams DICOM files in chunks with a result per instance, and retries only calls that are
//! safe to repeat (CompleteStudy, GetStudy, reads carrying a request id).
//!
//! It depends on the contract (`granska-proto`) and the shared vocabulary, never on the
//! server.
#![warn(missing_docs)]

mod connect;
mod error;
mod upload;

pub use connect::{Authed, Bearer, Client, ClientOptions};
pub use error::Error;
pub use granska_proto::v1 as pb;
pub use upload::{CHUNK, UploadEvent, UploadSummary};

/// A fresh request id for SubmitRead (128 random bits from the OS, hex): repeating a submit
/// with the same id is a no-op on the server.
pub fn new_request_id() -> String {
    use rand::TryRngCore;
    let mut bytes = [0u8; 16];
    // The OS source failing is not recoverable; fall back to the time rather than panic.
    if rand::rngs::OsRng.try_fill_bytes(&mut bytes).is_err() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = now.as_nanos().to_le_bytes();
    }
    hex::encode(bytes)
}
