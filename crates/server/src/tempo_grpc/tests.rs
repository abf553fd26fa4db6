//! The streaming querier over a real socket: the whole query router served by `axum::serve`
//! on an ephemeral loopback port, called with the generated tonic client over h2c, and plain
//! HTTP/1.1 and HTTP/2 requests on the same port.
//!
//! Tests named `engine_…` check results the TraceQL engine computes (matches, tag names and
//! values); the others check shapes, statuses and the tenant, which hold with any engine.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use clew_model::{
    AnyValue, KeyValue, Span, SpanKind, Status, StatusCode as SpanStatus, TenantId, TraceId,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;
use tonic::transport::Channel;
use tower::ServiceExt as _;

use super::proto::tempopb as pb;
use super::proto::tempopb::streaming_querier_client::StreamingQuerierClient;
use super::{MAX_PACKET_BYTES, group_scopes, split};
use crate::tempo_common::trimmed_trace_id as tempo_trace_id;
use crate::test_support::{
    self as support, MS, batch, resource, router, temp_store, trace_a, trace_b, trace_c,
};
use clew_query::search::TagScope;

#[allow(clippy::too_many_arguments)]
fn span(
    trace_id: TraceId,
    id: u64,
    parent: Option<u64>,
    name: &str,
    kind: SpanKind,
    start: u64,
    millis: u64,
    attributes: Vec<KeyValue>,
    status: SpanStatus,
) -> Span {
    Span {
        kind,
        attributes,
        status: Status {
            code: status,
            message: String::new(),
        },
        ..support::span(trace_id, id, parent, name, start, millis * MS)
    }
}

