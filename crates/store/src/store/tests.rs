//! Store-level tests: appends through the WAL writer, reads, restarts, backpressure,
//! shutdown, cuts and metrics, each on a fresh temporary data directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clew_model::{
    AnyValue, DurationNanos, Event, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span,
    SpanId, Status, StatusCode, UnixNanos,
};
use prometheus_client::encoding::text::encode;

use super::*;

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn tid(n: u8) -> TraceId {
    TraceId([n; 16])
}

fn span(trace: u8, span: u8, name: &str, start: u64, duration: u64) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: SpanId([span; 8]),
        name: name.into(),
        start: UnixNanos(start),
        end: UnixNanos(start + duration),
        ..Default::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> TraceBatch {
    batch_with_resource(
        vec![KeyValue::new(
            "service.name",
            AnyValue::String(service.into()),
        )],
        spans,
    )
}

fn batch_with_resource(attributes: Vec<KeyValue>, spans: Vec<Span>) -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes,
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

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        data_dir: dir.to_owned(),
        ..StoreConfig::default()
    }
}

fn open(config: StoreConfig) -> (Store, Registry) {
    let mut registry = Registry::default();
    let store = Store::open(config, &mut registry).unwrap();
    (store, registry)
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

fn segments(dir: &Path, tenant: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("tenants").join(tenant).join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

async fn all_ids(store: &Store, t: &TenantId) -> Vec<TraceId> {
    store
        .find_trace_ids(t, &SpanFilter::default(), usize::MAX)
        .await
        .unwrap()
}

/// Two traces over three services, as the shared fixture of several tests.
async fn append_fixture(store: &Store, t: &TenantId) {
    let mut get = span(1, 1, "GET /users", 1_000, 500);
    get.kind = SpanKind::Server;
    let mut query = span(1, 2, "SELECT users", 1_100, 200);
    query.kind = SpanKind::Client;
    query.parent_span_id = Some(SpanId([1; 8]));
    store.append(t, batch("api", vec![get])).await.unwrap();
    store.append(t, batch("db", vec![query])).await.unwrap();
    let mut post = span(2, 1, "POST /users", 2_000, 900);
    post.kind = SpanKind::Server;
    let mut post_internal = span(2, 2, "GET /users", 2_100, 10);
    post_internal.kind = SpanKind::Internal;
    store
        .append(t, batch("api", vec![post, post_internal]))
        .await
        .unwrap();
    store
        .append(t, batch("worker", vec![span(2, 3, "job", 2_200, 5)]))
        .await
        .unwrap();
}

async fn assert_fixture(store: &Store, t: &TenantId) {
    let mut spans = store.trace(t, tid(1)).await.unwrap();
    spans.sort_by_key(|s| s.span.start);
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    assert_eq!(names, ["GET /users", "SELECT users"]);
    assert_eq!(spans[1].service_name(), "db");
    assert_eq!(store.trace(t, tid(2)).await.unwrap().len(), 3);
    assert!(store.trace(t, tid(9)).await.unwrap().is_empty());
    assert_eq!(all_ids(store, t).await, [tid(2), tid(1)]);
    assert_eq!(store.services(t).await.unwrap(), ["api", "db", "worker"]);
    assert_eq!(
        store.operations(t, "api").await.unwrap(),
        [
            ("GET /users".to_owned(), SpanKind::Internal),
            ("GET /users".to_owned(), SpanKind::Server),
            ("POST /users".to_owned(), SpanKind::Server),
        ]
    );
    assert!(store.operations(t, "nope").await.unwrap().is_empty());
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[tokio::test]
async fn append_then_read() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let t = tenant("a");
    append_fixture(&store, &t).await;
    assert_fixture(&store, &t).await;
    assert_eq!(store.tenants(), [t]);
}

#[tokio::test]
async fn restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (tenant("a"), tenant("b"));
    {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &a).await;
        store
            .append(&b, batch("other", vec![span(7, 1, "x", 5, 5)]))
            .await
            .unwrap();
    }
    let (store, registry) = open(config(dir.path()));
    assert_fixture(&store, &a).await;
    assert_eq!(all_ids(&store, &b).await, [tid(7)]);
    assert_eq!(store.tenants(), [a.clone(), b]);
    let reports = store.replay_reports();
    assert_eq!(reports.len(), 2);
    let report = reports.iter().find(|r| r.tenant == a).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        (report.segments_read, report.records, report.spans),
        (1, 4, 5)
    );
    let text = metrics_text(&registry);
    assert!(text.contains(r#"clew_head_spans{tenant="a"} 5"#), "{text}");
    assert!(
        text.contains(r#"clew_wal_segments{tenant="a"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn duplicate_appends_are_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let retried = || batch("api", vec![span(1, 1, "x", 10, 5), span(1, 2, "y", 11, 5)]);
    {
        let (store, _) = open(config(dir.path()));
        store.append(&t, retried()).await.unwrap();
        store.append(&t, retried()).await.unwrap();
        assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 2);
    }
    let (store, _) = open(config(dir.path()));
    assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 2);
    let report = &store.replay_reports()[0];
    assert_eq!((report.spans, report.duplicate_spans), (4, 2));
}

#[tokio::test]
async fn overloaded_when_the_pending_budget_is_tiny() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open(StoreConfig {
        max_pending_bytes: 16,
        ..config(dir.path())
    });
    let t = tenant("a");
    let err = store
        .append(&t, batch("api", vec![span(1, 1, "x", 10, 5)]))
        .await
        .unwrap_err();
    match err {
        AppendError::Overloaded { retry_after } => assert!(retry_after >= Duration::from_secs(1)),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    assert!(all_ids(&store, &t).await.is_empty());
    // Refused before anything was created or queued.
    assert!(store.tenants().is_empty());
    assert_eq!(store.pending.bytes(), 0);
    assert!(metrics_text(&registry).contains("clew_wal_pending_bytes 0"));
}

#[tokio::test]
async fn a_batch_over_the_record_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let mut huge = span(1, 1, "x", 10, 5);
    huge.attributes = vec![KeyValue::new(
        "blob",
        AnyValue::String("x".repeat(wal::MAX_RECORD_BYTES as usize)),
    )];
    let err = store
        .append(&tenant("a"), batch("api", vec![huge]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppendError::Io(e) if e.kind() == io::ErrorKind::InvalidInput),
        "{err:?}"
    );
    assert_eq!(store.pending.bytes(), 0);
}

