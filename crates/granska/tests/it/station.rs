//! The reading station in a real browser: `granska serve` as a process, Debian's Chromium
//! driven by Playwright (`tests/peers/station.py`), exams pushed and read-back checked with the
//! CLI over gRPC. The browser reports what it saw; the assertions are here.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::dicom_network::{study_dirs, token};
use super::service::{Served, json, serve_full};
use super::{phantoms, run_ok, workspace_root};

/// `station.py SCENARIO CONFIG`, started; its stdout read line by line as JSON.
struct Browser {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Browser {
    fn start(scenario: &str, config: serde_json::Value) -> Browser {
        let python = std::env::var("GRANSKA_PYTHON").expect("GRANSKA_PYTHON: run the tests through scripts/test.sh");
        let mut child = Command::new(python)
            .arg(workspace_root().join("crates/granska/tests/peers/station.py"))
            .arg(scenario)
            .arg(config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser { child, lines }
    }

    /// The next JSON line the scenario printed.
    fn next(&mut self) -> serde_json::Value {
        let line = self.lines.next().expect("the browser scenario ended early: see its stderr above").unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {e}: {line}"))
    }

    fn tell(&mut self, line: &str) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    fn finish(mut self) {
        assert!(self.child.wait().unwrap().success(), "the browser scenario failed: see its stderr above");
    }
}

/// Runs a scenario that prints one line; that line.
fn scenario(name: &str, config: serde_json::Value) -> serde_json::Value {
    let mut browser = Browser::start(name, config);
    let out = browser.next();
    browser.finish();
    out
}

/// A server with reader tokens for `readers`; `(served, reader tokens, admin token, pacs token)`.
fn station(data: &Path, readers: &[&str], extra_config: &str) -> (Served, Vec<String>, String, String) {
    let mut config = String::from(extra_config);
    let mut tokens = Vec::new();
    for who in readers {
        let (token, entry) = token(who, "radiologist");
        config += &format!("\n{entry}\n");
        tokens.push(token);
    }
    let (admin, admin_entry) = token("root", "admin");
    let (pacs, pacs_entry) = token("pacs-1", "pacs");
    config += &format!("\n{admin_entry}\n\n{pacs_entry}\n");
    let file = data.with_extension("toml");
    std::fs::write(&file, config).unwrap();
    let served = serve_full(data, Some(&file), &[]);
    (served, tokens, admin, pacs)
}

/// Pushes the studies under `dir` as complete and waits until each is routed.
fn push_routed(served: &Served, pacs: &str, admin: &str, dir: &Path) -> Vec<String> {
    run_ok(&["push", "--server", &served.grpc, "--token", pacs, "--complete", dir.to_str().unwrap()]);
    let studies: Vec<String> =
        study_dirs(dir).iter().map(|d| d.file_name().unwrap().to_str().unwrap().to_owned()).collect();
    for study in &studies {
        let started = Instant::now();
        while json(&["study", "--server", &served.grpc, "--token", admin, "--json", study])["state"] != "routed" {
            assert!(started.elapsed() < Duration::from_secs(120), "{study} not routed");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    studies
}

/// Where the tests leave the station's screenshots (the README's come from here).
fn screenshot(name: &str) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("station");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_str().unwrap().to_owned()
}

#[test]
fn a_radiologist_works_the_worklist_and_reads_an_exam_in_a_browser() {
    let work = tempfile::tempdir().unwrap();
    let (data, first, later) = (work.path().join("data"), work.path().join("first"), work.path().join("later"));
    let (served, readers, admin, pacs) = station(&data, &["alice", "dora"], "");
    phantoms(&first, 3, 51, &["--size", "full", "--photometric", "mixed"]);
    phantoms(&later, 1, 52, &["--size", "full"]);
    let studies = push_routed(&served, &pacs, &admin, &first);
    let url = format!("http://{}", served.http);
    let alice = &readers[0];

    // The worklist's rows are gRPC's Worklist.List for the same reader, in the same order; an
    // exam pushed over gRPC appears without a reload.
    let mut browser = Browser::start(
        "worklist",
        serde_json::json!({"url": url, "token": alice, "screenshot": screenshot("worklist.png")}),
    );
    let rows = browser.next()["rows"].clone();
    let listed = json(&["worklist", "--server", &served.grpc, "--token", alice, "--json"]);
    let grpc: Vec<&str> = listed.as_array().unwrap().iter().map(|e| e["study_uid"].as_str().unwrap()).collect();
    let station: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(station, grpc, "the station's order is the core's");
    assert_eq!(station.len(), 3);
    let pushed = push_routed(&served, &pacs, &admin, &later).remove(0);
    browser.tell(&format!("pushed {pushed}"));
    let live = browser.next();
    browser.finish();
    assert_eq!((live["appeared"].as_str(), live["reloads"].as_u64()), (Some(pushed.as_str()), Some(0)), "{live}");
    assert_eq!(live["errors"], serde_json::json!([]), "no errors in the page");

    // Read next: the four views drawn (not blank) in the standard hanging, window/level
    // changes the pixels, zoom shows more detail than the fitted view; the read is the core's.
    let read = scenario(
        "read",
        serde_json::json!({"url": url, "token": alice, "note": "calcifications left", "screenshot": screenshot("read.png")}),
    );
    assert_eq!(read["errors"], serde_json::json!([]), "no errors in the page: {read}");
    let (fitted, levelled, zoomed) = (&read["fitted"], &read["levelled"], &read["zoomed"]);
    for view in ["R-CC", "L-CC", "R-MLO", "L-MLO"] {
        let f = &fitted[view];
        assert!(f["drawn"].as_bool().unwrap(), "{view}: {f}");
        assert!(f["std"].as_f64().unwrap() > 10.0 && f["lit"].as_f64().unwrap() > 0.05, "{view} blank: {f}");
        // Chest walls face each other: the right breast's tissue on its cell's right side.
        let (left, right) = (f["left"].as_f64().unwrap(), f["right"].as_f64().unwrap());
        let chest_wall_right = view.starts_with('R');
        assert_eq!(right > left, chest_wall_right, "{view}: chest wall on the wrong side: {f}");
        let l = &levelled[view];
        assert_ne!(l["window_width"], f["window_width"], "{view}: window/level is linked: {l}");
        assert!((l["mean"].as_f64().unwrap() - f["mean"].as_f64().unwrap()).abs() > 1.0, "{view}: pixels: {l}");
        let z = &zoomed[view];
        assert!(z["zoom"].as_f64().unwrap() >= 1.0 && f["zoom"].as_f64().unwrap() < 1.0, "{view}: {f} → {z}");
        // Magnifying the fitted picture by s would spread each step between neighbours over s
        // screen pixels (detail / s); native pixels show structure the fitted view lacks.
        let s = z["zoom"].as_f64().unwrap() / f["zoom"].as_f64().unwrap();
        assert!(
            z["detail"].as_f64().unwrap() > 1.5 * f["detail"].as_f64().unwrap() / s,
            "{view}: native pixels show more detail than the fitted view magnified: {f} → {z}"
        );
    }
    let x = |v: &str| fitted[v]["x"].as_f64().unwrap();
    let y = |v: &str| fitted[v]["y"].as_f64().unwrap();
    assert!(x("R-CC") < x("L-CC") && x("R-MLO") < x("L-MLO"), "the right breast on the viewer's left");
    assert!(y("R-CC") < y("R-MLO") && y("L-CC") < y("L-MLO"), "CC above MLO");
    assert!(read["ai"].as_str().is_some_and(|a| a.contains("/ 10") || a.chars().any(|c| c.is_ascii_digit())));
    let study = read["study_uid"].as_str().unwrap();
    assert!(studies.iter().chain([&pushed]).any(|s| s == study));
    let seen = json(&["study", "--server", &served.grpc, "--token", &admin, "--json", study]);
    let reads = seen["reading"]["tasks"].as_array().unwrap_or_else(|| panic!("{seen:#}"));
    assert!(
        reads.iter().any(|t| t["reader"] == "alice" && t["decision"] == "recall" && t["note"] == "calcifications left"),
        "the read is visible through granska study: {seen:#}"
    );

    // Security in the browser: a page without a session goes to the sign-in; a PACS token
    // cannot sign in; the cookie is HttpOnly and SameSite=Strict; a POST without the CSRF
    // token is refused; dora may not look at the exam alice read, and the look is audited.
    let sop = seen["views"][0]["sop_instance_uid"].as_str().unwrap();
    let foreign = format!("/web/api/studies/{study}/views/{sop}");
    let s = scenario(
        "security",
        serde_json::json!({"url": url, "token": &readers[1], "pacs_token": pacs, "foreign_view": foreign}),
    );
    assert!(s["redirected_to"].as_str().unwrap().contains("/web/sign-in?next=/web/worklist"), "{s}");
    assert!(s["pacs_url"].as_str().unwrap().contains("/web/sign-in"), "{s}");
    assert!(s["pacs_text"].as_str().unwrap().contains("pacs role cannot use the reading station"), "{s}");
    assert_eq!(s["cookie"], serde_json::json!({"httpOnly": true, "sameSite": "Strict", "secure": false}));
    assert_eq!((s["no_csrf_status"].as_u64(), s["foreign_image_status"].as_u64()), (Some(403), Some(403)), "{s}");
    let audit =
        json(&["audit", "--data-dir", data.to_str().unwrap(), "--study", study, "--principal", "dora", "--json"]);
    assert!(
        audit.as_array().unwrap().iter().any(|r| r["action"] == "Station.ViewImage" && r["outcome"] != "ok"),
        "the refused look is on record: {audit:#}"
    );
}

#[test]
fn double_reading_in_the_browser_is_blind_and_discordant_reads_go_to_consensus() {
    let work = tempfile::tempdir().unwrap();
    let (data, images) = (work.path().join("data"), work.path().join("images"));
    let (served, readers, admin, pacs) =
        station(&data, &["alice", "bob", "carol"], "[policy]\nname = \"double-all\"\n");
    phantoms(&images, 1, 53, &[]);
    let study = push_routed(&served, &pacs, &admin, &images).remove(0);
    let (note_a, note_b) = ("first-reader-note-7f3a", "second-reader-note-c41d");
    let out = scenario(
        "blind",
        serde_json::json!({"url": format!("http://{}", served.http), "tokens": readers, "note_a": note_a,
                           "note_b": note_b, "screenshot": screenshot("consensus.png")}),
    );
    assert_eq!(out["errors"], serde_json::json!([]), "no errors in the pages: {out}");
    assert_eq!(out["second_saw_note_a"], false, "the second reader's page and API answers never hold the first read");
    assert_eq!(out["second_other_reads"], 0);
    assert_eq!(out["second_saw_note_a_after_submit"], false, "not even after her own decision");
    assert_eq!(out["consensus_kind"], "consensus");
    let others = out["consensus_other_reads"].as_array().unwrap();
    assert_eq!(others.len(), 2, "both screening reads side by side: {out}");
    let text = others.iter().map(|o| o.as_str().unwrap().to_lowercase()).collect::<Vec<_>>().join("\n");
    assert!(text.contains(note_a) && text.contains(note_b), "{text}");
    assert!(text.contains("no recall") || text.contains("no-recall"), "{text}");
    let seen = json(&["study", "--server", &served.grpc, "--token", &admin, "--json", &study]);
    let tasks: Vec<&str> =
        seen["reading"]["tasks"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap_or_default()).collect();
    assert!(tasks.contains(&"consensus"), "{seen:#}");
}
