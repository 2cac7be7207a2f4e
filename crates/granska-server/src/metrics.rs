//! `GET /metrics` of `server.metrics_listen`: the application's Prometheus registry as text.

use granska_app::Metrics;

/// Serves `GET /metrics` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { ([("content-type", "text/plain; version=0.0.4")], metrics.render()) }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
