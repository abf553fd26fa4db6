//! Jaeger spans → Clew's model, written once for all three Jaeger receivers.
//!
//! The Thrift and protobuf decoders both fill the neutral [`Batch`] below (Thrift's shape, with
//! times in nanoseconds so protobuf's precision survives), and [`to_model`] maps it. The rules
//! mirror the OpenTelemetry Collector's Jaeger translator (`pkg/translator/jaeger`,
//! `jaegerproto_to_traces.go`, which Jaeger v2 itself runs) and jaeger-idl's `model/v1`:
//! - ids: 64-bit halves widened big-endian into 128 bits; a span with a zero trace or span id
//!   is rejected (counted, reported), never stored;
//! - parent: Thrift's `parentSpanId` becomes a CHILD_OF reference unless one already names it;
//!   the parent is then the first CHILD_OF reference in the same trace, else the first
//!   FOLLOWS_FROM one (jaeger-idl `Span.ParentSpanID`);
//! - links: every reference but the parent's CHILD_OF, with `opentracing.ref_type`
//!   (`child_of`/`follows_from`);
//! - process → resource: `serviceName` → `service.name`, tags → attributes, `hostname` →
//!   `host.name` and `jaeger.version` → `opencensus.exporterversion` ("Jaeger-…") when the
//!   target is absent; spans carrying their own process (protobuf) get their own resource;
//! - tags → typed attributes (later duplicates win); `span.kind` → kind; `error=true`,
//!   `otel.status_code`/`otel.status_description` and, failing those, `http.status_code` →
//!   status; `w3c.tracestate` → trace state; `otel.scope.name`/`otel.scope.version` (or the
//!   older `otel.library.*`) → scope: each of these tags is removed from the attributes;
//! - logs → events: the `event` field is the name (removed), other fields are attributes;
//! - flags: Jaeger's sampled bit is W3C's sampled bit; start µs → ns, end = start + duration.
//!
//! Deliberate difference: binary tags stay bytes (the Collector turns them into base64
//! strings), so the Jaeger query API gives back `"type": "binary"` as sent.

use std::collections::HashMap;

use clew_model::otlp::Decoded;
use clew_model::{
    AnyValue, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span as ModelSpan,
    SpanId, SpanKind, Status, StatusCode, TraceId, UnixNanos,
};

/// One Jaeger batch: the process (resource) and its spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub process: Option<Process>,
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Process {
    pub service_name: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub key: String,
    pub value: TagValue,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: TagValue) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

