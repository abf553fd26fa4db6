//! Sending one batch over each protocol `clew gen` speaks, and classifying the answer:
//! OTLP gRPC and HTTP/protobuf, Jaeger gRPC, Thrift over HTTP and agent UDP, Zipkin v2 JSON
//! and proto. No retries: a refusal is what the generator measures, not something to hide.
//! The batch is encoded here, inside the send task, so encoding runs on every core.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clew_collector::proto::jaeger::api_v2 as jaeger_pb;
use clew_collector::proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
use clew_collector::receivers::jaeger::proto::batch_to_proto as jaeger_batch_to_proto;
use clew_collector::receivers::jaeger::thrift::{ThriftProtocol, encode_batch};
use clew_collector::receivers::zipkin::proto::to_proto as zipkin_to_proto;
use clew_model::TraceBatch;
use clew_model::otlp::batch_to_proto;
use clew_model::otlp::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use clew_model::otlp::proto::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use clew_model::zipkin::batch_to_zipkin;
use hyper::body::Bytes;
use prost::Message;
use tokio::net::UdpSocket;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::cli::http;

use super::Protocol;
use super::jaeger;

/// How one request (for UDP: one batch's packets) ended.
#[derive(Debug, Default)]
pub struct Answer {
    pub acknowledged: u64,
    /// Spans not acknowledged, with the reason ("partial", "grpc ResourceExhausted", "http 429").
    pub refused: Option<(String, u64)>,
    /// UDP packets sent (UDP has no acknowledgement: the server's metrics say what arrived).
    pub packets: u64,
    /// Spans in those packets.
    pub spans_in_packets: u64,
}

impl Answer {
    fn from_response(spans: u64, response: &ExportTraceServiceResponse) -> Self {
        let rejected = response
            .partial_success
            .as_ref()
            .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0))
            .min(spans);
        Answer {
            acknowledged: spans - rejected,
            refused: (rejected > 0).then(|| ("partial".to_owned(), rejected)),
            ..Answer::default()
        }
    }

    fn acknowledged(spans: u64) -> Self {
        Answer {
            acknowledged: spans,
            ..Answer::default()
        }
    }

    fn refused(spans: u64, reason: String) -> Self {
        Answer {
            refused: Some((reason, spans)),
            ..Answer::default()
        }
    }

    /// Adds another part of the same batch (Jaeger sends one request per process).
    fn merge(&mut self, other: Answer) {
        self.acknowledged += other.acknowledged;
        self.packets += other.packets;
        self.spans_in_packets += other.spans_in_packets;
        if let Some((reason, n)) = other.refused {
            match &mut self.refused {
                Some((_, m)) => *m += n,
                None => self.refused = Some((reason, n)),
            }
        }
    }
}

/// The body formats sent by HTTP POST.
#[derive(Clone, Copy, Debug)]
pub enum HttpFormat {
    Otlp,
    JaegerThrift,
    ZipkinJson,
    ZipkinProto,
}

impl HttpFormat {
    fn content_type(self) -> &'static str {
        match self {
            HttpFormat::Otlp | HttpFormat::ZipkinProto => "application/x-protobuf",
            HttpFormat::JaegerThrift => "application/x-thrift",
            HttpFormat::ZipkinJson => "application/json",
        }
    }
}

/// A connected sender; cheap to clone (clones share connections and sockets).
#[derive(Clone)]
pub enum Sender {
    OtlpGrpc {
        client: TraceServiceClient<Channel>,
        tenant: Option<MetadataValue<Ascii>>,
    },
    JaegerGrpc {
        client: CollectorServiceClient<Channel>,
        tenant: Option<MetadataValue<Ascii>>,
    },
    Http {
        format: HttpFormat,
        /// Boxed: hyper's client is several times larger than the other variants.
        client: Box<http::PostClient>,
        uri: hyper::Uri,
        tenant: Option<String>,
    },
    Udp {
        socket: Arc<UdpSocket>,
        protocol: ThriftProtocol,
        sequence: Arc<AtomicI32>,
        /// The last estimate of spans per packet, so most packets are encoded only once.
        spans_per_packet: Arc<AtomicUsize>,
    },
}

