//! The generated protobuf and gRPC code of `proto/granska/v1`, in a crate of its own so that
//! clients (the CLI, tests, integrators' Rust code) depend on the contract and not on the
//! server. Only the gRPC edge (`granska-server`) and the gRPC client (`granska-client`) use
//! these types; everything inside the application speaks the domain vocabulary of
//! `granska-types`, and [`vocabulary`] converts its enums to and from the protobuf ones.
#![warn(missing_docs)]

/// Package `granska.v1`.
#[allow(missing_docs, clippy::all, rustdoc::all)]
pub mod v1 {
    tonic::include_proto!("granska.v1");
}

pub mod vocabulary;

pub use vocabulary::{Unspecified, Vocabulary, name, wire};

/// The encoded descriptors of `granska.v1`, served by server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("granska_descriptor");
