//! Explicit conversions between the model and OTLP (protobuf via `opentelemetry-proto`,
//! and OTLP/JSON through the same generated types' serde support, which follows the
//! OTLP/JSON rules: hex ids, 64-bit integers as strings or numbers, enums as numbers,
//! lowerCamelCase names, unknown fields ignored).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::resource::v1 as pr;
use opentelemetry_proto::tonic::trace::v1 as pt;
use prost::Message as _;

use crate::{
    AnyValue, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId,
    SpanKind, Status, StatusCode, TraceBatch, TraceId, UnixNanos,
};

/// The generated OTLP types, re-exported so that other crates name one version.
pub use opentelemetry_proto::tonic as proto;

/// Why an OTLP/JSON body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid OTLP/JSON at line {line}, column {column}: {message}")]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Why a protobuf body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid OTLP protobuf: {0}")]
pub struct ProtobufError(#[from] prost::DecodeError);

/// The outcome of converting received OTLP: the accepted spans, and those rejected
/// (reported back to the sender as OTLP partial success, never dropped silently).
#[derive(Debug, Default)]
pub struct Decoded {
    pub batch: TraceBatch,
    pub rejected_spans: u64,
    /// The first reason a span was rejected, for the partial-success message.
    pub first_rejection: Option<String>,
}

pub fn decode_request_protobuf(bytes: &[u8]) -> Result<ExportTraceServiceRequest, ProtobufError> {
    Ok(ExportTraceServiceRequest::decode(bytes)?)
}

pub fn decode_request_json(bytes: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Converts received `ResourceSpans`, rejecting spans whose ids are invalid.
pub fn batch_from_proto(resource_spans: Vec<pt::ResourceSpans>) -> Decoded {
    let mut out = Decoded::default();
    for rs in resource_spans {
        let mut scope_spans = Vec::with_capacity(rs.scope_spans.len());
        for ss in rs.scope_spans {
            let mut spans = Vec::with_capacity(ss.spans.len());
            for s in ss.spans {
                match span_from_proto(s) {
                    Ok(span) => spans.push(span),
                    Err(reason) => {
                        out.rejected_spans += 1;
                        out.first_rejection.get_or_insert(reason);
                    }
                }
            }
            if !spans.is_empty() {
                scope_spans.push(ScopeSpans {
                    scope: ss.scope.map(scope_from_proto).unwrap_or_default(),
                    schema_url: ss.schema_url,
                    spans,
                });
            }
        }
        if !scope_spans.is_empty() {
            out.batch.resource_spans.push(ResourceSpans {
                resource: rs.resource.map(resource_from_proto).unwrap_or_default(),
                schema_url: rs.schema_url,
                scope_spans,
            });
        }
    }
    out
}

fn span_from_proto(s: pt::Span) -> Result<Span, String> {
    let trace_id = TraceId::from_slice(&s.trace_id).map_err(|e| e.to_string())?;
    if trace_id.is_zero() {
        return Err("trace id must not be all zeros".into());
    }
    let span_id = SpanId::from_slice(&s.span_id).map_err(|e| e.to_string())?;
    if span_id.is_zero() {
        return Err("span id must not be all zeros".into());
    }
    let parent_span_id = if s.parent_span_id.is_empty() {
        None
    } else {
        let p =
            SpanId::from_slice(&s.parent_span_id).map_err(|e| format!("parent span id: {e}"))?;
        (!p.is_zero()).then_some(p)
    };
    let status = s.status.map(|st| Status {
        code: StatusCode::from_i32(st.code),
        message: st.message,
    });
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: SpanKind::from_i32(s.kind),
        start: UnixNanos(s.start_time_unix_nano),
        end: UnixNanos(s.end_time_unix_nano),
        attributes: attributes_from_proto(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .into_iter()
            .map(|e| Event {
                time: UnixNanos(e.time_unix_nano),
                name: e.name,
                attributes: attributes_from_proto(e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .into_iter()
            .filter_map(|l| {
                // A link without a valid span context carries no navigable reference.
                Some(Link {
                    trace_id: TraceId::from_slice(&l.trace_id).ok()?,
                    span_id: SpanId::from_slice(&l.span_id).ok()?,
                    trace_state: l.trace_state,
                    attributes: attributes_from_proto(l.attributes),
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: l.flags,
                })
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: status.unwrap_or_default(),
    })
}

fn resource_from_proto(r: pr::Resource) -> Resource {
    Resource {
        attributes: attributes_from_proto(r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
    }
}

fn scope_from_proto(s: pc::InstrumentationScope) -> Scope {
    Scope {
        name: s.name,
        version: s.version,
        attributes: attributes_from_proto(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

pub fn attributes_from_proto(attrs: Vec<pc::KeyValue>) -> Vec<KeyValue> {
    attrs
        .into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv
                .value
                .map(any_value_from_proto)
                .unwrap_or(AnyValue::Empty),
        })
        .collect()
}

pub fn any_value_from_proto(v: pc::AnyValue) -> AnyValue {
    use pc::any_value::Value as V;
    match v.value {
        Some(V::StringValue(s)) => AnyValue::String(s),
        Some(V::BoolValue(b)) => AnyValue::Bool(b),
        Some(V::IntValue(i)) => AnyValue::Int(i),
        Some(V::DoubleValue(d)) => AnyValue::Double(d),
        Some(V::BytesValue(b)) => AnyValue::Bytes(b),
        Some(V::ArrayValue(a)) => {
            AnyValue::Array(a.values.into_iter().map(any_value_from_proto).collect())
        }
        Some(V::KvlistValue(kv)) => AnyValue::KvList(attributes_from_proto(kv.values)),
        // Newer OTLP versions may add variants; an unknown one reads as empty.
        #[allow(unreachable_patterns)]
        _ => AnyValue::Empty,
    }
}

/// Converts the model back to OTLP's grouping.
pub fn batch_to_proto(batch: &TraceBatch) -> Vec<pt::ResourceSpans> {
    batch
        .resource_spans
        .iter()
        .map(|rs| pt::ResourceSpans {
            resource: Some(resource_to_proto(&rs.resource)),
            schema_url: rs.schema_url.clone(),
            scope_spans: rs
                .scope_spans
                .iter()
                .map(|ss| pt::ScopeSpans {
                    scope: Some(scope_to_proto(&ss.scope)),
                    schema_url: ss.schema_url.clone(),
                    spans: ss.spans.iter().map(span_to_proto).collect(),
                })
                .collect(),
        })
        .collect()
}

/// Encodes a batch as OTLP `TracesData` protobuf bytes.
pub fn encode_traces_data(batch: &TraceBatch) -> Vec<u8> {
    pt::TracesData {
        resource_spans: batch_to_proto(batch),
    }
    .encode_to_vec()
}

/// Decodes OTLP `TracesData` protobuf bytes (as written by [`encode_traces_data`]).
pub fn decode_traces_data(bytes: &[u8]) -> Result<Decoded, ProtobufError> {
    let data = pt::TracesData::decode(bytes)?;
    Ok(batch_from_proto(data.resource_spans))
}

/// OTLP/JSON `{"resourceSpans": [...]}` for a batch.
pub fn traces_data_to_json(batch: &TraceBatch) -> serde_json::Value {
    let data = pt::TracesData {
        resource_spans: batch_to_proto(batch),
    };
    serde_json::to_value(&data).unwrap_or(serde_json::Value::Null)
}

/// One span alone as OTLP protobuf (`opentelemetry.proto.trace.v1.Span`): the compact form
/// the store's head keeps in memory, about a fifth of the decoded span's heap footprint.
pub fn encode_span(s: &Span) -> Vec<u8> {
    span_to_proto(s).encode_to_vec()
}

/// The inverse of [`encode_span`]; exact for every span the OTLP conversion accepts.
pub fn decode_span(bytes: &[u8]) -> Result<Span, String> {
    let proto = pt::Span::decode(bytes).map_err(|e| e.to_string())?;
    span_from_proto(proto)
}

pub fn span_to_proto(s: &Span) -> pt::Span {
    pt::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind.as_i32(),
        start_time_unix_nano: s.start.0,
        end_time_unix_nano: s.end.0,
        attributes: attributes_to_proto(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time.0,
                name: e.name.clone(),
                attributes: attributes_to_proto(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| pt::span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attributes_to_proto(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(pt::Status {
            message: s.status.message.clone(),
            code: s.status.code.as_i32(),
        }),
    }
}

pub fn resource_to_proto(r: &Resource) -> pr::Resource {
    pr::Resource {
        attributes: attributes_to_proto(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        ..Default::default()
    }
}

pub fn scope_to_proto(s: &Scope) -> pc::InstrumentationScope {
    pc::InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: attributes_to_proto(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

pub fn attributes_to_proto(attrs: &[KeyValue]) -> Vec<pc::KeyValue> {
    attrs
        .iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.clone(),
            value: Some(any_value_to_proto(&kv.value)),
            ..Default::default()
        })
        .collect()
}

pub fn any_value_to_proto(v: &AnyValue) -> pc::AnyValue {
    use pc::any_value::Value as V;
    let value = match v {
        AnyValue::String(s) => Some(V::StringValue(s.clone())),
        AnyValue::Bool(b) => Some(V::BoolValue(*b)),
        AnyValue::Int(i) => Some(V::IntValue(*i)),
        AnyValue::Double(d) => Some(V::DoubleValue(*d)),
        AnyValue::Bytes(b) => Some(V::BytesValue(b.clone())),
        AnyValue::Array(a) => Some(V::ArrayValue(pc::ArrayValue {
            values: a.iter().map(any_value_to_proto).collect(),
        })),
        AnyValue::KvList(kv) => Some(V::KvlistValue(pc::KeyValueList {
            values: attributes_to_proto(kv),
        })),
        AnyValue::Empty => None,
    };
    pc::AnyValue { value }
}

/// A plain JSON rendering of a value (arrays as arrays, kvlists as objects, bytes as
/// base64), for display and for formats that carry complex values as JSON strings.
pub fn any_value_to_plain_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AnyValue::String(s) => J::String(s.clone()),
        AnyValue::Bool(b) => J::Bool(*b),
        AnyValue::Int(i) => J::from(*i),
        AnyValue::Double(d) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(d.to_string())),
        AnyValue::Bytes(_) => J::String(v.to_display_string()),
        AnyValue::Array(a) => J::Array(a.iter().map(any_value_to_plain_json).collect()),
        AnyValue::KvList(kv) => J::Object(
            kv.iter()
                .map(|kv| (kv.key.clone(), any_value_to_plain_json(&kv.value)))
                .collect(),
        ),
        AnyValue::Empty => J::Null,
    }
}

#[cfg(test)]
mod tests;
