//! Integration tests of the `granska` binary: the commands a user runs, as processes.

mod bad_input;
mod dicom_network;
mod inspect_decode;
mod logs;
mod replicas;
mod research;
mod score;
mod service;
mod station;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn granska(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_granska")).args(args).output().expect("granska runs")
}

/// Runs granska, asserts success, returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = granska(args);
    assert!(out.status.success(), "granska {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn phantoms(dir: &Path, studies: u64, seed: u64, extra: &[&str]) {
    let (s, d) = (studies.to_string(), seed.to_string());
    let mut args = vec!["phantom", "--out", dir.to_str().expect("utf-8"), "--studies", &s, "--seed", &d];
    args.extend(extra);
    let out = granska(&args);
    assert!(out.status.success(), "phantom failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}
