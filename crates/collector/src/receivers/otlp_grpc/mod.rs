//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export` (port 4317).
//!
//! tonic decodes the request (gzip accepted, size bounded by the limits both as received and
//! once decompressed); the shared pipeline step does the rest. Refusals map to the codes OTLP
//! clients act on: `RESOURCE_EXHAUSTED`/`UNAVAILABLE` with `RetryInfo` (retry later),
//! `INVALID_ARGUMENT` and `INTERNAL` (do not retry). Requests tonic refuses before our handler
//! runs (undecodable or oversized messages, unknown methods) are counted by [`super::grpc_count`].

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use clew_model::otlp::proto::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use clew_model::otlp::proto::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::pipeline::{Pipeline, TENANT_HEADER, tenant_from_header};
use crate::receivers::grpc_count::{CountLayer, mark_reached};
use crate::{CollectorMetrics, Limits, Protocol, Receiver, ReceiverError, SpanSink};

const NAME: &str = "otlp-grpc";

/// Serves OTLP/gRPC trace export on a listener the binary bound.
pub struct OtlpGrpcReceiver {
    listener: TcpListener,
    pipeline: Pipeline,
}

impl OtlpGrpcReceiver {
    pub fn new(
        listener: TcpListener,
        sink: Arc<dyn SpanSink>,
        limits: Limits,
        metrics: CollectorMetrics,
    ) -> Self {
        Self {
            listener,
            pipeline: Pipeline::new(sink, limits, metrics),
        }
    }
}

#[async_trait]
impl Receiver for OtlpGrpcReceiver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        let limits = self.pipeline.limits();
        let metrics = self.pipeline.metrics().clone();
        let service = TraceServiceServer::new(ExportService {
            pipeline: self.pipeline,
        })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limits.max_request_bytes);
        // Small unary requests answered one by one: Nagle would only add latency.
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        if let Ok(addr) = incoming.local_addr() {
            tracing::info!(%addr, "OTLP/gRPC receiver listening");
        }
        Server::builder()
            .layer(CountLayer::new(metrics, Protocol::OtlpGrpc))
            .add_service(service)
            // Stops accepting at once, then waits for in-flight exports (and so for the
            // sink's durability) before returning.
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
            .map_err(|e| ReceiverError::Serve {
                receiver: NAME,
                source: Box::new(e),
            })
    }
}

struct ExportService {
    pipeline: Pipeline,
}

#[async_trait]
impl TraceService for ExportService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        mark_reached(request.extensions());
        let header = request
            .metadata()
            .get(TENANT_HEADER)
            .map(|value| value.as_encoded_bytes());
        let tenant = match tenant_from_header(header) {
            Ok(tenant) => tenant,
            Err(refusal) => {
                let refusal = self.pipeline.refuse(Protocol::OtlpGrpc, None, refusal);
                return Err(refusal.to_grpc_status());
            }
        };
        self.pipeline
            .export(Protocol::OtlpGrpc, tenant, request.into_inner())
            .await
            .map(tonic::Response::new)
            .map_err(|refusal| refusal.to_grpc_status())
    }
}
