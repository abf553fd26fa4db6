//! Compiles the collector's own `.proto` files into Rust (prost messages, tonic services).
//!
//! protox is a pure-Rust protobuf compiler, so no `protoc` is needed on any machine. To add a
//! file, append it to [`PROTOS`] (paths relative to `proto/`, which is also the import root:
//! write `import "jaeger/model.proto";`). Files of one package land in one generated module,
//! `$OUT_DIR/<package>.rs`, included once in `src/proto.rs`.

/// Every `.proto` file the collector compiles, relative to `proto/`.
const PROTOS: &[&str] = &[
    "jaeger/model.proto",
    "jaeger/collector.proto",
    "jaeger/sampling.proto",
    "zipkin/zipkin.proto",
];

const INCLUDE_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: Vec<String> = PROTOS
        .iter()
        .map(|p| format!("{INCLUDE_ROOT}/{p}"))
        .collect();
    let descriptors = protox::compile(&files, [INCLUDE_ROOT])?;
    tonic_prost_build::configure()
        .build_server(true)
        // Clients too (cheap, no transport code): for tests and `clew gen`.
        .build_client(true)
        .build_transport(false)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={INCLUDE_ROOT}");
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    Ok(())
}
