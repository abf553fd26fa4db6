//! End-to-end tests of every query route, in process: a real store in a temporary
//! directory holding a known trace, the router called with `oneshot`, and the JSON compared
//! whole against the shapes the upstream sources write (see `docs/api-shapes.md`).

use axum::Router;
use axum::http::StatusCode;
use clew_model::otlp::proto::trace::v1 as pt;
use clew_model::{
    AnyValue, Event, Link, Resource, Scope, Span, SpanId, SpanKind, Status,
    StatusCode as SpanStatus, TenantId, TraceBatch, UnixNanos,
};
use prost::Message as _;
use serde_json::{Value, json};

use crate::tempo::{TempoTrace, TraceByIdResponse};
use crate::test_support::{
    MS, Reply, batch_scopes, get, kv, resource, router, temp_store, trace_a, trace_b, trace_c,
};

/// 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000_000_000_000;

fn frontend() -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", AnyValue::String("frontend".into())),
            kv("host.name", AnyValue::String("web-1".into())),
            kv("process.pid", AnyValue::Int(4242)),
        ],
        dropped_attributes_count: 0,
    }
}

fn backend() -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", AnyValue::String("backend".into())),
            kv("deployment.environment", AnyValue::String("prod".into())),
        ],
        dropped_attributes_count: 0,
    }
}

fn library_scope() -> Scope {
    Scope {
        name: "io.clew.test".into(),
        version: "1.2.0".into(),
        ..Scope::default()
    }
}

fn checkout_span() -> Span {
    Span {
        trace_id: trace_a(),
        span_id: SpanId::from_u64(1),
        parent_span_id: None,
        trace_state: "vendor=x".into(),
        flags: 0x101,
        name: "GET /checkout".into(),
        kind: SpanKind::Server,
        start: UnixNanos(T0),
        end: UnixNanos(T0 + 10 * MS + 500),
        attributes: vec![
            kv("http.method", AnyValue::String("GET".into())),
            kv("http.ok", AnyValue::Bool(true)),
            kv("http.status_code", AnyValue::Int(200)),
            kv("big", AnyValue::Int(9_007_199_254_740_993)),
            kv("ratio", AnyValue::Double(0.25)),
            kv("blob", AnyValue::Bytes(vec![1, 2, 3])),
            kv(
                "list",
                AnyValue::Array(vec![
                    AnyValue::String("a".into()),
                    AnyValue::Int(1),
                    AnyValue::Bool(true),
                ]),
            ),
            kv(
                "obj",
                AnyValue::KvList(vec![
                    kv("k1", AnyValue::String("v".into())),
                    kv("k2", AnyValue::Double(1.5)),
                ]),
            ),
        ],
        events: vec![
            Event {
                time: UnixNanos(T0 + MS),
                name: "cache miss".into(),
                attributes: vec![kv("cache.key", AnyValue::String("user:1".into()))],
                dropped_attributes_count: 0,
            },
            Event {
                time: UnixNanos(T0 + 9 * MS),
                name: "ignored".into(),
                attributes: vec![kv("event", AnyValue::String("explicit".into()))],
                dropped_attributes_count: 0,
            },
        ],
        status: Status {
            code: SpanStatus::Ok,
            message: String::new(),
        },
        ..Span::default()
    }
}

fn query_span() -> Span {
    Span {
        trace_id: trace_a(),
        span_id: SpanId::from_u64(2),
        parent_span_id: Some(SpanId::from_u64(1)),
        name: "SELECT cart".into(),
        kind: SpanKind::Client,
        start: UnixNanos(T0 + 2 * MS),
        end: UnixNanos(T0 + 7 * MS),
        attributes: vec![kv("db.system", AnyValue::String("postgresql".into()))],
        links: vec![
            Link {
                trace_id: trace_b(),
                span_id: SpanId::from_u64(0x0b),
                ..Link::default()
            },
            Link {
                trace_id: trace_b(),
                span_id: SpanId::from_u64(0x0c),
                attributes: vec![kv(
                    "opentracing.ref_type",
                    AnyValue::String("child_of".into()),
                )],
                ..Link::default()
            },
        ],
        status: Status {
            code: SpanStatus::Error,
            message: "db timeout".into(),
        },
        ..Span::default()
    }
}