impl Sender {
    pub async fn connect(
        protocol: Protocol,
        endpoint: &str,
        tenant: Option<&str>,
    ) -> anyhow::Result<Self> {
        let http_sender = |format, path: &str| -> anyhow::Result<Self> {
            Ok(Sender::Http {
                format,
                client: Box::new(http::post_client()),
                uri: http_uri(endpoint, path)?,
                tenant: tenant.map(str::to_owned),
            })
        };
        match protocol {
            Protocol::OtlpGrpc => {
                let client = TraceServiceClient::new(channel(endpoint).await?)
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(usize::MAX);
                Ok(Sender::OtlpGrpc {
                    client,
                    tenant: grpc_tenant(tenant)?,
                })
            }
            Protocol::JaegerGrpc => {
                let client = CollectorServiceClient::new(channel(endpoint).await?)
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(usize::MAX);
                Ok(Sender::JaegerGrpc {
                    client,
                    tenant: grpc_tenant(tenant)?,
                })
            }
            // Like the OTLP exporters: the endpoint is the base URL, the path is fixed.
            Protocol::OtlpHttp => http_sender(HttpFormat::Otlp, "/v1/traces"),
            // Jaeger and Zipkin clients take the full URL: a path given is kept.
            Protocol::JaegerThriftHttp => http_sender(HttpFormat::JaegerThrift, "/api/traces"),
            Protocol::ZipkinJson => http_sender(HttpFormat::ZipkinJson, "/api/v2/spans"),
            Protocol::ZipkinProto => http_sender(HttpFormat::ZipkinProto, "/api/v2/spans"),
            Protocol::JaegerUdpCompact | Protocol::JaegerUdpBinary => {
                if tenant.is_some() {
                    bail!(
                        "UDP carries no tenant: the server writes UDP spans for its configured tenant"
                    );
                }
                let addr = udp_addr(endpoint).await?;
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(local)
                    .await
                    .context("binding a UDP socket")?;
                socket
                    .connect(addr)
                    .await
                    .with_context(|| format!("connecting the UDP socket to {addr}"))?;
                Ok(Sender::Udp {
                    socket: Arc::new(socket),
                    protocol: if protocol == Protocol::JaegerUdpCompact {
                        ThriftProtocol::Compact
                    } else {
                        ThriftProtocol::Binary
                    },
                    sequence: Arc::new(AtomicI32::new(0)),
                    spans_per_packet: Arc::new(AtomicUsize::new(0)),
                })
            }
        }
    }

