//! Jaeger ingest, so services instrumented with Jaeger clients send to Clew unchanged:
//! - [`JaegerGrpcReceiver`]: `jaeger.api_v2.CollectorService/PostSpans` (port 14250);
//! - [`JaegerThriftHttpReceiver`] / [`router`]: `POST /api/traces` with a Thrift binary
//!   `Batch` (port 14268), answered 202 as Jaeger's collector does;
//! - [`JaegerUdpReceiver`]: the agent's `emitBatch` over UDP, compact (6831) or binary (6832)
//!   Thrift, with a bounded queue and every loss counted (UDP cannot push back).
//!
//! All three decode into the neutral [`mapping::Batch`]; [`mapping`] turns it into the model
//! once for all, and the shared pipeline step does the rest.

mod grpc;
mod http;
pub mod mapping;
pub mod proto;
pub mod thrift;
mod udp;

#[cfg(test)]
mod test_strategies;
#[cfg(test)]
mod tests;

pub use grpc::JaegerGrpcReceiver;
pub use http::{JaegerThriftHttpReceiver, TRACES_PATH, router};
pub use udp::{JaegerUdpReceiver, UdpConfig, UdpFormat};

use clew_model::TenantId;

use crate::Protocol;
use crate::pipeline::{Accepted, Pipeline, Refusal};
use mapping::Batch;

/// The step every Jaeger receiver ends in: span limit, mapping, then the pipeline's write.
/// `unreadable` spans (malformed ids in protobuf) count as received and rejected.
async fn ingest(
    pipeline: &Pipeline,
    protocol: Protocol,
    tenant: TenantId,
    batch: Batch,
    unreadable: proto::Unreadable,
) -> Result<Accepted, Refusal> {
    let received = batch.spans.len() as u64 + unreadable.count;
    pipeline.check_span_count(protocol, &tenant, received)?;
    let mut decoded = mapping::to_model(batch);
    if unreadable.count > 0 {
        decoded.rejected_spans += unreadable.count;
        // The conversion's reason comes first: those spans were read first.
        decoded.first_rejection = unreadable.first.or(decoded.first_rejection);
    }
    if decoded.rejected_spans > 0 {
        tracing::debug!(
            protocol = protocol.as_str(),
            rejected = decoded.rejected_spans,
            reason = decoded.first_rejection.as_deref().unwrap_or(""),
            "Jaeger spans rejected"
        );
    }
    pipeline.write(protocol, tenant, received, decoded).await
}
