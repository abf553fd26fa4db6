//! Jaeger receiver tests: gRPC over loopback with the generated client, Thrift HTTP through
//! the router with `oneshot`, and the UDP agent over loopback sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::http::header::{CONTENT_TYPE, RETRY_AFTER};
use ::http::{Request, StatusCode};
use async_trait::async_trait;
use axum::body::Body;
use clew_model::{AnyValue, SpanKind, StatusCode as SpanStatus, TenantId, TraceBatch};
use tokio::net::{TcpListener, UdpSocket};
use tower::ServiceExt as _;

use super::mapping::{Batch, Log, Process, Span, Tag, TagValue};
use super::proto::batch_to_proto;
use super::thrift::{ThriftProtocol, encode_batch, encode_emit_batch};
use super::{JaegerGrpcReceiver, JaegerUdpReceiver, TRACES_PATH, UdpConfig, UdpFormat, router};
use crate::proto::jaeger::api_v2 as pb;
use crate::proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
use crate::test_support::RecordingSink;
use crate::{
    CancellationToken, CollectorMetrics, Limits, Outcome, Protocol, Receiver, SinkError, SpanSink,
    UdpOutcome,
};

/// A batch as a Jaeger client sends it: one process, `n` spans of trace 0x1_0000_0002.
fn batch(n: u64) -> Batch {
    Batch {
        process: Some(Process {
            service_name: "frontend".into(),
            tags: vec![Tag::new("hostname", TagValue::String("h1".into()))],
        }),
        spans: (1..=n)
            .map(|i| Span {
                trace_id_high: 1,
                trace_id_low: 2,
                span_id: i,
                parent_span_id: if i > 1 { 1 } else { 0 },
                operation_name: format!("op-{i}"),
                flags: 1,
                start_time: 1_700_000_000_000_000_000,
                duration: 3_000_000,
                tags: vec![
                    Tag::new("span.kind", TagValue::String("server".into())),
                    Tag::new("error", TagValue::Bool(i == 2)),
                ],
                logs: vec![Log {
                    timestamp: 1_700_000_000_001_000_000,
                    fields: vec![Tag::new("event", TagValue::String("cache miss".into()))],
                }],
                ..Span::default()
            })
            .collect(),
    }
}

/// Polls `done` until it holds or 10 s pass.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---- gRPC ----

struct GrpcServer {
    addr: SocketAddr,
    metrics: CollectorMetrics,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), crate::ReceiverError>>,
}

impl GrpcServer {
    async fn start(sink: Arc<dyn SpanSink>, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = CollectorMetrics::default();
        let receiver = Box::new(JaegerGrpcReceiver::new(
            listener,
            sink,
            limits,
            metrics.clone(),
        ));
        assert_eq!(receiver.name(), "jaeger-grpc");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(receiver.run(shutdown.clone()));
        Self {
            addr,
            metrics,
            shutdown,
            task,
        }
    }

    async fn client(&self) -> CollectorServiceClient<tonic::transport::Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        CollectorServiceClient::new(channel)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("served");
    }
}

fn post(b: &Batch) -> pb::PostSpansRequest {
    pb::PostSpansRequest {
        batch: Some(batch_to_proto(b)),
    }
}