    /// Encodes `batch` for the protocol and sends it; `spans` is its span count.
    pub async fn send(&self, batch: TraceBatch, spans: u64) -> Answer {
        match self {
            Sender::OtlpGrpc { client, tenant } => {
                let request = ExportTraceServiceRequest {
                    resource_spans: batch_to_proto(&batch),
                };
                match client.clone().export(with_tenant(request, tenant)).await {
                    Ok(resp) => Answer::from_response(spans, resp.get_ref()),
                    Err(status) => Answer::refused(spans, format!("grpc {:?}", status.code())),
                }
            }
            Sender::JaegerGrpc { client, tenant } => {
                // One PostSpans per process, as a Jaeger reporter sends (normally just one).
                let mut answer = Answer::default();
                for b in jaeger::batches(&batch) {
                    let n = b.spans.len() as u64;
                    let request = jaeger_pb::PostSpansRequest {
                        batch: Some(jaeger_batch_to_proto(&b)),
                    };
                    answer.merge(
                        match client
                            .clone()
                            .post_spans(with_tenant(request, tenant))
                            .await
                        {
                            Ok(_) => Answer::acknowledged(n),
                            Err(status) => Answer::refused(n, format!("grpc {:?}", status.code())),
                        },
                    );
                }
                answer
            }
            Sender::Http {
                format,
                client,
                uri,
                tenant,
            } => {
                let bodies: Vec<(u64, Result<Vec<u8>, String>)> = match format {
                    HttpFormat::Otlp => {
                        let request = ExportTraceServiceRequest {
                            resource_spans: batch_to_proto(&batch),
                        };
                        vec![(spans, Ok(request.encode_to_vec()))]
                    }
                    HttpFormat::JaegerThrift => jaeger::batches(&batch)
                        .iter()
                        .map(|b| {
                            let body = encode_batch(ThriftProtocol::Binary, b)
                                .map_err(|e| format!("encoding: {e}"));
                            (b.spans.len() as u64, body)
                        })
                        .collect(),
                    HttpFormat::ZipkinJson => {
                        let body = serde_json::to_vec(&batch_to_zipkin(&batch))
                            .map_err(|e| format!("encoding: {e}"));
                        vec![(spans, body)]
                    }
                    HttpFormat::ZipkinProto => {
                        let list = zipkin_to_proto(&batch_to_zipkin(&batch));
                        vec![(spans, Ok(list.encode_to_vec()))]
                    }
                };
                let mut headers = vec![("content-type", format.content_type())];
                if let Some(t) = tenant {
                    headers.push(("x-scope-orgid", t));
                }
                let mut answer = Answer::default();
                for (n, body) in bodies {
                    let part = match body {
                        Ok(body) => {
                            post(*format, client, uri, &headers, Bytes::from(body), n).await
                        }
                        Err(reason) => Answer::refused(n, reason),
                    };
                    answer.merge(part);
                }
                answer
            }
            Sender::Udp {
                socket,
                protocol,
                sequence,
                spans_per_packet,
            } => {
                let mut answer = Answer::default();
                for b in jaeger::batches(&batch) {
                    let n = b.spans.len() as u64;
                    let packets = match jaeger::packets(
                        *protocol,
                        b,
                        jaeger::MAX_PACKET_BYTES,
                        sequence.load(Ordering::Relaxed),
                        spans_per_packet.load(Ordering::Relaxed),
                    ) {
                        Ok((p, guess)) => {
                            spans_per_packet.store(guess, Ordering::Relaxed);
                            p
                        }
                        Err(e) => {
                            answer.merge(Answer::refused(n, e.to_string()));
                            continue;
                        }
                    };
                    sequence.fetch_add(
                        i32::try_from(packets.len()).unwrap_or(i32::MAX),
                        Ordering::Relaxed,
                    );
                    for p in packets {
                        let n = p.spans as u64;
                        answer.merge(match socket.send(&p.bytes).await {
                            Ok(_) => Answer {
                                packets: 1,
                                spans_in_packets: n,
                                ..Answer::default()
                            },
                            // E.g. ECONNREFUSED: an ICMP report that nothing listens there.
                            Err(e) => Answer::refused(n, format!("udp send: {}", e.kind())),
                        });
                    }
                }
                answer
            }
        }
    }
}

async fn post(
    format: HttpFormat,
    client: &http::PostClient,
    uri: &hyper::Uri,
    headers: &[(&str, &str)],
    body: Bytes,
    spans: u64,
) -> Answer {
    match (format, http::post(client, uri, headers, body).await) {
        (HttpFormat::Otlp, Ok((200, body))) => match ExportTraceServiceResponse::decode(body) {
            Ok(resp) => Answer::from_response(spans, &resp),
            // The spans were accepted even if the answer is unreadable.
            Err(_) => Answer::acknowledged(spans),
        },
        // Jaeger's collector and Zipkin answer 202 Accepted; 200 is success too.
        (
            HttpFormat::JaegerThrift | HttpFormat::ZipkinJson | HttpFormat::ZipkinProto,
            Ok((s, _)),
        ) if (200..300).contains(&s) => Answer::acknowledged(spans),
        (_, Ok((status, _))) => Answer::refused(spans, format!("http {status}")),
        (_, Err(_)) => Answer::refused(spans, "http connection error".to_owned()),
    }
}

fn with_tenant<T>(message: T, tenant: &Option<MetadataValue<Ascii>>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(t) = tenant {
        req.metadata_mut().insert("x-scope-orgid", t.clone());
    }
    req
}

fn grpc_tenant(tenant: Option<&str>) -> anyhow::Result<Option<MetadataValue<Ascii>>> {
    tenant
        .map(|t| t.parse().with_context(|| format!("invalid tenant {t:?}")))
        .transpose()
}

async fn channel(endpoint: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(endpoint.to_owned())
        .with_context(|| format!("invalid endpoint {endpoint:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {endpoint}"))
}

