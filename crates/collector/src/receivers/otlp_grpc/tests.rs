//! OTLP/gRPC receiver tests over a real loopback socket with the tonic client generated in
//! opentelemetry-proto, as SDKs call it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clew_model::otlp::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

use super::*;
use crate::test_support::{RecordingSink, request, request_with};
use crate::{Outcome, SinkError};

struct Server {
    addr: SocketAddr,
    metrics: CollectorMetrics,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ReceiverError>>,
}

impl Server {
    async fn start(sink: Arc<RecordingSink>, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = CollectorMetrics::default();
        let receiver = Box::new(OtlpGrpcReceiver::new(
            listener,
            sink,
            limits,
            metrics.clone(),
        ));
        assert_eq!(receiver.name(), "otlp-grpc");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(receiver.run(shutdown.clone()));
        Self {
            addr,
            metrics,
            shutdown,
            task,
        }
    }

    async fn client(&self) -> TraceServiceClient<Channel> {
        TraceServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }

    /// Shuts down and checks that `run` returned cleanly.
    async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("join")
            .expect("served until shutdown");
    }

    fn requests(&self, outcome: Outcome) -> u64 {
        self.metrics.requests(Protocol::OtlpGrpc, outcome)
    }

    /// Requests counted under any outcome: each answered request must be counted once.
    fn total_requests(&self) -> u64 {
        use Outcome::*;
        [
            Ok,
            Partial,
            Malformed,
            InvalidTenant,
            TooLarge,
            TooManySpans,
            UnsupportedMediaType,
            NotFound,
            MethodNotAllowed,
            Overloaded,
            Unavailable,
            Failed,
        ]
        .into_iter()
        .map(|o| self.requests(o))
        .sum()
    }
}

fn with_tenant<T>(message: T, tenant: &'static str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("x-scope-orgid", tenant.parse().expect("ascii"));
    req
}

#[tokio::test]
async fn export_succeeds_once_the_sink_wrote_the_spans() {
    let sink = RecordingSink::ok();
    let server = Server::start(sink.clone(), Limits::default()).await;
    let response = server
        .client()
        .await
        .export(request(3))
        .await
        .expect("export")
        .into_inner();

    assert_eq!(response.partial_success, None);
    let writes = sink.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].0.as_str(), "single-tenant");
    assert_eq!(writes[0].1.span_count(), 3);
    assert_eq!(server.requests(Outcome::Ok), 1);
    assert_eq!(server.metrics.spans_accepted(Protocol::OtlpGrpc), 3);
    server.stop().await;
}

#[tokio::test]
async fn rejected_spans_are_a_partial_success() {
    let sink = RecordingSink::ok();
    let server = Server::start(sink.clone(), Limits::default()).await;
    let response = server
        .client()
        .await
        .export(request_with(2, 2))
        .await
        .expect("export")
        .into_inner();

    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("rejected 2 of 4 spans"),
        "{}",
        partial.error_message
    );
    assert_eq!(sink.span_count(), 2);
    assert_eq!(server.metrics.spans_refused(Protocol::OtlpGrpc), 2);
    assert_eq!(server.requests(Outcome::Partial), 1);
    server.stop().await;
}

#[tokio::test]
async fn empty_request_succeeds_without_a_write() {
    let sink = RecordingSink::ok();
    let server = Server::start(sink.clone(), Limits::default()).await;
    let response = server.client().await.export(request(0)).await;
    assert_eq!(response.expect("export").into_inner().partial_success, None);
    assert!(sink.writes().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn overloaded_sink_is_resource_exhausted_with_retry_info() {
    let sink = RecordingSink::failing(SinkError::Overloaded {
        retry_after: Duration::from_secs(7),
    });
    let server = Server::start(sink, Limits::default()).await;
    let status = server
        .client()
        .await
        .export(request(5))
        .await
        .expect_err("refused");

    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry = status.get_details_retry_info().expect("RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(7)));
    assert_eq!(server.metrics.spans_refused(Protocol::OtlpGrpc), 5);
    assert_eq!(server.requests(Outcome::Overloaded), 1);
    assert_eq!(
        server.total_requests(),
        1,
        "counted once, by the handler only"
    );
    server.stop().await;
}

#[tokio::test]
async fn unavailable_and_failed_sinks_map_to_their_codes() {
    let sink = RecordingSink::failing(SinkError::Unavailable {
        reason: "store restarting".into(),
        retry_after: Duration::from_secs(2),
    });
    let server = Server::start(sink, Limits::default()).await;
    let status = server
        .client()
        .await
        .export(request(1))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("store restarting"));
    assert_eq!(
        status.get_details_retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(2))
    );
    server.stop().await;

    let sink = RecordingSink::failing(SinkError::Failed {
        reason: "bad batch".into(),
    });
    let server = Server::start(sink, Limits::default()).await;
    let status = server
        .client()
        .await
        .export(request(1))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::Internal);
    assert!(status.get_details_retry_info().is_none());
    assert_eq!(server.requests(Outcome::Failed), 1);
    server.stop().await;
}

