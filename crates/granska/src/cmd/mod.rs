//! One module per subcommand: argument structs and the glue that calls the libraries.

pub mod decode;
pub mod inspect;
pub mod phantom;

/// The validation profile selected by `--lenient`.
pub fn profile(lenient: bool) -> granska_dicom::Profile {
    if lenient { granska_dicom::Profile::Lenient } else { granska_dicom::Profile::Strict }
}
