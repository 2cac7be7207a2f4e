//! `granska load`: the load and soak driver. `granska load run` sends exams from concurrent
//! uploaders (synthetic phantoms made unique per exam, optionally corrupted like a hostile
//! PACS's) while concurrent readers claim and submit, and reports client-side latency
//! percentiles, throughput, errors by status and the server's RSS. With `--journal DIR` it
//! appends every acknowledged instance and every successful submit to JSON Lines files, which
//! `granska load verify` later checks against the server (the soak's proof that nothing
//! acknowledged was lost). It tolerates the server going away: calls fail, are counted, and
//! are retried after a pause, so a soak can kill and restart the server under it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use granska_client::{Client, pb};
use granska_proto::{Vocabulary, name};
use granska_types::StudyState;
use granska_types::auth::TokensFile;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_stream::StreamExt;

use super::output;

/// `granska load`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: LoadCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LoadCommand {
    /// Upload and read concurrently for a while; print latency percentiles and RSS.
    Run(RunArgs),
    /// Check a journal against the server: every acknowledged instance stored, every exam
    /// routed or needing attention, every successful submit recorded.
    Verify(VerifyArgs),
    /// Fill the configured store's worklist with synthetic routed exams (benchmarks of
    /// claiming over a long queue); writes the store directly, with no server running.
    Seed(SeedArgs),
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// Configuration file: `[store]` (and `server.data_dir` for SQLite) say which store.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Exams to route (categories 1–10 in turn, under the configured policy).
    #[arg(long, default_value_t = 100_000)]
    exams: u64,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Server URL; repeat it for several replicas (uploader and reader `i` use the `i`-th,
    /// round robin).
    #[arg(long = "server", default_value = "http://127.0.0.1:50051")]
    servers: Vec<String>,
    /// Tokens file (`[[tokens]]` principal/role/token): the pacs token uploads, each
    /// radiologist token is one reader.
    #[arg(long)]
    tokens: PathBuf,
    /// Concurrent uploaders (one Upload stream per exam each).
    #[arg(long, default_value_t = 4)]
    uploaders: usize,
    /// Concurrent readers (at most the number of radiologist tokens).
    #[arg(long, default_value_t = 4)]
    readers: usize,
    /// How long to run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Exam numbers start here (give each run its own range so exams are new).
    #[arg(long, default_value_t = 0)]
    first_exam: u64,
    /// Phantom size: small (512×427, 0.4 MB a view) or full (2294×1914, 8.8 MB a view).
    #[arg(long, default_value = "small", value_parser = ["small", "full"])]
    size: String,
    /// Percent of instances corrupted (bytes flipped, truncated) as a hostile PACS would send.
    #[arg(long, default_value_t = 0)]
    corrupt_percent: u32,
    /// Sample this process's RSS (the server's pid) at start, middle and end.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Append acknowledged instances and successful submits here (JSON Lines).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Write the report as JSON here too.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// Tokens file with an admin token.
    #[arg(long)]
    tokens: PathBuf,
    /// The journal directory written by `granska load run --journal`.
    #[arg(long)]
    journal: PathBuf,
    /// How long to wait for every exam to be routed (scoring may still be catching up).
    #[arg(long, default_value_t = 300)]
    wait_s: u64,
}

fn tokens(path: &Path) -> anyhow::Result<TokensFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
}

/// A small deterministic generator (splitmix64): no dependency, reproducible corruption.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Template exams (generated once) whose UIDs are rewritten per exam number.
struct Templates {
    exams: Vec<(Vec<String>, Vec<Vec<u8>>)>, // (UIDs to rewrite, the four files)
}

impl Templates {
    fn new(count: u64, size: granska_phantom::Size) -> Templates {
        let options = granska_phantom::Options { size, ..Default::default() };
        let exams = (0..count)
            .map(|i| {
                let exam = granska_phantom::generate_exam(9_100, i, &options);
                let files = (0..4)
                    .map(|v| {
                        let mut bytes = Vec::new();
                        granska_phantom::to_dicom(&exam, v).write_all(&mut bytes).expect("in-memory write");
                        bytes
                    })
                    .collect();
                let mut uids = vec![exam.study_uid.clone(), exam.series_uid.clone()];
                uids.extend(exam.views.iter().map(|v| v.sop_instance_uid.clone()));
                (uids, files)
            })
            .collect();
        Templates { exams }
    }

