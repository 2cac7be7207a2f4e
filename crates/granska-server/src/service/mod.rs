//! The tonic services: translation only. Each handler turns the request into the core's types
//! (the caller from the bearer token, UIDs parsed, enums decoded), calls one use case of
//! [`granska_app::App`] — which authorises, works, audits and publishes — and turns the typed
//! answer into protobuf, or the [`granska_app::AppError`] into a status by the one mapping in
//! `crate::error`. A handler that must parse an argument first asks the core's role table
//! (`Caller::authorize`), so a caller without the role is refused before its arguments are
//! judged, as the core itself does.

pub mod convert;
pub mod ingest;
pub mod models;
pub mod worklist;

use granska_types::Uid;
use tonic::Status;

/// A UID argument as the domain type, by the one rule ingest applies ([`Uid`]): a UID that
/// ingest stored is accepted here. Otherwise INVALID_ARGUMENT naming `field`.
pub fn uid(field: &str, text: &str) -> Result<Uid, Status> {
    Uid::parse(text).map_err(|e| {
        crate::error::status(granska_app::AppError::InvalidArgument { field: field.into(), message: e.to_string() })
    })
}
