//! Tests of the HTTP edge: a real core (SQLite stores in a temporary directory, the shipped
//! model on ONNX Runtime) behind `serve` on 127.0.0.1, spoken to over real sockets.

mod fuzz_regressions;
mod harness;
mod orthanc;
mod reading;
mod station;
mod stow;
