//! OTLP/HTTP receiver: `POST /v1/traces` (port 4318), binary protobuf or OTLP/JSON by
//! `Content-Type`, optionally gzip-compressed.
//!
//! Every answer is in the request's encoding (JSON when the encoding is unknown): an
//! `ExportTraceServiceResponse` on 200, a `google.rpc.Status` otherwise. Backpressure is
//! 429/503 with `Retry-After`; bad data is 400, oversize 413, other media types 415.
//! [`router`] builds the whole service so tests can drive it without a socket.

mod decode;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clew_model::otlp::proto::collector::trace::v1::ExportTraceServiceResponse;
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use prost::Message as _;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{Pipeline, Refusal, TENANT_HEADER, retry_seconds, tenant_from_header};
use crate::{CollectorMetrics, Limits, Protocol, Receiver, ReceiverError, SpanSink};

use decode::Format;

const NAME: &str = "otlp-http";
/// The OTLP default path for traces.
pub const TRACES_PATH: &str = "/v1/traces";

/// Serves OTLP/HTTP trace export on a listener the binary bound.
pub struct OtlpHttpReceiver {
    listener: TcpListener,
    router: Router,
}

impl OtlpHttpReceiver {
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
impl Receiver for OtlpHttpReceiver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "OTLP/HTTP receiver listening");
        }
        crate::receiver::serve_http(NAME, self.listener, self.router, shutdown).await
    }
}

/// The OTLP/HTTP service: `POST /v1/traces`, with OTLP-shaped 404 and 405 answers.
pub fn router(sink: Arc<dyn SpanSink>, limits: Limits, metrics: CollectorMetrics) -> Router {
    Router::new()
        .route(TRACES_PATH, post(export))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(Pipeline::new(sink, limits, metrics))
}

async fn export(State(pipeline): State<Pipeline>, headers: HeaderMap, body: Body) -> Response {
    let format = Format::from_headers(&headers);
    match export_inner(&pipeline, format, &headers, body).await {
        Ok(response) => response,
        Err(refusal) => refusal_response(format, &refusal),
    }
}

/// Every `Err` has already been counted and logged.
async fn export_inner(
    pipeline: &Pipeline,
    format: Option<Format>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let protocol = Format::protocol_of(format);
    let Some(format) = format else {
        let found = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let message = match found {
            Some(ct) => format!("unsupported Content-Type {ct:?}"),
            None => "missing Content-Type".to_owned(),
        };
        let refusal = Refusal::UnsupportedMediaType(format!(
            "{message}: send application/x-protobuf or application/json"
        ));
        return Err(pipeline.refuse(protocol, None, refusal));
    };
    let tenant = tenant_from_header(headers.get(TENANT_HEADER).map(HeaderValue::as_bytes))
        .map_err(|r| pipeline.refuse(protocol, None, r))?;
    let refuse = |r| pipeline.refuse(protocol, Some(&tenant), r);

    let gzip = decode::is_gzip(headers).map_err(refuse)?;
    let limit = pipeline.limits().max_request_bytes;
    let raw = decode::read_body(body, headers, limit)
        .await
        .map_err(refuse)?;
    // Inflating and parsing up to the size limit is CPU work: keep it off the async workers.
    let request = tokio::task::spawn_blocking(move || decode::decode(format, gzip, &raw, limit))
        .await
        .unwrap_or_else(|e| {
            Err(Refusal::Failed {
                reason: format!("decoding task failed: {e}"),
            })
        })
        .map_err(refuse)?;

    let response = pipeline.export(protocol, tenant, request).await?;
    Ok(success_response(format, &response))
}

async fn not_found(State(pipeline): State<Pipeline>, headers: HeaderMap, uri: Uri) -> Response {
    let format = Format::from_headers(&headers);
    let refusal = Refusal::NotFound(format!(
        "no such path {}: OTLP/HTTP traces go to POST {TRACES_PATH}",
        uri.path()
    ));
    let refusal = pipeline.refuse(Format::protocol_of(format), None, refusal);
    refusal_response(format, &refusal)
}

async fn method_not_allowed(
    State(pipeline): State<Pipeline>,
    headers: HeaderMap,
    method: Method,
) -> Response {
    let format = Format::from_headers(&headers);
    let refusal = Refusal::MethodNotAllowed(format!(
        "method {method} is not allowed: send POST {TRACES_PATH}"
    ));
    let refusal = pipeline.refuse(Format::protocol_of(format), None, refusal);
    refusal_response(format, &refusal)
}

fn success_response(format: Format, response: &ExportTraceServiceResponse) -> Response {
    let body = match format {
        Format::Json => json_response(response).into_bytes(),
        Format::Protobuf | Format::XProtobuf => response.encode_to_vec(),
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}

/// `ExportTraceServiceResponse` in the proto3 JSON mapping: `{}` on full success (OTLP wants
/// `partial_success` unset then), int64 `rejectedSpans` as a string.
fn json_response(response: &ExportTraceServiceResponse) -> String {
    let value = match &response.partial_success {
        None => json!({}),
        Some(p) => json!({
            "partialSuccess": {
                "rejectedSpans": p.rejected_spans.to_string(),
                "errorMessage": p.error_message,
            }
        }),
    };
    value.to_string()
}

fn refusal_response(format: Option<Format>, refusal: &Refusal) -> Response {
    // A request whose encoding is unknown gets JSON: readable by people and JSON clients.
    let format = format.unwrap_or(Format::Json);
    let body = match format {
        Format::Json => refusal.to_status_json().to_string().into_bytes(),
        Format::Protobuf | Format::XProtobuf => refusal.to_status_protobuf(),
    };
    let mut response = (
        http_status(refusal),
        [(CONTENT_TYPE, format.content_type())],
        body,
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

/// OTLP/HTTP clients retry exactly 429, 502, 503 and 504; everything else is final.
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

impl Format {
    fn protocol_of(format: Option<Format>) -> Protocol {
        match format {
            Some(Format::Json) => Protocol::OtlpHttpJson,
            Some(Format::Protobuf | Format::XProtobuf) => Protocol::OtlpHttpProtobuf,
            None => Protocol::OtlpHttpUnknown,
        }
    }
}
