//! DICOM unique identifiers (PS3.5 §9.1): the one rule for what Granska accepts as a UID.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest UID DICOM allows (PS3.5 §9.1).
pub const MAX_UID_LEN: usize = 64;

/// A DICOM UID that passed [`Uid::parse`]: 1–64 characters, digits and dots only, made of
/// non-empty dot-separated components. Leading zeros in a component are tolerated (real
/// archives hold them and they are harmless as identifiers); anything else is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(String);

/// Why a text is not a [`Uid`]; its `Display` says what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    /// Nothing (or only padding) was given.
    #[error("expected a DICOM UID, found an empty value")]
    Empty,
    /// More than [`MAX_UID_LEN`] characters.
    #[error("expected a DICOM UID of at most 64 characters, found {len}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character other than a digit or a dot.
    #[error("expected a DICOM UID (digits and dots), found {found:?} at byte {at} of {text:?}")]
    BadCharacter {
        /// The text (escaped by `Debug` when shown, so control bytes stay visible).
        text: String,
        /// Byte offset.
        at: usize,
        /// The offending character.
        found: char,
    },
    /// An empty component: a leading, trailing or doubled dot.
    #[error("expected a DICOM UID with non-empty dot-separated components, found {text:?}")]
    EmptyComponent {
        /// The text.
        text: String,
    },
}

impl Uid {
    /// Validates `text` as a UID. Trailing NUL and space padding (how UI values are stored)
    /// are removed first; nothing else is changed.
    pub fn parse(text: &str) -> Result<Uid, UidError> {
        let text = text.trim_end_matches(['\0', ' ']);
        if text.is_empty() {
            return Err(UidError::Empty);
        }
        if text.len() > MAX_UID_LEN {
            return Err(UidError::TooLong { len: text.len() });
        }
        if let Some((at, found)) = text.char_indices().find(|(_, c)| !(c.is_ascii_digit() || *c == '.')) {
            return Err(UidError::BadCharacter { text: text.to_owned(), at, found });
        }
        if text.split('.').any(str::is_empty) {
            return Err(UidError::EmptyComponent { text: text.to_owned() });
        }
        Ok(Uid(text.to_owned()))
    }

    /// The UID's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UID's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Uid {
    type Err = UidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uid::parse(s)
    }
}

impl AsRef<str> for Uid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Uid {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for Uid {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<&str> for Uid {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for Uid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Uid::parse(&text).map_err(serde::de::Error::custom)
    }
}
