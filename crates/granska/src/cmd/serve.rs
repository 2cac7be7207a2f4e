//! `granska serve`: runs the service until ctrl-c or SIGTERM; `granska migrate`: brings the
//! configured stores' schemas up to date without serving.

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

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Configuration file (TOML): `[store]` and `server.data_dir` say which stores.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let done = granska_server::stores::migrate(&config)?;
    println!("{done}");
    Ok(ExitCode::SUCCESS)
}

/// Image-sized buffers (reassembled uploads, decoded pixels) of varying sizes — corrupt or
/// truncated instances make every size different — fragmented glibc's per-thread heaps: RSS
/// rose without bound under corrupt input (48 → 650 MB over 6,000 instances) while it stayed
/// flat under valid input. A fixed mmap threshold makes every buffer of 1 MiB or more its own
/// mapping, returned to the system when freed; it also stops glibc raising the threshold
/// after the first large free (which is what sent those buffers to the heaps).
fn bound_allocator_fragmentation() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; it is called once, before any
        // other thread exists, and a failure (return 0) leaves glibc's defaults in place.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
        if ok == 0 {
            tracing::warn!("mallopt(M_MMAP_THRESHOLD) failed; memory may fragment under varied instance sizes");
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    bound_allocator_fragmentation();
    let mut config = Config::load(args.config.as_deref())?;
    // The shipped model's default path is relative to the repository; find it from elsewhere too.
    if config.model.dir == std::path::Path::new(granska_model::SHIPPED_MODEL) && !config.model.dir.is_dir() {
        config.model.dir = super::score::default_model_dir();
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listeners = granska_server::Listeners::bind(&config).await?;
        granska_server::serve(config, listeners, shutdown_signal()).await?;
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