#[tokio::test]
async fn grpc_post_spans_maps_and_writes_the_batch() {
    let sink = RecordingSink::ok();
    let server = GrpcServer::start(sink.clone(), Limits::default()).await;
    let mut client = server.client().await;
    let mut b = batch(2);
    // protobuf carries the parent as a reference
    b.spans[1].parent_span_id = 0;
    b.spans[1].references = vec![super::mapping::SpanRef {
        ref_type: super::mapping::RefType::ChildOf,
        trace_id_high: 1,
        trace_id_low: 2,
        span_id: 1,
    }];
    client.post_spans(post(&b)).await.expect("accepted");

    let writes = sink.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].0, TenantId::default());
    let rs = &writes[0].1.resource_spans[0];
    assert_eq!(rs.resource.service_name(), "frontend");
    let spans = &rs.scope_spans[0].spans;
    assert_eq!(spans[0].kind, SpanKind::Server);
    assert_eq!(
        spans[1].parent_span_id,
        Some(clew_model::SpanId::from_u64(1))
    );
    assert_eq!(spans[1].status.code, SpanStatus::Error);
    assert_eq!(spans[0].events[0].name, "cache miss");
    assert_eq!(
        server.metrics.requests(Protocol::JaegerGrpc, Outcome::Ok),
        1
    );
    assert_eq!(server.metrics.spans_accepted(Protocol::JaegerGrpc), 2);
    server.stop().await;
}

#[tokio::test]
async fn grpc_accepts_gzip_and_the_tenant_header() {
    let sink = RecordingSink::ok();
    let server = GrpcServer::start(sink.clone(), Limits::default()).await;
    let mut client = server
        .client()
        .await
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut request = tonic::Request::new(post(&batch(3)));
    request
        .metadata_mut()
        .insert("x-scope-orgid", "team-j".parse().expect("ascii"));
    client.post_spans(request).await.expect("accepted");
    assert_eq!(sink.writes()[0].0.as_str(), "team-j");
    assert_eq!(sink.span_count(), 3);
    server.stop().await;
}

#[tokio::test]
async fn grpc_refusals_use_the_otlp_codes() {
    let limits = Limits {
        max_spans_per_request: 2,
        ..Limits::default()
    };
    let sink = RecordingSink::ok();
    let server = GrpcServer::start(sink.clone(), limits).await;
    let mut client = server.client().await;
    let status = client
        .post_spans(post(&batch(3)))
        .await
        .expect_err("too many");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("limit of 2"),
        "{}",
        status.message()
    );

    // Zero ids are rejected span by span, the rest accepted.
    let mut b = batch(2);
    b.spans[0].span_id = 0;
    client.post_spans(post(&b)).await.expect("partly accepted");
    assert_eq!(sink.span_count(), 1);
    assert_eq!(server.metrics.spans_refused(Protocol::JaegerGrpc), 4);
    assert_eq!(
        server
            .metrics
            .requests(Protocol::JaegerGrpc, Outcome::Partial),
        1
    );
    server.stop().await;

    let sink = RecordingSink::failing(SinkError::Overloaded {
        retry_after: Duration::from_secs(3),
    });
    let server = GrpcServer::start(sink, Limits::default()).await;
    let status = server
        .client()
        .await
        .post_spans(post(&batch(1)))
        .await
        .expect_err("overloaded");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    use tonic_types::StatusExt as _;
    assert_eq!(
        status.get_details_retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(3))
    );
    server.stop().await;
}

// ---- Thrift over HTTP ----

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: String,
}

