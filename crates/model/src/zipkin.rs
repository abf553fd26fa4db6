//! Zipkin v2: the JSON span shape (`ZipkinSpan`, serde) and the explicit mappings between
//! Zipkin spans and the model, used both ways: by the collector's Zipkin receiver (JSON, and
//! proto3 converted to [`ZipkinSpan`] first) and by the server's Zipkin query API.
//!
//! Inbound rules (Zipkin → model), after opentelemetry-collector-contrib
//! `pkg/translator/zipkin/zipkinv2/to_translator.go` with current semantic-convention names
//! (the translator still writes semconv 1.6 `net.peer.ip`/`net.host.ip`; outbound we read both):
//! - Ids: hex of up to 32 (trace) / 16 (span) digits, any case; 64-bit trace ids are widened
//!   to 128 bits with leading zeros ([`TraceId::from_hex`]). A missing, malformed or all-zero
//!   trace or span id rejects the span (counted, reported); an all-zero or self-referencing
//!   `parentId` means root.
//! - `localEndpoint.serviceName` → resource `service.name` (absent: no attribute, so the
//!   store shows `unknown_service`); its `ipv4` (else `ipv6`) → span attribute
//!   `network.local.address`, `port` → `network.local.port` (int).
//! - `remoteEndpoint.serviceName` → `peer.service` (unless a `peer.service` tag is present,
//!   per OpenTelemetry's Zipkin exporter spec); `ipv4` (else `ipv6`) →
//!   `network.peer.address`; `port` → `network.peer.port` (int). Zipkin endpoints carry IPs,
//!   never host names, so `server.address` is not invented.
//! - `kind` CLIENT/SERVER/PRODUCER/CONSUMER → the same; absent → unspecified, or internal
//!   when the tag `span.kind` is `internal` (the tag is consumed when `kind` is absent).
//! - `timestamp`/`duration` µs → start/end ns; a missing duration is 0, a missing timestamp
//!   leaves start at 0 (the Unix epoch), as the translator does.
//! - `annotations` → events (µs → ns); a value in OpenTelemetry's forms, `{"name": {json
//!   attributes}}` (the exporter spec, Python's exporters) or `name|{json}|dropped count`
//!   (the collector's translator), becomes a named event with those (scalar) attributes.
//! - `tags` → string attributes, sorted by key, except: `otel.status_code` (`OK`/`ERROR`/
//!   `UNSET`, or the `STATUS_CODE_*` spelling) → status, with `otel.status_description` as
//!   the message; `error` (any value) → status Error with the value as message (`""` and
//!   `"true"` give an empty message); `w3c.tracestate` → trace state; `otel.scope.name`/
//!   `otel.scope.version` (or the older `otel.library.*`) → instrumentation scope.
//! - `debug` is dropped (OpenTelemetry's Zipkin exporters set it on every span).
//! - Shared spans (`shared: true`): the server half of an RPC reuses the client half's span
//!   id. Both halves are kept distinct and queryable, as Jaeger's span-id deduper does at
//!   query time, but here at ingest and deterministically: the shared span gets the id
//!   [`shared_span_id`]`(id)` (a fixed bijection of the 64-bit id, so retries and duplicates
//!   map to the same id and two shared ids never collide), its parent becomes the original
//!   id (the client half), and the original id is kept in the attribute
//!   `zipkin.shared_span_id` (16 hex digits).
//!
//! Outbound (model → Zipkin) is the reverse, after `from_translator.go`: resource attributes
//! other than `service.name` and the scope (`otel.scope.name`/`version`) become tags under
//! the span's own attributes; every attribute value becomes its display string; status (as
//! the exporter spec says) Error → `otel.status_code: ERROR` and `error` = message (maybe
//! empty), Ok → `otel.status_code: OK` (+ `otel.status_description`), and attributes named
//! `otel.status_code`/`otel.status_description` are left out (only the status writes them); internal kind → no
//! `kind` and tag `span.kind: internal`; a client or producer span without `peer.service`
//! names its remote endpoint by `server.address` (else `net.peer.name`); events with
//! attributes use the `{"name": {…}}` form; a span carrying `zipkin.shared_span_id` is
//! written back as the
//! shared half (original id, `shared: true`, the client half's parent). Links are not
//! carried (Zipkin has none).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Deserializer, Serialize};

