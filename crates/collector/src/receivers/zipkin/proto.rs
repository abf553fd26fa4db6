//! Zipkin's proto3 `ListOfSpans` (our `proto/zipkin/zipkin.proto`, compiled by `build.rs`
//! into [`crate::proto::zipkin::proto3`])
//! and its conversion to and from the JSON-shaped [`ZipkinSpan`], so that both encodings
//! share one mapping to the model.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use clew_model::zipkin::{Annotation, Endpoint, ZipkinSpan};

use crate::proto::zipkin::proto3 as generated;

pub use generated::ListOfSpans;
use generated::span::Kind;

/// Proto spans as JSON-shaped spans. Proto3 has no absence: empty bytes and strings and
/// zero numbers mean absent, as zipkin.proto documents. Ids are hex-encoded whatever their
/// length; the mapping then rejects any that are not at most 16 (trace) or 8 (span) bytes.
/// Addresses of the wrong length are dropped.
pub fn from_proto(list: ListOfSpans) -> Vec<ZipkinSpan> {
    list.spans.into_iter().map(span_from_proto).collect()
}

fn span_from_proto(s: generated::Span) -> ZipkinSpan {
    let kind = match Kind::try_from(s.kind) {
        Ok(Kind::Client) => Some("CLIENT"),
        Ok(Kind::Server) => Some("SERVER"),
        Ok(Kind::Producer) => Some("PRODUCER"),
        Ok(Kind::Consumer) => Some("CONSUMER"),
        Ok(Kind::SpanKindUnspecified) | Err(_) => None,
    };
    ZipkinSpan {
        trace_id: hex_or_none(&s.trace_id),
        parent_id: hex_or_none(&s.parent_id),
        id: hex_or_none(&s.id),
        kind: kind.map(str::to_owned),
        name: non_empty(s.name),
        timestamp: (s.timestamp != 0).then_some(s.timestamp),
        duration: (s.duration != 0).then_some(s.duration),
        local_endpoint: s.local_endpoint.map(endpoint_from_proto),
        remote_endpoint: s.remote_endpoint.map(endpoint_from_proto),
        annotations: s
            .annotations
            .into_iter()
            .map(|a| Annotation {
                timestamp: a.timestamp,
                value: a.value,
            })
            .collect(),
        tags: s.tags.into_iter().collect::<BTreeMap<_, _>>(),
        debug: s.debug.then_some(true),
        shared: s.shared.then_some(true),
    }
}

fn hex_or_none(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty()).then(|| hex::encode(bytes))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn endpoint_from_proto(e: generated::Endpoint) -> Endpoint {
    let ipv4 = <[u8; 4]>::try_from(e.ipv4.as_slice())
        .ok()
        .map(|b| Ipv4Addr::from(b).to_string());
    let ipv6 = <[u8; 16]>::try_from(e.ipv6.as_slice())
        .ok()
        .map(|b| Ipv6Addr::from(b).to_string());
    Endpoint {
        service_name: non_empty(e.service_name),
        ipv4,
        ipv6,
        port: (e.port != 0).then_some(i64::from(e.port)),
    }
}

/// JSON-shaped spans as proto (what a proto3 client sends; used by tests and load
/// generators). Ids that are not hex are written empty; unparseable addresses are left out.
pub fn to_proto(spans: &[ZipkinSpan]) -> ListOfSpans {
    ListOfSpans {
        spans: spans.iter().map(span_to_proto).collect(),
    }
}

fn span_to_proto(z: &ZipkinSpan) -> generated::Span {
    let kind = match z.kind.as_deref() {
        Some("CLIENT") => Kind::Client,
        Some("SERVER") => Kind::Server,
        Some("PRODUCER") => Kind::Producer,
        Some("CONSUMER") => Kind::Consumer,
        _ => Kind::SpanKindUnspecified,
    };
    generated::Span {
        trace_id: id_bytes(z.trace_id.as_deref()),
        parent_id: id_bytes(z.parent_id.as_deref()),
        id: id_bytes(z.id.as_deref()),
        kind: kind as i32,
        name: z.name.clone().unwrap_or_default(),
        timestamp: z.timestamp.unwrap_or(0),
        duration: z.duration.unwrap_or(0),
        local_endpoint: z.local_endpoint.as_ref().map(endpoint_to_proto),
        remote_endpoint: z.remote_endpoint.as_ref().map(endpoint_to_proto),
        annotations: z
            .annotations
            .iter()
            .map(|a| generated::Annotation {
                timestamp: a.timestamp,
                value: a.value.clone(),
            })
            .collect(),
        tags: z.tags.clone().into_iter().collect(),
        debug: z.debug == Some(true),
        shared: z.shared == Some(true),
    }
}

fn id_bytes(hex_id: Option<&str>) -> Vec<u8> {
    hex_id.and_then(|s| hex::decode(s).ok()).unwrap_or_default()
}

fn endpoint_to_proto(e: &Endpoint) -> generated::Endpoint {
    generated::Endpoint {
        service_name: e.service_name.clone().unwrap_or_default(),
        ipv4: e
            .ipv4
            .as_deref()
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
            .map(|ip| ip.octets().to_vec())
            .unwrap_or_default(),
        ipv6: e
            .ipv6
            .as_deref()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .map(|ip| ip.octets().to_vec())
            .unwrap_or_default(),
        port: e
            .port
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or_default(),
    }
}
