//! One module per subcommand: argument structs and the glue that calls the libraries.

pub mod decode;
pub mod inspect;
pub mod phantom;

use clap::ValueEnum;

/// Validation profile flag shared by the reading commands.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    /// Digital Mammography SOP classes only (the service default).
    Strict,
    /// Also Secondary Capture / digitised film; infer laterality and view.
    Lenient,
}

pub fn profile(lenient: bool) -> granska_dicom::Profile {
    if lenient { granska_dicom::Profile::Lenient } else { granska_dicom::Profile::Strict }
}
