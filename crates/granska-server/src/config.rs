//! Configuration: built-in defaults → one TOML file → `GRANSKA__SECTION__KEY` environment
//! variables (e.g. `GRANSKA__SERVER__LISTEN=0.0.0.0:50051`), into one typed struct. Every key
//! has a working default, so `granska serve` runs with no file at all.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listening sockets, data directory, TLS.
    pub server: ServerSection,
    /// The scoring model.
    pub model: ModelSection,
    /// The triage policy.
    pub policy: PolicySection,
    /// Ingest limits and study assembly.
    pub ingest: IngestSection,
    /// Scoring workers.
    pub scoring: ScoringSection,
    /// Reading workflow.
    pub worklist: WorklistSection,
    /// Bearer tokens.
    pub auth: AuthSection,
    /// The DICOM listener (C-STORE, C-ECHO).
    pub dicom: DicomSection,
    /// The HTTP listener (STOW-RS at `/dicomweb`).
    pub http: HttpSection,
    /// Result reports (Mammography CAD SR) back to the PACS.
    pub results: ResultsSection,
    /// The web reading station.
    pub reading: ReadingSection,
    /// Where the index, the worklist and the audit log are kept.
    pub store: StoreSection,
}

/// `[store]`: the embedded default (SQLite files in `server.data_dir`) or one PostgreSQL that
/// several replicas share (blobs stay files under `server.data_dir`, which every replica must
/// mount).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// With `postgres`: `postgres://user:password@host:5432/database` (or libpq's key=value
    /// form); best given as `GRANSKA__STORE__URL`. Never logged with its password.
    pub url: String,
    /// With `postgres`: connections each store of this replica opens at most.
    pub pool_size: u32,
    /// With `postgres`: how long an operation waits for a connection (the database down or
    /// every connection busy) before it answers "busy, retry later".
    pub acquire_timeout_s: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { backend: "sqlite".into(), url: String::new(), pool_size: 16, acquire_timeout_s: 5 }
    }
}

impl std::fmt::Debug for StoreSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSection")
            .field("backend", &self.backend)
            .field("url", &granska_postgres::redact(&self.url))
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout_s", &self.acquire_timeout_s)
            .finish()
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// gRPC address.
    pub listen: String,
    /// Prometheus `/metrics` address; empty disables it.
    pub metrics_listen: String,
    /// Where blobs, the index, the worklist and the audit log live.
    pub data_dir: PathBuf,
    /// TLS (rustls); absent: plaintext.
    pub tls: Option<TlsSection>,
    /// Open connections at most; more are closed at once (counted as refused).
    pub max_connections: usize,
    /// A new connection must send its first bytes (the HTTP/2 preface) within this long.
    pub handshake_timeout_s: u64,
    /// Concurrent HTTP/2 streams (calls) per connection.
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive ping interval; a peer that does not answer within
    /// `keepalive_timeout_s` is disconnected.
    pub keepalive_interval_s: u64,
    /// How long a keepalive ping may go unanswered.
    pub keepalive_timeout_s: u64,
    /// This replica's name in shared state (who holds a scoring job); empty:
    /// `<host name>/<listen>`. Replicas sharing one database need distinct names; a replica
    /// restarted under the same name takes its unfinished scoring jobs back at once instead
    /// of after their lease.
    pub replica_id: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:50051".into(),
            metrics_listen: "127.0.0.1:9464".into(),
            data_dir: "granska-data".into(),
            tls: None,
            max_connections: 256,
            handshake_timeout_s: 10,
            max_concurrent_streams: 100,
            keepalive_interval_s: 30,
            keepalive_timeout_s: 10,
            replica_id: String::new(),
        }
    }
}

