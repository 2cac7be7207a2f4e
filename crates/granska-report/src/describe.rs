//! Reading back a report this crate wrote: the identifiers and what it says, for
//! `granska report` and for tests. It reads the content items by their concept codes (the
//! same constants [`crate::build`] writes), so it is a check of the tree, not a second parser
//! of free text, except for the category, which only the Impression Description carries.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::OpenFileOptions;
use dicom_object::file::ReadPreamble;
use granska_types::{Category, Uid};

use crate::codes::{self, Code};
use crate::source::text;
use crate::{MAMMOGRAPHY_CAD_SR, ReportError};

/// What a Granska report says, read back from its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The report's SOPInstanceUID.
    pub sop_instance_uid: Uid,
    /// The report's SeriesInstanceUID.
    pub series_instance_uid: Uid,
    /// The exam's StudyInstanceUID.
    pub study_uid: Uid,
    /// ContentDate and ContentTime, as written (`YYYYMMDD`, `HHMMSS.FFFFFF`, UTC).
    pub content_date_time: (String, String),
    /// The CAD Processing and Findings Summary's code meaning, e.g. "All algorithms
    /// succeeded; without findings".
    pub findings: String,
    /// Whether the AI's score was used (the findings summary says all algorithms succeeded).
    pub scored: bool,
    /// The category, when scored.
    pub category: Option<Category>,
    /// Certainty of impression: the exam score in percent, when scored.
    pub score_percent: Option<f64>,
    /// Algorithm Name (the model's name, or "Granska" when no model ran).
    pub algorithm_name: String,
    /// Algorithm Version (the model's version and sha256 prefix).
    pub algorithm_version: String,
    /// The Impression Description.
    pub description: String,
    /// How many images the Image Library references.
    pub images: usize,
}

/// Reads a report written by [`crate::build`].
pub fn describe(report_bytes: &[u8]) -> Result<Summary, ReportError> {
    let preamble = if report_bytes.get(128..132) == Some(b"DICM") { ReadPreamble::Always } else { ReadPreamble::Never };
    let file = OpenFileOptions::new()
        .read_preamble(preamble)
        .from_reader(report_bytes)
        .map_err(|e| ReportError::ReadReport { source: Box::new(e) })?;
    let obj: &InMemDicomObject = &file;
    let class = text(obj, tags::SOP_CLASS_UID).unwrap_or_default();
    if class != MAMMOGRAPHY_CAD_SR {
        return Err(not_a_report(format!("SOP class {class:?}")));
    }
    let template = items(obj, tags::CONTENT_TEMPLATE_SEQUENCE)
        .first()
        .and_then(|t| text(t, tags::TEMPLATE_IDENTIFIER))
        .unwrap_or_default();
    if template != "4000" {
        return Err(not_a_report(format!("template {template:?} instead of TID 4000")));
    }
    let root = items(obj, tags::CONTENT_SEQUENCE);
    let library = find(root, codes::IMAGE_LIBRARY).ok_or_else(|| not_a_report("no Image Library".into()))?;
    let images = items(library, tags::CONTENT_SEQUENCE)
        .iter()
        .filter(|i| text(i, tags::VALUE_TYPE).as_deref() == Some("IMAGE"))
        .count();
    let summary = find(root, codes::FINDINGS_SUMMARY)
        .ok_or_else(|| not_a_report("no CAD Processing and Findings Summary".into()))?;
    let findings = code_of(summary, tags::CONCEPT_CODE_SEQUENCE)
        .ok_or_else(|| not_a_report("a findings summary without a value".into()))?;
    let scored = [codes::ALL_SUCCEEDED_WITHOUT_FINDINGS.value, codes::ALL_SUCCEEDED_WITH_FINDINGS.value]
        .contains(&findings.0.as_str());
    let props = items(summary, tags::CONTENT_SEQUENCE);
    let text_of = |code: Code| find(props, code).and_then(|i| text(i, tags::TEXT_VALUE)).unwrap_or_default();
    let description = text_of(codes::IMPRESSION_DESCRIPTION);
    let score_percent = find(props, codes::CERTAINTY_OF_IMPRESSION)
        .and_then(|num| items(num, tags::MEASURED_VALUE_SEQUENCE).first().and_then(|m| text(m, tags::NUMERIC_VALUE)))
        .and_then(|v| v.parse::<f64>().ok());
    let category = description
        .strip_prefix("category ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u8>().ok())
        .and_then(|n| Category::new(n).ok());
    let uid = |tag: Tag, what: &str| {
        text(obj, tag).and_then(|t| Uid::parse(&t).ok()).ok_or_else(|| not_a_report(format!("no valid {what}")))
    };
    Ok(Summary {
        sop_instance_uid: uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        series_instance_uid: uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        study_uid: uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        content_date_time: (
            text(obj, tags::CONTENT_DATE).unwrap_or_default(),
            text(obj, tags::CONTENT_TIME).unwrap_or_default(),
        ),
        findings: findings.1,
        scored,
        category: if scored { category } else { None },
        score_percent,
        algorithm_name: text_of(codes::ALGORITHM_NAME),
        algorithm_version: text_of(codes::ALGORITHM_VERSION),
        description,
        images,
    })
}

fn not_a_report(found: String) -> ReportError {
    ReportError::NotAReport { found }
}

/// The items of a sequence attribute (none when absent or not a sequence).
fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    obj.get(tag).and_then(|e| e.items()).unwrap_or(&[])
}

/// (CodeValue, CodeMeaning) of the first item of a code sequence.
fn code_of(obj: &InMemDicomObject, tag: Tag) -> Option<(String, String)> {
    let item = items(obj, tag).first()?;
    Some((text(item, tags::CODE_VALUE)?, text(item, tags::CODE_MEANING).unwrap_or_default()))
}

/// The first content item whose concept name is `code`.
fn find(content: &[InMemDicomObject], code: Code) -> Option<&InMemDicomObject> {
    content.iter().find(|item| {
        items(item, tags::CONCEPT_NAME_CODE_SEQUENCE).first().is_some_and(|c| {
            text(c, tags::CODE_VALUE).as_deref() == Some(code.value)
                && text(c, tags::CODING_SCHEME_DESIGNATOR).as_deref() == Some(code.scheme)
        })
    })
}
