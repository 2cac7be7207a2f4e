//! The reports checked by three independent validators: dicom3tools' dciodvfy (the IOD and its
//! modules), dcmtk's dsrdump (the SR tree parses; a snapshot of the golden report) and
//! Pixelmed's DicomSRValidator (the TID 4000 template rules).

use std::path::Path;
use std::process::{Command, Output};

use expect_test::expect_file;

use crate::fixture;

/// Every kind of report: (name, scoring record).
fn all_reports() -> Vec<(&'static str, granska_types::ScoringRecord)> {
    vec![
        ("scored", fixture::scored()),
        ("extra-high", fixture::extra_high()),
        ("unscorable", fixture::unscorable()),
        ("incomplete", fixture::incomplete()),
    ]
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?} (installed by scripts/setup.sh --test): {e}"))
}

fn both(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn error_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.trim_start().starts_with("Error")).collect()
}

#[test]
fn dciodvfy_finds_no_error_in_any_report() {
    let images = fixture::images();
    for (name, record) in all_reports() {
        let report = fixture::build(&images, &record);
        let (_dir, path) = fixture::write("sr.dcm", &report.bytes);
        let out = both(&run(Command::new("dciodvfy").arg("-filename").arg(&path)));
        assert!(out.contains("MammographyCADSR"), "{name}: dciodvfy did not recognise the IOD:\n{out}");
        assert!(error_lines(&out).is_empty(), "{name}: dciodvfy reports errors:\n{out}");
    }
}

/// dsrdump's exit status, its whole output, and its standard output alone (its `W:` notes on
/// standard error depend on the dcmtk version).
fn dsrdump(path: &Path, extra: &[&str]) -> (bool, String, String) {
    let output = run(Command::new("dsrdump").arg("-v").args(extra).arg(path));
    (output.status.success(), both(&output), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn dsrdump_reads_every_report_with_its_concepts() {
    let images = fixture::images();
    for (name, record) in all_reports() {
        let report = fixture::build(&images, &record);
        let (_dir, path) = fixture::write("sr.dcm", &report.bytes);
        let (ok, out, _) = dsrdump(&path, &["+Pl"]);
        assert!(ok, "{name}: dsrdump failed:\n{out}");
        let mut expected = vec![
            "Mammography CAD SR Document",
            "\"Mammography CAD Report\"",
            "\"Image Library\"",
            "(73056007,SCT,\"Right breast\")",
            "(80248007,SCT,\"Left breast\")",
            "(399162004,SCT,\"cranio-caudal\")",
            "(399368009,SCT,\"medio-lateral oblique\")",
            "\"CAD Processing and Findings Summary\"",
            "\"Algorithm Name\")=\"granska-phantom-v1\"",
            "\"Algorithm Version\")=\"1.0.0 (sha256 3f6c0a9be2d5)\"",
            "\"Impression Description\"",
            "(111225,DCM,\"Not Attempted\")",
            "research use only",
        ];
        match name {
            "scored" => expected.extend([
                "(111241,DCM,\"All algorithms succeeded; without findings\")",
                "\"Certainty of impression\")=\"43.21\" (%,UCUM,\"percent\")",
                "category 7 of 10; reading mode single; extra-high risk flag: no",
                "(111222,DCM,\"Succeeded\")",
                "\"Successful Analyses\"",
            ]),
            "extra-high" => expected.extend([
                "(111242,DCM,\"All algorithms succeeded; with findings\")",
                "\"Certainty of impression\")=\"98.76\"",
                "category 10 of 10; reading mode double; extra-high risk flag: yes",
            ]),
            _ => expected.extend([
                "(111245,DCM,\"No algorithms succeeded; without findings\")",
                "the exam goes to double reading",
                "(111224,DCM,\"Failed\")",
                "\"Failed Analyses\"",
            ]),
        }
        for want in expected {
            assert!(out.contains(want), "{name}: dsrdump output lacks {want:?}:\n{out}");
        }
        if name == "unscorable" || name == "incomplete" {
            assert!(!out.contains("Certainty of impression"), "{name}: an unscored report has no certainty:\n{out}");
        }
    }
}

/// The golden report: the scored exam with fixed UIDs and time, as dsrdump shows it (long
/// values in full, concept codes, template ids and referenced UIDs), trailing spaces trimmed.
#[test]
fn golden_scored_report_as_dsrdump_shows_it() {
    let report = fixture::build(&fixture::images(), &fixture::scored());
    let (_dir, path) = fixture::write("sr.dcm", &report.bytes);
    let (ok, out, stdout) = dsrdump(&path, &["+Pl", "+Pc", "+Pt", "+Pu"]);
    assert!(ok, "dsrdump failed:\n{out}");
    let trimmed: String = stdout.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    expect_file!["golden-scored.dsrdump.txt"].assert_eq(&trimmed);

    // The library lists R-CC, L-CC, R-MLO, L-MLO: the phantom's own labels, by UID.
    let exam = fixture::exam();
    let uid_of = |label: &str| {
        exam.views.iter().find(|v| v.label() == label).map(|v| v.sop_instance_uid.clone()).expect("four views")
    };
    let library: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("<contains IMAGE:"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert_eq!(library, ["R-CC", "L-CC", "R-MLO", "L-MLO"].map(uid_of), "{stdout}");
}

/// Pixelmed's DicomSRValidator prints `Found Root Template TID_4000 …` when it recognised the
/// template, one `Error: …` line per violation and `Warning: …` lines, and exits 0 either way;
/// so the test reads its lines. Its TID 4016 spells 111024's meaning "Failed  Analyses" (two
/// spaces, unlike PS3.16's "Failed Analyses"): that one warning is expected of unscored reports.
#[test]
fn pixelmed_finds_tid_4000_and_no_error() {
    let images = fixture::images();
    let reports: Vec<(&str, Vec<u8>)> =
        [("scored", fixture::scored()), ("extra-high", fixture::extra_high()), ("unscorable", fixture::unscorable())]
            .into_iter()
            .map(|(name, record)| (name, fixture::build(&images, &record).bytes))
            .collect();
    // ~8 s of JVM each: run them side by side.
    let outputs: Vec<(&str, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = reports
            .iter()
            .map(|(name, bytes)| {
                s.spawn(move || {
                    let (_dir, path) = fixture::write("sr.dcm", bytes);
                    let output = run(Command::new("java")
                        .args([
                            "-Djdk.xml.xpathExprOpLimit=0",
                            "-Djdk.xml.xpathExprGrpLimit=0",
                            "-Djdk.xml.xpathTotalOpLimit=0",
                            "-cp",
                            "/usr/share/java/pixelmed.jar",
                            "com.pixelmed.validate.DicomSRValidator",
                            "-checkcontentitemorder",
                        ])
                        .arg(&path));
                    (*name, both(&output))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("validator thread")).collect()
    });
    for (name, out) in outputs {
        assert!(out.contains("Found MammographyCADSR IOD"), "{name}: IOD not recognised:\n{out}");
        assert!(
            out.contains("Found Root Template TID_4000 (MammographyCADDocumentRoot)"),
            "{name}: TID 4000 not found:\n{out}"
        );
        assert!(out.contains("Root Template Validation Complete"), "{name}: validation did not finish:\n{out}");
        assert!(error_lines(&out).is_empty(), "{name}: Pixelmed reports errors:\n{out}");
        let unexpected: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("Warning"))
            .filter(|l| !l.contains("code meaning (\"Failed Analyses\") than code meaning in template concept name (\"Failed  Analyses\")"))
            .collect();
        assert!(unexpected.is_empty(), "{name}: unexpected Pixelmed warnings:\n{out}");
    }
}