struct Server {
    addr: SocketAddr,
    /// Start of the data, in nanoseconds (a minute ago, so "recent data" windows hold it).
    t0: u64,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn client(&self) -> StreamingQuerierClient<Channel> {
        StreamingQuerierClient::new(self.channel().await)
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

/// A store with three traces in two tenants (A: a frontend root and a failing backend
/// child; B: one backend span whose parent never arrived; C: in tenant `team-b` only), served by the query router on a real port.
async fn serve() -> Server {
    let (store, dir) = temp_store();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let t0 = now - 60_000 * MS;
    let default = TenantId::default();
    let get = || KeyValue::new("http.method", AnyValue::String("GET".into()));
    store
        .append(
            &default,
            batch(
                resource("frontend"),
                vec![span(
                    trace_a(),
                    1,
                    None,
                    "GET /checkout",
                    SpanKind::Server,
                    t0,
                    30,
                    vec![get()],
                    SpanStatus::Unset,
                )],
            ),
        )
        .await
        .unwrap();
    store
        .append(
            &default,
            batch(
                resource("backend"),
                vec![
                    span(
                        trace_a(),
                        2,
                        Some(1),
                        "SELECT orders",
                        SpanKind::Client,
                        t0 + 5 * MS,
                        20,
                        vec![KeyValue::new("db.rows", AnyValue::Int(7))],
                        SpanStatus::Error,
                    ),
                    span(
                        trace_b(),
                        3,
                        Some(99),
                        "consume",
                        SpanKind::Consumer,
                        t0 + 1_000 * MS,
                        5,
                        Vec::new(),
                        SpanStatus::Ok,
                    ),
                ],
            ),
        )
        .await
        .unwrap();
    store
        .append(
            &TenantId::new("team-b").unwrap(),
            batch(
                resource("isolated"),
                vec![span(
                    trace_c(),
                    4,
                    None,
                    "lonely",
                    SpanKind::Internal,
                    t0,
                    1,
                    Vec::new(),
                    SpanStatus::Unset,
                )],
            ),
        )
        .await
        .unwrap();
    let router = router(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        addr,
        t0,
        _dir: dir,
    }
}

fn with_tenant<T>(message: T, tenant: &'static str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-scope-orgid", tenant.parse().unwrap());
    request
}

fn search(query: &str) -> pb::SearchRequest {
    pb::SearchRequest {
        query: query.into(),
        ..pb::SearchRequest::default()
    }
}

/// Every message of a stream, until the server ends it.
async fn collect<T>(stream: tonic::Response<tonic::Streaming<T>>) -> Vec<T> {
    let mut stream = stream.into_inner();
    let mut out = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        out.push(message);
    }
    out
}

async fn run_search(
    server: &Server,
    request: tonic::Request<pb::SearchRequest>,
) -> Vec<pb::SearchResponse> {
    collect(server.client().await.search(request).await.unwrap()).await
}

fn trace_ids(messages: &[pb::SearchResponse]) -> Vec<String> {
    let mut ids: Vec<String> = messages
        .iter()
        .flat_map(|m| m.traces.iter().map(|t| t.trace_id.clone()))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn search_streams_a_final_answer_with_metrics() {
    let server = serve().await;
    let messages = run_search(&server, tonic::Request::new(search("{}"))).await;
    assert_eq!(messages.len(), 1, "one packet for a small answer");
    let metrics = messages[0]
        .metrics
        .clone()
        .expect("metrics in every packet");
    // One finished "job" makes Grafana's progress read complete.
    assert_eq!((metrics.completed_jobs, metrics.total_jobs), (1, 1));
}

#[tokio::test]
async fn engine_search_answers_tempo_shaped_traces() {
    let server = serve().await;
    let messages = run_search(&server, tonic::Request::new(search("{}"))).await;
    // Leading zeros are dropped from trace ids, as Tempo writes them.
    assert_eq!(
        trace_ids(&messages),
        vec![
            "102030405060708090a0b0c0d0e0f10".to_owned(),
            "123456789abcdef0".to_owned()
        ]
    );
    let traces: Vec<&pb::TraceSearchMetadata> =
        messages.iter().flat_map(|m| m.traces.iter()).collect();
    let a = traces
        .iter()
        .find(|t| t.trace_id == "123456789abcdef0")
        .unwrap();
    assert_eq!(a.root_service_name, "frontend");
    assert_eq!(a.root_trace_name, "GET /checkout");
    assert_eq!(a.start_time_unix_nano, server.t0);
    assert_eq!(a.duration_ms, 30);
    assert_eq!(a.service_stats["frontend"].span_count, 1);
    assert_eq!(a.service_stats["backend"].span_count, 1);
    assert_eq!(a.service_stats["backend"].error_count, 1);
    assert!(!a.span_sets.is_empty());
    assert_eq!(a.span_set.as_ref(), a.span_sets.first());
    let b = traces
        .iter()
        .find(|t| t.trace_id.starts_with("1020304"))
        .unwrap();
    assert_eq!(b.root_service_name, "<root span not yet received>");
    assert_eq!(b.root_trace_name, "");
}

#[tokio::test]
async fn engine_search_lists_matching_spans_with_their_attributes() {
    let server = serve().await;
    let messages = run_search(
        &server,
        tonic::Request::new(search(r#"{ span.db.rows > 5 && status = error }"#)),
    )
    .await;
    assert_eq!(trace_ids(&messages), vec!["123456789abcdef0".to_owned()]);
    let trace = &messages[0].traces[0];
    let set = &trace.span_sets[0];
    assert_eq!(set.matched, 1);
    let span = &set.spans[0];
    assert_eq!(span.span_id, "0000000000000002");
    assert_eq!(span.name, "SELECT orders");
    assert_eq!(span.start_time_unix_nano, server.t0 + 5 * MS);
    assert_eq!(span.duration_nanos, 20 * MS);
    // Keyed by the attribute's name without its scope, as Tempo's `asTraceSearchMetadata`
    // writes them; status as its keyword.
    use crate::tempo_common::proto::tempopb::common::v1::any_value::Value;
    let attributes: Vec<(&str, Option<Value>)> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone().and_then(|v| v.value)))
        .collect();
    assert_eq!(
        attributes,
        vec![
            ("db.rows", Some(Value::IntValue(7))),
            ("status", Some(Value::StringValue("error".into()))),
        ]
    );
}

#[tokio::test]
async fn engine_search_reads_the_tenant_from_metadata() {
    let server = serve().await;
    let messages = run_search(&server, with_tenant(search("{}"), "team-b")).await;
    assert_eq!(trace_ids(&messages), vec!["c".repeat(32)]);
}

#[tokio::test]
async fn engine_search_honours_ranges_and_old_style_tags() {
    let server = serve().await;
    // Grafana sends whole seconds, the end truncated: trace B starts inside the end second.
    let b_second = ((server.t0 + 1_000 * MS) / 1_000_000_000) as u32;
    let recent = pb::SearchRequest {
        start: b_second - 120,
        end: b_second,
        ..search("{ resource.service.name = \"backend\" }")
    };
    let messages = run_search(&server, tonic::Request::new(recent)).await;
    assert_eq!(
        trace_ids(&messages),
        vec![
            "102030405060708090a0b0c0d0e0f10".to_owned(),
            "123456789abcdef0".to_owned()
        ]
    );
    let long_ago = pb::SearchRequest {
        start: 1_000,
        end: 2_000,
        ..search("{}")
    };
    let messages = run_search(&server, tonic::Request::new(long_ago)).await;
    assert!(trace_ids(&messages).is_empty());
    // No TraceQL: the `Tags` map is Tempo's old search (substring of the service name).
    let tags = pb::SearchRequest {
        tags: [("service.name".to_owned(), "front".to_owned())].into(),
        ..search("")
    };
    let messages = run_search(&server, tonic::Request::new(tags)).await;
    assert_eq!(trace_ids(&messages), vec!["123456789abcdef0".to_owned()]);
}

#[tokio::test]
async fn an_invalid_tenant_is_an_invalid_argument() {
    let server = serve().await;
    let status = server
        .client()
        .await
        .search(with_tenant(search("{}"), "bad/tenant"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("X-Scope-OrgID"), "{status:?}");
}

#[tokio::test]
async fn invalid_requests_are_invalid_arguments_with_tempo_messages() {
    let server = serve().await;
    let mut client = server.client().await;
    let cases = [
        (search("{ name = }"), "invalid TraceQL query: parse error"),
        (
            pb::SearchRequest {
                start: 20,
                end: 10,
                ..search("{}")
            },
            "http parameter start must be before end. received start=20 end=10",
        ),
        (
            pb::SearchRequest {
                min_duration_ms: 20,
                max_duration_ms: 10,
                ..search("{}")
            },
            "invalid maxDuration: must be greater than minDuration",
        ),
        (
            pb::SearchRequest {
                limit: 300_000,
                ..search("{}")
            },
            "limit 300000 exceeds max limit 262144",
        ),
        (
            pb::SearchRequest {
                spans_per_span_set: 101,
                ..search("{}")
            },
            "spans per span set exceeds 100. received 101",
        ),
        (
            pb::SearchRequest {
                tags: [("status.code".to_owned(), "maybe".to_owned())].into(),
                ..search("")
            },
            "invalid tags: status.code must be ok, error or unset",
        ),
    ];
    for (request, message) in cases {
        let status = client.search(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with(message), "{status:?}");
    }
}

#[tokio::test]
async fn tag_listings_validate_scope_and_tag() {
    let server = serve().await;
    let mut client = server.client().await;
    let bad_scope = pb::SearchTagsRequest {
        scope: "bogus".into(),
        ..pb::SearchTagsRequest::default()
    };
    for status in [
        client.search_tags(bad_scope.clone()).await.unwrap_err(),
        client.search_tags_v2(bad_scope).await.unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "invalid scope: bogus");
    }
    let empty = pb::SearchTagValuesRequest::default();
    for status in [
        client.search_tag_values(empty.clone()).await.unwrap_err(),
        client.search_tag_values_v2(empty).await.unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "please provide a non-empty tagName");
    }
    let status = client
        .search_tag_values_v2(pb::SearchTagValuesRequest {
            tag_name: "{{".into(),
            ..pb::SearchTagValuesRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("please provide a valid tagName"),
        "{status:?}"
    );
    // A tag query that does not parse narrows nothing (Grafana sends what is being typed).
    let typing = pb::SearchTagsRequest {
        query: "{ span.http.method = ".into(),
        ..pb::SearchTagsRequest::default()
    };
    let messages = collect(client.search_tags_v2(typing).await.unwrap()).await;
    assert_eq!(messages.len(), 1);
    let metrics = messages[0].metrics.clone().unwrap();
    assert_eq!((metrics.completed_jobs, metrics.total_jobs), (1, 1));
    let trace = pb::SearchTagsRequest {
        scope: "trace".into(),
        ..pb::SearchTagsRequest::default()
    };
    let messages = collect(client.search_tags_v2(trace).await.unwrap()).await;
    assert!(messages.iter().all(|m| m.scopes.is_empty()));
}

fn v2_scope<'a>(messages: &'a [pb::SearchTagsV2Response], name: &str) -> Vec<&'a str> {
    messages
        .iter()
        .flat_map(|m| m.scopes.iter())
        .filter(|s| s.name == name)
        .flat_map(|s| s.tags.iter().map(String::as_str))
        .collect()
}

