//! The crate's typed errors: one variant per failure, each naming what a person needs to fix it.

use std::path::PathBuf;

/// Failure to load a model, start the engine or run inference.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model directory does not exist.
    #[error("model directory {} not found (expected a directory with model.toml and model.onnx)", .dir.display())]
    ModelDirMissing {
        /// The directory that was given.
        dir: PathBuf,
    },
    /// A file of the model could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// model.toml is not valid TOML or misses/misnames a field.
    #[error("invalid {}: {source}", .path.display())]
    Toml {
        /// The model.toml file.
        path: PathBuf,
        /// The parse error (names the field and line).
        source: toml::de::Error,
    },
    /// model.toml parses but breaks the contract (a value out of range).
    #[error("invalid {}: {what}", .path.display())]
    Contract {
        /// The model.toml file.
        path: PathBuf,
        /// What is wrong, with the expected and found values.
        what: String,
    },
    /// The ONNX file's hash differs from the one recorded in model.toml.
    #[error("sha256 mismatch for {}: model.toml says {expected}, the file has {found}", .path.display())]
    Sha256Mismatch {
        /// The model.onnx file.
        path: PathBuf,
        /// Hash recorded in model.toml.
        expected: String,
        /// Hash of the file.
        found: String,
    },
    /// The ONNX graph's inputs or outputs differ from model.toml.
    #[error("model.onnx does not match model.toml: {what}")]
    Signature {
        /// The mismatch, e.g. `input name: model.toml says "image", the graph has ["input"]`.
        what: String,
    },
    /// No usable ONNX Runtime shared library.
    #[error(
        "ONNX Runtime library not found: {tried}. Install it with `pip install onnxruntime==1.31.1` \
         (bash scripts/setup.sh does this into .venv) and point ORT_DYLIB_PATH at \
         <site-packages>/onnxruntime/capi/libonnxruntime.so.1.31.1, or set the engine's `ort_library`"
    )]
    RuntimeNotFound {
        /// Each path tried and why it failed.
        tried: String,
    },
    /// The CUDA execution provider was requested but could not be registered.
    #[error(
        "CUDA execution provider unavailable: {message} (install onnxruntime-gpu==1.31.1 and CUDA 13, or allow the CPU fallback)"
    )]
    Cuda {
        /// ONNX Runtime's message.
        message: String,
    },
    /// CUDA was requested but this binary was built without the `cuda` feature.
    #[error("CUDA was requested but granska was built without the `cuda` feature (cargo build --features cuda)")]
    CudaNotBuilt,
    /// ONNX Runtime refused to create the session.
    #[error("cannot create an ONNX Runtime session for {}: {message}", .path.display())]
    Session {
        /// The model.onnx file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// Running the graph failed.
    #[error("inference failed: {message}")]
    Inference {
        /// ONNX Runtime's message, or what was wrong with the output.
        message: String,
    },
    /// The inference thread is gone (it panicked or the engine was dropped).
    #[error("the inference engine has stopped")]
    EngineStopped,
}

/// Why one view could not be turned into a model input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    /// The pixel array is not a single-frame, single-sample image.
    #[error("expected a single-frame greyscale image, found pixel array of shape {shape:?}")]
    Shape {
        /// The decoded array's shape.
        shape: Vec<usize>,
    },
    /// Nothing in the image is brighter than the crop threshold.
    #[error("no breast tissue found: no pixel above the crop threshold {threshold} after normalisation")]
    NoTissue {
        /// The spec's threshold.
        threshold: f64,
    },
    /// The fixed normalisation range is empty.
    #[error("normalisation range is empty: low {low} >= high {high}")]
    EmptyRange {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
}
