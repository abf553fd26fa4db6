//! Zipkin query API tests: a real store in a temporary directory holding a trace received
//! as Zipkin (a client span and its shared server half) and one written as OTLP, every
//! route called with `oneshot`, the JSON compared whole.

use axum::Router;
use axum::http::StatusCode;
use clew_model::zipkin::{batch_from_zipkin, decode_json};
use clew_model::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, SpanKind, Status,
    StatusCode as SpanStatus, TenantId, TraceBatch, TraceId, UnixNanos,
};
use serde_json::{Value, json};

use crate::test_support::{Reply, get, router, temp_store};

/// 2023-11-14T22:13:20Z, in µs and ms.
const T0_US: u64 = 1_700_000_000_000_000;
const T0_MS: u64 = 1_700_000_000_000;

fn zipkin_trace() -> Value {
    json!([
        {
            "traceId": "463ac35c9f6413ad",
            "id": "a2fb4a1d1a96d312",
            "kind": "CLIENT",
            "name": "get /api",
            "timestamp": T0_US,
            "duration": 5000,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
            "remoteEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000},
            "annotations": [{"timestamp": T0_US + 100, "value": "ws"}],
            "tags": {"http.method": "GET", "error": "503 from backend"}
        },
        {
            "traceId": "463ac35c9f6413ad",
            "id": "a2fb4a1d1a96d312",
            "kind": "SERVER",
            "name": "get /api",
            "timestamp": T0_US + 500,
            "duration": 4000,
            "localEndpoint": {"serviceName": "backend"},
            "shared": true
        }
    ])
}

fn otlp_trace_id() -> TraceId {
    TraceId::from_u64_pair(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10)
}

/// A span written by an OpenTelemetry SDK: 128-bit id, resource and scope, OK status.
fn otlp_batch() -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes: vec![
                    KeyValue::new("service.name", AnyValue::String("backend".into())),
                    KeyValue::new("host.name", AnyValue::String("web-1".into())),
                ],
                dropped_attributes_count: 0,
            },
            schema_url: String::new(),
            scope_spans: vec![ScopeSpans {
                scope: Scope {
                    name: "io.clew".into(),
                    version: "1.0".into(),
                    ..Scope::default()
                },
                schema_url: String::new(),
                spans: vec![Span {
                    trace_id: otlp_trace_id(),
                    span_id: SpanId::from_u64(0x0b),
                    name: "render".into(),
                    kind: SpanKind::Internal,
                    start: UnixNanos((T0_US + 20_000) * 1_000),
                    end: UnixNanos((T0_US + 21_000) * 1_000),
                    attributes: vec![KeyValue::new("n", AnyValue::Int(7))],
                    status: Status {
                        code: SpanStatus::Ok,
                        message: String::new(),
                    },
                    ..Span::default()
                }],
            }],
        }],
    }
}

struct Fixture {
    router: Router,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let (store, dir) = temp_store();
    let received = batch_from_zipkin(decode_json(zipkin_trace().to_string().as_bytes()).unwrap());
    assert_eq!(received.rejected_spans, 0);
    store
        .append(&TenantId::default(), received.batch)
        .await
        .unwrap();
    store
        .append(&TenantId::default(), otlp_batch())
        .await
        .unwrap();
    let isolated = batch_from_zipkin(
        decode_json(
            json!([{"traceId": "cc", "id": "21", "name": "orphan-op", "timestamp": T0_US,
                    "localEndpoint": {"serviceName": "isolated"}}])
            .to_string()
            .as_bytes(),
        )
        .unwrap(),
    );
    store
        .append(&TenantId::new("team-b").unwrap(), isolated.batch)
        .await
        .unwrap();
    Fixture {
        router: router(store),
        _dir: dir,
    }
}

impl Fixture {
    async fn get_with(&self, uri: &str, tenant: Option<&str>) -> Reply {
        let tenant: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
        get(&self.router, uri, &tenant).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.get_with(uri, None).await
    }

