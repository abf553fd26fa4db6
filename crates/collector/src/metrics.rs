//! Receiver metrics: spans received, accepted and refused, and requests by outcome, per
//! protocol. Every request a receiver answers is counted exactly once.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The wire protocol a request arrived on (the `protocol` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `otlp-grpc`
    OtlpGrpc,
    /// `otlp-http-protobuf`
    OtlpHttpProtobuf,
    /// `otlp-http-json`
    OtlpHttpJson,
    /// `otlp-http`: an HTTP request whose encoding could not be told (unsupported
    /// `Content-Type`, unknown path, wrong method), so it is counted rather than lost.
    OtlpHttpUnknown,
    /// `jaeger-grpc`: `jaeger.api_v2.CollectorService/PostSpans`.
    JaegerGrpc,
    /// `jaeger-thrift-http`: `POST /api/traces` with a Thrift binary `Batch`.
    JaegerThriftHttp,
    /// `jaeger-udp-compact`: agent `emitBatch` in compact Thrift (port 6831).
    JaegerUdpCompact,
    /// `jaeger-udp-binary`: agent `emitBatch` in binary Thrift (port 6832).
    JaegerUdpBinary,
    /// `zipkin-json`: `POST /api/v2/spans` with a Zipkin v2 JSON list.
    ZipkinJson,
    /// `zipkin-proto`: `POST /api/v2/spans` with a proto3 `ListOfSpans`.
    ZipkinProto,
    /// `zipkin`: a Zipkin request whose encoding could not be told (unsupported
    /// `Content-Type`, unknown path, wrong method).
    ZipkinUnknown,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp-grpc",
            Protocol::OtlpHttpProtobuf => "otlp-http-protobuf",
            Protocol::OtlpHttpJson => "otlp-http-json",
            Protocol::OtlpHttpUnknown => "otlp-http",
            Protocol::JaegerGrpc => "jaeger-grpc",
            Protocol::JaegerThriftHttp => "jaeger-thrift-http",
            Protocol::JaegerUdpCompact => "jaeger-udp-compact",
            Protocol::JaegerUdpBinary => "jaeger-udp-binary",
            Protocol::ZipkinJson => "zipkin-json",
            Protocol::ZipkinProto => "zipkin-proto",
            Protocol::ZipkinUnknown => "zipkin",
        }
    }
}

/// How a request ended (the `outcome` label of `clew_receiver_requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Every span accepted.
    Ok,
    /// Accepted, but some spans were rejected (OTLP partial success).
    Partial,
    /// The body could not be decoded.
    Malformed,
    /// The `X-Scope-OrgID` tenant is not a valid tenant id.
    InvalidTenant,
    /// The body exceeded `max_request_bytes`, as received or decompressed.
    TooLarge,
    /// More spans than `max_spans_per_request`.
    TooManySpans,
    /// A `Content-Type` or `Content-Encoding` the receiver does not speak.
    UnsupportedMediaType,
    /// No such path or gRPC method.
    NotFound,
    /// A method other than `POST`.
    MethodNotAllowed,
    /// The sink was full; the client was told when to retry.
    Overloaded,
    /// The sink was unavailable; the client was told when to retry.
    Unavailable,
    /// The sink failed permanently for this batch.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Malformed => "malformed",
            Outcome::InvalidTenant => "invalid_tenant",
            Outcome::TooLarge => "too_large",
            Outcome::TooManySpans => "too_many_spans",
            Outcome::UnsupportedMediaType => "unsupported_media_type",
            Outcome::NotFound => "not_found",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::Overloaded => "overloaded",
            Outcome::Unavailable => "unavailable",
            Outcome::Failed => "failed",
        }
    }
}

/// What became of UDP packets and their spans (the `outcome` label of `clew_udp_packets_total`
/// and `clew_udp_spans_total`). UDP cannot push back, so every loss has its own outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdpOutcome {
    /// Read from the socket (packets), or decoded from packets (spans).
    Received,
    /// Packets decoded into a batch.
    Decoded,
    /// Spans made durable by the sink.
    Accepted,
    /// Spans rejected as invalid (such as zero ids).
    Rejected,
    /// Packets dropped because the decode queue was full.
    QueueFull,
    /// Packets that did not decode as an `emitBatch` message.
    Malformed,
    /// Packets (and their spans) dropped because the sink refused them until the retry
    /// time ran out, or the batch broke a limit.
    Dropped,
}

impl UdpOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UdpOutcome::Received => "received",
            UdpOutcome::Decoded => "decoded",
            UdpOutcome::Accepted => "accepted",
            UdpOutcome::Rejected => "rejected",
            UdpOutcome::QueueFull => "queue_full",
            UdpOutcome::Malformed => "malformed",
            UdpOutcome::Dropped => "dropped",
        }
    }
}

impl EncodeLabelValue for UdpOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UdpLabels {
    protocol: Protocol,
    outcome: UdpOutcome,
}

