//! The exam and scoring records every test starts from: phantom exam 3 of seed 7 (four small
//! views), a scoring record written by hand, fixed UIDs and a fixed time, so the report is the
//! same bytes on every run.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use granska_phantom::{Options, Size};
use granska_report::{Report, ReportInput};
use granska_types::{
    Category, ExamStatus, Flag, Laterality, ModelIdentity, ReadingMode, SCORING_RECORD_VERSION, ScoringRecord, Uid,
    View, ViewScore,
};

pub const SEED: u64 = 7;
pub const INDEX: u64 = 3;
pub const SHA256: &str = "3f6c0a9be2d54e1f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f";

/// The phantom exam.
pub fn exam() -> granska_phantom::Exam {
    granska_phantom::generate_exam(
        SEED,
        INDEX,
        &Options { size: Size::Small, cancer_fraction: 0.0, ..Options::default() },
    )
}

/// Part 10 bytes of the exam's four views (L-CC, L-MLO, R-CC, R-MLO, the phantom's order).
pub fn images() -> Vec<Vec<u8>> {
    images_with(|_| {})
}

/// Part 10 bytes of the exam's views after `edit` changed each header.
pub fn images_with(edit: impl Fn(&mut dicom_object::DefaultDicomObject)) -> Vec<Vec<u8>> {
    let exam = exam();
    (0..exam.views.len())
        .map(|i| {
            let mut obj = granska_phantom::to_dicom(&exam, i);
            edit(&mut obj);
            let mut bytes = Vec::new();
            obj.write_all(&mut bytes).expect("phantom view encodes");
            bytes
        })
        .collect()
}

/// The exam with a Swedish patient name, stored in ISO 8859-1 (`ISO_IR 100`).
pub fn swedish_images() -> Vec<Vec<u8>> {
    images_with(|obj| {
        obj.put(DataElement::new(tags::SPECIFIC_CHARACTER_SET, VR::CS, PrimitiveValue::from("ISO_IR 100")));
        obj.put(DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Öberg^Åsa")));
    })
}

pub fn model() -> ModelIdentity {
    ModelIdentity { name: "granska-phantom-v1".into(), version: "1.0.0".into(), sha256: SHA256.into() }
}

fn views(score: Option<f64>) -> Vec<ViewScore> {
    let exam = exam();
    exam.views
        .iter()
        .map(|v| ViewScore {
            sop_instance_uid: v.sop_instance_uid.clone(),
            laterality: Laterality::parse(v.side.code()).expect("L or R"),
            view: View::from_code(v.view.code()).expect("CC or MLO"),
            score,
            error: score.is_none().then(|| "decode failed".to_owned()),
        })
        .collect()
}

/// A scored exam: category 7, score 0.4321.
pub fn scored() -> ScoringRecord {
    ScoringRecord {
        version: SCORING_RECORD_VERSION,
        status: ExamStatus::Scored,
        reason: None,
        exam_score: Some(0.4321),
        category: Some(Category::new(7).expect("1-10")),
        extra_high: false,
        views: views(Some(0.4321)),
        model: Some(model()),
    }
}

/// A scored exam in the extra-high-risk band: category 10, score 0.9876.
pub fn extra_high() -> ScoringRecord {
    ScoringRecord { exam_score: Some(0.9876), category: Some(Category::MAX), extra_high: true, ..scored() }
}

/// An exam no view of which could be scored.
pub fn unscorable() -> ScoringRecord {
    ScoringRecord {
        views: views(None),
        model: Some(model()),
        ..ScoringRecord::unscorable("no view could be scored: L-CC not scored (decode failed)".into())
    }
}

/// An exam scored on three views (R-MLO missing): routed as not scored.
pub fn incomplete() -> ScoringRecord {
    ScoringRecord {
        status: ExamStatus::Incomplete,
        reason: Some("R-MLO missing".into()),
        category: Some(Category::new(4).expect("1-10")),
        exam_score: Some(0.21),
        ..scored()
    }
}

pub fn sop_uid() -> Uid {
    Uid::parse("2.25.100000000000000000000000000000000001").expect("valid")
}

pub fn series_uid() -> Uid {
    Uid::parse("2.25.100000000000000000000000000000000002").expect("valid")
}

pub fn created() -> jiff::Timestamp {
    "2026-03-01T10:20:30Z".parse().expect("valid timestamp")
}

/// Builds the report of `images` with `scoring` as MASAI would route it.
pub fn build(images: &[Vec<u8>], scoring: &ScoringRecord) -> Report {
    try_build(images, scoring).expect("report builds")
}

pub fn try_build(images: &[Vec<u8>], scoring: &ScoringRecord) -> Result<Report, granska_report::ReportError> {
    let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    let (mode, flags): (ReadingMode, &[Flag]) = match (scoring.status, scoring.category.map(|c| c.get())) {
        (ExamStatus::Scored, Some(10)) if scoring.extra_high => (ReadingMode::Double, &[Flag::ExtraHigh]),
        (ExamStatus::Scored, Some(10)) => (ReadingMode::Double, &[]),
        (ExamStatus::Scored, Some(_)) => (ReadingMode::Single, &[]),
        (ExamStatus::Incomplete, _) => (ReadingMode::Double, &[Flag::Incomplete]),
        _ => (ReadingMode::Double, &[Flag::Unscorable]),
    };
    let (sop, series) = (sop_uid(), series_uid());
    granska_report::build(&ReportInput {
        images: &refs,
        scoring,
        reading_mode: mode,
        flags,
        policy: "masai 1.0",
        sop_instance_uid: &sop,
        series_instance_uid: &series,
        created: created(),
    })
}

/// Writes `bytes` as `name` in a new temporary directory (kept alive by the returned guard).
pub fn write(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write report");
    (dir, path)
}
