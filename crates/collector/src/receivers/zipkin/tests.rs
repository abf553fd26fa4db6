//! Zipkin receiver tests: the router driven in-process with `oneshot`, one run on a real
//! loopback socket, and the proto3 codec round trip.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use clew_model::zipkin::{ZipkinSpan, batch_from_zipkin, batch_to_zipkin};
use clew_model::{AnyValue, SpanKind, StatusCode as SpanStatus};
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, StatusCode};
use proptest::prelude::*;
use prost::Message as _;
use serde_json::json;
use tower::ServiceExt as _;

use super::proto::{ListOfSpans, from_proto, to_proto};
use super::*;
use crate::test_support::RecordingSink;
use crate::{Outcome, SinkError};

const JSON: &str = "application/json";
const PROTO: &str = "application/x-protobuf";

struct Harness {
    sink: Arc<RecordingSink>,
    metrics: CollectorMetrics,
    limits: Limits,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
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
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn post(&self, content_type: &str, body: impl Into<Body>) -> Answer {
        self.send(post_request(content_type, body)).await
    }

    fn requests(&self, protocol: Protocol, outcome: Outcome) -> u64 {
        self.metrics.requests(protocol, outcome)
    }
}

fn post_request(content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(SPANS_PATH)
        .header(CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("request")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("write");
    enc.finish().expect("finish")
}

/// What py-zipkin sends for a client call: both endpoints, an annotation, tags.
fn client_and_shared_server() -> serde_json::Value {
    json!([
        {
            "traceId": "463ac35c9f6413ad",
            "id": "a2fb4a1d1a96d312",
            "kind": "CLIENT",
            "name": "get /api",
            "timestamp": 1_700_000_000_000_000u64,
            "duration": 5000,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
            "remoteEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000},
            "annotations": [{"timestamp": 1_700_000_000_000_100u64, "value": "ws"}],
            "tags": {"http.method": "GET", "error": "503 from backend"}
        },
        {
            "traceId": "463ac35c9f6413ad",
            "id": "a2fb4a1d1a96d312",
            "kind": "SERVER",
            "name": "get /api",
            "timestamp": 1_700_000_000_000_500u64,
            "duration": 4000,
            "localEndpoint": {"serviceName": "backend"},
            "shared": true
        }
    ])
}

fn spans_json(n: usize) -> String {
    let spans: Vec<_> = (1..=n)
        .map(|i| {
            json!({
                "traceId": "0af7651916cd43dd8448eb211c80319c",
                "id": format!("{i:016x}"),
                "name": format!("op-{i}"),
                "timestamp": 1_700_000_000_000_000u64 + i as u64,
                "duration": 10,
                "localEndpoint": {"serviceName": "checkout"}
            })
        })
        .collect();
    json!(spans).to_string()
}

fn proto_body(json_text: &str) -> Vec<u8> {
    let spans: Vec<ZipkinSpan> = serde_json::from_str(json_text).expect("JSON");
    to_proto(&spans).encode_to_vec()
}

#[tokio::test]
async fn json_is_202_with_an_empty_body_and_mapped() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(JSON, client_and_shared_server().to_string()).await;

    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.body, "");
    let writes = h.sink.writes();
    let batch = &writes[0].1;
    assert_eq!(batch.span_count(), 2);
    let client = &batch.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(batch.resource_spans[0].resource.service_name(), "frontend");
    assert_eq!(client.trace_id.to_hex(), "0000000000000000463ac35c9f6413ad");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.status.code, SpanStatus::Error);
    assert_eq!(client.status.message, "503 from backend");
    assert_eq!(
        client.attribute("peer.service"),
        Some(&AnyValue::String("backend".into()))
    );
    let server = &batch.resource_spans[1].scope_spans[0].spans[0];
    assert_eq!(server.parent_span_id, Some(client.span_id));
    assert_ne!(server.span_id, client.span_id);
    assert_eq!(h.metrics.spans_accepted(Protocol::ZipkinJson), 2);
    assert_eq!(h.requests(Protocol::ZipkinJson, Outcome::Ok), 1);
}

