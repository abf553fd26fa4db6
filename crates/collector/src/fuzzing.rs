//! Checks run by the fuzz targets (`fuzz/`) and by their regression tests
//! (`tests/fuzz_regressions.rs`), so both exercise exactly the same code: each function
//! takes raw bytes as one receiver gets them, runs the decoding and mapping that receiver
//! runs, and panics when an invariant breaks. Hidden from the docs and not a stable API; the
//! receivers never call it.
//!
//! Invariants, for every decoder: nothing panics on any input; every span that was read is
//! either accepted or counted as rejected; what a receiver accepts survives the WAL's
//! encoding unchanged (OTLP `TracesData`, as `clew-store` writes and replays it); re-encoding
//! the decoded message in its own wire format and decoding that again yields the same spans;
//! and the per-span limits hold once applied.

use clew_model::otlp::{self, Decoded};
use clew_model::zipkin::{self as zipkin_model, ZipkinSpan};
use clew_model::{AnyValue, KeyValue, TraceBatch};
use prost::Message as _;

use crate::SpanLimits;
use crate::proto::jaeger::api_v2 as pb;
use crate::receivers::jaeger::thrift::{self, ThriftProtocol};
use crate::receivers::jaeger::{mapping, proto};
use crate::receivers::zipkin::proto as zipkin_proto;

/// The neutral Jaeger batch both Jaeger decoders fill.
pub use crate::receivers::jaeger::mapping::Batch as JaegerBatch;

/// The gRPC receiver's reading of a protobuf batch: the neutral batch, and how many spans
/// were left out for malformed ids (the receiver counts them as rejected).
pub fn jaeger_from_proto(batch: pb::Batch) -> (JaegerBatch, u64) {
    let (batch, unreadable) = proto::batch_from_proto(batch);
    (batch, unreadable.count)
}

/// The mapping every Jaeger receiver ends in (`mapping::to_model`).
pub fn jaeger_to_model(batch: JaegerBatch) -> Decoded {
    mapping::to_model(batch)
}

/// OTLP protobuf, as the OTLP HTTP receiver reads `application/x-protobuf` (and gRPC the
/// request message).
pub fn otlp_protobuf(data: &[u8]) {
    let Ok(request) = otlp::decode_request_protobuf(data) else {
        return;
    };
    let spans = otlp_span_count(&request.resource_spans);
    let decoded = otlp::batch_from_proto(request.resource_spans);
    accepted(&decoded, spans);
    limits_hold(decoded.batch);
}

/// OTLP/JSON, as the OTLP HTTP receiver reads `application/json`; the batch written back
/// as OTLP/JSON (what the server's APIs answer) reads back as the same spans.
pub fn otlp_json(data: &[u8]) {
    let Ok(request) = otlp::decode_request_json(data) else {
        return;
    };
    let spans = otlp_span_count(&request.resource_spans);
    let decoded = otlp::batch_from_proto(request.resource_spans);
    accepted(&decoded, spans);
    let json = otlp::traces_data_to_json(&decoded.batch);
    assert!(!json.is_null(), "an accepted batch has no OTLP/JSON form");
    let text = json.to_string();
    let back = otlp::decode_request_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("OTLP/JSON written by us does not read back: {e}\n{text}"));
    let again = otlp::batch_from_proto(back.resource_spans);
    assert_eq!(
        again.rejected_spans, 0,
        "a written span is rejected on reading"
    );
    same_spans(&decoded.batch, &again.batch, "OTLP/JSON round trip");
    limits_hold(decoded.batch);
}

/// Jaeger Thrift in `protocol`: the bytes both as a bare `Batch` (HTTP `POST /api/traces`)
/// and as an `Agent.emitBatch` message (agent UDP).
pub fn jaeger_thrift(protocol: ThriftProtocol, data: &[u8]) {
    if let Ok(batch) = thrift::decode_batch(protocol, data) {
        let encoded = thrift::encode_batch(protocol, &batch)
            .unwrap_or_else(|e| panic!("a decoded batch does not encode: {e}"));
        let back = thrift::decode_batch(protocol, &encoded)
            .unwrap_or_else(|e| panic!("an encoded batch does not decode: {e}"));
        jaeger_round_trip(whole_micros(batch), back, 0, "Thrift batch round trip");
    }
    if let Ok(batch) = thrift::decode_emit_batch(protocol, data) {
        let encoded = thrift::encode_emit_batch(protocol, &batch, 1)
            .unwrap_or_else(|e| panic!("a decoded emitBatch does not encode: {e}"));
        let back = thrift::decode_emit_batch(protocol, &encoded)
            .unwrap_or_else(|e| panic!("an encoded emitBatch does not decode: {e}"));
        jaeger_round_trip(whole_micros(batch), back, 0, "Thrift emitBatch round trip");
    }
}

