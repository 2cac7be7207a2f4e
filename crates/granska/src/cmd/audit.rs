//! `granska audit`: reads the audit log of a data directory (who accessed which study, when,
//! how, with what outcome). Run it on the server's machine; it opens the archive directly.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use granska_archive::{Archive, ArchiveStore, AuditFilter};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's data directory.
    #[arg(long, default_value = "granska-data")]
    data_dir: PathBuf,
    /// Only this study.
    #[arg(long)]
    study: Option<String>,
    /// Only this principal.
    #[arg(long)]
    principal: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.data_dir.join("archive.db").is_file(),
        "{} holds no archive (expected {}/archive.db)",
        args.data_dir.display(),
        args.data_dir.display()
    );
    let archive = Archive::open(&args.data_dir).with_context(|| format!("cannot open {}", args.data_dir.display()))?;
    let records = archive.audit_records(&AuditFilter { study_uid: args.study, principal: args.principal })?;
    if args.json {
        let rows: Vec<_> = records
            .iter()
            .map(|r| {
                json!({"seq": r.seq, "at_unix_ms": r.at_ms, "principal": r.principal, "role": r.role, "action": r.action, "study_uid": r.study_uid, "outcome": r.outcome})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &records {
            println!(
                "{:>6} {} {:<14} {:<12} {:<22} {:<40} {}",
                r.seq,
                r.at_ms,
                r.principal,
                r.role,
                r.action,
                r.study_uid.as_deref().unwrap_or("-"),
                r.outcome
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