fn render_span() -> Span {
    Span {
        trace_id: trace_a(),
        span_id: SpanId::from_u64(3),
        parent_span_id: Some(SpanId::from_u64(1)),
        name: "render".into(),
        kind: SpanKind::Internal,
        start: UnixNanos(T0 + 8 * MS),
        end: UnixNanos(T0 + 9 * MS),
        attributes: vec![kv("empty", AnyValue::Empty)],
        ..Span::default()
    }
}

fn consume_span() -> Span {
    Span {
        trace_id: trace_b(),
        span_id: SpanId::from_u64(0x0b),
        name: "consume".into(),
        kind: SpanKind::Consumer,
        start: UnixNanos(T0 + 20 * MS),
        end: UnixNanos(T0 + 25 * MS),
        ..Span::default()
    }
}

fn orphan_span() -> Span {
    Span {
        trace_id: trace_c(),
        span_id: SpanId::from_u64(0x21),
        parent_span_id: Some(SpanId::from_u64(0x99)),
        name: "orphan-op".into(),
        start: UnixNanos(T0 + 30 * MS),
        end: UnixNanos(T0 + 31 * MS),
        ..Span::default()
    }
}

/// Trace A as `Trace::to_batch` regroups it: frontend (checkout, render), then backend.
fn trace_a_batch() -> TraceBatch {
    let mut b = batch_scopes(
        frontend(),
        vec![(library_scope(), vec![checkout_span(), render_span()])],
    );
    b.resource_spans.extend(
        batch_scopes(backend(), vec![(Scope::default(), vec![query_span()])]).resource_spans,
    );
    b
}

struct Fixture {
    router: Router,
    _dir: tempfile::TempDir,
}

/// Trace A: three spans over two services. Trace B: one backend span that trace A links
/// to. Trace C, in tenant `team-b` only: one span whose parent is missing.
async fn fixture() -> Fixture {
    let (store, dir) = temp_store();
    let default = TenantId::default();
    // Spans arrive in separate requests and out of order, as exporters send them.
    store
        .append(
            &default,
            batch_scopes(backend(), vec![(Scope::default(), vec![query_span()])]),
        )
        .await
        .unwrap();
    store
        .append(
            &default,
            batch_scopes(
                frontend(),
                vec![(library_scope(), vec![render_span(), checkout_span()])],
            ),
        )
        .await
        .unwrap();
    store
        .append(
            &default,
            batch_scopes(backend(), vec![(Scope::default(), vec![consume_span()])]),
        )
        .await
        .unwrap();
    let isolated = resource("isolated");
    store
        .append(
            &TenantId::new("team-b").unwrap(),
            batch_scopes(isolated, vec![(Scope::default(), vec![orphan_span()])]),
        )
        .await
        .unwrap();
    Fixture {
        router: router(store),
        _dir: dir,
    }
}

impl Fixture {
    async fn get(&self, uri: &str) -> Reply {
        get(&self.router, uri, &[]).await
    }

    async fn get_with(&self, uri: &str, name: &str, value: &str) -> Reply {
        get(&self.router, uri, &[(name, value)]).await
    }

    async fn get_json(&self, uri: &str) -> (StatusCode, Value) {
        let r = self.get(uri).await;
        assert_eq!(r.content_type(), "application/json", "{uri}");
        (r.status, r.json())
    }
}

// ---------------------------------------------------------------- expected shapes

fn s(key: &str, value: &str) -> Value {
    json!({"key": key, "type": "string", "value": value})
}