use crate::otlp::Decoded;
use crate::{
    AnyValue, Event, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, TraceBatch, TraceId, UnixNanos,
};

/// Span attribute holding a shared span's original (client half's) id.
pub const SHARED_SPAN_ID: &str = "zipkin.shared_span_id";
pub const PEER_SERVICE: &str = "peer.service";
pub const PEER_ADDRESS: &str = "network.peer.address";
pub const PEER_PORT: &str = "network.peer.port";
pub const LOCAL_ADDRESS: &str = "network.local.address";
pub const LOCAL_PORT: &str = "network.local.port";

// Semconv 1.6 names, as OpenTelemetry's Zipkin translators and older SDKs still write them.
const LEGACY_PEER_ADDRESS: &str = "net.peer.ip";
const LEGACY_PEER_PORT: &str = "net.peer.port";
const LEGACY_LOCAL_ADDRESS: &str = "net.host.ip";
const LEGACY_LOCAL_PORT: &str = "net.host.port";

const TAG_ERROR: &str = "error";
const TAG_STATUS_CODE: &str = "otel.status_code";
const TAG_STATUS_DESCRIPTION: &str = "otel.status_description";
const TAG_TRACE_STATE: &str = "w3c.tracestate";
const TAG_SPAN_KIND: &str = "span.kind";
const TAG_SCOPE_NAME: &str = "otel.scope.name";
const TAG_SCOPE_VERSION: &str = "otel.scope.version";
const TAG_LIBRARY_NAME: &str = "otel.library.name";
const TAG_LIBRARY_VERSION: &str = "otel.library.version";
const TAG_SERVER_ADDRESS: &str = "server.address";
const TAG_NET_PEER_NAME: &str = "net.peer.name";

/// One Zipkin v2 span as JSON carries it (`zipkin2-api.yaml` `Span`). Fields are written in
/// Zipkin's own order and left out when absent, as Zipkin's `SpanBytesEncoder.JSON_V2` does.
/// Reading is lenient where clients differ: `null` anywhere means absent, tag values may be
/// numbers or booleans, times may be fractional, unknown fields and kinds are ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinSpan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `CLIENT`, `SERVER`, `PRODUCER` or `CONSUMER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Epoch microseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_micros"
    )]
    pub timestamp: Option<u64>,
    /// Microseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_micros"
    )]
    pub duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_endpoint: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub annotations: Vec<Annotation>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "lenient_tags"
    )]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_not_true")]
    pub debug: Option<bool>,
    #[serde(default, skip_serializing_if = "is_not_true")]
    pub shared: Option<bool>,
}

/// A node of the service graph (`zipkin2-api.yaml` `Endpoint`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

/// A timestamped event (`zipkin2-api.yaml` `Annotation`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Annotation {
    /// Epoch microseconds.
    #[serde(default, deserialize_with = "lenient_micros_or_zero")]
    pub timestamp: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

fn is_not_true(v: &Option<bool>) -> bool {
    *v != Some(true)
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A JSON number as Zipkin clients write times: an integer, or (JavaScript clients) a
/// float, rounded; negative or non-finite values are refused.
#[derive(Deserialize)]
#[serde(untagged)]
enum Micros {
    Int(u64),
    Float(f64),
}

fn lenient_micros<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Micros>::deserialize(d)? {
        None => Ok(None),
        Some(Micros::Int(v)) => Ok(Some(v)),
        Some(Micros::Float(f)) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
            Ok(Some(f.round() as u64))
        }
        Some(Micros::Float(f)) => Err(serde::de::Error::custom(format!(
            "{f} is not a valid count of microseconds"
        ))),
    }
}

fn lenient_micros_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(lenient_micros(d)?.unwrap_or(0))
}

