//! OTLP trace data as JSON, in the two dialects Clew's clients read.
//!
//! - [`Dialect::Pdata`]: the OpenTelemetry Collector's `ptrace.JSONMarshaler`, which Jaeger's
//!   api_v3 HTTP gateway uses (`internal/jptrace/traces.go`): hex ids, enums as numbers.
//! - [`Dialect::Jsonpb`]: gogo/protobuf's `jsonpb.Marshaler` over Tempo's generated
//!   `tempopb` types (`pkg/tempopb/trace_utils.go`, `modules/frontend/combiner/common.go`):
//!   ids base64 (they are plain `bytes` fields), enums by name.
//!
//! Both follow proto3 JSON otherwise: lowerCamelCase names, 64-bit integers as strings,
//! zero scalars and empty lists left out, the `AnyValue` oneof always written (so
//! `{"boolValue": false}` survives), and `resource`, `scope` and `status` always present.
//! See `docs/api-shapes.md`.

use base64::Engine as _;
use clew_model::{AnyValue, Event, KeyValue, Link, Span, SpanKind, StatusCode, TraceBatch};
use serde_json::{Map, Value, json};

/// Which marshaller's output to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Jaeger api_v3 (OpenTelemetry pdata JSON).
    Pdata,
    /// Tempo (gogo/protobuf jsonpb).
    Jsonpb,
}

/// The `resourceSpans` array of a batch.
pub(crate) fn resource_spans(batch: &TraceBatch, d: Dialect) -> Vec<Value> {
    batch
        .resource_spans
        .iter()
        .map(|rs| {
            let mut resource = Map::new();
            put_attributes(&mut resource, "attributes", &rs.resource.attributes, d);
            put_u32(
                &mut resource,
                "droppedAttributesCount",
                rs.resource.dropped_attributes_count,
            );
            let mut o = Map::new();
            o.insert("resource".into(), Value::Object(resource));
            let scope_spans: Vec<Value> = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let mut scope = Map::new();
                    put_str(&mut scope, "name", &ss.scope.name);
                    put_str(&mut scope, "version", &ss.scope.version);
                    put_attributes(&mut scope, "attributes", &ss.scope.attributes, d);
                    put_u32(
                        &mut scope,
                        "droppedAttributesCount",
                        ss.scope.dropped_attributes_count,
                    );
                    let mut o = Map::new();
                    o.insert("scope".into(), Value::Object(scope));
                    put_list(
                        &mut o,
                        "spans",
                        ss.spans.iter().map(|s| span(s, d)).collect(),
                    );
                    put_str(&mut o, "schemaUrl", &ss.schema_url);
                    Value::Object(o)
                })
                .collect();
            put_list(&mut o, "scopeSpans", scope_spans);
            put_str(&mut o, "schemaUrl", &rs.schema_url);
            Value::Object(o)
        })
        .collect()
}

fn span(s: &Span, d: Dialect) -> Value {
    let mut o = Map::new();
    put_id(&mut o, "traceId", &s.trace_id.0, d);
    put_id(&mut o, "spanId", &s.span_id.0, d);
    put_str(&mut o, "traceState", &s.trace_state);
    if let Some(parent) = &s.parent_span_id {
        put_id(&mut o, "parentSpanId", &parent.0, d);
    }
    put_u32(&mut o, "flags", s.flags);
    put_str(&mut o, "name", &s.name);
    if s.kind != SpanKind::Unspecified {
        let kind = match d {
            Dialect::Pdata => json!(s.kind.as_i32()),
            Dialect::Jsonpb => json!(s.kind.as_otlp_name()),
        };
        o.insert("kind".into(), kind);
    }
    put_u64_string(&mut o, "startTimeUnixNano", s.start.0);
    put_u64_string(&mut o, "endTimeUnixNano", s.end.0);
    put_attributes(&mut o, "attributes", &s.attributes, d);
    put_u32(&mut o, "droppedAttributesCount", s.dropped_attributes_count);
    put_list(
        &mut o,
        "events",
        s.events.iter().map(|e| event(e, d)).collect(),
    );
    put_u32(&mut o, "droppedEventsCount", s.dropped_events_count);
    put_list(
        &mut o,
        "links",
        s.links.iter().map(|l| link(l, d)).collect(),
    );
    put_u32(&mut o, "droppedLinksCount", s.dropped_links_count);
    let mut status = Map::new();
    put_str(&mut status, "message", &s.status.message);
    if s.status.code != StatusCode::Unset {
        let code = match d {
            Dialect::Pdata => json!(s.status.code.as_i32()),
            Dialect::Jsonpb => json!(s.status.code.as_otlp_name()),
        };
        status.insert("code".into(), code);
    }
    o.insert("status".into(), Value::Object(status));
    Value::Object(o)
}

