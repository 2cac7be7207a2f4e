//! The store conformance suite on SQLite: every case of `granska_worklist::conformance`, each
//! on a fresh database file.

granska_worklist::worklist_store_conformance!(crate::support::sqlite_stores());
