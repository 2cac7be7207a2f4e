//! `server.metrics_listen`: `GET /metrics` (the application's Prometheus registry as text),
//! and the probes a load balancer or orchestrator asks: `GET /health/live` (the process
//! answers) and `GET /health/ready` (both stores answer; 503 with the reason otherwise).

use granska_app::Metrics;

/// Serves `GET /metrics`, `/health/live` and `/health/ready` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    ready: crate::health::Ready,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::StatusCode;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move { ([("content-type", "text/plain; version=0.0.4")], metrics.render()) }
            }),
        )
        .route("/health/live", axum::routing::get(|| async { "live\n" }))
        .route(
            "/health/ready",
            axum::routing::get(move || {
                let now = ready.borrow().clone();
                async move {
                    match now {
                        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
                    }
                }
            }),
        );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
