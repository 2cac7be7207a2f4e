//! Phantom exams of both sizes and both photometric interpretations read back with exactly
//! the metadata and pixels that were generated.

use granska_dicom::{DicomFile, Profile, Samples};
use granska_phantom::{Options, PhotometricChoice, Size, generate_exam, write_exam};

fn roundtrip(size: Size, photometric: PhotometricChoice, for_processing: bool) {
    let options = Options { size, cancer_fraction: 1.0, photometric, for_processing };
    let dir = tempfile::tempdir().expect("temp dir");
    let exam = generate_exam(11, 2, &options);
    let paths = write_exam(&exam, dir.path()).expect("written");
    for (view, path) in exam.views.iter().zip(&paths) {
        let file = DicomFile::open(path).expect("readable");
        let meta = file.mammogram(Profile::Strict).expect("valid under strict");
        assert_eq!(meta.study_instance_uid, exam.study_uid);
        assert_eq!(meta.series_instance_uid, exam.series_uid);
        assert_eq!(meta.sop_instance_uid, view.sop_instance_uid);
        assert_eq!(meta.laterality.code(), view.side.code());
        assert_eq!(meta.view.code(), view.view.code());
        assert_eq!((meta.rows, meta.columns), (view.rows, view.columns));
        assert_eq!(
            (meta.bits_allocated, meta.bits_stored, meta.high_bit),
            (16, view.bits_stored, view.bits_stored - 1)
        );
        assert!(!meta.signed);
        assert_eq!(serde_json::to_value(&meta.photometric).expect("json"), view.photometric);
        assert_eq!(meta.pixel_spacing.map(|s| s[0]), Some((view.pixel_spacing_mm * 1e9).round() / 1e9));
        assert_eq!(meta.windows.first().map(|w| (w.center, w.width)), view.window);
        assert_eq!(meta.breast_implant_present, Some(false));
        assert_eq!(meta.patient_orientation, view.patient_orientation.to_vec());
        assert_eq!(meta.transfer_syntax.uid, "1.2.840.10008.1.2.1");
        assert_eq!(
            meta.sop_class_uid,
            if for_processing { granska_dicom::MG_FOR_PROCESSING } else { granska_dicom::MG_FOR_PRESENTATION }
        );
        assert!(meta.inferred.is_empty(), "nothing inferred from a complete header: {:?}", meta.inferred);
        let pixels = file.pixels().expect("decodes");
        assert_eq!(pixels.shape, vec![view.rows as usize, view.columns as usize]);
        assert_eq!(pixels.samples, Samples::U16(view.pixels.clone()), "{} pixels differ", view.label());
    }
}

#[test]
fn small_monochrome2_roundtrips() {
    roundtrip(Size::Small, PhotometricChoice::Monochrome2, false);
}

#[test]
fn small_monochrome1_for_processing_roundtrips() {
    roundtrip(Size::Small, PhotometricChoice::Monochrome1, true);
}

#[test]
fn full_monochrome2_roundtrips() {
    roundtrip(Size::Full, PhotometricChoice::Monochrome2, false);
}

#[test]
fn full_monochrome1_roundtrips() {
    roundtrip(Size::Full, PhotometricChoice::Monochrome1, false);
}
