//! Model spans as a Jaeger client sends them, for `clew gen`: one Jaeger batch per process
//! (resource), and the agent's UDP packets cut to fit the packet limit.
//!
//! The collector only exposes the Jaeger → model direction (it is all a receiver needs), so
//! the reverse is written here, following the OpenTelemetry Collector's
//! `traces_to_jaegerproto.go` as Clew's query API does: scope → `otel.scope.*` tags, kind →
//! `span.kind`, error status → `error=true` plus `otel.status_*`, events → logs with an
//! `event` field, parent → Thrift's `parentSpanId` and a CHILD_OF reference (as Jaeger's Go
//! client writes both), links → FOLLOWS_FROM references.

use clew_collector::receivers::jaeger::mapping::{
    Batch, Log, Process, RefType, Span, SpanRef, Tag, TagValue,
};
use clew_collector::receivers::jaeger::thrift::{ThriftError, ThriftProtocol, encode_emit_batch};
use clew_model::{AnyValue, KeyValue, Resource, SpanKind, StatusCode, TraceBatch};

/// Jaeger clients' and agents' largest UDP packet (`emitBatch` message) in bytes.
pub const MAX_PACKET_BYTES: usize = 65_000;

/// One Jaeger batch per resource, in order.
pub fn batches(batch: &TraceBatch) -> Vec<Batch> {
    batch
        .resource_spans
        .iter()
        .map(|rs| Batch {
            process: Some(process(&rs.resource)),
            spans: rs
                .scope_spans
                .iter()
                .flat_map(|ss| ss.spans.iter().map(move |s| span(&ss.scope, s)))
                .collect(),
        })
        .collect()
}

fn process(resource: &Resource) -> Process {
    Process {
        service_name: resource.service_name().to_owned(),
        tags: resource
            .attributes
            .iter()
            .filter(|kv| kv.key != "service.name")
            .map(tag)
            .collect(),
    }
}

fn span(scope: &clew_model::Scope, s: &clew_model::Span) -> Span {
    let (high, low) = (s.trace_id.high_u64(), s.trace_id.low_u64());
    let mut tags = Vec::with_capacity(s.attributes.len() + 5);
    if !scope.name.is_empty() {
        tags.push(str_tag("otel.scope.name", &scope.name));
    }
    if !scope.version.is_empty() {
        tags.push(str_tag("otel.scope.version", &scope.version));
    }
    tags.extend(s.attributes.iter().map(tag));
    if !matches!(s.kind, SpanKind::Unspecified | SpanKind::Internal) {
        tags.push(str_tag("span.kind", s.kind.as_lower_str()));
    }
    match s.status.code {
        StatusCode::Error => {
            tags.push(str_tag("otel.status_code", "ERROR"));
            tags.push(Tag::new("error", TagValue::Bool(true)));
        }
        StatusCode::Ok => tags.push(str_tag("otel.status_code", "OK")),
        StatusCode::Unset => {}
    }
    if !s.status.message.is_empty() {
        tags.push(str_tag("otel.status_description", &s.status.message));
    }
    let parent = s.parent_span_id.map_or(0, |p| p.to_u64());
    let mut references = Vec::with_capacity(s.links.len() + 1);
    if parent != 0 {
        references.push(SpanRef {
            ref_type: RefType::ChildOf,
            trace_id_high: high,
            trace_id_low: low,
            span_id: parent,
        });
    }
    references.extend(s.links.iter().map(|l| SpanRef {
        ref_type: RefType::FollowsFrom,
        trace_id_high: l.trace_id.high_u64(),
        trace_id_low: l.trace_id.low_u64(),
        span_id: l.span_id.to_u64(),
    }));
    Span {
        trace_id_high: high,
        trace_id_low: low,
        span_id: s.span_id.to_u64(),
        parent_span_id: parent,
        operation_name: s.name.clone(),
        references,
        flags: s.flags & 1,
        start_time: nanos(s.start.0),
        duration: nanos(s.end.0.saturating_sub(s.start.0)),
        tags,
        logs: s
            .events
            .iter()
            .map(|e| Log {
                timestamp: nanos(e.time.0),
                fields: std::iter::once(str_tag("event", &e.name))
                    .chain(e.attributes.iter().map(tag))
                    .collect(),
            })
            .collect(),
        process: None,
    }
}

