//! The crate's one error type: every failure names the input it came from and, where there is
//! one, the attribute and what was expected versus found.

use std::fmt;

/// A DICOM attribute, named by tag and keyword, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// Group number.
    pub group: u16,
    /// Element number.
    pub element: u16,
    /// DICOM keyword, e.g. `ImageLaterality`.
    pub keyword: &'static str,
}

impl Attr {
    /// The attribute of a standard tag, with its keyword from the data dictionary.
    pub fn of(tag: dicom_core::Tag) -> Self {
        use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
        let keyword = dicom_dictionary_std::StandardDataDictionary.by_tag(tag).map(|e| e.alias()).unwrap_or("Unknown");
        Attr { group: tag.0, element: tag.1, keyword }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:04X},{:04X})", self.keyword, self.group, self.element)
    }
}

/// Why an instance could not be read, validated or decoded, and which input it was.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {kind}")]
pub struct Error {
    /// The file path or caller-given name of the input.
    pub source_name: String,
    /// What went wrong.
    #[source]
    pub kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(source_name: &str, kind: ErrorKind) -> Self {
        Error { source_name: source_name.to_owned(), kind }
    }
}

/// What went wrong, one variant per failure.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The file could not be read from disk.
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    /// Zero bytes of input.
    #[error("file is empty, expected a DICOM Part 10 file")]
    Empty,
    /// Neither a preamble + `DICM` nor a bare `DICM` prefix.
    #[error("not a DICOM Part 10 file: expected 'DICM' at byte 128 (or 0), found {found}")]
    NotDicom {
        /// What was found at the magic position, printable.
        found: String,
    },
    /// A data element header declares more bytes than the input holds.
    #[error(
        "element ({group:04X},{element:04X}) at byte {offset} declares a length of {declared} bytes \
         but only {remaining} bytes remain (truncated or corrupt file)"
    )]
    DeclaredLength {
        /// Tag group.
        group: u16,
        /// Tag element.
        element: u16,
        /// Offset of the element header in the (inflated) stream.
        offset: usize,
        /// Declared value length.
        declared: u64,
        /// Bytes left after the header.
        remaining: usize,
    },
    /// An undefined length (0xFFFFFFFF) on an element that cannot have one: only sequences,
    /// items and encapsulated pixel data may (PS3.5 §7.1); a parser would otherwise read to
    /// the end of memory.
    #[error(
        "element ({group:04X},{element:04X}) at byte {offset} declares an undefined length, which only \
         sequences and encapsulated pixel data may (VR {vr})"
    )]
    UndefinedLength {
        /// Tag group.
        group: u16,
        /// Tag element.
        element: u16,
        /// Offset of the element header in the (inflated) stream.
        offset: usize,
        /// The element's VR, or `unknown`.
        vr: String,
    },
    /// An element of another group inside the length the file meta group declares.
    #[error(
        "file meta information is interrupted by element ({group:04X},{element:04X}) at byte {offset}, \
         before the end its group length declares (byte {declared_end})"
    )]
    MetaGroupInterrupted {
        /// Tag group.
        group: u16,
        /// Tag element.
        element: u16,
        /// Offset of the element header.
        offset: usize,
        /// Where (0002,0000) says the meta group ends.
        declared_end: usize,
    },
    /// An element header carries a value representation that is not in the standard.
    #[error("element ({group:04X},{element:04X}) at byte {offset} has invalid VR {vr:?}")]
    InvalidVr {
        /// Tag group.
        group: u16,
        /// Tag element.
        element: u16,
        /// Offset of the element header.
        offset: usize,
        /// The two VR bytes as found.
        vr: String,
    },
    /// The deflated data set could not be inflated.
    #[error("deflated data set is corrupt: {0}")]
    Inflate(#[source] std::io::Error),
    /// The deflated data set inflates to more than the limit.
    #[error("deflated data set inflates to more than {limit} bytes")]
    InflateTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// dicom-rs could not parse the file.
    #[error("cannot parse DICOM: {0}")]
    Parse(#[source] Box<dicom_object::ReadError>),
    /// A required attribute is absent or empty.
    #[error("missing {attr}: expected {expected}")]
    Missing {
        /// The attribute.
        attr: Attr,
        /// What a valid file has there.
        expected: &'static str,
    },
    /// An attribute is present but its value is not acceptable.
    #[error("invalid {attr}: expected {expected}, found {found:?}")]
    Invalid {
        /// The attribute.
        attr: Attr,
        /// What a valid file has there.
        expected: String,
        /// What this file has.
        found: String,
    },
    /// A UID attribute that is not a valid DICOM UID (a backslash, control byte, letter…).
    #[error("invalid {attr}: {source}")]
    InvalidUid {
        /// The attribute.
        attr: Attr,
        /// What is wrong with it.
        #[source]
        source: granska_types::UidError,
    },
    /// The pixel codec panicked on this input (a defect of the codec, caught so that bad
    /// input never takes the process down).
    #[error("decoding {ts} pixel data failed inside the codec: {message}")]
    CodecPanic {
        /// Transfer syntax name.
        ts: String,
        /// The panic's message.
        message: String,
    },
    /// The transfer syntax is known but not decodable here (or not in the supported list).
    #[error("unsupported transfer syntax {uid} ({name})")]
    UnsupportedTransferSyntax {
        /// Transfer syntax UID.
        uid: String,
        /// Its name, or `unknown`.
        name: String,
    },
    /// No pixel data element at all.
    #[error("no pixel data: expected PixelData (7FE0,0010)")]
    NoPixelData,
    /// Native pixel data holds fewer bytes than the image attributes require.
    #[error(
        "pixel data too short: rows × columns × samples × frames × bits allocated needs {expected} bytes, found {found}"
    )]
    PixelDataTooShort {
        /// Bytes needed.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The decoded image would exceed the size limit.
    #[error("image too large: {bytes} bytes decoded exceeds the limit of {limit} bytes")]
    ImageTooLarge {
        /// Bytes the attributes imply.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The codec failed on the encapsulated pixel data.
    #[error("cannot decode pixel data ({ts}): {message}")]
    Decode {
        /// Transfer syntax name.
        ts: String,
        /// The codec's message.
        message: String,
    },
}
