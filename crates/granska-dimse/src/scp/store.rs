//! What a C-STORE needs besides the core: the one exhaustive mapping of the core's errors to
//! DIMSE statuses, the Part 10 wrapping of a received data set (without re-encoding it), and
//! a bounded look at the data set's own SOP Class UID.

use dicom_object::meta::FileMetaTableBuilder;
use granska_app::{AppError, InstanceProblem, Limit};
use granska_archive::Error as A;
use granska_dicom::ErrorKind as K;
use granska_worklist::Error as W;

use crate::protocol::status;

/// Granska's implementation class UID in the file meta of instances it receives (a UUID-derived
/// UID, PS3.5 B.2).
pub(crate) const IMPLEMENTATION_CLASS_UID: &str = "2.25.51945409700803106615643203725237374869";
/// Implementation version name in the file meta.
pub(crate) const IMPLEMENTATION_VERSION_NAME: &str = "GRANSKA";

/// The one mapping from the core's errors to a C-STORE-RSP status and ErrorComment:
/// exhaustive, no wildcard arm, down to the stores' variants, so a new failure must be given
/// its status here before the crate compiles. Comments name what is wrong, never a value from
/// the data set (no patient data).
pub fn store_status(error: &AppError) -> (u16, Option<String>) {
    match error {
        AppError::Forbidden { .. } => (status::NOT_AUTHORIZED, Some("this peer may not store instances".into())),
        AppError::InvalidInstance { problem: InstanceProblem::Unreadable, field, kind } => {
            (status::CANNOT_UNDERSTAND, Some(unreadable_comment(field.as_deref(), kind)))
        }
        AppError::InvalidInstance { problem: InstanceProblem::NotConformant, field, kind } => {
            let comment = match (field, kind.as_ref()) {
                (_, K::UnsupportedTransferSyntax { .. }) => "unsupported transfer syntax".to_owned(),
                (_, K::NoPixelData) => "no pixel data".to_owned(),
                (_, K::PixelDataTooShort { .. }) => "pixel data shorter than the image needs".to_owned(),
                (_, K::ImageTooLarge { .. }) => "image larger than the decoding limit".to_owned(),
                (Some(field), K::Missing { .. }) => format!("missing {field}"),
                (Some(field), _) => format!("invalid {field}"),
                (None, _) => "not a mammogram this service accepts".to_owned(),
            };
            (status::DATA_SET_MISMATCH, Some(comment))
        }
        AppError::Exhausted { limit: Limit::DiskSpace, .. } => {
            (status::OUT_OF_RESOURCES, Some("data disk nearly full; retry later".into()))
        }
        AppError::Exhausted { limit: Limit::InstanceSize, .. } => {
            (status::OUT_OF_RESOURCES, Some("instance larger than the configured limit".into()))
        }
        AppError::Archive(a) => archive_status(a),
        AppError::Worklist(w) => worklist_status(w),
        AppError::AuditUnavailable { .. } => (status::PROCESSING_FAILURE, Some("audit log unavailable".into())),
        AppError::UnknownStudy { .. }
        | AppError::UnknownReport { .. }
        | AppError::NotYourExam { .. }
        | AppError::UnknownInstance { .. }
        | AppError::Report(_)
        | AppError::NotHolder { .. }
        | AppError::InvalidArgument { .. } => (status::PROCESSING_FAILURE, None),
    }
}

fn archive_status(e: &A) -> (u16, Option<String>) {
    match e {
        A::Busy { .. } => (status::OUT_OF_RESOURCES, Some("archive busy; retry later".into())),
        A::Conflict { .. } => {
            (status::PROCESSING_FAILURE, Some("SOP instance already stored with other content".into()))
        }
        A::Io { .. } | A::Backend { .. } | A::SchemaTooNew { .. } | A::CorruptBlob { .. } | A::Corrupt { .. } => {
            (status::PROCESSING_FAILURE, Some("archive failure".into()))
        }
        A::UnknownStudy { .. }
        | A::UnknownInstance { .. }
        | A::UnknownReport { .. }
        | A::ReportNotPending { .. }
        | A::BadSha256 { .. } => (status::PROCESSING_FAILURE, None),
    }
}

