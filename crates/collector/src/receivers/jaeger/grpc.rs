//! Jaeger gRPC receiver: `jaeger.api_v2.CollectorService/PostSpans` (port 14250), as Jaeger
//! clients' and OpenTelemetry's Jaeger gRPC exporters call it.
//!
//! tonic decodes the request (gzip accepted, size bounded by the limits both as received and
//! once decompressed). Refusals use the same codes as OTLP/gRPC: `INVALID_ARGUMENT` for bad
//! input and too many spans, `RESOURCE_EXHAUSTED`/`UNAVAILABLE` with `RetryInfo` from the
//! sink. Jaeger's answer has no partial success: rejected spans are counted and logged.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::proto::batch_from_proto;
use crate::pipeline::{Pipeline, TENANT_HEADER, tenant_from_header};
use crate::proto::jaeger::api_v2::collector_service_server::{
    CollectorService, CollectorServiceServer,
};
use crate::proto::jaeger::api_v2::{PostSpansRequest, PostSpansResponse};
use crate::receivers::grpc_count::{CountLayer, mark_reached};
use crate::{CollectorMetrics, Limits, Protocol, Receiver, ReceiverError, SpanSink};

const NAME: &str = "jaeger-grpc";
const PROTOCOL: Protocol = Protocol::JaegerGrpc;

/// Serves Jaeger's gRPC collector service on a listener the binary bound.
pub struct JaegerGrpcReceiver {
    listener: TcpListener,
    pipeline: Pipeline,
}

impl JaegerGrpcReceiver {
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
impl Receiver for JaegerGrpcReceiver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        let limits = self.pipeline.limits();
        let count = CountLayer::new(self.pipeline.metrics().clone(), PROTOCOL);
        let service = CollectorServiceServer::new(PostSpansService {
            pipeline: self.pipeline,
        })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limits.max_request_bytes);
        // Small unary requests answered one by one: Nagle would only add latency.
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        if let Ok(addr) = incoming.local_addr() {
            tracing::info!(%addr, "Jaeger gRPC receiver listening");
        }
        Server::builder()
            // Counts the requests tonic refuses before `post_spans` runs.
            .layer(count)
            .add_service(service)
            // Stops accepting at once, then waits for in-flight requests (and so for the
            // sink's durability) before returning.
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
            .map_err(|e| ReceiverError::Serve {
                receiver: NAME,
                source: Box::new(e),
            })
    }
}

struct PostSpansService {
    pipeline: Pipeline,
}

#[async_trait]
impl CollectorService for PostSpansService {
    async fn post_spans(
        &self,
        request: tonic::Request<PostSpansRequest>,
    ) -> Result<tonic::Response<PostSpansResponse>, tonic::Status> {
        mark_reached(request.extensions());
        let header = request
            .metadata()
            .get(TENANT_HEADER)
            .map(|value| value.as_encoded_bytes());
        let tenant = tenant_from_header(header).map_err(|refusal| {
            self.pipeline
                .refuse(PROTOCOL, None, refusal)
                .to_grpc_status()
        })?;
        // Jaeger declares the batch non-nullable: an absent one is an empty batch.
        let batch = request.into_inner().batch.unwrap_or_default();
        let (batch, unreadable) = batch_from_proto(batch);
        super::ingest(&self.pipeline, PROTOCOL, tenant, batch, unreadable)
            .await
            .map(|_| tonic::Response::new(PostSpansResponse {}))
            .map_err(|refusal| refusal.to_grpc_status())
    }
}
