//! The gRPC edge of Granska, and `serve`: it opens the stores, loads the model and the policy,
//! starts the application core ([`granska_app::App`]) and serves `granska.v1` (Ingest,
//! Worklist, Models) with bearer-token authentication, health, reflection (v1 and v1alpha)
//! and Prometheus metrics.
//!
//! Only this crate (with `granska-proto` and `granska-client`) knows tonic and prost; the
//! services in `service/` only translate protobuf ↔ the core's types, and `error` maps the
//! core's errors to statuses. [`serve`] takes its listeners and shutdown signal, so tests
//! bind port 0 and run servers in-process.
#![warn(missing_docs)]

pub mod auth;
pub mod config;
mod edges;
mod error;
pub mod health;
mod limits;
pub mod metrics;
mod service;
pub mod stores;
pub mod upload;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use granska_app::{App, AppOptions, AppParts};
use granska_dicom::Profile;
use granska_model::{Engine, EngineConfig, Model, Scorer};
use granska_triage::Policy;
use granska_worklist::StoreOptions;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::ServerError;

pub use granska_proto as proto;

/// Largest gRPC message accepted (the README and the proto say 4 MiB; chunks are ≤ 1 MiB by
/// contract). A larger chunk ends its Upload stream with RESOURCE_EXHAUSTED.
pub const MAX_MESSAGE: usize = 4 << 20;

/// Loads the policy named by the configuration: `(policy, its TOML text)`.
pub fn load_policy(config: &Config) -> Result<(Policy, String), ServerError> {
    match &config.policy.file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ServerError::Config(format!("cannot read policy file {}: {e}", file.display())))?;
            Ok((Policy::from_toml(&text, &file.display().to_string())?, text))
        }
        None => {
            let policy = Policy::builtin(&config.policy.name)?;
            let text = granska_triage::BUILTIN_POLICIES
                .iter()
                .find(|(n, _)| *n == config.policy.name)
                .map(|(_, t)| (*t).to_owned())
                .unwrap_or_default();
            Ok((policy, text))
        }
    }
}

/// The sockets `serve` answers on: gRPC always; `/metrics`, DICOM and HTTP when configured.
#[derive(Debug)]
pub struct Listeners {
    /// gRPC (`[server] listen`).
    pub grpc: TcpListener,
    /// Prometheus `/metrics` (`[server] metrics_listen`).
    pub metrics: Option<TcpListener>,
    /// DICOM C-STORE/C-ECHO (`[dicom] listen`).
    pub dicom: Option<TcpListener>,
    /// HTTP: STOW-RS (`[http] listen`).
    pub http: Option<TcpListener>,
}

impl Listeners {
    /// Binds every configured address (an empty one is disabled), naming the one that fails.
    pub async fn bind(config: &Config) -> Result<Listeners, ServerError> {
        async fn bind(what: &str, address: &str) -> Result<Option<TcpListener>, ServerError> {
            if address.is_empty() {
                return Ok(None);
            }
            TcpListener::bind(address)
                .await
                .map(Some)
                .map_err(|e| ServerError::Config(format!("cannot listen on {what} = {address:?}: {e}")))
        }
        let grpc = bind("server.listen", &config.server.listen)
            .await?
            .ok_or_else(|| ServerError::Config("server.listen must be an address (gRPC cannot be disabled)".into()))?;
        Ok(Listeners {
            grpc,
            metrics: bind("server.metrics_listen", &config.server.metrics_listen).await?,
            dicom: bind("dicom.listen", &config.dicom.listen).await?,
            http: bind("http.listen", &config.http.listen).await?,
        })
    }
}

/// Runs the service on `listeners` until `shutdown` resolves: gRPC, and `/metrics`, DICOM and
/// HTTP where a listener is given.
pub async fn serve(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let Listeners { grpc: listener, metrics, dicom, http } = listeners;
    let edges = edges::EdgeOptions::from_config(&config)?;
    let core = start_core(&config, edges.results_sender(), shutdown).await?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let ready = health::spawn(core.app.clone(), health_reporter.clone(), core.stop.clone());
    if let Some(metrics_listener) = metrics {
        spawn_metrics(metrics_listener, core.metrics.clone(), ready, core.stop.clone())?;
    }
    let mut running = Vec::new();
    if let Some(dicom) = dicom {
        running.push(edges::spawn_dicom(dicom, core.app.clone(), edges.dicom, stopped(core.stop.clone()))?);
    }
    if let Some(http) = http {
        let auth = Arc::new(core.tokens.clone());
        running.push(edges::spawn_http(http, core.app.clone(), auth, edges.http, stopped(core.stop.clone()))?);
    }
    let router = route(transport(&config.server)?, &config, core.app, core.tokens, health_service).await?;
    let sc = &config.server;
    let address = listener.local_addr()?;
    let incoming = limits::admit(
        listener,
        limits::ConnectionLimits {
            max_connections: sc.max_connections,
            handshake_timeout: Duration::from_secs(sc.handshake_timeout_s.max(1)),
            tls: sc.tls.is_some(),
        },
        core.metrics,
    );
    tracing::info!(%address, tls = sc.tls.is_some(), data_dir = %sc.data_dir.display(), "granska serving");
    router.serve_with_incoming_shutdown(incoming, stopped(core.stop)).await?;
    edges::drain(running).await;
    tracing::info!("granska stopped");
    Ok(())
}

