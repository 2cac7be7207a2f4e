//! `inspect` and `decode` return exactly what `phantom` generated (both sizes, both
//! photometric interpretations), and the JSON shape is a snapshot.

use expect_test::expect;
use granska_phantom::{Options, PhotometricChoice, Size, generate_exam};
use ndarray::ArrayD;

use crate::{granska, phantoms};

fn check_exam_roundtrip(size: Size, size_flag: &str, photometric: PhotometricChoice, flag: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    phantoms(dir.path(), 1, 21, &["--size", size_flag, "--photometric", flag, "--cancer-fraction", "1"]);
    let exam = generate_exam(21, 0, &Options { size, cancer_fraction: 1.0, photometric, for_processing: false });
    let files: Vec<String> = exam
        .views
        .iter()
        .map(|v| dir.path().join(&exam.study_uid).join(format!("{}.dcm", v.label())).display().to_string())
        .collect();
    let mut args = vec!["inspect", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = granska(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for ((view, file), got) in exam.views.iter().zip(&files).zip(json.as_array().expect("array")) {
        assert_eq!(got["study_instance_uid"], exam.study_uid.as_str());
        assert_eq!(got["sop_instance_uid"], view.sop_instance_uid.as_str());
        assert_eq!(got["laterality"], view.side.code());
        assert_eq!(got["view"], view.view.code());
        assert_eq!(got["rows"], view.rows);
        assert_eq!(got["columns"], view.columns);
        assert_eq!(got["bits_stored"], view.bits_stored);
        assert_eq!(got["photometric"], view.photometric);
        assert_eq!(got["transfer_syntax"]["uid"], "1.2.840.10008.1.2.1");
        assert_eq!(got["inferred"], serde_json::json!([]));

        let npy = dir.path().join("out.npy");
        let out = granska(&["decode", file, "-o", npy.to_str().expect("utf-8")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let array: ArrayD<u16> = ndarray_npy::read_npy(&npy).expect("u16 npy");
        assert_eq!(array.shape(), [view.rows as usize, view.columns as usize]);
        assert_eq!(array.as_slice().expect("standard layout"), view.pixels.as_slice(), "{} pixels", view.label());
    }
}

#[test]
fn small_monochrome2_roundtrip_through_the_cli() {
    check_exam_roundtrip(Size::Small, "small", PhotometricChoice::Monochrome2, "monochrome2");
}

#[test]
fn small_monochrome1_roundtrip_through_the_cli() {
    check_exam_roundtrip(Size::Small, "small", PhotometricChoice::Monochrome1, "monochrome1");
}

#[test]
fn full_monochrome1_roundtrip_through_the_cli() {
    check_exam_roundtrip(Size::Full, "full", PhotometricChoice::Monochrome1, "monochrome1");
}

#[test]
fn full_monochrome2_roundtrip_through_the_cli() {
    check_exam_roundtrip(Size::Full, "full", PhotometricChoice::Monochrome2, "monochrome2");
}

#[test]
fn inspect_json_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    phantoms(dir.path(), 1, 7, &["--cancer-fraction", "0"]);
    let exam = generate_exam(7, 0, &Options { cancer_fraction: 0.0, ..Options::default() });
    let file = dir.path().join(&exam.study_uid).join("R-MLO.dcm");
    let out = granska(&["inspect", "--json", file.to_str().expect("utf-8")]);
    assert!(out.status.success());
    let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    json[0]["path"] = "<tmp>/R-MLO.dcm".into();
    expect![[r#"
        [
          {
            "bits_allocated": 16,
            "bits_stored": 12,
            "breast_implant_present": false,
            "columns": 427,
            "high_bit": 11,
            "imager_pixel_spacing": [
              0.448046875,
              0.448046875
            ],
            "inferred": [],
            "laterality": "R",
            "modality": "MG",
            "number_of_frames": 1,
            "partial_view": false,
            "path": "<tmp>/R-MLO.dcm",
            "patient_orientation": [
              "P",
              "FL"
            ],
            "photometric": "MONOCHROME2",
            "pixel_spacing": [
              0.448046875,
              0.448046875
            ],
            "presentation_intent": "FOR PRESENTATION",
            "rescale_intercept": 0.0,
            "rescale_slope": 1.0,
            "rows": 512,
            "series_instance_uid": "2.25.4833223516054285907079723908378618952",
            "signed": false,
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.1.2",
            "sop_instance_uid": "2.25.169374748319832715597322069404082171811",
            "study_instance_uid": "2.25.122653655850543709038337538220596155660",
            "transfer_syntax": {
              "name": "Explicit VR Little Endian",
              "uid": "1.2.840.10008.1.2.1"
            },
            "view": "MLO",
            "voi_lut_function": "LINEAR",
            "windows": [
              {
                "center": 2457.0,
                "explanation": "NORMAL",
                "width": 3071.0
              }
            ]
          }
        ]"#]]
    .assert_eq(&serde_json::to_string_pretty(&json).expect("json"));
}
