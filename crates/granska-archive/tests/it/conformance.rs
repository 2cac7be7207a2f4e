//! The archive conformance suite on the SQLite index with local blob files: every case of
//! `granska_archive::conformance`, each on a fresh data directory.

use std::sync::atomic::{AtomicUsize, Ordering};

use granska_archive::Archive;

/// Opens a new archive per call, each in its own directory under one temporary directory that
/// lives as long as the factory.
fn sqlite_archives() -> impl Fn() -> Archive {
    let dir = tempfile::tempdir().unwrap();
    let opened = AtomicUsize::new(0);
    move || Archive::open(dir.path().join(format!("data-{}", opened.fetch_add(1, Ordering::Relaxed)))).unwrap()
}

granska_archive::archive_store_conformance!(sqlite_archives());
