//! `granska backup`, `granska restore` and `granska check`: run on the server's machine beside
//! a running server (backup, check) or before one starts (restore); they open the data
//! directory directly.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use granska_app::maintenance;

/// `granska backup`
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The server's data directory (a server may be running on it).
    #[arg(long, default_value = "granska-data")]
    data_dir: PathBuf,
    /// A new or empty directory for the backup.
    #[arg(long)]
    out: PathBuf,
}

/// `granska restore`
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A directory written by `granska backup`.
    #[arg(long)]
    from: PathBuf,
    /// A new or empty data directory to fill.
    #[arg(long)]
    data_dir: PathBuf,
}

/// `granska check`
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The data directory to check (a server may be running on it).
    #[arg(long, default_value = "granska-data")]
    data_dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn now_ms() -> i64 {
    granska_app::now_ms()
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let manifest = maintenance::backup(&args.data_dir, &args.out, now_ms(), |step| eprintln!("backup: {step}"))
        .with_context(|| format!("backup of {} into {} failed", args.data_dir.display(), args.out.display()))?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "backup of {} instances ({} files, {:.1} MB) written to {} in {:.1} s; manifest.json lists every file's sha256",
        manifest.instances,
        manifest.files.len(),
        bytes as f64 / 1e6,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let manifest = maintenance::restore(&args.from, &args.data_dir)
        .with_context(|| format!("restore of {} into {} failed", args.from.display(), args.data_dir.display()))?;
    println!(
        "restored {} instances ({} files, every sha256 verified) into {}; start the server on it, then run `granska check`",
        manifest.instances,
        manifest.files.len(),
        args.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("checking [{bar:30}] {pos}/{len} instances, {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = maintenance::check(&args.data_dir, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("cannot check {}", args.data_dir.display()))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", super::output::to_json(&super::output::Check::from(&report))?);
    } else {
        for p in &report.problems {
            println!("problem: {p}");
        }
        if !report.orphan_blobs.is_empty() {
            println!(
                "note: {} blob files no instance names (left by uploads interrupted before their commit; harmless)",
                report.orphan_blobs.len()
            );
        }
        println!(
            "{} instances and {} result reports clean, {}",
            report.instances_ok,
            report.reports_ok,
            if report.problems.is_empty() { "clean".to_owned() } else { format!("{} problems", report.problems.len()) }
        );
    }
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
