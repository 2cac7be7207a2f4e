//! Arbitrary UTF-8 text as a model card: `ModelToml::parse` (TOML, then field and range
//! validation) returns an error, never panics. A model directory is configuration an operator
//! may get wrong, so every mistake must come back as a message naming the file.
#![no_main]

use std::path::Path;

use granska_model::ModelToml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ModelToml::parse(text, Path::new("fuzz/model.toml"));
});
