//! Querier tests over a real store in a temporary directory.

use std::sync::Arc;

use clew_model::{
    AnyValue, DurationNanos, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId,
    SpanKind, Status, StatusCode, TenantId, TraceBatch, TraceId, UnixNanos,
};
use clew_store::{Store, StoreConfig};

use super::*;

fn span(trace: u8, id: u64, parent: Option<u64>, name: &str, start_ms: u64, dur_ms: u64) -> Span {
    Span {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId::from_u64(id),
        parent_span_id: parent.map(SpanId::from_u64),
        name: name.into(),
        kind: SpanKind::Server,
        start: UnixNanos(1_700_000_000_000_000_000 + start_ms * 1_000_000),
        end: UnixNanos(1_700_000_000_000_000_000 + (start_ms + dur_ms) * 1_000_000),
        ..Default::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes: vec![KeyValue::new(
                    "service.name",
                    AnyValue::String(service.into()),
                )],
                dropped_attributes_count: 0,
            },
            schema_url: String::new(),
            scope_spans: vec![ScopeSpans {
                scope: Scope::default(),
                schema_url: String::new(),
                spans,
            }],
        }],
    }
}

async fn querier(dir: &std::path::Path) -> Querier {
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Store::open(
        StoreConfig {
            data_dir: dir.to_path_buf(),
            ..StoreConfig::default()
        },
        &mut registry,
    )
    .unwrap();
    Querier::new(Arc::new(store))
}

