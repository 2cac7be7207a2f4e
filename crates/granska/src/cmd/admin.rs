//! The admin's commands against a running server: `granska attention` (studies whose scoring
//! or routing failed repeatedly, with the reason), `granska retry` (score one again after the
//! cause is fixed) and `granska remove-instance` (the way out when a copy corrupted in transit
//! was stored and blocks the correct copy). All need the admin token and are audited.

use std::process::ExitCode;

use granska_client::pb;
use granska_types::Role;

use super::client::{Connection, runtime, status_error};
use super::output;

/// `granska attention`
#[derive(Debug, clap::Args)]
pub struct AttentionArgs {
    #[command(flatten)]
    connection: Connection,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `granska retry`
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    #[command(flatten)]
    connection: Connection,
    /// Study Instance UID, as `granska attention` lists it.
    study_uid: String,
}

/// `granska remove-instance`
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    connection: Connection,
    /// Why (kept in the audit log), e.g. "corrupted in transit; PACS re-sends".
    #[arg(long)]
    reason: String,
    /// SOP Instance UID of the stored copy to remove.
    sop_instance_uid: String,
}

pub fn attention(args: AttentionArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut client = args.connection.connect(Role::Admin).await?.ingest();
        let list = client
            .list_needs_attention(pb::ListNeedsAttentionRequest {})
            .await
            .map_err(|s| status_error("Ingest.ListNeedsAttention", s))?
            .into_inner();
        if args.json {
            let rows: Vec<output::Attention> = list.studies.iter().map(Into::into).collect();
            println!("{}", output::to_json(&rows)?);
        } else if list.studies.is_empty() {
            println!("no study needs attention");
        } else {
            for a in &list.studies {
                // `{:?}` keeps a stored UID's control bytes visible.
                println!("{:?}  {} attempts  {}", a.study_instance_uid, a.attempts, a.reason);
            }
            println!("{} studies need attention; after fixing the cause: granska retry UID", list.studies.len());
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn retry(args: RetryArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut client = args.connection.connect(Role::Admin).await?.ingest();
        let r = client
            .retry_study(pb::RetryStudyRequest { study_instance_uid: args.study_uid.clone() })
            .await
            .map_err(|s| status_error("Ingest.RetryStudy", s))?
            .into_inner();
        println!(
            "study {}: {}",
            args.study_uid,
            if r.queued { "queued for scoring" } else { "failures cleared (not waiting for scoring)" }
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn remove(args: RemoveArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut client = args.connection.connect(Role::Admin).await?.ingest();
        let r = client
            .remove_instance(pb::RemoveInstanceRequest {
                sop_instance_uid: args.sop_instance_uid.clone(),
                reason: args.reason.clone(),
            })
            .await
            .map_err(|s| status_error("Ingest.RemoveInstance", s))?
            .into_inner();
        println!(
            "instance {} removed from study {}{}; the study waits for the re-sent copy (quiet period restarted)",
            args.sop_instance_uid,
            r.study_instance_uid,
            if r.blob_deleted { ", its bytes deleted" } else { "" }
        );
        Ok(ExitCode::SUCCESS)
    })
}