fn event(e: &Event, d: Dialect) -> Value {
    let mut o = Map::new();
    put_u64_string(&mut o, "timeUnixNano", e.time.0);
    put_str(&mut o, "name", &e.name);
    put_attributes(&mut o, "attributes", &e.attributes, d);
    put_u32(&mut o, "droppedAttributesCount", e.dropped_attributes_count);
    Value::Object(o)
}

fn link(l: &Link, d: Dialect) -> Value {
    let mut o = Map::new();
    put_id(&mut o, "traceId", &l.trace_id.0, d);
    put_id(&mut o, "spanId", &l.span_id.0, d);
    put_str(&mut o, "traceState", &l.trace_state);
    put_attributes(&mut o, "attributes", &l.attributes, d);
    put_u32(&mut o, "droppedAttributesCount", l.dropped_attributes_count);
    put_u32(&mut o, "flags", l.flags);
    Value::Object(o)
}

fn key_values(attrs: &[KeyValue], d: Dialect) -> Vec<Value> {
    attrs
        .iter()
        .map(|kv| json!({"key": kv.key, "value": any_value(&kv.value, d)}))
        .collect()
}

/// An `AnyValue`: the set variant is always written, even when it holds a zero value.
pub(crate) fn any_value(v: &AnyValue, d: Dialect) -> Value {
    let mut o = Map::new();
    match v {
        AnyValue::String(s) => {
            o.insert("stringValue".into(), json!(s));
        }
        AnyValue::Bool(b) => {
            o.insert("boolValue".into(), json!(b));
        }
        AnyValue::Int(i) => {
            o.insert("intValue".into(), json!(i.to_string()));
        }
        AnyValue::Double(f) => {
            o.insert("doubleValue".into(), double(*f));
        }
        AnyValue::Bytes(b) => {
            o.insert(
                "bytesValue".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(b)),
            );
        }
        AnyValue::Array(values) => {
            let mut inner = Map::new();
            put_list(
                &mut inner,
                "values",
                values.iter().map(|v| any_value(v, d)).collect(),
            );
            o.insert("arrayValue".into(), Value::Object(inner));
        }
        AnyValue::KvList(kvs) => {
            let mut inner = Map::new();
            put_list(&mut inner, "values", key_values(kvs, d));
            o.insert("kvlistValue".into(), Value::Object(inner));
        }
        AnyValue::Empty => {}
    }
    Value::Object(o)
}

/// proto3 JSON writes non-finite doubles as the strings "NaN", "Infinity", "-Infinity".
pub(crate) fn double(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f == f64::INFINITY {
        json!("Infinity")
    } else if f == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(f)
    }
}

fn put_id(o: &mut Map<String, Value>, key: &str, bytes: &[u8], d: Dialect) {
    let text = match d {
        // pdata leaves an all-zero (empty) id out.
        Dialect::Pdata if bytes.iter().all(|b| *b == 0) => return,
        Dialect::Pdata => hex::encode(bytes),
        Dialect::Jsonpb => base64::engine::general_purpose::STANDARD.encode(bytes),
    };
    o.insert(key.into(), Value::String(text));
}

fn put_str(o: &mut Map<String, Value>, key: &str, s: &str) {
    if !s.is_empty() {
        o.insert(key.into(), json!(s));
    }
}

fn put_u32(o: &mut Map<String, Value>, key: &str, n: u32) {
    if n != 0 {
        o.insert(key.into(), json!(n));
    }
}