#[tokio::test]
async fn engine_tag_names_per_scope() {
    let server = serve().await;
    let mut client = server.client().await;
    let all = collect(
        client
            .search_tags_v2(pb::SearchTagsRequest::default())
            .await
            .unwrap(),
    )
    .await;
    assert!(v2_scope(&all, "resource").contains(&"service.name"));
    assert!(v2_scope(&all, "span").contains(&"http.method"));
    assert!(v2_scope(&all, "span").contains(&"db.rows"));
    assert!(v2_scope(&all, "intrinsic").contains(&"name"));

    let span_only = collect(
        client
            .search_tags_v2(pb::SearchTagsRequest {
                scope: "span".into(),
                ..pb::SearchTagsRequest::default()
            })
            .await
            .unwrap(),
    )
    .await;
    let names: Vec<&str> = span_only
        .iter()
        .flat_map(|m| m.scopes.iter().map(|s| s.name.as_str()))
        .collect();
    assert_eq!(names, vec!["span"]);

    // v1: one flat list of attribute names, no intrinsics unless asked for.
    let v1 = collect(
        client
            .search_tags(pb::SearchTagsRequest::default())
            .await
            .unwrap(),
    )
    .await;
    let flat: Vec<&str> = v1
        .iter()
        .flat_map(|m| m.tag_names.iter().map(String::as_str))
        .collect();
    assert!(
        flat.contains(&"service.name") && flat.contains(&"http.method"),
        "{flat:?}"
    );
    assert!(!flat.contains(&"duration"), "{flat:?}");

    // Tenants see only their own names.
    let team_b = collect(
        client
            .search_tags_v2(with_tenant(pb::SearchTagsRequest::default(), "team-b"))
            .await
            .unwrap(),
    )
    .await;
    assert!(!v2_scope(&team_b, "span").contains(&"http.method"));
}

