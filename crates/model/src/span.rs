//! Spans and what surrounds them, aligned with OpenTelemetry's data model.
//!
//! Two shapes: [`TraceBatch`] keeps OTLP's grouping (resource → scope → spans), as spans
//! arrive and leave; [`SpanRecord`] is one span with shared pointers to its resource and
//! scope, as the store indexes and queries them.

use std::sync::Arc;

use crate::{DurationNanos, SpanId, TraceId, UnixNanos};

/// A typed attribute value (OTLP `AnyValue`).
#[derive(Clone, Debug, PartialEq)]
pub enum AnyValue {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AnyValue>),
    KvList(Vec<KeyValue>),
    /// OTLP allows a value with no variant set.
    Empty,
}

impl AnyValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// A plain-text rendering, as used for tag matching and terminal output.
    pub fn to_display_string(&self) -> String {
        match self {
            AnyValue::String(s) => s.clone(),
            AnyValue::Bool(b) => b.to_string(),
            AnyValue::Int(i) => i.to_string(),
            AnyValue::Double(d) => d.to_string(),
            AnyValue::Bytes(b) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(b)
            }
            AnyValue::Array(_) | AnyValue::KvList(_) => {
                crate::otlp::any_value_to_plain_json(self).to_string()
            }
            AnyValue::Empty => String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: AnyValue,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: AnyValue) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

/// Finds the first attribute with `key`.
pub(crate) fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

impl Resource {
    /// `service.name`, or OpenTelemetry's fallback `unknown_service` when absent.
    pub fn service_name(&self) -> &str {
        find(&self.attributes, "service.name")
            .and_then(AnyValue::as_str)
            .unwrap_or("unknown_service")
    }

    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        find(&self.attributes, key)
    }
}

/// Instrumentation scope.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// OTLP's enum number.
    pub fn as_i32(self) -> i32 {
        match self {
            SpanKind::Unspecified => 0,
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }

    /// Unknown numbers map to `Unspecified`, as OTLP receivers must tolerate them.
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// Lowercase name as Jaeger's `span.kind` tag writes it ("" for unspecified).
    pub fn as_lower_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    pub fn from_lower_str(s: &str) -> Option<Self> {
        Some(match s {
            "unspecified" | "" => SpanKind::Unspecified,
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }

    /// OTLP's enum name, e.g. `SPAN_KIND_SERVER`.
    pub fn as_otlp_name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
            SpanKind::Internal => "SPAN_KIND_INTERNAL",
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            SpanKind::Producer => "SPAN_KIND_PRODUCER",
            SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    pub fn as_i32(self) -> i32 {
        match self {
            StatusCode::Unset => 0,
            StatusCode::Ok => 1,
            StatusCode::Error => 2,
        }
    }

    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    pub fn as_otlp_name(self) -> &'static str {
        match self {
            StatusCode::Unset => "STATUS_CODE_UNSET",
            StatusCode::Ok => "STATUS_CODE_OK",
            StatusCode::Error => "STATUS_CODE_ERROR",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    pub time: UnixNanos,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None` for a root span (OTLP's empty or all-zero parent id).
    pub parent_span_id: Option<SpanId>,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    pub kind: SpanKind,
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
    pub status: Status,
}

impl Span {
    pub fn duration(&self) -> DurationNanos {
        self.end.saturating_since(self.start)
    }

    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        find(&self.attributes, key)
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ScopeSpans {
    pub scope: Scope,
    pub schema_url: String,
    pub spans: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ResourceSpans {
    pub resource: Resource,
    pub schema_url: String,
    pub scope_spans: Vec<ScopeSpans>,
}

/// Spans grouped as OTLP groups them: what one ingest request carries.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TraceBatch {
    pub resource_spans: Vec<ResourceSpans>,
}

/// One span with its resource and scope shared among the spans of the same batch.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub span: Span,
}

impl SpanRecord {
    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }
}

impl TraceBatch {
    pub fn span_count(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum()
    }

    /// Flattens into records; spans of one resource share one `Arc<Resource>`.
    pub fn into_records(self) -> Vec<SpanRecord> {
        let mut out = Vec::with_capacity(self.span_count());
        for rs in self.resource_spans {
            let resource = Arc::new(rs.resource);
            for ss in rs.scope_spans {
                let scope = Arc::new(ss.scope);
                for span in ss.spans {
                    out.push(SpanRecord {
                        resource: Arc::clone(&resource),
                        scope: Arc::clone(&scope),
                        span,
                    });
                }
            }
        }
        out
    }

    /// Groups records back by resource and scope (by value, keeping first-seen order),
    /// so output has one `ResourceSpans` per distinct resource as OTLP exporters send it.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a SpanRecord>) -> TraceBatch {
        let mut batch = TraceBatch::default();
        for rec in records {
            let rs_idx = match batch
                .resource_spans
                .iter()
                .position(|rs| rs.resource == *rec.resource)
            {
                Some(i) => i,
                None => {
                    batch.resource_spans.push(ResourceSpans {
                        resource: (*rec.resource).clone(),
                        ..Default::default()
                    });
                    batch.resource_spans.len() - 1
                }
            };
            let rs = &mut batch.resource_spans[rs_idx];
            let ss_idx = match rs.scope_spans.iter().position(|ss| ss.scope == *rec.scope) {
                Some(i) => i,
                None => {
                    rs.scope_spans.push(ScopeSpans {
                        scope: (*rec.scope).clone(),
                        ..Default::default()
                    });
                    rs.scope_spans.len() - 1
                }
            };
            rs.scope_spans[ss_idx].spans.push(rec.span.clone());
        }
        batch
    }
}
