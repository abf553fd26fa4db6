//! Jaeger Thrift over HTTP: `POST /api/traces` (port 14268) with a `jaeger.thrift` `Batch` in
//! the Thrift binary protocol, as Jaeger clients and OpenTelemetry's Jaeger Thrift exporter
//! (collector mode) send it.
//!
//! Answers as Jaeger's collector does: 202 Accepted with an empty body. Errors are plain text
//! for the developer reading the client's log: 400 malformed, 413 too large, 415 another
//! `Content-Type` or a `Content-Encoding`, 429/503 with `Retry-After` when the sink is full or
//! unavailable. [`router`] has no fallback, so the binary can merge it with the sampling
//! endpoint's router on the same port.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::proto::Unreadable;
use super::thrift::{ThriftProtocol, decode_batch};
use crate::pipeline::{Pipeline, Refusal, TENANT_HEADER, retry_seconds, tenant_from_header};
use crate::receivers::http_body::read_body;
use crate::{CollectorMetrics, Limits, Protocol, Receiver, ReceiverError, SpanSink};

const NAME: &str = "jaeger-thrift-http";
const PROTOCOL: Protocol = Protocol::JaegerThriftHttp;
/// Jaeger's collector path for Thrift batches.
pub const TRACES_PATH: &str = "/api/traces";
/// The media types Jaeger's collector accepts for a Thrift binary body.
const CONTENT_TYPES: [&str; 2] = [
    "application/x-thrift",
    "application/vnd.apache.thrift.binary",
];

/// Serves Jaeger Thrift over HTTP on a listener the binary bound (to share the port with
/// other routes, build it [`with_router`](Self::with_router)).
pub struct JaegerThriftHttpReceiver {
    listener: TcpListener,
    router: Router,
}

impl JaegerThriftHttpReceiver {
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

    /// Serves `router`: this module's [`router`] merged with the other routes of the same
    /// port, such as `GET /api/sampling` on 14268.
    pub fn with_router(listener: TcpListener, router: Router) -> Self {
        Self { listener, router }
    }
}

#[async_trait]
impl Receiver for JaegerThriftHttpReceiver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "Jaeger Thrift HTTP receiver listening");
        }
        crate::receiver::serve_http(NAME, self.listener, self.router, shutdown).await
    }
}

/// `POST /api/traces`, without a fallback (so it merges with other routers).
pub fn router(sink: Arc<dyn SpanSink>, limits: Limits, metrics: CollectorMetrics) -> Router {
    Router::new()
        .route(TRACES_PATH, post(post_traces))
        .with_state(Pipeline::new(sink, limits, metrics))
}

async fn post_traces(State(pipeline): State<Pipeline>, headers: HeaderMap, body: Body) -> Response {
    match post_inner(&pipeline, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(refusal) => refusal_response(&refusal),
    }
}

/// Every `Err` has already been counted and logged.
async fn post_inner(pipeline: &Pipeline, headers: &HeaderMap, body: Body) -> Result<(), Refusal> {
    check_media_type(headers).map_err(|r| pipeline.refuse(PROTOCOL, None, r))?;
    let tenant = tenant_from_header(headers.get(TENANT_HEADER).map(HeaderValue::as_bytes))
        .map_err(|r| pipeline.refuse(PROTOCOL, None, r))?;
    let refuse = |r| pipeline.refuse(PROTOCOL, Some(&tenant), r);
    let raw = read_body(body, headers, pipeline.limits().max_request_bytes)
        .await
        .map_err(refuse)?;
    // Decoding up to the size limit is CPU work: keep it off the async workers.
    let batch = tokio::task::spawn_blocking(move || decode_batch(ThriftProtocol::Binary, &raw))
        .await
        .map_err(|e| Refusal::Failed {
            reason: format!("decoding task failed: {e}"),
        })
        .and_then(|decoded| {
            decoded.map_err(|e| Refusal::Malformed(format!("unable to process request body: {e}")))
        })
        .map_err(refuse)?;
    super::ingest(pipeline, PROTOCOL, tenant, batch, Unreadable::default()).await?;
    Ok(())
}

fn check_media_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let found = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    // Parameters such as `; charset=…` do not change the encoding.
    let essence = found
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .unwrap_or_default();
    if !CONTENT_TYPES
        .iter()
        .any(|ct| essence.eq_ignore_ascii_case(ct))
    {
        let what = match found {
            Some(ct) => format!("unsupported Content-Type {ct:?}"),
            None => "missing Content-Type".to_owned(),
        };
        return Err(Refusal::UnsupportedMediaType(format!(
            "{what}: send a Thrift binary Batch as {} or {}",
            CONTENT_TYPES[0], CONTENT_TYPES[1]
        )));
    }
    // Jaeger's collector reads the body as is; a compressed one would only fail to decode.
    if let Some(coding) = headers.get(CONTENT_ENCODING) {
        let coding = coding.to_str().unwrap_or("?").trim();
        if !coding.is_empty() && !coding.eq_ignore_ascii_case("identity") {
            return Err(Refusal::UnsupportedMediaType(format!(
                "unsupported Content-Encoding {coding:?}: send the body uncompressed"
            )));
        }
    }
    Ok(())
}

fn refusal_response(refusal: &Refusal) -> Response {
    let mut response = (
        http_status(refusal),
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{refusal}\n"),
    )
        .into_response();
    if let Some(delay) = refusal.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(retry_seconds(delay)));
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