fn nanos(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn str_tag(key: &str, value: &str) -> Tag {
    Tag::new(key, TagValue::String(value.to_owned()))
}

/// Jaeger tags are scalars: arrays and maps travel as their debug text (the generator makes
/// none; this only keeps the conversion total).
fn tag(kv: &KeyValue) -> Tag {
    let value = match &kv.value {
        AnyValue::String(s) => TagValue::String(s.clone()),
        AnyValue::Bool(b) => TagValue::Bool(*b),
        AnyValue::Int(i) => TagValue::Long(*i),
        AnyValue::Double(d) => TagValue::Double(*d),
        AnyValue::Bytes(b) => TagValue::Binary(b.clone()),
        other @ (AnyValue::Array(_) | AnyValue::KvList(_)) => {
            TagValue::String(format!("{other:?}"))
        }
        AnyValue::Empty => TagValue::String(String::new()),
    };
    Tag::new(kv.key.clone(), value)
}

/// Why a batch could not be cut into packets.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("a span alone encodes to {bytes} bytes, over the {limit}-byte packet limit")]
    SpanTooLarge { bytes: usize, limit: usize },
    #[error(transparent)]
    Encode(#[from] ThriftError),
}

/// One encoded `emitBatch` packet and how many spans it carries.
pub struct Packet {
    pub bytes: Vec<u8>,
    pub spans: usize,
}

/// Cuts `batch` into `emitBatch` packets of at most `limit` bytes, every span in exactly one
/// packet, in order, each packet repeating the process (as Jaeger clients do).
///
/// The Thrift writers only encode whole batches, so sizes are found by encoding: a chunk of
/// `guess` spans (the caller's estimate of spans per packet, 0 for none) is tried and shrunk
/// in proportion when it comes out too large; the next guess scales the last chunk up to fill
/// the packet. With a guess kept from batch to batch, most packets are encoded once.
/// Returns the packets and the guess for the next batch. Spans are moved, never cloned.
pub fn packets(
    protocol: ThriftProtocol,
    batch: Batch,
    limit: usize,
    first_sequence: i32,
    guess: usize,
) -> Result<(Vec<Packet>, usize), PacketError> {
    let mut out = Vec::new();
    let mut rest = batch.spans;
    let mut guess = if guess == 0 { rest.len() } else { guess };
    let mut sequence = first_sequence;
    while !rest.is_empty() {
        let mut take = guess.clamp(1, rest.len());
        loop {
            let tail = rest.split_off(take);
            let chunk = Batch {
                process: batch.process.clone(),
                spans: rest,
            };
            let encoded = encode_emit_batch(protocol, &chunk, sequence);
            rest = chunk.spans;
            let bytes = encoded?;
            if bytes.len() <= limit {
                guess = (take * limit / bytes.len().max(1)).max(1);
                sequence = sequence.wrapping_add(1);
                out.push(Packet { bytes, spans: take });
                rest = tail;
                break;
            }
            rest.extend(tail);
            if take == 1 {
                return Err(PacketError::SpanTooLarge {
                    bytes: bytes.len(),
                    limit,
                });
            }
            // 5% under the proportional estimate, so the retry rarely misses again.
            let scaled = take * limit / bytes.len() * 95 / 100;
            take = scaled.clamp(1, take - 1);
        }
    }
    Ok((out, guess))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use clew_collector::receivers::jaeger::thrift::decode_emit_batch;
    use clew_model::UnixNanos;

    use super::*;
    use crate::r#gen::topology::{Generator, Shape};

    const NOW: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

    fn generator(attributes: usize) -> Generator {
        Generator::new(
            Shape {
                services: 5,
                spans_per_trace: 10,
                attributes,
                error_rate: 0.2,
            },
            7,
        )
    }

    #[test]
    fn each_resource_becomes_one_batch_with_its_process() {
        let batch = generator(11).batch(300, NOW);
        let jaeger = batches(&batch);
        assert_eq!(jaeger.len(), batch.resource_spans.len());
        for (j, rs) in jaeger.iter().zip(&batch.resource_spans) {
            let process = j.process.as_ref().expect("a process");
            assert_eq!(process.service_name, rs.resource.service_name());
            assert!(process.tags.iter().all(|t| t.key != "service.name"));
            let model: Vec<_> = rs.scope_spans.iter().flat_map(|ss| &ss.spans).collect();
            assert_eq!(j.spans.len(), model.len());
            for (s, m) in j.spans.iter().zip(model) {
                assert_eq!(s.span_id, m.span_id.to_u64());
                assert_eq!(
                    (s.trace_id_high, s.trace_id_low),
                    (m.trace_id.high_u64(), m.trace_id.low_u64())
                );
                assert_eq!(s.parent_span_id, m.parent_span_id.map_or(0, |p| p.to_u64()));
                let errored = s
                    .tags
                    .iter()
                    .any(|t| t.key == "error" && t.value == TagValue::Bool(true));
                assert_eq!(errored, m.status.code == StatusCode::Error);
                assert_eq!(s.duration, nanos(m.duration().0));
            }
        }
    }

    /// Decodes every packet and checks size, order and that each span appears once, with no
    /// guess, a guess of one span and a guess far too large; returns the packet count of the
    /// first.
    fn check_packets(protocol: ThriftProtocol, batch: &Batch, limit: usize) -> usize {
        let mut counts = Vec::new();
        for guess in [0, 1, 10 * batch.spans.len().max(1)] {
            let (cut, next) = packets(protocol, batch.clone(), limit, 0, guess).expect("packets");
            assert!(next > 0 || batch.spans.is_empty());
            let mut seen = Vec::new();
            for p in &cut {
                assert!(p.bytes.len() <= limit, "{} > {limit}", p.bytes.len());
                let decoded = decode_emit_batch(protocol, &p.bytes).expect("a valid emitBatch");
                assert_eq!(decoded.process, batch.process);
                assert_eq!(decoded.spans.len(), p.spans);
                seen.extend(decoded.spans.iter().map(|s| s.span_id));
            }
            let sent: Vec<u64> = batch.spans.iter().map(|s| s.span_id).collect();
            assert_eq!(seen, sent, "every span exactly once, in order");
            assert_eq!(seen.iter().collect::<HashSet<_>>().len(), sent.len());
            counts.push(cut.len());
        }
        counts[0]
    }

    #[test]
    fn packets_stay_under_the_limit_and_carry_every_span_once() {
        let mut g = generator(11);
        for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
            for size in [1, 37, 500, 3000] {
                let tb = g.batch(size, NOW);
                for b in batches(&tb) {
                    check_packets(protocol, &b, MAX_PACKET_BYTES);
                }
            }
        }
    }

    #[test]
    fn large_batches_are_split_into_several_nearly_full_packets() {
        // One service, so every span lands in a single Jaeger batch.
        let mut g = Generator::new(
            Shape {
                services: 1,
                spans_per_trace: 10,
                attributes: 30,
                error_rate: 0.0,
            },
            3,
        );
        let b = batches(&g.batch(5000, NOW)).remove(0);
        let whole = encode_emit_batch(ThriftProtocol::Compact, &b, 0).expect("encodes");
        let n = check_packets(ThriftProtocol::Compact, &b, MAX_PACKET_BYTES);
        let least = whole.len().div_ceil(MAX_PACKET_BYTES);
        assert!(
            n >= least && n <= least + least / 4 + 1,
            "{n} packets for {least} minimum"
        );
        // Small limits and odd sizes too.
        for limit in [2_000, 4_096, 20_000] {
            check_packets(ThriftProtocol::Binary, &b, limit);
        }
    }

    #[test]
    fn a_span_larger_than_the_limit_is_an_error() {
        let b = batches(&generator(11).batch(3, NOW)).remove(0);
        assert!(matches!(
            packets(ThriftProtocol::Compact, b, 100, 0, 0),
            Err(PacketError::SpanTooLarge { limit: 100, .. })
        ));
    }

    #[test]
    fn an_empty_batch_makes_no_packet() {
        let b = Batch::default();
        assert!(
            packets(ThriftProtocol::Compact, b, MAX_PACKET_BYTES, 0, 7)
                .expect("ok")
                .0
                .is_empty()
        );
    }
}