/// `endpoint` with `default_path` unless it names a path of its own.
fn http_uri(endpoint: &str, default_path: &str) -> anyhow::Result<hyper::Uri> {
    let base: hyper::Uri = endpoint
        .parse()
        .with_context(|| format!("invalid endpoint {endpoint:?}"))?;
    if base.scheme_str() != Some("http") {
        bail!("only http:// endpoints are supported, got {endpoint}");
    }
    let url = if base.path() == "/" {
        format!("{}{default_path}", endpoint.trim_end_matches('/'))
    } else {
        endpoint.to_owned()
    };
    url.parse()
        .with_context(|| format!("invalid endpoint {endpoint:?}"))
}

/// `host:port` or `udp://host:port`, resolved (the first address wins).
async fn udp_addr(endpoint: &str) -> anyhow::Result<SocketAddr> {
    let hostport = endpoint.strip_prefix("udp://").unwrap_or(endpoint);
    tokio::net::lookup_host(hostport)
        .await
        .with_context(|| format!("invalid UDP endpoint {endpoint:?} (host:port)"))?
        .next()
        .with_context(|| format!("{endpoint:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints_get_the_protocol_path_unless_they_have_one() {
        let uri = |e, p| http_uri(e, p).map(|u| u.to_string());
        assert_eq!(
            uri("http://h:9411", "/api/v2/spans").ok().as_deref(),
            Some("http://h:9411/api/v2/spans")
        );
        assert_eq!(
            uri("http://h:9411/", "/api/v2/spans").ok().as_deref(),
            Some("http://h:9411/api/v2/spans")
        );
        assert_eq!(
            uri("http://h:14268/custom/traces", "/api/traces")
                .ok()
                .as_deref(),
            Some("http://h:14268/custom/traces")
        );
        assert!(uri("https://h:9411", "/api/v2/spans").is_err());
    }

    #[tokio::test]
    async fn udp_endpoints_take_host_port_with_or_without_a_scheme() {
        let a = udp_addr("127.0.0.1:6831").await.expect("plain");
        let b = udp_addr("udp://127.0.0.1:6831").await.expect("with scheme");
        assert_eq!(a, b);
        assert_eq!(a.port(), 6831);
        assert!(udp_addr("127.0.0.1").await.is_err());
    }

    #[tokio::test]
    async fn udp_sends_every_span_once_in_packets_under_the_limit() {
        use clew_collector::receivers::jaeger::thrift::decode_emit_batch;

        use crate::r#gen::topology::{Generator, Shape};

        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr").to_string();
        let sender = Sender::connect(Protocol::JaegerUdpBinary, &addr, None)
            .await
            .expect("connect");
        let mut g = Generator::new(
            Shape {
                services: 3,
                spans_per_trace: 10,
                attributes: 11,
                error_rate: 0.0,
            },
            9,
        );
        // Batch by batch, read back before the next: the default receive buffer holds only a
        // few packets, and a test socket has no reader racing the sender.
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 70_000];
        for _ in 0..5 {
            let batch = g.service_batch(150, clew_model::UnixNanos(1_700_000_000_000_000_000));
            let spans = &batch.resource_spans[0].scope_spans[0].spans;
            expected.extend(spans.iter().map(|s| s.span_id.to_u64()));
            let answer = sender.send(batch, 150).await;
            assert_eq!((answer.spans_in_packets, answer.refused), (150, None));
            assert!(answer.packets >= 2, "150 binary spans need two packets");
            for _ in 0..answer.packets {
                let n = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
                    .await
                    .expect("a packet in time")
                    .expect("recv");
                assert!(n <= jaeger::MAX_PACKET_BYTES, "{n} bytes");
                let batch = decode_emit_batch(ThriftProtocol::Binary, &buf[..n]).expect("decodes");
                got.extend(batch.spans.iter().map(|s| s.span_id));
            }
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn answers_of_one_batch_add_up() {
        let mut a = Answer::acknowledged(10);
        a.merge(Answer::refused(5, "http 429".into()));
        a.merge(Answer::refused(2, "http 503".into()));
        a.merge(Answer {
            packets: 2,
            spans_in_packets: 7,
            ..Answer::default()
        });
        assert_eq!(a.acknowledged, 10);
        assert_eq!(a.refused, Some(("http 429".into(), 7)));
        assert_eq!((a.packets, a.spans_in_packets), (2, 7));
    }
}
