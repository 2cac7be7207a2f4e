//! `granska eval` and `granska simulate`: the research toolkit over scored exams.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use granska_research::ScoredExam;
use granska_research::metrics::{metrics, roc};
use granska_research::outputs::{self, Percentiles};
use granska_research::simulate::{Readers, simulate};
use granska_research::{report, tables};
use granska_triage::Policy;
use sha2::{Digest, Sha256};

use super::score::{ModelArgs, collect_files, group_exams, score_exams};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// DICOM files of the exams (searched recursively).
    #[arg(long)]
    data: PathBuf,
    /// CSV with a header holding `study_uid` and `cancer` (0/1) columns.
    #[arg(long)]
    labels: PathBuf,
    /// Where scores.csv, metrics.json, the figures and report.html go.
    #[arg(long)]
    out: PathBuf,
    /// Accept Secondary Capture / digitised film.
    #[arg(long)]
    lenient: bool,
    /// The policy whose reading-mode split is reported (built-in name or a TOML file).
    #[arg(long, default_value = "masai")]
    policy: String,
    /// Exams scored at the same time.
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    model: ModelArgs,
}

/// A built-in policy name, or a path to a policy TOML.
pub fn load_policy(spec: &str) -> anyhow::Result<Policy> {
    if spec.ends_with(".toml") || Path::new(spec).is_file() {
        let text = std::fs::read_to_string(spec).with_context(|| format!("cannot read policy {spec}"))?;
        Ok(Policy::from_toml(&text, spec)?)
    } else {
        Ok(Policy::builtin(spec)?)
    }
}

fn read_labels(path: &Path) -> anyhow::Result<HashMap<String, bool>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(tables::read_labels(std::io::BufReader::new(file), path)?)
}

/// The cache key of an exam: its UID and the sha256 of its files' hashes, in name order.
fn exam_key(uid: &str, files: &[PathBuf]) -> anyhow::Result<String> {
    let mut names: Vec<&PathBuf> = files.iter().collect();
    names.sort();
    let mut h = Sha256::new();
    for f in names {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        h.update(Sha256::digest(&bytes));
    }
    Ok(format!("{uid}:{:x}", h.finalize()))
}