/// Tag values are strings in Zipkin, but some clients send numbers or booleans.
#[derive(Deserialize)]
#[serde(untagged)]
enum TagValue {
    String(String),
    Bool(bool),
    Number(serde_json::Number),
}

fn lenient_tags<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, Option<TagValue>>>::deserialize(d)?.unwrap_or_default();
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| {
            let v = match v? {
                TagValue::String(s) => s,
                TagValue::Bool(b) => b.to_string(),
                TagValue::Number(n) => n.to_string(),
            };
            Some((k, v))
        })
        .collect())
}

/// Why a Zipkin JSON body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid Zipkin v2 JSON at line {line}, column {column}: {message}")]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Reads a Zipkin v2 JSON list of spans (`POST /api/v2/spans`).
pub fn decode_json(bytes: &[u8]) -> Result<Vec<ZipkinSpan>, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// The id a shared span (the server half reusing the client's id) is stored under: the
/// splitmix64 finaliser of the id xor a constant. Hand-written because it must never change
/// (std's hashers may change between releases, and stored ids must stay reproducible), and
/// it is a bijection on u64, so distinct shared ids never derive the same id.
pub fn shared_span_id(id: SpanId) -> SpanId {
    let mut z = id.to_u64() ^ 0x5a49_504b_494e_5348; // "ZIPKINSH"
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // Zero is not a valid span id; one input in 2^64 lands here.
    SpanId::from_u64(if z == 0 { 1 } else { z })
}

/// Converts received Zipkin spans, rejecting (and counting) those with invalid ids. Spans
/// are grouped into one resource per local service and one scope per instrumentation
/// scope, in first-seen order.
pub fn batch_from_zipkin(spans: Vec<ZipkinSpan>) -> Decoded {
    let mut out = Decoded::default();
    let mut resource_index: HashMap<Option<String>, usize> = HashMap::new();
    let mut scope_index: HashMap<(usize, String, String), usize> = HashMap::new();
    for z in spans {
        let (service, scope, span) = match span_from_zipkin(z) {
            Ok(parts) => parts,
            Err(reason) => {
                out.rejected_spans += 1;
                out.first_rejection.get_or_insert(reason);
                continue;
            }
        };
        let rs_idx = *resource_index.entry(service.clone()).or_insert_with(|| {
            let attributes = service
                .map(|s| vec![KeyValue::new("service.name", AnyValue::String(s))])
                .unwrap_or_default();
            out.batch.resource_spans.push(ResourceSpans {
                resource: Resource {
                    attributes,
                    dropped_attributes_count: 0,
                },
                ..ResourceSpans::default()
            });
            out.batch.resource_spans.len() - 1
        });
        let rs = &mut out.batch.resource_spans[rs_idx];
        let key = (rs_idx, scope.name.clone(), scope.version.clone());
        let ss_idx = *scope_index.entry(key).or_insert_with(|| {
            rs.scope_spans.push(ScopeSpans {
                scope,
                ..ScopeSpans::default()
            });
            rs.scope_spans.len() - 1
        });
        rs.scope_spans[ss_idx].spans.push(span);
    }
    out
}