/// Trace A in Jaeger's UI model.
fn jaeger_trace_a() -> Value {
    json!({
        "traceID": "123456789abcdef0",
        "spans": [
            {
                "traceID": "123456789abcdef0",
                "spanID": "0000000000000001",
                "flags": 1,
                "operationName": "GET /checkout",
                "references": [],
                "startTime": 1_700_000_000_000_000_u64,
                "duration": 10_000,
                "tags": [
                    s("otel.scope.name", "io.clew.test"),
                    s("otel.scope.version", "1.2.0"),
                    s("http.method", "GET"),
                    {"key": "http.ok", "type": "bool", "value": true},
                    {"key": "http.status_code", "type": "int64", "value": 200},
                    {"key": "big", "type": "int64", "value": "9007199254740993"},
                    {"key": "ratio", "type": "float64", "value": 0.25},
                    {"key": "blob", "type": "binary", "value": "AQID"},
                    s("list", "[\"a\",1,true]"),
                    s("obj", "{\"k1\":\"v\",\"k2\":1.5}"),
                    s("span.kind", "server"),
                    s("otel.status_code", "OK"),
                    s("w3c.tracestate", "vendor=x"),
                ],
                "logs": [
                    {"timestamp": 1_700_000_000_001_000_u64, "fields": [
                        s("event", "cache miss"),
                        s("cache.key", "user:1"),
                    ]},
                    {"timestamp": 1_700_000_000_009_000_u64, "fields": [s("event", "explicit")]},
                ],
                "processID": "p1",
                "warnings": null,
            },
            {
                "traceID": "123456789abcdef0",
                "spanID": "0000000000000002",
                "operationName": "SELECT cart",
                "references": [
                    {"refType": "CHILD_OF", "traceID": "123456789abcdef0", "spanID": "0000000000000001"},
                    {"refType": "FOLLOWS_FROM", "traceID": "0102030405060708090a0b0c0d0e0f10", "spanID": "000000000000000b"},
                    {"refType": "CHILD_OF", "traceID": "0102030405060708090a0b0c0d0e0f10", "spanID": "000000000000000c"},
                ],
                "startTime": 1_700_000_000_002_000_u64,
                "duration": 5_000,
                "tags": [
                    s("db.system", "postgresql"),
                    s("span.kind", "client"),
                    s("otel.status_code", "ERROR"),
                    {"key": "error", "type": "bool", "value": true},
                    s("otel.status_description", "db timeout"),
                ],
                "logs": [],
                "processID": "p2",
                "warnings": null,
            },
            {
                "traceID": "123456789abcdef0",
                "spanID": "0000000000000003",
                "operationName": "render",
                "references": [
                    {"refType": "CHILD_OF", "traceID": "123456789abcdef0", "spanID": "0000000000000001"},
                ],
                "startTime": 1_700_000_000_008_000_u64,
                "duration": 1_000,
                "tags": [
                    s("otel.scope.name", "io.clew.test"),
                    s("otel.scope.version", "1.2.0"),
                    s("empty", ""),
                    s("span.kind", "internal"),
                ],
                "logs": [],
                "processID": "p1",
                "warnings": null,
            },
        ],
        "processes": {
            "p1": {"serviceName": "frontend", "tags": [
                s("host.name", "web-1"),
                {"key": "process.pid", "type": "int64", "value": 4242},
            ]},
            "p2": {"serviceName": "backend", "tags": [s("deployment.environment", "prod")]},
        },
        "warnings": null,
    })
}

fn jaeger_trace_b() -> Value {
    json!({
        "traceID": "0102030405060708090a0b0c0d0e0f10",
        "spans": [{
            "traceID": "0102030405060708090a0b0c0d0e0f10",
            "spanID": "000000000000000b",
            "operationName": "consume",
            "references": [],
            "startTime": 1_700_000_000_020_000_u64,
            "duration": 5_000,
            "tags": [s("span.kind", "consumer")],
            "logs": [],
            "processID": "p1",
            "warnings": null,
        }],
        "processes": {
            "p1": {"serviceName": "backend", "tags": [s("deployment.environment", "prod")]},
        },
        "warnings": null,
    })
}

fn ok_envelope(data: Value, total: usize) -> Value {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null})
}

fn error_envelope(code: u16, msg: &str) -> Value {
    json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]})
}

