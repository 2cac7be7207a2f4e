//! The domain vocabulary that every Granska crate shares, validated once where it enters the
//! system and carried as a type from then on, so that the ingest edge, the archive, the
//! worklist and every protocol edge agree on what a valid value is.
//!
//! [`private`] holds the one rule for patient data on disk (owner-only modes).
//!
//! The vocabulary: [`Uid`] (a StudyInstanceUID that passed ingest is one that routing,
//! GetStudy and CompleteStudy accept), [`Role`], the exam's [`ExamStatus`], [`Category`] and
//! [`ModelIdentity`], [`Laterality`], [`View`] and the [`STANDARD_VIEWS`], the reading words
//! ([`ReadingMode`], [`Flag`], [`TaskKind`], [`TaskState`], [`ReadDecision`], [`OutcomeVia`]),
//! and the stored [`ScoringRecord`]. Each has one type, converted to text only by serde and
//! strum (see [`text_names!`]), at an edge or in storage.
#![warn(missing_docs)]

pub mod auth;
mod backend;
mod exam;
pub mod private;
mod reading;
mod text;
mod uid;
mod view;

pub use auth::Role;
pub use backend::BackendError;
pub use exam::{ExamStatus, ModelIdentity, SCORING_RECORD_VERSION, ScoringRecord, ViewScore};
pub use reading::{
    AfterRead, Category, CategoryError, ChangeKind, Completion, Flag, OutcomeVia, PolicyRule, ReadDecision,
    ReadingMode, ReportState, StudyState, TaskKind, TaskState,
};
pub use uid::{MAX_UID_LEN, Uid, UidError};
pub use view::{Laterality, STANDARD_VIEWS, View};
