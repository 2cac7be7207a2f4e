//! Granska's result report: a DICOM Mammography CAD SR (SOP class 1.2.840.10008.5.1.4.1.1.88.50,
//! template TID 4000) for one routed exam, sent back to the PACS so that the AI's triage is
//! visible next to the images. [`build`] writes it, [`describe`] reads one back (for
//! `granska report` and tests), [`uid_2_25`] makes the new UIDs the caller records first.
//!
//! The content tree is the one in the project notes (`dicom-network.md`, "Results out") that
//! dciodvfy, dcmtk's dsrdump and Pixelmed's DicomSRValidator accept. A scored exam gets the
//! findings summary 111241 "All algorithms succeeded; without findings", or 111242 "… with
//! findings" when it carries the extra-high-risk flag (a summary saying "without findings" must
//! never sit on the exam the model ranks highest), the certainty of impression (the exam score
//! in percent) and an impression description (category, reading mode, flag, policy, model,
//! research use). An exam the policy routed without a score (unscorable, or incomplete) gets
//! 111245 "No algorithms succeeded; without findings", no certainty, the reason and the double
//! reading in the description, and analyses "Failed". The report copies the Patient and General Study
//! attributes of the exam's first image (decoded from its character set, written as UTF-8,
//! `ISO_IR 192`), starts a new SR series, and references every image of the exam: in the Image
//! Library (R-CC, L-CC, R-MLO, L-MLO first, with laterality and view codes), under the analysis
//! performed, and in CurrentRequestedProcedureEvidenceSequence.
//!
//! This crate does no I/O beyond the bytes it is given, reads no clock (the caller passes the
//! time) and logs nothing: reports hold patient data.
#![warn(missing_docs)]

mod codes;
mod content;
mod describe;
mod error;
mod source;
mod tree;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use granska_types::{Flag, ReadingMode, ScoringRecord, Uid};
use rand::{RngCore, TryRngCore};

pub use describe::{Summary, describe};
pub use error::ReportError;

/// Mammography CAD SR Storage.
pub const MAMMOGRAPHY_CAD_SR: &str = "1.2.840.10008.5.1.4.1.1.88.50";

/// Explicit VR Little Endian, the report's transfer syntax.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";

/// The Series Number of every report series (a constant, so a PACS sorts AI results together).
pub const SERIES_NUMBER: &str = "9001";

/// Granska's implementation class UID (the same as the phantom writer's).
const IMPLEMENTATION_CLASS_UID: &str = "2.25.137038125948464744592851127541547411227";

/// What a report is built from: the exam's images and what the model and policy said. Its
/// `Debug` shows counts and identifiers only: the images hold patient data.
#[derive(Clone, Copy)]
pub struct ReportInput<'a> {
    /// Part 10 bytes of every MG image of the exam (the report copies Patient/Study modules from
    /// the first one — headers only, parsing stops before PixelData — and references all).
    pub images: &'a [&'a [u8]],
    /// The exam's scoring as recorded.
    pub scoring: &'a ScoringRecord,
    /// The reading mode the policy chose.
    pub reading_mode: ReadingMode,
    /// The policy's flags on the exam.
    pub flags: &'a [Flag],
    /// The policy's name and version, e.g. `masai 1.0`.
    pub policy: &'a str,
    /// The report's SOPInstanceUID (the caller makes it, e.g. with [`uid_2_25`], and records it
    /// before building, so a resend is the same instance).
    pub sop_instance_uid: &'a Uid,
    /// The report's SeriesInstanceUID.
    pub series_instance_uid: &'a Uid,
    /// When the report was made: ContentDate/Time and InstanceCreationDate/Time, in UTC
    /// (TimezoneOffsetFromUTC `+0000`).
    pub created: jiff::Timestamp,
}

/// A built report. Its `Debug` leaves out the bytes (patient data).
#[derive(Clone)]
pub struct Report {
    /// The SR as a Part 10 file (preamble, file meta group, Explicit VR Little Endian).
    pub bytes: Vec<u8>,
    /// The exam's StudyInstanceUID (the report belongs to that study).
    pub study_uid: Uid,
    /// The report's SOPInstanceUID, as given.
    pub sop_instance_uid: Uid,
    /// The report's SeriesInstanceUID, as given.
    pub series_instance_uid: Uid,
    /// How many images the report references.
    pub images: usize,
}

impl std::fmt::Debug for ReportInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportInput")
            .field("images", &self.images.len())
            .field("scoring", &self.scoring)
            .field("reading_mode", &self.reading_mode)
            .field("flags", &self.flags)
            .field("policy", &self.policy)
            .field("sop_instance_uid", &self.sop_instance_uid)
            .field("series_instance_uid", &self.series_instance_uid)
            .field("created", &self.created)
            .finish()
    }
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("study_uid", &self.study_uid)
            .field("sop_instance_uid", &self.sop_instance_uid)
            .field("series_instance_uid", &self.series_instance_uid)
            .field("images", &self.images)
            .finish()
    }
}

