//! DIMSE command sets (PS3.7 §9.3, §E): the few messages Granska speaks, encoded with
//! `InMemDicomObject::command_from_element_iter` (which adds CommandGroupLength) in Implicit VR
//! Little Endian, and parsed with `read_dataset_with_ts` after a length check of every element
//! (no allocation is sized by a length larger than the bytes received).

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

use super::ProtocolError;

/// CommandField (0000,0100) values.
pub mod command_field {
    /// C-STORE-RQ.
    pub const C_STORE_RQ: u16 = 0x0001;
    /// C-STORE-RSP.
    pub const C_STORE_RSP: u16 = 0x8001;
    /// C-ECHO-RQ.
    pub const C_ECHO_RQ: u16 = 0x0030;
    /// C-ECHO-RSP.
    pub const C_ECHO_RSP: u16 = 0x8030;
}

/// Status (0000,0900) values Granska sends (PS3.4 B.2.3, PS3.7 C).
pub mod status {
    /// Stored (also an identical duplicate and an accept-and-drop class).
    pub const SUCCESS: u16 = 0x0000;
    /// Refused: not authorised.
    pub const NOT_AUTHORIZED: u16 = 0x0124;
    /// Failed: processing failure.
    pub const PROCESSING_FAILURE: u16 = 0x0110;
    /// Refused: SOP class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Refused: unrecognised operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    /// Refused: out of resources (the sender retries later).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: data set does not match SOP class.
    pub const DATA_SET_MISMATCH: u16 = 0xA900;
    /// Error: cannot understand.
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
}

/// CommandDataSetType (0000,0800) meaning "no data set follows"; any other value means one does.
const NO_DATA_SET: u16 = 0x0101;
/// ErrorComment (0000,0902) is LO: at most 64 characters.
const MAX_ERROR_COMMENT: usize = 64;

/// A C-STORE-RSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRsp {
    /// The request's MessageID.
    pub message_id_responded: u16,
    /// AffectedSOPClassUID.
    pub sop_class_uid: String,
    /// AffectedSOPInstanceUID.
    pub sop_instance_uid: String,
    /// Status.
    pub status: u16,
    /// ErrorComment, ASCII, at most 64 characters once encoded.
    pub error_comment: Option<String>,
}

/// One DIMSE command set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// C-ECHO-RQ.
    EchoRq {
        /// MessageID.
        message_id: u16,
        /// AffectedSOPClassUID (Verification).
        sop_class_uid: String,
    },
    /// C-ECHO-RSP.
    EchoRsp {
        /// The request's MessageID.
        message_id_responded: u16,
        /// AffectedSOPClassUID.
        sop_class_uid: String,
        /// Status.
        status: u16,
    },
    /// C-STORE-RQ (a data set always follows).
    StoreRq {
        /// MessageID.
        message_id: u16,
        /// AffectedSOPClassUID.
        sop_class_uid: String,
        /// AffectedSOPInstanceUID.
        sop_instance_uid: String,
        /// Priority (0 medium, 1 high, 2 low).
        priority: u16,
    },
    /// C-STORE-RSP.
    StoreRsp(StoreRsp),
    /// Any other command: answered with 0x0211 (unrecognised operation).
    Other {
        /// CommandField.
        command_field: u16,
        /// MessageID, when the command has one.
        message_id: Option<u16>,
        /// AffectedSOPClassUID, when the command has one.
        sop_class_uid: Option<String>,
        /// Whether a data set follows (it is read and discarded).
        has_data_set: bool,
    },
}

impl Command {
    /// Whether a data set follows this command.
    pub fn has_data_set(&self) -> bool {
        match self {
            Command::StoreRq { .. } => true,
            Command::Other { has_data_set, .. } => *has_data_set,
            Command::EchoRq { .. } | Command::EchoRsp { .. } | Command::StoreRsp(_) => false,
        }
    }

