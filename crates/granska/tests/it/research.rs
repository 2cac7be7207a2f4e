//! The research toolkit as a researcher runs it: `eval` (checked against scikit-learn), its
//! report rendered by headless Chromium, `simulate` on a constructed population, and the
//! Python reference pipeline agreeing with Granska on every exam.

use std::path::Path;
use std::process::Command;

use super::{granska, phantoms, run_ok, workspace_root};

fn python() -> std::path::PathBuf {
    let p = workspace_root().join(".venv/bin/python");
    assert!(p.exists(), "{} missing: run `bash scripts/test.sh` (it installs the test requirements)", p.display());
    p
}

/// Eval of 40 labelled phantom exams; its AUC equals scikit-learn's on the same scores.csv,
/// the DeLong interval contains it, a second run reuses the cached scores, and report.html
/// renders in headless Chromium with its figures visible.
#[test]
fn eval_matches_scikit_learn_and_its_report_renders() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("exams");
    phantoms(&data, 40, 9101, &["--cancer-fraction", "0.3"]);
    let out = dir.path().join("eval");
    let (d, o, l) = (data.to_str().unwrap(), out.to_str().unwrap(), data.join("labels.csv"));
    let first = run_ok(&["eval", "--data", d, "--labels", l.to_str().unwrap(), "--out", o, "--policy", "masai"]);
    assert!(first.contains("0 scores from the cache"), "{first}");
    for f in ["scores.csv", "metrics.json", "roc.png", "roc.svg", "categories.png", "categories.svg", "report.html"] {
        assert!(out.join(f).metadata().unwrap().len() > 100, "{f} written");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["n_exams"], 40);
    assert_eq!(metrics["auc_ci_method"], "DeLong");
    let auc = metrics["auc"].as_f64().unwrap();
    let (lo, hi) = (metrics["auc_ci_low"].as_f64().unwrap(), metrics["auc_ci_high"].as_f64().unwrap());
    assert!(lo <= auc && auc <= hi, "{lo} ≤ {auc} ≤ {hi}");
    let sklearn = Command::new(python())
        .args(["-c", "import csv,sys; from sklearn.metrics import roc_auc_score; r=[x for x in csv.DictReader(open(sys.argv[1])) if x['label'] and x['exam_score']]; print(repr(roc_auc_score([int(x['label']) for x in r],[float(x['exam_score']) for x in r])))"])
        .arg(out.join("scores.csv"))
        .output()
        .unwrap();
    assert!(sklearn.status.success(), "{}", String::from_utf8_lossy(&sklearn.stderr));
    let reference: f64 = String::from_utf8(sklearn.stdout).unwrap().trim().parse().unwrap();
    assert!((auc - reference).abs() <= 1e-9, "granska {auc} vs scikit-learn {reference}");
    assert_eq!(metrics["operating_points"].as_array().unwrap().len(), 10);
    assert_eq!(metrics["policy"]["name"], "masai");
    let split = metrics["policy"]["single_read"].as_u64().unwrap() + metrics["policy"]["double_read"].as_u64().unwrap();
    assert_eq!(split, 40);

    let again = run_ok(&["eval", "--data", d, "--labels", l.to_str().unwrap(), "--out", o]);
    assert!(again.contains("40 scores from the cache"), "{again}");

    // Headless Chromium screenshot of the report: not blank, and the ROC curve's red is there.
    let shot = dir.path().join("report.png");
    let status = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1400"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .expect("chromium runs (scripts/setup.sh --test installs Debian's chromium)");
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&status.stderr));
    let (w, h, rgb) = decode_png(&shot);
    let pixels = (w * h) as usize;
    let non_white = rgb.chunks(3).filter(|p| p.iter().any(|&c| c < 240)).count();
    let roc_red = rgb.chunks(3).filter(|p| p[0] > 170 && p[1] < 80 && p[2] < 100).count();
    let bar_blue = rgb.chunks(3).filter(|p| p[0] < 100 && p[1] > 90 && p[1] < 130 && p[2] > 180).count();
    assert!(non_white > pixels / 50, "the page is blank: {non_white} of {pixels} pixels drawn");
    assert!(roc_red > 200 && bar_blue > 200, "figures not visible: {roc_red} red, {bar_blue} blue pixels");
}

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()].chunks(channels).flat_map(|p| [p[0], p[1], p[2]]).collect();
    (info.width, info.height, rgb)
}