    async fn ok_json(&self, uri: &str) -> Value {
        let r = self.get(uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        r.json()
    }

    async fn bad_request(&self, uri: &str) -> String {
        let r = self.get(uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        assert!(r.content_type().starts_with("text/plain"), "{uri}");
        r.text()
    }
}

/// The Zipkin trace as Clew serves it back: as sent, the shared half restored.
fn zipkin_trace_out() -> Value {
    json!([
        {
            "traceId": "463ac35c9f6413ad",
            "id": "a2fb4a1d1a96d312",
            "kind": "CLIENT",
            "name": "get /api",
            "timestamp": T0_US,
            "duration": 5000,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
            "remoteEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000},
            "annotations": [{"timestamp": T0_US + 100, "value": "ws"}],
            "tags": {"error": "503 from backend", "http.method": "GET", "otel.status_code": "ERROR"}
        },
        {
            "traceId": "463ac35c9f6413ad",
            "id": "a2fb4a1d1a96d312",
            "kind": "SERVER",
            "name": "get /api",
            "timestamp": T0_US + 500,
            "duration": 4000,
            "localEndpoint": {"serviceName": "backend"},
            "shared": true
        }
    ])
}

fn otlp_trace_out() -> Value {
    json!([{
        "traceId": "0102030405060708090a0b0c0d0e0f10",
        "id": "000000000000000b",
        "name": "render",
        "timestamp": T0_US + 20_000,
        "duration": 1000,
        "localEndpoint": {"serviceName": "backend"},
        "tags": {
            "host.name": "web-1",
            "n": "7",
            "otel.scope.name": "io.clew",
            "otel.scope.version": "1.0",
            "otel.status_code": "OK",
            "span.kind": "internal"
        }
    }])
}

fn window() -> String {
    format!("endTs={}&lookback=3600000", T0_MS + 100)
}

#[tokio::test]
async fn services_and_span_names() {
    let f = fixture().await;
    assert_eq!(
        f.ok_json("/api/v2/services").await,
        json!(["backend", "frontend"])
    );
    let r = f.get_with("/api/v2/services", Some("team-b")).await;
    assert_eq!(r.json(), json!(["isolated"]));

    assert_eq!(
        f.ok_json("/api/v2/spans?serviceName=backend").await,
        json!(["get /api", "render"])
    );
    assert_eq!(f.ok_json("/api/v2/spans?serviceName=nope").await, json!([]));
    assert_eq!(
        f.bad_request("/api/v2/spans").await,
        "serviceName is required"
    );
    let r = f.get_with("/api/v2/services", Some("../etc")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn remote_services() {
    let f = fixture().await;
    assert_eq!(
        f.ok_json("/api/v2/remoteServices?serviceName=frontend")
            .await,
        json!(["backend"])
    );
    assert_eq!(
        f.ok_json("/api/v2/remoteServices?serviceName=backend")
            .await,
        json!([])
    );
    f.bad_request("/api/v2/remoteServices").await;
}

#[tokio::test]
async fn trace_by_id() {
    let f = fixture().await;
    assert_eq!(
        f.ok_json("/api/v2/trace/463ac35c9f6413ad").await,
        zipkin_trace_out()
    );
    // The 32-digit form of a 64-bit id finds the same trace.
    assert_eq!(
        f.ok_json("/api/v2/trace/0000000000000000463ac35c9f6413ad")
            .await,
        zipkin_trace_out()
    );
    assert_eq!(
        f.ok_json("/api/v2/trace/0102030405060708090a0b0c0d0e0f10")
            .await,
        otlp_trace_out()
    );

    let r = f.get("/api/v2/trace/00000000000000ff").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.content_type().starts_with("text/plain"));
    assert_eq!(r.text(), "00000000000000ff not found");
    // Tenants are isolated.
    let r = f
        .get_with("/api/v2/trace/463ac35c9f6413ad", Some("team-b"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert!(
        f.bad_request("/api/v2/trace/not-hex")
            .await
            .contains("invalid trace id")
    );
}

#[tokio::test]
async fn traces_search() {
    let f = fixture().await;
    let w = window();
    let zipkin = json!([zipkin_trace_out()]);
    let otlp = json!([otlp_trace_out()]);

    for query in [
        "serviceName=frontend".to_owned(),
        "serviceName=backend&spanName=get%20/api".to_owned(),
        "remoteServiceName=backend".to_owned(),
        "annotationQuery=http.method%3DGET%20and%20error".to_owned(),
        "minDuration=4500".to_owned(),
    ] {
        assert_eq!(
            f.ok_json(&format!("/api/v2/traces?{query}&{w}")).await,
            zipkin,
            "{query}"
        );
    }
    for query in [
        "serviceName=backend&spanName=render",
        "annotationQuery=otel.status_code%3DOK",
        "maxDuration=2000",
    ] {
        assert_eq!(
            f.ok_json(&format!("/api/v2/traces?{query}&{w}")).await,
            otlp,
            "{query}"
        );
    }
    // `spanName=all` is any name; both traces, in the store's order.
    let both = f
        .ok_json(&format!(
            "/api/v2/traces?serviceName=backend&spanName=all&{w}"
        ))
        .await;
    let mut found: Vec<Value> = both.as_array().unwrap().clone();
    found.sort_by_key(|t| t[0]["traceId"].as_str().unwrap_or("").to_owned());
    assert_eq!(found, vec![otlp_trace_out(), zipkin_trace_out()]);
    assert_eq!(
        f.ok_json(&format!("/api/v2/traces?serviceName=backend&limit=1&{w}"))
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Defaults: now and one day back, which excludes the 2023 fixture.
    assert_eq!(f.ok_json("/api/v2/traces").await, json!([]));
    // A window that ends before the spans.
    assert_eq!(
        f.ok_json(&format!(
            "/api/v2/traces?endTs={}&lookback=1000",
            T0_MS - 10
        ))
        .await,
        json!([])
    );

    assert!(
        f.bad_request("/api/v2/traces?limit=x")
            .await
            .contains("limit")
    );
    assert!(
        f.bad_request("/api/v2/traces?endTs=-1")
            .await
            .contains("endTs")
    );
    assert!(
        f.bad_request("/api/v2/traces?minDuration=10&maxDuration=5")
            .await
            .contains("maxDuration")
    );
    assert!(
        f.bad_request("/api/v2/traces?annotationQuery=ws")
            .await
            .contains("\"ws\"")
    );
}

#[tokio::test]
async fn dependencies_and_autocomplete() {
    let f = fixture().await;
    assert_eq!(
        f.ok_json(&format!("/api/v2/dependencies?{}", window()))
            .await,
        json!([{"parent": "frontend", "child": "backend", "callCount": 1}])
    );
    assert!(
        f.bad_request("/api/v2/dependencies")
            .await
            .contains("endTs")
    );
    assert_eq!(f.ok_json("/api/v2/autocompleteKeys").await, json!([]));
    assert_eq!(
        f.ok_json("/api/v2/autocompleteValues?key=x").await,
        json!([])
    );
}

#[test]
fn annotation_query_terms() {
    assert_eq!(
        super::parse_annotation_query("http.method=GET and error and k=a=b").unwrap(),
        vec![
            ("http.method".to_owned(), "GET".to_owned()),
            ("error".to_owned(), "true".to_owned()),
            ("k".to_owned(), "a=b".to_owned()),
        ]
    );
    assert!(super::parse_annotation_query("=x").is_err());
}
