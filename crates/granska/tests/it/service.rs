//! The service as a user runs it: `granska serve` as a process, driven by the CLI clients
//! (the README quickstart), and killed with SIGKILL mid-upload then restarted.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{granska, phantoms, run_ok};

/// A server process, killed (SIGKILL) when dropped, so a failing test leaves none behind.
pub(super) struct Server(Child);

impl Server {
    pub(super) fn kill(&mut self) {
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
    serve_with(data_dir, None)
}

/// As [`serve`], with `--config FILE`.
fn serve_with(data_dir: &Path, config: Option<&Path>) -> (Server, String, String) {
    let s = serve_full(data_dir, config, &[]);
    (s.server, s.grpc, s.metrics)
}

/// A started `granska serve` and the addresses it logged.
pub(super) struct Served {
    pub server: Server,
    /// `http://host:port` of gRPC.
    pub grpc: String,
    /// `host:port` of `/metrics`.
    pub metrics: String,
    /// `host:port` of the DICOM listener.
    pub dicom: String,
    /// `host:port` of the HTTP listener.
    pub http: String,
}

/// `granska serve` with every listener on port 0 (the config file's `listen` keys are
/// overridden), `data_dir`, `--config FILE` if given, and `env` on top.
pub(super) fn serve_full(data_dir: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_granska"));
    command.arg("serve");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .current_dir(super::workspace_root())
        .env("GRANSKA__SERVER__DATA_DIR", data_dir)
        .env("GRANSKA__SERVER__LISTEN", "127.0.0.1:0")
        .env("GRANSKA__SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .env("GRANSKA__DICOM__LISTEN", "127.0.0.1:0")
        .env("GRANSKA__HTTP__LISTEN", "127.0.0.1:0")
        .env("GRANSKA__INGEST__QUIET_PERIOD_S", "2")
        .env("GRANSKA__MODEL__THREADS", "1")
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("granska serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut grpc, mut metrics, mut dicom, mut http) = (None, None, None, None);
    let started = Instant::now();
    while grpc.is_none() {
        let line = lines.next().expect("serve keeps logging until it listens").unwrap();
        let plain = strip_ansi(&line);
        let address = plain.split("address=").nth(1).map(|a| a.split_whitespace().next().unwrap().to_owned());
        if plain.contains("metrics at /metrics") {
            metrics = address;
        } else if plain.contains("DICOM listening") {
            dicom = address;
        } else if plain.contains("HTTP listening") {
            http = address;
        } else if plain.contains("granska serving") {
            grpc = address;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "serve did not start");
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        server: Server(child),
        grpc: format!("http://{}", grpc.unwrap()),
        metrics: metrics.expect("metrics address logged first"),
        dicom: dicom.expect("DICOM address logged before gRPC's"),
        http: http.expect("HTTP address logged before gRPC's"),
    }
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

pub(super) fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_ok(args)).unwrap_or_else(|e| panic!("granska {args:?}: not JSON: {e}"))
}

/// `push --json` prints JSON Lines: one object per acknowledgement.
fn json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    run_ok(args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("granska {args:?}: line not JSON: {e}: {l}")))
        .collect()
}

/// A radiologist's token made by `granska token`, and the config entry it prints (as an
/// admin adds a reader): `(token, [[auth.tokens]] text)`.
fn radiologist_token(name: &str) -> (String, String) {
    let out = granska(&["token", "--principal", name, "--role", "radiologist"]);
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let entry = stderr.split("add to the server's config:").nth(1).expect("config entry printed").trim().to_owned();
    (token, entry)
}

