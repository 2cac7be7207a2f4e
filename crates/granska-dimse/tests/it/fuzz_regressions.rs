//! Replays the inputs the `dimse` fuzz target once failed on (`tests/fuzz-regressions/dimse/`)
//! through the same calls as `fuzz/fuzz_targets/dimse.rs`, on stable Rust and without
//! cargo-fuzz: every file must end without a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::protocol::exercise;

#[test]
fn fuzz_regression_inputs_end_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions/dimse");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().any(|n| n == "README.md"), "no README.md in {}", dir.display());
    let mut escaped = Vec::new();
    for name in names.iter().filter(|n| *n != "README.md") {
        let bytes = std::fs::read(dir.join(name)).expect("regression input readable");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| exercise(&bytes))) {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            escaped.push(format!("{name}: {message}"));
        }
    }
    assert!(escaped.is_empty(), "panics escaped on fuzz regression inputs:\n{}", escaped.join("\n"));
}
