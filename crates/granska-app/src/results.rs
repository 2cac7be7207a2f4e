//! Results back to the PACS: after an exam is routed the core builds a Mammography CAD SR
//! (`granska-report`), keeps it in the archive and puts it in a durable outbox; a worker sends
//! due reports through a [`ResultSender`] (the DICOM edge's C-STORE SCU), retrying with
//! backoff, recording each response status, and giving up after `give_up_after`.
//!
//! The core knows nothing of DIMSE: the sender answers with the peer's status word or a
//! [`SendError`], and the outbox records it.

use std::future::Future;
use std::pin::Pin;

/// Sends one result report to the configured destination.
pub trait ResultSender: Send + Sync {
    /// Where reports go, for logs and `granska study` (e.g. `PACS@10.0.0.5:104`).
    fn destination(&self) -> &str;

    /// Sends one Part 10 SR; `Ok` with the destination's DIMSE status word (0x0000 stored,
    /// 0xB000–0xBFFF stored with a warning, anything else refused), `Err` when no answer came.
    fn send<'a>(&'a self, report: &'a [u8]) -> Pin<Box<dyn Future<Output = Result<u16, SendError>> + Send + 'a>>;
}

/// Why a report could not be handed over (no status from the destination).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection (refused, unreachable, timed out).
    #[error("cannot connect to {destination}: {reason}")]
    Unreachable {
        /// `AE@host:port`.
        destination: String,
        /// The transport's error.
        reason: String,
    },
    /// The destination rejected or aborted the association.
    #[error("{destination} rejected the association: {reason}")]
    Rejected {
        /// `AE@host:port`.
        destination: String,
        /// The rejection's source and reason, as the upper layer gave them.
        reason: String,
    },
    /// The association broke, or the peer answered something that is not a C-STORE response.
    #[error("C-STORE to {destination} failed: {reason}")]
    Protocol {
        /// `AE@host:port`.
        destination: String,
        /// What went wrong.
        reason: String,
    },
}
