//! Decode time of one full-size (2294×1914, 12/14-bit) phantom view per transfer syntax,
//! parse included. The re-encodings are made at start-up by dcmtk and pylibjpeg-openjpeg
//! (installed by `scripts/setup.sh --test`).
//!
//! `cargo bench -p granska-dicom --bench decode`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use granska_dicom::DicomFile;
use granska_phantom::{Options, Size, generate_exam, write_exam};

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} not runnable ({e}): source scripts/setup.sh --test first"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn encodings(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let exam = generate_exam(1, 0, &Options { size: Size::Full, cancer_fraction: 1.0, ..Options::default() });
    let src = write_exam(&exam, dir).expect("phantom written").remove(0);
    let s = src.to_str().expect("utf-8").to_owned();
    let python = std::env::var("GRANSKA_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python").to_owned());
    let oracle = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/oracle/pydicom_oracle.py");
    let mut out = vec![("explicit-vr-le", src.clone())];
    let jobs: [(&str, &str, &[&str]); 10] = [
        ("implicit-vr-le", "dcmconv", &["+ti"]),
        ("explicit-vr-be", "dcmconv", &["+tb"]),
        ("deflated", "dcmconv", &["+td"]),
        ("rle", "dcmcrle", &[]),
        ("jpeg-lossless-p14", "dcmcjpeg", &["+el"]),
        ("jpeg-lossless-sv1", "dcmcjpeg", &["+e1"]),
        ("jpeg-ls-lossless", "dcmcjpls", &["+el"]),
        ("jpeg-ls-near-lossless", "dcmcjpls", &["+en"]),
        ("jpeg2000-lossless", "python", &["encode-j2k"]),
        ("jpeg2000-lossy", "python", &["encode-j2k-lossy"]),
    ];
    for (name, program, flags) in jobs {
        let dst = dir.join(format!("{name}.dcm"));
        let d = dst.to_str().expect("utf-8");
        if program == "python" {
            run(&python, &[oracle, flags[0], &s, d]);
        } else {
            let mut args: Vec<&str> = flags.to_vec();
            args.extend([s.as_str(), d]);
            run(program, &args);
        }
        out.push((name, dst));
    }
    out
}

fn decode(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("decode-full-view");
    group.sample_size(10);
    for (name, path) in encodings(dir.path()) {
        let bytes = std::fs::read(&path).expect("encoded file");
        // Sanity: each encoding decodes before it is timed.
        DicomFile::from_bytes(&bytes, name).and_then(|f| f.pixels()).unwrap_or_else(|e| panic!("{e}"));
        group.bench_function(name, |b| {
            b.iter(|| DicomFile::from_bytes(black_box(&bytes), name).and_then(|f| f.pixels()).map(|p| p.samples.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
