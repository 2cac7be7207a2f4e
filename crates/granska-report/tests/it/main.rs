//! granska-report's integration tests: reports of a phantom exam checked by three independent
//! validators (dciodvfy, dcmtk's dsrdump, Pixelmed's DicomSRValidator), read back with
//! `describe`, and refused inputs.

mod api;
mod fixture;
mod validators;
