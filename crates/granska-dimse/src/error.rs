//! The crate's errors: why the SCP could not serve, why a configured address or destination is
//! invalid. A failure inside one association is never an error of `serve`: it ends that
//! association only (logged, counted).

use crate::protocol::ProtocolError;

/// Why the DICOM edge could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum DimseError {
    /// An option is out of range.
    #[error("dicom option {option}: {message}")]
    InvalidOption {
        /// The option, as `ScpOptions` names it.
        option: &'static str,
        /// What was expected and what was found.
        message: String,
    },
    /// The listener failed.
    #[error("dicom listener: {0}")]
    Listener(#[source] std::io::Error),
    /// A DIMSE message could not be read or written.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// Why a network (`10.0.0.0/8`, `::1`) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("invalid network {input:?}: expected an IP address or CIDR such as 10.0.0.0/8 or fd00::/8")]
    Address {
        /// What was given.
        input: String,
    },
    /// The prefix length is not a number within the address's size.
    #[error("invalid network {input:?}: expected a prefix length of 0–{max}")]
    Prefix {
        /// What was given.
        input: String,
        /// 32 or 128.
        max: u8,
    },
}

/// Why a destination (`AE@host:port`) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// No `@` between the AE title and the address.
    #[error("invalid destination {input:?}: expected AE@host:port, e.g. PACS@10.0.0.5:104")]
    Format {
        /// What was given.
        input: String,
    },
    /// The AE title is empty, too long or has characters AE titles may not.
    #[error("invalid destination {input:?}: {message}")]
    AeTitle {
        /// What was given.
        input: String,
        /// What is wrong with the AE title.
        message: String,
    },
    /// The port is missing or not 1–65535.
    #[error("invalid destination {input:?}: expected a port of 1–65535 after the host")]
    Port {
        /// What was given.
        input: String,
    },
}

/// Checks an AE title: 1–16 characters of the default repertoire, no backslash or control
/// character, not only spaces (PS3.5 AE).
pub(crate) fn check_ae_title(ae: &str) -> Result<(), String> {
    let trimmed = ae.trim();
    if trimmed.is_empty() || ae.len() > 16 {
        return Err(format!("expected an AE title of 1–16 characters, found {} characters", ae.len()));
    }
    if let Some(c) = ae.chars().find(|c| !c.is_ascii() || c.is_ascii_control() || *c == '\\') {
        return Err(format!("expected printable ASCII without backslash in the AE title, found {c:?}"));
    }
    Ok(())
}