fn wait_for_worklist(server: &str, token: &str, n: usize) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let list = json(&["worklist", "--server", server, "--token", token, "--json"]);
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
    let (mut server, url, _) = serve(&data);
    let tokens = data.join("tokens.toml");
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&tokens), 0o600, "tokens.toml is private");
    assert_eq!(mode(&data), 0o700, "the data directory is private");
    let t = tokens.to_str().unwrap();
    // A reader has no token yet: the admin's is never used for reading.
    let out = granska(&["read", "claim", "--server", &url, "--tokens-file", t]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no radiologist token"), "{out:?}");
    // The admin adds a radiologist, as the README says: `granska token`, config, restart.
    let (alice, entry) = radiologist_token("alice");
    let config = dir.path().join("granska.toml");
    std::fs::write(&config, entry).unwrap();
    server.kill();
    let (mut server, url, metrics) = serve_with(&data, Some(&config));

    let exams = dir.path().join("phantoms");
    phantoms(&exams, 6, 31, &[]);
    let pushed = json_lines(&["push", "--server", &url, "--tokens-file", t, "--json", exams.to_str().unwrap()]);
    let outcomes: Vec<&str> = pushed.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["stored"; 24]);
    let list = wait_for_worklist(&url, &alice, 6);
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

    // The reader claims and submits with her own token.
    let claim = json(&["read", "claim", "--server", &url, "--token", &alice, "--json"]);
    let (task, study) = (claim["task_id"].as_i64().unwrap(), claim["study_uid"].as_str().unwrap().to_owned());
    assert_eq!(claim["kind"], "first");
    assert_eq!(study, list[0]["study_uid"].as_str().unwrap(), "the top of the worklist is claimed first");
    let submitted = json(&[
        "read",
        "submit",
        "--server",
        &url,
        "--token",
        &alice,
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
        let action = r["action"].as_str().unwrap();
        let expected = match action {
            "Ingest.Upload" => "pacs",
            a if a.starts_with("Worklist.") => "alice",
            _ => "admin",
        };
        assert_eq!(r["principal"], expected, "{r}");
        // Both forms of the time: Unix ms for programs, RFC 3339 UTC beside it.
        assert!(r["at_unix_ms"].as_i64().unwrap() > 0, "{r}");
        assert!(r["at_rfc3339"].as_str().unwrap().ends_with('Z'), "{r}");
    }
    // The table for a person shows the same RFC 3339 times.
    let table = run_ok(&["audit", "--data-dir", data.to_str().unwrap(), "--study", &study]);
    let first = audit.as_array().unwrap()[0]["at_rfc3339"].as_str().unwrap();
    assert!(table.lines().next().unwrap().contains(first), "{table}");

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
        String::from_utf8_lossy(&out.stderr).contains("no radiologist token: pass your own with --token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.kill();
}

/// `granska push --json` against a server SIGKILLed mid-stream: every acknowledgement printed
/// before the kill is on stdout (JSON Lines), the push fails saying re-running it is safe, and
/// after a restart every printed instance is there (a duplicate) while the rest are stored.
#[test]
fn sigkill_mid_push_loses_no_acknowledged_instance_and_push_prints_each_ack() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (alice, entry) = radiologist_token("alice");
    let config = dir.path().join("granska.toml");
    std::fs::write(&config, entry).unwrap();
    // No tokens.toml yet (alice is configured): make the operator's by a first plain start.
    let (first, _, _) = serve(&data);
    drop(first);
    let (server, url, _) = serve_with(&data, Some(&config));
    let t = data.join("tokens.toml").to_str().unwrap().to_owned();
    let exams = dir.path().join("phantoms");
    phantoms(&exams, 6, 32, &[]);
    assert_eq!(walk(&exams).len(), 24);
    // Nothing pushed yet: a claim finds nothing, prints null and exits 0.
    assert_eq!(run_ok(&["read", "claim", "--server", &url, "--token", &alice, "--json"]).trim(), "null");

    let mut push = Command::new(env!("CARGO_BIN_EXE_granska"))
        .args(["push", "--server", &url, "--tokens-file", &t, "--json", exams.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Some(server);
    let mut acked = Vec::new();
    for line in BufReader::new(push.stdout.take().unwrap()).lines() {
        let r: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(r["outcome"], "stored");
        acked.push(r["file"].as_str().unwrap().to_owned());
        if acked.len() == 10 {
            server.take().unwrap().kill(); // SIGKILL, while the push is still streaming
        }
    }
    let status = push.wait().unwrap();
    let mut stderr = String::new();
    push.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(acked.len() >= 10 && acked.len() < 24, "killed mid-stream after {} acks", acked.len());
    assert!(!status.success(), "a cut-off push fails");
    assert!(stderr.contains("re-running the same push is safe"), "{stderr}");
    assert!(stderr.contains(&format!("{} of 24", acked.len())), "{stderr}");

    let (mut server, url, _) = serve_with(&data, Some(&config));
    // Every acknowledged instance survived: re-pushing it is a duplicate. The rest are stored
    // now, or were committed just before the kill without their acknowledgement reaching the
    // client (then they are duplicates too: sending again is always safe).
    let pushed = json_lines(&["push", "--server", &url, "--tokens-file", &t, "--json", exams.to_str().unwrap()]);
    assert_eq!(pushed.len(), 24);
    let mut stored = 0;
    for r in &pushed {
        let file = r["file"].as_str().unwrap();
        if acked.iter().any(|a| a == file) {
            assert_eq!(r["outcome"], "duplicate", "{file} was acknowledged before the kill");
        } else {
            assert!(r["outcome"] == "stored" || r["outcome"] == "duplicate", "{r}");
            stored += usize::from(r["outcome"] == "stored");
        }
    }
    assert!(stored > 0, "the kill came mid-stream: something was left to store");
    wait_for_worklist(&url, &alice, 6);
    server.kill();
}

/// `granska backup` while a push is streaming, `granska restore` into a new directory, a
/// server on the restored data: everything acknowledged before the backup began is there, and
/// `granska check` finds the restored directory clean (and a damaged blob is found).
#[test]
fn backup_during_ingest_restores_everything_acknowledged_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, url, _) = serve(&data);
    let t = data.join("tokens.toml").to_str().unwrap().to_owned();
    let exams = dir.path().join("phantoms");
    phantoms(&exams, 8, 33, &[]);
    let mut push = Command::new(env!("CARGO_BIN_EXE_granska"))
        .args(["push", "--server", &url, "--tokens-file", &t, "--json", exams.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(push.stdout.take().unwrap()).lines();
    let mut before = Vec::new();
    while before.len() < 8 {
        let r: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        before.push(r["file"].as_str().unwrap().to_owned());
    }
    // The backup begins now: these 8 (at least) were acknowledged before it.
    let backup = dir.path().join("backup");
    let out = run_ok(&["backup", "--data-dir", data.to_str().unwrap(), "--out", backup.to_str().unwrap()]);
    assert!(out.contains("manifest.json lists every file's sha256"), "{out}");
    let during = lines.inspect(|l| assert!(l.is_ok())).count();
    assert!(push.wait().unwrap().success());
    assert_eq!(before.len() + during, 32);
    drop(server);

    // Restore into a new directory, refuse a non-empty one.
    let restored = dir.path().join("restored");
    let out = run_ok(&["restore", "--from", backup.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()]);
    assert!(out.contains("every sha256 verified"), "{out}");
    let again = granska(&["restore", "--from", backup.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    let check = run_ok(&["check", "--data-dir", restored.to_str().unwrap()]);
    assert!(check.trim_end().ends_with("clean"), "{check}");
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!((mode(&restored), mode(&restored.join("archive.db"))), (0o700, 0o600));

    let (mut server, url, _) = serve(&restored);
    let t = restored.join("tokens.toml").to_str().unwrap().to_owned();
    let pushed = json_lines(&["push", "--server", &url, "--tokens-file", &t, "--json", exams.to_str().unwrap()]);
    for r in &pushed {
        let file = r["file"].as_str().unwrap();
        if before.iter().any(|b| b == file) {
            assert_eq!(r["outcome"], "duplicate", "{file} was acknowledged before the backup began");
        }
    }
    server.kill();
    let check = run_ok(&["check", "--data-dir", restored.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&check).unwrap();
    assert_eq!(report["instances_ok"], 32);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");

    // A damaged blob: check names it and exits 1.
    // An image's blob (the result reports' are a few KB).
    let blob = walk_all(&restored.join("blobs")).into_iter().find(|b| b.metadata().unwrap().len() > 50_000).unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[200] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let out = granska(&["check", "--data-dir", restored.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("problem: instance") && text.contains("is corrupt"), "{text}");
}

fn walk_all(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk_all(&p)) } else { out.push(p) }
    }
    out.sort();
    out
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
