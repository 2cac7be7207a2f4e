//! The PostgreSQL plumbing that the worklist and the archive share, so both stores connect,
//! migrate and classify failures the same way:
//!
//! - [`pool`]: an r2d2 pool of synchronous clients whose sessions see only one schema
//!   (`search_path`), so each store keeps its own tables (`worklist.*`, `archive.*`) in one
//!   database;
//! - [`migrate`]: versioned migrations from `.sql` files, tracked in `<schema>.schema_version`,
//!   each in its own transaction under one advisory lock (replicas starting together migrate
//!   once), refusing a database newer than the build;
//! - [`is_transient`]: which failures mean "retry later" (the server down or restarting, a
//!   lost connection, a serialisation failure, a deadlock), so the stores report them as
//!   their backend-neutral `Busy`;
//! - [`notify`]: changes between replicas through `LISTEN`/`NOTIFY`;
//! - `testing::TempPostgres` (feature `testing`): a real server in a temporary directory.
//!
//! The stores' traits are blocking (they run off the async threads), so this crate uses the
//! `postgres` crate's synchronous client. Nothing of it reaches the stores' public APIs.
#![warn(missing_docs)]

pub mod notify;
#[cfg(feature = "testing")]
pub mod testing;

use std::str::FromStr;
use std::time::Duration;

use postgres::NoTls;
use postgres::error::SqlState;
use r2d2_postgres::PostgresConnectionManager;

/// A pool of clients whose sessions see one schema.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<PostgresConnectionManager<NoTls>>,
    target: String,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Pool {
    /// Takes a client, waiting at most the acquire timeout; a server that is down or
    /// restarting is a transient [`Error::Connect`].
    pub fn get(&self) -> Result<PooledClient, Error> {
        self.inner.get().map_err(|source| Error::Connect { target: self.target.clone(), source })
    }

    /// Host, port and database (no credentials), for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Connections open now and how many of them are idle.
    pub fn state(&self) -> (u32, u32) {
        let s = self.inner.state();
        (s.connections, s.idle_connections)
    }
}

/// A client taken from a [`Pool`]; it goes back to the pool when dropped.
pub type PooledClient = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

pub use postgres::types::ToSql;
pub use postgres::{Client, Row, Transaction};

/// One schema migration; migration `n` (1-based) of a list brings the schema to version `n`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// A short name for logs, usually the file name.
    pub name: &'static str,
    /// The statements, run as one batch inside the migration's transaction, with the store's
    /// schema first on the `search_path`.
    pub sql: &'static str,
}

/// The version a list of migrations brings a schema to.
pub const fn latest(migrations: &[Migration]) -> i64 {
    migrations.len() as i64
}

/// How to reach the database.
#[derive(Clone)]
pub struct PoolOptions {
    /// `postgres://user:password@host:port/database?…` (libpq's URL form) or a key=value
    /// string. The password is never logged.
    pub url: String,
    /// Most connections this pool opens.
    pub max_size: u32,
    /// How long a caller waits for a connection before the operation fails as busy (the
    /// database is down, restarting or every connection is in use).
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolOptions")
            .field("url", &redact(&self.url))
            .field("max_size", &self.max_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// Why connecting, migrating or a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not a PostgreSQL connection string.
    #[error("invalid PostgreSQL url {url}: {source}")]
    Url {
        /// The URL with its password hidden.
        url: String,
        /// The parser's error.
        #[source]
        source: postgres::Error,
    },
    /// No connection could be taken from the pool in time.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        /// Host, port and database.
        target: String,
        /// The pool's error (the last connection error is logged by the pool).
        #[source]
        source: r2d2::Error,
    },
    /// The schema was written by a newer build.
    #[error("schema {schema} is at version {found}, newer than this granska supports ({supported})")]
    SchemaTooNew {
        /// The schema (`worklist`, `archive`).
        schema: String,
        /// The version found.
        found: i64,
        /// The newest migration this build knows.
        supported: i64,
    },
    /// A migration failed; the schema is left at the version before it.
    #[error("migration {name} (version {version}) of schema {schema} failed: {source}")]
    Migration {
        /// The schema.
        schema: String,
        /// The migration's version.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// The server's error.
        #[source]
        source: postgres::Error,
    },
    /// A statement failed.
    #[error("{source}")]
    Statement {
        /// The server's (or the connection's) error.
        #[source]
        source: postgres::Error,
    },
}