/// Trace A's resource spans as Jaeger's api_v3 (OTLP pdata JSON) writes them.
fn pdata_trace_a() -> Value {
    let str_v = |v: &str| json!({"stringValue": v});
    json!([
        {
            "resource": {"attributes": [
                {"key": "service.name", "value": str_v("frontend")},
                {"key": "host.name", "value": str_v("web-1")},
                {"key": "process.pid", "value": {"intValue": "4242"}},
            ]},
            "scopeSpans": [{
                "scope": {"name": "io.clew.test", "version": "1.2.0"},
                "spans": [
                    {
                        "traceId": "0000000000000000123456789abcdef0",
                        "spanId": "0000000000000001",
                        "traceState": "vendor=x",
                        "flags": 257,
                        "name": "GET /checkout",
                        "kind": 2,
                        "startTimeUnixNano": "1700000000000000000",
                        "endTimeUnixNano": "1700000000010000500",
                        "attributes": [
                            {"key": "http.method", "value": str_v("GET")},
                            {"key": "http.ok", "value": {"boolValue": true}},
                            {"key": "http.status_code", "value": {"intValue": "200"}},
                            {"key": "big", "value": {"intValue": "9007199254740993"}},
                            {"key": "ratio", "value": {"doubleValue": 0.25}},
                            {"key": "blob", "value": {"bytesValue": "AQID"}},
                            {"key": "list", "value": {"arrayValue": {"values": [
                                str_v("a"), {"intValue": "1"}, {"boolValue": true},
                            ]}}},
                            {"key": "obj", "value": {"kvlistValue": {"values": [
                                {"key": "k1", "value": str_v("v")},
                                {"key": "k2", "value": {"doubleValue": 1.5}},
                            ]}}},
                        ],
                        "events": [
                            {"timeUnixNano": "1700000000001000000", "name": "cache miss",
                             "attributes": [{"key": "cache.key", "value": str_v("user:1")}]},
                            {"timeUnixNano": "1700000000009000000", "name": "ignored",
                             "attributes": [{"key": "event", "value": str_v("explicit")}]},
                        ],
                        "status": {"code": 1},
                    },
                    {
                        "traceId": "0000000000000000123456789abcdef0",
                        "spanId": "0000000000000003",
                        "parentSpanId": "0000000000000001",
                        "name": "render",
                        "kind": 1,
                        "startTimeUnixNano": "1700000000008000000",
                        "endTimeUnixNano": "1700000000009000000",
                        "attributes": [{"key": "empty", "value": {}}],
                        "status": {},
                    },
                ],
            }],
        },
        {
            "resource": {"attributes": [
                {"key": "service.name", "value": str_v("backend")},
                {"key": "deployment.environment", "value": str_v("prod")},
            ]},
            "scopeSpans": [{
                "scope": {},
                "spans": [{
                    "traceId": "0000000000000000123456789abcdef0",
                    "spanId": "0000000000000002",
                    "parentSpanId": "0000000000000001",
                    "name": "SELECT cart",
                    "kind": 3,
                    "startTimeUnixNano": "1700000000002000000",
                    "endTimeUnixNano": "1700000000007000000",
                    "attributes": [{"key": "db.system", "value": str_v("postgresql")}],
                    "links": [
                        {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "000000000000000b"},
                        {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "000000000000000c",
                         "attributes": [{"key": "opentracing.ref_type", "value": str_v("child_of")}]},
                    ],
                    "status": {"message": "db timeout", "code": 2},
                }],
            }],
        },
    ])
}

const RANGE_V3: &str =
    "query.startTimeMin=2023-11-14T22:00:00Z&query.startTimeMax=2023-11-14T23:00:00Z";

// ---------------------------------------------------------------- Jaeger v1

