//! Clew's collector: the OTLP receivers and the pipeline up to the [`SpanSink`] boundary.
//!
//! Owns: the receivers, one folder each under `receivers/` (OTLP/gRPC on 4317, OTLP/HTTP on
//! 4318), request decoding (protobuf, OTLP/JSON, gzip), the size and span-count [`Limits`],
//! tenant resolution (`X-Scope-OrgID`), the mapping of sink outcomes to OTLP answers (partial
//! success, `RESOURCE_EXHAUSTED`/`UNAVAILABLE` with `RetryInfo`, HTTP 429/503 with
//! `Retry-After`) and the receiver metrics ([`CollectorMetrics`]).
//!
//! Must not touch: storage. This crate never depends on `clew-store`; the binary plugs the
//! store in as the [`SpanSink`], whose `write` resolves only once the spans are durable, so a
//! receiver acknowledges a request only after that. Receivers never bind sockets themselves:
//! the binary binds the listeners (so port 0 works in tests) and passes them in.

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
