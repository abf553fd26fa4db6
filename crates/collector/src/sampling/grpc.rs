//! Sampling strategies over gRPC: `jaeger.api_v2.SamplingManager/GetSamplingStrategy` (port
//! 5779), which OpenTelemetry's Java Jaeger remote sampler and Jaeger's own components call.
//! The response is the same strategy the HTTP paths serve, as the protobuf message.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::strategy::{BaseStrategy, SamplingStrategy};
use super::{SamplingEndpoint, SamplingMetrics, SamplingOutcome, StrategyProvider};
use crate::proto::jaeger::api_v2 as pb;
use crate::proto::jaeger::api_v2::sampling_manager_server::{
    SamplingManager, SamplingManagerServer,
};
use crate::{Receiver, ReceiverError};

const NAME: &str = "sampling-grpc";

/// Serves `SamplingManager` on a listener the binary bound. Implements [`Receiver`] so the
/// binary starts and stops it with the receivers.
pub struct SamplingGrpcServer {
    listener: TcpListener,
    service: SamplingService,
}

impl SamplingGrpcServer {
    pub fn new(
        listener: TcpListener,
        provider: Arc<dyn StrategyProvider>,
        metrics: SamplingMetrics,
    ) -> Self {
        Self {
            listener,
            service: SamplingService { provider, metrics },
        }
    }
}

#[async_trait]
impl Receiver for SamplingGrpcServer {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        if let Ok(addr) = incoming.local_addr() {
            tracing::info!(%addr, "sampling strategies (gRPC) listening");
        }
        Server::builder()
            .add_service(SamplingManagerServer::new(self.service))
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
            .map_err(|e| ReceiverError::Serve {
                receiver: NAME,
                source: Box::new(e),
            })
    }
}

struct SamplingService {
    provider: Arc<dyn StrategyProvider>,
    metrics: SamplingMetrics,
}

#[async_trait]
impl SamplingManager for SamplingService {
    async fn get_sampling_strategy(
        &self,
        request: tonic::Request<pb::SamplingStrategyParameters>,
    ) -> Result<tonic::Response<pb::SamplingStrategyResponse>, tonic::Status> {
        // An empty service name gets the default strategy, as over HTTP and in Jaeger.
        let service = request.into_inner().service_name;
        match self.provider.strategy(&service).await {
            Ok(strategy) => {
                self.metrics
                    .add_request(SamplingEndpoint::Grpc, SamplingOutcome::Ok);
                Ok(tonic::Response::new(to_proto(&strategy)))
            }
            Err(e) => {
                self.metrics
                    .add_request(SamplingEndpoint::Grpc, SamplingOutcome::Failed);
                tracing::warn!(service, error = %e, "sampling strategy request failed");
                Err(tonic::Status::unavailable(e.to_string()))
            }
        }
    }
}

/// The strategy as the protobuf message: `strategyType` and its field from the service-wide
/// strategy, plus the per-operation part when there is one (as Jaeger's strategy store fills it).
pub(crate) fn to_proto(strategy: &SamplingStrategy) -> pb::SamplingStrategyResponse {
    let (strategy_type, probabilistic_sampling, rate_limiting_sampling) = match strategy.base {
        BaseStrategy::Probabilistic { sampling_rate } => (
            pb::SamplingStrategyType::Probabilistic,
            Some(pb::ProbabilisticSamplingStrategy { sampling_rate }),
            None,
        ),
        BaseStrategy::RateLimiting {
            max_traces_per_second,
        } => (
            pb::SamplingStrategyType::RateLimiting,
            None,
            Some(pb::RateLimitingSamplingStrategy {
                max_traces_per_second,
            }),
        ),
    };
    let operation_sampling =
        strategy
            .per_operation
            .as_ref()
            .map(|p| pb::PerOperationSamplingStrategies {
                default_sampling_probability: p.default_sampling_probability,
                default_lower_bound_traces_per_second: p.default_lower_bound_traces_per_second,
                per_operation_strategies: p
                    .operations
                    .iter()
                    .map(|o| pb::OperationSamplingStrategy {
                        operation: o.operation.clone(),
                        probabilistic_sampling: Some(pb::ProbabilisticSamplingStrategy {
                            sampling_rate: o.sampling_rate,
                        }),
                    })
                    .collect(),
                default_upper_bound_traces_per_second: p.default_upper_bound_traces_per_second,
            });
    pb::SamplingStrategyResponse {
        strategy_type: strategy_type.into(),
        probabilistic_sampling,
        rate_limiting_sampling,
        operation_sampling,
    }
}
