//! Integration tests of granska-model: the NumPy and Python onnxruntime oracles, the shipped
//! model against its card, the contract's errors, and exam scoring of incomplete exams.

mod contract;
mod oracle;
mod scoring;
mod shipped;
mod support;
