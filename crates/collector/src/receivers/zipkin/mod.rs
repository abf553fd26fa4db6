//! Zipkin receiver: `POST /api/v2/spans` (port 9411), a Zipkin v2 JSON list of spans
//! (`application/json`, also assumed without a `Content-Type`, as Zipkin does) or a proto3
//! `ListOfSpans` (`application/x-protobuf`), optionally gzip-compressed.
//!
//! Answers as Zipkin's collector does, since its clients check the status: 202 Accepted with
//! an empty body once the spans are durable. Spans with invalid ids are dropped and counted
//! (`clew_receiver_spans_refused_total`, outcome `partial`): Zipkin has no partial-success
//! answer. Errors are `text/plain` messages: 400 malformed (JSON errors name line and
//! column) or too many spans, 413 too large (as received or inflated), 415 other media
//! types or encodings, 429/503 with `Retry-After` when the sink pushes back.
//!
//! Zipkin v1 (`POST /api/v1/spans`, Thrift or JSON with `cs`/`sr` annotations) is not
//! accepted (404 naming the v2 path): every maintained Zipkin client speaks v2, and v1's
//! conversion (splitting RPC spans, endpoint inference from annotations) is a mapping of
//! its own. The mapping to the model, shared spans included, is `clew_model::zipkin`.
//! [`router`] builds the whole service so tests can drive it without a socket.

mod decode;
pub mod proto;

/// Gives every span a start time. Zipkin lets the half of a shared span that did not start
/// the RPC leave `timestamp` out (py-zipkin's server halves do) and lets its UI merge it into
/// the other half; kept as a span of its own here, it would sit at the Unix epoch. Its
/// earliest annotation is the best clue, else the time it was received — the query-time
/// clock-skew adjustment then places it inside its parent.
fn with_timestamps(mut spans: Vec<ZipkinSpan>, received: UnixNanos) -> Vec<ZipkinSpan> {
    for z in &mut spans {
        if z.timestamp.is_none() {
            let earliest = z.annotations.iter().map(|a| a.timestamp).min();
            z.timestamp = Some(earliest.unwrap_or_else(|| received.as_micros()));
        }
    }
    spans
}

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clew_model::UnixNanos;
use clew_model::zipkin::{ZipkinSpan, batch_from_zipkin};
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{Pipeline, Refusal, TENANT_HEADER, retry_seconds, tenant_from_header};
use crate::{CollectorMetrics, Limits, Protocol, Receiver, ReceiverError, SpanSink};

use decode::Format;

const NAME: &str = "zipkin";
/// Where Zipkin v2 clients POST spans.
pub const SPANS_PATH: &str = "/api/v2/spans";

/// Serves Zipkin span ingest on a listener the binary bound (conventionally port 9411).
pub struct ZipkinReceiver {
    listener: TcpListener,
    router: Router,
}

impl ZipkinReceiver {
    pub fn new(
        listener: TcpListener,
        sink: Arc<dyn SpanSink>,
        limits: Limits,
        metrics: CollectorMetrics,
    ) -> Self {
        Self {
            listener,
            router: router(sink, limits, metrics),
        }
    }
}

#[async_trait]
impl Receiver for ZipkinReceiver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "Zipkin receiver listening");
        }
        crate::receiver::serve_http(NAME, self.listener, self.router, shutdown).await
    }
}

/// The Zipkin ingest service: `POST /api/v2/spans`, with plain-text 404 and 405 answers.
pub fn router(sink: Arc<dyn SpanSink>, limits: Limits, metrics: CollectorMetrics) -> Router {
    Router::new()
        .route(SPANS_PATH, post(post_spans))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(Pipeline::new(sink, limits, metrics))
}

async fn post_spans(State(pipeline): State<Pipeline>, headers: HeaderMap, body: Body) -> Response {
    match post_spans_inner(&pipeline, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(refusal) => refusal_response(&refusal),
    }
}

/// Every `Err` has already been counted and logged.
async fn post_spans_inner(
    pipeline: &Pipeline,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), Refusal> {
    let format = Format::from_headers(headers).map_err(|message| {
        pipeline.refuse(
            Protocol::ZipkinUnknown,
            None,
            Refusal::UnsupportedMediaType(message),
        )
    })?;
    let protocol = format.protocol();
    let tenant = tenant_from_header(headers.get(TENANT_HEADER).map(HeaderValue::as_bytes))
        .map_err(|r| pipeline.refuse(protocol, None, r))?;
    let refuse = |r| pipeline.refuse(protocol, Some(&tenant), r);

    let gzip = decode::is_gzip(headers).map_err(refuse)?;
    let limit = pipeline.limits().max_request_bytes;
    let raw = decode::read_body(body, headers, limit)
        .await
        .map_err(refuse)?;
    // Inflating and parsing up to the size limit is CPU work: keep it off the async workers.
    let spans = tokio::task::spawn_blocking(move || decode::decode(format, gzip, &raw, limit))
        .await
        .unwrap_or_else(|e| {
            Err(Refusal::Failed {
                reason: format!("decoding task failed: {e}"),
            })
        })
        .map_err(refuse)?;

    let received = spans.len() as u64;
    pipeline.check_span_count(protocol, &tenant, received)?;
    let decoded = batch_from_zipkin(with_timestamps(spans, UnixNanos::now()));
    pipeline
        .write(protocol, tenant, received, decoded)
        .await
        .map(|_| ())
}

async fn not_found(State(pipeline): State<Pipeline>, uri: Uri) -> Response {
    let refusal = Refusal::NotFound(format!(
        "no such path {}: Zipkin v2 spans go to POST {SPANS_PATH} (Zipkin v1 is not accepted)",
        uri.path()
    ));
    refusal_response(&pipeline.refuse(Protocol::ZipkinUnknown, None, refusal))
}

async fn method_not_allowed(State(pipeline): State<Pipeline>, method: Method) -> Response {
    let refusal = Refusal::MethodNotAllowed(format!(
        "method {method} is not allowed: send POST {SPANS_PATH}"
    ));
    refusal_response(&pipeline.refuse(Protocol::ZipkinUnknown, None, refusal))
}

fn refusal_response(refusal: &Refusal) -> Response {
    let mut response = (
        http_status(refusal),
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        refusal.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(delay) = refusal.retry_after() {
        headers.insert(RETRY_AFTER, HeaderValue::from(retry_seconds(delay)));
    }
    if matches!(refusal, Refusal::MethodNotAllowed(_)) {
        headers.insert(ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

fn http_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::Malformed(_) | Refusal::InvalidTenant(_) | Refusal::TooManySpans { .. } => {
            StatusCode::BAD_REQUEST
        }
        Refusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refusal::NotFound(_) => StatusCode::NOT_FOUND,
        Refusal::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        Refusal::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
