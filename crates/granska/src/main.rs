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
    /// Run the service: gRPC ingest → score → route → worklist (config: --config, GRANSKA__…).
    Serve(cmd::serve::Args),
    /// Create or upgrade the stores' schemas (`[store]`: SQLite files or PostgreSQL) and exit;
    /// refuses a database written by a newer granska.
    Migrate(cmd::serve::MigrateArgs),
    /// Upload DICOM files to a server; exit 1 if any instance is rejected.
    Push(cmd::push::Args),
    /// Show the prioritised worklist.
    Worklist(cmd::reading::WorklistArgs),
    /// Claim, submit or release reading tasks.
    Read(cmd::reading::ReadArgs),
    /// Show what the server knows of one study.
    Study(cmd::reading::StudyArgs),
    /// Write a study's result report (its Mammography CAD SR, as sent to the PACS) to a file.
    Report(cmd::reading::ReportArgs),
    /// Admin: studies whose scoring or routing failed repeatedly, with the reason.
    Attention(cmd::admin::AttentionArgs),
    /// Admin: score a study that needs attention again, after fixing the cause.
    Retry(cmd::admin::RetryArgs),
    /// Admin: remove one stored instance (a corrupted copy that blocks the correct one).
    RemoveInstance(cmd::admin::RemoveArgs),
    /// Back up a data directory while the server runs (SQLite online backup, blobs, manifest).
    Backup(cmd::maintenance::BackupArgs),
    /// Restore a backup into a new data directory (every file's sha256 verified first).
    Restore(cmd::maintenance::RestoreArgs),
    /// Check a data directory: every blob against its sha256 and index row, the worklist's
    /// consistency; exit 1 with a list on any problem.
    Check(cmd::maintenance::CheckArgs),
    /// Load and soak driver: concurrent uploads and reads with latency percentiles, and the
    /// check that nothing acknowledged was lost (`load run`, `load verify`).
    Load(cmd::load::Args),
    /// Read the audit log of a data directory.
    Audit(cmd::audit::Args),
    /// Make a bearer token and its config entry.
    Token(cmd::token::Args),
    /// Score labelled exams: scores.csv, metrics.json (AUC with DeLong CI), figures, report.html.
    Eval(cmd::research::EvalArgs),
    /// Reading workload and expected cancers found of policies against double reading.
    Simulate(cmd::research::SimulateArgs),
    /// Throughput and per-stage latency of scoring, after warm-up.
    Bench(cmd::research::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs its progress; the one-shot commands only warnings.
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRANSKA_LOG").unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr);
    // Colour only for a person at a terminal: a file, a pipe or journald gets plain text, and
    // GRANSKA_LOG_FORMAT=json gives one JSON object per event for log collectors.
    match std::env::var("GRANSKA_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        Ok("text") | Ok("") | Err(_) => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        Ok(other) => {
            eprintln!("error: GRANSKA_LOG_FORMAT must be text or json, found {other:?}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Phantom(args) => cmd::phantom::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Decode(args) => cmd::decode::run(args),
        Command::Score(args) => cmd::score::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Migrate(args) => cmd::serve::migrate(args),
        Command::Push(args) => cmd::push::run(args),
        Command::Worklist(args) => cmd::reading::worklist(args),
        Command::Read(args) => cmd::reading::read(args),
        Command::Study(args) => cmd::reading::study(args),
        Command::Report(args) => cmd::reading::report(args),
        Command::Attention(args) => cmd::admin::attention(args),
        Command::Retry(args) => cmd::admin::retry(args),
        Command::RemoveInstance(args) => cmd::admin::remove(args),
        Command::Backup(args) => cmd::maintenance::backup(args),
        Command::Restore(args) => cmd::maintenance::restore(args),
        Command::Check(args) => cmd::maintenance::check(args),
        Command::Load(args) => cmd::load::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Eval(args) => cmd::research::eval(args),
        Command::Simulate(args) => cmd::research::simulate_cmd(args),
        Command::Bench(args) => cmd::research::bench(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
