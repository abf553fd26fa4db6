//! The receiver trait: a long-running server the binary starts and stops.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// A component that listens for spans on its own protocol and hands them to the pipeline.
///
/// Ownership: the binary binds the listener and builds the receiver; `run` serves until
/// `shutdown` is cancelled, then stops accepting connections, lets in-flight requests
/// finish (each of which may still be waiting for the sink's durability) and returns.
/// `run` returns early only on an error that stops the server altogether.
#[async_trait]
pub trait Receiver: Send {
    /// A stable name for logs and errors, such as `otlp-grpc`.
    fn name(&self) -> &'static str;

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError>;
}

/// Why a receiver stopped serving before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("{receiver} receiver stopped serving: {source}")]
    Serve {
        receiver: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// Serves an HTTP receiver's router until `shutdown`: stops accepting at once, closes idle
/// connections and waits for in-flight requests (and so for the sink's durability) before
/// returning. Shared by every HTTP receiver so that they all stop the same way.
pub(crate) async fn serve_http(
    receiver: &'static str,
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> Result<(), ReceiverError> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|e| ReceiverError::Serve {
            receiver,
            source: Box::new(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::RecordingSink;
    use crate::{CollectorMetrics, Limits, OtlpGrpcReceiver, OtlpHttpReceiver};
    use tokio::net::TcpListener;

    /// The binary holds receivers as trait objects and spawns them; a cancelled token makes
    /// each return cleanly.
    #[tokio::test]
    async fn receivers_run_as_trait_objects_and_stop_on_cancel() {
        let listener = || async { TcpListener::bind("127.0.0.1:0").await.expect("bind") };
        let (sink, limits, metrics) = (
            RecordingSink::ok(),
            Limits::default(),
            CollectorMetrics::default(),
        );
        let receivers: Vec<Box<dyn Receiver>> = vec![
            Box::new(OtlpGrpcReceiver::new(
                listener().await,
                sink.clone(),
                limits,
                metrics.clone(),
            )),
            Box::new(OtlpHttpReceiver::new(
                listener().await,
                sink,
                limits,
                metrics,
            )),
        ];
        let shutdown = CancellationToken::new();
        let tasks: Vec<_> = receivers
            .into_iter()
            .map(|r| (r.name(), tokio::spawn(r.run(shutdown.clone()))))
            .collect();
        shutdown.cancel();
        for (name, task) in tasks {
            task.await
                .expect("join")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