async fn http_send(
    sink: Arc<dyn SpanSink>,
    limits: Limits,
    metrics: &CollectorMetrics,
    request: Request<Body>,
) -> Answer {
    let response = router(sink, limits, metrics.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn thrift_post(content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(TRACES_PATH)
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request")
}

fn thrift_body(b: &Batch) -> Vec<u8> {
    encode_batch(ThriftProtocol::Binary, b).expect("encodes")
}

#[tokio::test]
async fn http_thrift_batch_is_accepted_with_202_and_empty_body() {
    for content_type in [
        "application/x-thrift",
        "application/vnd.apache.thrift.binary",
    ] {
        let sink = RecordingSink::ok();
        let metrics = CollectorMetrics::default();
        let answer = http_send(
            sink.clone(),
            Limits::default(),
            &metrics,
            thrift_post(content_type, thrift_body(&batch(2))),
        )
        .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        assert!(answer.body.is_empty());
        let writes = sink.writes();
        let spans = &writes[0].1.resource_spans[0].scope_spans[0].spans;
        assert_eq!(
            spans[1].parent_span_id,
            Some(clew_model::SpanId::from_u64(1))
        );
        assert_eq!(
            writes[0].1.resource_spans[0]
                .resource
                .attribute("host.name"),
            Some(&AnyValue::String("h1".into()))
        );
        assert_eq!(metrics.requests(Protocol::JaegerThriftHttp, Outcome::Ok), 1);
    }
}

#[tokio::test]
async fn http_malformed_body_is_400_with_a_readable_message() {
    let sink = RecordingSink::ok();
    let metrics = CollectorMetrics::default();
    let answer = http_send(
        sink.clone(),
        Limits::default(),
        &metrics,
        thrift_post("application/x-thrift", b"\x0c\x00\x01garbage".to_vec()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("unable to process request body"),
        "{}",
        answer.body
    );
    assert!(sink.writes().is_empty());
    assert_eq!(
        metrics.requests(Protocol::JaegerThriftHttp, Outcome::Malformed),
        1
    );
}

#[tokio::test]
async fn http_oversize_body_is_413() {
    let limits = Limits {
        max_request_bytes: 64,
        ..Limits::default()
    };
    let metrics = CollectorMetrics::default();
    let answer = http_send(
        RecordingSink::ok(),
        limits,
        &metrics,
        thrift_post("application/x-thrift", thrift_body(&batch(5))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.body.contains("limit of 64 bytes"), "{}", answer.body);
    assert_eq!(
        metrics.requests(Protocol::JaegerThriftHttp, Outcome::TooLarge),
        1
    );
}

#[tokio::test]
async fn http_other_content_types_are_415() {
    let metrics = CollectorMetrics::default();
    let answer = http_send(
        RecordingSink::ok(),
        Limits::default(),
        &metrics,
        thrift_post("application/json", b"{}".to_vec()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.body.contains("application/x-thrift"),
        "{}",
        answer.body
    );
    assert_eq!(
        metrics.requests(Protocol::JaegerThriftHttp, Outcome::UnsupportedMediaType),
        1
    );
}

#[tokio::test]
async fn http_backpressure_is_429_or_503_with_retry_after() {
    for (error, status) in [
        (
            SinkError::Overloaded {
                retry_after: Duration::from_millis(2500),
            },
            StatusCode::TOO_MANY_REQUESTS,
        ),
        (
            SinkError::Unavailable {
                reason: "restarting".into(),
                retry_after: Duration::from_secs(1),
            },
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ] {
        let metrics = CollectorMetrics::default();
        let answer = http_send(
            RecordingSink::failing(error),
            Limits::default(),
            &metrics,
            thrift_post("application/x-thrift", thrift_body(&batch(1))),
        )
        .await;
        assert_eq!(answer.status, status);
        let expected = if status == StatusCode::TOO_MANY_REQUESTS {
            "3"
        } else {
            "1"
        };
        assert_eq!(answer.retry_after.as_deref(), Some(expected));
    }
}

#[tokio::test]
async fn http_router_merges_with_another_router_on_the_same_port() {
    let other = axum::Router::new().route("/api/sampling", axum::routing::get(|| async { "{}" }));
    let app = router(
        RecordingSink::ok(),
        Limits::default(),
        CollectorMetrics::default(),
    )
    .merge(other);
    let response = app
        .clone()
        .oneshot(thrift_post("application/x-thrift", thrift_body(&batch(1))))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = app
        .oneshot(
            Request::get("/api/sampling")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}

// ---- UDP agent ----

struct UdpServer {
    addr: SocketAddr,
    client: UdpSocket,
    metrics: CollectorMetrics,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), crate::ReceiverError>>,
    protocol: Protocol,
}

impl UdpServer {
    async fn start(sink: Arc<dyn SpanSink>, format: UdpFormat, config: UdpConfig) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        let metrics = CollectorMetrics::default();
        let receiver = JaegerUdpReceiver::new(
            socket,
            format,
            sink,
            Limits::default(),
            metrics.clone(),
            config,
        );
        assert!(receiver.receive_buffer_bytes().is_some_and(|n| n > 0));
        let receiver = Box::new(receiver);
        let protocol = match format {
            UdpFormat::Compact => Protocol::JaegerUdpCompact,
            UdpFormat::Binary => Protocol::JaegerUdpBinary,
        };
        assert_eq!(receiver.name(), protocol.as_str());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(receiver.run(shutdown.clone()));
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
        Self {
            addr,
            client,
            metrics,
            shutdown,
            task,
            protocol,
        }
    }

    async fn send(&self, packet: &[u8]) {
        self.client.send_to(packet, self.addr).await.expect("send");
    }

    fn packets(&self, outcome: UdpOutcome) -> u64 {
        self.metrics.udp_packets(self.protocol, outcome)
    }

    fn spans(&self, outcome: UdpOutcome) -> u64 {
        self.metrics.udp_spans(self.protocol, outcome)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("stopped cleanly");
    }
}

fn emit(format: UdpFormat, b: &Batch) -> Vec<u8> {
    let protocol = match format {
        UdpFormat::Compact => ThriftProtocol::Compact,
        UdpFormat::Binary => ThriftProtocol::Binary,
    };
    encode_emit_batch(protocol, b, 1).expect("encodes")
}

#[tokio::test]
async fn udp_packets_reach_the_sink_in_both_formats() {
    for format in [UdpFormat::Compact, UdpFormat::Binary] {
        let sink = RecordingSink::ok();
        let server = UdpServer::start(sink.clone(), format, UdpConfig::default()).await;
        server.send(&emit(format, &batch(3))).await;
        eventually("spans at the sink", || sink.span_count() == 3).await;
        eventually("accepted counted", || {
            server.spans(UdpOutcome::Accepted) == 3
        })
        .await;
        assert_eq!(server.packets(UdpOutcome::Received), 1);
        assert_eq!(server.packets(UdpOutcome::Decoded), 1);
        assert_eq!(server.spans(UdpOutcome::Received), 3);
        assert_eq!(
            sink.writes()[0].1.resource_spans[0].resource.service_name(),
            "frontend"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn udp_malformed_packets_are_counted_and_the_receiver_goes_on() {
    let sink = RecordingSink::ok();
    let server = UdpServer::start(sink.clone(), UdpFormat::Compact, UdpConfig::default()).await;
    server.send(b"\x82\x81\x00\x09emitBatch\xff\xff").await;
    // A binary-protocol packet on the compact port is malformed too.
    server.send(&emit(UdpFormat::Binary, &batch(1))).await;
    eventually("malformed counted", || {
        server.packets(UdpOutcome::Malformed) == 2
    })
    .await;
    server.send(&emit(UdpFormat::Compact, &batch(1))).await;
    eventually("a good packet after them", || sink.span_count() == 1).await;
    assert_eq!(
        server
            .metrics
            .requests(Protocol::JaegerUdpCompact, Outcome::Malformed),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn udp_full_queue_drops_and_counts_packets() {
    let sink = RecordingSink::held();
    let config = UdpConfig {
        queue_packets: 1,
        workers: 1,
        ..UdpConfig::default()
    };
    let server = UdpServer::start(sink.clone(), UdpFormat::Compact, config).await;
    let packet = emit(UdpFormat::Compact, &batch(1));
    // The only worker holds the first packet in the sink...
    server.send(&packet).await;
    sink.hold().entered.notified().await;
    // ...the second waits in the queue, the third finds it full.
    server.send(&packet).await;
    server.send(&packet).await;
    eventually("queue full counted", || {
        server.packets(UdpOutcome::QueueFull) == 1
    })
    .await;
    assert_eq!(server.packets(UdpOutcome::Received), 3);
    sink.hold().release.notify_one();
    sink.hold().entered.notified().await;
    sink.hold().release.notify_one();
    eventually("queued packet written", || {
        server.spans(UdpOutcome::Accepted) == 2
    })
    .await;
    server.stop().await;
}

/// Refuses the first `failures` writes as overloaded, then records.
struct FlakySink {
    failures: AtomicUsize,
    inner: Arc<RecordingSink>,
}

#[async_trait]
impl SpanSink for FlakySink {
    async fn write(&self, tenant: TenantId, batch: TraceBatch) -> Result<(), SinkError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SinkError::Overloaded {
                retry_after: Duration::from_millis(1),
            });
        }
        self.inner.write(tenant, batch).await
    }
}

#[tokio::test]
async fn udp_retries_an_overloaded_sink_then_drops_and_counts() {
    let recorded = RecordingSink::ok();
    let sink = Arc::new(FlakySink {
        failures: AtomicUsize::new(2),
        inner: recorded.clone(),
    });
    let server = UdpServer::start(sink, UdpFormat::Binary, UdpConfig::default()).await;
    server.send(&emit(UdpFormat::Binary, &batch(2))).await;
    eventually("written after retries", || recorded.span_count() == 2).await;
    eventually("accepted counted", || {
        server.spans(UdpOutcome::Accepted) == 2
    })
    .await;
    assert_eq!(server.packets(UdpOutcome::Dropped), 0);
    assert_eq!(
        server
            .metrics
            .requests(Protocol::JaegerUdpBinary, Outcome::Ok),
        1,
        "retries are not extra requests"
    );
    server.stop().await;

    // No retry time: the refused batch is dropped and counted.
    let sink = Arc::new(FlakySink {
        failures: AtomicUsize::new(1),
        inner: RecordingSink::ok(),
    });
    let config = UdpConfig {
        retry_for: Duration::ZERO,
        ..UdpConfig::default()
    };
    let server = UdpServer::start(sink, UdpFormat::Binary, config).await;
    server.send(&emit(UdpFormat::Binary, &batch(2))).await;
    eventually("dropped counted", || {
        server.packets(UdpOutcome::Dropped) == 1
    })
    .await;
    assert_eq!(server.spans(UdpOutcome::Dropped), 2);
    assert_eq!(
        server
            .metrics
            .requests(Protocol::JaegerUdpBinary, Outcome::Overloaded),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn udp_zero_id_spans_are_rejected_and_counted() {
    let sink = RecordingSink::ok();
    let server = UdpServer::start(sink.clone(), UdpFormat::Compact, UdpConfig::default()).await;
    let mut b = batch(3);
    b.spans[2].span_id = 0;
    server.send(&emit(UdpFormat::Compact, &b)).await;
    eventually("rejected counted", || {
        server.spans(UdpOutcome::Rejected) == 1
    })
    .await;
    assert_eq!(server.spans(UdpOutcome::Accepted), 2);
    assert_eq!(sink.span_count(), 2);
    server.stop().await;
}

#[tokio::test]
async fn grpc_requests_tonic_refuses_are_counted_once() {
    let limits = Limits {
        max_request_bytes: 256,
        ..Limits::default()
    };
    let sink = RecordingSink::ok();
    let server = GrpcServer::start(sink.clone(), limits).await;
    let status = server
        .client()
        .await
        .post_spans(post(&batch(40)))
        .await
        .expect_err("oversized");
    assert!(
        matches!(
            status.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{status:?}"
    );
    assert_eq!(
        server
            .metrics
            .requests(Protocol::JaegerGrpc, Outcome::TooLarge),
        1
    );
    // a request the handler answers is counted by the handler alone
    server
        .client()
        .await
        .post_spans(post(&batch(1)))
        .await
        .expect("small request accepted");
    assert_eq!(
        server.metrics.requests(Protocol::JaegerGrpc, Outcome::Ok),
        1
    );
    assert_eq!(sink.span_count(), 1);
    server.stop().await;
}
