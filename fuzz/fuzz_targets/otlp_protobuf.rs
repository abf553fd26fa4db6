//! Fuzz target `otlp_protobuf`: OTLP protobuf `ExportTraceServiceRequest` → model (decode,
//! `batch_from_proto`, WAL round trip, span limits).
//! The check itself lives in the crate (`clew_collector::fuzzing::otlp_protobuf`) so that the
//! regression tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_collector::fuzzing::otlp_protobuf(data));
