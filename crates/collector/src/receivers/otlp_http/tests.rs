//! OTLP/HTTP receiver tests: the router driven in-process with `oneshot`, plus one run on a
//! real loopback socket for graceful shutdown.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use clew_model::otlp::proto::collector::trace::v1::ExportTraceServiceResponse;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, StatusCode};
use prost::Message as _;
use tonic_types::RpcStatusExt as _;
use tower::ServiceExt as _;

use super::*;
use crate::test_support::{
    JSON_WITH_ONE_BAD_SPAN, RecordingSink, json_one_good_span, request, request_with,
};
use crate::{Outcome, SinkError};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

struct Harness {
    sink: Arc<RecordingSink>,
    metrics: CollectorMetrics,
    limits: Limits,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `google.rpc.Status` of an error answered in protobuf.
    fn rpc_status(&self) -> tonic_types::Status {
        assert_eq!(self.content_type(), PROTOBUF);
        tonic_types::Status::decode(self.body.as_slice()).expect("google.rpc.Status body")
    }

    fn json(&self) -> serde_json::Value {
        assert_eq!(self.content_type(), JSON);
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn export_response(&self) -> ExportTraceServiceResponse {
        assert_eq!(self.content_type(), PROTOBUF);
        ExportTraceServiceResponse::decode(self.body.as_slice()).expect("response body")
    }
}

impl Harness {
    fn new(sink: Arc<RecordingSink>) -> Self {
        Self {
            sink,
            metrics: CollectorMetrics::default(),
            limits: Limits::default(),
        }
    }

    fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let app = router(self.sink.clone(), self.limits, self.metrics.clone());
        let response = app.oneshot(request).await.expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        self.send(post_request(content_type, body.into())).await
    }

    fn requests(&self, protocol: Protocol, outcome: Outcome) -> u64 {
        self.metrics.requests(protocol, outcome)
    }
}

fn post_request(content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(TRACES_PATH)
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("write");
    enc.finish().expect("finish")
}

#[tokio::test]
async fn protobuf_export_is_acknowledged_after_the_sink_wrote_it() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(PROTOBUF, request(3).encode_to_vec()).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.export_response().partial_success, None);
    let writes = h.sink.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].0.as_str(), "single-tenant");
    assert_eq!(writes[0].1.span_count(), 3);
    assert_eq!(
        writes[0].1.resource_spans[0].resource.service_name(),
        "checkout"
    );
    assert_eq!(h.requests(Protocol::OtlpHttpProtobuf, Outcome::Ok), 1);
    assert_eq!(h.metrics.spans_received(Protocol::OtlpHttpProtobuf), 3);
    assert_eq!(h.metrics.spans_accepted(Protocol::OtlpHttpProtobuf), 3);
    assert_eq!(h.metrics.spans_refused(Protocol::OtlpHttpProtobuf), 0);
}

#[tokio::test]
async fn application_protobuf_is_accepted_and_echoed() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h
        .post("application/protobuf", request(1).encode_to_vec())
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/protobuf");
    assert_eq!(h.sink.span_count(), 1);
}

#[tokio::test]
async fn json_export_reads_hex_ids_and_string_int64() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(JSON, json_one_good_span()).await;

    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
    assert_eq!(answer.json(), serde_json::json!({}));
    let writes = h.sink.writes();
    let span = &writes[0].1.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.span_id.to_hex(), "eee19b7ec3c1b174");
    assert_eq!(span.start.0, 1_544_712_660_000_000_000);
    assert_eq!(
        span.attributes[0].value,
        clew_model::AnyValue::Int(200),
        "intValue given as a string"
    );
    assert_eq!(h.requests(Protocol::OtlpHttpJson, Outcome::Ok), 1);
}

#[tokio::test]
async fn gzip_bodies_are_inflated_for_both_encodings() {
    let h = Harness::new(RecordingSink::ok());
    for (content_type, body) in [
        (PROTOBUF, request(2).encode_to_vec()),
        (JSON, json_one_good_span().into_bytes()),
    ] {
        let mut req = post_request(content_type, gzip(&body));
        req.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let answer = h.send(req).await;
        assert_eq!(answer.status, StatusCode::OK, "{content_type}");
    }
    assert_eq!(h.sink.span_count(), 3);
}

#[tokio::test]
async fn rejected_spans_are_reported_as_partial_success_and_counted() {
    let h = Harness::new(RecordingSink::ok());

    let answer = h.post(PROTOBUF, request_with(2, 1).encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let partial = answer
        .export_response()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("span id must be 8 bytes"),
        "{}",
        partial.error_message
    );
    assert_eq!(h.sink.span_count(), 2);
    assert_eq!(h.metrics.spans_received(Protocol::OtlpHttpProtobuf), 3);
    assert_eq!(h.metrics.spans_accepted(Protocol::OtlpHttpProtobuf), 2);
    assert_eq!(h.metrics.spans_refused(Protocol::OtlpHttpProtobuf), 1);
    assert_eq!(h.requests(Protocol::OtlpHttpProtobuf, Outcome::Partial), 1);

    let answer = h.post(JSON, JSON_WITH_ONE_BAD_SPAN).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1");
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("rejected 1 of 2 spans")),
        "{body}"
    );
    assert_eq!(h.metrics.spans_refused(Protocol::OtlpHttpJson), 1);
}