#[tokio::test]
async fn shutdown_then_append_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    {
        let (store, _) = open(config(dir.path()));
        store
            .append(&t, batch("api", vec![span(1, 1, "x", 10, 5)]))
            .await
            .unwrap();
        store.shutdown().await.unwrap();
        let refused = store
            .append(&t, batch("api", vec![span(2, 1, "x", 10, 5)]))
            .await;
        assert!(
            matches!(refused, Err(AppendError::ShuttingDown)),
            "{refused:?}"
        );
        let new_tenant = store
            .append(&tenant("b"), batch("api", vec![span(3, 1, "x", 10, 5)]))
            .await;
        assert!(matches!(new_tenant, Err(AppendError::ShuttingDown)));
        // Reads are still served, and a second shutdown is harmless.
        assert_eq!(all_ids(&store, &t).await, [tid(1)]);
        store.shutdown().await.unwrap();
        assert_eq!(store.pending.bytes(), 0);
    }
    let (store, _) = open(config(dir.path()));
    assert_eq!(all_ids(&store, &t).await, [tid(1)]);
    assert_eq!(store.tenants(), [t]);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let (a, b) = (tenant("a"), tenant("b"));
    store
        .append(&a, batch("api", vec![span(1, 1, "x", 10, 5)]))
        .await
        .unwrap();
    store
        .append(&b, batch("web", vec![span(2, 1, "y", 10, 5)]))
        .await
        .unwrap();
    assert_eq!(all_ids(&store, &a).await, [tid(1)]);
    assert_eq!(all_ids(&store, &b).await, [tid(2)]);
    assert!(store.trace(&a, tid(2)).await.unwrap().is_empty());
    assert_eq!(store.services(&a).await.unwrap(), ["api"]);
    assert_eq!(store.services(&b).await.unwrap(), ["web"]);
    assert!(store.operations(&a, "web").await.unwrap().is_empty());
    assert!(all_ids(&store, &tenant("c")).await.is_empty());
    assert_eq!(segments(dir.path(), "a").len(), 1);
    assert_eq!(segments(dir.path(), "b").len(), 1);
}