pub fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let policy = load_policy(&args.policy)?;
    let labels = read_labels(&args.labels)?;
    let files = collect_files(std::slice::from_ref(&args.data))?;
    anyhow::ensure!(!files.is_empty(), "no DICOM files under {}", args.data.display());
    let profile = super::profile(args.lenient);
    let (exams, invalid) = group_exams(&files, profile);
    for (path, err) in &invalid {
        eprintln!("invalid: {}: {err}", path.display());
    }
    let scorer = args.model.scorer()?;
    let identity = scorer.model.card.identity.clone();
    std::fs::create_dir_all(args.out.join(".cache"))
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    // Scores are cached per model (sha256) and exam (its files' hashes): re-running reuses them.
    let cache_path = args.out.join(".cache").join(format!("scores-{}.json", &identity.sha256[..16]));
    let mut cache: BTreeMap<String, ScoredExam> =
        std::fs::read_to_string(&cache_path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let mut keys = BTreeMap::new();
    let mut to_score = BTreeMap::new();
    for (uid, views) in exams {
        let key = exam_key(&uid, &views.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>())?;
        if !cache.contains_key(&key) {
            to_score.insert(uid.clone(), views);
        }
        keys.insert(uid, key);
    }
    let cached = keys.len() - to_score.len();
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let progress = super::progress_bar(to_score.len() as u64, "scoring exams");
    for r in score_exams(&scorer, to_score, profile, jobs, || progress.inc(1)) {
        let row = ScoredExam {
            study_uid: r.study_uid.clone(),
            exam_score: r.exam_score,
            category: r.category,
            extra_high: r.extra_high,
            label: None,
        };
        cache.insert(keys[&r.study_uid].clone(), row);
    }
    progress.finish_and_clear();
    std::fs::write(&cache_path, serde_json::to_string(&cache)?)
        .with_context(|| format!("cannot write {}", cache_path.display()))?;

    let mut rows: Vec<ScoredExam> = keys
        .iter()
        .map(|(uid, key)| {
            let mut row = cache[key].clone();
            row.label = labels.get(uid).copied();
            row
        })
        .collect();
    rows.sort_by(|a, b| a.study_uid.cmp(&b.study_uid));
    let unlabelled = rows.iter().filter(|r| r.label.is_none()).count();
    if unlabelled > 0 {
        eprintln!(
            "warning: {unlabelled} exams have no label in {} and are left out of the metrics",
            args.labels.display()
        );
    }
    let scores_path = args.out.join("scores.csv");
    let mut csv = Vec::new();
    tables::write_scores(&mut csv, &rows, &scores_path)?;
    write(&scores_path, &csv)?;

    let m = metrics(&rows);
    let arm = simulate(&rows, &policy, Readers { sensitivity: 0.8, specificity: 0.96 });
    let model = outputs::ModelSummary {
        name: identity.name.clone(),
        version: identity.version.clone(),
        sha256: identity.sha256.clone(),
    };
    let metrics_file = outputs::MetricsFile::new(&m, &arm, model, unlabelled, invalid.len(), command.clone());
    write(&args.out.join("metrics.json"), outputs::to_json(&metrics_file)?.as_bytes())?;

    let labelled: Vec<&ScoredExam> = rows.iter().filter(|r| r.exam_score.is_some() && r.label.is_some()).collect();
    let pos: Vec<f64> = labelled.iter().filter(|r| r.label == Some(true)).filter_map(|r| r.exam_score).collect();
    let neg: Vec<f64> = labelled.iter().filter(|r| r.label == Some(false)).filter_map(|r| r.exam_score).collect();
    let curve = roc(&pos, &neg);
    let roc_svg = report::roc_svg(&curve, m.auc)?;
    let hist_svg = report::histogram_svg(&m.category_counts)?;
    write(&args.out.join("roc.svg"), roc_svg.as_bytes())?;
    write(&args.out.join("categories.svg"), hist_svg.as_bytes())?;
    write(&args.out.join("roc.png"), &report::roc_png(&curve, m.auc)?)?;
    write(&args.out.join("categories.png"), &report::histogram_png(&m.category_counts)?)?;
    let card = model_summary(&scorer.model.dir, &identity);
    let html =
        report::html(&m, &roc_svg, &hist_svg, &report::ReportInputs { model: &card, command: &command, arm: &arm });
    write(&args.out.join("report.html"), html.as_bytes())?;
    println!(
        "{} exams ({} cancers, {cached} scores from the cache): AUC {} (95 % CI {}–{}, DeLong); {} → {}",
        m.n_exams,
        m.n_cancers,
        m.auc.map_or("–".into(), |a| format!("{a:.4}")),
        m.auc_ci_low.map_or("–".into(), |a| format!("{a:.4}")),
        m.auc_ci_high.map_or("–".into(), |a| format!("{a:.4}")),
        args.out.join("report.html").display(),
        if invalid.is_empty() { "ok" } else { "some files were invalid" },
    );
    Ok(if invalid.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn model_summary(dir: &Path, identity: &granska_model::contract::Identity) -> String {
    let mut s = format!("{} {} (sha256 {})\n", identity.name, identity.version, identity.sha256);
    if let Ok(card) = std::fs::read_to_string(dir.join("MODEL_CARD.md")) {
        // The card's opening: the title and its first paragraphs.
        s += &card.lines().take_while(|l| !l.starts_with("## ")).collect::<Vec<_>>().join("\n");
    }
    s
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// scores.csv from `granska eval` (study_uid,exam_score,category,extra_high,label).
    #[arg(long)]
    scores: PathBuf,
    /// Policies to compare (built-in names or TOML files); repeat the flag.
    #[arg(long = "policy", required = true)]
    policies: Vec<String>,
    /// Each radiologist's sensitivity (assumption).
    #[arg(long, default_value_t = 0.8)]
    reader_sensitivity: f64,
    /// Each radiologist's specificity (assumption).
    #[arg(long, default_value_t = 0.96)]
    reader_specificity: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn read_scores(path: &Path) -> anyhow::Result<Vec<ScoredExam>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(tables::read_scores(std::io::BufReader::new(file), path)?)
}

pub fn simulate_cmd(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    for (name, v) in
        [("--reader-sensitivity", args.reader_sensitivity), ("--reader-specificity", args.reader_specificity)]
    {
        anyhow::ensure!((0.0..=1.0).contains(&v), "{name} must be within 0–1, found {v}");
    }
    let rows = read_scores(&args.scores)?;
    let readers = Readers { sensitivity: args.reader_sensitivity, specificity: args.reader_specificity };
    let reference = simulate(&rows, &Policy::builtin("double-all")?, readers);
    let mut arms = Vec::new();
    for spec in &args.policies {
        arms.push(simulate(&rows, &load_policy(spec)?, readers));
    }
    if args.json {
        let report = outputs::SimulateReport {
            readers,
            assumptions: outputs::ASSUMPTIONS.to_owned(),
            reference: reference.clone(),
            policies: arms,
        };
        println!("{}", outputs::to_json(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} exams, {} cancers; readers: sensitivity {}, specificity {} each",
        reference.exams, reference.cancers, readers.sensitivity, readers.specificity
    );
    println!(
        "{:<22} {:>8} {:>8} {:>11} {:>10} {:>11} {:>13} {:>13}",
        "policy", "single", "double", "reads/exam", "vs double", "consensus", "cancers found", "false recalls"
    );
    for a in std::iter::once(&reference).chain(&arms) {
        println!(
            "{:<22} {:>8} {:>8} {:>11.3} {:>9.1}% {:>11.1} {:>13.1} {:>13.1}",
            format!("{} v{}", a.policy, a.policy_version),
            a.single_read,
            a.double_read,
            a.reads_per_exam,
            0.0 - a.workload_reduction * 100.0 + 0.0,
            a.expected_consensus,
            a.expected_cancers_found,
            a.expected_false_recalls
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// DICOM files of the exams (searched recursively).
    #[arg(long)]
    data: PathBuf,
    /// Exams scored at the same time.
    #[arg(long)]
    jobs: Option<usize>,
    /// Exams scored (untimed) before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Also write each exam's score as CSV (study_uid,exam_score,category), for comparisons.
    #[arg(long)]
    scores_out: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let files = collect_files(std::slice::from_ref(&args.data))?;
    let (exams, invalid) = group_exams(&files, granska_dicom::Profile::Strict);
    anyhow::ensure!(
        invalid.is_empty(),
        "{} invalid files under {} (see `granska inspect`)",
        invalid.len(),
        args.data.display()
    );
    anyhow::ensure!(!exams.is_empty(), "no exams under {}", args.data.display());
    let scorer = args.model.scorer()?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let warm: BTreeMap<_, _> = exams.iter().take(args.warmup).map(|(k, v)| (k.clone(), v.clone())).collect();
    score_exams(&scorer, warm, granska_dicom::Profile::Strict, jobs, || {});
    let views: usize = exams.values().map(Vec::len).sum();
    let n = exams.len();
    let started = std::time::Instant::now();
    let results = score_exams(&scorer, exams, granska_dicom::Profile::Strict, jobs, || {});
    let wall = started.elapsed().as_secs_f64();
    let stage = |f: fn(&granska_model::exam::Timings) -> f64| {
        Percentiles::of(results.iter().map(|r| f(&r.timings_ms)).collect())
    };
    let infer_run_total: f64 = results.iter().map(|r| r.timings_ms.infer_run).sum::<f64>() / 1e3;
    let info = scorer.engine.info();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let report = outputs::BenchReport {
        machine: outputs::Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu: cpu.clone(),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
        },
        onnxruntime: outputs::OnnxRuntime {
            library: info.library.display().to_string(),
            runtime: info.runtime.clone(),
            device: info.device.clone(),
            max_batch: info.max_batch,
            intra_threads: info.intra_threads,
        },
        model: outputs::BenchModel {
            name: scorer.model.card.identity.name.clone(),
            version: scorer.model.card.identity.version.clone(),
        },
        jobs,
        exams: n,
        views,
        wall_s: wall,
        exams_per_s: n as f64 / wall,
        views_per_s: views as f64 / wall,
        infer_run_s: infer_run_total,
        pipeline_over_inference: wall / infer_run_total.max(1e-9),
        stages_ms_per_exam: outputs::Stages {
            decode: stage(|t| t.decode),
            preprocess: stage(|t| t.preprocess),
            infer: stage(|t| t.infer),
            infer_run: stage(|t| t.infer_run),
        },
    };
    if let Some(path) = &args.scores_out {
        let rows: Vec<tables::BenchScore> = results
            .iter()
            .map(|r| tables::BenchScore {
                study_uid: r.study_uid.clone(),
                exam_score: r.exam_score,
                category: r.category,
            })
            .collect();
        let mut csv = Vec::new();
        tables::write_bench_scores(&mut csv, &rows, path)?;
        write(path, &csv)?;
    }
    if args.json {
        println!("{}", outputs::to_json(&report)?);
    } else {
        println!(
            "{n} exams, {views} views in {wall:.2} s: {:.2} exams/s, {:.1} views/s ({jobs} jobs; {} on {} cores, ONNX Runtime {})",
            n as f64 / wall,
            views as f64 / wall,
            cpu,
            report.machine.cores,
            info.runtime
        );
        let st = &report.stages_ms_per_exam;
        for (s, p) in
            [("decode", st.decode), ("preprocess", st.preprocess), ("infer", st.infer), ("infer_run", st.infer_run)]
        {
            println!("  {s:<10} p50 {:>8.1} ms  p90 {:>8.1} ms  p99 {:>8.1} ms per exam", p.p50, p.p90, p.p99);
        }
        println!("  pipeline wall time / pure inference time: {:.1}", wall / infer_run_total.max(1e-9));
    }
    Ok(ExitCode::SUCCESS)
}
