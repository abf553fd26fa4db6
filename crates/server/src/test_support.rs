//! What the server's test modules share: a real store in a temporary directory, the query
//! router over it, one way to call it ([`call`], [`get`], [`Reply`]), the three trace ids
//! every fixture uses, and OTLP-model builders (attributes, resources, spans, batches). Each
//! test module keeps its own data.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use clew_model::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, TraceBatch,
    TraceId, UnixNanos,
};
use clew_query::Querier;
use clew_store::{Durability, Store, StoreConfig};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::query_router;

/// A millisecond in nanoseconds.
pub(crate) const MS: u64 = 1_000_000;

/// Trace A: a 64-bit id (high half zero), so its Tempo form loses leading zeros.
pub(crate) fn trace_a() -> TraceId {
    TraceId::from_u64_pair(0, 0x1234_5678_9abc_def0)
}

/// Trace B: a full 128-bit id.
pub(crate) fn trace_b() -> TraceId {
    TraceId::from_u64_pair(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10)
}

/// Trace C: the id the fixtures store in tenant `team-b` only.
pub(crate) fn trace_c() -> TraceId {
    TraceId([0xcc; 16])
}

pub(crate) fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue::new(key, value)
}

/// A resource with only `service.name`.
pub(crate) fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![kv("service.name", AnyValue::String(service.into()))],
        dropped_attributes_count: 0,
    }
}

/// A span of `dur` nanoseconds from `start`; every other field default.
pub(crate) fn span(
    trace: TraceId,
    id: u64,
    parent: Option<u64>,
    name: &str,
    start: u64,
    dur: u64,
) -> Span {
    Span {
        trace_id: trace,
        span_id: SpanId::from_u64(id),
        parent_span_id: parent.map(SpanId::from_u64),
        name: name.into(),
        start: UnixNanos(start),
        end: UnixNanos(start + dur),
        ..Span::default()
    }
}

/// One resource's spans, grouped by instrumentation scope.
pub(crate) fn batch_scopes(resource: Resource, scopes: Vec<(Scope, Vec<Span>)>) -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource,
            schema_url: String::new(),
            scope_spans: scopes
                .into_iter()
                .map(|(scope, spans)| ScopeSpans {
                    scope,
                    schema_url: String::new(),
                    spans,
                })
                .collect(),
        }],
    }
}

/// One resource's spans under the default scope.
pub(crate) fn batch(resource: Resource, spans: Vec<Span>) -> TraceBatch {
    batch_scopes(resource, vec![(Scope::default(), spans)])
}

/// An empty store in a fresh temporary directory (kept alive by the returned guard).
pub(crate) fn temp_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Store::open(
        StoreConfig {
            data_dir: dir.path().to_path_buf(),
            durability: Durability::Relaxed,
            ..StoreConfig::default()
        },
        &mut registry,
    )
    .unwrap();
    (store, dir)
}

/// The whole query router over `store`.
pub(crate) fn router(store: Store) -> Router {
    query_router(Querier::new(Arc::new(store)))
}

/// A router's whole answer.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as text (lossy), for messages and plain-text answers.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test when it is not `application/json` or does not parse.
    pub(crate) fn json(&self) -> Value {
        assert_eq!(self.content_type(), "application/json", "{}", self.text());
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// Sends `req` through `router` and collects the answer.
pub(crate) async fn call(router: &Router, req: Request<Body>) -> Reply {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// `GET uri` with the given headers.
pub(crate) async fn get(router: &Router, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    call(router, req.body(Body::empty()).unwrap()).await
}
