//! The domain vocabulary that every Granska crate shares, validated once where it enters the
//! system and carried as a type from then on, so that the ingest edge, the archive, the
//! worklist and every protocol edge agree on what a valid value is.
//!
//! [`private`] holds the one rule for patient data on disk (owner-only modes).
//!
//! Today the vocabulary is [`Uid`]: a StudyInstanceUID that passed ingest is a StudyInstanceUID that
//! routing, GetStudy and CompleteStudy accept (an exam can no longer be stored by one rule and
//! refused by another).
#![warn(missing_docs)]

pub mod auth;
mod exam;
pub mod private;
mod uid;

pub use auth::Role;
pub use exam::{ExamStatus, ModelIdentity};
pub use uid::{MAX_UID_LEN, Uid, UidError};
