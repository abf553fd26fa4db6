//! Fuzz target `zipkin_json`: Zipkin v2 JSON → model, JSON round trip, outbound mapping stability.
//! The check itself lives in the crate (`clew_collector::fuzzing::zipkin_json`) so that the
//! regression tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_collector::fuzzing::zipkin_json(data));