#[tokio::test]
async fn v1_services_and_operations() {
    let f = fixture().await;
    assert_eq!(
        f.get_json("/api/services").await,
        (
            StatusCode::OK,
            ok_envelope(json!(["backend", "frontend"]), 2)
        )
    );
    assert_eq!(
        f.get_json("/api/services/frontend/operations").await,
        (
            StatusCode::OK,
            ok_envelope(json!(["GET /checkout", "render"]), 2)
        )
    );
    assert_eq!(
        f.get_json("/api/services/nope/operations").await,
        (StatusCode::OK, ok_envelope(json!([]), 0))
    );
    assert_eq!(
        f.get_json("/api/operations?service=backend").await,
        (
            StatusCode::OK,
            ok_envelope(
                json!([
                    {"name": "SELECT cart", "spanKind": "client"},
                    {"name": "consume", "spanKind": "consumer"},
                ]),
                2
            )
        )
    );
    assert_eq!(
        f.get_json("/api/operations?service=backend&spanKind=consumer")
            .await,
        (
            StatusCode::OK,
            ok_envelope(json!([{"name": "consume", "spanKind": "consumer"}]), 1)
        )
    );
    assert_eq!(
        f.get_json("/api/operations").await,
        (
            StatusCode::BAD_REQUEST,
            error_envelope(400, "parameter 'service' is required")
        )
    );
    assert_eq!(
        f.get_json("/api/operations?service=backend&spanKind=sideways")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn v1_trace_by_id() {
    let f = fixture().await;
    let want = ok_envelope(json!([jaeger_trace_a()]), 0);
    // Jaeger's 16-digit form, the full 32-digit form, leading zeros dropped, and base64.
    for id in [
        "123456789abcdef0",
        "0000000000000000123456789abcdef0",
        "123456789ABCDEF0",
        "AAAAAAAAAAASNFZ4mrze8A==",
    ] {
        assert_eq!(
            f.get_json(&format!("/api/traces/{id}")).await,
            (StatusCode::OK, want.clone()),
            "{id}"
        );
    }
    assert_eq!(
        f.get_json("/api/traces/0102030405060708090a0b0c0d0e0f10?start=1&end=2")
            .await,
        (StatusCode::OK, ok_envelope(json!([jaeger_trace_b()]), 0))
    );
    assert_eq!(
        f.get_json("/api/traces/00000000000000000000000000000bad")
            .await,
        (
            StatusCode::NOT_FOUND,
            error_envelope(404, "trace not found")
        )
    );
    for bad in ["/api/traces/not-hex!", "/api/traces/abc?start=soon"] {
        let (status, body) = f.get_json(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["errors"][0]["code"], json!(400), "{bad}");
        assert_eq!(body["data"], Value::Null);
    }
}

#[tokio::test]
async fn v1_search() {
    let f = fixture().await;
    let window = "start=1699999999000000&end=1700000001000000";
    // Newest first: B starts after A.
    assert_eq!(
        f.get_json(&format!("/api/traces?{window}")).await,
        (
            StatusCode::OK,
            ok_envelope(json!([jaeger_trace_b(), jaeger_trace_a()]), 0)
        )
    );
    let cases = [
        ("service=frontend", vec![jaeger_trace_a()]),
        ("service=backend&operation=consume", vec![jaeger_trace_b()]),
        // Grafana sends tags as a JSON map; older clients repeat tag=k:v.
        (
            "tags=%7B%22error%22%3A%22true%22%7D",
            vec![jaeger_trace_a()],
        ),
        ("tag=http.method:GET", vec![jaeger_trace_a()]),
        ("tag=db.system:mysql", vec![]),
        (
            "service=backend&minDuration=4.5ms&maxDuration=5ms",
            vec![jaeger_trace_b(), jaeger_trace_a()],
        ),
        ("minDuration=6ms", vec![jaeger_trace_a()]),
        ("limit=1", vec![jaeger_trace_b()]),
        ("service=nope", vec![]),
    ];
    for (query, want) in cases {
        assert_eq!(
            f.get_json(&format!("/api/traces?{window}&{query}")).await,
            (StatusCode::OK, ok_envelope(json!(want), 0)),
            "{query}"
        );
    }
    // Outside the time window.
    assert_eq!(
        f.get_json("/api/traces?start=1&end=2").await,
        (StatusCode::OK, ok_envelope(json!([]), 0))
    );
    // Traces by id, with a not-found error listed beside the data.
    assert_eq!(
        f.get_json("/api/traces?traceID=123456789abcdef0&traceID=bad0")
            .await,
        (
            StatusCode::OK,
            json!({
                "data": [jaeger_trace_a()], "total": 0, "limit": 0, "offset": 0,
                "errors": [{"msg": "trace not found", "traceID": "000000000000bad0"}],
            })
        )
    );
    let (status, body) = f.get_json("/api/traces?minDuration=fast").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        error_envelope(
            400,
            "unable to parse param 'minDuration': time: invalid duration \"fast\""
        )
    );
}

#[tokio::test]
async fn tenants_are_isolated() {
    let f = fixture().await;
    let team_b = |uri: &'static str| f.get_with(uri, "X-Scope-OrgID", "team-b");
    let r = team_b("/api/services").await;
    assert_eq!(r.json(), ok_envelope(json!(["isolated"]), 1));
    let r = team_b("/api/traces/123456789abcdef0").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = team_b("/api/v3/services").await;
    assert_eq!(r.json(), json!({"services": ["isolated"]}));
    let r = team_b("/api/v2/traces/123456789abcdef0").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The orphan in team-b's trace is reported as a trace warning.
    let r = team_b("/api/traces/cccccccccccccccccccccccccccccccc").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["data"][0]["warnings"],
        json!(["span 0000000000000021 has parent 0000000000000099 that is not in the trace"])
    );

    let r = f.get_with("/api/services", "X-Scope-OrgID", "../etc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errors"][0]["code"], json!(400));
    let r = f.get_with("/api/v3/services", "X-Scope-OrgID", "a/b").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["httpCode"], json!(400));
    let r = f.get_with("/api/v2/traces/abc", "X-Scope-OrgID", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------- Jaeger v3

#[tokio::test]
async fn v3_services_and_operations() {
    let f = fixture().await;
    assert_eq!(
        f.get_json("/api/v3/services").await,
        (StatusCode::OK, json!({"services": ["backend", "frontend"]}))
    );
    let r = f
        .get_with("/api/v3/services", "X-Scope-OrgID", "nobody")
        .await;
    assert_eq!(r.json(), json!({"services": []}));
    assert_eq!(
        f.get_json("/api/v3/operations?service=frontend").await,
        (
            StatusCode::OK,
            json!({"operations": [
                {"name": "GET /checkout", "spanKind": "server"},
                {"name": "render", "spanKind": "internal"},
            ]})
        )
    );
    let (status, body) = f
        .get_json("/api/v3/operations?service=frontend&spanKind=sideways")
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": {"httpCode": 400, "message": "unsupported span kind: 'sideways'"}})
        )
    );
    for q in ["spanKind=server", "span_kind=server"] {
        assert_eq!(
            f.get_json(&format!("/api/v3/operations?service=frontend&{q}"))
                .await,
            (
                StatusCode::OK,
                json!({"operations": [{"name": "GET /checkout", "spanKind": "server"}]})
            )
        );
    }
}

