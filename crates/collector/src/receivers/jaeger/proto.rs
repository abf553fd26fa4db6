//! Jaeger's protobuf model (`jaeger.api_v2`, as the gRPC collector service carries it) to and
//! from the neutral [`Batch`] that the shared mapping reads.
//!
//! Ids are big-endian bytes: trace ids 16 bytes (or 8, read as the low half, as jaeger-idl's
//! `TraceIDFromBytes` allows), span ids 8; an empty id reads as zero (and the span is then
//! rejected by the mapping). A span whose id has another length is rejected here, counted
//! with the mapping's rejections.

use prost_types::{Duration, Timestamp};

use super::mapping::{Batch, Log, Process, RefType, Span, SpanRef, Tag, TagValue};
use crate::proto::jaeger::api_v2 as pb;

/// Spans of the request that could not be read, with the first reason.
#[derive(Debug, Default)]
pub(crate) struct Unreadable {
    pub(crate) count: u64,
    pub(crate) first: Option<String>,
}

/// Reads a protobuf batch; spans with malformed ids are left out and counted.
pub(crate) fn batch_from_proto(batch: pb::Batch) -> (Batch, Unreadable) {
    let mut unreadable = Unreadable::default();
    let spans = batch
        .spans
        .into_iter()
        .filter_map(|s| match span_from_proto(s) {
            Ok(s) => Some(s),
            Err(reason) => {
                unreadable.count += 1;
                unreadable.first.get_or_insert(reason);
                None
            }
        })
        .collect();
    (
        Batch {
            process: batch.process.map(process_from_proto),
            spans,
        },
        unreadable,
    )
}

