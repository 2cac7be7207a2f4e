//! `build` and `describe` through the public API: values round-trip, names survive their
//! character set, bad input is refused with a typed error.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use granska_report::ReportError;
use granska_types::Category;

use crate::fixture;

#[test]
fn describe_round_trips_a_scored_report() {
    let images = fixture::images();
    let report = fixture::build(&images, &fixture::scored());
    let exam = fixture::exam();
    assert_eq!(report.study_uid, exam.study_uid.as_str());
    assert_eq!(report.sop_instance_uid, fixture::sop_uid());
    assert_eq!(report.series_instance_uid, fixture::series_uid());
    assert_eq!(report.images, 4);

    let s = granska_report::describe(&report.bytes).expect("describe");
    assert_eq!(s.sop_instance_uid, fixture::sop_uid());
    assert_eq!(s.series_instance_uid, fixture::series_uid());
    assert_eq!(s.study_uid, report.study_uid);
    assert_eq!(s.content_date_time, ("20260301".to_owned(), "102030.000000".to_owned()));
    assert!(s.scored);
    assert_eq!(s.findings, "All algorithms succeeded; without findings");
    assert_eq!(s.category, Category::new(7).ok());
    assert_eq!(s.score_percent, Some(43.21));
    assert_eq!(s.algorithm_name, "granska-phantom-v1");
    assert_eq!(s.algorithm_version, "1.0.0 (sha256 3f6c0a9be2d5)");
    assert_eq!(
        s.description,
        format!(
            "category 7 of 10; reading mode single; extra-high risk flag: no; policy masai 1.0; \
             model granska-phantom-v1 1.0.0 sha256 {}; research use only: synthetic-data model, not a clinical device",
            fixture::SHA256
        )
    );
    assert_eq!(s.images, 4);
}

#[test]
fn extra_high_is_reported_with_findings() {
    let report = fixture::build(&fixture::images(), &fixture::extra_high());
    let s = granska_report::describe(&report.bytes).expect("describe");
    assert!(s.scored);
    assert_eq!(s.findings, "All algorithms succeeded; with findings");
    assert_eq!(s.category, Some(Category::MAX));
    assert_eq!(s.score_percent, Some(98.76));
    assert!(s.description.contains("extra-high risk flag: yes"), "{}", s.description);
}

#[test]
fn unscored_reports_say_why_and_that_two_radiologists_read() {
    for (record, status) in [(fixture::unscorable(), "unscorable"), (fixture::incomplete(), "incomplete")] {
        let reason = record.reason.clone().expect("has a reason");
        let report = fixture::build(&fixture::images(), &record);
        let s = granska_report::describe(&report.bytes).expect("describe");
        assert!(!s.scored, "{status}");
        assert_eq!(s.findings, "No algorithms succeeded; without findings");
        assert_eq!(s.category, None, "{status}: no category is reported even when the record has one");
        assert_eq!(s.score_percent, None);
        assert!(
            s.description.starts_with(&format!(
                "not scored by the AI ({status}): {reason}; reading mode double: the exam goes to double reading"
            )),
            "{}",
            s.description
        );
        assert!(s.description.chars().count() <= 1024);
        assert_eq!(s.images, 4);
    }
}

#[test]
fn a_very_long_reason_is_cut_to_fit() {
    let record = granska_types::ScoringRecord { reason: Some("x".repeat(5000)), ..fixture::unscorable() };
    let s = granska_report::describe(&fixture::build(&fixture::images(), &record).bytes).expect("describe");
    assert!(s.description.chars().count() <= 1024, "{}", s.description.len());
    assert!(s.description.contains("x…; reading mode double"), "{}", s.description);
    assert!(s.description.ends_with("not a clinical device"));
}

#[test]
fn same_input_same_bytes() {
    let images = fixture::images();
    assert_eq!(fixture::build(&images, &fixture::scored()).bytes, fixture::build(&images, &fixture::scored()).bytes);
}

