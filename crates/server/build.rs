//! Compiles the server's own `.proto` files into Rust (prost messages, a tonic service).
//!
//! protox is a pure-Rust protobuf compiler, so no `protoc` is needed on any machine (the
//! collector's `build.rs` does the same). Paths are relative to `proto/`, which is also the
//! import root. Files of one package land in one generated module, `$OUT_DIR/<package>.rs`,
//! included once in `src/tempo_common.rs`.

/// Every `.proto` file the server compiles, relative to `proto/`.
const PROTOS: &[&str] = &["tempo/common.proto", "tempo/tempo.proto"];

const INCLUDE_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: Vec<String> = PROTOS
        .iter()
        .map(|p| format!("{INCLUDE_ROOT}/{p}"))
        .collect();
    let descriptors = protox::compile(&files, [INCLUDE_ROOT])?;
    tonic_prost_build::configure()
        .build_server(true)
        // The client too (cheap, no transport code): the tests call the service with it.
        .build_client(true)
        .build_transport(false)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={INCLUDE_ROOT}");
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    Ok(())
}
