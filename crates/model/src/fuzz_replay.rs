//! Replays the inputs kept under `fuzz/regressions/<target>/` (seeds, and every input that
//! once made a fuzz target fail) through the check that target runs, so that `cargo test`
//! on stable keeps every fuzz finding fixed. Shared by each crate's
//! `tests/fuzz_regressions.rs`; not a stable API.

use std::path::PathBuf;

/// Every file of `fuzz/regressions/<target>`, with its name, sorted.
///
/// # Panics
/// When the folder is missing, empty or unreadable: a test helper, it must fail loudly.
pub fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut out = Vec::new();
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .path();
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((name, bytes));
    }
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

/// Runs `check` on every input of `target`, naming the input that panics.
pub fn replay(target: &str, check: impl Fn(&[u8])) {
    for (name, bytes) in inputs(target) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        assert!(result.is_ok(), "fuzz/regressions/{target}/{name} fails");
    }
}