/// Builds the Mammography CAD SR of one exam. Deterministic: the same input gives the same
/// bytes.
pub fn build(input: &ReportInput) -> Result<Report, ReportError> {
    let exam = source::read_exam(input.images)?;
    let outcome = content::Outcome::of(input)?;
    let mut images = exam.images.clone();
    content::library_order(&mut images);

    let mut obj = InMemDicomObject::new_empty();
    let date = input.created.strftime("%Y%m%d").to_string();
    let time = input.created.strftime("%H%M%S%.6f").to_string();
    let text = |tag, vr, value: &str| DataElement::new(tag, vr, PrimitiveValue::from(value));

    // SOP Common.
    obj.put(text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    obj.put(text(tags::SOP_CLASS_UID, VR::UI, MAMMOGRAPHY_CAD_SR));
    obj.put(tree::ui(tags::SOP_INSTANCE_UID, input.sop_instance_uid));
    obj.put(text(tags::INSTANCE_CREATION_DATE, VR::DA, &date));
    obj.put(text(tags::INSTANCE_CREATION_TIME, VR::TM, &time));
    obj.put(text(tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, "+0000"));
    // Patient and General Study, copied.
    for element in exam.copied {
        obj.put(element);
    }
    obj.put(tree::ui(tags::STUDY_INSTANCE_UID, &exam.study_uid));
    // SR Document Series.
    obj.put(text(tags::MODALITY, VR::CS, "SR"));
    obj.put(tree::ui(tags::SERIES_INSTANCE_UID, input.series_instance_uid));
    obj.put(text(tags::SERIES_NUMBER, VR::IS, SERIES_NUMBER));
    obj.put(text(tags::SERIES_DATE, VR::DA, &date));
    obj.put(text(tags::SERIES_TIME, VR::TM, &time));
    obj.put(text(tags::SERIES_DESCRIPTION, VR::LO, "Granska AI triage (research use)"));
    obj.put(tree::sequence(tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, Vec::new()));
    // General Equipment.
    obj.put(text(tags::MANUFACTURER, VR::LO, "Granska"));
    let mut versions = vec![format!("granska-report {}", env!("CARGO_PKG_VERSION"))];
    if let Some(model) = &input.scoring.model {
        versions.push(format!("{} {}", model.name, model.version).chars().take(64).collect());
    }
    obj.put(DataElement::new(tags::SOFTWARE_VERSIONS, VR::LO, PrimitiveValue::Strs(versions.into())));
    // SR Document General.
    obj.put(text(tags::INSTANCE_NUMBER, VR::IS, "1"));
    obj.put(text(tags::COMPLETION_FLAG, VR::CS, "COMPLETE"));
    obj.put(text(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"));
    obj.put(text(tags::CONTENT_DATE, VR::DA, &date));
    obj.put(text(tags::CONTENT_TIME, VR::TM, &time));
    obj.put(evidence(&exam.study_uid, &images));
    obj.put(tree::sequence(tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, Vec::new()));
    // SR Document Content.
    content::document(&images, input, &outcome).write_into(&mut obj, None);
    obj.put(tree::sequence(
        tags::CONTENT_TEMPLATE_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            text(tags::MAPPING_RESOURCE, VR::CS, "DCMR"),
            text(tags::TEMPLATE_IDENTIFIER, VR::CS, "4000"),
        ])],
    ));

    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(MAMMOGRAPHY_CAD_SR)
        .media_storage_sop_instance_uid(input.sop_instance_uid.as_str())
        .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name("GRANSKA_000");
    let file = obj.with_meta(meta).map_err(|e| ReportError::Meta { source: Box::new(e) })?;
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).map_err(|e| ReportError::Encode { source: Box::new(e) })?;
    Ok(Report {
        bytes,
        study_uid: exam.study_uid,
        sop_instance_uid: input.sop_instance_uid.clone(),
        series_instance_uid: input.series_instance_uid.clone(),
        images: images.len(),
    })
}

/// CurrentRequestedProcedureEvidenceSequence: every image, grouped by series (in the order the
/// series first appear in the library).
fn evidence(study: &Uid, images: &[source::SourceImage]) -> DataElement<InMemDicomObject> {
    let mut series: Vec<(&Uid, Vec<InMemDicomObject>)> = Vec::new();
    for image in images {
        let item = InMemDicomObject::from_element_iter([
            tree::ui(tags::REFERENCED_SOP_CLASS_UID, &image.sop_class_uid),
            tree::ui(tags::REFERENCED_SOP_INSTANCE_UID, &image.sop_instance_uid),
        ]);
        match series.iter_mut().find(|(uid, _)| **uid == image.series_instance_uid) {
            Some((_, items)) => items.push(item),
            None => series.push((&image.series_instance_uid, vec![item])),
        }
    }
    let series = series
        .into_iter()
        .map(|(uid, items)| {
            InMemDicomObject::from_element_iter([
                tree::ui(tags::SERIES_INSTANCE_UID, uid),
                tree::sequence(tags::REFERENCED_SOP_SEQUENCE, items),
            ])
        })
        .collect();
    tree::sequence(
        tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            tree::ui(tags::STUDY_INSTANCE_UID, study),
            tree::sequence(tags::REFERENCED_SERIES_SEQUENCE, series),
        ])],
    )
}

/// A new UID under the UUID root, `2.25.<decimal>` (PS3.5 B.2), from 128 bits of the operating
/// system's random generator made into a version 4 UUID (122 random bits; the version and
/// variant bits set as ITU-T X.667 asks). At most 44 characters.
///
/// # Panics
/// When the operating system's random generator fails (rand's `OsRng` contract); there is no
/// safe fallback for a globally unique identifier.
pub fn uid_2_25() -> Uid {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.unwrap_err().fill_bytes(&mut bytes);
    let mut v = u128::from_be_bytes(bytes);
    v = (v & !(0xF << 76)) | (0x4 << 76); // version 4
    v = (v & !(0x3 << 62)) | (0x2 << 62); // variant 10
    match Uid::parse(&format!("2.25.{v}")) {
        Ok(uid) => uid,
        // Digits after "2.25." always form a valid UID of at most 44 characters.
        Err(e) => unreachable!("2.25 UID is always valid: {e}"),
    }
}
