//! `granska inspect`: validate instances and print their metadata.

use std::path::PathBuf;
use std::process::ExitCode;

use granska_dicom::{DicomFile, MammoMeta};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accept Secondary Capture / digitised film and infer laterality and view.
    #[arg(long)]
    lenient: bool,
    /// Print a JSON array of objects instead of text.
    #[arg(long)]
    json: bool,
    /// DICOM files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// The JSON shape of one instance: its path, then the metadata fields.
#[derive(Serialize)]
struct Record<'a> {
    path: String,
    #[serde(flatten)]
    meta: &'a MammoMeta,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let profile = super::profile(args.lenient);
    let mut valid = Vec::new();
    let mut invalid = 0usize;
    for path in &args.files {
        // Valid means the pixels decode too, not only the header: a file whose pixel data is
        // short or corrupt is reported here rather than when it is scored.
        match DicomFile::open(path).and_then(|f| f.mammogram(profile).and_then(|m| f.pixels().map(|_| m))) {
            Ok(meta) => valid.push((path.display().to_string(), meta)),
            Err(e) => {
                invalid += 1;
                eprintln!("invalid: {e}");
            }
        }
    }
    if args.json {
        let records: Vec<Record<'_>> = valid.iter().map(|(p, m)| Record { path: p.clone(), meta: m }).collect();
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        for (path, m) in &valid {
            println!("{path}");
            println!("  study {}  series {}  sop {}", m.study_instance_uid, m.series_instance_uid, m.sop_instance_uid);
            println!(
                "  {}-{}  {}×{}  {} of {} bits{}  {}  {}",
                m.laterality.code(),
                m.view.code(),
                m.rows,
                m.columns,
                m.bits_stored,
                m.bits_allocated,
                if m.signed { " signed" } else { "" },
                serde_json::to_value(&m.photometric)?.as_str().unwrap_or("?"),
                m.transfer_syntax.name,
            );
            for w in &m.windows {
                println!("  window center {} width {}", w.center, w.width);
            }
            for i in &m.inferred {
                println!("  inferred: {i}");
            }
        }
    }
    Ok(if invalid == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
