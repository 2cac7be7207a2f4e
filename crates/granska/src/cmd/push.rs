//! `granska push`: uploads DICOM files to a Granska server in 1 MiB chunks over one stream,
//! with a progress bar, a summary, and `--json` per-instance results as JSON Lines, each
//! printed the moment the server acknowledges it (so a cut-off push still shows what was
//! stored). Exit status 1 if any instance was rejected or the stream failed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use granska_server::proto::v1 as pb;
use pb::ingest_client::IngestClient;
use serde_json::json;
use tokio_stream::StreamExt;

use super::client::{Connection, runtime, status_error};

/// Chunk size: well under gRPC's 4 MiB message limit.
const CHUNK: usize = 1 << 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    connection: Connection,
    /// Print one JSON object per instance result (JSON Lines), as each arrives, instead of a
    /// summary.
    #[arg(long)]
    json: bool,
    /// After the upload, tell the server that every pushed study is complete (score it now,
    /// without waiting for the quiet period).
    #[arg(long)]
    complete: bool,
    /// DICOM files, or directories searched recursively for *.dcm and DICM-tagged files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = super::score::collect_files(&args.paths)?;
    anyhow::ensure!(!files.is_empty(), "no DICOM files found in the given paths");
    let total: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    runtime()?.block_on(async move {
        let mut client = IngestClient::new(args.connection.connect("pacs").await?)
            .max_decoding_message_size(4 << 20);
        let bar = indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template("pushing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        // Files are read and chunked on a task of their own; the channel's bound keeps at most
        // a few MiB in flight.
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadChunk>(4);
        let producer_files = files.clone();
        let producer = tokio::spawn(async move {
            for path in producer_files {
                let bytes = tokio::fs::read(&path).await.with_context(|| format!("cannot read {}", path.display()))?;
                let instance_ref = path.display().to_string();
                let mut chunks = bytes.chunks(CHUNK).peekable();
                if chunks.peek().is_none() {
                    tx.send(pb::UploadChunk { instance_ref, data: Vec::new(), last: true }).await.ok();
                    continue;
                }
                while let Some(chunk) = chunks.next() {
                    let last = chunks.peek().is_none();
                    let msg = pb::UploadChunk { instance_ref: instance_ref.clone(), data: chunk.to_vec(), last };
                    if tx.send(msg).await.is_err() {
                        return Ok(()); // the server ended the stream; its error is reported below
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        });
        let started = Instant::now();
        let mut results = client
            .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(|s| status_error("upload refused", s))?
            .into_inner();
        let (mut stored, mut duplicate, mut rejected, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        let mut studies = BTreeSet::new();
        let mut answered = 0usize;
        let mut stdout = std::io::stdout().lock();
        loop {
            let r = match results.next().await {
                None => break,
                Some(Ok(r)) => r,
                Some(Err(status)) => {
                    bar.finish_and_clear();
                    return Err(status_error("upload failed", status).context(format!(
                        "{answered} of {} instances were answered before the stream failed ({stored} stored, \
                         {duplicate} duplicate, {rejected} rejected); re-running the same push is safe: stored \
                         instances come back as duplicates",
                        files.len()
                    )));
                }
            };
            answered += 1;
            bar.inc(r.size_bytes);
            bytes += r.size_bytes;
            let outcome = pb::instance_result::Outcome::try_from(r.outcome).unwrap_or(pb::instance_result::Outcome::Unspecified);
            match outcome {
                pb::instance_result::Outcome::Stored => stored += 1,
                pb::instance_result::Outcome::Duplicate => duplicate += 1,
                _ => rejected += 1,
            }
            if !r.study_instance_uid.is_empty() && r.rejection.is_none() {
                studies.insert(r.study_instance_uid.clone());
            }
            if let Some(rej) = &r.rejection
                && !args.json
            {
                bar.suspend(|| eprintln!("rejected: {}: {}: {}", r.instance_ref, rej.code, rej.message));
            }
            if !args.json {
                continue;
            }
            let line = json!({
                "file": r.instance_ref,
                "outcome": match outcome {
                    pb::instance_result::Outcome::Stored => "stored",
                    pb::instance_result::Outcome::Duplicate => "duplicate",
                    _ => "rejected",
                },
                "sop_instance_uid": r.sop_instance_uid,
                "study_uid": r.study_instance_uid,
                "size_bytes": r.size_bytes,
                "sha256": r.sha256,
                "rejection": r.rejection.as_ref().map(|x| json!({
                    "code": x.code,
                    "message": x.message,
                    "field_violations": x.field_violations.iter().map(|v| json!({"field": v.field, "description": v.description})).collect::<Vec<_>>(),
                })),
            });
            // One line per acknowledgement, flushed now: what was stored is on record even if
            // the stream is cut a moment later.
            use std::io::Write;
            writeln!(stdout, "{line}").and_then(|()| stdout.flush()).context("cannot write to stdout")?;
        }
        producer.await.context("file reader task failed")??;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        if args.complete {
            for uid in &studies {
                client
                    .complete_study(pb::CompleteStudyRequest { study_instance_uid: uid.clone() })
                    .await
                    .map_err(|s| status_error(&format!("CompleteStudy {uid}"), s))?;
            }
        }
        if !args.json {
            println!(
                "{answered} instances of {} studies: {stored} stored, {duplicate} duplicate, {rejected} rejected; {:.1} MB in {seconds:.2} s ({:.1} MB/s)",
                studies.len(),
                bytes as f64 / 1e6,
                bytes as f64 / 1e6 / seconds.max(1e-9),
            );
        }
        anyhow::ensure!(
            answered == files.len(),
            "the server answered {answered} of {} instances; re-running the same push is safe (duplicates)",
            files.len()
        );
        Ok(if rejected > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    })
}