/// The running application core and what the edges share with it.
struct Core {
    /// The core every gRPC service calls into.
    app: Arc<App>,
    /// Bearer tokens, checked by every service but (by default) health.
    tokens: auth::Tokens,
    /// The registry the core, the connection limits and `/metrics` share.
    metrics: granska_app::Metrics,
    /// Turns `true` once `shutdown` has resolved.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Opens the stores, loads the tokens, the policy and the model, and starts the core; the
/// core stops once `shutdown` resolves.
async fn start_core(
    config: &Config,
    results: Option<Arc<dyn granska_app::ResultSender>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Core, ServerError> {
    let data_dir = &config.server.data_dir;
    prepare_data_dir(data_dir)?;
    let tokens = auth::Tokens::load(&config.auth.tokens, data_dir)?;
    let (policy, policy_toml) = load_policy(config)?;
    let profile = ingest_profile(&config.ingest.profile)?;
    let scorer = load_scorer(&config.model).await?;
    let worklist_options = StoreOptions {
        lease: Duration::from_secs(config.worklist.lease_minutes.max(1) * 60),
        max_wait: Duration::from_millis(policy.max_wait_ms() as u64),
        ..StoreOptions::default()
    };
    let replica = stores::replica_id(config);
    let opening = (config.clone(), replica.clone());
    // Opening PostgreSQL blocks (connect, migrate): off the async threads.
    let stores::Stores { archive, worklist, shared } =
        tokio::task::spawn_blocking(move || stores::open(&opening.0, worklist_options, &opening.1))
            .await
            .map_err(|e| ServerError::Config(format!("opening the stores panicked: {e}")))??;
    // Replicas label their series, so scraped metrics can be told apart and summed.
    let metrics = match &shared {
        Some(_) => granska_app::Metrics::for_replica(&replica),
        None => granska_app::Metrics::new(),
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let parts = AppParts {
        archive,
        worklist,
        policy: (policy, policy_toml),
        scorer: Arc::new(scorer),
        metrics: metrics.clone(),
        results,
        relay: shared.clone().map(|s| s as Arc<dyn granska_app::ChangeRelay>),
    };
    let app = App::start(parts, app_options(config, profile), stop.clone());
    if let Some(shared) = shared {
        let listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
        shared.listen(app.clone(), listening.clone())?;
        let stopped_now = stop.clone();
        tokio::spawn(async move {
            stopped(stopped_now).await;
            listening.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        tracing::info!(replica = %replica, "PostgreSQL store: changes relayed between replicas");
    }
    Ok(Core { app, tokens, metrics, stop })
}

/// Creates the data directory private, and warns about anything in it that is not.
fn prepare_data_dir(data_dir: &std::path::Path) -> Result<(), ServerError> {
    // Patient data: the directory is 0700 and every file in it 0600, whatever the umask.
    granska_types::private::create_dir_all(data_dir)
        .map_err(|e| ServerError::Config(format!("cannot create data_dir {}: {e}", data_dir.display())))?;
    for (path, mode) in granska_types::private::wider_than_private(data_dir, 1) {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
            "patient data readable by group or others: run `chmod -R go-rwx` on the data directory");
    }
    Ok(())
}

/// `ingest.profile` as the DICOM profile it names.
fn ingest_profile(name: &str) -> Result<Profile, ServerError> {
    match name {
        "strict" => Ok(Profile::Strict),
        "lenient" => Ok(Profile::Lenient),
        other => Err(ServerError::Config(format!("ingest.profile must be strict or lenient, found {other:?}"))),
    }
}

/// The inference engine's settings from `[model]`; fails on a device it cannot parse.
fn engine_config(m: &config::ModelSection) -> Result<EngineConfig, ServerError> {
    let device = m.device.parse().map_err(|e| ServerError::Config(format!("model.{e}")))?;
    Ok(EngineConfig {
        ort_library: m.ort_library.clone(),
        intra_threads: m.threads,
        max_batch: m.batch.max(1),
        max_wait: Duration::from_millis(m.batch_wait_ms),
        device,
        cuda_fallback_to_cpu: m.cuda_fallback,
        ..EngineConfig::default()
    })
}

/// Loads the model and starts its engine, off the async threads (both block for a while).
async fn load_scorer(m: &config::ModelSection) -> Result<Scorer, ServerError> {
    let engine_config = engine_config(m)?;
    let dir = m.dir.clone();
    let scorer = tokio::task::spawn_blocking(move || {
        let model = Model::load(&dir)?;
        let engine = Engine::start(&model, &engine_config)?;
        Ok::<_, granska_model::Error>(Scorer { model, engine })
    })
    .await
    .map_err(|e| ServerError::Config(format!("model loading panicked: {e}")))??;
    Ok(scorer)
}

/// The core's options from `[ingest]` and `[scoring]`.
fn app_options(config: &Config, profile: Profile) -> AppOptions {
    AppOptions {
        profile,
        quiet: Duration::from_secs(config.ingest.quiet_period_s),
        timeout: Duration::from_secs(config.scoring.timeout_s.max(1)),
        workers: config.scoring.workers,
        queue: config.scoring.queue,
        replica: stores::replica_id(config),
        scoring_lease: Duration::from_secs(config.scoring.lease_s.max(1)),
        min_free_bytes: config.ingest.min_free_mib.saturating_mul(1 << 20),
        max_instance_bytes: (config.ingest.max_instance_mib as usize).saturating_mul(1 << 20),
        max_attempts: config.scoring.max_attempts.max(1),
        retry_backoff: Duration::from_millis(config.scoring.retry_backoff_ms),
        results: granska_app::ResultsOptions {
            retry_backoff: Duration::from_secs(config.results.retry_backoff_s.max(1)),
            give_up_after: Duration::from_secs(config.results.give_up_after_h.saturating_mul(3600)),
        },
    }
}

/// Resolves once `rx` turns `true`.
async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Serves `/metrics` on `listener` until `stop` turns `true`; a failure is logged, not fatal.
fn spawn_metrics(
    listener: TcpListener,
    registry: granska_app::Metrics,
    ready: health::Ready,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ServerError> {
    tracing::info!(address = %listener.local_addr()?, "metrics at /metrics");
    tokio::spawn(async move {
        if let Err(e) = metrics::serve(listener, registry, ready, stopped(stop)).await {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    });
    Ok(())
}

/// The transport with `[server]`'s TLS identity (if any) and HTTP/2 settings.
fn transport(sc: &config::ServerSection) -> Result<tonic::transport::Server, ServerError> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &sc.tls {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| ServerError::Config(format!("cannot read {}: {e}", p.display())))
        };
        let identity = tonic::transport::Identity::from_pem(read(&tls.cert_file)?, read(&tls.key_file)?);
        builder = builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    Ok(builder
        .max_concurrent_streams(sc.max_concurrent_streams.max(1))
        .http2_keepalive_interval(Some(Duration::from_secs(sc.keepalive_interval_s.max(1))))
        .http2_keepalive_timeout(Some(Duration::from_secs(sc.keepalive_timeout_s.max(1))))
        .tcp_keepalive(Some(Duration::from_secs(60))))
}

/// The `granska.v1` services, health and reflection (v1, and v1alpha for the clients that
/// speak only it: grpcurl 1.8, older Postman and grpc_cli builds) on `builder`. Every service
/// but (by default) health needs a bearer token from `tokens`.
async fn route(
    mut builder: tonic::transport::Server,
    config: &Config,
    app: Arc<App>,
    tokens: auth::Tokens,
    // Its statuses follow readiness (`health.rs`).
    health: tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) -> Result<tonic::transport::server::Router, ServerError> {
    use proto::v1::{ingest_server::IngestServer, models_server::ModelsServer, worklist_server::WorklistServer};
    use tonic::service::interceptor::InterceptedService;
    let ingest = service::ingest::IngestService { app: app.clone(), limits: upload_limits(&config.ingest) };
    let worklist = service::worklist::WorklistService { app: app.clone() };
    let models = service::models::ModelsService { app };
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().map_err(|e| ServerError::Config(format!("reflection: {e}")))?;
    let reflection_v1alpha =
        reflection().build_v1alpha().map_err(|e| ServerError::Config(format!("reflection: {e}")))?;
    let auth = move |req| tokens.authenticate(req);
    let health_auth = config.auth.health_requires_token.then(|| auth.clone());
    Ok(builder
        .add_optional_service(health_auth.map(|a| InterceptedService::new(health.clone(), a)))
        .add_optional_service((!config.auth.health_requires_token).then_some(health))
        .add_service(InterceptedService::new(reflection_v1, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1alpha, auth.clone()))
        .add_service(InterceptedService::new(
            IngestServer::new(ingest).max_decoding_message_size(MAX_MESSAGE),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(WorklistServer::new(worklist), auth.clone()))
        .add_service(InterceptedService::new(ModelsServer::new(models), auth)))
}

/// The Upload streams' limits from `[ingest]`.
fn upload_limits(ig: &config::IngestSection) -> service::ingest::UploadLimits {
    service::ingest::UploadLimits::new(
        (ig.max_instance_mib as usize).saturating_mul(1 << 20),
        ig.max_uploads,
        (ig.max_buffered_mib as usize).saturating_mul(1 << 20),
        Duration::from_secs(ig.idle_timeout_s.max(1)),
    )
}
