//! `granska audit`: reads the audit log of a data directory (who accessed which study, when,
//! how, with what outcome). Run it on the server's machine; it opens the archive directly.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use granska_archive::{Archive, ArchiveStore, AuditFilter};

use super::output;

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
    let records =
        archive.audit_records(&AuditFilter { study_uid: args.study, principal: args.principal, last: None })?;
    if args.json {
        let rows: Vec<output::AuditRow> = records.iter().map(Into::into).collect();
        println!("{}", output::to_json(&rows)?);
    } else {
        for r in &records {
            println!("{}", output::audit_line(r));
        }
    }
    Ok(ExitCode::SUCCESS)
}