/// A constructed population, 10 % of exams in each category: MASAI reads 1.1 per exam
/// against 2.0 for double reading (−45 %; the MASAI trial reported −44 %).
#[test]
fn simulate_is_exact_on_a_constructed_population() {
    let dir = tempfile::tempdir().unwrap();
    let scores = dir.path().join("scores.csv");
    let mut csv = String::from("study_uid,exam_score,category,extra_high,label\n");
    for i in 0..1000 {
        let c = i % 10 + 1;
        csv += &format!("1.2.{i},{},{c},0,{}\n", c as f64 / 10.0 - 0.05, u8::from(c == 10 && i < 100));
    }
    std::fs::write(&scores, csv).unwrap();
    let s = scores.to_str().unwrap();
    let out: serde_json::Value = serde_json::from_str(&run_ok(&[
        "simulate",
        "--scores",
        s,
        "--policy",
        "masai",
        "--policy",
        "threshold",
        "--reader-sensitivity",
        "0.8",
        "--reader-specificity",
        "0.95",
        "--json",
    ]))
    .unwrap();
    assert_eq!(out["reference"]["reads_per_exam"], 2.0);
    let masai = &out["policies"][0];
    assert_eq!((masai["single_read"].as_u64(), masai["double_read"].as_u64()), (Some(900), Some(100)));
    assert!((masai["reads_per_exam"].as_f64().unwrap() - 1.1).abs() < 1e-12);
    assert!((masai["workload_reduction"].as_f64().unwrap() - 0.45).abs() < 1e-12);
    assert!((out["policies"][1]["reads_per_exam"].as_f64().unwrap() - 1.3).abs() < 1e-12);
    let table = run_ok(&["simulate", "--scores", s, "--policy", "masai"]);
    assert!(table.contains("masai v1") && table.contains("-45.0%"), "{table}");
    // Bad input is named.
    std::fs::write(&scores, "study,score\n").unwrap();
    let bad = granska(&["simulate", "--scores", s, "--policy", "masai"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected the header"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// The Python reference pipeline (pydicom, NumPy, onnxruntime) and `granska bench` score the
/// same exams within 1e-4 (in practice identically).
#[test]
fn the_python_reference_pipeline_agrees_with_granska() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("exams");
    phantoms(&data, 6, 9102, &["--cancer-fraction", "0.5", "--photometric", "mixed"]);
    let (g, r) = (dir.path().join("granska.csv"), dir.path().join("reference.csv"));
    let report: serde_json::Value = serde_json::from_str(&run_ok(&[
        "bench",
        "--data",
        data.to_str().unwrap(),
        "--json",
        "--warmup",
        "1",
        "--scores-out",
        g.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(report["exams"], 6);
    assert!(report["exams_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["stages_ms_per_exam"]["preprocess"]["p50"].as_f64().unwrap() > 0.0);
    let out = Command::new(python())
        .arg(workspace_root().join("benches/python/reference_pipeline.py"))
        .arg(&data)
        .arg(workspace_root().join("models/granska-phantom-v1"))
        .arg("--scores-out")
        .arg(&r)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |p: &Path| -> std::collections::BTreeMap<String, f64> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_owned(), f[1].parse().unwrap())
            })
            .collect()
    };
    let (gs, rs) = (read(&g), read(&r));
    assert_eq!(gs.keys().collect::<Vec<_>>(), rs.keys().collect::<Vec<_>>());
    for (uid, s) in &gs {
        assert!((s - rs[uid]).abs() <= 1e-4, "{uid}: granska {s}, reference {}", rs[uid]);
    }
}