/// Each row: a filter, and the traces it must find, newest first.
#[tokio::test]
async fn filters_find_traces_by_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let t = tenant("a");
    // Trace 1 (start 100): api server span, OK, tag http.method=GET.
    let mut s1 = span(1, 1, "GET /a", 100, 50);
    s1.kind = SpanKind::Server;
    s1.status = Status {
        code: StatusCode::Ok,
        message: String::new(),
    };
    s1.attributes = vec![KeyValue::new("http.method", AnyValue::String("GET".into()))];
    store.append(&t, batch("api", vec![s1])).await.unwrap();
    // Trace 2 (start 200): db client span with an error and an exception event.
    let mut s2 = span(2, 1, "SELECT", 200, 1_000);
    s2.kind = SpanKind::Client;
    s2.status = Status {
        code: StatusCode::Error,
        message: "boom".into(),
    };
    s2.events = vec![Event {
        name: "exception".into(),
        attributes: vec![KeyValue::new(
            "exception.type",
            AnyValue::String("Timeout".into()),
        )],
        ..Default::default()
    }];
    let db = vec![
        KeyValue::new("service.name", AnyValue::String("db".into())),
        KeyValue::new("region", AnyValue::String("eu".into())),
        KeyValue::new("shard", AnyValue::Int(3)),
    ];
    store
        .append(&t, batch_with_resource(db, vec![s2]))
        .await
        .unwrap();
    // Trace 3 (start 300): api again, internal, short.
    let mut s3 = span(3, 1, "GET /a", 300, 5);
    s3.kind = SpanKind::Internal;
    store.append(&t, batch("api", vec![s3])).await.unwrap();

    let s = |v: &str| Some(v.to_owned());
    let tag = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    let cases: Vec<(SpanFilter, Vec<u8>)> = vec![
        (SpanFilter::default(), vec![3, 2, 1]),
        (
            SpanFilter {
                service: s("api"),
                ..Default::default()
            },
            vec![3, 1],
        ),
        (
            SpanFilter {
                service: s("nope"),
                ..Default::default()
            },
            vec![],
        ),
        (
            SpanFilter {
                operation: s("GET /a"),
                ..Default::default()
            },
            vec![3, 1],
        ),
        (
            SpanFilter {
                service: s("api"),
                operation: s("GET /a"),
                ..Default::default()
            },
            vec![3, 1],
        ),
        (
            SpanFilter {
                service: s("db"),
                operation: s("GET /a"),
                ..Default::default()
            },
            vec![],
        ),
        (
            SpanFilter {
                kind: Some(SpanKind::Server),
                ..Default::default()
            },
            vec![1],
        ),
        (
            SpanFilter {
                service: s("api"),
                kind: Some(SpanKind::Internal),
                ..Default::default()
            },
            vec![3],
        ),
        (
            SpanFilter {
                status: Some(StatusCode::Error),
                ..Default::default()
            },
            vec![2],
        ),
        (
            SpanFilter {
                status: Some(StatusCode::Unset),
                ..Default::default()
            },
            vec![3],
        ),
        (
            SpanFilter {
                attributes: tag("http.method", "GET"),
                ..Default::default()
            },
            vec![1],
        ),
        (
            SpanFilter {
                attributes: tag("region", "eu"),
                ..Default::default()
            },
            vec![2],
        ),
        (
            SpanFilter {
                attributes: tag("shard", "3"),
                ..Default::default()
            },
            vec![2],
        ),
        (
            SpanFilter {
                attributes: tag("exception.type", "Timeout"),
                ..Default::default()
            },
            vec![2],
        ),
        (
            SpanFilter {
                attributes: tag("region", "us"),
                ..Default::default()
            },
            vec![],
        ),
        (
            SpanFilter {
                min_duration: Some(DurationNanos(50)),
                ..Default::default()
            },
            vec![2, 1],
        ),
        (
            SpanFilter {
                max_duration: Some(DurationNanos(50)),
                ..Default::default()
            },
            vec![3, 1],
        ),
        (
            SpanFilter {
                min_duration: Some(DurationNanos(50)),
                max_duration: Some(DurationNanos(50)),
                ..Default::default()
            },
            vec![1],
        ),
        (
            SpanFilter {
                start_min: Some(UnixNanos(200)),
                ..Default::default()
            },
            vec![3, 2],
        ),
        (
            SpanFilter {
                start_max: Some(UnixNanos(200)),
                ..Default::default()
            },
            vec![2, 1],
        ),
        (
            SpanFilter {
                service: s("api"),
                start_min: Some(UnixNanos(101)),
                start_max: Some(UnixNanos(300)),
                ..Default::default()
            },
            vec![3],
        ),
        // Conditions hold on one span: api has a Server span and an Internal span, never
        // a short Server one.
        (
            SpanFilter {
                kind: Some(SpanKind::Server),
                max_duration: Some(DurationNanos(10)),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (filter, want) in cases {
        let want: Vec<TraceId> = want.into_iter().map(tid).collect();
        assert_eq!(
            store.find_trace_ids(&t, &filter, 10).await.unwrap(),
            want,
            "{filter:?}"
        );
    }
    let newest_two = store
        .find_trace_ids(&t, &SpanFilter::default(), 2)
        .await
        .unwrap();
    assert_eq!(newest_two, [tid(3), tid(2)]);
    assert!(
        store
            .find_trace_ids(&t, &SpanFilter::default(), 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn equal_starts_order_by_trace_id_descending() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let t = tenant("a");
    for n in [4, 9, 1] {
        store
            .append(&t, batch("api", vec![span(n, 1, "x", 500, 5)]))
            .await
            .unwrap();
    }
    assert_eq!(all_ids(&store, &t).await, [tid(9), tid(4), tid(1)]);
}

#[tokio::test]
async fn spans_with_zero_ids_are_not_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let t = tenant("a");
    let mut zero = span(0, 1, "x", 10, 5);
    zero.trace_id = TraceId([0; 16]);
    store
        .append(&t, batch("api", vec![zero, span(1, 1, "y", 10, 5)]))
        .await
        .unwrap();
    assert_eq!(all_ids(&store, &t).await, [tid(1)]);
}

#[tokio::test]
async fn a_torn_tail_is_cut_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &t).await;
    }
    let last = segments(dir.path(), "a").pop().unwrap();
    let good_len = fs::metadata(&last).unwrap().len();
    // A crash in the middle of a write: a header promising more than follows.
    let mut torn = fs::read(&last).unwrap();
    torn.extend_from_slice(&100u32.to_le_bytes());
    torn.extend_from_slice(&[0xab; 30]);
    fs::write(&last, torn).unwrap();

    let (store, registry) = open(config(dir.path()));
    assert_fixture(&store, &t).await;
    let report = &store.replay_reports()[0];
    assert_eq!(report.cuts.len(), 1);
    assert_eq!(report.cuts[0].segment, last);
    assert_eq!(report.cuts[0].offset, good_len);
    assert_eq!(report.cuts[0].bytes_dropped, 34);
    assert_eq!(fs::metadata(&last).unwrap().len(), good_len);
    assert!(metrics_text(&registry).contains(r#"clew_wal_replay_cut_bytes_total{tenant="a"} 34"#));
    // Appends after the restart go to a new segment, never after the cut.
    store
        .append(&t, batch("api", vec![span(5, 1, "x", 9_000, 5)]))
        .await
        .unwrap();
    assert_eq!(segments(dir.path(), "a").len(), 2);
    assert_eq!(fs::metadata(&last).unwrap().len(), good_len);
}

#[tokio::test]
async fn segments_roll_past_their_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let small = || StoreConfig {
        wal_segment_max_bytes: 1,
        durability: Durability::Relaxed,
        ..config(dir.path())
    };
    {
        let (store, registry) = open(small());
        for n in 1..=3 {
            store
                .append(&t, batch("api", vec![span(n, 1, "x", u64::from(n), 5)]))
                .await
                .unwrap();
        }
        let names: Vec<String> = segments(dir.path(), "a")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "0000000000000001.wal",
                "0000000000000002.wal",
                "0000000000000003.wal"
            ]
        );
        assert!(metrics_text(&registry).contains(r#"clew_wal_segments{tenant="a"} 3"#));
    }
    let (store, _) = open(small());
    assert_eq!(all_ids(&store, &t).await, [tid(3), tid(2), tid(1)]);
    assert_eq!(store.replay_reports()[0].segments_read, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open(config(dir.path()));
    let store = Arc::new(store);
    let t = tenant("a");
    let tasks: Vec<_> = (1..=40u8)
        .map(|n| {
            let store = Arc::clone(&store);
            let t = t.clone();
            tokio::spawn(async move {
                store
                    .append(&t, batch("api", vec![span(n, 1, "x", u64::from(n), 5)]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(all_ids(&store, &t).await.len(), 40);
    let text = metrics_text(&registry);
    assert!(
        text.contains(r#"clew_wal_records_written_total{tenant="a"} 40"#),
        "{text}"
    );
    assert!(
        text.contains("clew_wal_fsync_duration_seconds_count"),
        "{text}"
    );
    assert_eq!(store.pending.bytes(), 0);
}

#[tokio::test]
async fn metrics_are_registered_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open(config(dir.path()));
    store
        .append(&tenant("a"), batch("api", vec![span(1, 1, "x", 10, 5)]))
        .await
        .unwrap();
    let text = metrics_text(&registry);
    for name in [
        r#"clew_wal_bytes_written_total{tenant="a"}"#,
        r#"clew_wal_records_written_total{tenant="a"} 1"#,
        "clew_wal_fsync_duration_seconds_bucket",
        "clew_wal_fsync_duration_seconds_count 1",
        r#"clew_wal_segments{tenant="a"} 1"#,
        r#"clew_head_spans{tenant="a"} 1"#,
        "# TYPE clew_wal_replay_cut_bytes counter",
        "clew_wal_pending_bytes 0",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
}

#[tokio::test]
async fn relaxed_durability_still_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let relaxed = || StoreConfig {
        durability: Durability::Relaxed,
        ..config(dir.path())
    };
    let t = tenant("a");
    {
        let (store, registry) = open(relaxed());
        append_fixture(&store, &t).await;
        // No fsync was measured: nothing was fsynced per commit.
        assert!(metrics_text(&registry).contains("clew_wal_fsync_duration_seconds_count 0"));
    }
    let (store, _) = open(relaxed());
    assert_fixture(&store, &t).await;
}

#[tokio::test]
async fn cut_freezes_a_generation_and_release_deletes_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    {
        let (store, registry) = open(config(dir.path()));
        assert!(store.cut(&tenant("unknown")).await.unwrap().is_none());
        store
            .append(&t, batch("api", vec![span(1, 1, "old", 10, 5)]))
            .await
            .unwrap();
        let frozen = store.cut(&t).await.unwrap().unwrap();
        assert_eq!(frozen.tenant(), &t);
        assert_eq!(frozen.generation(), 0);
        assert_eq!(frozen.segments(), [1]);
        assert_eq!((frozen.span_count(), frozen.trace_count()), (1, 1));
        assert_eq!(frozen.spans().next().unwrap().span.name, "old");
        assert_eq!(
            frozen.services()["api"],
            [("old".to_owned(), SpanKind::Unspecified)]
        );

        // After the cut: a retry of the frozen span stays out, new spans go to segment 2.
        store
            .append(&t, batch("api", vec![span(1, 1, "old", 10, 5)]))
            .await
            .unwrap();
        store
            .append(&t, batch("web", vec![span(2, 1, "new", 20, 5)]))
            .await
            .unwrap();
        assert_eq!(segments(dir.path(), "a").len(), 2);
        assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 1);
        assert_eq!(all_ids(&store, &t).await, [tid(2), tid(1)]);
        assert_eq!(store.services(&t).await.unwrap(), ["api", "web"]);
        assert!(metrics_text(&registry).contains(r#"clew_head_spans{tenant="a"} 2"#));

        store.release(&t, 0).await.unwrap();
        assert_eq!(all_ids(&store, &t).await, [tid(2)]);
        assert_eq!(segments(dir.path(), "a").len(), 1);
        let text = metrics_text(&registry);
        assert!(
            text.contains(r#"clew_wal_segments{tenant="a"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"clew_head_spans{tenant="a"} 1"#), "{text}");
        assert!(matches!(
            store.release(&t, 0).await,
            Err(StoreError::UnknownGeneration { generation: 0, .. })
        ));
        // The active generation cannot be released.
        assert!(store.release(&t, 1).await.is_err());
    }
    // The retry of span 1 was committed to segment 2, which outlives the release: replay
    // brings it back (a duplicate of what the block holds, removed by compaction), and
    // nothing of segment 1 comes back.
    let (store, _) = open(config(dir.path()));
    assert_eq!(all_ids(&store, &t).await, [tid(2), tid(1)]);
    let report = &store.replay_reports()[0];
    assert_eq!((report.segments_read, report.records), (1, 2));
}

#[test]
fn invalid_config_and_foreign_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let zero = StoreConfig {
        wal_segment_max_bytes: 0,
        ..config(dir.path())
    };
    assert!(matches!(
        Store::open(zero, &mut registry),
        Err(StoreError::Config(_))
    ));
    fs::create_dir_all(dir.path().join("tenants")).unwrap();
    fs::write(dir.path().join("tenants").join("README"), "a file").unwrap();
    fs::create_dir_all(dir.path().join("tenants").join("bad name")).unwrap();
    // A tenant directory without a wal directory is a tenant with nothing to replay.
    fs::create_dir_all(dir.path().join("tenants").join("bare")).unwrap();
    let (store, _) = open(config(dir.path()));
    assert_eq!(store.tenants(), [tenant("bare")]);
    assert_eq!(store.replay_reports()[0].segments_read, 0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.append(&tenant("bare"), batch("api", vec![span(1, 1, "x", 10, 5)])))
        .unwrap();
    assert_eq!(segments(dir.path(), "bare").len(), 1);
}

/// Appends racing a shutdown each end as committed or refused, never hanging, and every
/// committed one is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_racing_a_shutdown_are_committed_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let mut committed = Vec::new();
    {
        let (store, _) = open(config(dir.path()));
        let store = Arc::new(store);
        let tasks: Vec<_> = (1..=30u8)
            .map(|n| {
                let store = Arc::clone(&store);
                let t = t.clone();
                tokio::spawn(async move {
                    let result = store
                        .append(&t, batch("api", vec![span(n, 1, "x", u64::from(n), 5)]))
                        .await;
                    (n, result)
                })
            })
            .collect();
        store.shutdown().await.unwrap();
        for task in tasks {
            match task.await.unwrap() {
                (n, Ok(())) => committed.push(tid(n)),
                (_, Err(AppendError::ShuttingDown)) => {}
                (n, Err(e)) => panic!("append {n}: unexpected {e:?}"),
            }
        }
        assert_eq!(store.pending.bytes(), 0);
    }
    let (store, _) = open(config(dir.path()));
    let found = all_ids(&store, &t).await;
    for id in committed {
        assert!(found.contains(&id), "{id:?} was acknowledged but is gone");
    }
}

/// A caller that gives up after queueing (a cancelled request) does not cancel the commit.
#[tokio::test]
async fn a_dropped_append_still_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let t = tenant("a");
    {
        let append = store.append(&t, batch("api", vec![span(1, 1, "x", 10, 5)]));
        let mut append = std::pin::pin!(append);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // One poll queues the request; the future is then dropped.
        let _ = append.as_mut().poll(&mut cx);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while all_ids(&store, &t).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped append never committed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store.shutdown().await.unwrap();
    assert_eq!(store.pending.bytes(), 0);
}

#[tokio::test]
async fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = open(config(dir.path()));
    let mut registry = Registry::default();
    match Store::open(config(dir.path()), &mut registry) {
        Err(StoreError::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second store opened a locked directory"),
    }
    drop(first);
    let (_again, _) = open(config(dir.path()));
}

#[tokio::test]
async fn flush_moves_the_head_into_a_block_and_reads_see_each_span_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &t).await;
        let meta = store.flush(&t).await.unwrap().expect("a block");
        assert_eq!((meta.span_count, meta.trace_count), (5, 2));
        assert_eq!(store.blocks().len(), 1);
        assert!(
            segments(dir.path(), "a").is_empty(),
            "flushed segments are released"
        );
        assert_fixture(&store, &t).await;
        // spans in both the head and a block appear once
        store
            .append(&t, batch("api", vec![span(1, 3, "late", 1_050, 10)]))
            .await
            .unwrap();
        store
            .append(&t, batch("api", vec![span(1, 1, "GET /users", 1_000, 500)]))
            .await
            .unwrap();
        let spans = store.trace(&t, tid(1)).await.unwrap();
        assert_eq!(spans.len(), 3, "{spans:?}");
        assert!(store.flush(&t).await.unwrap().is_some());
        assert!(
            store.flush(&t).await.unwrap().is_none(),
            "nothing left to flush"
        );
    }
    // after a restart the blocks are read back and nothing is replayed twice
    let (store, _) = open(config(dir.path()));
    assert!(store.block_problems().is_empty());
    assert_eq!(store.blocks().len(), 2);
    assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 3);
    assert_eq!(all_ids(&store, &t).await, [tid(2), tid(1)]);
    assert_eq!(store.services(&t).await.unwrap(), ["api", "db", "worker"]);
    let only_db = SpanFilter {
        service: Some("db".into()),
        ..SpanFilter::default()
    };
    assert_eq!(
        store.find_trace_ids(&t, &only_db, 10).await.unwrap(),
        [tid(1)]
    );
}

#[tokio::test]
async fn flush_due_respects_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(config(dir.path()));
    let t = tenant("a");
    append_fixture(&store, &t).await;
    assert!(
        store
            .flush_due(100, Duration::from_secs(3600))
            .await
            .is_empty()
    );
    let written = store.flush_due(5, Duration::from_secs(3600)).await;
    assert_eq!(written.len(), 1);
    store
        .append(&t, batch("api", vec![span(3, 1, "x", 5, 5)]))
        .await
        .unwrap();
    assert_eq!(store.flush_due(100, Duration::ZERO).await.len(), 1);
    assert_eq!(store.blocks().len(), 2);
}

#[tokio::test]
async fn an_incomplete_block_is_removed_and_its_spans_come_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &t).await;
    }
    // A crash during a flush leaves a block folder without meta.json (written last), and
    // the WAL segments it was to replace (released only after the block is complete).
    let partial = dir
        .path()
        .join("tenants/a/blocks/0000000000000000000000000000000a");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("data.parquet"), b"PAR1 half written").unwrap();
    let (store, _) = open(config(dir.path()));
    assert!(store.blocks().is_empty());
    assert!(
        !partial.join("data.parquet").exists(),
        "the partial block is removed"
    );
    assert_fixture(&store, &t).await;
}

