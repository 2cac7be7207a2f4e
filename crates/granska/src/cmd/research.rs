//! `granska eval` and `granska simulate`: the research toolkit over scored exams.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use granska_research::ScoredExam;
use granska_research::metrics::{metrics, roc};
use granska_research::report;
use granska_research::simulate::{Readers, simulate};
use granska_triage::Policy;
use serde_json::json;
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
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(uid), Some(cancer)) = (col("study_uid"), col("cancer")) else {
        bail!("{}: expected a header with study_uid and cancer columns, found {header:?}", path.display());
    };
    let mut labels = HashMap::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (Some(u), Some(c)) = (fields.get(uid), fields.get(cancer)) else {
            bail!("{} line {}: expected {} columns, found {}", path.display(), n + 2, header.len(), fields.len());
        };
        let value = match *c {
            "1" | "true" | "True" => true,
            "0" | "false" | "False" => false,
            other => bail!("{} line {}: cancer must be 0 or 1, found {other:?}", path.display(), n + 2),
        };
        labels.insert((*u).to_owned(), value);
    }
    Ok(labels)
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
    let mut csv = String::from("study_uid,exam_score,category,extra_high,label\n");
    for r in &rows {
        csv += &format!(
            "{},{},{},{},{}\n",
            r.study_uid,
            r.exam_score.map_or(String::new(), |s| format!("{s:.17}")),
            r.category.map_or(String::new(), |c| c.to_string()),
            u8::from(r.extra_high),
            r.label.map_or(String::new(), |l| u8::from(l).to_string()),
        );
    }
    write(&args.out.join("scores.csv"), csv.as_bytes())?;

    let m = metrics(&rows);
    let arm = simulate(&rows, &policy, Readers { sensitivity: 0.8, specificity: 0.96 });
    let metrics_json = json!({
        "n_exams": m.n_exams,
        "n_cancers": m.n_cancers,
        "n_unscored": m.n_unscored,
        "n_unlabelled": unlabelled,
        "n_invalid_files": invalid.len(),
        "auc": m.auc,
        "auc_ci_low": m.auc_ci_low,
        "auc_ci_high": m.auc_ci_high,
        "auc_ci_method": m.auc_ci_method,
        "operating_points": m.operating_points,
        "category_distribution": (1..=10).map(|c| json!({
            "category": c, "exams": m.category_counts[c - 1][0], "cancers": m.category_counts[c - 1][1], "normals": m.category_counts[c - 1][2],
        })).collect::<Vec<_>>(),
        "policy": {"name": arm.policy, "version": arm.policy_version, "single_read": arm.single_read,
                   "double_read": arm.double_read, "flagged": arm.flagged, "reads_per_exam": arm.reads_per_exam,
                   "workload_reduction": arm.workload_reduction},
        "model": {"name": identity.name, "version": identity.version, "sha256": identity.sha256},
        "command": command,
    });
    write(&args.out.join("metrics.json"), serde_json::to_string_pretty(&metrics_json)?.as_bytes())?;

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
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    anyhow::ensure!(
        header.trim() == "study_uid,exam_score,category,extra_high,label",
        "{}: expected the header of `granska eval`'s scores.csv, found {header:?}",
        path.display()
    );
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = |what: &str| anyhow::anyhow!("{} line {}: {what}", path.display(), n + 2);
        if f.len() != 5 {
            return Err(bad(&format!("expected 5 columns, found {}", f.len())));
        }
        fn opt(s: &str) -> Option<&str> {
            (!s.is_empty()).then_some(s)
        }
        rows.push(ScoredExam {
            study_uid: f[0].to_owned(),
            exam_score: opt(f[1]).map(str::parse).transpose().map_err(|_| bad("exam_score must be a number"))?,
            category: opt(f[2]).map(str::parse).transpose().map_err(|_| bad("category must be 1–10"))?,
            extra_high: f[3] == "1",
            label: opt(f[4]).map(|l| l == "1"),
        });
    }
    Ok(rows)
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
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "readers": readers,
                "assumptions": "readers independent; double reading recalls when either reader recalls (consensus upholds); unlabelled exams count as normal",
                "reference": reference,
                "policies": arms,
            }))?
        );
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

fn percentiles(mut xs: Vec<f64>) -> serde_json::Value {
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs.get(((xs.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    json!({"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "mean": mean})
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
    let stage =
        |f: fn(&granska_model::exam::Timings) -> f64| percentiles(results.iter().map(|r| f(&r.timings_ms)).collect());
    let infer_run_total: f64 = results.iter().map(|r| r.timings_ms.infer_run).sum::<f64>() / 1e3;
    let info = scorer.engine.info();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let report = json!({
        "machine": {"cores": std::thread::available_parallelism().map_or(0, |n| n.get()), "cpu": cpu, "os": std::env::consts::OS, "arch": std::env::consts::ARCH},
        "onnxruntime": {"library": info.library.display().to_string(), "runtime": info.runtime, "device": info.device,
                         "max_batch": info.max_batch, "intra_threads": info.intra_threads},
        "model": {"name": scorer.model.card.identity.name, "version": scorer.model.card.identity.version},
        "jobs": jobs,
        "exams": n,
        "views": views,
        "wall_s": wall,
        "exams_per_s": n as f64 / wall,
        "views_per_s": views as f64 / wall,
        "infer_run_s": infer_run_total,
        "pipeline_over_inference": wall / infer_run_total.max(1e-9),
        "stages_ms_per_exam": {
            "decode": stage(|t| t.decode),
            "preprocess": stage(|t| t.preprocess),
            "infer": stage(|t| t.infer),
            "infer_run": stage(|t| t.infer_run),
        },
    });
    if let Some(path) = &args.scores_out {
        let mut csv = String::from("study_uid,exam_score,category\n");
        for r in &results {
            csv += &format!(
                "{},{},{}\n",
                r.study_uid,
                r.exam_score.map_or(String::new(), |s| format!("{s:.17}")),
                r.category.map_or(String::new(), |c| c.to_string())
            );
        }
        write(path, csv.as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{n} exams, {views} views in {wall:.2} s: {:.2} exams/s, {:.1} views/s ({jobs} jobs; {} on {} cores, ONNX Runtime {})",
            n as f64 / wall,
            views as f64 / wall,
            cpu,
            report["machine"]["cores"],
            info.runtime
        );
        for s in ["decode", "preprocess", "infer", "infer_run"] {
            let p = &report["stages_ms_per_exam"][s];
            println!(
                "  {s:<10} p50 {:>8.1} ms  p90 {:>8.1} ms  p99 {:>8.1} ms per exam",
                p["p50"].as_f64().unwrap_or(0.0),
                p["p90"].as_f64().unwrap_or(0.0),
                p["p99"].as_f64().unwrap_or(0.0)
            );
        }
        println!("  pipeline wall time / pure inference time: {:.1}", wall / infer_run_total.max(1e-9));
    }
    Ok(ExitCode::SUCCESS)
}