#[test]
fn a_swedish_name_stored_in_latin_1_is_copied_as_utf_8() {
    let images = fixture::swedish_images();
    // The source really is ISO 8859-1: Ö is the single byte 0xD6.
    assert!(images[0].windows(5).any(|w| w == b"\xD6berg"), "fixture not Latin-1");
    let report = fixture::build(&images, &fixture::scored());
    assert!(
        report.bytes.windows("Öberg^Åsa".len()).any(|w| w == "Öberg^Åsa".as_bytes()),
        "the report lacks the UTF-8 name"
    );
    let obj = dicom_object::OpenFileOptions::new().from_reader(&report.bytes[128..]).expect("report reads back");
    assert_eq!(obj.element(tags::SPECIFIC_CHARACTER_SET).expect("charset").to_str().expect("text"), "ISO_IR 192");
    assert_eq!(obj.element(tags::PATIENT_NAME).expect("name").to_str().expect("text"), "Öberg^Åsa");
    // dcmtk decodes it the same way.
    let (_dir, path) = fixture::write("sr.dcm", &report.bytes);
    let out = std::process::Command::new("dsrdump").arg(&path).output().expect("dsrdump runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Öberg^Åsa"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A PACS often sends compressed images: the header is read up to the encapsulated PixelData
/// without any codec. dcmtk's `dcmcjpls` makes a JPEG-LS lossless copy of a view.
#[test]
fn a_compressed_image_is_read_up_to_its_pixel_data() {
    let mut images = fixture::images();
    let (dir, path) = fixture::write("r-cc.dcm", &images[2]);
    let out = dir.path().join("r-cc-jls.dcm");
    let status = std::process::Command::new("dcmcjpls").arg(&path).arg(&out).status().expect("dcmcjpls runs");
    assert!(status.success());
    images[2] = std::fs::read(&out).expect("compressed copy");
    let report = fixture::build(&images, &fixture::scored());
    assert_eq!(report.images, 4);
    let debug = format!("{report:?}");
    assert!(debug.contains("bytes") && !debug.contains("PHANTOM"), "{debug}");
}

#[test]
fn missing_patient_attributes_are_written_empty() {
    let images = fixture::images_with(|obj| {
        obj.remove_element(tags::PATIENT_BIRTH_DATE);
        obj.remove_element(tags::ACCESSION_NUMBER);
    });
    let report = fixture::build(&images, &fixture::scored());
    let obj = dicom_object::OpenFileOptions::new().from_reader(&report.bytes[128..]).expect("reads back");
    for tag in [tags::PATIENT_BIRTH_DATE, tags::ACCESSION_NUMBER, tags::REFERRING_PHYSICIAN_NAME] {
        assert_eq!(obj.element(tag).expect("present").to_str().expect("text"), "", "{tag}");
    }
}

#[test]
fn no_images_is_refused() {
    let err = fixture::try_build(&[], &fixture::scored()).expect_err("no images");
    assert!(matches!(err, ReportError::NoImages), "{err:?}");
    assert_eq!(err.to_string(), "expected at least one image of the exam, found none");
}

#[test]
fn unreadable_image_bytes_are_refused_naming_the_image() {
    let mut images = fixture::images();
    images[2] = b"not dicom at all".to_vec();
    let err = fixture::try_build(&images, &fixture::scored()).expect_err("garbage");
    assert!(matches!(err, ReportError::ReadImage { index: 2, .. }), "{err:?}");
    assert!(err.to_string().starts_with("image 2: expected DICOM Part 10 bytes"), "{err}");

    let mut images = fixture::images();
    images[0].truncate(300);
    let err = fixture::try_build(&images, &fixture::scored()).expect_err("truncated");
    assert!(matches!(err, ReportError::ReadImage { index: 0, .. }), "{err:?}");
}

#[test]
fn images_of_two_studies_are_refused() {
    let mut images = fixture::images();
    images[3] = fixture::images_with(|obj| {
        obj.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.3.4")));
    })
    .remove(3);
    let err = fixture::try_build(&images, &fixture::scored()).expect_err("two studies");
    assert!(matches!(&err, ReportError::MixedStudies { index: 3, found, .. } if found == "1.2.3.4"), "{err:?}");
}

#[test]
fn the_same_image_twice_is_refused() {
    let mut images = fixture::images();
    images[1] = images[0].clone();
    let err = fixture::try_build(&images, &fixture::scored()).expect_err("duplicate");
    assert!(matches!(err, ReportError::DuplicateImage { index: 1, .. }), "{err:?}");
}

#[test]
fn a_character_set_dicom_rs_cannot_decode_is_refused() {
    let images = fixture::images_with(|obj| {
        obj.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::Strs(["".to_owned(), "ISO 2022 IR 87".to_owned()].into_iter().collect()),
        ));
    });
    let err = fixture::try_build(&images, &fixture::scored()).expect_err("code extensions");
    assert!(
        matches!(&err, ReportError::UnsupportedCharacterSet { index: 0, found } if found == "\\ISO 2022 IR 87"),
        "{err:?}"
    );
}

#[test]
fn a_score_outside_0_1_is_refused() {
    let record = granska_types::ScoringRecord { exam_score: Some(1.5), ..fixture::scored() };
    let err = fixture::try_build(&fixture::images(), &record).expect_err("score 1.5");
    assert!(matches!(err, ReportError::ScoreOutOfRange { .. }), "{err:?}");
}

#[test]
fn describe_refuses_what_is_not_a_report() {
    let err = granska_report::describe(&fixture::images()[0]).expect_err("an MG image");
    assert!(matches!(err, ReportError::NotAReport { .. }), "{err:?}");
    let err = granska_report::describe(b"nope").expect_err("garbage");
    assert!(matches!(err, ReportError::ReadReport { .. }), "{err:?}");
}

#[test]
fn uid_2_25_makes_distinct_valid_uuid_uids() {
    let a = granska_report::uid_2_25();
    let b = granska_report::uid_2_25();
    assert_ne!(a, b);
    for uid in [a, b] {
        let digits = uid.as_str().strip_prefix("2.25.").expect("2.25 root");
        assert!(uid.as_str().len() <= 44);
        let v: u128 = digits.parse().expect("decimal");
        assert_eq!(digits, v.to_string(), "no leading zeros");
        assert_eq!((v >> 76) & 0xF, 4, "UUID version 4");
        assert_eq!((v >> 62) & 0x3, 2, "RFC 4122 variant");
    }
}