/// A typed tag value. `Unknown` keeps a type number no Jaeger version defines.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    String(String),
    Double(f64),
    Bool(bool),
    Long(i64),
    Binary(Vec<u8>),
    Unknown(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    ChildOf,
    FollowsFrom,
    /// A reference type number no Jaeger version defines.
    Unknown(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRef {
    pub ref_type: RefType,
    pub trace_id_high: u64,
    pub trace_id_low: u64,
    pub span_id: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Log {
    /// Unix nanoseconds (Thrift carries microseconds).
    pub timestamp: i64,
    pub fields: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    pub trace_id_high: u64,
    pub trace_id_low: u64,
    pub span_id: u64,
    /// Thrift's `parentSpanId`; 0 when absent (protobuf has no such field).
    pub parent_span_id: u64,
    pub operation_name: String,
    pub references: Vec<SpanRef>,
    /// Bit 1 sampled, bit 2 debug, bit 8 firehose.
    pub flags: u32,
    /// Unix nanoseconds.
    pub start_time: i64,
    /// Nanoseconds.
    pub duration: i64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
    /// A span's own process (protobuf only); overrides the batch's.
    pub process: Option<Process>,
}

/// Jaeger's sampled flag, which is also W3C's (and so OTLP's) sampled bit.
const SAMPLED_FLAG: u32 = 0x1;

/// A process name the Collector writes for resources without a service; read back as none.
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// Maps a Jaeger batch into the model, rejecting spans with zero ids.
pub(crate) fn to_model(batch: Batch) -> Decoded {
    let mut out = Decoded::default();
    // Spans with their own process are grouped by it, as the Collector's `regroup` does.
    let mut groups: Vec<(Option<Process>, Vec<Span>)> = vec![(batch.process, Vec::new())];
    for mut span in batch.spans {
        let index = match span.process.take() {
            None => 0,
            Some(p) => match groups.iter().position(|(q, _)| q.as_ref() == Some(&p)) {
                Some(i) => i,
                None => {
                    groups.push((Some(p), Vec::new()));
                    groups.len() - 1
                }
            },
        };
        groups[index].1.push(span);
    }
    for (process, spans) in groups {
        let mut scope_spans: Vec<ScopeSpans> = Vec::new();
        for span in spans {
            match span_to_model(span) {
                Ok((scope, span)) => match scope_spans.iter_mut().find(|ss| ss.scope == scope) {
                    Some(ss) => ss.spans.push(span),
                    None => scope_spans.push(ScopeSpans {
                        scope,
                        schema_url: String::new(),
                        spans: vec![span],
                    }),
                },
                Err(reason) => {
                    out.rejected_spans += 1;
                    out.first_rejection.get_or_insert_with(|| reason.to_owned());
                }
            }
        }
        if !scope_spans.is_empty() {
            out.batch.resource_spans.push(ResourceSpans {
                resource: process.map(resource_from).unwrap_or_default(),
                schema_url: String::new(),
                scope_spans,
            });
        }
    }
    out
}

fn resource_from(process: Process) -> Resource {
    let mut resource = Resource::default();
    if process.service_name == NO_SERVICE_NAME {
        return resource;
    }
    let mut attrs = Attributes::with_capacity(process.tags.len() + 1);
    if !process.service_name.is_empty() {
        attrs.put(
            "service.name".to_owned(),
            AnyValue::String(process.service_name),
        );
    }
    attrs.put_tags(process.tags);
    let mut attrs = attrs.into_vec();
    rename_absent(&mut attrs, "hostname", "host.name", |v| v);
    rename_absent(
        &mut attrs,
        "jaeger.version",
        "opencensus.exporterversion",
        |v| AnyValue::String(format!("Jaeger-{}", str_of(&v))),
    );
    resource.attributes = attrs;
    resource
}

/// Moves `from` to `to` (converted) unless `to` is already present.
fn rename_absent(
    attrs: &mut Vec<KeyValue>,
    from: &str,
    to: &str,
    convert: impl FnOnce(AnyValue) -> AnyValue,
) {
    if find(attrs, to).is_some() {
        return;
    }
    if let Some(value) = remove(attrs, from) {
        attrs.push(KeyValue::new(to, convert(value)));
    }
}

fn span_to_model(span: Span) -> Result<(Scope, ModelSpan), &'static str> {
    if span.trace_id_high == 0 && span.trace_id_low == 0 {
        return Err("trace id must not be all zeros");
    }
    if span.span_id == 0 {
        return Err("span id must not be all zeros");
    }
    let trace_key = (span.trace_id_high, span.trace_id_low);
    let mut tags = span.tags;
    let scope = take_scope(&mut tags);

    let mut attributes = Attributes::with_capacity(tags.len());
    attributes.put_tags(tags);
    let mut attributes = attributes.into_vec();
    let kind = match remove(&mut attributes, "span.kind") {
        Some(v) => kind_from(str_of(&v)),
        None => SpanKind::Unspecified,
    };
    let status = take_status(&mut attributes, kind);
    let trace_state = remove(&mut attributes, "w3c.tracestate")
        .map(|v| str_of(&v).to_owned())
        .unwrap_or_default();

    let references = with_parent_ref(trace_key, span.parent_span_id, span.references);
    let parent = parent_of(trace_key, &references);
    let links = references
        .iter()
        .filter(|r| !(r.span_id == parent && r.ref_type == RefType::ChildOf))
        .map(|r| Link {
            trace_id: TraceId::from_u64_pair(r.trace_id_high, r.trace_id_low),
            span_id: SpanId::from_u64(r.span_id),
            attributes: vec![KeyValue::new(
                "opentracing.ref_type",
                AnyValue::String(
                    match r.ref_type {
                        RefType::ChildOf => "child_of",
                        _ => "follows_from",
                    }
                    .to_owned(),
                ),
            )],
            ..Link::default()
        })
        .collect();

    let start = nanos(span.start_time);
    let end = start.saturating_add(clew_model::DurationNanos(
        u64::try_from(span.duration).unwrap_or(0),
    ));
    let events = span.logs.into_iter().map(event_from).collect();
    Ok((
        scope,
        ModelSpan {
            trace_id: TraceId::from_u64_pair(span.trace_id_high, span.trace_id_low),
            span_id: SpanId::from_u64(span.span_id),
            parent_span_id: (parent != 0).then(|| SpanId::from_u64(parent)),
            trace_state,
            flags: span.flags & SAMPLED_FLAG,
            name: span.operation_name,
            kind,
            start,
            end,
            attributes,
            events,
            links,
            status,
            ..ModelSpan::default()
        },
    ))
}

/// Negative times (nonsense on the wire) become the epoch rather than wrapping around.
fn nanos(t: i64) -> UnixNanos {
    UnixNanos(u64::try_from(t).unwrap_or(0))
}

/// Jaeger's `MaybeAddParentSpanID`: Thrift's parent field becomes a leading CHILD_OF
/// reference unless a reference already names that span in the same trace.
fn with_parent_ref(trace: (u64, u64), parent: u64, mut refs: Vec<SpanRef>) -> Vec<SpanRef> {
    if parent == 0
        || refs
            .iter()
            .any(|r| r.span_id == parent && (r.trace_id_high, r.trace_id_low) == trace)
    {
        return refs;
    }
    refs.insert(
        0,
        SpanRef {
            ref_type: RefType::ChildOf,
            trace_id_high: trace.0,
            trace_id_low: trace.1,
            span_id: parent,
        },
    );
    refs
}

/// jaeger-idl's `Span.ParentSpanID`: the first CHILD_OF in the same trace, else the first
/// FOLLOWS_FROM in the same trace, else none (0).
fn parent_of(trace: (u64, u64), refs: &[SpanRef]) -> u64 {
    let same_trace = |r: &&SpanRef| (r.trace_id_high, r.trace_id_low) == trace;
    refs.iter()
        .filter(same_trace)
        .find(|r| r.ref_type == RefType::ChildOf)
        .or_else(|| {
            refs.iter()
                .filter(same_trace)
                .find(|r| r.ref_type == RefType::FollowsFrom)
        })
        .map_or(0, |r| r.span_id)
}

/// Removes the scope tags (read as strings whatever their type, as the Collector does).
fn take_scope(tags: &mut Vec<Tag>) -> Scope {
    let mut scope = Scope::default();
    for (name_key, version_key) in [
        ("otel.scope.name", "otel.scope.version"),
        // What OpenTelemetry's Jaeger exporters wrote before the rename.
        ("otel.library.name", "otel.library.version"),
    ] {
        if let Some(name) = take_tag_str(tags, name_key) {
            scope.name = name;
            if let Some(version) = take_tag_str(tags, version_key) {
                scope.version = version;
            }
            break;
        }
    }
    scope
}

fn take_tag_str(tags: &mut Vec<Tag>, key: &str) -> Option<String> {
    let i = tags.iter().position(|t| t.key == key)?;
    Some(match tags.remove(i).value {
        TagValue::String(s) => s,
        _ => String::new(),
    })
}

fn kind_from(s: &str) -> SpanKind {
    match s {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => SpanKind::Unspecified,
    }
}

/// The Collector's `setInternalSpanStatus`: `error=true` is the final word; else
/// `otel.status_code`; else an HTTP status code says whether the span failed.
fn take_status(attrs: &mut Vec<KeyValue>, kind: SpanKind) -> Status {
    let mut status: Option<Status> = None;
    if matches!(find(attrs, "error"), Some(AnyValue::Bool(true))) {
        remove(attrs, "error");
        let message = take_str(attrs, "otel.status_description").unwrap_or_else(|| {
            find(attrs, "http.status_message")
                .map(|v| str_of(v).to_owned())
                .unwrap_or_default()
        });
        status = Some(Status {
            code: StatusCode::Error,
            message,
        });
    }
    if let Some(code) = remove(attrs, "otel.status_code") {
        if status.is_none() {
            let code = match str_of(&code).to_ascii_uppercase().as_str() {
                "OK" => StatusCode::Ok,
                "ERROR" => StatusCode::Error,
                _ => StatusCode::Unset,
            };
            let message = take_str(attrs, "otel.status_description").unwrap_or_default();
            status = Some(Status { code, message });
        }
    } else if status.is_none()
        && let Some(http) = find(attrs, "http.status_code").and_then(http_code)
    {
        let code = match (http, kind) {
            (400..=499, SpanKind::Client) => StatusCode::Error,
            (400..=499, SpanKind::Server) => StatusCode::Unset,
            (100..=398, _) => StatusCode::Unset,
            _ => StatusCode::Error,
        };
        // A successful HTTP code leaves the status unset, message and all.
        if code != StatusCode::Unset {
            let message = find(attrs, "http.status_message")
                .map(|v| str_of(v).to_owned())
                .unwrap_or_default();
            status = Some(Status { code, message });
        }
    }
    status.unwrap_or_default()
}

fn http_code(v: &AnyValue) -> Option<i64> {
    match v {
        AnyValue::Int(i) => Some(*i),
        AnyValue::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn event_from(log: Log) -> Event {
    let mut attrs = Attributes::with_capacity(log.fields.len());
    attrs.put_tags(log.fields);
    let mut attributes = attrs.into_vec();
    // OpenTracing names a log by its `event` field. OpenTelemetry's Jaeger exporters put
    // the event name in `message` instead; without an `event`, that is the name (and the
    // field stays, since for OpenTracing clients it is a message, not a name).
    let name = remove(&mut attributes, "event")
        .map(|v| str_of(&v).to_owned())
        .or_else(|| find(&attributes, "message").map(|v| str_of(v).to_owned()))
        .unwrap_or_default();
    Event {
        time: nanos(log.timestamp),
        name,
        attributes,
        dropped_attributes_count: 0,
    }
}

fn value_from(value: TagValue) -> AnyValue {
    match value {
        TagValue::String(s) => AnyValue::String(s),
        TagValue::Double(d) => AnyValue::Double(d),
        TagValue::Bool(b) => AnyValue::Bool(b),
        TagValue::Long(i) => AnyValue::Int(i),
        TagValue::Binary(b) => AnyValue::Bytes(b),
        TagValue::Unknown(n) => AnyValue::String(format!("<Unknown Jaeger TagType \"{n}\">")),
    }
}

/// A string attribute as pdata's `Str()` reads it: empty for other types.
fn str_of(v: &AnyValue) -> &str {
    v.as_str().unwrap_or("")
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

fn remove(attrs: &mut Vec<KeyValue>, key: &str) -> Option<AnyValue> {
    let i = attrs.iter().position(|kv| kv.key == key)?;
    Some(attrs.remove(i).value)
}

fn take_str(attrs: &mut Vec<KeyValue>, key: &str) -> Option<String> {
    remove(attrs, key).map(|v| str_of(&v).to_owned())
}

/// Attributes built with map semantics (a repeated key replaces the earlier value in place),
/// in linear time however many tags a hostile span carries.
struct Attributes {
    list: Vec<KeyValue>,
    index: HashMap<String, usize>,
}

impl Attributes {
    fn with_capacity(n: usize) -> Self {
        Self {
            list: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
        }
    }

    fn put(&mut self, key: String, value: AnyValue) {
        match self.index.get(&key) {
            Some(&i) => self.list[i].value = value,
            None => {
                self.index.insert(key.clone(), self.list.len());
                self.list.push(KeyValue { key, value });
            }
        }
    }

    fn put_tags(&mut self, tags: Vec<Tag>) {
        for tag in tags {
            self.put(tag.key, value_from(tag.value));
        }
    }

    fn into_vec(self) -> Vec<KeyValue> {
        self.list
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
