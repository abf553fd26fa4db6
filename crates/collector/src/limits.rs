//! Per-request limits every receiver enforces before a batch reaches the sink.

pub use crate::processors::span_limits::SpanLimits;

/// Bounds on one export request, so a misconfigured or malicious client cannot exhaust
/// memory or hand the sink an unbounded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, both as received and after gzip decompression (so a gzip bomb
    /// is refused, not inflated). OTLP/HTTP answers 413; OTLP/gRPC answers the codes tonic
    /// uses for oversized messages (`OUT_OF_RANGE`, `RESOURCE_EXHAUSTED` without retry info).
    /// Default 16 MiB.
    pub max_request_bytes: usize,
    /// Most spans in one request; more is refused as invalid (HTTP 400, gRPC
    /// `INVALID_ARGUMENT`) so the client does not retry it unchanged. Default 100 000.
    pub max_spans_per_request: usize,
    /// Per-span limits (attributes, value length, events, links, names), applied to every
    /// accepted span: past them data is dropped or truncated and counted, not refused.
    pub span: SpanLimits,
}

impl Limits {
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
    pub const DEFAULT_MAX_SPANS_PER_REQUEST: usize = 100_000;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
            max_spans_per_request: Self::DEFAULT_MAX_SPANS_PER_REQUEST,
            span: SpanLimits::default(),
        }
    }
}