/// Thrift carries microseconds: the reader multiplies by 1000, saturating (a time past
/// year 2262 in nanoseconds is clamped to `i64::MAX`), and the writer divides again, so a
/// clamped time comes back truncated to whole microseconds. The first fuzz runs of both
/// Thrift targets stopped on exactly that (inputs kept in `fuzz/regressions/jaeger_thrift_*/`
/// as `crash-saturated-start-time-*`): expected loss, not a decoder bug, so the round trip
/// is compared against the times as the writer sends them.
fn whole_micros(mut batch: JaegerBatch) -> JaegerBatch {
    let micros = |t: i64| t / 1_000 * 1_000;
    for span in &mut batch.spans {
        span.start_time = micros(span.start_time);
        span.duration = micros(span.duration);
        for log in &mut span.logs {
            log.timestamp = micros(log.timestamp);
        }
    }
    batch
}

/// Jaeger protobuf, as the gRPC receiver reads `PostSpansRequest`.
pub fn jaeger_proto(data: &[u8]) {
    let Ok(request) = pb::PostSpansRequest::decode(data) else {
        return;
    };
    let batch = request.batch.unwrap_or_default();
    let spans = batch.spans.len() as u64;
    let (neutral, unreadable) = jaeger_from_proto(batch);
    assert_eq!(
        neutral.spans.len() as u64 + unreadable,
        spans,
        "Jaeger proto spans lost between reading and mapping"
    );
    let encoded = proto::batch_to_proto(&neutral).encode_to_vec();
    let decoded = pb::Batch::decode(encoded.as_slice())
        .unwrap_or_else(|e| panic!("an encoded Jaeger batch does not decode: {e}"));
    let (back, unreadable_again) = jaeger_from_proto(decoded);
    jaeger_round_trip(neutral, back, unreadable_again, "Jaeger proto round trip");
}

/// Zipkin v2 JSON, as the Zipkin receiver reads `application/json`.
pub fn zipkin_json(data: &[u8]) {
    let Ok(spans) = zipkin_model::decode_json(data) else {
        return;
    };
    zipkin_spans(spans);
}

/// Zipkin proto3 `ListOfSpans`, as the Zipkin receiver reads `application/x-protobuf`; the
/// JSON-shaped spans it becomes convert back to proto3 and read back the same.
pub fn zipkin_proto(data: &[u8]) {
    let Ok(list) = zipkin_proto::ListOfSpans::decode(data) else {
        return;
    };
    let spans = zipkin_proto::from_proto(list);
    let encoded = zipkin_proto::to_proto(&spans).encode_to_vec();
    let back = zipkin_proto::ListOfSpans::decode(encoded.as_slice())
        .map(zipkin_proto::from_proto)
        .unwrap_or_else(|e| panic!("proto3 spans written by us do not read back: {e}"));
    assert_eq!(back, spans, "Zipkin proto3 round trip changed the spans");
    zipkin_spans(spans);
}

/// The shared part of both Zipkin encodings: the mapping to the model, the JSON form of
/// the spans as read, and the model written back as Zipkin (the query API) and read again.
fn zipkin_spans(spans: Vec<ZipkinSpan>) {
    let count = spans.len() as u64;
    let text = serde_json::to_string(&spans)
        .unwrap_or_else(|e| panic!("Zipkin spans do not serialize: {e}"));
    let decoded = zipkin_model::batch_from_zipkin(spans);
    accepted(&decoded, count);
    let reread = zipkin_model::decode_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("Zipkin JSON written by us does not read back: {e}\n{text}"));
    let again = zipkin_model::batch_from_zipkin(reread);
    assert_eq!(again.rejected_spans, decoded.rejected_spans);
    same_spans(&decoded.batch, &again.batch, "Zipkin JSON round trip");

    // Outbound (the Zipkin query API) and in again: a second pass changes nothing.
    let out = zipkin_model::batch_to_zipkin(&decoded.batch);
    let text = serde_json::to_string(&out)
        .unwrap_or_else(|e| panic!("outbound Zipkin spans do not serialize: {e}"));
    let reread = zipkin_model::decode_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("outbound Zipkin JSON does not read back: {e}\n{text}"));
    let inbound = zipkin_model::batch_from_zipkin(reread);
    assert_eq!(
        inbound.rejected_spans, 0,
        "an outbound Zipkin span is rejected"
    );
    assert_eq!(
        zipkin_model::batch_to_zipkin(&inbound.batch),
        out,
        "Zipkin outbound mapping is not stable"
    );
    limits_hold(decoded.batch);
}

