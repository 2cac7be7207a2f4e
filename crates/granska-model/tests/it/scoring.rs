//! Exam scoring when views are missing or broken: scored on what is present, marked
//! incomplete or unscorable with the reason, never dropped.

use expect_test::expect;
use granska_model::ExamResult;
use granska_model::exam::ViewInput;
use granska_phantom::Options;

use crate::support;

fn inputs(broken: &[usize], keep: &[usize]) -> (String, Vec<ViewInput>) {
    let exam = granska_phantom::generate_exam(9201, 0, &Options::default());
    let views = keep
        .iter()
        .map(|&i| {
            let (_, meta, pixels) = support::view(&exam, i);
            let pixels = if broken.contains(&i) {
                Err(granska_dicom::Error {
                    source_name: format!("view{i}.dcm"),
                    kind: granska_dicom::ErrorKind::PixelDataTooShort { expected: 437248, found: 100 },
                })
            } else {
                Ok(pixels)
            };
            ViewInput { source: format!("view{i}.dcm"), meta, pixels }
        })
        .collect();
    (exam.study_uid, views)
}

fn summary(r: &ExamResult) -> String {
    let views: Vec<String> = r
        .views
        .iter()
        .map(|v| {
            format!(
                "{}-{}:{}",
                v.laterality.code(),
                v.view.code(),
                if v.score.is_some() { "scored" } else { "not scored" }
            )
        })
        .collect();
    format!(
        "status {:?}, complete {}, has score {}, has category {}, views [{}]\nreason: {}",
        r.status,
        r.complete,
        r.exam_score.is_some(),
        r.category.is_some(),
        views.join(", "),
        r.reason.as_deref().unwrap_or("null")
    )
}

#[test]
fn broken_and_missing_views_make_the_exam_incomplete_or_unscorable() {
    let scorer = support::shipped();
    let mut report = String::new();
    for (label, broken, keep) in [
        ("all four views", &[][..], &[0, 1, 2, 3][..]),
        ("R-MLO undecodable", &[3][..], &[0, 1, 2, 3][..]),
        ("R-MLO missing", &[][..], &[0, 1, 2][..]),
        ("every view undecodable", &[0, 1, 2, 3][..], &[0, 1, 2, 3][..]),
    ] {
        let (uid, views) = inputs(broken, keep);
        let r = scorer.score_exam(&uid, views, 0.0);
        assert_eq!(r.study_uid, uid);
        assert_eq!(r.model, scorer.model.identity());
        report.push_str(&format!("{label}:\n{}\n", summary(&r)));
    }
    expect![[r#"
        all four views:
        status Scored, complete true, has score true, has category true, views [L-CC:scored, L-MLO:scored, R-CC:scored, R-MLO:scored]
        reason: null
        R-MLO undecodable:
        status Incomplete, complete false, has score true, has category true, views [L-CC:scored, L-MLO:scored, R-CC:scored, R-MLO:not scored]
        reason: R-MLO not scored (pixels could not be decoded: view3.dcm: pixel data too short: rows × columns × samples × frames × bits allocated needs 437248 bytes, found 100)
        R-MLO missing:
        status Incomplete, complete false, has score true, has category true, views [L-CC:scored, L-MLO:scored, R-CC:scored]
        reason: R-MLO missing
        every view undecodable:
        status Unscorable, complete false, has score false, has category false, views [L-CC:not scored, L-MLO:not scored, R-CC:not scored, R-MLO:not scored]
        reason: no view could be scored: L-CC not scored (pixels could not be decoded: view0.dcm: pixel data too short: rows × columns × samples × frames × bits allocated needs 437248 bytes, found 100); L-MLO not scored (pixels could not be decoded: view1.dcm: pixel data too short: rows × columns × samples × frames × bits allocated needs 437248 bytes, found 100); R-CC not scored (pixels could not be decoded: view2.dcm: pixel data too short: rows × columns × samples × frames × bits allocated needs 437248 bytes, found 100); R-MLO not scored (pixels could not be decoded: view3.dcm: pixel data too short: rows × columns × samples × frames × bits allocated needs 437248 bytes, found 100)
    "#]]
    .assert_eq(&report);
}
