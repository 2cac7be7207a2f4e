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

mod buffers;
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
    /// Native little-endian pixel data left in the file's bytes (the object was parsed up to
    /// Pixel Data only), decoded from there in one pass; `None` when the object holds it.
    native: Option<NativePixels>,
}

/// The file's bytes and where its top-level Pixel Data value lies in them.
struct NativePixels {
    bytes: Vec<u8>,
    value: std::ops::Range<usize>,
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
        let bytes = read(path).map_err(|e| Error::new(&name, ErrorKind::Io(e)))?;
        Self::from_vec(bytes, &name)
    }

    /// Parse an in-memory Part 10 stream; `name` labels errors (a path, or an upload id).
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self, Error> {
        let err = |kind| Error::new(name, kind);
        let start = guard::find_magic(bytes).map_err(err)?;
        let stream = &bytes[start..];
        guard::check(stream).map_err(err)?;
        let object = parse(stream, None).map_err(err)?;
        Ok(DicomFile { name: name.to_owned(), object, native: None })
    }

    /// As [`DicomFile::from_bytes`], keeping the bytes: native little-endian pixel data are
    /// then not copied by the parser but decoded from the bytes in one pass (the fast path for
    /// the common uncompressed mammogram).
    pub fn from_vec(bytes: Vec<u8>, name: &str) -> Result<Self, Error> {
        let err = |kind| Error::new(name, kind);
        let start = guard::find_magic(&bytes).map_err(err)?;
        let stream = &bytes[start..];
        let checked = guard::check(stream).map_err(err)?;
        let explicit = match checked.ts.as_deref() {
            Some("1.2.840.10008.1.2.1") => Some(true),
            Some("1.2.840.10008.1.2") => Some(false),
            _ => None,
        };
        let value = explicit.and_then(|explicit| {
            let at = start + checked.dataset_start;
            let r = guard::top_level_pixel_data(&bytes[at..], explicit)?;
            Some(at + r.start..at + r.end)
        });
        let Some(value) = value else {
            let object = parse(stream, None).map_err(err)?;
            return Ok(DicomFile { name: name.to_owned(), object, native: None });
        };
        let object = parse(stream, Some(dicom_dictionary_std::tags::PIXEL_DATA)).map_err(err)?;
        Ok(DicomFile { name: name.to_owned(), object, native: Some(NativePixels { bytes, value }) })
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
        let native = self.native.as_ref().map(|n| &n.bytes[n.value.clone()]);
        pixels::decode(&self.object, native).map_err(|k| Error::new(&self.name, k))
    }
}

/// The whole file, into a buffer that is cheap to fill ([`buffers::zeroed`]).
fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    let mut bytes = buffers::zeroed::<u8>(len);
    file.read_exact(&mut bytes)?;
    // A file that grew meanwhile: the rest too.
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses a checked stream (from the `DICM` magic), up to `until` when given.
fn parse(stream: &[u8], until: Option<dicom_core::Tag>) -> Result<DefaultDicomObject, ErrorKind> {
    let options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    let options = match until {
        Some(tag) => options.read_until(tag),
        None => options,
    };
    options.from_reader(stream).map_err(|e| ErrorKind::Parse(Box::new(e)))
}
