//! Replays every input kept under `fuzz/regressions/<target>/` (seeds, and every input that
//! once made a fuzz target fail) through the same checks the fuzz targets run
//! (`clew_collector::fuzzing`), on stable and in the normal test run.

use clew_model::fuzz_replay::replay;

use clew_collector::fuzzing;
use clew_collector::receivers::jaeger::thrift::ThriftProtocol;

#[test]
fn otlp_protobuf() {
    replay("otlp_protobuf", fuzzing::otlp_protobuf);
}

#[test]
fn otlp_json() {
    replay("otlp_json", fuzzing::otlp_json);
}

#[test]
fn jaeger_thrift_compact() {
    replay("jaeger_thrift_compact", |b| {
        fuzzing::jaeger_thrift(ThriftProtocol::Compact, b)
    });
}

#[test]
fn jaeger_thrift_binary() {
    replay("jaeger_thrift_binary", |b| {
        fuzzing::jaeger_thrift(ThriftProtocol::Binary, b)
    });
}

#[test]
fn jaeger_proto() {
    replay("jaeger_proto", fuzzing::jaeger_proto);
}

#[test]
fn zipkin_json() {
    replay("zipkin_json", fuzzing::zipkin_json);
}

#[test]
fn zipkin_proto() {
    replay("zipkin_proto", fuzzing::zipkin_proto);
}