    /// Exam `n`: a template with every UID's last 14 digits replaced by `n` and a UID tag, so
    /// each exam number gives new, valid, same-length UIDs. Returns (study UID, files).
    fn exam(&self, n: u64) -> (String, Vec<Vec<u8>>) {
        let (uids, files) = &self.exams[(n % self.exams.len() as u64) as usize];
        let renamed: Vec<(Vec<u8>, Vec<u8>)> = uids
            .iter()
            .enumerate()
            .map(|(k, uid)| {
                let keep = uid.len().saturating_sub(14);
                let new = format!("{}{:012}{:02}", &uid[..keep], n % 1_000_000_000_000, k);
                (uid.as_bytes().to_vec(), new.into_bytes())
            })
            .collect();
        let files = files
            .iter()
            .map(|f| {
                let mut f = f.clone();
                for (old, new) in &renamed {
                    let mut at = 0;
                    while let Some(p) = f[at..].windows(old.len()).position(|w| w == old.as_slice()) {
                        f[at + p..at + p + old.len()].copy_from_slice(new);
                        at += p + old.len();
                    }
                }
                f
            })
            .collect();
        (String::from_utf8(renamed[0].1.clone()).expect("ascii"), files)
    }
}

fn corrupt(bytes: &mut Vec<u8>, rng: &mut Rng) {
    match rng.below(4) {
        0 => {
            let keep = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(keep);
        }
        _ => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
        }
    }
}

#[derive(Default)]
struct Stats {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<String, u64>,
    counts: BTreeMap<&'static str, u64>,
}

impl Stats {
    fn latency(&mut self, op: &'static str, seconds: f64) {
        self.latencies.entry(op).or_default().push(seconds * 1e3);
    }
    fn error(&mut self, op: &str, status: &tonic::Status) {
        *self.errors.entry(format!("{op}: {:?}", status.code())).or_default() += 1;
    }
    fn count(&mut self, what: &'static str, n: u64) {
        *self.counts.entry(what).or_default() += n;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The resident set size of `pid`, MB (from /proc).
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb / 1024.0)
}

struct Journal {
    acked: Mutex<std::fs::File>,
    submits: Mutex<std::fs::File>,
}

impl Journal {
    fn open(dir: &Path) -> anyhow::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .with_context(|| format!("cannot open {}", dir.join(name).display()))
        };
        Ok(Journal { acked: Mutex::new(open("acked.jsonl")?), submits: Mutex::new(open("submits.jsonl")?) })
    }
    fn write(file: &Mutex<std::fs::File>, line: &impl Serialize) {
        let Ok(line) = output::to_json_line(line) else { return };
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line (O_APPEND): a line is whole or absent even if this process dies.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        LoadCommand::Run(a) => run_load(a),
        LoadCommand::Verify(a) => verify(a),
        LoadCommand::Seed(a) => seed(a),
    }
}

