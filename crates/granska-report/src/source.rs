//! Reading what the report needs from the exam's images: their headers only (parsing stops
//! before PixelData, so a full-field exam costs kilobytes, not megabytes), the identifiers of
//! each image, its laterality and view, and the Patient and General Study attributes of the
//! first image, decoded by dicom-rs from the image's declared character set into text.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_object::file::ReadPreamble;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use granska_types::{Laterality, Uid, View};

use crate::ReportError;

/// One referenced image.
#[derive(Debug, Clone)]
pub(crate) struct SourceImage {
    pub sop_class_uid: Uid,
    pub sop_instance_uid: Uid,
    pub series_instance_uid: Uid,
    /// ImageLaterality (else Laterality): `L`, `R`, or `B` (both) when given.
    pub laterality: Option<Side>,
    pub view: Option<View>,
}

/// An image's side, as the report codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    One(Laterality),
    Both,
}

/// The Patient and General Study attributes copied into the report, in the order written.
/// Type 2 ones are written empty when the image lacks them; type 3 ones only when present.
pub(crate) const COPIED: &[(Tag, VR, bool)] = &[
    (tags::PATIENT_NAME, VR::PN, true),
    (tags::PATIENT_ID, VR::LO, true),
    (tags::ISSUER_OF_PATIENT_ID, VR::LO, false),
    (tags::PATIENT_BIRTH_DATE, VR::DA, true),
    (tags::PATIENT_SEX, VR::CS, true),
    (tags::STUDY_DATE, VR::DA, true),
    (tags::STUDY_TIME, VR::TM, true),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN, true),
    (tags::STUDY_ID, VR::SH, true),
    (tags::ACCESSION_NUMBER, VR::SH, true),
    (tags::STUDY_DESCRIPTION, VR::LO, false),
];

/// The exam as the report sees it.
#[derive(Debug)]
pub(crate) struct Exam {
    pub study_uid: Uid,
    /// The copied elements of the first image (already decoded text), see [`COPIED`].
    pub copied: Vec<DataElement<InMemDicomObject>>,
    /// In input order.
    pub images: Vec<SourceImage>,
}

/// Reads every image's header; the first one gives the patient and study.
pub(crate) fn read_exam(images: &[&[u8]]) -> Result<Exam, ReportError> {
    let Some(first) = images.first() else {
        return Err(ReportError::NoImages);
    };
    let header = read_header(0, first)?;
    // Only the first image's text is copied; the others give UIDs and code strings.
    check_charset(0, &header)?;
    let study_uid = uid(0, &header, tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?;
    let copied = COPIED
        .iter()
        .filter_map(|&(tag, vr, type2)| match header.get(tag) {
            Some(e) => Some(e.clone()),
            None => type2.then(|| DataElement::new(tag, vr, PrimitiveValue::Empty)),
        })
        .collect();
    let mut refs: Vec<SourceImage> = Vec::with_capacity(images.len());
    for (index, bytes) in images.iter().enumerate() {
        let owned;
        let h = if index == 0 {
            &header
        } else {
            owned = read_header(index, bytes)?;
            &owned
        };
        let study = uid(index, h, tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?;
        if study != study_uid {
            return Err(ReportError::MixedStudies { index, expected: study_uid, found: study });
        }
        let image = SourceImage {
            sop_class_uid: uid(index, h, tags::SOP_CLASS_UID, "SOPClassUID")?,
            sop_instance_uid: uid(index, h, tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
            series_instance_uid: uid(index, h, tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
            laterality: side(h),
            view: text(h, tags::VIEW_POSITION).and_then(|v| View::from_code(&v)),
        };
        if refs.iter().any(|r| r.sop_instance_uid == image.sop_instance_uid) {
            return Err(ReportError::DuplicateImage { index, sop_instance_uid: image.sop_instance_uid });
        }
        refs.push(image);
    }
    Ok(Exam { study_uid, copied, images: refs })
}

/// The header of one Part 10 image (with or without its 128-byte preamble), up to PixelData.
fn read_header(index: usize, bytes: &[u8]) -> Result<InMemDicomObject, ReportError> {
    let preamble = if bytes.get(128..132) == Some(b"DICM") { ReadPreamble::Always } else { ReadPreamble::Never };
    let file = OpenFileOptions::new()
        .read_preamble(preamble)
        .read_until(tags::PIXEL_DATA)
        .from_reader(bytes)
        .map_err(|e| ReportError::ReadImage { index, source: Box::new(e) })?;
    Ok(file.into_inner())
}

/// dicom-rs decodes text by the first SpecificCharacterSet value and ignores one it does not
/// know (falling back to Latin-1): a name in a set it cannot decode would be copied changed.
/// Refuse those rather than write a wrong name into the PACS.
fn check_charset(index: usize, header: &InMemDicomObject) -> Result<(), ReportError> {
    let Some(element) = header.get(tags::SPECIFIC_CHARACTER_SET) else {
        return Ok(());
    };
    let values: Vec<String> = match element.value().strings() {
        Ok(v) => v.iter().map(|s| s.trim().to_owned()).collect(),
        Err(_) => element.to_str().map(|s| vec![s.trim().to_owned()]).unwrap_or_default(),
    };
    let supported = match values.as_slice() {
        [] => true,
        [one] => one.is_empty() || SpecificCharacterSet::from_code(one).is_some(),
        _ => false,
    };
    if supported { Ok(()) } else { Err(ReportError::UnsupportedCharacterSet { index, found: values.join("\\") }) }
}

/// A non-empty text attribute, trimmed.
pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.get(tag)?.to_str().ok()?;
    let value = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!value.is_empty()).then(|| value.to_owned())
}

fn uid(index: usize, obj: &InMemDicomObject, tag: Tag, attribute: &'static str) -> Result<Uid, ReportError> {
    let value = text(obj, tag).ok_or(ReportError::MissingAttribute { index, attribute })?;
    Uid::parse(&value).map_err(|source| ReportError::InvalidUid { index, attribute, source })
}

fn side(obj: &InMemDicomObject) -> Option<Side> {
    let code = text(obj, tags::IMAGE_LATERALITY).or_else(|| text(obj, tags::LATERALITY))?;
    match code.to_ascii_uppercase().as_str() {
        "B" => Some(Side::Both),
        other => Laterality::parse(other).map(Side::One),
    }
}