/// One Zipkin span as the model's (local service, scope, span), or why it is rejected.
fn span_from_zipkin(z: ZipkinSpan) -> Result<(Option<String>, Scope, Span), String> {
    let trace_id = match z.trace_id.as_deref() {
        None | Some("") => return Err("missing traceId".into()),
        Some(s) => TraceId::from_hex(s).map_err(|e| format!("traceId {s:?}: {e}"))?,
    };
    if trace_id.is_zero() {
        return Err("traceId must not be all zeros".into());
    }
    let id = match z.id.as_deref() {
        None | Some("") => return Err("missing span id".into()),
        Some(s) => SpanId::from_hex(s).map_err(|e| format!("span id {s:?}: {e}"))?,
    };
    if id.is_zero() {
        return Err("span id must not be all zeros".into());
    }
    let parent = match z.parent_id.as_deref() {
        None | Some("") => None,
        Some(s) => {
            let p = SpanId::from_hex(s).map_err(|e| format!("parentId {s:?}: {e}"))?;
            (!p.is_zero() && p != id).then_some(p)
        }
    };

    let mut tags = z.tags;
    let kind = match z.kind.as_deref() {
        Some("CLIENT") => SpanKind::Client,
        Some("SERVER") => SpanKind::Server,
        Some("PRODUCER") => SpanKind::Producer,
        Some("CONSUMER") => SpanKind::Consumer,
        _ => match tags.remove(TAG_SPAN_KIND).as_deref() {
            Some("internal") => SpanKind::Internal,
            _ => SpanKind::Unspecified,
        },
    };
    let status = status_from_tags(&mut tags);
    let trace_state = tags.remove(TAG_TRACE_STATE).unwrap_or_default();
    let scope_name = tags.remove(TAG_SCOPE_NAME);
    let scope_version = tags.remove(TAG_SCOPE_VERSION);
    let library_name = tags.remove(TAG_LIBRARY_NAME);
    let library_version = tags.remove(TAG_LIBRARY_VERSION);
    let scope = Scope {
        name: scope_name.or(library_name).unwrap_or_default(),
        version: scope_version.or(library_version).unwrap_or_default(),
        ..Scope::default()
    };

    let mut attributes: Vec<KeyValue> = tags
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, AnyValue::String(v)))
        .collect();
    let service = z
        .local_endpoint
        .as_ref()
        .and_then(|e| e.service_name.clone())
        .filter(|s| !s.is_empty());
    if let Some(local) = &z.local_endpoint {
        if let Some(ip) = endpoint_ip(local) {
            set_attr(&mut attributes, LOCAL_ADDRESS, AnyValue::String(ip));
        }
        if let Some(port) = endpoint_port(local) {
            set_attr(&mut attributes, LOCAL_PORT, AnyValue::Int(port));
        }
    }
    if let Some(remote) = &z.remote_endpoint {
        // An explicit `peer.service` tag wins over the endpoint (OpenTelemetry's Zipkin
        // exporter spec, "Zipkin -> OTLP").
        if let Some(name) = remote.service_name.as_ref().filter(|s| !s.is_empty())
            && !attributes.iter().any(|kv| kv.key == PEER_SERVICE)
        {
            attributes.push(KeyValue::new(PEER_SERVICE, AnyValue::String(name.clone())));
        }
        if let Some(ip) = endpoint_ip(remote) {
            set_attr(&mut attributes, PEER_ADDRESS, AnyValue::String(ip));
        }
        if let Some(port) = endpoint_port(remote) {
            set_attr(&mut attributes, PEER_PORT, AnyValue::Int(port));
        }
    }

    let (span_id, parent_span_id) = if z.shared == Some(true) {
        set_attr(
            &mut attributes,
            SHARED_SPAN_ID,
            AnyValue::String(id.to_hex()),
        );
        (shared_span_id(id), Some(id))
    } else {
        (id, parent)
    };

    let start = UnixNanos::from_micros(z.timestamp.unwrap_or(0));
    let end = UnixNanos(
        start
            .0
            .saturating_add(z.duration.unwrap_or(0).saturating_mul(1_000)),
    );
    let events = z
        .annotations
        .into_iter()
        .map(event_from_annotation)
        .collect();
    let span = Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        name: z.name.unwrap_or_default(),
        kind,
        start,
        end,
        attributes,
        events,
        status,
        ..Span::default()
    };
    Ok((service, scope, span))
}

fn status_from_tags(tags: &mut BTreeMap<String, String>) -> Status {
    let mut status = Status::default();
    if let Some(code) = tags.remove(TAG_STATUS_CODE) {
        status.code = match code.to_ascii_uppercase().as_str() {
            "OK" | "STATUS_CODE_OK" => StatusCode::Ok,
            "ERROR" | "STATUS_CODE_ERROR" => StatusCode::Error,
            _ => StatusCode::Unset,
        };
        status.message = tags.remove(TAG_STATUS_DESCRIPTION).unwrap_or_default();
    }
    // Zipkin marks a failed span by the presence of `error`, whose value is the message.
    if let Some(value) = tags.remove(TAG_ERROR) {
        status.code = StatusCode::Error;
        if status.message.is_empty() && value != "true" {
            status.message = value;
        }
    }
    status
}

