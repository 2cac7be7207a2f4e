//! The service as a user runs it: `granska serve` as a process, driven by the CLI clients
//! (the README quickstart), and killed with SIGKILL mid-upload then restarted.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use granska_server::proto::v1 as pb;
use tokio_stream::StreamExt;

use super::{granska, phantoms, run_ok};

/// A server process, killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct Server(Child);

impl Server {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `granska serve` on port 0 with `data_dir`; returns the process and its gRPC and metrics
/// addresses, parsed from its log.
fn serve(data_dir: &Path) -> (Server, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_granska"))
        .arg("serve")
        .current_dir(super::workspace_root())
        .env("GRANSKA__SERVER__DATA_DIR", data_dir)
        .env("GRANSKA__SERVER__LISTEN", "127.0.0.1:0")
        .env("GRANSKA__SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .env("GRANSKA__INGEST__QUIET_PERIOD_S", "2")
        .env("GRANSKA__MODEL__THREADS", "1")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("granska serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut grpc, mut metrics) = (None, None);
    let started = Instant::now();
    while grpc.is_none() {
        let line = lines.next().expect("serve keeps logging until it listens").unwrap();
        let plain = strip_ansi(&line);
        let address = plain.split("address=").nth(1).map(|a| a.split_whitespace().next().unwrap().to_owned());
        if plain.contains("metrics at /metrics") {
            metrics = address;
        } else if plain.contains("granska serving") {
            grpc = address;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "serve did not start");
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), format!("http://{}", grpc.unwrap()), metrics.expect("metrics address logged first"))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_ok(args)).unwrap_or_else(|e| panic!("granska {args:?}: not JSON: {e}"))
}

fn wait_for_worklist(server: &str, tokens: &str, n: usize) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let list = json(&["worklist", "--server", server, "--tokens-file", tokens, "--json"]);
        if list.as_array().unwrap().len() == n {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "worklist has {} of {n} exams",
            list.as_array().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The README quickstart: serve, phantoms, push, worklist; then a reader's claim and submit,
/// the study, the audit log and the metrics.
#[test]
fn quickstart_serve_push_worklist_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("granska-data");
    let (mut server, url, metrics) = serve(&data);
    let tokens = data.join("tokens.toml");
    let mode = std::fs::metadata(&tokens).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600, "tokens.toml is private");
    let t = tokens.to_str().unwrap();

