//! Replays the inputs the `dicom` fuzz target once crashed on (`tests/fuzz-regressions/dicom/`)
//! through the same calls as `fuzz/fuzz_targets/dicom.rs`, on stable Rust and without
//! cargo-fuzz, so that a fixed crash stays fixed: every file must give a result or an error,
//! and no panic may escape.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use granska_dicom::{DicomFile, Profile};

/// What the fuzz target does with one input.
fn replay(bytes: &[u8]) {
    let Ok(file) = DicomFile::from_bytes(bytes, "fuzz-regression") else { return };
    let _ = file.identifying_uids();
    let _ = file.mammogram(Profile::Strict);
    let _ = file.mammogram(Profile::Lenient);
    if let Ok(px) = file.pixels() {
        let n: usize = px.shape.iter().product();
        assert_eq!(px.samples.len(), n, "decoded sample count does not match shape {:?}", px.shape);
    }
}

#[test]
fn fuzz_regression_inputs_end_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions/dicom");
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

/// The fuzzer's 372-byte file that made dicom-rs touch 4 GB of memory: an off-group element
/// inside the declared meta group hid the rest from the length guard. It is now refused before
/// dicom-rs parses anything.
#[test]
fn the_meta_group_that_hid_a_4gb_length_is_refused_by_the_guard() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions/dicom/meta-group-hides-4gb-length.dcm");
    let err = DicomFile::from_bytes(&std::fs::read(path).unwrap(), "fuzz").unwrap_err();
    assert!(matches!(err.kind, granska_dicom::ErrorKind::MetaGroupInterrupted { group: 0xFFFF, .. }), "{err}");
}

/// The fuzzer's FL and FD values of odd length: dicom-rs reads len/4 or len/8 values, leaves
/// the rest, and reads its next header out of step (a 4 GB and a 775 MB allocation). The
/// guard refuses a binary number whose length is not a multiple of its size.
#[test]
fn binary_numbers_of_a_length_that_is_not_a_multiple_of_their_size_are_refused() {
    for (name, attr) in [
        ("fl-odd-length-desync.dcm", "HighBit (0028,0102)"),
        ("fd-odd-length-desync.dcm", "DistanceSourceToPatient (0018,1111)"),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions/dicom").join(name);
        let err = DicomFile::from_bytes(&std::fs::read(path).unwrap(), "fuzz").unwrap_err();
        let text = err.to_string();
        assert!(text.contains(attr) && text.contains("expected a length that is a multiple of"), "{name}: {text}");
    }
}
