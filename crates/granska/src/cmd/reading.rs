//! `granska worklist`, `granska read claim|submit|release` and `granska study`: what a
//! radiologist (or an administrator) does from a terminal.

use std::process::ExitCode;

use anyhow::Context;

use granska_client::pb;
use granska_proto::{Vocabulary, name as w};
use granska_types::{self as vocab, Role};

use super::client::{Connection, runtime, status_error};
use super::output;

#[derive(Debug, clap::Args)]
pub struct WorklistArgs {
    #[command(flatten)]
    connection: Connection,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Most exams to list.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

pub fn worklist(args: WorklistArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut client = args.connection.connect(Role::Radiologist).await?.worklist();
        let mut entries = Vec::new();
        let mut token = String::new();
        while entries.len() < args.limit {
            let page_size = (args.limit - entries.len()).min(1000) as u32;
            let page = client
                .list(pb::ListRequest { page_size, page_token: token })
                .await
                .map_err(|s| status_error("Worklist.List", s))?
                .into_inner();
            entries.extend(page.entries);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        entries.truncate(args.limit);
        if args.json {
            let rows: Vec<output::WorklistEntry> = entries.iter().map(Into::into).collect();
            println!("{}", output::to_json(&rows)?);
            return Ok(ExitCode::SUCCESS);
        }
        if entries.is_empty() {
            println!("the worklist is empty");
        }
        println!("{:>3}  {:<46} {:<10} {:>3} {:<6} {:<24} tasks", "#", "study", "status", "cat", "mode", "flags");
        for (i, e) in entries.iter().enumerate() {
            let tasks: Vec<String> = e.tasks.iter().map(|t| task_text(t.kind, t.task_id, t.state)).collect();
            println!(
                "{:>3}  {:<46} {:<10} {:>3} {:<6} {:<24} {}{}",
                i + 1,
                e.study_instance_uid,
                w::<vocab::ExamStatus>(e.status),
                e.category.map_or("-".into(), |c| c.to_string()),
                w::<vocab::ReadingMode>(e.reading_mode),
                flags(&e.flags),
                tasks.join(" "),
                if e.overdue { "  OVERDUE" } else { "" },
            );
            if !e.reason.is_empty() {
                println!("     reason: {}", e.reason);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    #[command(subcommand)]
    action: ReadAction,
}

#[derive(Debug, clap::Subcommand)]
enum ReadAction {
    /// Claim the next task available to you (prints `null` with --json when there is none).
    Claim {
        #[command(flatten)]
        connection: Connection,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Submit your read of a claimed task.
    Submit {
        #[command(flatten)]
        connection: Connection,
        /// The task id from `read claim`.
        #[arg(long)]
        task: i64,
        /// recall or no-recall.
        #[arg(long, value_parser = parse_decision)]
        decision: vocab::ReadDecision,
        /// Optional free-text note.
        #[arg(long)]
        note: Option<String>,
        /// Idempotency key; a retry with the same id changes nothing (default: random).
        #[arg(long)]
        request_id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Return a claimed task to the queue.
    Release {
        #[command(flatten)]
        connection: Connection,
        /// The task id.
        #[arg(long)]
        task: i64,
    },
}

fn random_request_id() -> String {
    granska_client::new_request_id()
}

pub fn read(args: ReadArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match args.action {
            ReadAction::Claim { connection, json } => {
                let mut client = connection.connect(Role::Radiologist).await?.worklist();
                let task = client
                    .claim_next(pb::ClaimNextRequest {})
                    .await
                    .map_err(|s| status_error("Worklist.ClaimNext", s))?
                    .into_inner()
                    .task;
                match (&task, json) {
                    (Some(t), true) => println!("{}", output::to_json(&output::ClaimedTask::from(t))?),
                    (None, true) => println!("null"),
                    (Some(t), false) => {
                        println!(
                            "claimed task {} ({} read) of study {}: {} category {}, {} reading{}{}",
                            t.task_id,
                            w::<vocab::TaskKind>(t.kind),
                            t.study_instance_uid,
                            w::<vocab::ExamStatus>(t.status),
                            t.category.map_or("-".into(), |c| c.to_string()),
                            w::<vocab::ReadingMode>(t.reading_mode),
                            if t.flags.is_empty() { String::new() } else { format!(", flags {}", flags(&t.flags)) },
                            if t.reason.is_empty() { String::new() } else { format!(", reason: {}", t.reason) },
                        );
                        for r in &t.prior_reads {
                            println!(
                                "  {} read by {}: {}{}",
                                w::<vocab::TaskKind>(r.kind),
                                r.reader,
                                w::<vocab::ReadDecision>(r.decision),
                                if r.note.is_empty() { String::new() } else { format!(" ({})", r.note) }
                            );
                        }
                    }
                    (None, false) => println!("no task available to you"),
                }
                Ok(ExitCode::SUCCESS)
            }
            ReadAction::Submit { connection, task, decision, note, request_id, json } => {
                let mut client = connection.connect(Role::Radiologist).await?.worklist();
                let r = client
                    .submit_read(pb::SubmitReadRequest {
                        task_id: task,
                        decision: decision.to_wire(),
                        note: note.unwrap_or_default(),
                        request_id: request_id.unwrap_or_else(random_request_id),
                    })
                    .await
                    .map_err(|s| status_error("Worklist.SubmitRead", s))?
                    .into_inner();
                if json {
                    println!("{}", output::to_json(&output::Submitted::from(&r))?);
                } else {
                    match vocab::AfterRead::from_wire(r.next) {
                        Ok(vocab::AfterRead::Final) => println!(
                            "read submitted; final outcome: {} ({})",
                            w::<vocab::ReadDecision>(r.outcome),
                            w::<vocab::OutcomeVia>(r.outcome_via)
                        ),
                        Ok(vocab::AfterRead::Consensus) => {
                            println!("read submitted; the reads disagree: the exam goes to consensus")
                        }
                        Ok(vocab::AfterRead::AwaitingOtherRead) | Err(_) => {
                            println!("read submitted; waiting for the other read")
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            ReadAction::Release { connection, task } => {
                let mut client = connection.connect(Role::Radiologist).await?.worklist();
                client
                    .release(pb::ReleaseRequest { task_id: task })
                    .await
                    .map_err(|s| status_error("Worklist.Release", s))?;
                println!("task {task} released");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

#[derive(Debug, clap::Args)]
pub struct StudyArgs {
    #[command(flatten)]
    connection: Connection,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Study Instance UID.
    study_uid: String,
}

pub fn study(args: StudyArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut client = args.connection.connect(Role::Researcher).await?.ingest();
        let s = client
            .get_study(pb::GetStudyRequest { study_instance_uid: args.study_uid.clone() })
            .await
            .map_err(|s| status_error("Ingest.GetStudy", s))?
            .into_inner();
        if args.json {
            println!("{}", output::to_json(&output::Study::from(&s))?);
        } else {
            println!(
                "study {} — {} ({} views{})",
                s.study_instance_uid,
                w::<vocab::StudyState>(s.state),
                s.views.len(),
                match w::<vocab::Completion>(s.completion) {
                    c if c.is_empty() => String::new(),
                    c => format!(", complete: {c}"),
                }
            );
            for v in &s.views {
                println!(
                    "  {}-{:<5} {}",
                    w::<vocab::Laterality>(v.laterality),
                    w::<vocab::View>(v.view),
                    v.sop_instance_uid
                );
            }
            if let Some(sc) = &s.scoring {
                println!(
                    "scoring: {} score {} category {}{}{}",
                    w::<vocab::ExamStatus>(sc.status),
                    sc.exam_score.map_or("-".into(), |x| format!("{x:.4}")),
                    sc.category.map_or("-".into(), |c| c.to_string()),
                    if sc.extra_high { " extra-high" } else { "" },
                    if sc.reason.is_empty() { String::new() } else { format!(" — {}", sc.reason) },
                );
            }
            if let Some(r) = &s.routing {
                println!(
                    "routing: {} reading ({} v{}){}",
                    w::<vocab::ReadingMode>(r.reading_mode),
                    r.policy_name,
                    r.policy_version,
                    if r.flags.is_empty() { String::new() } else { format!(", flags {}", flags(&r.flags)) }
                );
            }
            if let Some(a) = &s.attention {
                println!(
                    "{}: {} failed attempt(s), last: {}",
                    if a.parked {
                        "NEEDS ATTENTION (not retried until `granska retry` or a new instance)"
                    } else {
                        "failing"
                    },
                    a.attempts,
                    a.reason
                );
            }
            if let Some(r) = &s.reading {
                let tasks: Vec<String> = r.tasks.iter().map(|t| task_text(t.kind, t.task_id, t.state)).collect();
                println!(
                    "reading: {}{}",
                    tasks.join(" "),
                    match w::<vocab::ReadDecision>(r.outcome) {
                        o if o.is_empty() => String::new(),
                        o => format!(" → {o} ({})", w::<vocab::OutcomeVia>(r.outcome_via)),
                    }
                );
                for t in r.tasks.iter().filter(|t| !t.reader.is_empty()) {
                    println!(
                        "read: {} by {}: {}{}",
                        w::<vocab::TaskKind>(t.kind),
                        t.reader,
                        w::<vocab::ReadDecision>(t.decision),
                        if t.note.is_empty() { String::new() } else { format!(" — {}", t.note) }
                    );
                }
            }
            for r in &s.reports {
                println!(
                    "report: {} {}{} — {} attempt(s){}",
                    r.sop_instance_uid,
                    w::<vocab::ReportState>(r.state),
                    if r.destination.is_empty() { String::new() } else { format!(" → {}", r.destination) },
                    r.attempts,
                    if r.last_status.is_empty() { String::new() } else { format!(", last status {}", r.last_status) }
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `granska report`: one result report (the exam's Mammography CAD SR) written to a file.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    connection: Connection,
    /// Study Instance UID.
    study_uid: String,
    /// Which report (SOP Instance UID); default the newest.
    #[arg(long)]
    sop_instance_uid: Option<String>,
    /// Where to write the DICOM file.
    #[arg(short, long)]
    output: std::path::PathBuf,
}

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut client = args.connection.connect(Role::Admin).await?.ingest();
        let answer = client
            .get_report(pb::GetReportRequest {
                study_instance_uid: args.study_uid.clone(),
                sop_instance_uid: args.sop_instance_uid.clone().unwrap_or_default(),
            })
            .await
            .map_err(|s| status_error("Ingest.GetReport", s))?
            .into_inner();
        // The SR names the patient: owner-only, like everything holding patient data.
        granska_types::private::precreate(&args.output)
            .and_then(|()| std::fs::OpenOptions::new().write(true).truncate(true).open(&args.output))
            .and_then(|mut file| std::io::Write::write_all(&mut file, &answer.dicom))
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        let r = answer.report.unwrap_or_default();
        eprintln!(
            "wrote {} ({} bytes): report {} ({})",
            args.output.display(),
            answer.dicom.len(),
            r.sop_instance_uid,
            w::<vocab::ReportState>(r.state)
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `kind#id:state` of a task, in the domain's words.
fn task_text(kind: i32, task_id: i64, state: i32) -> String {
    format!("{}#{task_id}:{}", w::<vocab::TaskKind>(kind), w::<vocab::TaskState>(state))
}

/// A repeated `Flag` field as `extra-high,incomplete`.
fn flags(values: &[i32]) -> String {
    values.iter().map(|&f| w::<vocab::Flag>(f)).collect::<Vec<_>>().join(",")
}

fn parse_decision(text: &str) -> Result<vocab::ReadDecision, String> {
    text.parse().map_err(|_| format!("expected recall or no-recall, found {text:?}"))
}
