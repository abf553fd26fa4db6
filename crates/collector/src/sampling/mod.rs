//! Jaeger remote sampling: the strategies SDKs fetch to decide which new traces to sample.
//!
//! Served over HTTP ([`sampling_router`]: `/sampling` on 5778, `/api/sampling` on 14268, and
//! Jaeger's legacy `/`) and gRPC ([`SamplingGrpcServer`]: `jaeger.api_v2.SamplingManager` on
//! 5779), from a [`StrategyProvider`]. Today that is the [`StrategyStore`]: strategies from a
//! file in Jaeger's format, else probabilistic at 1.0 for every service (Clew samples
//! everything unless told otherwise). Adaptive sampling plugs in as another provider.
//!
//! Not a receiver: nothing here sees spans. The module owns the strategy model
//! ([`SamplingStrategy`]), its wire shapes (two JSON encodings, one protobuf) and the request
//! metrics ([`SamplingMetrics`]).

mod file;
mod grpc;
mod http;
mod json;
mod metrics;
mod strategy;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;

pub use file::{
    DEFAULT_SAMPLING_PROBABILITY, MAX_TRACES_PER_SECOND, StrategiesError, StrategiesFileError,
    StrategyStore, StrategyStoreOptions,
};
pub use grpc::SamplingGrpcServer;
pub use http::{
    API_SAMPLING_PATH, LEGACY_PATH, SAMPLING_PATH, SamplingHttpServer, sampling_router,
};
pub use metrics::{SamplingEndpoint, SamplingMetrics, SamplingOutcome};
pub use strategy::{BaseStrategy, OperationStrategy, PerOperationStrategies, SamplingStrategy};

/// Where the served strategies come from: the static [`StrategyStore`] now, an adaptive
/// provider (probabilities recomputed from observed traffic) later.
///
/// Called once per SDK poll (typically every minute per SDK instance), concurrently from the
/// HTTP and gRPC servers: implementations answer from memory and must not block. Every service
/// gets a strategy: one the provider knows nothing about gets its default, never an error.
/// An error means the provider cannot answer at all right now; the SDK keeps its current
/// sampler and asks again at its next poll, so providers do not retry themselves.
#[async_trait]
pub trait StrategyProvider: Send + Sync {
    async fn strategy(&self, service: &str) -> Result<Arc<SamplingStrategy>, ProviderError>;
}

/// Why a provider could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("sampling strategies are unavailable: {source}")]
    Unavailable {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}
