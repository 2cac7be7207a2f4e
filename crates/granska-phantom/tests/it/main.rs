//! Integration tests of granska-phantom: determinism, layout, labels and lesion visibility.

use granska_phantom::{Options, PhotometricChoice, Size, generate_exam, generate_exam_without_lesion, write_dataset};

fn tree(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let rel = entry.strip_prefix(dir).expect("under dir").display().to_string();
        out.push((rel, std::fs::read(&entry).expect("readable")));
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.is_dir() { files.extend(walk(&p)) } else { files.push(p) }
    }
    files
}

#[test]
fn same_seed_gives_byte_identical_files_and_other_seeds_differ() {
    let opts = Options { cancer_fraction: 0.5, photometric: PhotometricChoice::Mixed, ..Options::default() };
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_dataset(a.path(), 3, 42, &opts, |_| {}).expect("written");
    write_dataset(b.path(), 3, 42, &opts, |_| {}).expect("written");
    write_dataset(c.path(), 3, 43, &opts, |_| {}).expect("written");
    let (ta, tb, tc) = (tree(a.path()), tree(b.path()), tree(c.path()));
    assert_eq!(ta.len(), 3 * 4 + 2, "4 views per exam plus labels.csv and lesions.csv");
    assert!(ta == tb, "same seed must give byte-identical files");
    assert!(ta.iter().zip(&tc).all(|(x, y)| x.1 != y.1 || x.0.ends_with(".csv")), "another seed gives other files");
}

#[test]
fn exam_i_does_not_depend_on_how_many_exams_are_generated() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_dataset(a.path(), 2, 9, &Options::default(), |_| {}).expect("written");
    write_dataset(b.path(), 4, 9, &Options::default(), |_| {}).expect("written");
    let labels_a = std::fs::read_to_string(a.path().join("labels.csv")).unwrap();
    let labels_b = std::fs::read_to_string(b.path().join("labels.csv")).unwrap();
    assert!(labels_b.starts_with(&labels_a));
}

#[test]
fn labels_match_the_lesions_and_cancer_fraction_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { cancer_fraction: 0.3, ..Options::default() };
    let summary = write_dataset(dir.path(), 40, 1, &opts, |_| {}).expect("written");
    let labels = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
    let mut lines = labels.lines();
    assert_eq!(lines.next(), Some("study_uid,cancer,laterality"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 40);
    let cancers = rows.iter().filter(|r| r[1] == "1").count();
    assert_eq!(cancers as u64, summary.cancers);
    // Binomial(40, 0.3): mean 12, sd 2.9; 4..=20 is beyond ±2.7 sd.
    assert!((4..=20).contains(&cancers), "{cancers} cancers of 40 at fraction 0.3");
    for r in &rows {
        assert!(std::path::Path::new(dir.path()).join(r[0]).join("L-CC.dcm").exists());
        match r[1] {
            "1" => assert!(r[2] == "L" || r[2] == "R"),
            _ => assert_eq!(r[2], ""),
        }
    }
}

#[test]
fn lesion_shows_in_both_views_of_its_breast_only() {
    let opts = Options { size: Size::Small, cancer_fraction: 1.0, ..Options::default() };
    for index in 0..6 {
        let with = generate_exam(5, index, &opts);
        let without = generate_exam_without_lesion(5, index, &opts);
        let lesion = with.lesion.clone().expect("cancer fraction 1 gives a lesion");
        assert!(without.lesion.is_none() && !without.cancer);
        for (a, b) in with.views.iter().zip(&without.views) {
            assert_eq!(a.sop_instance_uid, b.sop_instance_uid, "same exam");
            let max = (1u32 << a.bits_stored) - 1;
            assert!(a.pixels.iter().all(|&p| u32::from(p) <= max), "values fit BitsStored");
            let changed = a.pixels.iter().zip(&b.pixels).filter(|(x, y)| x != y).count();
            if a.side == lesion.side {
                assert!(changed > 0, "exam {index}: lesion invisible in {}", a.label());
            } else {
                assert_eq!(changed, 0, "exam {index}: other breast {} changed", a.label());
            }
        }
    }
}

#[test]
fn lesion_free_twins_are_written_for_lesion_exams_only_and_differ_only_by_the_lesion() {
    let opts = Options { cancer_fraction: 0.5, ..Options::default() };
    let (data, twins) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let summary = write_dataset(data.path(), 6, 77, &opts, |_| {}).expect("written");
    let n = granska_phantom::write_lesion_free_twins(twins.path(), 6, 77, &opts).expect("twins written");
    assert_eq!(n, summary.cancers);
    let twin_files = tree(twins.path());
    assert_eq!(twin_files.len() as u64, 4 * summary.cancers);
    for (rel, twin) in &twin_files {
        let original = std::fs::read(data.path().join(rel)).expect("same path in the data set");
        assert_eq!(original.len(), twin.len(), "{rel}: same header, same size");
        // Same UIDs and header: the bytes differ only in the pixel data, and only for the
        // lesion's breast.
        let pixels_start = original.len() - 2 * 512 * 427;
        assert_eq!(original[..pixels_start], twin[..pixels_start], "{rel}: headers differ");
    }
    let differing =
        twin_files.iter().filter(|(rel, twin)| std::fs::read(data.path().join(rel)).unwrap() != *twin).count();
    assert_eq!(differing as u64, 2 * summary.cancers, "exactly the two views of each lesion's breast differ");
}
