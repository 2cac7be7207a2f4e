//! granska-dimse's one integration-test binary: the SCP on a real core (SQLite stores in a
//! temporary directory, the shipped model on ONNX Runtime) driven by dcmtk and pynetdicom, the
//! SCU against our own SCP, and the pure DIMSE layer (command sets, reassembly, the status
//! mapping) with snapshots, property tests and the fuzz regressions.

mod dcmtk;
mod fuzz_regressions;
mod protocol;
mod python;
mod scu;
mod support;