#[tokio::test]
async fn v3_trace_by_id() {
    let f = fixture().await;
    let want = json!({"result": {"resourceSpans": pdata_trace_a()}});
    for id in [
        "0000000000000000123456789abcdef0",
        "123456789abcdef0",
        "AAAAAAAAAAASNFZ4mrze8A",
    ] {
        assert_eq!(
            f.get_json(&format!("/api/v3/traces/{id}")).await,
            (StatusCode::OK, want.clone()),
            "{id}"
        );
    }
    assert_eq!(
        f.get_json("/api/v3/traces/123456789abcdef0?startTime=2023-11-14T22:00:00Z&end_time=2023-11-14T23:00:00Z&raw_traces=true")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        f.get_json("/api/v3/traces/00000000000000000000000000000bad")
            .await,
        (
            StatusCode::NOT_FOUND,
            json!({"error": {"httpCode": 404, "message": "No traces found"}})
        )
    );
    let (status, body) = f.get_json("/api/v3/traces/zz!").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["httpCode"], json!(400));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed parameter trace_id: "),
        "{body}"
    );
    let (status, _) = f.get_json("/api/v3/traces/abc?startTime=noon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn v3_find_traces() {
    let f = fixture().await;
    let (status, body) = f
        .get_json(&format!(
            "/api/v3/traces?{RANGE_V3}&query.serviceName=frontend"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"result": {"resourceSpans": pdata_trace_a()}}));

    // Several traces are combined into one result, newest trace first.
    let (status, body) = f
        .get_json(&format!(
            "/api/v3/traces?{RANGE_V3}&query.service_name=backend"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let spans: Vec<&str> = body["result"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"][0]["spans"].as_array().unwrap())
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(spans, ["consume", "GET /checkout", "render", "SELECT cart"]);

    let (status, body) = f
        .get_json(&format!(
            "/api/v3/traces?{RANGE_V3}&query.attributes=%7B%22db.system%22%3A%22mysql%22%7D"
        ))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"error": {"httpCode": 404, "message": "No traces found"}})
        )
    );
    let (status, body) = f
        .get_json("/api/v3/traces?query.serviceName=frontend")
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": {"httpCode": 400, "message": "query.startTimeMin and query.startTimeMax are required"}})
        )
    );
}

