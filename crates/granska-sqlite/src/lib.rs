//! The SQLite plumbing that the worklist and the archive share, so both files are opened and
//! migrated the same way:
//!
//! - [`open`]: owner-only file, WAL journal (required, not hoped for), `synchronous = FULL` (a
//!   committed transaction survives power loss, not only a process crash), foreign keys on, and
//!   a fair busy handler;
//! - [`migrate`]: versioned migrations tracked in SQLite's `user_version`, each in its own
//!   exclusive transaction with the version bump, refusing a file newer than the build;
//! - [`open_read_only`] and [`backup`] for the offline check and the online backup.
//!
//! This crate speaks rusqlite; the store crates translate its errors into their own
//! backend-neutral ones, so nothing of SQLite reaches their public APIs.
#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// One schema migration; migration `n` (1-based) of a list brings `user_version` to `n`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// A short name for logs, usually the file name.
    pub name: &'static str,
    /// The statements, run as one batch inside the migration's transaction.
    pub sql: &'static str,
}

/// Why opening, migrating or copying a database failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be created with owner-only permissions.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be opened or configured.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite kept another journal mode than WAL (e.g. a file system without shared memory).
    #[error("{path} is in journal mode {found:?} after asking for WAL")]
    NotWal {
        /// The file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        found: String,
    },
    /// `user_version` could not be read.
    #[error("cannot read the schema version: {source}")]
    SchemaVersion {
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer build.
    #[error("schema version {found} is newer than this granska supports ({supported})")]
    SchemaTooNew {
        /// `user_version` found in the file.
        found: i64,
        /// The newest migration this build knows.
        supported: i64,
    },
    /// A migration failed; the file is left at the version before it.
    #[error("migration to version {version} failed: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The online backup failed.
    #[error("cannot back up into {path}: {source}")]
    Backup {
        /// The copy being written.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long a write waits for another connection's lock before failing with "database is
/// locked": 30 s, in 1 ms steps. SQLite's default handler backs off to 100 ms sleeps, which
/// lets a busy connection starve the others; short steps keep several processes fair.
fn busy_wait(attempt: i32) -> bool {
    std::thread::sleep(Duration::from_millis(1));
    attempt < 30_000
}

/// Opens (creating owner-only if needed) a database file for reading and writing, durably:
/// WAL journal, `synchronous = FULL`, foreign keys on, the fair busy handler.
pub fn open(path: &Path) -> Result<Connection> {
    let open_err = |source| Error::Open { path: path.to_path_buf(), source };
    // Owner-only whatever the umask; SQLite gives the WAL and shm files the same mode.
    granska_types::private::precreate(path).map_err(|source| Error::Create { path: path.to_path_buf(), source })?;
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_handler(Some(busy_wait)).map_err(open_err)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::NotWal { path: path.to_path_buf(), found: mode });
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
    Ok(conn)
}

/// Opens an existing database file read-only (checks, backups), with the fair busy handler.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    let open_err = |source| Error::Open { path: path.to_path_buf(), source };
    let mut conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open_err)?;
    conn.busy_handler(Some(busy_wait)).map_err(open_err)?;
    Ok(conn)
}

/// The schema version a list of migrations brings a file to.
pub const fn latest(migrations: &[Migration]) -> i64 {
    migrations.len() as i64
}

/// Brings the database up to [`latest`]`(migrations)`; `what` names the file in logs. Each
/// migration runs in its own exclusive transaction together with the `user_version` bump, so
/// a crash leaves the file at a whole version, and a process that migrated meanwhile is not
/// migrated over. A file newer than this build is refused rather than guessed at.
pub fn migrate(conn: &mut Connection, migrations: &[Migration], what: &str) -> Result<()> {
    let supported = latest(migrations);
    let found: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|source| Error::SchemaVersion { source })?;
    if found > supported {
        return Err(Error::SchemaTooNew { found, supported });
    }
    for (index, migration) in migrations.iter().enumerate().skip(found.max(0) as usize) {
        let version = index as i64 + 1;
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            // Another process may have migrated while we waited for the lock.
            let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if now < version {
                tx.execute_batch(migration.sql)?;
                // A migration may edit the schema text in place (widening a CHECK, the
                // documented writable_schema procedure): bumping the schema cookie makes every
                // connection, this one included, parse the new schema.
                let cookie: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
                tx.pragma_update(None, "schema_version", cookie + 1)?;
                tx.pragma_update(None, "user_version", version)?;
            }
            tx.commit()
        };
        run(conn).map_err(|source| Error::Migration { version, source })?;
        tracing::info!(what, version, name = migration.name, "database migrated");
    }
    Ok(())
}

/// Copies the database file `src` into `out` (created owner-only) by SQLite's online backup:
/// a consistent snapshot, taken read-only while another connection may be writing.
pub fn backup(src: &Path, out: &Path) -> Result<()> {
    granska_types::private::precreate(out).map_err(|source| Error::Create { path: out.to_path_buf(), source })?;
    let src_conn = open_read_only(src)?;
    let mut dst = Connection::open(out).map_err(|source| Error::Open { path: out.to_path_buf(), source })?;
    let backup_err = |source| Error::Backup { path: out.to_path_buf(), source };
    let backup = rusqlite::backup::Backup::new(&src_conn, &mut dst).map_err(backup_err)?;
    backup.run_to_completion(1024, Duration::from_millis(0), None).map_err(backup_err)
}

/// Whether SQLite gave up because another connection held the lock for too long: the caller
/// may retry later, nothing is wrong with the data.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

impl Error {
    /// Whether this failure is only contention (see [`is_busy`]).
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Open { source, .. }
            | Error::SchemaVersion { source }
            | Error::Migration { source, .. }
            | Error::Backup { source, .. } => is_busy(source),
            Error::Create { .. } | Error::NotWal { .. } | Error::SchemaTooNew { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[Migration] = &[
        Migration { name: "one", sql: "CREATE TABLE a (x INTEGER);" },
        Migration { name: "two", sql: "CREATE TABLE b (y INTEGER);" },
    ];

    #[test]
    fn migrates_once_and_refuses_a_newer_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = open(&path).unwrap();
        migrate(&mut conn, &MIGRATIONS[..1], "test").unwrap();
        migrate(&mut conn, MIGRATIONS, "test").unwrap();
        migrate(&mut conn, MIGRATIONS, "test").unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 2);
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        let err = migrate(&mut conn, &MIGRATIONS[..1], "test").unwrap_err();
        assert!(matches!(err, Error::SchemaTooNew { found: 2, supported: 1 }), "{err}");
    }

    #[test]
    fn a_failed_migration_leaves_the_version_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("t.db")).unwrap();
        let broken = [MIGRATIONS[0], Migration { name: "broken", sql: "CREATE TABLE c (; " }];
        let err = migrate(&mut conn, &broken, "test").unwrap_err();
        assert!(matches!(err, Error::Migration { version: 2, .. }), "{err}");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 1);
    }
}
