//! Jaeger's UI JSON trace model (jaeger `internal/uimodel`, written by
//! `internal/uimodel/converter/v1/json/from_domain.go`), built from Clew traces with the
//! OTLP → Jaeger mapping of the OpenTelemetry Collector's Jaeger translator
//! (`pkg/translator/jaeger/traces_to_jaegerproto.go`), which Jaeger's query service uses.
//!
//! Pure functions: no I/O, no trace logic beyond renaming (see `docs/api-shapes.md`).

use base64::Engine as _;
use clew_model::{AnyValue, Resource, SpanId, SpanKind, SpanRecord, StatusCode, TraceId};
use clew_query::Trace;
use serde_json::{Value, json};

/// Largest integer a JavaScript number holds exactly; larger `int64` tags go out as strings.
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A trace id as Jaeger prints it: 16 hex digits when the high 64 bits are zero, else 32.
pub(crate) fn trace_id(id: &TraceId) -> String {
    if id.high_u64() == 0 {
        format!("{:016x}", id.low_u64())
    } else {
        id.to_hex()
    }
}

pub(crate) fn span_id(id: &SpanId) -> String {
    id.to_hex()
}

/// One trace in Jaeger's UI model: `{traceID, spans, processes, warnings}`.
pub(crate) fn trace(t: &Trace) -> Value {
    // Processes are numbered p1, p2, … in order of first use; equal processes share a key.
    let mut processes: Vec<Value> = Vec::new();
    let mut spans = Vec::with_capacity(t.spans.len());
    for rec in &t.spans {
        let p = process(&rec.resource);
        let index = match processes.iter().position(|known| *known == p) {
            Some(i) => i,
            None => {
                processes.push(p);
                processes.len() - 1
            }
        };
        spans.push(span(rec, &format!("p{}", index + 1)));
    }
    let processes: serde_json::Map<String, Value> = processes
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("p{}", i + 1), p))
        .collect();
    json!({
        "traceID": trace_id(&t.trace_id),
        "spans": spans,
        "processes": processes,
        "warnings": warnings(&t.warnings),
    })
}

/// Go writes a nil slice as `null`, and Jaeger leaves warnings nil when there are none.
fn warnings(w: &[String]) -> Value {
    if w.is_empty() { Value::Null } else { json!(w) }
}

fn process(resource: &Resource) -> Value {
    let tags: Vec<Value> = resource
        .attributes
        .iter()
        .filter(|kv| kv.key != "service.name")
        .map(|kv| tag(&kv.key, &kv.value))
        .collect();
    json!({"serviceName": resource.service_name(), "tags": tags})
}

fn span(rec: &SpanRecord, process_id: &str) -> Value {
    let s = &rec.span;
    let mut o = json!({
        "traceID": trace_id(&s.trace_id),
        "spanID": span_id(&s.span_id),
        "operationName": s.name,
        "references": references(rec),
        "startTime": s.start.as_micros(),
        "duration": s.duration().as_micros(),
        "tags": span_tags(rec),
        "logs": logs(rec),
        "processID": process_id,
        "warnings": Value::Null,
    });
    // OTLP's W3C "sampled" bit is Jaeger's sampled flag; `flags` is omitted when zero.
    let flags = s.flags & 0x1;
    if flags != 0
        && let Some(map) = o.as_object_mut()
    {
        map.insert("flags".into(), json!(flags));
    }
    o
}