    let exams = dir.path().join("phantoms");
    phantoms(&exams, 6, 31, &[]);
    let pushed = json(&["push", "--server", &url, "--tokens-file", t, "--json", exams.to_str().unwrap()]);
    let outcomes: Vec<&str> = pushed.as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["stored"; 24]);
    let list = wait_for_worklist(&url, t, 6);
    for entry in list.as_array().unwrap() {
        for key in ["study_uid", "status", "category", "reading_mode", "flags", "tasks"] {
            assert!(entry.get(key).is_some(), "worklist entry without {key}: {entry}");
        }
        let tasks = entry["tasks"].as_array().unwrap();
        let double = entry["reading_mode"] == "double";
        assert_eq!(tasks.len(), if double { 2 } else { 1 });
        assert!(tasks.iter().all(|t| t["kind"].is_string() && t["state"] == "queued"));
    }
    // Priority: flagged first, then higher category.
    let cats: Vec<(bool, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["flags"].as_array().unwrap().iter().any(|f| f == "extra-high"), e["category"].as_u64().unwrap()))
        .collect();
    let mut sorted = cats.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(cats, sorted);
    // A second push of the same files: all duplicates, exit 0; a summary line without --json.
    let again = run_ok(&["push", "--server", &url, "--tokens-file", t, exams.to_str().unwrap()]);
    assert!(again.contains("0 stored, 24 duplicate, 0 rejected"), "{again}");

    // A reader claims and submits with the admin token from tokens.toml.
    let claim = json(&["read", "claim", "--server", &url, "--tokens-file", t, "--json"]);
    let (task, study) = (claim["task_id"].as_i64().unwrap(), claim["study_uid"].as_str().unwrap().to_owned());
    assert_eq!(claim["kind"], "first");
    assert_eq!(study, list[0]["study_uid"].as_str().unwrap(), "the top of the worklist is claimed first");
    let submitted = json(&[
        "read",
        "submit",
        "--server",
        &url,
        "--tokens-file",
        t,
        "--task",
        &task.to_string(),
        "--decision",
        "no-recall",
        "--json",
    ]);
    assert!(submitted["next"].is_string());
    let shown = json(&["study", "--server", &url, "--tokens-file", t, "--json", &study]);
    assert_eq!(shown["state"], "routed");
    assert_eq!(shown["views"].as_array().unwrap().len(), 4);
    assert!(shown["reading"]["tasks"].as_array().unwrap().iter().any(|x| x["state"] == "done"));
    let audit = json(&["audit", "--data-dir", data.to_str().unwrap(), "--study", &study, "--json"]);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    for action in ["Ingest.Upload", "Worklist.List", "Worklist.ClaimNext", "Worklist.SubmitRead", "Ingest.GetStudy"] {
        assert!(actions.contains(&action), "no {action} in the audit log of {study}: {actions:?}");
    }
    for r in audit.as_array().unwrap() {
        let expected = if r["action"] == "Ingest.Upload" { "pacs" } else { "admin" };
        assert_eq!(r["principal"], expected, "{r}");
    }

    // Metrics.
    let mut conn = std::net::TcpStream::connect(&metrics).unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    assert!(text.contains("granska_instances_ingested_total 24"), "{text}");
    assert!(text.contains("granska_instances_duplicate_total 24"));
    assert!(text.contains("granska_stage_seconds_bucket{stage=\"last_instance_to_worklist\""));

    // No token: a clear error naming what to do.
    let out = granska(&["worklist", "--server", &url, "--tokens-file", "/nonexistent/tokens.toml"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no bearer token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.kill();
}

/// Push, SIGKILL the server mid-stream, start it again: every acknowledged instance is there,
/// the rest can be pushed again, and every exam reaches the worklist.
#[test]
fn sigkill_mid_upload_loses_no_acknowledged_instance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, url, _) = serve(&data);
    let tokens = data.join("tokens.toml");
    let t = tokens.to_str().unwrap().to_owned();
    let exams = dir.path().join("phantoms");
    phantoms(&exams, 6, 32, &[]);
    let mut files: Vec<_> = walk(&exams);
    files.sort();
    assert_eq!(files.len(), 24);
    let admin = admin_token(&tokens);
    // Nothing pushed yet: a claim finds nothing, prints null and exits 0.
    assert_eq!(run_ok(&["read", "claim", "--server", &url, "--tokens-file", &t, "--json"]).trim(), "null");

    // Upload instance by instance on one stream, and kill the server after the 10th ack.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let acked: Vec<String> = runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(url.clone()).unwrap().connect().await.unwrap();
        let token: tonic::metadata::MetadataValue<_> = format!("Bearer {admin}").parse().unwrap();
        let mut client = pb::ingest_client::IngestClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", token.clone());
            Ok(r)
        });
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let sender_files = files.clone();
        tokio::spawn(async move {
            for f in sender_files {
                let bytes = std::fs::read(&f).unwrap();
                let name = f.display().to_string();
                for (i, part) in bytes.chunks(32 << 10).enumerate() {
                    let last = (i + 1) * (32 << 10) >= bytes.len();
                    if tx.send(pb::UploadChunk { instance_ref: name.clone(), data: part.to_vec(), last }).await.is_err()
                    {
                        return;
                    }
                }
            }
        });
        let mut results = client.upload(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
        let mut acked = Vec::new();
        while let Some(Ok(r)) = results.next().await {
            assert_eq!(r.outcome, pb::instance_result::Outcome::Stored as i32);
            acked.push(r.instance_ref);
            if acked.len() == 10 {
                server.kill(); // SIGKILL
            }
        }
        acked
    });
    assert!(acked.len() >= 10 && acked.len() < 24, "killed mid-stream after {} acks", acked.len());

    let (mut server, url, _) = serve(&data);
    // Every acknowledged instance survived: re-pushing it is a duplicate; the rest are stored.
    let pushed = json(&["push", "--server", &url, "--tokens-file", &t, "--json", exams.to_str().unwrap()]);
    for r in pushed.as_array().unwrap() {
        let file = r["file"].as_str().unwrap();
        let expected = if acked.iter().any(|a| a == file) { "duplicate" } else { "stored" };
        assert_eq!(r["outcome"], expected, "{file}");
    }
    wait_for_worklist(&url, &t, 6);
    server.kill();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "dcm") {
            out.push(p);
        }
    }
    out
}

fn admin_token(tokens: &Path) -> String {
    let text = std::fs::read_to_string(tokens).unwrap();
    let file: granska_server::auth::TokensFile = toml::from_str(&text).unwrap();
    file.tokens.into_iter().find(|t| t.role == "admin").unwrap().token
}