#[tokio::test]
async fn only_invalid_spans_is_a_partial_success_without_a_write() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(PROTOBUF, request_with(0, 2).encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer
            .export_response()
            .partial_success
            .map(|p| p.rejected_spans),
        Some(2)
    );
    assert!(h.sink.writes().is_empty());
}

#[tokio::test]
async fn empty_request_succeeds_without_a_write() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(PROTOBUF, Vec::new()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.export_response().partial_success, None);
    let answer = h.post(JSON, "{}").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(h.sink.writes().is_empty());
    assert_eq!(h.requests(Protocol::OtlpHttpProtobuf, Outcome::Ok), 1);
}

#[tokio::test]
async fn malformed_protobuf_is_400_with_a_protobuf_status() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(PROTOBUF, vec![0x0a, 0xff, 0xff, 0xff]).await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let status = answer.rpc_status();
    assert!(
        status.message.contains("invalid OTLP protobuf"),
        "{}",
        status.message
    );
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(status.get_details_bad_request().is_some());
    assert!(h.sink.writes().is_empty());
    assert_eq!(
        h.requests(Protocol::OtlpHttpProtobuf, Outcome::Malformed),
        1
    );
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(JSON, "{\n  \"resourceSpans\": [ oops ]\n}").await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = answer.json();
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("line 2, column"), "{message}");
    assert_eq!(body["code"], 3);
    assert_eq!(
        body["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(h.requests(Protocol::OtlpHttpJson, Outcome::Malformed), 1);
}

#[tokio::test]
async fn broken_gzip_is_400() {
    let h = Harness::new(RecordingSink::ok());
    let mut req = post_request(PROTOBUF, b"not gzip at all".to_vec());
    req.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.rpc_status().message.contains("gzip"));
}

#[tokio::test]
async fn oversize_body_is_413_whether_declared_or_streamed() {
    let limits = Limits {
        max_request_bytes: 1024,
        ..Limits::default()
    };
    let h = Harness::new(RecordingSink::ok()).with_limits(limits);
    let body = request(40).encode_to_vec();
    assert!(body.len() > 1024);

    // Without Content-Length the limit trips while reading.
    let answer = h.post(PROTOBUF, body.clone()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.rpc_status().message.contains("1024 bytes"));

    // With it, before reading.
    let mut req = post_request(PROTOBUF, body.clone());
    req.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);

    assert!(h.sink.writes().is_empty());
    assert_eq!(h.requests(Protocol::OtlpHttpProtobuf, Outcome::TooLarge), 2);
}

#[tokio::test]
async fn gzip_bomb_is_413_not_inflated() {
    let limits = Limits {
        max_request_bytes: 4096,
        ..Limits::default()
    };
    let h = Harness::new(RecordingSink::ok()).with_limits(limits);
    let bomb = gzip(&vec![0u8; 1 << 20]);
    assert!(bomb.len() < 4096, "the compressed body itself is in bounds");

    let mut req = post_request(JSON, bomb);
    req.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let answer = h.send(req).await;

    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let message = answer.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(message.contains("once decompressed"), "{message}");
    assert_eq!(h.requests(Protocol::OtlpHttpJson, Outcome::TooLarge), 1);
}

#[tokio::test]
async fn too_many_spans_is_400() {
    let limits = Limits {
        max_spans_per_request: 2,
        ..Limits::default()
    };
    let h = Harness::new(RecordingSink::ok()).with_limits(limits);
    let answer = h.post(PROTOBUF, request(3).encode_to_vec()).await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let message = answer.rpc_status().message;
    assert!(
        message.contains("3 spans") && message.contains("limit of 2"),
        "{message}"
    );
    assert!(h.sink.writes().is_empty());
    assert_eq!(h.metrics.spans_refused(Protocol::OtlpHttpProtobuf), 3);
    assert_eq!(
        h.requests(Protocol::OtlpHttpProtobuf, Outcome::TooManySpans),
        1
    );
}

#[tokio::test]
async fn unsupported_content_type_or_encoding_is_415() {
    let h = Harness::new(RecordingSink::ok());

    let answer = h.post("text/plain", "hello").await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let message = answer.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(
        message.contains("\"text/plain\"") && message.contains("application/x-protobuf"),
        "{message}"
    );

    let no_type = Request::post(TRACES_PATH)
        .body(Body::from("x"))
        .expect("request");
    assert_eq!(
        h.send(no_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        h.requests(Protocol::OtlpHttpUnknown, Outcome::UnsupportedMediaType),
        2
    );

    let mut br = post_request(PROTOBUF, request(1).encode_to_vec());
    br.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
    let answer = h.send(br).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer.rpc_status().message.contains("Content-Encoding"));
    assert!(h.sink.writes().is_empty());
}