#[tokio::test]
async fn proto_is_202_and_decodes_like_json() {
    let h = Harness::new(RecordingSink::ok());
    let text = client_and_shared_server().to_string();
    let answer = h.post(PROTO, proto_body(&text)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.body, "");
    assert_eq!(h.requests(Protocol::ZipkinProto, Outcome::Ok), 1);

    let json_h = Harness::new(RecordingSink::ok());
    assert_eq!(json_h.post(JSON, text).await.status, StatusCode::ACCEPTED);
    assert_eq!(h.sink.writes()[0].1, json_h.sink.writes()[0].1);
}

#[tokio::test]
async fn gzip_bodies_are_inflated_for_both_encodings() {
    let h = Harness::new(RecordingSink::ok());
    for (content_type, body) in [
        (JSON, spans_json(2).into_bytes()),
        (PROTO, proto_body(&spans_json(3))),
    ] {
        let mut req = post_request(content_type, gzip(&body));
        req.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let answer = h.send(req).await;
        assert_eq!(
            answer.status,
            StatusCode::ACCEPTED,
            "{content_type}: {}",
            answer.body
        );
    }
    assert_eq!(h.sink.span_count(), 5);
}

#[tokio::test]
async fn missing_content_type_reads_as_json() {
    let h = Harness::new(RecordingSink::ok());
    let req = Request::post(SPANS_PATH)
        .body(Body::from(spans_json(1)))
        .expect("request");
    assert_eq!(h.send(req).await.status, StatusCode::ACCEPTED);
    assert_eq!(h.sink.span_count(), 1);
}

#[tokio::test]
async fn empty_list_is_202_without_a_write() {
    let h = Harness::new(RecordingSink::ok());
    assert_eq!(h.post(JSON, "[]").await.status, StatusCode::ACCEPTED);
    assert_eq!(h.post(PROTO, Vec::new()).await.status, StatusCode::ACCEPTED);
    assert!(h.sink.writes().is_empty());
}

#[tokio::test]
async fn invalid_ids_are_dropped_and_counted() {
    let h = Harness::new(RecordingSink::ok());
    let body = json!([
        {"traceId": "1", "id": "2"},
        {"traceId": "0000000000000000", "id": "3"},
        {"id": "4"},
        {"traceId": "1", "id": "not hex"}
    ]);
    let answer = h.post(JSON, body.to_string()).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(h.sink.span_count(), 1);
    assert_eq!(h.metrics.spans_received(Protocol::ZipkinJson), 4);
    assert_eq!(h.metrics.spans_accepted(Protocol::ZipkinJson), 1);
    assert_eq!(h.metrics.spans_refused(Protocol::ZipkinJson), 3);
    assert_eq!(h.requests(Protocol::ZipkinJson, Outcome::Partial), 1);
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(JSON, "[\n  {\"traceId\": oops}\n]").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("line 2, column"), "{}", answer.body);
    assert!(
        answer.headers[CONTENT_TYPE]
            .to_str()
            .is_ok_and(|v| v.starts_with("text/plain"))
    );
    // A single object instead of a list.
    let answer = h
        .post(
            JSON,
            spans_json(1)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(h.sink.writes().is_empty());
    assert_eq!(h.requests(Protocol::ZipkinJson, Outcome::Malformed), 2);
}

#[tokio::test]
async fn malformed_proto_and_gzip_are_400() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post(PROTO, vec![0x0a, 0xff, 0xff, 0xff]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("proto3 ListOfSpans"),
        "{}",
        answer.body
    );

    let mut req = post_request(JSON, b"not gzip".to_vec());
    req.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("gzip"), "{}", answer.body);
    assert_eq!(h.requests(Protocol::ZipkinProto, Outcome::Malformed), 1);
}

#[tokio::test]
async fn oversize_body_is_413_declared_streamed_or_inflated() {
    let limits = Limits {
        max_request_bytes: 1024,
        ..Limits::default()
    };
    let h = Harness::new(RecordingSink::ok()).with_limits(limits);
    let body = spans_json(20);
    assert!(body.len() > 1024);

    let answer = h.post(JSON, body.clone()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.body.contains("1024 bytes"), "{}", answer.body);

    let mut req = post_request(JSON, body.clone());
    req.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    assert_eq!(h.send(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);

    let bomb = gzip(&vec![b' '; 1 << 19]);
    assert!(bomb.len() < 1024);
    let mut req = post_request(JSON, bomb);
    req.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.body.contains("once decompressed"), "{}", answer.body);

    assert!(h.sink.writes().is_empty());
    assert_eq!(h.requests(Protocol::ZipkinJson, Outcome::TooLarge), 3);
}