fn put_u64_string(o: &mut Map<String, Value>, key: &str, n: u64) {
    if n != 0 {
        o.insert(key.into(), json!(n.to_string()));
    }
}

fn put_list(o: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        o.insert(key.into(), Value::Array(items));
    }
}

fn put_attributes(o: &mut Map<String, Value>, key: &str, attrs: &[KeyValue], d: Dialect) {
    put_list(o, key, key_values(attrs, d));
}

#[cfg(test)]
mod tests {
    use clew_model::{
        Resource, ResourceSpans, Scope, ScopeSpans, SpanId, Status, TraceId, UnixNanos,
    };

    use super::*;

    fn batch() -> TraceBatch {
        TraceBatch {
            resource_spans: vec![ResourceSpans {
                resource: Resource {
                    attributes: vec![KeyValue::new(
                        "service.name",
                        AnyValue::String("api".into()),
                    )],
                    dropped_attributes_count: 0,
                },
                schema_url: String::new(),
                scope_spans: vec![ScopeSpans {
                    scope: Scope::default(),
                    schema_url: String::new(),
                    spans: vec![Span {
                        trace_id: TraceId::from_u64_pair(
                            0x0102_0304_0506_0708,
                            0x090a_0b0c_0d0e_0f10,
                        ),
                        span_id: SpanId::from_u64(0xeee1_9b7e_c3c1_b174),
                        parent_span_id: Some(SpanId::from_u64(1)),
                        name: "GET /".into(),
                        kind: SpanKind::Server,
                        start: UnixNanos(1_544_712_660_000_000_000),
                        end: UnixNanos(1_544_712_661_000_000_000),
                        attributes: vec![
                            KeyValue::new("f", AnyValue::Bool(false)),
                            KeyValue::new("i", AnyValue::Int(0)),
                            KeyValue::new("d", AnyValue::Double(f64::NAN)),
                            KeyValue::new("b", AnyValue::Bytes(vec![1, 2, 3])),
                            KeyValue::new("a", AnyValue::Array(vec![])),
                            KeyValue::new("e", AnyValue::Empty),
                        ],
                        status: Status {
                            code: StatusCode::Error,
                            message: String::new(),
                        },
                        ..Default::default()
                    }],
                }],
            }],
        }
    }

    #[test]
    fn pdata_dialect() {
        let got = resource_spans(&batch(), Dialect::Pdata);
        let want = json!([{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
            "scopeSpans": [{
                "scope": {},
                "spans": [{
                    "traceId": "0102030405060708090a0b0c0d0e0f10",
                    "spanId": "eee19b7ec3c1b174",
                    "parentSpanId": "0000000000000001",
                    "name": "GET /",
                    "kind": 2,
                    "startTimeUnixNano": "1544712660000000000",
                    "endTimeUnixNano": "1544712661000000000",
                    "attributes": [
                        {"key": "f", "value": {"boolValue": false}},
                        {"key": "i", "value": {"intValue": "0"}},
                        {"key": "d", "value": {"doubleValue": "NaN"}},
                        {"key": "b", "value": {"bytesValue": "AQID"}},
                        {"key": "a", "value": {"arrayValue": {}}},
                        {"key": "e", "value": {}}
                    ],
                    "status": {"code": 2}
                }]
            }]
        }]);
        assert_eq!(Value::Array(got), want);
    }

    #[test]
    fn jsonpb_dialect_uses_base64_ids_and_enum_names() {
        let got = resource_spans(&batch(), Dialect::Jsonpb);
        let span = &got[0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], json!("AQIDBAUGBwgJCgsMDQ4PEA=="));
        assert_eq!(span["spanId"], json!("7uGbfsPBsXQ="));
        assert_eq!(span["parentSpanId"], json!("AAAAAAAAAAE="));
        assert_eq!(span["kind"], json!("SPAN_KIND_SERVER"));
        assert_eq!(span["status"], json!({"code": "STATUS_CODE_ERROR"}));
        assert_eq!(span["startTimeUnixNano"], json!("1544712660000000000"));
    }
}
