//! `granska push`: uploads DICOM files to a Granska server in 1 MiB chunks over one stream,
//! with a progress bar, a summary, and `--json` per-instance results as JSON Lines, each
//! printed the moment the server acknowledges it (so a cut-off push still shows what was
//! stored). Exit status 1 if any instance was rejected or the stream failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use granska_client::{UploadEvent, UploadSummary, pb};
use granska_types::Role;

use super::client::{Connection, runtime};
use super::output::PushLine;

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
        let client = args.connection.connect(Role::Pacs).await?;
        let bar = indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template("pushing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let started = Instant::now();
        let mut stdout = std::io::stdout().lock();
        let mut written = Ok(());
        let mut seen = UploadSummary::default();
        let uploaded = client
            .upload(files.clone(), |UploadEvent::Result(r)| {
                bar.inc(r.size_bytes);
                seen.answered += 1;
                match pb::instance_result::Outcome::try_from(r.outcome) {
                    Ok(pb::instance_result::Outcome::Stored) => seen.stored += 1,
                    Ok(pb::instance_result::Outcome::Duplicate) => seen.duplicate += 1,
                    _ => seen.rejected += 1,
                }
                if let Some(rej) = &r.rejection
                    && !args.json
                {
                    bar.suspend(|| eprintln!("rejected: {}: {}: {}", r.instance_ref, rej.code, rej.message));
                }
                if args.json && written.is_ok() {
                    // One line per acknowledgement, flushed now: what was stored is on record
                    // even if the stream is cut a moment later.
                    use std::io::Write;
                    let line = serde_json::to_string(&PushLine::from(r)).expect("plain data serialises");
                    written = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
                }
            })
            .await;
        written.context("cannot write to stdout")?;
        let summary = match uploaded {
            Ok(s) => s,
            Err(e) => {
                bar.finish_and_clear();
                return Err(anyhow::Error::new(e).context(format!(
                    "{} of {} instances were answered before the stream failed ({} stored, {} duplicate, {} \
                     rejected); re-running the same push is safe: stored instances come back as duplicates",
                    seen.answered,
                    files.len(),
                    seen.stored,
                    seen.duplicate,
                    seen.rejected
                )));
            }
        };
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        if args.complete {
            for uid in &summary.studies {
                client.complete_study(uid).await?;
            }
        }
        let UploadSummary { answered, stored, duplicate, rejected, bytes, ref studies } = summary;
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