#[tokio::test]
async fn retention_removes_whole_expired_blocks_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open(config(dir.path()));
    let (a, b) = (tenant("a"), tenant("b"));
    append_fixture(&store, &a).await; // spans end at 2_900 ns
    append_fixture(&store, &b).await;
    store.flush(&a).await.unwrap();
    store.flush(&b).await.unwrap();
    // a: 1 µs to live, b: forever; "now" is 10 µs
    let removed = store
        .apply_retention(UnixNanos(10_000), |t| {
            (t == &a).then_some(Duration::from_micros(1))
        })
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].tenant, a);
    assert!(store.trace(&a, tid(1)).await.unwrap().is_empty());
    assert_eq!(store.trace(&b, tid(1)).await.unwrap().len(), 2);
    assert_eq!(store.blocks().len(), 1);
    let text = metrics_text(&registry);
    assert!(
        text.contains("clew_blocks_expired_total{tenant=\"a\"} 1"),
        "{text}"
    );
    // a block still within its time to live stays
    let kept = store
        .apply_retention(UnixNanos(10_000), |_| Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(kept.is_empty());
    drop(store);
    let (store, _) = open(config(dir.path()));
    assert_eq!(store.blocks().len(), 1, "the deleted block stays deleted");
}

#[tokio::test]
async fn compaction_merges_a_window_into_one_block_and_keeps_duplicates_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &t).await;
        store.flush(&t).await.unwrap();
        // an SDK retry of a span already flushed, and a new span of the same trace
        store
            .append(&t, batch("api", vec![span(1, 1, "GET /users", 1_000, 500)]))
            .await
            .unwrap();
        store
            .append(&t, batch("api", vec![span(1, 9, "render", 1_400, 50)]))
            .await
            .unwrap();
        // (a third span, so that the size-tiered choice takes both blocks: 5 ≤ 2 × 3)
        store
            .append(&t, batch("api", vec![span(1, 8, "paint", 1_450, 20)]))
            .await
            .unwrap();
        store.flush(&t).await.unwrap();
        assert_eq!(store.blocks().len(), 2);
        // a cap below the two blocks' total leaves them alone
        assert!(
            store
                .compact(Duration::from_secs(3600), 6)
                .await
                .unwrap()
                .is_empty()
        );
        let merged = store
            .compact(Duration::from_secs(3600), 1_000)
            .await
            .unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].span_count, 7, "the retried span is kept once");
        assert_eq!(store.blocks().len(), 1);
        assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 4);
        assert!(
            store
                .compact(Duration::from_secs(3600), 1_000)
                .await
                .unwrap()
                .is_empty()
        );
    }
    let (store, _) = open(config(dir.path()));
    assert_eq!(store.blocks().len(), 1);
    assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 4);
    assert_eq!(store.trace(&t, tid(2)).await.unwrap().len(), 3);
    assert_eq!(all_ids(&store, &t).await, [tid(2), tid(1)]);
    assert_eq!(store.services(&t).await.unwrap(), ["api", "db", "worker"]);
}

