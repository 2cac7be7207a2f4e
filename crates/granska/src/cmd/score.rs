//! `granska score`: score DICOM files or directories, grouped into exams by StudyInstanceUID.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use granska_dicom::{DicomFile, MammoMeta, Profile};
use granska_model::exam::ViewInput;
use granska_model::{Device, Engine, EngineConfig, ExamResult, Model, Scorer};

/// Model and engine flags shared by the commands that run a model.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Model directory (model.toml + model.onnx); default: the shipped models/granska-phantom-v1.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// ONNX Runtime shared library (default: ORT_DYLIB_PATH, then the one found at build time).
    #[arg(long)]
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Most views per inference batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Longest a view waits for its batch to fill, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub batch_wait_ms: u64,
    /// Execution provider: cpu, or cuda (needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// With --device cuda: run on CPU (logged loudly) when CUDA cannot be used.
    #[arg(long)]
    pub cuda_fallback: bool,
}

impl ModelArgs {
    /// Loads and verifies the model and starts its engine.
    pub fn scorer(&self) -> anyhow::Result<Scorer> {
        let dir = self.model.clone().unwrap_or_else(default_model_dir);
        let model = Model::load(&dir)?;
        let device: Device = self.device.parse().map_err(|e| anyhow::anyhow!("--{e}"))?;
        let config = EngineConfig {
            ort_library: self.ort_library.clone(),
            intra_threads: self.threads,
            max_batch: self.batch.max(1),
            max_wait: Duration::from_millis(self.batch_wait_ms),
            device,
            cuda_fallback_to_cpu: self.cuda_fallback,
            ..EngineConfig::default()
        };
        let engine = Engine::start(&model, &config)?;
        Ok(Scorer { model, engine })
    }
}

/// The shipped model: `models/granska-phantom-v1` under the current directory, else in the
/// source tree this binary was built from.
pub fn default_model_dir() -> PathBuf {
    let local = PathBuf::from(granska_model::SHIPPED_MODEL);
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(granska_model::SHIPPED_MODEL)
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accept Secondary Capture / digitised film and infer laterality and view.
    #[arg(long)]
    lenient: bool,
    /// Print a JSON array of exams instead of a table.
    #[arg(long)]
    json: bool,
    /// Exams scored at the same time (decode and preprocess run in parallel across exams).
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    model: ModelArgs,
    /// DICOM files, or directories searched recursively for *.dcm and DICM-tagged files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let scorer = args.model.scorer()?;
    let profile = super::profile(args.lenient);
    let files = collect_files(&args.paths)?;
    let (exams, invalid) = group_exams(&files, profile);
    for (path, err) in &invalid {
        eprintln!("invalid: {}: {err}", path.display());
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let progress = super::progress_bar(exams.len() as u64, "scoring exams");
    let results = score_exams(&scorer, exams, profile, jobs, || progress.inc(1));
    progress.finish_and_clear();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_table(&results);
    }
    Ok(if invalid.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Files named on the command line, and under directories: `*.dcm` or files with the DICM tag.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).with_context(|| format!("cannot read directory {}", p.display()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// DICOM files under `dir`, following symbolic links as the scan always has (walkdir stops at a
/// link loop with an error instead of recursing forever).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), walkdir::Error> {
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let path = match entry {
            Ok(entry) if entry.file_type().is_dir() => continue,
            Ok(entry) => entry.into_path(),
            // A dangling link is a file that cannot be read: kept when named *.dcm, so that it is
            // reported as invalid rather than stopping the scan.
            Err(e) if e.loop_ancestor().is_none() && e.path().is_some_and(|p| p.is_symlink()) => {
                e.path().map(Path::to_path_buf).unwrap_or_default()
            }
            Err(e) => return Err(e),
        };
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("dcm")) || has_dicm_tag(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn has_dicm_tag(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 132];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut buf)).is_ok() && &buf[128..] == b"DICM"
}

/// Files grouped by StudyInstanceUID (headers validated), and the files that failed.
pub type Grouped = (BTreeMap<String, Vec<(PathBuf, MammoMeta)>>, Vec<(PathBuf, granska_dicom::Error)>);

/// Reads every header and groups the valid instances into exams.
pub fn group_exams(files: &[PathBuf], profile: Profile) -> Grouped {
    let mut exams: BTreeMap<String, Vec<(PathBuf, MammoMeta)>> = BTreeMap::new();
    let mut invalid = Vec::new();
    for path in files {
        match DicomFile::open(path).and_then(|f| f.mammogram(profile)) {
            Ok(meta) => exams.entry(meta.study_instance_uid.to_string()).or_default().push((path.clone(), meta)),
            Err(e) => invalid.push((path.clone(), e)),
        }
    }
    (exams, invalid)
}

/// Decodes and scores exams on `jobs` threads; inference batches across them. Results keep the
/// exams' order.
pub fn score_exams(
    scorer: &Scorer,
    exams: BTreeMap<String, Vec<(PathBuf, MammoMeta)>>,
    profile: Profile,
    jobs: usize,
    on_done: impl Fn() + Sync,
) -> Vec<ExamResult> {
    let exams: Vec<(String, Vec<(PathBuf, MammoMeta)>)> = exams.into_iter().collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ExamResult>>> = Mutex::new(vec![None; exams.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(exams.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((uid, views)) = exams.get(i) else { break };
                    let started = Instant::now();
                    let inputs = views.iter().map(|(path, meta)| decode_view(path, meta, profile)).collect();
                    let decode_ms = started.elapsed().as_secs_f64() * 1e3;
                    let result = scorer.score_exam(uid, inputs, decode_ms);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                    on_done();
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect()
}

fn decode_view(path: &Path, meta: &MammoMeta, profile: Profile) -> ViewInput {
    let pixels = DicomFile::open(path).and_then(|f| {
        // The file is read again: it may have changed since grouping.
        f.mammogram(profile)?;
        f.pixels()
    });
    ViewInput { source: path.display().to_string(), meta: meta.clone(), pixels }
}

fn print_table(results: &[ExamResult]) {
    println!("{:<66} {:<11} {:>7} {:>4} {:>5} {:>5}  reason", "study_uid", "status", "score", "cat", "xhigh", "views");
    for r in results {
        let status =
            serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        println!(
            "{:<66} {:<11} {:>7} {:>4} {:>5} {:>5}  {}",
            r.study_uid,
            status,
            r.exam_score.map_or("-".into(), |s| format!("{s:.4}")),
            r.category.map_or("-".into(), |c| c.to_string()),
            if r.extra_high { "yes" } else { "no" },
            r.views.len(),
            r.reason.as_deref().unwrap_or("")
        );
    }
}
