//! Integration tests of granska-worklist, on real SQLite files.

mod concurrency;
mod crash;
mod store;
mod support;
mod workflow;
