//! Replays every input kept under `fuzz/regressions/<target>/` (seeds, and every input that
//! once made a fuzz target fail) through the same checks the fuzz targets run
//! (`clew_server::fuzzing`), on stable and in the normal test run.

use clew_model::fuzz_replay::replay;

#[test]
fn server_params() {
    replay("server_params", clew_server::fuzzing::params);
}