#[tokio::test]
async fn gzip_requests_are_accepted() {
    let sink = RecordingSink::ok();
    let server = Server::start(sink.clone(), Limits::default()).await;
    let mut client = server
        .client()
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    client.export(request(4)).await.expect("export");
    assert_eq!(sink.span_count(), 4);
    server.stop().await;
}

#[tokio::test]
async fn tenant_comes_from_metadata_and_is_validated() {
    let sink = RecordingSink::ok();
    let server = Server::start(sink.clone(), Limits::default()).await;
    let mut client = server.client().await;

    client
        .export(with_tenant(request(1), "team-b"))
        .await
        .expect("export");
    assert_eq!(sink.writes()[0].0.as_str(), "team-b");

    let status = client
        .export(with_tenant(request(1), "a/b"))
        .await
        .expect_err("invalid tenant");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("X-Scope-OrgID"),
        "{}",
        status.message()
    );
    assert_eq!(sink.writes().len(), 1);
    assert_eq!(server.requests(Outcome::InvalidTenant), 1);
    assert_eq!(server.total_requests(), 2);
    server.stop().await;
}

#[tokio::test]
async fn too_many_spans_is_invalid_argument() {
    let limits = Limits {
        max_spans_per_request: 10,
        ..Limits::default()
    };
    let sink = RecordingSink::ok();
    let server = Server::start(sink.clone(), limits).await;
    let status = server
        .client()
        .await
        .export(request(11))
        .await
        .expect_err("too many");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("limit of 10"),
        "{}",
        status.message()
    );
    assert!(sink.writes().is_empty());
    assert_eq!(server.requests(Outcome::TooManySpans), 1);
    server.stop().await;
}

/// tonic refuses these before the handler runs; they must still be counted, and a gzip bomb
/// must be refused at the decompressed limit.
#[tokio::test]
async fn oversize_messages_are_refused_and_counted() {
    let limits = Limits {
        max_request_bytes: 2048,
        ..Limits::default()
    };
    let sink = RecordingSink::ok();
    let server = Server::start(sink.clone(), limits).await;
    let mut client = server.client().await;

    let status = client.export(request(100)).await.expect_err("too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

    // Compresses far below the limit, inflates far above it.
    let mut bomb = request(1);
    bomb.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(1 << 20);
    let mut gz = client.clone().send_compressed(CompressionEncoding::Gzip);
    let status = gz.export(bomb).await.expect_err("too large inflated");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.get_details_retry_info().is_none(),
        "not retryable: no RetryInfo"
    );

    assert!(sink.writes().is_empty());
    assert_eq!(server.requests(Outcome::TooLarge), 2);
    assert_eq!(server.total_requests(), 2);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_exports_finish_then_stops_accepting() {
    let sink = RecordingSink::held();
    let server = Server::start(sink.clone(), Limits::default()).await;
    let mut client = server.client().await;
    let in_flight = tokio::spawn(async move { client.export(request(2)).await });

    sink.hold().entered.notified().await;
    server.shutdown.cancel();
    sink.hold().release.notify_one();

    let response = in_flight.await.expect("join").expect("export");
    assert_eq!(response.into_inner().partial_success, None);
    let addr = server.addr;
    server.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert_eq!(sink.span_count(), 2);
}