/// `[server.tls]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// `[model]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// Model directory (model.toml + model.onnx).
    pub dir: PathBuf,
    /// ONNX Runtime library; absent: `ORT_DYLIB_PATH`, then the one found at build time.
    pub ort_library: Option<PathBuf>,
    /// Intra-op threads (0: one per core).
    pub threads: usize,
    /// Most views per inference batch.
    pub batch: usize,
    /// Longest a view waits for its batch to fill, ms.
    pub batch_wait_ms: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// With CUDA: run on CPU (logged loudly) when CUDA cannot be used.
    pub cuda_fallback: bool,
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection {
            dir: granska_model::SHIPPED_MODEL.into(),
            ort_library: None,
            threads: 0,
            batch: 16,
            batch_wait_ms: 5,
            device: "cpu".into(),
            cuda_fallback: false,
        }
    }
}

/// `[policy]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySection {
    /// A built-in policy: masai, threshold, normal-triage, double-all.
    pub name: String,
    /// A policy TOML file instead of a built-in.
    pub file: Option<PathBuf>,
}

impl Default for PolicySection {
    fn default() -> Self {
        PolicySection { name: "masai".into(), file: None }
    }
}

/// `[ingest]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSection {
    /// A study with fewer than four views is completed after this long without a new instance.
    pub quiet_period_s: u64,
    /// Largest accepted instance, MiB.
    pub max_instance_mib: u64,
    /// `strict` (Digital Mammography SOP classes only) or `lenient`.
    pub profile: String,
    /// Concurrent Upload streams; more are refused with RESOURCE_EXHAUSTED.
    pub max_uploads: usize,
    /// Bytes of unfinished instances held in memory across all Upload streams, MiB; a chunk
    /// that does not fit waits up to 10 s, then its stream ends with RESOURCE_EXHAUSTED.
    pub max_buffered_mib: u64,
    /// An Upload stream with no chunk for this long is ended (DEADLINE_EXCEEDED).
    pub idle_timeout_s: u64,
    /// Below this much free space on the data disk, ingest is refused (RESOURCE_EXHAUSTED)
    /// while scoring and reading go on, MiB.
    pub min_free_mib: u64,
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            quiet_period_s: 120,
            max_instance_mib: 256,
            profile: "strict".into(),
            max_uploads: 64,
            max_buffered_mib: 1024,
            idle_timeout_s: 60,
            min_free_mib: 1024,
        }
    }
}

/// `[scoring]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringSection {
    /// Exams decoded and scored at once (their views share inference batches).
    pub workers: usize,
    /// Complete studies this replica claims ahead of its workers; the rest wait in the archive,
    /// where any replica may claim them.
    pub queue: usize,
    /// An exam not scored within this long is routed to double reading as unscorable.
    pub timeout_s: u64,
    /// Failed scoring/routing attempts (storage errors, not bad images: those are routed as
    /// unscorable) before a study is parked as needs-attention for the admin.
    pub max_attempts: u32,
    /// Wait before the first retry, ms; doubled per attempt, at most five minutes.
    pub retry_backoff_ms: u64,
    /// A scoring job's lease: a replica renews the jobs it holds every quarter of this; the
    /// jobs of a replica that stopped renewing (it died) are taken over once it ran out.
    pub lease_s: u64,
}

impl Default for ScoringSection {
    fn default() -> Self {
        ScoringSection { workers: 2, queue: 4, timeout_s: 120, max_attempts: 5, retry_backoff_ms: 5000, lease_s: 30 }
    }
}

/// `[worklist]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorklistSection {
    /// How long a claim lasts.
    pub lease_minutes: u64,
}

impl Default for WorklistSection {
    fn default() -> Self {
        WorklistSection { lease_minutes: 15 }
    }
}

/// `[dicom]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DicomSection {
    /// DICOM (DIMSE) address; empty disables the listener.
    pub listen: String,
    /// This node's AE title: a caller's Called AE must be this.
    pub ae_title: String,
    /// Associations at once; more are rejected (transient) and counted.
    pub max_associations: usize,
    /// Largest P-DATA PDU this node receives, bytes.
    pub max_pdu: u32,
    /// An association with nothing received for this long is aborted, freeing its slot.
    pub idle_timeout_s: u64,
    /// SOP classes answered with success but not stored (a PACS forwarding a whole study must
    /// not fail its job on them): by default secondary capture, presentation states, key
    /// objects and structured reports.
    pub accept_and_drop: Vec<String>,
    /// Allowed callers; with none, any calling AE from loopback only.
    pub peers: Vec<PeerEntry>,
}

