//! Fuzz target `traceql_parse`: the TraceQL parser and type checker on arbitrary text.
//! The check itself lives in the crate (`clew_query::traceql::fuzzing::parse`) so that the
//! regression tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_query::traceql::fuzzing::parse(data));
