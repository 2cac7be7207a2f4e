//! Readiness: whether this replica can serve, checked every [`EVERY`] by asking both stores
//! ([`App::ready`]), and published to gRPC health (every service, and the server as a whole
//! under `""`, `NOT_SERVING` while a store does not answer) and to `GET /health/ready` on the
//! metrics listener (503 with the reason). A load balancer takes a replica whose database is
//! unreachable out of rotation, and puts it back once it answers again; nothing restarts.

use std::sync::Arc;
use std::time::Duration;

use granska_app::App;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// How often readiness is checked.
pub const EVERY: Duration = Duration::from_secs(1);

/// The latest readiness: `Ok` or why not.
pub type Ready = tokio::sync::watch::Receiver<Result<(), String>>;

/// The gRPC services whose status follows readiness (with `""`, the server as a whole).
const SERVICES: [&str; 4] = ["", "granska.v1.Ingest", "granska.v1.Worklist", "granska.v1.Models"];

/// Starts the readiness loop; it runs until `stop` turns `true`.
pub fn spawn(app: Arc<App>, reporter: HealthReporter, mut stop: tokio::sync::watch::Receiver<bool>) -> Ready {
    let (tx, rx) = tokio::sync::watch::channel(Err("starting".to_owned()));
    tokio::spawn(async move {
        let mut was_ready: Option<bool> = None;
        loop {
            let now = app.ready().await;
            let ready = now.is_ok();
            if was_ready != Some(ready) {
                match &now {
                    Ok(()) if was_ready.is_some() => tracing::info!("stores answer again: ready"),
                    Ok(()) => {}
                    Err(why) => tracing::warn!(reason = %why, "not ready: a store does not answer"),
                }
                let status = if ready { ServingStatus::Serving } else { ServingStatus::NotServing };
                for service in SERVICES {
                    reporter.set_service_status(service, status).await;
                }
                was_ready = Some(ready);
            }
            let _ = tx.send(now);
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
    rx
}
