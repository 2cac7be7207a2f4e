//! Opens the stores `[store]` names, and, with PostgreSQL, what replicas share besides them:
//! worklist changes relayed through `LISTEN`/`NOTIFY`.
//!
//! - `sqlite` (the embedded default): `archive.db` and `worklist.db` in `server.data_dir`;
//!   one process serves one data directory.
//! - `postgres`: the index and the worklist in one database (schemas `archive` and
//!   `worklist`), blobs still files under `server.data_dir`, which every replica mounts.
//!   Opening migrates (under an advisory lock, so replicas starting together migrate once);
//!   `granska migrate` does only that.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use granska_app::{App, Change, ChangeKind, ChangeRelay};
use granska_archive::{Archive, ArchiveStore, PgArchive};
use granska_postgres::PoolOptions;
use granska_postgres::notify::{Heard, Notifier};
use granska_worklist::{PgStore, SqliteStore, StoreOptions, WorklistStore};

use crate::config::{Config, StoreSection};
use crate::error::ServerError;

/// The channel replicas announce worklist changes on.
const CHANGES_CHANNEL: &str = "granska_changes";

/// The backend `[store] backend` names.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Files in the data directory.
    Sqlite,
    /// One database several replicas share.
    Postgres(PoolOptions),
}

impl Backend {
    /// `[store]` as a backend, refusing an unknown name or a PostgreSQL without its URL.
    pub fn from_config(store: &StoreSection) -> Result<Backend, ServerError> {
        match store.backend.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => {
                if store.url.trim().is_empty() {
                    return Err(ServerError::Config(
                        "store.backend = \"postgres\" needs store.url (or GRANSKA__STORE__URL), e.g. postgres://granska@db:5432/granska".into(),
                    ));
                }
                Ok(Backend::Postgres(PoolOptions {
                    url: store.url.clone(),
                    max_size: store.pool_size.max(1),
                    acquire_timeout: Duration::from_secs(store.acquire_timeout_s.max(1)),
                }))
            }
            other => Err(ServerError::Config(format!("store.backend must be sqlite or postgres, found {other:?}"))),
        }
    }
}

/// The opened stores.
pub struct Stores {
    /// Received instances, studies, scorings, audit, reports.
    pub archive: Arc<dyn ArchiveStore>,
    /// The reading workflow.
    pub worklist: Arc<dyn WorklistStore>,
    /// With PostgreSQL: how this replica reaches the others.
    pub shared: Option<Arc<Shared>>,
}

/// What a replica on PostgreSQL shares with the others besides the stores.
pub struct Shared {
    options: PoolOptions,
    notifier: Notifier,
    replica: String,
}

/// Opens (and migrates) the stores; blocking (call it off the async threads).
pub fn open(config: &Config, worklist: StoreOptions, replica: &str) -> Result<Stores, ServerError> {
    let data_dir = &config.server.data_dir;
    match Backend::from_config(&config.store)? {
        Backend::Sqlite => Ok(Stores {
            archive: Arc::new(Archive::open(data_dir)?),
            worklist: Arc::new(SqliteStore::open(data_dir.join("worklist.db"), worklist)?),
            shared: None,
        }),
        Backend::Postgres(options) => {
            let archive = Arc::new(PgArchive::open(&options, data_dir)?);
            let worklist = Arc::new(PgStore::open(&options, worklist)?);
            let pool = granska_postgres::pool(&PoolOptions { max_size: 2, ..options.clone() }, "public")
                .map_err(|e| ServerError::Config(format!("store.url: {e}")))?;
            let notifier = Notifier::start(pool, CHANGES_CHANNEL, 4096)?;
            let shared = Shared { options, notifier, replica: replica.to_owned() };
            Ok(Stores { archive, worklist, shared: Some(Arc::new(shared)) })
        }
    }
}

/// Applies the migrations of both stores (`granska migrate`) and says what they are at;
/// blocking. A database newer than this build is refused, naming both versions.
pub fn migrate(config: &Config) -> Result<String, ServerError> {
    let stores = open(config, StoreOptions::default(), "migrate")?;
    drop(stores);
    Ok(match Backend::from_config(&config.store)? {
        Backend::Sqlite => format!("SQLite stores in {} are migrated", config.server.data_dir.display()),
        Backend::Postgres(options) => {
            let pool = granska_postgres::pool(&PoolOptions { max_size: 1, ..options }, "public")
                .map_err(|e| ServerError::Config(format!("store.url: {e}")))?;
            let mut versions = Vec::new();
            for schema in ["archive", "worklist"] {
                let version = pool
                    .get()
                    .and_then(|mut c| granska_postgres::schema_version(&mut c, schema))
                    .map_err(|e| ServerError::Config(format!("store.url: {e}")))?;
                versions.push(format!("{schema} schema {version}"));
            }
            format!("PostgreSQL {} is migrated: {}", pool.target(), versions.join(", "))
        }
    })
}

/// This replica's name: `server.replica_id`, else `<host name>/<server.listen>` (distinct for
/// replicas on one host, the same across a restart).
pub fn replica_id(config: &Config) -> String {
    if !config.server.replica_id.trim().is_empty() {
        return config.server.replica_id.trim().to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "granska".into());
    format!("{host}/{}", config.server.listen)
}

/// A change as sent between replicas.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    origin: String,
    change: Change,
}

impl ChangeRelay for Shared {
    fn send(&self, change: &Change) {
        match serde_json::to_string(&Wire { origin: self.replica.clone(), change: change.clone() }) {
            Ok(payload) => self.notifier.send(payload),
            Err(e) => tracing::error!(error = %e, "cannot encode a change for the other replicas"),
        }
    }
}

impl Shared {
    /// Starts listening for the other replicas' changes and hands them to `app`'s watchers;
    /// whenever the listening connection is (re)made, the watchers are told to resync.
    pub fn listen(&self, app: Arc<App>, stop: Arc<AtomicBool>) -> Result<(), ServerError> {
        let me = self.replica.clone();
        granska_postgres::notify::listen(&self.options, CHANGES_CHANNEL, stop, move |heard| match heard {
            Heard::Connected => app.relayed(Change {
                study_uid: String::new(),
                change: ChangeKind::Resync,
                task: None,
                at_ms: granska_app::now_ms(),
            }),
            Heard::Payload(payload) => match serde_json::from_str::<Wire>(&payload) {
                Ok(wire) if wire.origin != me => app.relayed(wire.change),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "ignoring a change notification this build cannot read"),
            },
        })?;
        Ok(())
    }

    /// Notifications this replica could not send (the other replicas' watchers resynced).
    pub fn dropped(&self) -> u64 {
        self.notifier.dropped()
    }
}
