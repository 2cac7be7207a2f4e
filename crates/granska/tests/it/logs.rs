//! What the binary's logs look like to a machine: plain text (no ANSI colour) when stderr is a
//! pipe or a file, one JSON object per line with `GRANSKA_LOG_FORMAT=json`, and a refused
//! `GRANSKA_LOG_FORMAT` it does not know.
//!
//! The logging command is `granska serve` on a data directory readable by others (it warns,
//! with structured fields) and an unknown ingest profile (it then stops before loading the
//! model): a warning and an error in well under a second, without a server left running.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

/// `granska serve` as above, stderr to a pipe, with `GRANSKA_LOG_FORMAT` set to `format` when
/// given; the data directory is removed afterwards.
fn serve_that_warns(format: Option<&str>) -> Output {
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_granska"));
    command
        .arg("serve")
        .env("GRANSKA__SERVER__DATA_DIR", data.path())
        .env("GRANSKA__SERVER__LISTEN", "127.0.0.1:0")
        .env("GRANSKA__DICOM__LISTEN", "127.0.0.1:0")
        .env("GRANSKA__HTTP__LISTEN", "127.0.0.1:0")
        .env("GRANSKA__SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .env("GRANSKA__INGEST__PROFILE", "bogus")
        // Whatever the person running the tests prefers, these decide the output.
        .env_remove("GRANSKA_LOG")
        .env_remove("GRANSKA_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .env_remove("FORCE_COLOR")
        .stdin(Stdio::null());
    if let Some(format) = format {
        command.env("GRANSKA_LOG_FORMAT", format);
    }
    command.output().expect("granska serve runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

#[test]
fn logs_to_a_pipe_are_plain_text() {
    let output = serve_that_warns(None);
    let err = stderr(&output);
    assert!(!output.status.success(), "serve with profile bogus succeeded: {err}");
    assert!(!err.contains("\x1b["), "ANSI escapes in logs to a pipe: {err:?}");
    let warning = err.lines().find(|l| l.contains("patient data readable by group or others"));
    let warning = warning.unwrap_or_else(|| panic!("no warning about the data directory: {err}"));
    assert!(warning.contains(" WARN "), "{warning}");
    assert!(warning.contains("mode=\"755\""), "fields are key=value: {warning}");
    assert!(err.contains("ingest.profile must be strict or lenient"), "{err}");
    // `text` is the default, spelt out.
    let explicit = serve_that_warns(Some("text"));
    assert!(!stderr(&explicit).contains("\x1b["), "ANSI escapes with GRANSKA_LOG_FORMAT=text: {explicit:?}");
    assert!(stderr(&explicit).contains("patient data readable by group or others"), "{explicit:?}");
}

#[test]
fn granska_log_format_json_writes_one_object_per_line() {
    let output = serve_that_warns(Some("json"));
    let err = stderr(&output);
    assert!(!output.status.success(), "serve with profile bogus succeeded: {err}");
    // Every line but the final `error: …` of a failing command (not a log event) is a JSON event.
    let (logs, last) = err.trim_end().rsplit_once('\n').unwrap_or_else(|| panic!("fewer than two lines: {err}"));
    assert!(last.starts_with("error: ") && last.contains("ingest.profile must be strict or lenient"), "{last}");
    let events: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}")))
        .collect();
    assert!(!events.is_empty(), "no log events: {err}");
    for event in &events {
        // tracing-subscriber's JSON layer: timestamp, level, fields (with message), target.
        assert!(event["timestamp"].is_string(), "{event}");
        assert!(event["level"].is_string(), "{event}");
        assert!(event["target"].is_string(), "{event}");
        assert!(event["fields"]["message"].is_string(), "{event}");
    }
    let warning = events
        .iter()
        .find(|e| e["fields"]["message"].as_str().is_some_and(|m| m.contains("patient data readable")))
        .unwrap_or_else(|| panic!("no warning about the data directory: {err}"));
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["fields"]["mode"], "755", "structured fields stay fields: {warning}");
    assert!(warning["fields"]["path"].is_string(), "{warning}");
    assert!(!err.contains("\x1b["), "ANSI escapes in JSON logs: {err:?}");
}

#[test]
fn an_unknown_granska_log_format_exits_2_naming_the_variable() {
    let output = serve_that_warns(Some("xml"));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("GRANSKA_LOG_FORMAT"), "{err}");
    assert!(err.contains("\"xml\""), "the value found is named: {err}");
    // It stops before doing anything: no log event, no warning about the data directory.
    assert!(!err.contains("patient data readable"), "{err}");
}