impl Default for DicomSection {
    fn default() -> Self {
        DicomSection {
            listen: "127.0.0.1:11112".into(),
            ae_title: "GRANSKA".into(),
            max_associations: 25,
            max_pdu: 65536,
            idle_timeout_s: 60,
            accept_and_drop: granska_dimse::ScpOptions::default_accept_and_drop(),
            peers: Vec::new(),
        }
    }
}

/// One `[[dicom.peers]]` entry: a DICOM node allowed to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Its calling AE title.
    pub ae_title: String,
    /// Its address: an IP or a CIDR network.
    pub host: String,
    /// Who the audit log names for what it sends.
    pub principal: String,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// HTTP address (STOW-RS at `/dicomweb`); empty disables it.
    pub listen: String,
    /// Largest STOW-RS request body, MiB.
    pub max_request_mib: u64,
    /// STOW-RS requests handled at once; more get 503 with `Retry-After`.
    pub max_requests: usize,
    /// A reading-station session unused this long is signed out.
    pub session_idle_minutes: u64,
    /// Mark session cookies `Secure`: set when a TLS-terminating proxy serves the station (the
    /// listener itself is plain HTTP).
    pub secure_cookies: bool,
    /// Serve the reading station's pages from this directory instead of the copies built into
    /// the binary (for working on the pages); unset in production.
    pub assets_dir: Option<PathBuf>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: "127.0.0.1:8080".into(),
            max_request_mib: 2048,
            max_requests: 16,
            session_idle_minutes: 30,
            secure_cookies: false,
            assets_dir: None,
        }
    }
}

/// `[reading]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingSection {
    /// When the reading station shows the AI's category, score and flags: `always` (with the
    /// images, as in MASAI), `after-decision` or `never`.
    pub show_ai: String,
}

impl Default for ReadingSection {
    fn default() -> Self {
        ReadingSection { show_ai: "always".into() }
    }
}

/// `[results]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsSection {
    /// `AE@host:port` of the PACS that receives the SRs; empty keeps them in the archive only.
    pub destination: String,
    /// The calling AE title Granska uses when sending.
    pub calling_ae: String,
    /// First retry delay after a failed send, s (doubled per attempt, at most 10 minutes).
    pub retry_backoff_s: u64,
    /// A report not delivered this long after it was made is marked failed, hours.
    pub give_up_after_h: u64,
}

impl Default for ResultsSection {
    fn default() -> Self {
        ResultsSection {
            destination: String::new(),
            calling_ae: "GRANSKA".into(),
            retry_backoff_s: 5,
            give_up_after_h: 72,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// `[[auth.tokens]]` entries. With none, tokens are generated into `<data_dir>/tokens.toml`.
    pub tokens: Vec<TokenEntry>,
    /// `grpc.health.v1.Health` needs a bearer token too. Off by default: health reveals only
    /// SERVING/NOT_SERVING, and standard probes (Kubernetes, grpc_health_probe) send no token.
    pub health_requires_token: bool,
}

/// One `[[auth.tokens]]` entry: the sha256 of a bearer token, never the token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who the token belongs to (audit records name it).
    pub principal: String,
    /// pacs | radiologist | researcher | admin
    pub role: String,
    /// Lower-case hex sha256 of the token.
    pub token_sha256: String,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are not secrets, but keep them out of logs anyway.
        f.debug_struct("TokenEntry")
            .field("principal", &self.principal)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults, then the TOML `text` (no file, no environment): what a config file's content
    /// alone gives; used by tests and the fuzzer.
    pub fn from_toml_str(text: &str) -> Result<Config, ServerError> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ServerError::Config(e.to_string()))
    }

    /// Defaults, then `file` (if given), then `GRANSKA__…` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ServerError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ServerError::Config(format!("config file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment.merge(Env::prefixed("GRANSKA__").split("__")).extract().map_err(|e| ServerError::Config(e.to_string()))
    }
}
