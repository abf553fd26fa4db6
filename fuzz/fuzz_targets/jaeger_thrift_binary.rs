//! Fuzz target `jaeger_thrift_binary`: Jaeger Thrift binary protocol, as a bare `Batch` (HTTP) and
//! as `Agent.emitBatch` (UDP 6832); re-encoding round trip and mapping.
//! The check itself lives in the crate (`clew_collector::fuzzing::jaeger_thrift`) so that the
//! regression tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_collector::fuzzing::jaeger_thrift(
    clew_collector::receivers::jaeger::thrift::ThriftProtocol::Binary,
    data,
));