    /// The answer to an unrecognised request: the same CommandField with the response bit, its
    /// MessageID, status 0x0211. `None` when the command is itself a response (or has no
    /// MessageID): nothing can be answered.
    pub fn unrecognized_response(&self) -> Option<Vec<u8>> {
        let Command::Other { command_field, message_id: Some(id), sop_class_uid, .. } = self else { return None };
        if command_field & 0x8000 != 0 {
            return None;
        }
        let mut elements = vec![
            us(tags::COMMAND_FIELD, command_field | 0x8000),
            us(tags::MESSAGE_ID_BEING_RESPONDED_TO, *id),
            us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
            us(tags::STATUS, status::UNRECOGNIZED_OPERATION),
        ];
        if let Some(class) = sop_class_uid {
            elements.push(ui(tags::AFFECTED_SOP_CLASS_UID, class));
        }
        encode_elements(elements).ok()
    }

    /// The command set's bytes (Implicit VR Little Endian, with CommandGroupLength).
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        use command_field::*;
        let elements = match self {
            Command::EchoRq { message_id, sop_class_uid } => vec![
                ui(tags::AFFECTED_SOP_CLASS_UID, sop_class_uid),
                us(tags::COMMAND_FIELD, C_ECHO_RQ),
                us(tags::MESSAGE_ID, *message_id),
                us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
            ],
            Command::EchoRsp { message_id_responded, sop_class_uid, status } => vec![
                ui(tags::AFFECTED_SOP_CLASS_UID, sop_class_uid),
                us(tags::COMMAND_FIELD, C_ECHO_RSP),
                us(tags::MESSAGE_ID_BEING_RESPONDED_TO, *message_id_responded),
                us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
                us(tags::STATUS, *status),
            ],
            Command::StoreRq { message_id, sop_class_uid, sop_instance_uid, priority } => vec![
                ui(tags::AFFECTED_SOP_CLASS_UID, sop_class_uid),
                us(tags::COMMAND_FIELD, C_STORE_RQ),
                us(tags::MESSAGE_ID, *message_id),
                us(tags::PRIORITY, *priority),
                // Any value but 0x0101 says a data set follows; 0x0000 is what dcmtk sends.
                us(tags::COMMAND_DATA_SET_TYPE, 0x0000),
                ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance_uid),
            ],
            Command::StoreRsp(r) => {
                let mut e = vec![
                    ui(tags::AFFECTED_SOP_CLASS_UID, &r.sop_class_uid),
                    us(tags::COMMAND_FIELD, C_STORE_RSP),
                    us(tags::MESSAGE_ID_BEING_RESPONDED_TO, r.message_id_responded),
                    us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
                    us(tags::STATUS, r.status),
                ];
                if let Some(comment) = &r.error_comment {
                    e.push(DataElement::new(tags::ERROR_COMMENT, VR::LO, PrimitiveValue::from(error_comment(comment))));
                }
                e.push(ui(tags::AFFECTED_SOP_INSTANCE_UID, &r.sop_instance_uid));
                e
            }
            Command::Other { command_field, message_id, sop_class_uid, has_data_set } => {
                let mut e = vec![
                    us(tags::COMMAND_FIELD, *command_field),
                    us(tags::COMMAND_DATA_SET_TYPE, if *has_data_set { 0 } else { NO_DATA_SET }),
                ];
                if let Some(id) = message_id {
                    e.push(us(tags::MESSAGE_ID, *id));
                }
                if let Some(class) = sop_class_uid {
                    e.push(ui(tags::AFFECTED_SOP_CLASS_UID, class));
                }
                e
            }
        };
        encode_elements(elements)
    }

    /// Parses a whole (reassembled) command set.
    pub fn parse(bytes: &[u8]) -> Result<Command, ProtocolError> {
        check_lengths(bytes)?;
        let obj = InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| ProtocolError::Parse(Box::new(e)))?;
        let field = required_us(&obj, tags::COMMAND_FIELD, "CommandField (0000,0100)")?;
        let data_set_type = required_us(&obj, tags::COMMAND_DATA_SET_TYPE, "CommandDataSetType (0000,0800)")?;
        let has_data_set = data_set_type != NO_DATA_SET;
        let presence = |expected: bool| {
            if has_data_set == expected {
                Ok(())
            } else {
                Err(ProtocolError::DataSetPresence { command_field: field, expected, data_set_type })
            }
        };
        use command_field::*;
        const CLASS: &str = "AffectedSOPClassUID (0000,0002)";
        const INSTANCE: &str = "AffectedSOPInstanceUID (0000,1000)";
        const ID: &str = "MessageID (0000,0110)";
        const RESPONDED: &str = "MessageIDBeingRespondedTo (0000,0120)";
        const STATUS: &str = "Status (0000,0900)";
        Ok(match field {
            C_ECHO_RQ => {
                presence(false)?;
                Command::EchoRq {
                    message_id: required_us(&obj, tags::MESSAGE_ID, ID)?,
                    sop_class_uid: optional_uid(&obj, tags::AFFECTED_SOP_CLASS_UID, CLASS)?.unwrap_or_default(),
                }
            }
            C_ECHO_RSP => {
                presence(false)?;
                Command::EchoRsp {
                    message_id_responded: required_us(&obj, tags::MESSAGE_ID_BEING_RESPONDED_TO, RESPONDED)?,
                    sop_class_uid: optional_uid(&obj, tags::AFFECTED_SOP_CLASS_UID, CLASS)?.unwrap_or_default(),
                    status: required_us(&obj, tags::STATUS, STATUS)?,
                }
            }
            C_STORE_RQ => {
                presence(true)?;
                Command::StoreRq {
                    message_id: required_us(&obj, tags::MESSAGE_ID, ID)?,
                    sop_class_uid: required_uid(&obj, tags::AFFECTED_SOP_CLASS_UID, CLASS)?,
                    sop_instance_uid: required_uid(&obj, tags::AFFECTED_SOP_INSTANCE_UID, INSTANCE)?,
                    priority: optional_us(&obj, tags::PRIORITY, "Priority (0000,0700)")?.unwrap_or(0),
                }
            }
            C_STORE_RSP => {
                presence(false)?;
                let comment = match obj.get(tags::ERROR_COMMENT) {
                    Some(e) => Some(e.to_str().map_err(|_| invalid("ErrorComment (0000,0902)", "text"))?.into_owned()),
                    None => None,
                };
                Command::StoreRsp(StoreRsp {
                    message_id_responded: required_us(&obj, tags::MESSAGE_ID_BEING_RESPONDED_TO, RESPONDED)?,
                    sop_class_uid: optional_uid(&obj, tags::AFFECTED_SOP_CLASS_UID, CLASS)?.unwrap_or_default(),
                    sop_instance_uid: optional_uid(&obj, tags::AFFECTED_SOP_INSTANCE_UID, INSTANCE)?
                        .unwrap_or_default(),
                    status: required_us(&obj, tags::STATUS, STATUS)?,
                    error_comment: comment.map(|c| c.trim_end_matches([' ', '\0']).to_owned()),
                })
            }
            _ => Command::Other {
                command_field: field,
                message_id: optional_us(&obj, tags::MESSAGE_ID, ID)?,
                sop_class_uid: optional_uid(&obj, tags::AFFECTED_SOP_CLASS_UID, CLASS)?,
                has_data_set,
            },
        })
    }
}

