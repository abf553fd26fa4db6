//! Fuzz target `zipkin_proto`: Zipkin proto3 `ListOfSpans` → JSON-shaped spans → model, proto3
//! round trip.
//! The check itself lives in the crate (`clew_collector::fuzzing::zipkin_proto`) so that the
//! regression tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_collector::fuzzing::zipkin_proto(data));