#[tokio::test]
async fn too_many_spans_is_400() {
    let limits = Limits {
        max_spans_per_request: 2,
        ..Limits::default()
    };
    let h = Harness::new(RecordingSink::ok()).with_limits(limits);
    let answer = h.post(PROTO, proto_body(&spans_json(3))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("3 spans"), "{}", answer.body);
    assert_eq!(h.metrics.spans_refused(Protocol::ZipkinProto), 3);
    assert_eq!(h.requests(Protocol::ZipkinProto, Outcome::TooManySpans), 1);
}

#[tokio::test]
async fn other_media_types_and_encodings_are_415() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h.post("application/x-thrift", vec![1, 2, 3]).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.body.contains("application/x-thrift") && answer.body.contains("application/json"),
        "{}",
        answer.body
    );
    assert_eq!(
        h.requests(Protocol::ZipkinUnknown, Outcome::UnsupportedMediaType),
        1
    );

    let mut req = post_request(JSON, spans_json(1));
    req.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer.body.contains("Content-Encoding"), "{}", answer.body);
    assert!(h.sink.writes().is_empty());
}

#[tokio::test]
async fn overloaded_sink_is_429_with_retry_after() {
    let h = Harness::new(RecordingSink::failing(SinkError::Overloaded {
        retry_after: Duration::from_millis(1500),
    }));
    let answer = h.post(JSON, spans_json(2)).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers[RETRY_AFTER], "2");
    assert_eq!(h.metrics.spans_refused(Protocol::ZipkinJson), 2);
    assert_eq!(h.requests(Protocol::ZipkinJson, Outcome::Overloaded), 1);
}

#[tokio::test]
async fn unavailable_sink_is_503_with_retry_after() {
    let h = Harness::new(RecordingSink::failing(SinkError::Unavailable {
        reason: "wal disk full".into(),
        retry_after: Duration::from_secs(10),
    }));
    let answer = h.post(PROTO, proto_body(&spans_json(1))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[RETRY_AFTER], "10");
    assert!(answer.body.contains("wal disk full"), "{}", answer.body);
    assert_eq!(h.requests(Protocol::ZipkinProto, Outcome::Unavailable), 1);
}

#[tokio::test]
async fn tenant_header_reaches_the_sink_and_a_bad_one_is_400() {
    let h = Harness::new(RecordingSink::ok());
    let mut req = post_request(JSON, spans_json(1));
    req.headers_mut()
        .insert("X-Scope-OrgID", HeaderValue::from_static("team-a"));
    assert_eq!(h.send(req).await.status, StatusCode::ACCEPTED);
    assert_eq!(h.sink.writes()[0].0.as_str(), "team-a");

    let mut req = post_request(JSON, spans_json(1));
    req.headers_mut()
        .insert("X-Scope-OrgID", HeaderValue::from_static("../etc"));
    let answer = h.send(req).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("X-Scope-OrgID"), "{}", answer.body);
    assert_eq!(h.sink.writes().len(), 1);
}

