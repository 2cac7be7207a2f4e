//! Granska's HTTP edge: DICOMweb STOW-RS (PS3.18 §10.5), and the web reading station: sign-in
//! with a token for a session cookie with CSRF protection ([`session`], [`station`]), the
//! worklist, reading and admin pages ([`pages`]) and their API ([`station`], [`reading`]).
//!
//! Like every edge it only translates: an HTTP request in → a [`granska_app::App`] use case
//! with the [`granska_app::Caller`] that its bearer token names → an HTTP response out, with one
//! exhaustive mapping of [`granska_app::AppError`] ([`error`]). It keeps no state of its own.
//!
//! ```no_run
//! # async fn run(app: std::sync::Arc<granska_app::App>, auth: std::sync::Arc<dyn granska_app::auth::Authenticate>) -> Result<(), granska_http::HttpError> {
//! let options = granska_http::HttpOptions { max_requests: 16, ..Default::default() };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let shutdown = async { tokio::signal::ctrl_c().await.ok(); };
//! granska_http::serve(listener, granska_http::router(app, auth, options), shutdown).await
//! # }
//! ```
#![warn(missing_docs)]

mod auth;
pub mod error;
pub mod pages;
pub mod reading;
pub mod session;
pub mod station;
pub mod stow;

use std::future::Future;
use std::sync::Arc;

use granska_app::App;
use granska_app::auth::Authenticate;

pub use error::HttpError;

/// Limits of the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// The largest instance (one part of a STOW-RS body) received, bytes: a larger part is
    /// refused while it streams in, before it is buffered whole.
    pub max_instance_bytes: usize,
    /// The largest request body, bytes (everything a STOW-RS request sends, boundaries
    /// included): refused from its `Content-Length`, or as soon as a chunked body passes it.
    pub max_request_bytes: u64,
    /// SOP classes listed as stored but not kept (a PACS forwarding a whole study by STOW-RS
    /// must not fail its job on its presentation states or reports): `dicom.accept_and_drop`.
    pub accept_and_drop: Vec<String>,
    /// STOW-RS requests handled at once; more are answered 503 with `Retry-After` at once
    /// (each may buffer a part of up to `max_instance_bytes`). 0 means 1.
    pub max_requests: usize,
    /// The reading station's sessions (idle expiry, bound, Secure cookies).
    pub sessions: session::SessionOptions,
    /// When the station shows the AI's result to a reader (`[reading] show_ai`).
    pub show_ai: reading::ShowAi,
    /// Serve the station's pages from this directory, read on every request, instead of the
    /// copies embedded in the binary (for working on the pages without rebuilding).
    pub assets_dir: Option<std::path::PathBuf>,
}

impl Default for HttpOptions {
    /// The configuration's defaults: 128 MiB per instance, 2 GiB per request, 16 requests.
    fn default() -> Self {
        HttpOptions {
            max_instance_bytes: 128 << 20,
            max_request_bytes: 2 << 30,
            accept_and_drop: Vec::new(),
            max_requests: 16,
            sessions: session::SessionOptions::default(),
            show_ai: reading::ShowAi::default(),
            assets_dir: None,
        }
    }
}

/// What every route's handler needs: the core, the token check and the limits.
pub(crate) struct Shared {
    pub(crate) app: Arc<App>,
    pub(crate) auth: Arc<dyn Authenticate>,
    pub(crate) options: HttpOptions,
    /// One permit per request being handled (`HttpOptions::max_requests`).
    pub(crate) requests: Arc<tokio::sync::Semaphore>,
    /// The reading station's signed-in people.
    pub(crate) sessions: session::Sessions,
}

/// The HTTP edge's routes: `POST /dicomweb/studies` and `POST /dicomweb/studies/{study}`
/// (STOW-RS); the reading station under `/web` (pages, assets and API, each response with the
/// station's security headers). Each route module adds its own routes here.
pub fn router(app: Arc<App>, auth: Arc<dyn Authenticate>, options: HttpOptions) -> axum::Router {
    let requests = Arc::new(tokio::sync::Semaphore::new(options.max_requests.max(1)));
    let sessions = session::Sessions::new(options.sessions);
    let edge = Arc::new(Shared { app, auth, options, requests, sessions });
    let station = axum::Router::new()
        .merge(station::routes(edge.clone()))
        .merge(reading::routes(edge.clone()))
        .merge(pages::routes(edge.clone()))
        .layer(axum::middleware::map_response(pages::secure));
    axum::Router::new().merge(stow::routes(edge)).merge(station)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight end.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let address = listener.local_addr().map_err(HttpError::Io)?;
    tracing::info!(%address, "http edge listening");
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(HttpError::Io)
}
