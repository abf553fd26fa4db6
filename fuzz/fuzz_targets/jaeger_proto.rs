//! Fuzz target `jaeger_proto`: Jaeger gRPC `PostSpansRequest` (prost decode, id checks, mapping,
//! protobuf round trip).
//! The check itself lives in the crate (`clew_collector::fuzzing::jaeger_proto`) so that the
//! regression tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_collector::fuzzing::jaeger_proto(data));
