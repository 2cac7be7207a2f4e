//! labels.csv and scores.csv as researchers write them: quoted fields, a byte-order mark,
//! and errors that point at the line and column to fix.

use std::path::Path;

use expect_test::expect;
use granska_research::ScoredExam;
use granska_research::tables::{BenchScore, read_labels, read_scores, write_bench_scores, write_scores};

fn labels(text: &str) -> Result<Vec<(String, bool)>, String> {
    let mut got: Vec<(String, bool)> =
        read_labels(text.as_bytes(), Path::new("labels.csv")).map_err(|e| e.to_string())?.into_iter().collect();
    got.sort();
    Ok(got)
}

#[test]
fn labels_with_a_quoted_field_holding_a_comma_are_read() {
    let text =
        "study_uid,note,cancer\n\"1.2.3\",\"left, upper outer\",1\n1.2.4,\"fine\",0\n\n1.2.5,\"a, b, c\", true\n";
    assert_eq!(labels(text).unwrap(), [("1.2.3".into(), true), ("1.2.4".into(), false), ("1.2.5".into(), true)]);
}

#[test]
fn labels_starting_with_a_utf8_bom_are_read() {
    // Spreadsheet programs save "CSV UTF-8" with a byte-order mark before the first header.
    let text = "\u{feff}study_uid,cancer\r\n1.2.3,0\r\n1.2.4,1\r\n";
    assert_eq!(labels(text).unwrap(), [("1.2.3".into(), false), ("1.2.4".into(), true)]);
}

#[test]
fn a_bad_row_is_named_by_file_line_and_column() {
    expect![[r#"labels.csv line 3, column 2 (cancer): expected 0 or 1 (or true/false), found "maybe""#]]
        .assert_eq(&labels("study_uid,cancer\n1.2.3,1\n1.2.4,maybe\n").unwrap_err());
    expect![[r#"labels.csv line 2: expected 3 columns, found 2"#]]
        .assert_eq(&labels("study_uid,cancer,note\n1.2.3,1\n").unwrap_err());
    expect![[r#"labels.csv: expected the header of a labels file (study_uid and cancer columns), found "uid,cancer""#]]
        .assert_eq(&labels("uid,cancer\n1.2.3,1\n").unwrap_err());
    let scores = |text: &str| read_scores(text.as_bytes(), Path::new("scores.csv")).unwrap_err().to_string();
    let header = "study_uid,exam_score,category,extra_high,label\n";
    expect![[r#"scores.csv line 3, column 2 (exam_score): expected a number or an empty field, found "high""#]]
        .assert_eq(&scores(&format!("{header}1.2.3,0.5,5,0,1\n1.2.4,high,5,0,1\n")));
    expect![[r#"scores.csv line 2, column 3 (category): expected a category 1–10 or an empty field, found "11""#]]
        .assert_eq(&scores(&format!("{header}1.2.3,0.5,11,0,1\n")));
    expect![[r#"scores.csv line 2, column 4 (extra_high): expected 0 or 1, found "2""#]]
        .assert_eq(&scores(&format!("{header}1.2.3,0.5,5,2,1\n")));
    expect![[r#"scores.csv: expected the header of `granska eval`'s scores.csv (study_uid,exam_score,category,extra_high,label), found "study,score""#]]
        .assert_eq(&scores("study,score\n"));
}

#[test]
fn scores_round_trip_with_seventeen_decimals_and_empty_unknowns() {
    let rows = vec![
        ScoredExam {
            study_uid: "1.2.3".into(),
            exam_score: Some(0.1),
            category: Some(3),
            extra_high: false,
            label: Some(true),
        },
        ScoredExam { study_uid: "1.2.4".into(), exam_score: None, category: None, extra_high: false, label: None },
        ScoredExam {
            study_uid: "1.2,5".into(),
            exam_score: Some(0.9),
            category: Some(10),
            extra_high: true,
            label: Some(false),
        },
    ];
    let mut out = Vec::new();
    write_scores(&mut out, &rows, Path::new("scores.csv")).unwrap();
    let text = String::from_utf8(out).unwrap();
    expect![[r#"
        study_uid,exam_score,category,extra_high,label
        1.2.3,0.10000000000000001,3,0,1
        1.2.4,,,0,
        "1.2,5",0.90000000000000002,10,1,0
    "#]]
    .assert_eq(&text);
    assert_eq!(read_scores(text.as_bytes(), Path::new("scores.csv")).unwrap(), rows);

    let mut empty = Vec::new();
    write_scores(&mut empty, &[], Path::new("scores.csv")).unwrap();
    assert_eq!(String::from_utf8(empty).unwrap(), "study_uid,exam_score,category,extra_high,label\n");

    let mut bench = Vec::new();
    let scored = BenchScore { study_uid: "1.2.3".into(), exam_score: Some(0.25), category: Some(4) };
    let unscorable = BenchScore { study_uid: "1.2.4".into(), exam_score: None, category: None };
    write_bench_scores(&mut bench, &[scored, unscorable], Path::new("bench.csv")).unwrap();
    expect![[r#"
        study_uid,exam_score,category
        1.2.3,0.25000000000000000,4
        1.2.4,,
    "#]]
    .assert_eq(&String::from_utf8(bench).unwrap());
}