fn worklist_status(e: &W) -> (u16, Option<String>) {
    match e {
        W::Busy { .. } => (status::OUT_OF_RESOURCES, Some("worklist busy; retry later".into())),
        W::Open { .. }
        | W::Create { .. }
        | W::Backend { .. }
        | W::SchemaTooNew { .. }
        | W::Migration { .. }
        | W::Corrupt { .. }
        | W::UnknownStudy { .. }
        | W::UnknownTask { .. }
        | W::NotHolder { .. }
        | W::LeaseExpired { .. }
        | W::RequestIdReused { .. }
        | W::InvalidInput { .. } => (status::PROCESSING_FAILURE, None),
    }
}

/// What is wrong with an unreadable data set, from the kind of finding only (its messages may
/// quote bytes of the data set).
fn unreadable_comment(field: Option<&str>, kind: &K) -> String {
    let at = |group: &u16, element: &u16| format!("({group:04X},{element:04X})");
    match kind {
        K::DeclaredLength { group, element, .. } => format!("element {} longer than the data set", at(group, element)),
        K::UndefinedLength { group, element, .. } => format!("element {} has an undefined length", at(group, element)),
        K::InvalidVr { group, element, .. } => format!("element {} has an invalid VR", at(group, element)),
        K::MetaGroupInterrupted { group, element, .. } => {
            format!("file meta interrupted by element {}", at(group, element))
        }
        K::Io(_) | K::Empty => "empty or truncated data set".into(),
        K::NotDicom { .. } => "not DICOM".into(),
        K::Inflate(_) | K::InflateTooLarge { .. } => "deflated data set corrupt or too large".into(),
        K::Parse(_) => "data set cannot be parsed".into(),
        K::CodecPanic { .. } | K::Decode { .. } => "pixel data cannot be decoded".into(),
        K::Missing { .. }
        | K::Invalid { .. }
        | K::InvalidUid { .. }
        | K::UnsupportedTransferSyntax { .. }
        | K::NoPixelData
        | K::PixelDataTooShort { .. }
        | K::ImageTooLarge { .. } => match field {
            Some(f) => format!("cannot read {f}"),
            None => "data set cannot be read".into(),
        },
    }
}

/// A received data set as a Part 10 file: 128-byte preamble, `DICM`, the file meta (the
/// command's SOP class and instance, the presentation context's transfer syntax), then the data
/// set's bytes exactly as received.
pub(crate) fn part10(
    sop_class_uid: &str,
    sop_instance_uid: &str,
    transfer_syntax_uid: &str,
    calling_ae: &str,
    data_set: &[u8],
) -> Result<Vec<u8>, dicom_object::meta::Error> {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class_uid)
        .media_storage_sop_instance_uid(sop_instance_uid)
        .transfer_syntax(transfer_syntax_uid)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
        .source_application_entity_title(calling_ae.trim())
        .build()?;
    let mut out = Vec::with_capacity(data_set.len() + 512);
    out.extend_from_slice(&[0; 128]);
    out.extend_from_slice(b"DICM");
    meta.write(&mut out)?;
    out.extend_from_slice(data_set);
    Ok(out)
}

/// The data set's SOPClassUID (0008,0016), read by walking its first elements in the transfer
/// syntax's encoding with every length checked; `None` when it cannot be told cheaply (deflated,
/// a sequence of undefined length before it, truncated, absent): the core's validation decides.
pub(crate) fn data_set_sop_class(data_set: &[u8], transfer_syntax_uid: &str) -> Option<String> {
    let (explicit, big_endian) = match transfer_syntax_uid.trim_end_matches('\0') {
        "1.2.840.10008.1.2" => (false, false),
        "1.2.840.10008.1.2.2" => (true, true),
        "1.2.840.10008.1.2.1.99" => return None,
        _ => (true, false),
    };
    let u16_at = |at: usize| {
        let b = data_set.get(at..at + 2)?;
        Some(if big_endian { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) })
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = data_set.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let mut at = 0usize;
    loop {
        let tag = (u16_at(at)?, u16_at(at + 2)?);
        if tag > (0x0008, 0x0016) {
            return None;
        }
        let (len, header) = if !explicit {
            (u32_at(at + 4)?, 8)
        } else {
            let vr = data_set.get(at + 4..at + 6)?;
            match vr {
                b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT"
                | b"UV" => (u32_at(at + 8)?, 12),
                _ => (u32::from(u16_at(at + 6)?), 8),
            }
        };
        let start = at + header;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let value = data_set.get(start..end)?;
        if tag == (0x0008, 0x0016) {
            let text = std::str::from_utf8(value).ok()?;
            return Some(text.trim_matches(['\0', ' ']).to_owned());
        }
        at = end;
    }
}