#[tokio::test]
async fn segments_a_block_already_holds_are_dropped_at_open_and_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let covered = {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &t).await;
        // A flush that a crash stops after its block is complete, before the WAL release.
        let frozen = store.cut(&t).await.unwrap().unwrap();
        let spans: Vec<SpanRecord> = frozen.spans().collect();
        let provenance = block::Provenance {
            wal_segments: frozen.segments(),
            compacted_from: Vec::new(),
        };
        assert!(!provenance.wal_segments.is_empty());
        block::write_block_with(
            store.objects.as_ref(),
            &t,
            spans,
            &block::BlockOptions::default(),
            provenance.clone(),
        )
        .await
        .unwrap();
        provenance.wal_segments
    };
    assert_eq!(segments(dir.path(), "a").len(), covered.len());
    {
        let (store, _) = open(config(dir.path()));
        assert!(segments(dir.path(), "a").is_empty(), "covered segments go");
        let heads = read_heads(&store.tenant(&t).unwrap().heads).span_count();
        assert_eq!(heads, 0, "nothing replayed twice");
        assert_fixture(&store, &t).await;
        store
            .append(&t, batch("api", vec![span(7, 1, "after", 9_000, 5)]))
            .await
            .unwrap();
        // The new segment takes a number above every covered one...
        let [seg] = segments(dir.path(), "a").try_into().unwrap();
        let max = covered.iter().max().unwrap();
        assert!(seg > wal::segment_path(&dir.path().join("tenants/a/wal"), *max));
    }
    // ...so the next start keeps it.
    let (store, _) = open(config(dir.path()));
    assert_eq!(store.trace(&t, tid(7)).await.unwrap().len(), 1);
    assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 2);
    assert_eq!(store.trace(&t, tid(2)).await.unwrap().len(), 3);
}

