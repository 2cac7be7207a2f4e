//! The DICOM encoding of a phantom view: a Digital Mammography X-Ray Image (For Presentation,
//! or For Processing on request) with the header a screening modality writes.

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Length, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};

use crate::{Exam, ViewKind};

const MG_FOR_PRESENTATION: &str = "1.2.840.10008.5.1.4.1.1.1.2";
const MG_FOR_PROCESSING: &str = "1.2.840.10008.5.1.4.1.1.1.2.1";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// SNOMED CT code and meaning of a view, as used in ViewCodeSequence.
fn view_code(view: ViewKind) -> (&'static str, &'static str) {
    match view {
        ViewKind::Cc => ("399162004", "cranio-caudal"),
        ViewKind::Mlo => ("399368009", "medio-lateral oblique"),
    }
}

fn ds(v: f64) -> String {
    // DS allows 16 characters; trim trailing zeros for a tidy header.
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.chars().take(16).collect()
}

/// Encode view `i` of `exam` as a DICOM file object (explicit VR little endian).
pub fn to_dicom(exam: &Exam, i: usize) -> DefaultDicomObject {
    let v = &exam.views[i];
    let sop_class = if exam.for_processing { MG_FOR_PROCESSING } else { MG_FOR_PRESENTATION };
    let mut o = InMemDicomObject::new_empty();
    let mut put = |tag, vr, value: PrimitiveValue| {
        o.put(DataElement::new(tag, vr, value));
    };
    let s = |x: &str| PrimitiveValue::from(x.to_owned());
    put(tags::SPECIFIC_CHARACTER_SET, VR::CS, s("ISO_IR 192"));
    put(
        tags::IMAGE_TYPE,
        VR::CS,
        PrimitiveValue::Strs(["ORIGINAL", "PRIMARY", ""].iter().map(|x| x.to_string()).collect()),
    );
    put(tags::SOP_CLASS_UID, VR::UI, s(sop_class));
    put(tags::SOP_INSTANCE_UID, VR::UI, s(&v.sop_instance_uid));
    put(tags::STUDY_DATE, VR::DA, s(&exam.study_date));
    put(tags::CONTENT_DATE, VR::DA, s(&exam.study_date));
    put(tags::STUDY_TIME, VR::TM, s("093000"));
    put(tags::CONTENT_TIME, VR::TM, s("093000"));
    put(tags::ACCESSION_NUMBER, VR::SH, s(&format!("SYN{:08}", exam.index)));
    put(tags::MODALITY, VR::CS, s("MG"));
    put(
        tags::PRESENTATION_INTENT_TYPE,
        VR::CS,
        s(if exam.for_processing { "FOR PROCESSING" } else { "FOR PRESENTATION" }),
    );
    put(tags::MANUFACTURER, VR::LO, s("Granska"));
    put(tags::MANUFACTURER_MODEL_NAME, VR::LO, s("granska-phantom (synthetic)"));
    put(tags::STUDY_DESCRIPTION, VR::LO, s("SYNTHETIC SCREENING MAMMOGRAM (PHANTOM)"));
    put(tags::PATIENT_NAME, VR::PN, s(&exam.patient_name));
    put(tags::PATIENT_ID, VR::LO, s(&exam.patient_id));
    put(tags::PATIENT_BIRTH_DATE, VR::DA, s("19700101"));
    put(tags::PATIENT_SEX, VR::CS, s("F"));
    put(tags::BODY_PART_EXAMINED, VR::CS, s("BREAST"));
    put(tags::KVP, VR::DS, s("29"));
    put(tags::BODY_PART_THICKNESS, VR::DS, s("55"));
    put(tags::SOFTWARE_VERSIONS, VR::LO, s(concat!("granska-phantom ", env!("CARGO_PKG_VERSION"))));
    put(
        tags::IMAGER_PIXEL_SPACING,
        VR::DS,
        PrimitiveValue::Strs([ds(v.pixel_spacing_mm), ds(v.pixel_spacing_mm)].into_iter().collect()),
    );
    put(tags::VIEW_POSITION, VR::CS, s(v.view.code()));
    put(
        tags::POSITIONER_PRIMARY_ANGLE,
        VR::DS,
        s(match (v.view, v.side) {
            (ViewKind::Cc, _) => "0",
            (ViewKind::Mlo, crate::Side::Left) => "45",
            (ViewKind::Mlo, crate::Side::Right) => "-45",
        }),
    );
    put(tags::STUDY_INSTANCE_UID, VR::UI, s(&exam.study_uid));
    put(tags::SERIES_INSTANCE_UID, VR::UI, s(&exam.series_uid));
    put(tags::STUDY_ID, VR::SH, s(&format!("{}", exam.index)));
    put(tags::SERIES_NUMBER, VR::IS, s("1"));
    put(tags::INSTANCE_NUMBER, VR::IS, s(&format!("{}", i + 1)));
    put(
        tags::PATIENT_ORIENTATION,
        VR::CS,
        PrimitiveValue::Strs(v.patient_orientation.iter().map(|x| x.to_string()).collect()),
    );
    put(tags::IMAGE_LATERALITY, VR::CS, s(v.side.code()));
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, s(v.photometric));
    put(tags::ROWS, VR::US, PrimitiveValue::from(v.rows as u16));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(v.columns as u16));
    put(
        tags::PIXEL_SPACING,
        VR::DS,
        PrimitiveValue::Strs([ds(v.pixel_spacing_mm), ds(v.pixel_spacing_mm)].into_iter().collect()),
    );
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(v.bits_stored));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(v.bits_stored - 1));
    put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16));
    put(tags::PIXEL_INTENSITY_RELATIONSHIP, VR::CS, s("LOG"));
    put(
        tags::PIXEL_INTENSITY_RELATIONSHIP_SIGN,
        VR::SS,
        PrimitiveValue::from(if v.photometric == "MONOCHROME1" { 1i16 } else { -1i16 }),
    );
    if let Some((center, width)) = v.window {
        put(tags::WINDOW_CENTER, VR::DS, s(&ds(center)));
        put(tags::WINDOW_WIDTH, VR::DS, s(&ds(width)));
        put(tags::WINDOW_CENTER_WIDTH_EXPLANATION, VR::LO, s("NORMAL"));
        put(tags::VOILUT_FUNCTION, VR::CS, s("LINEAR"));
    }
    put(tags::RESCALE_INTERCEPT, VR::DS, s("0"));
    put(tags::RESCALE_SLOPE, VR::DS, s("1"));
    put(tags::RESCALE_TYPE, VR::LO, s("US"));
    put(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, s("00"));
    put(tags::BREAST_IMPLANT_PRESENT, VR::CS, s("NO"));
    put(tags::PARTIAL_VIEW, VR::CS, s("NO"));
    put(tags::BURNED_IN_ANNOTATION, VR::CS, s("NO"));
    put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(v.pixels.iter().copied().collect()));

    let (code, meaning) = view_code(v.view);
    let item = InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(code)),
        DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PrimitiveValue::from("SCT")),
        DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(meaning)),
    ]);
    o.put(DataElement::new(tags::VIEW_CODE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)));

    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(v.sop_instance_uid.as_str())
        .transfer_syntax(EXPLICIT_VR_LE)
        .implementation_class_uid("2.25.137038125948464744592851127541547411227")
        .implementation_version_name("GRANSKA_000");
    o.with_meta(meta).expect("the file meta table has every required field")
}