fn set_attr(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    attrs.retain(|kv| kv.key != key);
    attrs.push(KeyValue::new(key, value));
}

/// The endpoint's address in canonical text: IPv4 when given (Zipkin prefers it), else
/// IPv6 (an IPv4-mapped IPv6 written as IPv4, as Zipkin normalises it). Unparseable
/// addresses are dropped, as Zipkin's `Endpoint.Builder.ip` ignores them.
fn endpoint_ip(e: &Endpoint) -> Option<String> {
    if let Some(v4) = e.ipv4.as_deref().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
        return Some(v4.to_string());
    }
    let v6 = e.ipv6.as_deref()?.parse::<Ipv6Addr>().ok()?;
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    })
}

/// Zipkin's port is an unsigned 16-bit value; 0 and out-of-range mean absent.
fn endpoint_port(e: &Endpoint) -> Option<i64> {
    e.port.filter(|p| (1..=65_535).contains(p))
}

/// An annotation as an event; `name|{json}|dropped` (OpenTelemetry's exporters' form for
/// events with attributes) is unpacked, anything else is the event name as is.
fn event_from_annotation(a: Annotation) -> Event {
    let time = UnixNanos::from_micros(a.timestamp);
    if let Some((name, attributes, dropped)) = parse_event_value(&a.value) {
        return Event {
            time,
            name,
            attributes,
            dropped_attributes_count: dropped,
        };
    }
    Event {
        time,
        name: a.value,
        ..Event::default()
    }
}

fn parse_event_value(value: &str) -> Option<(String, Vec<KeyValue>, u32)> {
    // The specification's form: `{"name": {attributes}}`.
    if value.starts_with('{')
        && let Ok(outer) = serde_json::from_str::<serde_json::Map<_, _>>(value)
        && outer.len() == 1
        && let Some((name, serde_json::Value::Object(map))) = outer.into_iter().next()
    {
        return Some((name, attributes_from_json(map), 0));
    }
    // The collector translators' form: `name|{attributes}|dropped`.
    let (name, rest) = value.split_once('|')?;
    let (json, dropped) = rest.rsplit_once('|')?;
    let dropped: u32 = dropped.parse().ok()?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    Some((name.to_owned(), attributes_from_json(map), dropped))
}

fn attributes_from_json(map: serde_json::Map<String, serde_json::Value>) -> Vec<KeyValue> {
    map.into_iter()
        .filter_map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => AnyValue::String(s),
                serde_json::Value::Bool(b) => AnyValue::Bool(b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => AnyValue::Int(i),
                    None => AnyValue::Double(n.as_f64()?),
                },
                // The translator keeps scalars only.
                _ => return None,
            };
            Some(KeyValue::new(k, value))
        })
        .collect()
}

/// Zipkin's trace id text: 16 hex digits when the high half is zero, else 32.
pub fn trace_id_hex(id: &TraceId) -> String {
    if id.high_u64() == 0 {
        format!("{:016x}", id.low_u64())
    } else {
        id.to_hex()
    }
}

/// A batch as Zipkin spans (see [`records_to_zipkin`]).
pub fn batch_to_zipkin(batch: &TraceBatch) -> Vec<ZipkinSpan> {
    let parts = batch.resource_spans.iter().flat_map(|rs| {
        rs.scope_spans.iter().flat_map(move |ss| {
            ss.spans
                .iter()
                .map(move |span| (&rs.resource, &ss.scope, span))
        })
    });
    to_zipkin(parts)
}

/// Stored spans as Zipkin spans, in the given order. A shared span's `parentId` is its
/// client half's parent when that half is among `records`.
pub fn records_to_zipkin(records: &[SpanRecord]) -> Vec<ZipkinSpan> {
    to_zipkin(
        records
            .iter()
            .map(|r| (r.resource.as_ref(), r.scope.as_ref(), &r.span)),
    )
}

