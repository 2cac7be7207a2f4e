//! Shared helpers: the conformance suite's (options with a manual clock, routing inputs built by
//! a real triage policy), and the factory of SQLite stores on temporary files.

use std::sync::atomic::{AtomicUsize, Ordering};

pub use granska_worklist::conformance::support::{LEASE_S, T0, options, route_input, scored};
use granska_worklist::{SqliteStore, StoreOptions};

/// Opens a new SQLite store per call, each on its own file in one temporary directory that
/// lives as long as the factory.
pub fn sqlite_stores() -> impl Fn(StoreOptions) -> SqliteStore {
    let dir = tempfile::tempdir().unwrap();
    let opened = AtomicUsize::new(0);
    move |options| {
        let n = opened.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.path().join(format!("worklist-{n}.db")), options).unwrap()
    }
}
