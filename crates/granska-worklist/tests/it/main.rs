//! Integration tests of granska-worklist, on real SQLite files: the conformance suite every
//! store must pass, and what is specific to SQLite (files, crashes, several processes).

mod concurrency;
mod conformance;
mod crash;
mod store;
mod support;
