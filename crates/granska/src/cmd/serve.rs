//! `granska serve`: runs the service until ctrl-c or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use granska_server::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); without one, the defaults (see README) and GRANSKA__… variables.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    // The shipped model's default path is relative to the repository; find it from elsewhere too.
    if config.model.dir == std::path::Path::new(granska_model::SHIPPED_MODEL) && !config.model.dir.is_dir() {
        config.model.dir = super::score::default_model_dir();
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let metrics = if config.server.metrics_listen.is_empty() {
            None
        } else {
            Some(
                tokio::net::TcpListener::bind(&config.server.metrics_listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.server.metrics_listen))?,
            )
        };
        granska_server::serve(config, listener, metrics, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