#[tokio::test]
async fn engine_tag_values_typed_and_plain() {
    let server = serve().await;
    let mut client = server.client().await;
    let v2 = collect(
        client
            .search_tag_values_v2(pb::SearchTagValuesRequest {
                tag_name: "resource.service.name".into(),
                ..pb::SearchTagValuesRequest::default()
            })
            .await
            .unwrap(),
    )
    .await;
    let values: Vec<(String, String)> = v2
        .iter()
        .flat_map(|m| {
            m.tag_values
                .iter()
                .map(|v| (v.r#type.clone(), v.value.clone()))
        })
        .collect();
    assert_eq!(
        values,
        vec![
            ("string".to_owned(), "backend".to_owned()),
            ("string".to_owned(), "frontend".to_owned()),
        ]
    );
    let ints = collect(
        client
            .search_tag_values_v2(pb::SearchTagValuesRequest {
                tag_name: "span.db.rows".into(),
                ..pb::SearchTagValuesRequest::default()
            })
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        ints[0].tag_values,
        vec![pb::TagValue {
            r#type: "int".into(),
            value: "7".into()
        }]
    );
    let v1 = collect(
        client
            .search_tag_values(pb::SearchTagValuesRequest {
                tag_name: "service.name".into(),
                ..pb::SearchTagValuesRequest::default()
            })
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v1[0].tag_values, vec!["backend", "frontend"]);
}

#[tokio::test]
async fn traceql_metrics_are_unimplemented() {
    let server = serve().await;
    let mut client = server.client().await;
    let range = client
        .metrics_query_range(pb::QueryRangeRequest {
            query: "{} | rate()".into(),
            ..pb::QueryRangeRequest::default()
        })
        .await
        .unwrap_err();
    let instant = client
        .metrics_query_instant(pb::QueryInstantRequest::default())
        .await
        .unwrap_err();
    for status in [range, instant] {
        assert_eq!(status.code(), Code::Unimplemented);
        assert!(status.message().contains("TraceQL metrics"), "{status:?}");
    }
}

/// A plain HTTP/1.1 exchange on a fresh connection: the status line and the body.
async fn http1_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn http1_and_h2c_keep_working_on_the_same_port() {
    let server = serve().await;
    let (status, body) = http1_get(server.addr, "/api/echo").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "echo");
    // Unknown paths stay 404s: the gRPC service does not take over the fallback.
    let (status, _) = http1_get(server.addr, "/no/such/route").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // Plain HTTP over h2c (prior knowledge), on the connection gRPC uses.
    let channel = server.channel().await;
    for (path, want) in [("/api/echo", 200), ("/no/such/route", 404)] {
        let request = axum::http::Request::get(path)
            .body(tonic::body::Body::empty())
            .unwrap();
        let response = channel.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), want, "{path}");
        assert_eq!(response.version(), axum::http::Version::HTTP_2);
    }
}

