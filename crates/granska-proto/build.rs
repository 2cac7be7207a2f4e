//! Generates the gRPC code from `proto/granska/v1/*.proto` with the vendored `protoc` (nothing
//! to install), plus the descriptor set that server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not `env!`: a build script compiled once serves every checkout that
    // shares the target directory, and each must generate from its own proto files.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files: Vec<_> = ["vocabulary", "ingest", "worklist", "models"]
        .iter()
        .map(|f| root.join(format!("granska/v1/{f}.proto")))
        .collect();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("granska_descriptor.bin"))
        .compile_protos(&files, &[root])?;
    Ok(())
}
