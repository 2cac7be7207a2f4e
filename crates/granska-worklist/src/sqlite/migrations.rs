//! The worklist's versioned schema migrations (run by `granska_sqlite::migrate`, tracked in
//! SQLite's `user_version`). Never edit one that has shipped; add a new one.

use granska_sqlite::Migration;

/// The migrations, oldest first.
pub const MIGRATIONS: &[Migration] =
    &[Migration { name: "0001_initial", sql: include_str!("../../migrations/0001_initial.sql") }];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = granska_sqlite::latest(MIGRATIONS);
