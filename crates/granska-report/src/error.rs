//! Why a report could not be built or read back: one variant per failure, naming the image (by
//! its position in the input) and the attribute, and saying what was expected and what was found.

use granska_types::{Uid, UidError};

/// Everything [`crate::build`] and [`crate::describe`] can refuse.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The exam has no image: there is nothing to report on.
    #[error("expected at least one image of the exam, found none")]
    NoImages,
    /// An image's bytes are not a readable DICOM Part 10 header.
    #[error("image {index}: expected DICOM Part 10 bytes, cannot read its header: {source}")]
    ReadImage {
        /// Position of the image in the input.
        index: usize,
        /// dicom-rs's reason.
        #[source]
        source: Box<dicom_object::ReadError>,
    },
    /// A required attribute is absent or empty in an image.
    #[error("image {index}: expected {attribute}, found none")]
    MissingAttribute {
        /// Position of the image in the input.
        index: usize,
        /// The attribute's keyword.
        attribute: &'static str,
    },
    /// A UID attribute of an image is not a valid UID.
    #[error("image {index}: {attribute} is not a valid UID: {source}")]
    InvalidUid {
        /// Position of the image in the input.
        index: usize,
        /// The attribute's keyword.
        attribute: &'static str,
        /// Why.
        #[source]
        source: UidError,
    },
    /// An image declares a character set whose text Granska cannot decode faithfully (code
    /// extensions, or a set dicom-rs does not know): copying its names could change them.
    #[error("image {index}: expected a single supported SpecificCharacterSet, found {found:?}")]
    UnsupportedCharacterSet {
        /// Position of the image in the input.
        index: usize,
        /// The declared values, joined by `\`.
        found: String,
    },
    /// The images belong to more than one study.
    #[error("image {index}: expected StudyInstanceUID {expected} (that of image 0), found {found}")]
    MixedStudies {
        /// Position of the image in the input.
        index: usize,
        /// The first image's study.
        expected: Uid,
        /// This image's study.
        found: Uid,
    },
    /// The same SOP instance was given twice.
    #[error("image {index}: expected distinct SOP instances, found {sop_instance_uid} again")]
    DuplicateImage {
        /// Position of the repeated image in the input.
        index: usize,
        /// Its SOPInstanceUID.
        sop_instance_uid: Uid,
    },
    /// The scoring record's exam score is not a probability.
    #[error("expected an exam score within 0–1, found {score}")]
    ScoreOutOfRange {
        /// The score given.
        score: f64,
    },
    /// dicom-rs refused to build the file meta group.
    #[error("cannot build the report's file meta group: {source}")]
    Meta {
        /// dicom-rs's reason.
        #[source]
        source: Box<dicom_object::WithMetaError>,
    },
    /// dicom-rs refused to encode the report.
    #[error("cannot encode the report as DICOM: {source}")]
    Encode {
        /// dicom-rs's reason.
        #[source]
        source: Box<dicom_object::WriteError>,
    },
    /// The bytes given to [`crate::describe`] are not readable DICOM.
    #[error("expected a Part 10 SR, cannot read it: {source}")]
    ReadReport {
        /// dicom-rs's reason.
        #[source]
        source: Box<dicom_object::ReadError>,
    },
    /// The bytes given to [`crate::describe`] are DICOM, but not a report this crate writes.
    #[error("expected a Granska Mammography CAD SR, found {found}")]
    NotAReport {
        /// What was found instead (SOP class, template or missing content).
        found: String,
    },
}
