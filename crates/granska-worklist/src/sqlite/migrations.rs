//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Migration `n` (1-based) is `MIGRATIONS[n - 1]`; each runs in its own transaction together
//! with the `user_version` bump, so a crash leaves the file at a whole version. A file newer
//! than this build is refused rather than guessed at.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The migrations, oldest first. Never edit one that has shipped; add a new one.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/0001_initial.sql")];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`].
pub fn apply(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| Error::Sqlite { operation: "reading the schema version", source })?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let migrate = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
            // Another process may have migrated while we waited for the lock.
            let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if now < version {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", version)?;
            }
            tx.commit()
        };
        migrate(conn).map_err(|source| Error::Migration { version, source })?;
        tracing::info!(version, "worklist database migrated");
    }
    Ok(())
}
