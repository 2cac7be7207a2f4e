//! Test support: the project's Python (pydicom oracle), external tools, and pixel comparison.

use std::path::{Path, PathBuf};
use std::process::Command;

use granska_dicom::{PixelArray, Samples};
use ndarray::ArrayD;
use serde_json::Value;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

/// The venv python that scripts/setup.sh installs the oracles into. Missing → the test
/// fails and says how to set it up (tests are never skipped).
pub fn python() -> PathBuf {
    let p = std::env::var_os("GRANSKA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(p.exists(), "{} not found: run `bash scripts/test.sh` (it creates the venv with pydicom)", p.display());
    p
}

/// Run the pydicom oracle script with arguments; returns stdout.
pub fn oracle(args: &[&str]) -> String {
    let script = workspace_root().join("tests/oracle/pydicom_oracle.py");
    let out = Command::new(python()).arg(script).args(args).output().expect("python starts");
    assert!(out.status.success(), "oracle {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Run an external tool (dcmtk), failing the test with its stderr when it fails.
pub fn tool(name: &str, args: &[&Path]) {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} not runnable ({e}): run `bash scripts/test.sh`, which installs dcmtk"));
    assert!(out.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// pydicom's decode of each file: (manifest entry, directory holding the .npy files).
pub fn pydicom_decode(files: &[PathBuf]) -> (Vec<Value>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args: Vec<&str> = vec!["decode", dir.path().to_str().expect("utf-8 path")];
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8 path")));
    oracle(&args);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).expect("manifest")).expect("json");
    (manifest.as_array().expect("array").clone(), dir)
}

fn load<T: ndarray_npy::ReadableElement>(path: &str) -> ArrayD<T> {
    ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn diff<T: Copy + PartialEq + Into<i64>>(ours: &[T], theirs: &ArrayD<T>) -> Option<(usize, i64)> {
    let theirs = theirs.as_slice()?;
    let mut count = 0;
    let mut max = 0i64;
    for (a, b) in ours.iter().zip(theirs) {
        if a != b {
            count += 1;
            max = max.max(((*a).into() - (*b).into()).abs());
        }
    }
    (count > 0).then_some((count, max))
}

/// Compare our decode with pydicom's. Ok(None) when identical; Ok(Some((n, max))) when `n`
/// samples differ by at most `max`; Err on shape or dtype mismatch.
pub fn compare(ours: &PixelArray, entry: &Value) -> Result<Option<(usize, i64)>, String> {
    let shape: Vec<usize> =
        entry["shape"].as_array().expect("shape").iter().map(|v| v.as_u64().expect("dim") as usize).collect();
    if shape != ours.shape {
        return Err(format!("shape: ours {:?}, pydicom {:?}", ours.shape, shape));
    }
    let dtype = entry["dtype"].as_str().expect("dtype");
    if dtype != ours.samples.dtype() {
        return Err(format!("dtype: ours {}, pydicom {dtype}", ours.samples.dtype()));
    }
    let npy = entry["npy"].as_str().expect("npy");
    Ok(match &ours.samples {
        Samples::U8(v) => diff(v, &load::<u8>(npy)),
        Samples::I8(v) => diff(v, &load::<i8>(npy)),
        Samples::U16(v) => diff(v, &load::<u16>(npy)),
        Samples::I16(v) => diff(v, &load::<i16>(npy)),
        Samples::U32(v) => diff(v, &load::<u32>(npy)),
        Samples::I32(v) => diff(v, &load::<i32>(npy)),
    })
}