fn to_zipkin<'a>(
    parts: impl Iterator<Item = (&'a Resource, &'a Scope, &'a Span)>,
) -> Vec<ZipkinSpan> {
    let parts: Vec<_> = parts.collect();
    let parent_of: HashMap<(TraceId, SpanId), Option<SpanId>> = parts
        .iter()
        .map(|(_, _, s)| ((s.trace_id, s.span_id), s.parent_span_id))
        .collect();
    parts
        .into_iter()
        .map(|(resource, scope, span)| {
            let mut z = span_to_zipkin(resource, scope, span);
            if z.shared == Some(true)
                && let Some(original) = shared_original(span)
            {
                z.parent_id = parent_of
                    .get(&(span.trace_id, original))
                    .copied()
                    .flatten()
                    .map(|p| p.to_hex());
            }
            z
        })
        .collect()
}

/// The original id of a span received as a shared Zipkin span, when it still has the shape
/// the receiver gave it (derived id, parent = original).
fn shared_original(span: &Span) -> Option<SpanId> {
    let original = span
        .attribute(SHARED_SPAN_ID)
        .and_then(AnyValue::as_str)
        .and_then(|s| SpanId::from_hex(s).ok())?;
    (span.parent_span_id == Some(original) && span.span_id == shared_span_id(original))
        .then_some(original)
}

/// One span as Zipkin v2. A shared span comes back with its original id, `shared: true` and
/// no parent (only the whole trace knows the client half's parent: [`records_to_zipkin`]).
pub fn span_to_zipkin(resource: &Resource, scope: &Scope, span: &Span) -> ZipkinSpan {
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for kv in &resource.attributes {
        if kv.key != "service.name" {
            tags.insert(kv.key.clone(), kv.value.to_display_string());
        }
    }
    if !scope.name.is_empty() {
        tags.insert(TAG_SCOPE_NAME.into(), scope.name.clone());
    }
    if !scope.version.is_empty() {
        tags.insert(TAG_SCOPE_VERSION.into(), scope.version.clone());
    }
    let mut consumed: Vec<&str> = Vec::new();
    let local = Endpoint {
        service_name: resource
            .attribute("service.name")
            .and_then(AnyValue::as_str)
            .map(str::to_owned),
        ..endpoint_from_attrs(
            span,
            None,
            [LOCAL_ADDRESS, LEGACY_LOCAL_ADDRESS],
            [LOCAL_PORT, LEGACY_LOCAL_PORT],
            &mut consumed,
        )
    };
    let local_endpoint = (local != Endpoint::default()).then_some(local);
    let remote = endpoint_from_attrs(
        span,
        Some(PEER_SERVICE),
        [PEER_ADDRESS, LEGACY_PEER_ADDRESS],
        [PEER_PORT, LEGACY_PEER_PORT],
        &mut consumed,
    );
    let mut remote = remote;
    if remote.service_name.is_none() && matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        // The spec's ranking after `peer.service`; these stay tags too.
        remote.service_name = [TAG_SERVER_ADDRESS, TAG_NET_PEER_NAME]
            .iter()
            .find_map(|k| span.attribute(k).and_then(AnyValue::as_str))
            .map(str::to_owned);
    }
    let remote_endpoint = (remote != Endpoint::default()).then_some(remote);

    let shared = shared_original(span);
    if shared.is_some() {
        consumed.push(SHARED_SPAN_ID);
    }
    for kv in &span.attributes {
        if !consumed.contains(&kv.key.as_str()) {
            tags.insert(kv.key.clone(), kv.value.to_display_string());
        }
    }
    if !span.trace_state.is_empty() {
        tags.insert(TAG_TRACE_STATE.into(), span.trace_state.clone());
    }
    let kind = match span.kind {
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Server => Some("SERVER"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal => {
            tags.insert(TAG_SPAN_KIND.into(), "internal".into());
            None
        }
        SpanKind::Unspecified => None,
    };
    // The status alone writes `otel.status_code`/`otel.status_description`: an attribute of
    // that name (kept inbound when no `otel.status_code` came with it) would be read back as
    // the status message, so a span read from our Zipkin API and sent again changed status
    // (found by the `zipkin_json` fuzz target; fuzz/regressions/zipkin_json/).
    tags.remove(TAG_STATUS_CODE);
    tags.remove(TAG_STATUS_DESCRIPTION);
    match span.status.code {
        StatusCode::Error => {
            tags.insert(TAG_STATUS_CODE.into(), "ERROR".into());
            tags.insert(TAG_ERROR.into(), span.status.message.clone());
        }
        StatusCode::Ok => {
            tags.insert(TAG_STATUS_CODE.into(), "OK".into());
            if !span.status.message.is_empty() {
                tags.insert(TAG_STATUS_DESCRIPTION.into(), span.status.message.clone());
            }
        }
        StatusCode::Unset => {}
    }

    let duration = span.end.saturating_since(span.start).0;
    // Zipkin rounds durations under a microsecond up, so a timed span never reads as untimed.
    let duration_us = duration.div_ceil(1_000);
    let (id, parent_id) = match shared {
        Some(original) => (original, None),
        None => (span.span_id, span.parent_span_id),
    };
    ZipkinSpan {
        trace_id: Some(trace_id_hex(&span.trace_id)),
        parent_id: parent_id.map(|p| p.to_hex()),
        id: Some(id.to_hex()),
        kind: kind.map(str::to_owned),
        name: (!span.name.is_empty()).then(|| span.name.clone()),
        timestamp: (span.start.0 != 0).then(|| span.start.as_micros()),
        duration: (duration_us != 0).then_some(duration_us),
        local_endpoint,
        remote_endpoint,
        annotations: span.events.iter().map(annotation_from_event).collect(),
        tags,
        debug: None,
        shared: shared.map(|_| true),
    }
}