fn otlp_span_count(resource_spans: &[otlp::proto::trace::v1::ResourceSpans]) -> u64 {
    resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

/// A Jaeger batch and its re-encoded and re-decoded form map to the same spans.
fn jaeger_round_trip(first: JaegerBatch, back: JaegerBatch, unreadable_back: u64, what: &str) {
    assert_eq!(unreadable_back, 0, "{what}: a written span is unreadable");
    let count = first.spans.len() as u64;
    let decoded = jaeger_to_model(first);
    accepted(&decoded, count);
    let again = jaeger_to_model(back);
    assert_eq!(again.rejected_spans, decoded.rejected_spans, "{what}");
    same_spans(&decoded.batch, &again.batch, what);
    limits_hold(decoded.batch);
}

/// Every one of `read` spans is accepted or rejected (with a reason), and the accepted
/// batch survives the WAL's encoding unchanged.
fn accepted(decoded: &Decoded, read: u64) {
    assert_eq!(
        decoded.batch.span_count() as u64 + decoded.rejected_spans,
        read,
        "spans neither accepted nor rejected"
    );
    assert_eq!(
        decoded.rejected_spans > 0,
        decoded.first_rejection.is_some(),
        "rejections and their reason disagree"
    );
    let stored = otlp::encode_traces_data(&decoded.batch);
    let replayed = otlp::decode_traces_data(&stored)
        .unwrap_or_else(|e| panic!("an accepted batch does not decode from the WAL: {e}"));
    assert_eq!(
        replayed.rejected_spans, 0,
        "an accepted span is rejected at WAL replay: {:?}",
        replayed.first_rejection
    );
    assert_eq!(
        otlp::encode_traces_data(&replayed.batch),
        stored,
        "the WAL encoding changed an accepted batch"
    );
}

/// Same spans, compared by their protobuf encoding (so that NaN attribute values compare).
fn same_spans(a: &TraceBatch, b: &TraceBatch, what: &str) {
    assert!(
        otlp::encode_traces_data(a) == otlp::encode_traces_data(b),
        "{what} changed the spans:\n{a:?}\n{b:?}"
    );
}

/// Small limits, so that fuzzed inputs hit every cut (multi-byte characters included).
const LIMITS: SpanLimits = SpanLimits {
    max_attributes: 3,
    max_attribute_value_bytes: 5,
    max_events: 2,
    max_links: 2,
    max_name_bytes: 7,
};

fn limits_hold(mut batch: TraceBatch) {
    LIMITS.apply(&mut batch);
    let attrs_ok = |attrs: &[KeyValue]| {
        attrs.len() <= LIMITS.max_attributes && attrs.iter().all(|kv| value_ok(&kv.value))
    };
    for rs in &batch.resource_spans {
        assert!(attrs_ok(&rs.resource.attributes), "resource over limits");
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            assert!(
                span.name.len() <= LIMITS.max_name_bytes,
                "span name over limit"
            );
            assert!(attrs_ok(&span.attributes), "span attributes over limits");
            assert!(span.events.len() <= LIMITS.max_events, "events over limit");
            assert!(span.links.len() <= LIMITS.max_links, "links over limit");
            for e in &span.events {
                assert!(
                    e.name.len() <= LIMITS.max_name_bytes,
                    "event name over limit"
                );
                assert!(attrs_ok(&e.attributes), "event attributes over limits");
            }
            for l in &span.links {
                assert!(attrs_ok(&l.attributes), "link attributes over limits");
            }
        }
    }
}

fn value_ok(v: &AnyValue) -> bool {
    match v {
        AnyValue::String(s) => s.len() <= LIMITS.max_attribute_value_bytes,
        AnyValue::Bytes(b) => b.len() <= LIMITS.max_attribute_value_bytes,
        AnyValue::Array(items) => items.iter().all(value_ok),
        AnyValue::KvList(kvs) => kvs.iter().all(|kv| value_ok(&kv.value)),
        _ => true,
    }
}
