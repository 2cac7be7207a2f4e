//! Test support: the project's Python (NumPy reference, onnxruntime), phantom views in
//! memory, and the shipped model.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use granska_dicom::{DicomFile, MammoMeta, PixelArray, Profile};
use granska_model::{Engine, EngineConfig, Model, Scorer};
use granska_phantom::{Exam, Options};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

pub fn shipped_dir() -> PathBuf {
    workspace_root().join(granska_model::SHIPPED_MODEL)
}

/// The venv python that scripts/setup.sh creates. Missing → the test fails and says how to
/// set it up (tests are never skipped).
pub fn python() -> PathBuf {
    let p = std::env::var_os("GRANSKA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(p.exists(), "{} not found: run `bash scripts/test.sh` (it creates the venv)", p.display());
    p
}

/// Runs tests/oracle/reference.py with arguments; returns stdout.
pub fn reference(args: &[&str]) -> String {
    let script = workspace_root().join("tests/oracle/reference.py");
    let out = Command::new(python()).arg(script).args(args).output().expect("python starts");
    assert!(out.status.success(), "reference.py {:?} failed: {}", &args[..1], String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The shipped model with a running engine, shared by the tests of this binary.
pub fn shipped() -> &'static Scorer {
    static SCORER: OnceLock<Scorer> = OnceLock::new();
    SCORER.get_or_init(|| {
        let model = Model::load(shipped_dir()).expect("shipped model loads");
        let engine = Engine::start(&model, &EngineConfig::default()).expect("engine starts");
        Scorer { model, engine }
    })
}

/// One view as DICOM bytes, parsed back: what the service would hold after ingest.
pub fn view(exam: &Exam, i: usize) -> (Vec<u8>, MammoMeta, PixelArray) {
    let mut bytes = Vec::new();
    granska_phantom::to_dicom(exam, i).write_all(&mut bytes).expect("writes");
    let f = DicomFile::from_bytes(&bytes, "phantom").expect("parses");
    let meta = f.mammogram(Profile::Strict).expect("valid");
    let pixels = f.pixels().expect("decodes");
    (bytes, meta, pixels)
}

/// Exams `0..n` of `seed`, generated on all cores.
pub fn exams(seed: u64, n: u64, options: &Options) -> Vec<Exam> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let mut out: Vec<(u64, Exam)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads as usize)
                        .map(|i| (i, granska_phantom::generate_exam(seed, i, options)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("generator thread")).collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, e)| e).collect()
}

/// Mann–Whitney AUC (ties count one half).
pub fn auc(scores: &[(f64, bool)]) -> f64 {
    let pos: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}