#[tokio::test]
async fn v3_trace_summaries() {
    let f = fixture().await;
    let (status, body) = f
        .get_json(&format!(
            "/api/v3/trace-summaries?{RANGE_V3}&query.searchDepth=20"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"summaries": [
            {
                "traceId": "0102030405060708090a0b0c0d0e0f10",
                "rootServiceName": "backend",
                "rootOperationName": "consume",
                "minStartTimeUnixNano": "1700000000020000000",
                "maxEndTimeUnixNano": "1700000000025000000",
                "spanCount": 1,
                "services": [{"name": "backend", "spanCount": 1}],
            },
            {
                "traceId": "0000000000000000123456789abcdef0",
                "rootServiceName": "frontend",
                "rootOperationName": "GET /checkout",
                "minStartTimeUnixNano": "1700000000000000000",
                "maxEndTimeUnixNano": "1700000000010000500",
                "spanCount": 3,
                "errorSpanCount": 1,
                "services": [
                    {"name": "backend", "spanCount": 1, "errorSpanCount": 1},
                    {"name": "frontend", "spanCount": 2},
                ],
            },
        ]})
    );
    let r = f
        .get_with(
            &format!("/api/v3/trace-summaries?{RANGE_V3}"),
            "X-Scope-OrgID",
            "team-b",
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"summaries": [{
            "traceId": "cccccccccccccccccccccccccccccccc",
            "rootServiceName": "isolated",
            "rootOperationName": "orphan-op",
            "minStartTimeUnixNano": "1700000000030000000",
            "maxEndTimeUnixNano": "1700000000031000000",
            "spanCount": 1,
            "orphanSpanCount": 1,
            "services": [{"name": "isolated", "spanCount": 1}],
        }]})
    );
    // No match is an empty list, not a 404.
    assert_eq!(
        f.get_json(&format!(
            "/api/v3/trace-summaries?{RANGE_V3}&query.serviceName=nope"
        ))
        .await,
        (StatusCode::OK, json!({"summaries": []}))
    );
    assert_eq!(
        f.get_json("/api/v3/trace-summaries?query.startTimeMin=x&query.startTimeMax=y")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

// ---------------------------------------------------------------- Tempo

#[tokio::test]
async fn tempo_echo() {
    let f = fixture().await;
    let r = f.get("/api/echo").await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"echo"[..]));
}

#[tokio::test]
async fn tempo_v1_protobuf_decodes_to_the_trace() {
    let f = fixture().await;
    let r = f
        .get_with(
            "/api/traces/123456789abcdef0",
            "Accept",
            "application/protobuf",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "application/protobuf");
    // tempopb.Trace and OTLP TracesData share field 1, so either type decodes it.
    let trace = TempoTrace::decode(r.body.clone()).unwrap();
    let data = pt::TracesData::decode(r.body).unwrap();
    assert_eq!(trace.resource_spans, data.resource_spans);
    let decoded = clew_model::otlp::batch_from_proto(data.resource_spans);
    assert_eq!(decoded.rejected_spans, 0);
    assert_eq!(decoded.batch, trace_a_batch());

    let r = f
        .get_with(
            "/api/traces/00000000000000000000000000000bad",
            "Accept",
            "application/protobuf",
        )
        .await;
    assert_eq!((r.status, r.body.len()), (StatusCode::NOT_FOUND, 0));
    let r = f
        .get_with("/api/traces/xyz", "Accept", "application/protobuf")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&r.body).contains("hex characters"));
}

#[tokio::test]
async fn tempo_v2_protobuf_decodes_to_the_trace() {
    let f = fixture().await;
    let r = f
        .get_with(
            "/api/v2/traces/123456789ABCDEF0?start=1699999000&end=1700001000",
            "Accept",
            "application/protobuf, */*",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "application/protobuf");
    let resp = TraceByIdResponse::decode(r.body).unwrap();
    assert_eq!(resp.status, 0);
    assert!(resp.metrics.is_some());
    let decoded = clew_model::otlp::batch_from_proto(resp.trace.unwrap().resource_spans);
    assert_eq!(decoded.batch, trace_a_batch());
}

