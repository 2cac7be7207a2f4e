//! Granska's DICOM (DIMSE) edge: a C-STORE/C-ECHO SCP through which a PACS pushes mammograms
//! into the core ([`serve`]), and the C-STORE SCU through which result SRs go back
//! ([`scu::StoreScu`], the core's `ResultSender`). The upper layer is dicom-ul; the DIMSE
//! messages on top are this crate's own ([`protocol`]). Like every edge it only translates:
//! association → `Caller`, C-STORE → `App::ingest`, `AppError` → DIMSE status through one
//! exhaustive mapping ([`store_status`]).
#![warn(missing_docs)]

mod error;
pub mod protocol;
pub mod scp;
pub mod scu;

pub use error::{DestinationError, DimseError, NetworkError};
pub use scp::{IpNet, Peer, ScpOptions, serve, store_status};
pub use scu::{Destination, StoreScu};