fn span_from_proto(s: pb::Span) -> Result<Span, String> {
    let (trace_id_high, trace_id_low) = trace_id(&s.trace_id).map_err(|e| format!("{e}"))?;
    let span_id = span_id(&s.span_id).map_err(|e| format!("{e}"))?;
    let references = s
        .references
        .into_iter()
        .map(|r| {
            let (high, low) = trace_id(&r.trace_id).map_err(|e| format!("reference {e}"))?;
            Ok(SpanRef {
                ref_type: match r.ref_type {
                    0 => RefType::ChildOf,
                    1 => RefType::FollowsFrom,
                    n => RefType::Unknown(n),
                },
                trace_id_high: high,
                trace_id_low: low,
                span_id: self::span_id(&r.span_id).map_err(|e| format!("reference {e}"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Span {
        trace_id_high,
        trace_id_low,
        span_id,
        parent_span_id: 0,
        operation_name: s.operation_name,
        references,
        flags: s.flags,
        start_time: s.start_time.map_or(0, timestamp_nanos),
        duration: s.duration.map_or(0, duration_nanos),
        tags: s.tags.into_iter().map(tag_from_proto).collect(),
        logs: s
            .logs
            .into_iter()
            .map(|l| Log {
                timestamp: l.timestamp.map_or(0, timestamp_nanos),
                fields: l.fields.into_iter().map(tag_from_proto).collect(),
            })
            .collect(),
        process: s.process.map(process_from_proto),
    })
}

fn process_from_proto(p: pb::Process) -> Process {
    Process {
        service_name: p.service_name,
        tags: p.tags.into_iter().map(tag_from_proto).collect(),
    }
}

fn tag_from_proto(kv: pb::KeyValue) -> Tag {
    // api_v2's ValueType: STRING, BOOL, INT64, FLOAT64, BINARY (not Thrift's order).
    let value = match kv.v_type {
        0 => TagValue::String(kv.v_str),
        1 => TagValue::Bool(kv.v_bool),
        2 => TagValue::Long(kv.v_int64),
        3 => TagValue::Double(kv.v_float64),
        4 => TagValue::Binary(kv.v_binary),
        n => TagValue::Unknown(n),
    };
    Tag { key: kv.key, value }
}

#[derive(Debug, thiserror::Error)]
enum IdError {
    #[error("trace id must be 16 or 8 bytes, got {0}")]
    Trace(usize),
    #[error("span id must be 8 bytes, got {0}")]
    Span(usize),
}

fn trace_id(b: &[u8]) -> Result<(u64, u64), IdError> {
    match b.len() {
        0 => Ok((0, 0)),
        8 => Ok((0, be_u64(b))),
        16 => Ok((be_u64(&b[..8]), be_u64(&b[8..]))),
        n => Err(IdError::Trace(n)),
    }
}

fn span_id(b: &[u8]) -> Result<u64, IdError> {
    match b.len() {
        0 => Ok(0),
        8 => Ok(be_u64(b)),
        n => Err(IdError::Span(n)),
    }
}

/// `b` is 8 bytes long (checked by the callers).
fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn timestamp_nanos(t: Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.nanos))
}

fn duration_nanos(d: Duration) -> i64 {
    d.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(d.nanos))
}

/// The protobuf form of a batch, as Jaeger's gRPC reporters send it (for `clew gen` and
/// tests). Thrift's `parentSpanId` has no protobuf field: set it as a CHILD_OF reference.
pub fn batch_to_proto(batch: &Batch) -> pb::Batch {
    pb::Batch {
        spans: batch.spans.iter().map(span_to_proto).collect(),
        process: batch.process.as_ref().map(process_to_proto),
    }
}

fn span_to_proto(s: &Span) -> pb::Span {
    pb::Span {
        trace_id: trace_id_bytes(s.trace_id_high, s.trace_id_low),
        span_id: s.span_id.to_be_bytes().to_vec(),
        operation_name: s.operation_name.clone(),
        references: s
            .references
            .iter()
            .map(|r| pb::SpanRef {
                trace_id: trace_id_bytes(r.trace_id_high, r.trace_id_low),
                span_id: r.span_id.to_be_bytes().to_vec(),
                ref_type: match r.ref_type {
                    RefType::ChildOf => 0,
                    RefType::FollowsFrom => 1,
                    RefType::Unknown(n) => n,
                },
            })
            .collect(),
        flags: s.flags,
        start_time: Some(timestamp(s.start_time)),
        duration: Some(duration(s.duration)),
        tags: s.tags.iter().map(tag_to_proto).collect(),
        logs: s
            .logs
            .iter()
            .map(|l| pb::Log {
                timestamp: Some(timestamp(l.timestamp)),
                fields: l.fields.iter().map(tag_to_proto).collect(),
            })
            .collect(),
        process: s.process.as_ref().map(process_to_proto),
        process_id: String::new(),
        warnings: Vec::new(),
    }
}

fn trace_id_bytes(high: u64, low: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&high.to_be_bytes());
    v.extend_from_slice(&low.to_be_bytes());
    v
}

fn process_to_proto(p: &Process) -> pb::Process {
    pb::Process {
        service_name: p.service_name.clone(),
        tags: p.tags.iter().map(tag_to_proto).collect(),
    }
}

fn tag_to_proto(t: &Tag) -> pb::KeyValue {
    let mut kv = pb::KeyValue {
        key: t.key.clone(),
        ..Default::default()
    };
    match &t.value {
        TagValue::String(s) => kv.v_str = s.clone(),
        TagValue::Bool(b) => {
            kv.v_type = 1;
            kv.v_bool = *b;
        }
        TagValue::Long(i) => {
            kv.v_type = 2;
            kv.v_int64 = *i;
        }
        TagValue::Double(d) => {
            kv.v_type = 3;
            kv.v_float64 = *d;
        }
        TagValue::Binary(b) => {
            kv.v_type = 4;
            kv.v_binary = b.clone();
        }
        TagValue::Unknown(n) => kv.v_type = *n,
    }
    kv
}

fn timestamp(nanos: i64) -> Timestamp {
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

fn duration(nanos: i64) -> Duration {
    Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message as _;

    use crate::receivers::jaeger::test_strategies::batch_strategy;

    proptest! {
        /// Neutral → protobuf → bytes → protobuf → neutral is the identity (protobuf has no
        /// parent field, so the strategy leaves it zero).
        #[test]
        fn proto_round_trip(batch in batch_strategy(false)) {
            let bytes = batch_to_proto(&batch).encode_to_vec();
            let decoded = pb::Batch::decode(bytes.as_slice()).expect("decodes");
            let (back, unreadable) = batch_from_proto(decoded);
            prop_assert_eq!(unreadable.count, 0);
            prop_assert_eq!(back, batch);
        }
    }

    #[test]
    fn ids_of_the_wrong_length_reject_the_span_only() {
        let good = pb::Span {
            trace_id: vec![0, 0, 0, 0, 0, 0, 0, 9],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
            ..Default::default()
        };
        let bad = pb::Span {
            span_id: vec![1, 2, 3],
            ..good.clone()
        };
        let (batch, unreadable) = batch_from_proto(pb::Batch {
            spans: vec![good, bad],
            process: None,
        });
        assert_eq!(batch.spans.len(), 1);
        assert_eq!(
            (batch.spans[0].trace_id_high, batch.spans[0].trace_id_low),
            (0, 9)
        );
        assert_eq!(unreadable.count, 1);
        assert_eq!(
            unreadable.first.as_deref(),
            Some("span id must be 8 bytes, got 3")
        );
    }

    #[test]
    fn timestamps_keep_nanoseconds() {
        let t = Timestamp {
            seconds: 1_700_000_000,
            nanos: 123,
        };
        assert_eq!(timestamp_nanos(t), 1_700_000_000_000_000_123);
        assert_eq!(timestamp(1_700_000_000_000_000_123), t);
    }
}
