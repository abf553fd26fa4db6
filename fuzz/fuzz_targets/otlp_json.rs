//! Fuzz target `otlp_json`: OTLP/JSON request → model, and the model back to OTLP/JSON and in
//! again.
//! The check itself lives in the crate (`clew_collector::fuzzing::otlp_json`) so that the
//! regression tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_collector::fuzzing::otlp_json(data));
