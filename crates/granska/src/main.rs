//! `granska`: the one binary. It parses flags, sets up logging, and calls library crates;
//! the logic lives in `crates/granska-*`.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// AI-assisted mammography screening triage.
#[derive(Debug, Parser)]
#[command(name = "granska", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate deterministic synthetic screening exams as DICOM (with labels.csv).
    Phantom(cmd::phantom::Args),
    /// Print the metadata of DICOM mammography instances; exit 1 if any is invalid.
    Inspect(cmd::inspect::Args),
    /// Decode one instance's stored pixel values to a NumPy .npy file.
    Decode(cmd::decode::Args),
    /// Score exams with a model: per view, per breast, exam score, category 1–10.
    Score(cmd::score::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GRANSKA_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Phantom(args) => cmd::phantom::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Decode(args) => cmd::decode::run(args),
        Command::Score(args) => cmd::score::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
