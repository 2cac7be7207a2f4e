//! The DICOM and HTTP edges started next to gRPC: their settings from `[dicom]`, `[http]` and
//! `[results]`, checked before anything starts (a bad peer network or destination is a
//! configuration error naming its key), and their tasks, stopped with the server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use granska_app::App;
use granska_app::auth::Authenticate;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::ServerError;

/// The edges' settings, parsed.
pub(crate) struct EdgeOptions {
    /// The C-STORE SCP.
    pub dicom: granska_dimse::ScpOptions,
    /// STOW-RS.
    pub http: granska_http::HttpOptions,
    /// Where result reports go, when configured.
    results: Option<granska_dimse::StoreScu>,
}

impl EdgeOptions {
    /// Parses `[dicom]`, `[http]` and `[results]`.
    pub fn from_config(config: &Config) -> Result<EdgeOptions, ServerError> {
        let d = &config.dicom;
        let ae = |key: &str, value: &str| {
            if value.is_empty()
                || value.len() > 16
                || value.trim() != value
                || !value.is_ascii()
                || value.contains('\\')
            {
                Err(ServerError::Config(format!(
                    "{key} must be 1–16 ASCII characters without a backslash, found {value:?}"
                )))
            } else {
                Ok(value.to_owned())
            }
        };
        let peers = d
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(granska_dimse::Peer {
                    ae_title: ae(&format!("dicom.peers[{i}].ae_title"), &p.ae_title)?,
                    network: p.host.parse().map_err(|e| ServerError::Config(format!("dicom.peers[{i}].host: {e}")))?,
                    principal: p.principal.clone(),
                })
            })
            .collect::<Result<Vec<_>, ServerError>>()?;
        let max_instance_bytes = (config.ingest.max_instance_mib as usize).saturating_mul(1 << 20);
        let dicom = granska_dimse::ScpOptions {
            ae_title: ae("dicom.ae_title", &d.ae_title)?,
            max_associations: d.max_associations.max(1),
            max_pdu: d.max_pdu.clamp(4096, 16 << 20),
            idle_timeout: Duration::from_secs(d.idle_timeout_s.max(1)),
            accept_and_drop: d.accept_and_drop.clone(),
            peers,
            max_instance_bytes,
        };
        let http = granska_http::HttpOptions {
            max_instance_bytes,
            max_request_bytes: config.http.max_request_mib.saturating_mul(1 << 20),
            accept_and_drop: dicom.accept_and_drop.clone(),
            max_requests: config.http.max_requests,
            sessions: granska_http::session::SessionOptions {
                idle: Duration::from_secs(config.http.session_idle_minutes.max(1).saturating_mul(60)),
                secure: config.http.secure_cookies,
                ..granska_http::session::SessionOptions::default()
            },
            show_ai: granska_http::reading::ShowAi::parse(&config.reading.show_ai).ok_or_else(|| {
                ServerError::Config(format!(
                    "reading.show_ai: expected \"always\", \"after-decision\" or \"never\", found {:?}",
                    config.reading.show_ai
                ))
            })?,
            assets_dir: config.http.assets_dir.clone(),
        };
        let r = &config.results;
        let results = if r.destination.is_empty() {
            None
        } else {
            let destination =
                r.destination.parse().map_err(|e| ServerError::Config(format!("results.destination: {e}")))?;
            Some(granska_dimse::StoreScu::new(
                destination,
                ae("results.calling_ae", &r.calling_ae)?,
                Duration::from_secs(60),
                dicom.max_pdu,
            ))
        };
        Ok(EdgeOptions { dicom, http, results })
    }

    /// The C-STORE SCU the core sends reports through, when a destination is configured.
    pub fn results_sender(&self) -> Option<Arc<dyn granska_app::ResultSender>> {
        self.results.clone().map(|s| Arc::new(s) as Arc<dyn granska_app::ResultSender>)
    }
}

/// Serves DICOM on `listener` until `stop` resolves (then finishes the instances being
/// stored); a failure is logged, not fatal. The handle ends when the edge has stopped.
pub(crate) fn spawn_dicom(
    listener: TcpListener,
    app: Arc<App>,
    options: granska_dimse::ScpOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>, ServerError> {
    tracing::info!(address = %listener.local_addr()?, ae_title = %options.ae_title, "DICOM listening (C-STORE, C-ECHO)");
    Ok(tokio::spawn(async move {
        if let Err(e) = granska_dimse::serve(listener, app, options, stop).await {
            tracing::error!(error = %e, "DICOM listener failed");
        }
    }))
}

/// Serves HTTP (STOW-RS) on `listener` until `stop` resolves (then finishes the requests in
/// flight); a failure is logged, not fatal. The handle ends when the edge has stopped.
pub(crate) fn spawn_http(
    listener: TcpListener,
    app: Arc<App>,
    auth: Arc<dyn Authenticate>,
    options: granska_http::HttpOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>, ServerError> {
    tracing::info!(address = %listener.local_addr()?, "HTTP listening (STOW-RS at /dicomweb)");
    let router = granska_http::router(app, auth, options);
    Ok(tokio::spawn(async move {
        if let Err(e) = granska_http::serve(listener, router, stop).await {
            tracing::error!(error = %e, "HTTP listener failed");
        }
    }))
}

/// Waits for the edges to finish what they were answering, at most [`DRAIN`].
pub(crate) async fn drain(edges: Vec<JoinHandle<()>>) {
    let all = futures_util::future::join_all(edges);
    if tokio::time::timeout(DRAIN, all).await.is_err() {
        tracing::warn!(seconds = DRAIN.as_secs(), "DICOM/HTTP edges still busy at shutdown; stopping them");
    }
}

/// How long shutdown waits for instances being stored over DICOM or STOW-RS.
const DRAIN: Duration = Duration::from_secs(30);