// Hand-written rather than derived: the derive would print the Rust variant names, and the
// label values are part of the metrics' public shape.
impl EncodeLabelValue for Protocol {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimitLabels {
    protocol: Protocol,
    /// What a per-span limit cut: attributes_dropped, values_truncated, events_dropped,
    /// links_dropped, names_truncated.
    limit: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    protocol: Protocol,
    outcome: Outcome,
}

/// The receivers' counters. Cheap to clone: clones share the same counters.
/// `Default` gives counters registered nowhere (for tests and tools that do not export them).
#[derive(Debug, Clone, Default)]
pub struct CollectorMetrics {
    spans_received: Family<ProtocolLabels, Counter>,
    spans_accepted: Family<ProtocolLabels, Counter>,
    spans_refused: Family<ProtocolLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    limits_applied: Family<LimitLabels, Counter>,
    udp_packets: Family<UdpLabels, Counter>,
    udp_spans: Family<UdpLabels, Counter>,
}

impl CollectorMetrics {
    /// Creates the counters and registers them (prometheus-client appends `_total`).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "clew_receiver_spans_received",
            "Spans decoded from export requests",
            metrics.spans_received.clone(),
        );
        registry.register(
            "clew_receiver_spans_accepted",
            "Spans made durable by the sink and acknowledged",
            metrics.spans_accepted.clone(),
        );
        registry.register(
            "clew_receiver_spans_refused",
            "Spans rejected by validation or refused by backpressure or a sink error",
            metrics.spans_refused.clone(),
        );
        registry.register(
            "clew_receiver_requests",
            "Export requests answered, by outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "clew_receiver_span_limits_applied",
            "Attributes, events and links dropped and values and names truncated by per-span limits",
            metrics.limits_applied.clone(),
        );
        registry.register(
            "clew_udp_packets",
            "Jaeger agent UDP packets received, decoded and dropped, by outcome",
            metrics.udp_packets.clone(),
        );
        registry.register(
            "clew_udp_spans",
            "Spans from Jaeger agent UDP packets received, accepted, rejected and dropped",
            metrics.udp_spans.clone(),
        );
        metrics
    }

    pub fn udp_packets(&self, protocol: Protocol, outcome: UdpOutcome) -> u64 {
        self.udp_packets
            .get_or_create(&UdpLabels { protocol, outcome })
            .get()
    }

    pub fn udp_spans(&self, protocol: Protocol, outcome: UdpOutcome) -> u64 {
        self.udp_spans
            .get_or_create(&UdpLabels { protocol, outcome })
            .get()
    }

    pub(crate) fn add_udp_packets(&self, protocol: Protocol, outcome: UdpOutcome, n: u64) {
        self.udp_packets
            .get_or_create(&UdpLabels { protocol, outcome })
            .inc_by(n);
    }

    pub(crate) fn add_udp_spans(&self, protocol: Protocol, outcome: UdpOutcome, n: u64) {
        if n > 0 {
            self.udp_spans
                .get_or_create(&UdpLabels { protocol, outcome })
                .inc_by(n);
        }
    }

    /// How often a per-span limit cut something (see [`crate::SpanLimits`]).
    pub fn limits_applied(&self, protocol: Protocol, limit: &'static str) -> u64 {
        self.limits_applied
            .get_or_create(&LimitLabels { protocol, limit })
            .get()
    }

    pub(crate) fn add_limits_applied(
        &self,
        protocol: Protocol,
        applied: &crate::processors::span_limits::Applied,
    ) {
        for (limit, n) in [
            ("attributes_dropped", applied.attributes_dropped),
            ("values_truncated", applied.values_truncated),
            ("events_dropped", applied.events_dropped),
            ("links_dropped", applied.links_dropped),
            ("names_truncated", applied.names_truncated),
        ] {
            if n > 0 {
                self.limits_applied
                    .get_or_create(&LimitLabels { protocol, limit })
                    .inc_by(n);
            }
        }
    }

    pub fn spans_received(&self, protocol: Protocol) -> u64 {
        self.spans_received
            .get_or_create(&ProtocolLabels { protocol })
            .get()
    }

    pub fn spans_accepted(&self, protocol: Protocol) -> u64 {
        self.spans_accepted
            .get_or_create(&ProtocolLabels { protocol })
            .get()
    }

    pub fn spans_refused(&self, protocol: Protocol) -> u64 {
        self.spans_refused
            .get_or_create(&ProtocolLabels { protocol })
            .get()
    }

    pub fn requests(&self, protocol: Protocol, outcome: Outcome) -> u64 {
        self.requests
            .get_or_create(&RequestLabels { protocol, outcome })
            .get()
    }

    pub(crate) fn add_spans(&self, protocol: Protocol, received: u64, accepted: u64, refused: u64) {
        let labels = ProtocolLabels { protocol };
        self.spans_received.get_or_create(&labels).inc_by(received);
        self.spans_accepted.get_or_create(&labels).inc_by(accepted);
        self.spans_refused.get_or_create(&labels).inc_by(refused);
    }

    pub(crate) fn add_request(&self, protocol: Protocol, outcome: Outcome) {
        self.requests
            .get_or_create(&RequestLabels { protocol, outcome })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_documented_names_and_labels() {
        let mut registry = Registry::default();
        let metrics = CollectorMetrics::register(&mut registry);
        metrics.add_spans(Protocol::OtlpHttpJson, 3, 2, 1);
        metrics.add_request(Protocol::OtlpGrpc, Outcome::Overloaded);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            r#"clew_receiver_spans_received_total{protocol="otlp-http-json"} 3"#,
            r#"clew_receiver_spans_accepted_total{protocol="otlp-http-json"} 2"#,
            r#"clew_receiver_spans_refused_total{protocol="otlp-http-json"} 1"#,
            r#"clew_receiver_requests_total{protocol="otlp-grpc",outcome="overloaded"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
