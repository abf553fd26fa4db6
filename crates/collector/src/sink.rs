//! The pipeline boundary: where received spans leave the collector.

use std::time::Duration;

use async_trait::async_trait;
use clew_model::{TenantId, TraceBatch};

/// Where receivers hand validated spans. The binary plugs in the store (or, in distributed
/// mode, the durable log); the collector never knows which.
///
/// Contract:
/// - `write` resolves `Ok` only once the spans are durable: the receiver acknowledges the
///   client right after, so an `Ok` that is not durable loses acknowledged data.
/// - It is called concurrently, once per request, with batches of at most
///   [`Limits::max_spans_per_request`](crate::Limits) spans; it is never called with an
///   empty batch.
/// - It must not queue without bound: when full it answers [`SinkError::Overloaded`] and the
///   receiver turns that into a retry hint for the client. Retrying belongs to the client.
#[async_trait]
pub trait SpanSink: Send + Sync + 'static {
    /// Resolves Ok only once the spans are durable. Retryable errors make receivers answer
    /// with retry hints.
    async fn write(&self, tenant: TenantId, batch: TraceBatch) -> Result<(), SinkError>;
}

/// Why a sink did not take a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// Full for now (queue, group commit backlog, memory): the client should retry after
    /// `retry_after` (gRPC `RESOURCE_EXHAUSTED` with `RetryInfo`, HTTP 429 with `Retry-After`).
    #[error("overloaded, retry after {retry_after:?}")]
    Overloaded { retry_after: Duration },
    /// Temporarily unable to write (disk, log or store restarting): the client should retry
    /// after `retry_after` (gRPC `UNAVAILABLE` with `RetryInfo`, HTTP 503 with `Retry-After`).
    #[error("unavailable: {reason}, retry after {retry_after:?}")]
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
    /// A permanent failure for this batch: the client must not retry it (gRPC `INTERNAL`,
    /// HTTP 500).
    #[error("failed: {reason}")]
    Failed { reason: String },
}