#[tokio::test]
async fn tempo_v2_json() {
    let f = fixture().await;
    let r = f
        .get("/api/v2/traces/0102030405060708090a0b0c0d0e0f10")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "application/json");
    // gogo jsonpb: base64 ids, enum names, 64-bit integers as strings, `status` always there.
    assert_eq!(
        r.json(),
        json!({
            "trace": {"resourceSpans": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": "backend"}},
                    {"key": "deployment.environment", "value": {"stringValue": "prod"}},
                ]},
                "scopeSpans": [{
                    "scope": {},
                    "spans": [{
                        "traceId": "AQIDBAUGBwgJCgsMDQ4PEA==",
                        "spanId": "AAAAAAAAAAs=",
                        "name": "consume",
                        "kind": "SPAN_KIND_CONSUMER",
                        "startTimeUnixNano": "1700000000020000000",
                        "endTimeUnixNano": "1700000000025000000",
                        "status": {},
                    }],
                }],
            }]},
            "metrics": {},
        })
    );
    let r = f.get("/api/v2/traces/123456789abcdef0").await;
    let body = r.json();
    let query = &body["trace"]["resourceSpans"][1]["scopeSpans"][0]["spans"][0];
    assert_eq!(query["traceId"], json!("AAAAAAAAAAASNFZ4mrze8A=="));
    assert_eq!(query["parentSpanId"], json!("AAAAAAAAAAE="));
    assert_eq!(query["kind"], json!("SPAN_KIND_CLIENT"));
    assert_eq!(
        query["status"],
        json!({"message": "db timeout", "code": "STATUS_CODE_ERROR"})
    );
    assert_eq!(
        query["links"][0]["traceId"],
        json!("AQIDBAUGBwgJCgsMDQ4PEA==")
    );
}

#[tokio::test]
async fn tempo_v2_errors() {
    let f = fixture().await;
    let r = f
        .get("/api/v2/traces/00000000000000000000000000000bad")
        .await;
    assert_eq!((r.status, r.body.len()), (StatusCode::NOT_FOUND, 0));
    for bad in [
        "/api/v2/traces/not-hex",
        "/api/v2/traces/abc?start=10&end=5",
        "/api/v2/traces/abc?start=soon",
        "/api/v2/traces/abc?mode=sometimes",
        "/api/v2/traces/0102030405060708090a0b0c0d0e0f1011",
    ] {
        let r = f.get(bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.content_type().starts_with("text/plain"), "{bad}");
    }
}

#[tokio::test]
async fn shared_trace_path_defaults_to_jaeger_json() {
    let f = fixture().await;
    for accept in ["application/json", "*/*"] {
        let r = f
            .get_with("/api/traces/123456789abcdef0", "Accept", accept)
            .await;
        assert_eq!(
            r.json(),
            ok_envelope(json!([jaeger_trace_a()]), 0),
            "{accept}"
        );
    }
}

#[test]
fn every_file_starts_with_a_module_doc() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut count = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("//!"),
                "{} must start with `//!`",
                path.display()
            );
            count += 1;
        }
    }
    assert!(count >= 8, "found only {count} files");
}

#[tokio::test]
async fn v1_dependencies() {
    let f = fixture().await;
    let (status, body) = f
        .get_json("/api/dependencies?endTs=99999999999999&lookback=99999999999999")
        .await;
    assert_eq!(status, StatusCode::OK);
    let links = body["data"].as_array().unwrap();
    assert!(
        links.iter().any(|l| l["parent"] == "frontend"
            && l["child"] == "backend"
            && l["callCount"].as_u64() >= Some(1)),
        "{body}"
    );
    assert!(links.iter().all(|l| l["parent"] != l["child"]), "{body}");
    let (_, past) = f.get_json("/api/dependencies?endTs=1000&lookback=10").await;
    assert_eq!(past, ok_envelope(json!([]), 0));
    assert_eq!(
        f.get_json("/api/dependencies?endTs=soon").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn clew_trace_carries_otlp_json_and_the_assembly_warnings() {
    let f = fixture().await;
    assert_eq!(
        f.get_json("/api/clew/traces/123456789abcdef0").await,
        (
            StatusCode::OK,
            json!({
                "traceId": "0000000000000000123456789abcdef0",
                "resourceSpans": pdata_trace_a(),
                "warnings": [],
            })
        )
    );
    let r = f
        .get_with(
            "/api/clew/traces/cccccccccccccccccccccccccccccccc",
            "X-Scope-OrgID",
            "team-b",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["warnings"],
        json!(["span 0000000000000021 has parent 0000000000000099 that is not in the trace"])
    );
    assert_eq!(
        f.get_json("/api/clew/traces/00000000000000000000000000000bad")
            .await,
        (
            StatusCode::NOT_FOUND,
            json!({"error": {"httpCode": 404, "message": "trace 00000000000000000000000000000bad not found"}})
        )
    );
    let (status, body) = f.get_json("/api/clew/traces/zz!").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["httpCode"], json!(400));
}
