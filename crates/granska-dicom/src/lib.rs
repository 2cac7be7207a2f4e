//! Read DICOM mammography instances: parse (with a length guard), validate under a profile
//! (strict for the service, lenient for research data), extract typed metadata, and decode
//! the stored pixel values of every transfer syntax mammography archives use.
//!
//! ```no_run
//! let file = granska_dicom::DicomFile::open("view.dcm")?;
//! let image = file.mammogram(granska_dicom::Profile::Strict)?;
//! let pixels = file.pixels()?;
//! println!("{} {} {:?}", image.laterality.code(), image.view.code(), pixels.shape);
//! # Ok::<(), granska_dicom::Error>(())
//! ```
#![warn(missing_docs)]

mod codec_gaps;
mod error;
mod guard;
mod meta;
mod pixels;
pub mod ts;

use std::path::Path;

use dicom_object::{DefaultDicomObject, OpenFileOptions, file::ReadPreamble};

pub use error::{Attr, Error, ErrorKind};
pub use granska_types::{Uid, UidError};
pub use meta::{
    Laterality, MG_FOR_PRESENTATION, MG_FOR_PROCESSING, MammoMeta, Photometric, PresentationIntent, Profile,
    TransferSyntax, View, Window,
};
pub use pixels::{MAX_DECODED_BYTES, PixelArray, Samples};

/// A parsed DICOM Part 10 instance, not yet validated as a mammogram.
pub struct DicomFile {
    name: String,
    object: DefaultDicomObject,
}

impl std::fmt::Debug for DicomFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicomFile").field("name", &self.name).finish_non_exhaustive()
    }
}

impl DicomFile {
    /// The SOP Instance UID and Study Instance UID as written (trimmed, not validated; empty
    /// when absent), to name an instance in a refusal even when it is not a valid mammogram.
    pub fn identifying_uids(&self) -> (String, String) {
        let r = meta::Reader(&self.object);
        let get = |tag| r.str(tag).map(|s| s.into_owned()).unwrap_or_default();
        (get(dicom_dictionary_std::tags::SOP_INSTANCE_UID), get(dicom_dictionary_std::tags::STUDY_INSTANCE_UID))
    }

    /// Read and parse a file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::new(&name, ErrorKind::Io(e)))?;
        Self::from_bytes(&bytes, &name)
    }

    /// Parse an in-memory Part 10 stream; `name` labels errors (a path, or an upload id).
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self, Error> {
        let err = |kind| Error::new(name, kind);
        let start = guard::find_magic(bytes).map_err(err)?;
        let stream = &bytes[start..];
        guard::check(stream).map_err(err)?;
        let object = OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .from_reader(stream)
            .map_err(|e| err(ErrorKind::Parse(Box::new(e))))?;
        Ok(DicomFile { name: name.to_owned(), object })
    }

    /// The name errors are labelled with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The transfer syntax UID from the file meta group.
    pub fn transfer_syntax_uid(&self) -> &str {
        ts::trim_uid(self.object.meta().transfer_syntax())
    }

    /// Validate as a mammogram under `profile` and extract its metadata.
    pub fn mammogram(&self, profile: Profile) -> Result<MammoMeta, Error> {
        meta::extract(&self.object, self.transfer_syntax_uid(), profile).map_err(|k| Error::new(&self.name, k))
    }

    /// Patient ID (0010,0020) and Patient's Name (0010,0010), when present. Patient data:
    /// only for display to authorised people, never for logs.
    pub fn patient_identity(&self) -> (Option<String>, Option<String>) {
        let r = meta::Reader(&self.object);
        let get = |tag| r.str(tag).map(std::borrow::Cow::into_owned);
        (get(dicom_dictionary_std::tags::PATIENT_ID), get(dicom_dictionary_std::tags::PATIENT_NAME))
    }

    /// Decode the stored pixel values (no rescale, no VOI, no inversion) of every frame.
    pub fn pixels(&self) -> Result<PixelArray, Error> {
        pixels::decode(&self.object).map_err(|k| Error::new(&self.name, k))
    }
}
