//! Integration tests of granska-dicom, one binary: phantom round trips, pydicom as the oracle
//! (bundled test files, dcmtk and openjpeg re-encodings), real mammograms, bad input.

mod bad_input;
mod corrupt_rle;
mod fuzz_regressions;
mod mammograms;
mod mutations;
mod phantom_roundtrip;
mod pydicom_files;
mod reencoded;
mod support;