#[tokio::test]
async fn v1_path_is_404_and_get_is_405() {
    let h = Harness::new(RecordingSink::ok());
    let answer = h
        .send(
            Request::post("/api/v1/spans")
                .header(CONTENT_TYPE, JSON)
                .body(Body::from("[]"))
                .expect("request"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.body.contains("/api/v2/spans"), "{}", answer.body);

    let answer = h
        .send(
            Request::get(SPANS_PATH)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers[ALLOW], "POST");
    assert_eq!(h.requests(Protocol::ZipkinUnknown, Outcome::NotFound), 1);
    assert_eq!(
        h.requests(Protocol::ZipkinUnknown, Outcome::MethodNotAllowed),
        1
    );
}

/// On a real socket: served as a `Receiver` trait object, answers 202, stops on cancel.
#[tokio::test]
async fn runs_on_a_socket_and_stops_on_cancel() {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let sink = RecordingSink::ok();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let receiver: Box<dyn Receiver> = Box::new(ZipkinReceiver::new(
        listener,
        sink.clone(),
        Limits::default(),
        CollectorMetrics::default(),
    ));
    assert_eq!(receiver.name(), "zipkin");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(receiver.run(shutdown.clone()));

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(format!("http://{addr}{SPANS_PATH}"))
        .header(CONTENT_TYPE, JSON)
        .body(Full::new(Bytes::from(spans_json(2))))
        .expect("request");
    let response = client.request(req).await.expect("response");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(sink.span_count(), 2);

    shutdown.cancel();
    server.await.expect("join").expect("served until shutdown");
}

fn arb_ids() -> impl Strategy<Value = ZipkinSpan> {
    (
        "[0-9a-f]{16}|[0-9a-f]{32}",
        "[0-9a-f]{15}[1-9a-f]",
        proptest::option::of("[0-9a-f]{15}[1-9a-f]"),
        proptest::option::of(prop_oneof![
            Just("CLIENT"),
            Just("SERVER"),
            Just("CONSUMER")
        ]),
        any::<bool>(),
        proptest::option::of((
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of(any::<[u8; 4]>()),
            proptest::option::of(any::<[u8; 16]>()),
            proptest::option::of(1i64..=65_535),
        )),
        proptest::collection::btree_map("[a-z]{1,6}", ".{0,6}", 0..3),
        proptest::collection::vec((1u64..u64::MAX / 1_000, "[a-z]{1,6}"), 0..3),
        (
            proptest::option::of(1u64..u64::MAX / 2_000),
            proptest::option::of(1u64..1_000_000),
        ),
    )
        .prop_filter("non-zero trace id", |(t, ..)| t.chars().any(|c| c != '0'))
        .prop_map(
            |(
                trace_id,
                id,
                parent_id,
                kind,
                shared,
                remote,
                tags,
                annotations,
                (timestamp, duration),
            )| {
                ZipkinSpan {
                    trace_id: Some(trace_id),
                    id: Some(id),
                    parent_id,
                    kind: kind.map(str::to_owned),
                    shared: shared.then_some(true),
                    local_endpoint: Some(clew_model::zipkin::Endpoint {
                        service_name: Some("svc".into()),
                        ..Default::default()
                    }),
                    remote_endpoint: remote.map(|(service_name, v4, v6, port)| {
                        clew_model::zipkin::Endpoint {
                            service_name,
                            ipv4: v4.map(|b| std::net::Ipv4Addr::from(b).to_string()),
                            ipv6: v6.map(|b| std::net::Ipv6Addr::from(b).to_string()),
                            port,
                        }
                    }),
                    tags,
                    annotations: annotations
                        .into_iter()
                        .map(|(timestamp, value)| clew_model::zipkin::Annotation {
                            timestamp,
                            value,
                        })
                        .collect(),
                    timestamp,
                    duration,
                    ..ZipkinSpan::default()
                }
            },
        )
}

proptest! {
    /// model → Zipkin proto3 bytes → model is the identity on what Zipkin can carry.
    #[test]
    fn proto_round_trip(spans in proptest::collection::vec(arb_ids(), 0..5)) {
        let first = batch_from_zipkin(spans);
        prop_assert_eq!(first.rejected_spans, 0);
        let bytes = to_proto(&batch_to_zipkin(&first.batch)).encode_to_vec();
        let list = ListOfSpans::decode(bytes.as_slice()).expect("decode our own proto");
        let again = batch_from_zipkin(from_proto(list));
        prop_assert_eq!(again.rejected_spans, 0);
        prop_assert_eq!(&again.batch, &first.batch);
    }

    /// Whatever the bytes, the proto decoder and mapping never panic.
    #[test]
    fn arbitrary_proto_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(list) = ListOfSpans::decode(bytes.as_slice()) {
            let _ = batch_from_zipkin(from_proto(list));
        }
    }
}

#[test]
fn spans_without_timestamp_take_their_first_annotation_or_the_receive_time() {
    let spans: Vec<ZipkinSpan> = serde_json::from_str(
        r#"[{"traceId":"0af7651916cd43dd8448eb211c80319c","id":"b7ad6b7169203331","name":"a",
             "annotations":[{"timestamp":20,"value":"late"},{"timestamp":10,"value":"early"}]},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","id":"b7ad6b7169203332","name":"b"},
            {"traceId":"0af7651916cd43dd8448eb211c80319c","id":"b7ad6b7169203333","name":"c","timestamp":5}]"#,
    )
    .unwrap();
    let fixed = super::with_timestamps(spans, clew_model::UnixNanos(7_000));
    let ts: Vec<_> = fixed.iter().map(|z| z.timestamp).collect();
    assert_eq!(ts, vec![Some(10), Some(7), Some(5)]);
}