fn run_load(args: RunArgs) -> anyhow::Result<ExitCode> {
    let tokens = tokens(&args.tokens)?;
    let pacs =
        tokens.tokens.iter().find(|t| t.role == "pacs" || t.role == "admin").context("no pacs token")?.token.clone();
    let readers: Vec<String> =
        tokens.tokens.iter().filter(|t| t.role == "radiologist").map(|t| t.token.clone()).take(args.readers).collect();
    anyhow::ensure!(
        readers.len() == args.readers,
        "{} readers asked, {} radiologist tokens",
        args.readers,
        readers.len()
    );
    eprintln!("load: preparing template exams");
    let size = if args.size == "full" { granska_phantom::Size::Full } else { granska_phantom::Size::Small };
    let templates = Arc::new(Templates::new(8, size));
    let journal = args.journal.as_deref().map(Journal::open).transpose()?.map(Arc::new);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    anyhow::ensure!(!args.servers.is_empty(), "at least one --server");
    let shared = Shared {
        servers: args.servers.clone(),
        stats: Arc::new(Mutex::new(Stats::default())),
        stop: Arc::new(AtomicBool::new(false)),
        journal,
    };
    let next_exam = Arc::new(AtomicU64::new(args.first_exam));
    let rss_start = args.server_pid.and_then(rss_mb);
    let started = Instant::now();
    let rss_mid = runtime.block_on(async {
        let mut tasks = Vec::new();
        for u in 0..args.uploaders {
            let uploader = Uploader {
                shared: shared.clone(),
                templates: templates.clone(),
                next: next_exam.clone(),
                corrupt_percent: args.corrupt_percent,
            };
            tasks.push(tokio::spawn(uploader.run(pacs.clone(), u)));
        }
        for (r, token) in readers.iter().enumerate() {
            tasks.push(tokio::spawn(reader(shared.clone(), token.clone(), r)));
        }
        run_for(args.seconds, args.server_pid, &shared.stop, tasks).await
    });
    let seconds = started.elapsed().as_secs_f64();
    let rss_end = args.server_pid.and_then(rss_mb);
    let stats = shared.stats();
    let report = report(&args, &stats, seconds, output::RssSamples { start: rss_start, middle: rss_mid, end: rss_end });
    if let Some(path) = &args.json_out {
        std::fs::write(path, output::to_json(&report)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What every load task shares with the others and with `run_load`.
#[derive(Clone)]
struct Shared {
    /// The servers' URLs (task `i` uses the `i`-th, round robin).
    servers: Vec<String>,
    /// Latencies, counts and errors of every task.
    stats: Arc<Mutex<Stats>>,
    /// Set when the run is over: each task stops after its call in flight.
    stop: Arc<AtomicBool>,
    /// Where acknowledged instances and successful submits are appended, if anywhere.
    journal: Option<Arc<Journal>>,
}

impl Shared {
    fn server(&self, i: usize) -> &str {
        &self.servers[i % self.servers.len()]
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The statistics, even if a task panicked while holding them.
    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Lets the tasks run for `seconds`, sampling the server's RSS halfway; then stops them and
/// waits for them. Returns the halfway sample.
async fn run_for(
    seconds: u64,
    server_pid: Option<u32>,
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
) -> Option<f64> {
    tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
    let mid = server_pid.and_then(rss_mb);
    tokio::time::sleep(Duration::from_secs(seconds - seconds / 2)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        // Each task ends after its call in flight: bounded by the client timeout.
        let _ = tokio::time::timeout(Duration::from_secs(130), t).await;
    }
    mid
}

type IngestClient = pb::ingest_client::IngestClient<granska_client::Authed>;
type WorklistClient = pb::worklist_client::WorklistClient<granska_client::Authed>;

/// One uploader: sends exam after exam (numbers shared with the other uploaders), each on its
/// own Upload stream, until the run stops.
struct Uploader {
    shared: Shared,
    templates: Arc<Templates>,
    /// The next exam number, taken by whichever uploader comes first.
    next: Arc<AtomicU64>,
    /// Percent of instances corrupted before they are sent.
    corrupt_percent: u32,
}

impl Uploader {
    /// Uploader number `u`, uploading with `token`.
    async fn run(self, token: String, u: usize) -> anyhow::Result<()> {
        let mut client = Client::connect_lazy(self.shared.server(u), &token, Duration::from_secs(120))?.ingest();
        let mut rng = Rng(0xC0FFEE ^ u as u64);
        while !self.shared.stopped() {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let (study, mut files) = self.templates.exam(n);
            let mut corrupted = 0;
            for f in &mut files {
                if rng.below(100) < u64::from(self.corrupt_percent) {
                    corrupt(f, &mut rng);
                    corrupted += 1;
                }
            }
            // Re-send what was not acknowledged until all is (or the run ends), as a PACS does.
            let mut pending: Vec<usize> = (0..files.len()).collect();
            while !pending.is_empty() && !self.shared.stopped() {
                let chunks = upload_chunks(n, &files, &pending);
                let t = Instant::now();
                let outcome = upload(&mut client, chunks).await;
                if self.record(outcome, t, &mut pending) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            let _ = (study, corrupted);
        }
        Ok(())
    }

    /// Counts (and journals) what one Upload stream answered, striking the answered views
    /// from `pending`. Returns whether to back off before trying again (the call failed).
    fn record(
        &self,
        outcome: Result<Vec<pb::InstanceResult>, tonic::Status>,
        started: Instant,
        pending: &mut Vec<usize>,
    ) -> bool {
        let mut s = self.shared.stats();
        let answered = match outcome {
            Ok(answered) => answered,
            Err(status) => {
                s.error("upload", &status);
                return true;
            }
        };
        s.latency("upload", started.elapsed().as_secs_f64());
        for r in answered {
            let v: usize = r.instance_ref.rsplit('-').next().and_then(|x| x.parse().ok()).unwrap_or(usize::MAX);
            pending.retain(|&p| p != v);
            match r.rejection {
                None => {
                    s.count(
                        if r.outcome == pb::instance_result::Outcome::Duplicate as i32 {
                            "duplicate"
                        } else {
                            "stored"
                        },
                        1,
                    );
                    if let Some(j) = &self.shared.journal {
                        Journal::write(&j.acked, &output::AckedLine::from(&r));
                    }
                }
                Some(_) => s.count("rejected", 1),
            }
        }
        false
    }
}

/// The chunks (at most 1 MiB each) of exam `n`'s `pending` views; view `v` is instance `n-v`.
fn upload_chunks(n: u64, files: &[Vec<u8>], pending: &[usize]) -> Vec<pb::UploadChunk> {
    pending
        .iter()
        .flat_map(|&v| {
            let parts: Vec<&[u8]> =
                if files[v].is_empty() { vec![&[][..]] } else { files[v].chunks(1 << 20).collect() };
            let last = parts.len() - 1;
            parts
                .into_iter()
                .enumerate()
                .map(move |(i, p)| pb::UploadChunk {
                    instance_ref: format!("{n}-{v}"),
                    data: p.to_vec(),
                    last: i == last,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Sends `chunks` on one Upload stream and collects every result.
async fn upload(
    client: &mut IngestClient,
    chunks: Vec<pb::UploadChunk>,
) -> Result<Vec<pb::InstanceResult>, tonic::Status> {
    let mut results = client.upload(tokio_stream::iter(chunks)).await?.into_inner();
    let mut answered = Vec::new();
    while let Some(r) = results.next().await {
        answered.push(r?);
    }
    Ok(answered)
}

/// Reader number `r`, reading with `token`: claims the next task and submits a decision (one
/// in ten a recall) until the run stops.
async fn reader(shared: Shared, token: String, r: usize) -> anyhow::Result<()> {
    let mut client = Client::connect_lazy(shared.server(r), &token, Duration::from_secs(120))?.worklist();
    let mut rng = Rng(0xBEEF ^ r as u64);
    let mut seq = 0u64;
    while !shared.stopped() {
        let Some(task) = claim(&mut client, &shared).await else { continue };
        seq += 1;
        let request_id = format!("load-{r}-{seq}-{}", rng.next());
        let decision = if rng.below(10) == 0 { pb::ReadDecision::Recall } else { pb::ReadDecision::NoRecall };
        submit(&mut client, &shared, &task, decision, request_id).await;
    }
    Ok(())
}

/// Claims the next task; `None` (after a pause) when the call failed or nothing was waiting.
async fn claim(client: &mut WorklistClient, shared: &Shared) -> Option<pb::ClaimedTask> {
    let t = Instant::now();
    let task = match client.claim_next(pb::ClaimNextRequest {}).await {
        Ok(c) => {
            shared.stats().latency("claim_next", t.elapsed().as_secs_f64());
            c.into_inner().task
        }
        Err(status) => {
            shared.stats().error("claim_next", &status);
            tokio::time::sleep(Duration::from_millis(300)).await;
            return None;
        }
    };
    if task.is_none() {
        shared.stats().count("claim_empty", 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    task
}

/// Submits `decision` for `task`, retrying with the same request id (idempotent) until it is
/// answered; a transport failure while the run goes on is retried, any other is given up.
async fn submit(
    client: &mut WorklistClient,
    shared: &Shared,
    task: &pb::ClaimedTask,
    decision: pb::ReadDecision,
    request_id: String,
) {
    loop {
        let t = Instant::now();
        let submitted = client
            .submit_read(pb::SubmitReadRequest {
                task_id: task.task_id,
                decision: decision as i32,
                note: String::new(),
                request_id: request_id.clone(),
            })
            .await;
        let retry = {
            let mut s = shared.stats();
            match submitted {
                Ok(_) => {
                    s.latency("submit_read", t.elapsed().as_secs_f64());
                    s.count("reads", 1);
                    if let Some(j) = &shared.journal {
                        let line = output::SubmitLine {
                            task_id: task.task_id,
                            study: task.study_instance_uid.clone(),
                            request_id: request_id.clone(),
                        };
                        Journal::write(&j.submits, &line);
                    }
                    false
                }
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::Unknown
                            | tonic::Code::Cancelled
                            | tonic::Code::DeadlineExceeded
                    ) && !shared.stopped() =>
                {
                    s.error("submit_read", &status);
                    true
                }
                Err(status) => {
                    // e.g. the lease expired while the server was down: not a loss.
                    s.error("submit_read", &status);
                    false
                }
            }
        };
        if !retry {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Prints the run's table of latencies per operation, its counts, errors and the server's RSS;
/// returns the same as the JSON report.
fn report(args: &RunArgs, stats: &Stats, seconds: f64, rss: output::RssSamples) -> output::LoadReport {
    let mut ops = BTreeMap::new();
    println!("{:<12} {:>8} {:>10} {:>10} {:>10} {:>10}", "op", "calls", "per s", "p50 ms", "p99 ms", "max ms");
    for (op, lat) in &stats.latencies {
        let mut sorted = lat.clone();
        sorted.sort_by(f64::total_cmp);
        let (p50, p99, max) =
            (percentile(&sorted, 50.0), percentile(&sorted, 99.0), sorted.last().copied().unwrap_or(f64::NAN));
        println!(
            "{op:<12} {:>8} {:>10.1} {p50:>10.1} {p99:>10.1} {max:>10.1}",
            sorted.len(),
            sorted.len() as f64 / seconds
        );
        ops.insert(
            (*op).to_owned(),
            output::OpLatency {
                calls: sorted.len(),
                per_s: sorted.len() as f64 / seconds,
                p50_ms: p50,
                p99_ms: p99,
                max_ms: max,
            },
        );
    }
    println!("counts: {:?}", stats.counts);
    println!("errors: {:?}", stats.errors);
    if args.server_pid.is_some() {
        println!("server RSS MB: start {:?}, middle {:?}, end {:?}", rss.start, rss.middle, rss.end);
    }
    output::LoadReport {
        seconds,
        uploaders: args.uploaders,
        readers: args.readers,
        corrupt_percent: args.corrupt_percent,
        ops,
        counts: stats.counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        errors: stats.errors.clone(),
        rss_mb: rss,
    }
}

fn read_jsonl<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line cut by a kill of the load driver itself is not a record.
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let tokens = tokens(&args.tokens)?;
    let admin = tokens.tokens.iter().find(|t| t.role == "admin").context("no admin token")?.token.clone();
    let acked: Vec<output::AckedLine> = read_jsonl(&args.journal.join("acked.jsonl"))?;
    let submits: Vec<output::SubmitLine> = read_jsonl(&args.journal.join("submits.jsonl"))?;
    let mut by_study: HashMap<String, BTreeSet<String>> = HashMap::new();
    for a in &acked {
        by_study.entry(a.study.clone()).or_default().insert(a.sop.clone());
    }
    let runtime = super::client::runtime()?;
    runtime.block_on(async move {
        let mut client = Client::connect_lazy(&args.server, &admin, Duration::from_secs(120))?.ingest();
        let deadline = Instant::now() + Duration::from_secs(args.wait_s);
        let mut problems = Vec::new();
        let (mut routed, mut attention) = (0u64, 0u64);
        let mut studies: HashMap<String, pb::Study> = HashMap::new();
        for (study, sops) in &by_study {
            let s = loop {
                match client.get_study(pb::GetStudyRequest { study_instance_uid: study.clone() }).await {
                    Ok(s)
                        if matches!(
                            StudyState::from_wire(s.get_ref().state),
                            Ok(StudyState::Routed | StudyState::NeedsAttention)
                        ) =>
                    {
                        break Some(s.into_inner());
                    }
                    Ok(s) if Instant::now() > deadline => {
                        problems.push(format!(
                            "study {study} still {} after {} s",
                            name::<StudyState>(s.get_ref().state),
                            args.wait_s
                        ));
                        break Some(s.into_inner());
                    }
                    Err(e) if e.code() == tonic::Code::NotFound => {
                        problems.push(format!("study {study}: acknowledged instances but the server does not know it"));
                        break None;
                    }
                    Err(e) if Instant::now() > deadline => {
                        problems.push(format!("study {study}: {e}"));
                        break None;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            };
            let Some(s) = s else { continue };
            match StudyState::from_wire(s.state) {
                Ok(StudyState::Routed) => routed += 1,
                Ok(StudyState::NeedsAttention) => attention += 1,
                Ok(StudyState::Receiving | StudyState::Complete) | Err(_) => {}
            }
            let have: BTreeSet<&str> = s.views.iter().map(|v| v.sop_instance_uid.as_str()).collect();
            for sop in sops {
                if !have.contains(sop.as_str()) {
                    problems.push(format!("study {study}: acknowledged instance {sop} is missing"));
                }
            }
            studies.insert(study.clone(), s);
        }
        let mut reads_found = 0u64;
        for sub in &submits {
            let (task, study) = (sub.task_id, sub.study.as_str());
            let s = match studies.get(study) {
                Some(s) => s.clone(),
                None => client.get_study(pb::GetStudyRequest { study_instance_uid: study.to_owned() }).await?.into_inner(),
            };
            let done = s.reading.as_ref().is_some_and(|r| r.tasks.iter().any(|t| t.task_id == task && t.state == pb::TaskState::Done as i32));
            if done {
                reads_found += 1;
            } else {
                problems.push(format!("study {study}: successful submit of task {task} is not recorded as done"));
            }
        }
        println!(
            "verify: {} acknowledged instances of {} studies ({routed} routed, {attention} need attention), {} successful submits ({reads_found} found)",
            acked.len(),
            by_study.len(),
            submits.len()
        );
        for p in &problems {
            println!("problem: {p}");
        }
        Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

/// `granska load seed`: routes `exams` synthetic exams into the configured store in batches of
/// 1,000, as scoring would (masai-like categories in turn), for benchmarks of a long queue.
fn seed(args: SeedArgs) -> anyhow::Result<ExitCode> {
    let config = granska_server::Config::load(args.config.as_deref())?;
    let (policy, _) = granska_server::load_policy(&config)?;
    let options = granska_worklist::StoreOptions::default();
    let stores = granska_server::stores::open(&config, options, "seed")?;
    let bar = super::progress_bar(args.exams, "seeding");
    let started = Instant::now();
    let base = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let mut n = 0;
    while n < args.exams {
        let batch: Vec<_> = (n..(n + 1000).min(args.exams))
            .map(|i| {
                let category = granska_triage::Category::new((i % 10 + 1) as u8).expect("1–10");
                let assessment = granska_triage::Assessment::Scored { category, extra_high: i % 100 == 99 };
                let decision = policy.decide(&assessment);
                granska_worklist::model::RouteInput {
                    study_uid: format!("2.25.{}{:012}", base, i),
                    waiting_since_ms: base - 3_600_000 + i as i64,
                    status: granska_types::ExamStatus::Scored,
                    model: None,
                    raw_score: Some(f64::from(category.get()) / 10.0 - 0.05),
                    category: Some(category.get()),
                    extra_high: i % 100 == 99,
                    policy: policy.id(),
                    decision,
                }
            })
            .collect();
        stores.worklist.route_many(&batch).context("routing the seeded exams")?;
        n += batch.len() as u64;
        bar.set_position(n);
    }
    bar.finish_and_clear();
    eprintln!("seed: {} exams routed in {:.1} s", args.exams, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