impl Error {
    /// Whether retrying later may succeed: no connection in time, a lost connection, a server
    /// shutting down or starting, a serialisation failure or a deadlock.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::Statement { source } | Error::Migration { source, .. } => is_transient(source),
            Error::Url { .. } | Error::SchemaTooNew { .. } => false,
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(source: postgres::Error) -> Self {
        Error::Statement { source }
    }
}

/// Whether a statement's failure is worth retrying later (see [`Error::is_transient`]).
pub fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            code.code().starts_with("08") // connection exceptions
                || [
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::LOCK_NOT_AVAILABLE,
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                    SqlState::QUERY_CANCELED,
                ]
                .contains(code)
        }
        // No SQLSTATE: the connection's I/O failed (the server went away mid-statement).
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// The URL with any password replaced by `***`, for logs and messages.
pub fn redact(url: &str) -> String {
    // postgres://user:password@host… → postgres://user:***@host…
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    // key=value form: hide password=…
    url.split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Host, port and database of a configuration, for messages.
fn target(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("(default database)"))
}

fn check_schema_name(schema: &str) {
    // Only the stores' own constant names reach here (never input), so they are spliced into
    // SQL unquoted; anything else is a programming error.
    assert!(
        !schema.is_empty() && schema.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "schema names are lowercase identifiers, got {schema:?}"
    );
}

/// A pool whose sessions have `schema` first on their `search_path`. It connects lazily; the
/// first [`Pool::get`] reports an unreachable server.
pub fn pool(options: &PoolOptions, schema: &str) -> Result<Pool, Error> {
    check_schema_name(schema);
    let mut config =
        postgres::Config::from_str(&options.url).map_err(|source| Error::Url { url: redact(&options.url), source })?;
    let search_path = format!("-c search_path={schema}");
    let merged = match config.get_options() {
        Some(existing) if !existing.is_empty() => format!("{existing} {search_path}"),
        _ => search_path,
    };
    config.options(&merged);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_application_name().is_none() {
        config.application_name("granska");
    }
    // A replica whose peer vanished (network partition, a killed server) notices within a
    // minute rather than waiting on a dead socket.
    config.keepalives(true).keepalives_idle(Duration::from_secs(30));
    let target = target(&config);
    let manager = PostgresConnectionManager::new(config, NoTls);
    let inner = r2d2::Pool::builder()
        .max_size(options.max_size.max(1))
        .min_idle(Some(0))
        .connection_timeout(options.acquire_timeout)
        .test_on_check_out(true)
        .build_unchecked(manager);
    Ok(Pool { inner, target })
}

/// Key of the advisory lock every migration holds: replicas starting together migrate one
/// after the other, and the second finds nothing to do.
const MIGRATION_LOCK: i64 = 0x0067_7261_6e73_6b61; // "granska"

/// Brings `schema` to the newest of `migrations`, each in its own transaction with its
/// version row; refuses a schema newer than the list. Returns the version now in force.
pub fn migrate(client: &mut Client, schema: &str, migrations: &[Migration]) -> Result<i64, Error> {
    check_schema_name(schema);
    let supported = latest(migrations);
    let mut version = 0;
    for (index, migration) in migrations.iter().enumerate() {
        let target = index as i64 + 1;
        let fail =
            |source| Error::Migration { schema: schema.to_owned(), version: target, name: migration.name, source };
        let mut tx = client.transaction().map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(fail)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_version (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
        ))
        .map_err(fail)?;
        let current: i64 = tx
            .query_one(&format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.schema_version"), &[])
            .map_err(fail)?
            .get(0);
        if current > supported {
            return Err(Error::SchemaTooNew { schema: schema.to_owned(), found: current, supported });
        }
        version = current;
        if current >= target {
            tx.commit().map_err(fail)?;
            continue;
        }
        tx.batch_execute(&format!("SET LOCAL search_path = {schema}")).map_err(fail)?;
        tx.batch_execute(migration.sql).map_err(fail)?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_version (version, name) VALUES ($1, $2)"),
            &[&target, &migration.name],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(schema, version = target, migration = migration.name, "PostgreSQL migration applied");
        version = target;
    }
    if migrations.is_empty() {
        return Ok(0);
    }
    Ok(version)
}

/// The version `schema` is at (0 when it was never migrated).
pub fn schema_version(client: &mut Client, schema: &str) -> Result<i64, Error> {
    check_schema_name(schema);
    let exists: bool =
        client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&format!("{schema}.schema_version")])?.get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client.query_one(&format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.schema_version"), &[])?.get(0))
}