/// An ErrorComment as sent: printable ASCII (LO in the default repertoire, never a backslash),
/// at most 64 characters.
pub(crate) fn error_comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_graphic() && c != '\\' || c == ' ' { c } else { '?' })
        .take(MAX_ERROR_COMMENT)
        .collect()
}

fn encode_elements(elements: Vec<DataElement<InMemDicomObject>>) -> Result<Vec<u8>, ProtocolError> {
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut out = Vec::with_capacity(160);
    obj.write_dataset_with_ts(&mut out, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| ProtocolError::Encode(Box::new(e)))?;
    Ok(out)
}

fn us(tag: Tag, value: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(value))
}

fn ui(tag: Tag, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(value))
}

fn invalid(attr: &'static str, expected: &'static str) -> ProtocolError {
    ProtocolError::Invalid { attr, expected }
}

fn optional_us(obj: &InMemDicomObject, tag: Tag, attr: &'static str) -> Result<Option<u16>, ProtocolError> {
    let Some(e) = obj.get(tag) else { return Ok(None) };
    e.to_int::<u16>().map(Some).map_err(|_| invalid(attr, "one unsigned 16-bit value"))
}

fn required_us(obj: &InMemDicomObject, tag: Tag, attr: &'static str) -> Result<u16, ProtocolError> {
    optional_us(obj, tag, attr)?.ok_or(ProtocolError::Missing { attr })
}