fn endpoint_from_attrs<'a>(
    span: &Span,
    service_key: Option<&'a str>,
    address_keys: [&'a str; 2],
    port_keys: [&'a str; 2],
    consumed: &mut Vec<&'a str>,
) -> Endpoint {
    let mut e = Endpoint::default();
    if let Some(key) = service_key
        && let Some(name) = span.attribute(key).and_then(AnyValue::as_str)
    {
        e.service_name = Some(name.to_owned());
        consumed.push(key);
    }
    if let Some((key, ip)) = address_keys.iter().find_map(|k| {
        let ip = span.attribute(k)?.as_str()?.parse::<IpAddr>().ok()?;
        Some((*k, ip))
    }) {
        match ip {
            IpAddr::V4(v4) => e.ipv4 = Some(v4.to_string()),
            IpAddr::V6(v6) => e.ipv6 = Some(v6.to_string()),
        }
        consumed.push(key);
    }
    if let Some((key, port)) = port_keys.iter().find_map(|k| {
        let port = match span.attribute(k)? {
            AnyValue::Int(i) => *i,
            AnyValue::String(s) => s.parse().ok()?,
            _ => return None,
        };
        (1..=65_535).contains(&port).then_some((*k, port))
    }) {
        e.port = Some(port);
        consumed.push(key);
    }
    e
}

fn annotation_from_event(e: &Event) -> Annotation {
    // The `{"name": {…}}` form cannot carry a dropped count, so an event without attributes
    // is its bare name even if some were dropped: writing `{"name":{}}` for it read back as a
    // different event on the next pass (found by the `zipkin_json` fuzz target).
    let value = if e.attributes.is_empty() {
        e.name.clone()
    } else {
        let attrs: serde_json::Map<String, serde_json::Value> = e
            .attributes
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    crate::otlp::any_value_to_plain_json(&kv.value),
                )
            })
            .collect();
        let mut outer = serde_json::Map::new();
        outer.insert(e.name.clone(), serde_json::Value::Object(attrs));
        serde_json::Value::Object(outer).to_string()
    };
    Annotation {
        timestamp: e.time.as_micros(),
        value,
    }
}

#[cfg(test)]
mod tests;
