//! proptest strategies for Jaeger batches, shared by the Thrift and protobuf round trips.
//! Times are whole microseconds (Thrift's unit) so that both codecs carry them exactly.

use proptest::collection::vec;
use proptest::prelude::*;

use super::mapping::{Batch, Log, Process, RefType, Span, SpanRef, Tag, TagValue};

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn micros_as_nanos() -> impl Strategy<Value = i64> {
    (-1_000_000_000_000_000i64..4_000_000_000_000_000).prop_map(|us| us * 1_000)
}

fn tag_value() -> impl Strategy<Value = TagValue> {
    prop_oneof![
        text().prop_map(TagValue::String),
        (-1e300f64..1e300).prop_map(TagValue::Double),
        any::<bool>().prop_map(TagValue::Bool),
        any::<i64>().prop_map(TagValue::Long),
        vec(any::<u8>(), 0..16).prop_map(TagValue::Binary),
        (5i32..1000).prop_map(TagValue::Unknown),
    ]
}

fn tag() -> impl Strategy<Value = Tag> {
    (text(), tag_value()).prop_map(|(key, value)| Tag { key, value })
}

fn process() -> impl Strategy<Value = Process> {
    (text(), vec(tag(), 0..4)).prop_map(|(service_name, tags)| Process { service_name, tags })
}

fn span_ref() -> impl Strategy<Value = SpanRef> {
    (
        prop_oneof![
            Just(RefType::ChildOf),
            Just(RefType::FollowsFrom),
            (2i32..100).prop_map(RefType::Unknown)
        ],
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(ref_type, trace_id_high, trace_id_low, span_id)| SpanRef {
            ref_type,
            trace_id_high,
            trace_id_low,
            span_id,
        })
}

fn log() -> impl Strategy<Value = Log> {
    (micros_as_nanos(), vec(tag(), 0..3)).prop_map(|(timestamp, fields)| Log { timestamp, fields })
}

/// Spans with random ids (zero included), tags, logs and references. `with_parent` sets
/// Thrift's `parentSpanId`, which protobuf does not carry.
fn span(with_parent: bool) -> impl Strategy<Value = Span> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        text(),
        vec(span_ref(), 0..3),
        any::<u32>(),
        (micros_as_nanos(), micros_as_nanos()),
        vec(tag(), 0..5),
        vec(log(), 0..3),
    )
        .prop_map(
            move |(
                (high, low, id, parent),
                operation_name,
                references,
                flags,
                (start, dur),
                tags,
                logs,
            )| Span {
                trace_id_high: high,
                trace_id_low: low,
                span_id: id,
                parent_span_id: if with_parent { parent } else { 0 },
                operation_name,
                references,
                flags,
                start_time: start,
                duration: dur,
                tags,
                logs,
                process: None,
            },
        )
}

pub(super) fn batch_strategy(with_parent: bool) -> impl Strategy<Value = Batch> {
    (
        proptest::option::of(process()),
        vec(span(with_parent), 0..4),
    )
        .prop_map(|(process, spans)| Batch { process, spans })
}
