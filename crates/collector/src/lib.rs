//! Clew's collector: the receivers, the pipeline up to the [`SpanSink`] boundary, and the
//! sampling strategies served to SDKs.
//!
//! Owns: the receivers, one folder each under `receivers/` (OTLP gRPC 4317 and HTTP 4318;
//! Jaeger gRPC 14250, Thrift over HTTP 14268 and agent UDP 6831/6832; Zipkin v2 9411), their
//! wire decoding (protobuf, OTLP/JSON, Thrift compact and binary, Zipkin JSON, gzip) and
//! mappings into the model, the request [`Limits`] and per-span [`SpanLimits`]
//! (`processors/`), tenant resolution (`X-Scope-OrgID`), the mapping of sink outcomes to each
//! protocol's answers (OTLP partial success, `RESOURCE_EXHAUSTED`/`UNAVAILABLE` with
//! `RetryInfo`, HTTP 429/503 with `Retry-After`), the receiver metrics ([`CollectorMetrics`]),
//! and Jaeger remote sampling (`sampling/`: HTTP 5778 and 14268, gRPC 5779).
//!
//! Must not touch: storage. This crate never depends on `clew-store`; the binary plugs the
//! store in as the [`SpanSink`], whose `write` resolves only once the spans are durable, so a
//! receiver acknowledges a request only after that. Receivers never bind sockets themselves:
//! the binary binds the listeners (so port 0 works in tests) and passes them in. Every
//! receiver ends in the same pipeline step (`pipeline.rs`), so limits and counting are
//! written once.

// Fuzz targets' and regression tests' way in (see `fuzzing.rs`); not a stable API.
#[doc(hidden)]
pub mod fuzzing;
mod limits;
mod metrics;
mod pipeline;
pub mod processors;
pub mod proto;
mod receiver;
pub mod receivers;
mod rpc_status;
pub mod sampling;
mod sink;

#[cfg(test)]
mod test_support;

pub use limits::{Limits, SpanLimits};
pub use metrics::{CollectorMetrics, Outcome, Protocol, UdpOutcome};
pub use receiver::{Receiver, ReceiverError};
pub use receivers::jaeger::{
    JaegerGrpcReceiver, JaegerThriftHttpReceiver, JaegerUdpReceiver, UdpConfig, UdpFormat,
    router as jaeger_thrift_http_router,
};
pub use receivers::otlp_grpc::OtlpGrpcReceiver;
pub use receivers::otlp_http::{OtlpHttpReceiver, router as otlp_http_router};
pub use receivers::zipkin::{ZipkinReceiver, router as zipkin_router};
pub use sink::{SinkError, SpanSink};
/// The shutdown signal every [`Receiver::run`] takes.
pub use tokio_util::sync::CancellationToken;