/// The parent first as `CHILD_OF`, then links: `FOLLOWS_FROM` unless the link says
/// `opentracing.ref_type=child_of`; a link to the parent only retypes the parent reference.
fn references(rec: &SpanRecord) -> Vec<Value> {
    let s = &rec.span;
    let mut refs: Vec<(&'static str, TraceId, SpanId)> = Vec::new();
    if let Some(parent) = s.parent_span_id {
        refs.push(("CHILD_OF", s.trace_id, parent));
    }
    for link in &s.links {
        let child_of = link
            .attributes
            .iter()
            .any(|kv| kv.key == "opentracing.ref_type" && kv.value.as_str() == Some("child_of"));
        let ref_type = if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" };
        if s.parent_span_id == Some(link.span_id) && link.trace_id == s.trace_id {
            if let Some(first) = refs.first_mut() {
                first.0 = ref_type;
            }
            continue;
        }
        refs.push((ref_type, link.trace_id, link.span_id));
    }
    refs.into_iter()
        .map(|(ref_type, t, sp)| {
            json!({"refType": ref_type, "traceID": trace_id(&t), "spanID": span_id(&sp)})
        })
        .collect()
}

/// Scope, attributes, then the tags Jaeger derives from span fields, in the translator's order.
fn span_tags(rec: &SpanRecord) -> Vec<Value> {
    let s = &rec.span;
    let mut tags = Vec::with_capacity(s.attributes.len() + 6);
    if !rec.scope.name.is_empty() {
        tags.push(string_tag("otel.scope.name", &rec.scope.name));
    }
    if !rec.scope.version.is_empty() {
        tags.push(string_tag("otel.scope.version", &rec.scope.version));
    }
    tags.extend(s.attributes.iter().map(|kv| tag(&kv.key, &kv.value)));
    if s.kind != SpanKind::Unspecified {
        tags.push(string_tag("span.kind", s.kind.as_lower_str()));
    }
    match s.status.code {
        StatusCode::Error => {
            tags.push(string_tag("otel.status_code", "ERROR"));
            tags.push(json!({"key": "error", "type": "bool", "value": true}));
        }
        StatusCode::Ok => tags.push(string_tag("otel.status_code", "OK")),
        StatusCode::Unset => {}
    }
    if !s.status.message.is_empty() {
        tags.push(string_tag("otel.status_description", &s.status.message));
    }
    if !s.trace_state.is_empty() {
        tags.push(string_tag("w3c.tracestate", &s.trace_state));
    }
    tags
}

/// Events become logs; a named event gets an `event` field first unless it has one.
fn logs(rec: &SpanRecord) -> Vec<Value> {
    rec.span
        .events
        .iter()
        .map(|e| {
            let mut fields = Vec::with_capacity(e.attributes.len() + 1);
            if !e.name.is_empty() && !e.attributes.iter().any(|kv| kv.key == "event") {
                fields.push(string_tag("event", &e.name));
            }
            fields.extend(e.attributes.iter().map(|kv| tag(&kv.key, &kv.value)));
            json!({"timestamp": e.time.as_micros(), "fields": fields})
        })
        .collect()
}

fn string_tag(key: &str, value: &str) -> Value {
    json!({"key": key, "type": "string", "value": value})
}

/// A typed Jaeger tag. Arrays and maps travel as JSON text, as the translator's
/// `AsString()` writes them; an empty value is an empty string.
pub(crate) fn tag(key: &str, v: &AnyValue) -> Value {
    let (ty, value) = match v {
        AnyValue::String(s) => ("string", json!(s)),
        AnyValue::Bool(b) => ("bool", json!(b)),
        AnyValue::Int(i) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
            ("int64", json!(i))
        }
        AnyValue::Int(i) => ("int64", json!(i.to_string())),
        AnyValue::Double(f) => ("float64", crate::otlp_json::double(*f)),
        AnyValue::Bytes(b) => (
            "binary",
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        AnyValue::Array(_) | AnyValue::KvList(_) => (
            "string",
            json!(clew_model::otlp::any_value_to_plain_json(v).to_string()),
        ),
        AnyValue::Empty => ("string", json!("")),
    };
    json!({"key": key, "type": ty, "value": value})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_jaeger_prints_them() {
        assert_eq!(
            trace_id(&TraceId::from_u64_pair(0, 0xab)),
            "00000000000000ab"
        );
        assert_eq!(
            trace_id(&TraceId::from_u64_pair(1, 0xab)),
            "000000000000000100000000000000ab"
        );
        assert_eq!(span_id(&SpanId::from_u64(2)), "0000000000000002");
    }

    #[test]
    fn tag_types() {
        let cases = [
            (
                AnyValue::String("x".into()),
                json!({"key": "k", "type": "string", "value": "x"}),
            ),
            (
                AnyValue::Bool(true),
                json!({"key": "k", "type": "bool", "value": true}),
            ),
            (
                AnyValue::Int(-7),
                json!({"key": "k", "type": "int64", "value": -7}),
            ),
            (
                AnyValue::Int(9_223_372_036_854_775_222),
                json!({"key": "k", "type": "int64", "value": "9223372036854775222"}),
            ),
            (
                AnyValue::Double(72.5),
                json!({"key": "k", "type": "float64", "value": 72.5}),
            ),
            (
                AnyValue::Bytes(vec![0, 0, 0x30, 0x39]),
                json!({"key": "k", "type": "binary", "value": "AAAwOQ=="}),
            ),
            (
                AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Int(1)]),
                json!({"key": "k", "type": "string", "value": "[\"a\",1]"}),
            ),
            (
                AnyValue::Empty,
                json!({"key": "k", "type": "string", "value": ""}),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(tag("k", &value), want, "{value:?}");
        }
    }
}
