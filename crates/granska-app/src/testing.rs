//! A real core for tests (feature `testing`): the shipped model on real ONNX Runtime, the
//! built-in MASAI policy and real SQLite stores in a fresh temporary data directory. The core's
//! own tests and every edge's (DICOM, HTTP) start it the same way, so a test exercises what
//! `granska serve` runs, not a stand-in.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use granska_archive::Archive;
use granska_dicom::Profile;
use granska_model::{Engine, EngineConfig, Model, Scorer};
use granska_triage::Policy;
use granska_worklist::{SqliteStore, StoreOptions};

use crate::{App, AppOptions, AppParts, Metrics, ResultsOptions};

/// A running core and what a test inspects; the core stops and the directory is removed when
/// this is dropped.
pub struct TestCore {
    /// The core.
    pub app: Arc<App>,
    /// Its archive (for assertions on what was stored).
    pub archive: Arc<Archive>,
    /// Its data directory.
    pub data: tempfile::TempDir,
    /// Sending `true` stops the core.
    pub stop: tokio::sync::watch::Sender<bool>,
}

/// Options for tests: strict profile, one scoring worker, a 60 s quiet period, 64 MiB
/// instances, fast retries, no disk watermark.
pub fn options() -> AppOptions {
    AppOptions {
        profile: Profile::Strict,
        quiet: Duration::from_secs(60),
        timeout: Duration::from_secs(60),
        workers: 1,
        queue: 8,
        replica: "test".into(),
        scoring_lease: Duration::from_secs(30),
        min_free_bytes: 0,
        max_instance_bytes: 64 << 20,
        max_attempts: 3,
        retry_backoff: Duration::from_millis(100),
        results: ResultsOptions::default(),
    }
}

/// Starts a core with `options` (see [`options`]); must run inside a tokio runtime. Panics
/// when the shipped model or ONNX Runtime cannot be loaded: a test cannot go on without them.
pub fn start(options: AppOptions) -> TestCore {
    let data = tempfile::tempdir().expect("a temporary data directory");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = Model::load(root.join(granska_model::SHIPPED_MODEL)).expect("the shipped model loads");
    let engine = Engine::start(&model, &EngineConfig { intra_threads: 1, ..EngineConfig::default() })
        .expect("ONNX Runtime starts (source scripts/setup.sh)");
    let archive = Arc::new(Archive::open(data.path()).expect("the archive opens"));
    let worklist = Arc::new(
        SqliteStore::open(data.path().join("worklist.db"), StoreOptions::default()).expect("the worklist opens"),
    );
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let app = App::start(
        AppParts {
            archive: archive.clone(),
            worklist,
            policy: (Policy::builtin("masai").expect("masai is built in"), String::new()),
            scorer: Arc::new(Scorer { model, engine }),
            metrics: Metrics::new(),
            results: None,
            relay: None,
        },
        options,
        stopping,
    );
    TestCore { app, archive, data, stop }
}
