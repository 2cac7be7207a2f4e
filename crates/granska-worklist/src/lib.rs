//! The reading workflow: exams routed by a triage policy become reading tasks that
//! radiologists claim (with a lease) and submit, until each exam has one final outcome.
//! Everything is kept in a durable store: SQLite in WAL mode with `synchronous = FULL`, so a
//! committed transition survives power loss; or, for several server replicas sharing one
//! queue, PostgreSQL (feature `postgres`).
//!
//! - [`model`]: the domain types;
//! - [`workflow`]: the state machine as pure functions (single, double, consensus, blinding,
//!   eligibility: [`workflow::may_take`] is the rule, and a store's query is tested against
//!   it), shared by every store;
//! - [`WorklistStore`]: the store interface; [`SqliteStore`] implements it, and so does
//!   `PgStore` (feature `postgres`);
//! - `conformance` (feature `conformance`): the cases every store must pass.
#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod model;
#[cfg(feature = "postgres")]
mod postgres;
mod requests;
mod sqlite;
mod store;
pub mod workflow;

pub use error::{BackendError, Error, Result};
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use store::{Clock, ManualClock, StoreOptions, SystemClock, WorklistStore};
