//! Fuzz target `server_params`: query parameter parsers: Go durations, RFC 3339, micros,
//! Jaeger/Tempo trace ids, and the Jaeger v1/v3 and Zipkin search query strings.
//! The check itself lives in the crate (`clew_server::fuzzing::params`) so that the regression
//! tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_server::fuzzing::params(data));
