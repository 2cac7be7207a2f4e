//! Bad files through the CLI: a clear one-line error per file on stderr, exit status 1, no
//! panic; valid files in the same call are still reported.

use std::path::Path;

use crate::{granska, phantoms};

fn first_view(dir: &Path) -> std::path::PathBuf {
    let study =
        std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).find(|p| p.is_dir()).expect("a study");
    study.join("L-CC.dcm")
}

fn patch(bytes: &mut [u8], find: &[u8], with: &[u8]) {
    let at = bytes.windows(find.len()).position(|w| w == find).expect("pattern present");
    bytes[at..at + with.len()].copy_from_slice(with);
}

#[test]
fn every_bad_input_gives_a_clear_error_and_exit_status_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    phantoms(dir.path(), 1, 3, &[]);
    let good_path = first_view(dir.path());
    let good = std::fs::read(&good_path).expect("view");
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).expect("dir");
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.dcm", vec![], "file is empty"),
        (
            "random.dcm",
            (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
            "not a DICOM Part 10 file",
        ),
        ("truncated-header.dcm", good[..300].to_vec(), ""),
        ("truncated-pixels.dcm", good[..good.len() / 2].to_vec(), "declares a length"),
    ];
    let mut ct = good.clone();
    patch(&mut ct, b"CS\x02\x00MG", b"CS\x02\x00CT");
    cases.push(("wrong-modality.dcm", ct, "invalid Modality (0008,0060): expected MG"));
    let mut nolat = good.clone();
    patch(&mut nolat, b"\x20\x00\x62\x00CS\x02\x00L ", b"\x21\x00\x62\x00CS\x02\x00L ");
    cases.push(("no-laterality.dcm", nolat, "missing ImageLaterality (0020,0062)"));
    let mut bits = good.clone();
    patch(&mut bits, b"\x28\x00\x01\x01US\x02\x00", b"\x28\x00\x01\x01US\x02\x00\x14\x00");
    cases.push(("bits-stored.dcm", bits, "invalid BitsStored (0028,0101)"));
    let mut rows = good.clone();
    patch(&mut rows, b"\x28\x00\x10\x00US\x02\x00", b"\x28\x00\x10\x00US\x02\x00\x00\x00");
    cases.push(("zero-rows.dcm", rows, "invalid Rows (0028,0010)"));
    let mut short = good.clone();
    patch(&mut short, b"\x28\x00\x10\x00US\x02\x00", b"\x28\x00\x10\x00US\x02\x00\x00\x10");
    cases.push(("short-pixels.dcm", short, "pixel data too short"));
    let mut huge = good.clone();
    patch(&mut huge, b"\xE0\x7F\x10\x00OW\x00\x00", b"\xE0\x7F\x10\x00OW\x00\x00\x00\x00\x00\xFF");
    cases.push(("4gb-length.dcm", huge, "declares a length of 4278190080 bytes"));

    for (name, bytes, expected) in &cases {
        let path = bad.join(name);
        std::fs::write(&path, bytes).expect("written");
        let p = path.to_str().expect("utf-8");
        for args in [vec!["inspect", p], vec!["decode", p, "-o", "/dev/null"]] {
            let out = granska(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{name}: one line, found {stderr}");
            assert!(stderr.contains(name), "{name}: the error names the file: {stderr}");
            assert!(stderr.contains(expected), "{name} {args:?}: expected {expected:?} in {stderr}");
        }
    }

    // Valid and invalid together: valid ones are reported, one stderr line per invalid file.
    let mut args = vec!["inspect".to_owned(), "--json".to_owned(), good_path.display().to_string()];
    args.extend(cases.iter().map(|c| bad.join(c.0).display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = granska(&args);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), cases.len(), "{stderr}");
}