fn optional_uid(obj: &InMemDicomObject, tag: Tag, attr: &'static str) -> Result<Option<String>, ProtocolError> {
    let Some(e) = obj.get(tag) else { return Ok(None) };
    let text = e.to_str().map_err(|_| invalid(attr, "a UID"))?;
    Ok(Some(text.trim_end_matches(['\0', ' ']).trim_start().to_owned()))
}

fn required_uid(obj: &InMemDicomObject, tag: Tag, attr: &'static str) -> Result<String, ProtocolError> {
    match optional_uid(obj, tag, attr)? {
        Some(uid) if !uid.is_empty() => Ok(uid),
        _ => Err(ProtocolError::Missing { attr }),
    }
}

/// Walks the Implicit VR LE elements: each header complete, each length within the bytes that
/// remain (which also refuses undefined lengths: command sets have no sequences), group 0000
/// only. dicom-rs then parses bytes whose every length is known to be sane.
/// The size of one value of `tag` in the standard dictionary's VR (1 for text and bytes).
fn value_size(tag: Tag) -> usize {
    use dicom_core::dictionary::DataDictionary;
    let vr = dicom_dictionary_std::StandardDataDictionary.by_tag(tag).map(|e| e.vr.relaxed());
    match vr {
        Some(VR::US | VR::SS | VR::OW) => 2,
        Some(VR::UL | VR::SL | VR::AT | VR::FL | VR::OL | VR::OF) => 4,
        Some(VR::FD | VR::SV | VR::UV | VR::OD | VR::OV) => 8,
        _ => 1,
    }
}

fn check_lengths(bytes: &[u8]) -> Result<(), ProtocolError> {
    let mut offset = 0;
    while offset < bytes.len() {
        let remaining = bytes.len() - offset;
        let Some(header) = bytes.get(offset..offset + 8) else {
            return Err(ProtocolError::Truncated { offset, remaining });
        };
        let group = u16::from_le_bytes([header[0], header[1]]);
        let element = u16::from_le_bytes([header[2], header[3]]);
        let declared = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if group != 0 {
            return Err(ProtocolError::NotCommandGroup { group, element, offset });
        }
        let after = remaining - 8;
        if declared as usize > after {
            return Err(ProtocolError::CommandLength { group, element, offset, declared, remaining: after });
        }
        // A binary value whose length is not a whole number of values (a UL of 105 bytes) makes
        // dicom-rs read fewer bytes than declared and lose its place: the next "length" it reads
        // is data, and it reserves up to 4 GB for it (found by fuzzing).
        let size = value_size(Tag(group, element));
        if !(declared as usize).is_multiple_of(size) {
            return Err(ProtocolError::ValueLength { group, element, offset, declared, size });
        }
        offset += 8 + declared as usize;
    }
    Ok(())
}
