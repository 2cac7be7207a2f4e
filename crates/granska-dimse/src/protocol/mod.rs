//! The DIMSE layer dicom-rs lacks: command sets (C-ECHO, C-STORE and the "unrecognised
//! operation" answer) as Implicit VR Little Endian `InMemDicomObject`s, the reassembly of
//! messages fragmented over many PDVs and PDUs, and the fragmentation of outgoing messages to
//! the peer's maximum PDU length. Pure code, no I/O: the SCP, the SCU and the fuzz target use it
//! alike.

mod command;
mod pdv;

pub use command::{Command, StoreRsp, command_field, status};
pub use pdv::{Assembled, MAX_COMMAND_BYTES, Reassembler, fragment};

/// Why a command set or a P-DATA stream was refused. The association that sent it is aborted:
/// without a readable command there is no message to answer.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// An element of the command set declares more bytes than remain.
    #[error(
        "command set: element ({group:04X},{element:04X}) at byte {offset} declares {declared} bytes, \
         but only {remaining} remain"
    )]
    CommandLength {
        /// Its group.
        group: u16,
        /// Its element.
        element: u16,
        /// Where its header starts.
        offset: usize,
        /// The declared length.
        declared: u32,
        /// What was left.
        remaining: usize,
    },
    /// A binary element's length is not a whole number of its values.
    #[error(
        "command set: element ({group:04X},{element:04X}) at byte {offset} declares {declared} bytes, \
         expected a multiple of {size}"
    )]
    ValueLength {
        /// Its group.
        group: u16,
        /// Its element.
        element: u16,
        /// Where its header starts.
        offset: usize,
        /// The declared length.
        declared: u32,
        /// The size of one value of its VR.
        size: usize,
    },
    /// The command set holds an element outside group 0000.
    #[error("command set: expected only group 0000 elements, found ({group:04X},{element:04X}) at byte {offset}")]
    NotCommandGroup {
        /// Its group.
        group: u16,
        /// Its element.
        element: u16,
        /// Where its header starts.
        offset: usize,
    },
    /// The command set ends inside an element header.
    #[error("command set: expected an 8-byte element header at byte {offset}, found {remaining} bytes")]
    Truncated {
        /// Where the header should start.
        offset: usize,
        /// What was left.
        remaining: usize,
    },
    /// dicom-rs could not parse the command set.
    #[error("command set cannot be parsed: {0}")]
    Parse(#[source] Box<dicom_object::ReadError>),
    /// dicom-rs could not write a command set.
    #[error("command set cannot be written: {0}")]
    Encode(#[source] Box<dicom_object::WriteError>),
    /// A required command element is missing.
    #[error("command set: missing {attr}")]
    Missing {
        /// The element, e.g. `MessageID (0000,0110)`.
        attr: &'static str,
    },
    /// A command element has a value of the wrong kind.
    #[error("command set: invalid {attr}: expected {expected}")]
    Invalid {
        /// The element.
        attr: &'static str,
        /// What it should hold.
        expected: &'static str,
    },
    /// A command says a data set follows where none may, or none where one must.
    #[error("command 0x{command_field:04X}: expected {}, found CommandDataSetType 0x{data_set_type:04X}",
        if *.expected { "a data set" } else { "no data set" })]
    DataSetPresence {
        /// The command.
        command_field: u16,
        /// Whether it must carry a data set.
        expected: bool,
        /// What it declared.
        data_set_type: u16,
    },
    /// A fragment of one message arrived while another message was unfinished.
    #[error(
        "P-DATA: a {found} fragment on presentation context {found_context} arrived while a {open} on \
         context {open_context} was unfinished"
    )]
    Interleaved {
        /// `command` or `data`.
        found: &'static str,
        /// Its presentation context.
        found_context: u8,
        /// The unfinished message's kind.
        open: &'static str,
        /// Its presentation context.
        open_context: u8,
    },
    /// A command set larger than any real one.
    #[error("P-DATA: command set over {limit} bytes")]
    CommandTooLarge {
        /// [`MAX_COMMAND_BYTES`].
        limit: usize,
    },
}
