//! Counts the gRPC requests tonic answers before our handler runs (a message that does not
//! decode or exceeds the size limit, an unknown method), so every request lands in
//! `clew_receiver_requests_total`. The handler marks the requests it saw; this layer counts
//! the unmarked ones from the `grpc-status` tonic put in the response headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tonic::Code;

use crate::{CollectorMetrics, Outcome, Protocol};

/// Set by the handler: it has counted the request itself.
#[derive(Clone, Default)]
struct Reached(Arc<AtomicBool>);

/// Called first thing by the handler with the request's extensions.
pub(crate) fn mark_reached(extensions: &http::Extensions) {
    if let Some(reached) = extensions.get::<Reached>() {
        reached.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub(crate) struct CountLayer {
    metrics: CollectorMetrics,
    protocol: Protocol,
}

impl CountLayer {
    pub(crate) fn new(metrics: CollectorMetrics, protocol: Protocol) -> Self {
        Self { metrics, protocol }
    }
}

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountService {
            inner,
            metrics: self.metrics.clone(),
            protocol: self.protocol,
        }
    }
}

#[derive(Clone)]
pub(crate) struct CountService<S> {
    inner: S,
    metrics: CollectorMetrics,
    protocol: Protocol,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for CountService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let reached = Reached::default();
        request.extensions_mut().insert(reached.clone());
        let response = self.inner.call(request);
        let metrics = self.metrics.clone();
        let protocol = self.protocol;
        Box::pin(async move {
            let response = response.await?;
            // For unary calls the response head exists only once the handler has returned,
            // so an unmarked request here never reached it.
            if !reached.0.load(Ordering::Relaxed)
                && let Some((outcome, message)) = refused_by_tonic(&response)
            {
                metrics.add_request(protocol, outcome);
                tracing::debug!(
                    protocol = protocol.as_str(),
                    outcome = outcome.as_str(),
                    error = message,
                    "export refused"
                );
            }
            Ok(response)
        })
    }
}

/// The outcome of a request tonic refused, read from its trailers-only response.
fn refused_by_tonic<B>(response: &http::Response<B>) -> Option<(Outcome, &str)> {
    let headers = response.headers();
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let code = match headers.get("grpc-status") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            .map(Code::from_i32)
            .unwrap_or(Code::Unknown),
        // Not even a gRPC answer (such as a plain HTTP error): the request was not gRPC.
        None if !response.status().is_success() => Code::InvalidArgument,
        None => return None,
    };
    let outcome = match code {
        Code::Ok => return None,
        // tonic's answers to a message over `max_decoding_message_size`, as sent or inflated.
        Code::OutOfRange | Code::ResourceExhausted => Outcome::TooLarge,
        Code::Unimplemented if message.contains("compress") => Outcome::UnsupportedMediaType,
        Code::Unimplemented => Outcome::NotFound,
        _ => Outcome::Malformed,
    };
    Some((outcome, message))
}
