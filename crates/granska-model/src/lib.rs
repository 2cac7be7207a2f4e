//! Granska's model layer: the model contract (`model.toml` + `model.onnx`), preprocessing of
//! decoded views, the ONNX Runtime engine with cross-exam batching, and exam scoring
//! (aggregation and calibration to category 1–10).
//!
//! It knows decoded DICOM metadata and pixels ([`granska_dicom::MammoMeta`],
//! [`granska_dicom::PixelArray`]) but not how files are read, stored or transported.
//!
//! ```no_run
//! # fn main() -> Result<(), granska_model::Error> {
//! use granska_model::{Engine, EngineConfig, Model, Scorer};
//! let model = Model::load("models/granska-phantom-v1")?;
//! let engine = Engine::start(&model, &EngineConfig::default())?;
//! let scorer = Scorer { model, engine };
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod contract;
pub mod engine;
mod error;
pub mod exam;
pub mod preprocess;

pub use contract::{Model, ModelIdentity, ModelToml};
pub use engine::{Device, Engine, EngineConfig, EngineInfo};
pub use error::{Error, PreprocessError};
pub use exam::{ExamResult, ExamStatus, Scorer, ViewError, ViewInput};

/// The model shipped in the repository, relative to the workspace root.
pub const SHIPPED_MODEL: &str = "models/granska-phantom-v1";