#[tokio::test]
async fn blocks_a_merged_block_replaces_are_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let old = {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &t).await;
        let a = store.flush(&t).await.unwrap().unwrap();
        store
            .append(&t, batch("api", vec![span(3, 1, "x", 3_000, 5)]))
            .await
            .unwrap();
        let b = store.flush(&t).await.unwrap().unwrap();
        // A compaction that a crash stops after the merged block is complete.
        let mut spans = Vec::new();
        for r in store.tenant(&t).unwrap().blocks() {
            spans.extend(r.all_spans().await.unwrap());
        }
        let provenance = block::Provenance {
            wal_segments: Vec::new(),
            compacted_from: vec![a.id.clone(), b.id.clone()],
        };
        block::write_block_with(
            store.objects.as_ref(),
            &t,
            spans,
            &block::BlockOptions::default(),
            provenance,
        )
        .await
        .unwrap();
        [a.id, b.id]
    };
    let (store, _) = open(config(dir.path()));
    let blocks = store.blocks();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].span_count, 6);
    assert_eq!(blocks[0].provenance.compacted_from, old);
    for id in &old {
        assert!(
            !dir.path()
                .join("tenants/a/blocks")
                .join(id)
                .join("meta.json")
                .exists()
        );
    }
    assert_eq!(store.trace(&t, tid(1)).await.unwrap().len(), 2);
    assert_eq!(store.trace(&t, tid(3)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_block_with_a_wrong_size_is_quarantined_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let id = {
        let (store, _) = open(config(dir.path()));
        append_fixture(&store, &t).await;
        store.flush(&t).await.unwrap().unwrap().id
    };
    let data = dir
        .path()
        .join("tenants/a/blocks")
        .join(&id)
        .join(block::DATA_FILE);
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() - 1]).unwrap();
    let (store, registry) = open(config(dir.path()));
    assert!(store.blocks().is_empty());
    let problems = store.block_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("quarantined"), "{problems:?}");
    let moved = dir.path().join("tenants/a/quarantine").join(&id);
    assert!(moved.join(block::DATA_FILE).exists());
    assert!(moved.join(block::META_FILE).exists());
    assert!(metrics_text(&registry).contains("clew_blocks_quarantined_total{tenant=\"a\"} 1"));
}

