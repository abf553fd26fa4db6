//! Replays every input kept under `fuzz/regressions/<target>/` (seeds, and every input that
//! once made a fuzz target fail) through the same checks the fuzz targets run
//! (`clew_server::fuzzing`), on stable and in the normal test run.

// Test helpers: a failed read of a kept input should stop the test loudly.
#![allow(clippy::expect_used)]

use std::path::PathBuf;

/// Every file of `fuzz/regressions/<target>`, with its name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("a readable input");
            (
                path.file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

/// Runs `check` on every input, naming the input that fails.
fn replay(target: &str, check: impl Fn(&[u8])) {
    for (name, bytes) in inputs(target) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        assert!(result.is_ok(), "fuzz/regressions/{target}/{name} fails");
    }
}

#[test]
fn server_params() {
    replay("server_params", clew_server::fuzzing::params);
}
