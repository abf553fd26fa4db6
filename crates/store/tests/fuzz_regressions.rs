//! Replays every input kept under `fuzz/regressions/<target>/` (seeds, and every input that
//! once made a fuzz target fail) through the same checks the fuzz targets run
//! (`clew_store::fuzzing`), on stable and in the normal test run.

use clew_model::fuzz_replay::replay;

#[test]
fn wal_segment() {
    replay("wal_segment", clew_store::fuzzing::wal_segment);
}