#[tokio::test]
async fn overloaded_sink_is_429_with_retry_after() {
    let sink = RecordingSink::failing(SinkError::Overloaded {
        retry_after: Duration::from_millis(2500),
    });
    let h = Harness::new(sink);
    let answer = h.post(PROTOBUF, request(4).encode_to_vec()).await;

    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers[RETRY_AFTER], "3");
    let retry = answer
        .rpc_status()
        .get_details_retry_info()
        .expect("retry info");
    assert_eq!(retry.retry_delay, Some(Duration::from_millis(2500)));
    assert_eq!(h.metrics.spans_received(Protocol::OtlpHttpProtobuf), 4);
    assert_eq!(h.metrics.spans_accepted(Protocol::OtlpHttpProtobuf), 0);
    assert_eq!(h.metrics.spans_refused(Protocol::OtlpHttpProtobuf), 4);
    assert_eq!(
        h.requests(Protocol::OtlpHttpProtobuf, Outcome::Overloaded),
        1
    );
}

#[tokio::test]
async fn unavailable_sink_is_503_with_retry_after() {
    let sink = RecordingSink::failing(SinkError::Unavailable {
        reason: "wal disk full".into(),
        retry_after: Duration::from_secs(10),
    });
    let h = Harness::new(sink);
    let answer = h.post(JSON, json_one_good_span()).await;

    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[RETRY_AFTER], "10");
    let body = answer.json();
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("wal disk full")),
        "{body}"
    );
    assert_eq!(body["details"][0]["retryDelay"], "10s");
    assert_eq!(h.requests(Protocol::OtlpHttpJson, Outcome::Unavailable), 1);
}

#[tokio::test]
async fn failed_sink_is_500_without_retry_after() {
    let sink = RecordingSink::failing(SinkError::Failed {
        reason: "corrupt batch".into(),
    });
    let h = Harness::new(sink);
    let answer = h.post(PROTOBUF, request(1).encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.headers.get(RETRY_AFTER).is_none());
    assert_eq!(h.requests(Protocol::OtlpHttpProtobuf, Outcome::Failed), 1);
}

#[tokio::test]
async fn tenant_header_reaches_the_sink() {
    let h = Harness::new(RecordingSink::ok());
    let mut req = post_request(PROTOBUF, request(1).encode_to_vec());
    req.headers_mut()
        .insert("X-Scope-OrgID", HeaderValue::from_static("team-a"));
    assert_eq!(h.send(req).await.status, StatusCode::OK);
    assert_eq!(h.sink.writes()[0].0.as_str(), "team-a");
}

#[tokio::test]
async fn invalid_tenant_is_400_and_never_written() {
    let h = Harness::new(RecordingSink::ok());
    let mut req = post_request(JSON, json_one_good_span().into_bytes());
    req.headers_mut()
        .insert("X-Scope-OrgID", HeaderValue::from_static("../../etc"));
    let answer = h.send(req).await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let message = answer.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(message.contains("X-Scope-OrgID"), "{message}");
    assert!(h.sink.writes().is_empty());
    assert_eq!(
        h.requests(Protocol::OtlpHttpJson, Outcome::InvalidTenant),
        1
    );
}

#[tokio::test]
async fn wrong_method_is_405_and_unknown_path_is_404() {
    let h = Harness::new(RecordingSink::ok());

    let get = Request::get(TRACES_PATH)
        .body(Body::empty())
        .expect("request");
    let answer = h.send(get).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers[ALLOW], "POST");
    assert!(
        answer.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("GET"))
    );

    let logs = Request::post("/v1/logs")
        .header(CONTENT_TYPE, PROTOBUF)
        .body(Body::from(Vec::new()))
        .expect("request");
    let answer = h.send(logs).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.rpc_status().message.contains("/v1/logs"));

    assert_eq!(
        h.requests(Protocol::OtlpHttpUnknown, Outcome::MethodNotAllowed),
        1
    );
    assert_eq!(h.requests(Protocol::OtlpHttpProtobuf, Outcome::NotFound), 1);
}

/// On a real socket: an export in flight when shutdown fires still completes (after the sink
/// wrote it), `run` then returns, and the port no longer accepts connections.
#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_exports() {
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let sink = RecordingSink::held();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let receiver = Box::new(OtlpHttpReceiver::new(
        listener,
        sink.clone(),
        Limits::default(),
        CollectorMetrics::default(),
    ));
    assert_eq!(receiver.name(), "otlp-http");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(receiver.run(shutdown.clone()));

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(format!("http://{addr}{TRACES_PATH}"))
        .header(CONTENT_TYPE, PROTOBUF)
        .body(Full::new(Bytes::from(request(2).encode_to_vec())))
        .expect("request");
    let in_flight = tokio::spawn(async move { client.request(req).await });

    sink.hold().entered.notified().await;
    shutdown.cancel();
    sink.hold().release.notify_one();

    let response = in_flight.await.expect("join").expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(
        ExportTraceServiceResponse::decode(body).expect("decode"),
        ExportTraceServiceResponse::default()
    );
    server.await.expect("join").expect("served until shutdown");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert_eq!(sink.span_count(), 2);
}