#[test]
fn storage_errors_are_not_damage_but_decoding_errors_are() {
    use parquet::errors::ParquetError;
    let path = String::from("t/blocks/x/data.parquet");
    let storage = object_store::Error::Generic {
        store: "S3",
        source: "connection reset".into(),
    };
    let wrapped = block::BlockError::Parquet {
        path: path.clone(),
        source: ParquetError::External(Box::new(storage)),
    };
    assert!(!wrapped.is_damage());
    let decode = block::BlockError::Parquet {
        path: path.clone(),
        source: ParquetError::External(Box::new(ParquetError::General("bad page".into()))),
    };
    assert!(decode.is_damage());
    let corrupt = block::BlockError::Corrupt {
        path,
        reason: "x".into(),
    };
    assert!(corrupt.is_damage());
}

#[tokio::test]
async fn a_full_head_pushes_back_until_a_flush_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let (store, _) = open(StoreConfig {
        head_hard_limit_spans: 5,
        ..config(dir.path())
    });
    append_fixture(&store, &t).await; // 5 spans
    // Block storage broken: the blocks folder is a file, so every block write fails.
    let blocks = dir.path().join("tenants/a/blocks");
    std::fs::write(&blocks, b"in the way").unwrap();
    assert!(store.flush(&t).await.is_err());
    let more = || batch("api", vec![span(8, 1, "more", 8_000, 5)]);
    assert!(matches!(
        store.append(&t, more()).await,
        Err(AppendError::Overloaded { .. })
    ));
    // Everything acknowledged is still readable from the head.
    assert_fixture(&store, &t).await;
    // Storage back: the retried flush writes the frozen spans, and appends go through.
    std::fs::remove_file(&blocks).unwrap();
    assert_eq!(store.flush(&t).await.unwrap().unwrap().span_count, 5);
    store.append(&t, more()).await.unwrap();
    assert_eq!(store.trace(&t, tid(8)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_flush_written_in_many_chunks_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let mut cfg = config(dir.path());
    // Chunks and row groups of two spans: traces straddle nothing, chunks hold whole traces.
    cfg.block_options.row_group_spans = 2;
    let (store, _) = open(cfg);
    append_fixture(&store, &t).await;
    for n in 10..40u8 {
        let spans = (1..=n % 4 + 1)
            .map(|s| span(n, s, "bulk", u64::from(n) * 1_000 + u64::from(s), 7))
            .collect();
        store.append(&t, batch("bulk", spans)).await.unwrap();
    }
    let before: Vec<SpanRecord> = {
        let mut all = Vec::new();
        for id in all_ids(&store, &t).await {
            all.extend(store.trace(&t, id).await.unwrap());
        }
        all
    };
    let meta = store.flush(&t).await.unwrap().unwrap();
    assert_eq!(meta.span_count as usize, before.len());
    assert_eq!(meta.trace_count, 32);
    assert!(meta.row_groups > 10, "{}", meta.row_groups);
    let block = &store.tenant(&t).unwrap().blocks()[0];
    let mut read = block.all_spans().await.unwrap();
    let mut want = before;
    let key = |r: &SpanRecord| (r.span.trace_id, r.span.start, r.span.span_id);
    want.sort_by_key(key);
    assert!(
        read.windows(2).all(|w| key(&w[0]) < key(&w[1])),
        "block order"
    );
    read.sort_by_key(key);
    assert_eq!(read, want);
    for id in all_ids(&store, &t).await {
        assert!(block.may_contain(id), "bloom has every trace");
    }
    assert_fixture_counts(&store, &t).await;
}

async fn assert_fixture_counts(store: &Store, t: &TenantId) {
    assert_eq!(store.trace(t, tid(1)).await.unwrap().len(), 2);
    assert_eq!(store.trace(t, tid(2)).await.unwrap().len(), 3);
}

#[tokio::test]
async fn compaction_is_size_tiered_and_leaves_full_blocks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("a");
    let (store, _) = open(config(dir.path()));
    let mut next = 1u8;
    let mut flush_spans = |n: usize| {
        let spans: Vec<Span> = (0..n)
            .map(|i| span(next, 1 + i as u8, "tier", 1_000 + u64::from(next), 5))
            .collect();
        next += 1;
        spans
    };
    // One big block (8 spans) and two small ones (1 span each), cap 20.
    for n in [8, 1, 1] {
        let spans = flush_spans(n);
        store.append(&t, batch("tier", spans)).await.unwrap();
        store.flush(&t).await.unwrap().unwrap();
    }
    let sizes = |store: &Store| {
        let mut v: Vec<u64> = store.blocks().iter().map(|b| b.span_count).collect();
        v.sort();
        v
    };
    let window = Duration::from_secs(3600);
    // The two small blocks merge; the big one waits (8 > 2 × 1).
    assert_eq!(store.compact(window, 20).await.unwrap().len(), 1);
    assert_eq!(sizes(&store), [2, 8]);
    // Still 8 > 2 × 2: nothing to do.
    assert!(store.compact(window, 20).await.unwrap().is_empty());
    // Two more small ones: 1 + 1 + 2 = 4, then 8 ≤ 2 × 4 joins: all in one.
    for n in [1, 1] {
        let spans = flush_spans(n);
        store.append(&t, batch("tier", spans)).await.unwrap();
        store.flush(&t).await.unwrap().unwrap();
    }
    assert_eq!(store.compact(window, 20).await.unwrap().len(), 1);
    assert_eq!(sizes(&store), [12]);
    // A block at half the cap or more is done.
    let spans = flush_spans(1);
    store.append(&t, batch("tier", spans)).await.unwrap();
    store.flush(&t).await.unwrap().unwrap();
    assert!(store.compact(window, 20).await.unwrap().is_empty());
    assert_eq!(sizes(&store), [1, 12]);
}