#[test]
fn packets_hold_at_most_the_target_size_and_at_least_one_entry() {
    let third = MAX_PACKET_BYTES / 3;
    let packets = split(vec![1, 2, 3, 4, 5], 10, |_| third);
    assert_eq!(packets, vec![vec![1, 2], vec![3, 4], vec![5]]);
    // An entry bigger than a packet still goes out, alone.
    let packets = split(vec![1, 2], 10, |i| {
        if *i == 1 { 2 * MAX_PACKET_BYTES } else { 1 }
    });
    assert_eq!(packets, vec![vec![1], vec![2]]);
    // No entries: one (empty) packet, so the client still gets the metrics.
    assert_eq!(split(Vec::<u8>::new(), 10, |_| 1), vec![Vec::<u8>::new()]);
}

#[test]
fn scopes_split_across_packets_keep_their_names() {
    let entries = vec![
        (TagScope::Span, "a".to_owned()),
        (TagScope::Span, "b".to_owned()),
        (TagScope::Resource, "c".to_owned()),
    ];
    let scopes = group_scopes(entries);
    assert_eq!(
        scopes,
        vec![
            pb::SearchTagsV2Scope {
                name: "span".into(),
                tags: vec!["a".into(), "b".into()],
            },
            pb::SearchTagsV2Scope {
                name: "resource".into(),
                tags: vec!["c".into()],
            },
        ]
    );
}

#[test]
fn trace_ids_lose_leading_zeros_as_in_tempo() {
    assert_eq!(
        tempo_trace_id("00000000000000001234567890abcdef"),
        "1234567890abcdef"
    );
    assert_eq!(tempo_trace_id(&"c".repeat(32)), "c".repeat(32));
}
