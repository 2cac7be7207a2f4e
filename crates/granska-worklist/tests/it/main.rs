//! Integration tests of granska-worklist, on real SQLite files and a real PostgreSQL: the
//! conformance suite every store must pass, and what is specific to each store (SQLite: files,
//! crashes, several processes; PostgreSQL: replicas on one database, opening and migrating).

mod concurrency;
mod conformance;
mod crash;
mod postgres;
mod store;
mod support;
