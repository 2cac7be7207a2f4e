//! Replays the inputs the `stow` fuzz target once failed on (`tests/fuzz-regressions/stow/`)
//! through the same calls as `fuzz/fuzz_targets/stow.rs`, on stable Rust and without
//! cargo-fuzz, so that a fixed finding stays fixed: every file must end without a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use granska_http::stow;

/// What the fuzz target does with one input: the first line is the request's Content-Type,
/// the rest its body.
pub fn replay(data: &[u8]) {
    let (head, content) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let options = granska_http::HttpOptions {
        max_instance_bytes: 4096,
        max_request_bytes: 65536,
        accept_and_drop: vec![],
        max_requests: 16,
        ..granska_http::HttpOptions::default()
    };
    let boundary = stow::parse_content_type(&String::from_utf8_lossy(head)).unwrap_or_else(|_| "b".to_owned());
    let Ok(parts) = stow::split_body(bytes::Bytes::copy_from_slice(content), &boundary, &options) else { return };
    for part in parts {
        assert!(part.bytes.len() <= options.max_instance_bytes, "a part over the limit was returned");
        let _ = stow::meta_uids(&part.bytes);
    }
}

#[test]
fn fuzz_regression_inputs_end_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions/stow");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The README proves this is the directory the fuzzing instructions point to.
    assert!(names.iter().any(|n| n == "README.md"), "no README.md in {}", dir.display());
    let mut escaped = Vec::new();
    for name in names.iter().filter(|n| *n != "README.md") {
        let bytes = std::fs::read(dir.join(name)).expect("regression input readable");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| replay(&bytes))) {
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
