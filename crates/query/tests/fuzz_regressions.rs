//! Replays every input kept under `fuzz/regressions/traceql_parse/` (seeds, and every input
//! that once made the fuzz target fail) through the same check the fuzz target runs
//! (`clew_query::traceql::fuzzing::parse`), on stable and in the normal test run.

use clew_model::fuzz_replay::replay;

#[test]
fn traceql_parse() {
    replay("traceql_parse", clew_query::traceql::fuzzing::parse);
}