#[tokio::test]
async fn assembles_and_searches() {
    let dir = tempfile::tempdir().unwrap();
    let q = querier(dir.path()).await;
    let t = TenantId::default();
    let mut failing = span(1, 2, Some(1), "SELECT", 10, 50);
    failing.kind = SpanKind::Client;
    failing.status = Status {
        code: StatusCode::Error,
        message: "timeout".into(),
    };
    failing.attributes.push(KeyValue::new(
        "db.system",
        AnyValue::String("postgresql".into()),
    ));
    q.store
        .append(&t, batch("api", vec![span(1, 1, None, "GET /", 0, 100)]))
        .await
        .unwrap();
    q.store
        .append(&t, batch("db", vec![failing]))
        .await
        .unwrap();
    q.store
        .append(
            &t,
            batch("api", vec![span(2, 1, None, "GET /health", 500, 1)]),
        )
        .await
        .unwrap();

    let trace = q.trace(&t, TraceId([1; 16])).await.unwrap().unwrap();
    assert_eq!(trace.spans.len(), 2);
    assert_eq!(trace.root().unwrap().span.name, "GET /");
    assert_eq!(trace.duration(), DurationNanos(100_000_000));
    assert_eq!(trace.error_count(), 1);
    assert_eq!(trace.services(), vec![("api".into(), 1), ("db".into(), 1)]);
    assert!(trace.warnings.is_empty(), "{:?}", trace.warnings);
    assert!(q.trace(&t, TraceId([9; 16])).await.unwrap().is_none());

    let all = q.search(&t, &TraceQuery::default()).await.unwrap();
    let ids: Vec<_> = all.iter().map(|t| t.trace_id).collect();
    assert_eq!(
        ids,
        vec![TraceId([2; 16]), TraceId([1; 16])],
        "newest first"
    );

    let errors = TraceQuery {
        tags: vec![("error".into(), "true".into())],
        ..Default::default()
    };
    let found = q.search(&t, &errors).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].trace_id, TraceId([1; 16]));

    let by_attr = TraceQuery {
        service: Some("db".into()),
        tags: vec![("db.system".into(), "postgresql".into())],
        min_duration: Some(DurationNanos(40_000_000)),
        ..Default::default()
    };
    assert_eq!(q.search(&t, &by_attr).await.unwrap().len(), 1);
    let too_slow = TraceQuery {
        service: Some("db".into()),
        min_duration: Some(DurationNanos(60_000_000)),
        ..Default::default()
    };
    assert!(q.search(&t, &too_slow).await.unwrap().is_empty());
    let limited = TraceQuery {
        limit: 1,
        ..Default::default()
    };
    assert_eq!(q.search(&t, &limited).await.unwrap().len(), 1);

    assert_eq!(q.services(&t).await.unwrap(), vec!["api", "db"]);
    let deps = q
        .dependencies(&t, UnixNanos(u64::MAX), DurationNanos(u64::MAX))
        .await
        .unwrap();
    assert_eq!(
        deps,
        vec![DependencyLink {
            parent: "api".into(),
            child: "db".into(),
            call_count: 1
        }]
    );
    let before = q
        .dependencies(
            &t,
            UnixNanos(1_600_000_000_000_000_000),
            DurationNanos(1_000_000_000),
        )
        .await
        .unwrap();
    assert!(before.is_empty());
    let ops = q.operations(&t, "api", None).await.unwrap();
    assert_eq!(
        ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        vec!["GET /", "GET /health"]
    );
    assert!(
        q.operations(&t, "db", Some(SpanKind::Server))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn skewed_child_is_shifted_into_its_parent_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let q = querier(dir.path()).await;
    let t = TenantId::default();
    // The db host's clock runs 1 s behind: its span starts before its parent.
    let child = span(3, 2, Some(1), "query", 0, 20);
    let mut grandchild = span(3, 3, Some(2), "parse", 5, 5);
    grandchild.kind = SpanKind::Internal;
    let parent = span(3, 1, None, "GET /", 1_000, 100);
    q.store
        .append(&t, batch("api", vec![parent]))
        .await
        .unwrap();
    q.store
        .append(&t, batch("db", vec![child, grandchild]))
        .await
        .unwrap();
    let trace = q.trace(&t, TraceId([3; 16])).await.unwrap().unwrap();
    assert_eq!(trace.warnings.len(), 1, "{:?}", trace.warnings);
    let by_id = |id: u64| {
        trace
            .spans
            .iter()
            .find(|s| s.span.span_id == SpanId::from_u64(id))
            .unwrap()
            .span
            .clone()
    };
    let (p, c, g) = (by_id(1), by_id(2), by_id(3));
    assert!(
        c.start >= p.start && c.end <= p.end,
        "child fits its parent"
    );
    assert_eq!(
        g.start.0 - c.start.0,
        5_000_000,
        "subtree moves with the child"
    );
    assert_eq!(trace.spans[0].span.span_id, SpanId::from_u64(1));
}

#[tokio::test]
async fn a_server_half_reusing_the_client_span_id_is_split_off() {
    let dir = tempfile::tempdir().unwrap();
    let q = querier(dir.path()).await;
    let t = TenantId::default();
    let mut client = span(4, 2, Some(1), "call", 10, 50);
    client.kind = SpanKind::Client;
    let server = span(4, 2, Some(1), "handle", 15, 30);
    q.store
        .append(
            &t,
            batch("web", vec![span(4, 1, None, "GET /", 0, 100), client]),
        )
        .await
        .unwrap();
    q.store
        .append(&t, batch("api", vec![server]))
        .await
        .unwrap();
    let trace = q.trace(&t, TraceId([4; 16])).await.unwrap().unwrap();
    assert_eq!(trace.spans.len(), 3);
    let handle = trace
        .spans
        .iter()
        .find(|s| s.span.name == "handle")
        .unwrap();
    assert_ne!(handle.span.span_id, SpanId::from_u64(2));
    assert_eq!(handle.span.parent_span_id, Some(SpanId::from_u64(2)));
    assert_eq!(
        handle.span.span_id,
        clew_model::zipkin::shared_span_id(SpanId::from_u64(2)),
        "the same id ingest gives spans marked shared"
    );
    assert!(trace.warnings.is_empty(), "{:?}", trace.warnings);
}
