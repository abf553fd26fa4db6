//! Engine tests over a real store: a golden table of queries with the exact traces each
//! must return (with every span in the head, and with traces split between blocks and the
//! head), paging, ordering, ranges, tags, and a property test of the pushed-down engine
//! against a plain scan of every trace.

use std::collections::BTreeMap;
use std::sync::Arc;

use clew_model::{
    AnyValue, DurationNanos, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, TenantId, TraceBatch, TraceId, UnixNanos,
};
use clew_store::{Durability, Store, StoreConfig};
use proptest::prelude::*;

use super::eval::Evaluator;
use super::run::{judge, trace_spans};
use super::*;
use crate::Querier;
use crate::traceql::parse;

const BASE_MS: u64 = 1_700_000_000_000;

fn at(ms: u64) -> UnixNanos {
    UnixNanos((BASE_MS + ms) * 1_000_000)
}

fn tid(n: u8) -> TraceId {
    TraceId([n; 16])
}

/// A span of trace `trace` with id `trace * 100 + id`.
struct S {
    service: &'static str,
    resource: Vec<KeyValue>,
    scope: Scope,
    span: Span,
}

fn s(trace: u8, id: u64, parent: Option<u64>, service: &'static str, name: &str) -> S {
    let sid = |k: u64| SpanId::from_u64(u64::from(trace) * 100 + k);
    S {
        service,
        resource: Vec::new(),
        scope: Scope::default(),
        span: Span {
            trace_id: tid(trace),
            span_id: sid(id),
            parent_span_id: parent.map(sid),
            name: name.into(),
            kind: SpanKind::Internal,
            ..Default::default()
        },
    }
}

impl S {
    fn time(mut self, start_ms: u64, dur_ms: u64) -> Self {
        self.span.start = at(start_ms);
        self.span.end = at(start_ms + dur_ms);
        self
    }
    fn kind(mut self, k: SpanKind) -> Self {
        self.span.kind = k;
        self
    }
    fn error(mut self, message: &str) -> Self {
        self.span.status = Status {
            code: StatusCode::Error,
            message: message.into(),
        };
        self
    }
    fn attr(mut self, k: &str, v: AnyValue) -> Self {
        self.span.attributes.push(KeyValue::new(k, v));
        self
    }
    fn res(mut self, k: &str, v: &str) -> Self {
        self.resource
            .push(KeyValue::new(k, AnyValue::String(v.into())));
        self
    }
    fn orphan_parent(mut self, id: u64) -> Self {
        self.span.parent_span_id = Some(SpanId::from_u64(id));
        self
    }
    fn record(self) -> SpanRecord {
        let mut attributes = vec![KeyValue::new(
            "service.name",
            AnyValue::String(self.service.into()),
        )];
        attributes.extend(self.resource);
        SpanRecord {
            resource: Arc::new(Resource {
                attributes,
                dropped_attributes_count: 0,
            }),
            scope: Arc::new(self.scope),
            span: self.span,
        }
    }
}

fn str_v(v: &str) -> AnyValue {
    AnyValue::String(v.into())
}

/// The golden data set: (spans written first, spans written after a flush).
fn golden_spans() -> (Vec<SpanRecord>, Vec<SpanRecord>) {
    use SpanKind::*;
    let mut jdbc = s(1, 2, Some(1), "db", "SELECT users")
        .time(1010, 50)
        .kind(Client)
        .attr("db.system", str_v("postgresql"));
    jdbc.scope = Scope {
        name: "jdbc".into(),
        version: "1.2".into(),
        ..Default::default()
    };
    let mut charge = s(2, 2, Some(1), "payments", "charge")
        .time(2010, 300)
        .kind(Client)
        .error("card declined")
        .attr("amount", AnyValue::Double(12.5));
    charge.span.events.push(Event {
        time: at(2100),
        name: "exception".into(),
        attributes: vec![KeyValue::new("exception.type", str_v("CardDeclined"))],
        dropped_attributes_count: 0,
    });
    let mut price = s(3, 3, Some(1), "pricing", "GET /price")
        .time(3060, 60)
        .kind(Client)
        .attr("currency", str_v("€"));
    price.span.links.push(Link {
        trace_id: tid(1),
        span_id: SpanId::from_u64(101),
        ..Default::default()
    });
    let first = vec![
        s(1, 1, None, "api", "GET /users")
            .time(1000, 100)
            .kind(Server)
            .attr("http.request.method", str_v("GET"))
            .attr("http.response.status_code", AnyValue::Int(200))
            .res("deployment.environment", "staging"),
        jdbc,
        s(2, 1, None, "api", "POST /orders")
            .time(2000, 400)
            .kind(Server)
            .error("boom")
            .attr("http.response.status_code", AnyValue::Int(500))
            .res("deployment.environment", "prod"),
        charge,
        s(2, 3, Some(2), "db", "INSERT orders")
            .time(2020, 20)
            .kind(Client)
            .attr("db.system", str_v("postgresql")),
        s(3, 1, None, "frontend", "checkout")
            .time(3000, 250)
            .kind(Server)
            .attr("user.vip", AnyValue::Bool(true)),
        s(3, 2, Some(1), "cart", "GET /cart")
            .time(3010, 40)
            .kind(Client),
        price,
        s(4, 1, None, "worker", "process")
            .time(4000, 30)
            .kind(Consumer)
            .orphan_parent(99)
            .attr("ratio", AnyValue::Double(0.5))
            .attr("cached", AnyValue::Bool(true)),
        s(5, 1, None, "batch", "nightly").time(5000, 2000),
        s(5, 2, Some(1), "batch", "step")
            .time(5100, 300)
            .attr("step.index", AnyValue::Int(1)),
        s(5, 3, Some(1), "batch", "step")
            .time(5500, 300)
            .attr("step.index", AnyValue::Int(2)),
        s(5, 4, Some(1), "batch", "step")
            .time(5900, 300)
            .attr("step.index", AnyValue::Int(3)),
        s(6, 1, None, "api", "GET /split")
            .time(6000, 500)
            .kind(Server),
    ];
    let second = vec![
        s(6, 2, Some(1), "db", "SELECT split")
            .time(6100, 100)
            .kind(Client)
            .error("deadlock"),
        s(7, 1, None, "服务", "获取用户")
            .time(7000, 10)
            .kind(Server)
            .attr("名字", str_v("值")),
        s(8, 1, None, "api", "GET /users")
            .time(8000, 5)
            .kind(Server)
            .attr("http.request.method", str_v("GET"))
            .attr("http.response.status_code", AnyValue::Int(404)),
        s(8, 2, Some(1), "api", "auth").time(8001, 1),
    ];
    (
        first.into_iter().map(S::record).collect(),
        second.into_iter().map(S::record).collect(),
    )
}

/// (query, expected trace numbers newest first).
const GOLDEN: &[(&str, &[u8])] = &[
    ("{}", &[8, 7, 6, 5, 4, 3, 2, 1]),
    ("{ true }", &[8, 7, 6, 5, 4, 3, 2, 1]),
    ("{ false }", &[]),
    (r#"{ resource.service.name = "api" }"#, &[8, 6, 2, 1]),
    (r#"{ .service.name = "db" }"#, &[6, 2, 1]),
    (r#"{ name = "GET /users" }"#, &[8, 1]),
    (r#"{ span.http.request.method = "GET" }"#, &[8, 1]),
    ("{ span.http.response.status_code = 200 }", &[1]),
    ("{ span.http.response.status_code >= 400 }", &[8, 2]),
    (r#"{ span.http.response.status_code = "200" }"#, &[]),
    ("{ status = error }", &[6, 2]),
    ("{ status != error }", &[8, 7, 6, 5, 4, 3, 2, 1]),
    ("{ status = ok }", &[]),
    (r#"{ statusMessage = "boom" }"#, &[2]),
    ("{ kind = client }", &[6, 3, 2, 1]),
    ("{ kind = consumer }", &[4]),
    ("{ duration > 1s }", &[5]),
    ("{ duration >= 300ms && duration < 400ms }", &[5, 2]),
    ("{ duration < 10ms }", &[8]),
    (r#"{ .db.system = "postgresql" }"#, &[2, 1]),
    (r#"{ .db.system =~ "post.*" }"#, &[2, 1]),
    (r#"{ .db.system =~ "post" }"#, &[]),
    (r#"{ .db.system !~ "my.*" }"#, &[2, 1]),
    (r#"{ name =~ "GET .*" }"#, &[8, 6, 3, 1]),
    (r#"{ resource.deployment.environment = "prod" }"#, &[2]),
    (r#"{ .deployment.environment != "prod" }"#, &[1]),
    (r#"{ .missing = "x" }"#, &[]),
    (r#"{ .missing != "x" }"#, &[]),
    ("{ .missing = nil }", &[8, 7, 6, 5, 4, 3, 2, 1]),
    ("{ .db.system != nil }", &[2, 1]),
    ("{ span.amount > 10 }", &[2]),
    ("{ span.amount = 12.5 }", &[2]),
    ("{ span.ratio < 1.0 }", &[4]),
    ("{ span.cached = true }", &[4]),
    ("{ .user.vip = true }", &[3]),
    ("{ .user.vip = false }", &[]),
    (r#"{ span.currency = "€" }"#, &[3]),
    (
        r#"{ resource.service.name = "服务" && name = "获取用户" }"#,
        &[7],
    ),
    (r#"{ span.名字 = "值" }"#, &[7]),
    (r#"{ event.exception.type = "CardDeclined" }"#, &[2]),
    (r#"{ event:name = "exception" }"#, &[2]),
    (
        r#"{ event:name = "exception" && event.exception.type = "Other" }"#,
        &[],
    ),
    (
        r#"{ link:traceID = "01010101010101010101010101010101" }"#,
        &[3],
    ),
    (r#"{ instrumentation:name = "jdbc" }"#, &[1]),
    (r#"{ instrumentation:version = "1.2" }"#, &[1]),
    (r#"{ rootServiceName = "api" }"#, &[8, 6, 2, 1]),
    (r#"{ rootName = "checkout" }"#, &[3]),
    (r#"{ rootServiceName = "worker" }"#, &[]),
    ("{ traceDuration > 1s }", &[5]),
    ("{ traceDuration < 20ms }", &[8, 7]),
    ("{ childCount = 3 }", &[5]),
    ("{ childCount >= 2 }", &[5, 3]),
    (r#"{ span:id = "0000000000000065" }"#, &[1]),
    (
        r#"{ resource.service.name = "api" } && { resource.service.name = "db" }"#,
        &[6, 2, 1],
    ),
    (
        r#"{ resource.service.name = "frontend" } || { kind = consumer }"#,
        &[4, 3],
    ),
    (
        r#"{ resource.service.name = "api" } > { resource.service.name = "db" }"#,
        &[6, 1],
    ),
    (
        r#"{ resource.service.name = "api" } >> { resource.service.name = "db" }"#,
        &[6, 2, 1],
    ),
    (
        r#"{ resource.service.name = "db" } < { resource.service.name = "api" }"#,
        &[6, 1],
    ),
    (
        r#"{ resource.service.name = "db" } << { resource.service.name = "api" }"#,
        &[6, 2, 1],
    ),
    (r#"{ name = "GET /cart" } ~ { name = "GET /price" }"#, &[3]),
    (r#"{ name = "step" } ~ { name = "step" }"#, &[5]),
    (r#"{ name = "checkout" } ~ { name = "GET /cart" }"#, &[]),
    (
        r#"{ resource.service.name = "api" } !> { resource.service.name = "db" }"#,
        &[2],
    ),
    (
        r#"{ resource.service.name = "api" } &> { resource.service.name = "db" }"#,
        &[6, 1],
    ),
    (r#"{ resource.service.name = "api" } | count() > 1"#, &[8]),
    (r#"{ name = "step" } | count() = 3"#, &[5]),
    (r#"{ name = "step" } | avg(duration) = 300ms"#, &[5]),
    (
        r#"{ resource.service.name = "batch" } | max(duration) > 1s"#,
        &[5],
    ),
    (
        r#"{ resource.service.name = "batch" } | min(duration) > 1s"#,
        &[],
    ),
    (r#"{ name = "step" } | sum(span.step.index) = 6"#, &[5]),
    ("{ } | by(resource.service.name) | count() > 2", &[5]),
    ("{ kind = client } | select(span.db.system)", &[6, 3, 2, 1]),
    ("{ status = error } && { kind = consumer }", &[]),
    (
        r#"({ resource.service.name = "api" } | count() > 1) && { name = "auth" }"#,
        &[8],
    ),
    (
        r#"{ resource.service.name = "api" && status = error }"#,
        &[2],
    ),
    (
        r#"{ resource.service.name = "db" && status = error }"#,
        &[6],
    ),
    (r#"{ name = "GET /split" } > { status = error }"#, &[6]),
    (
        r#"{ !(resource.service.name = "api") }"#,
        &[7, 6, 5, 4, 3, 2, 1],
    ),
    (
        r#"{ .http.request.method = "GET" || .db.system = "postgresql" }"#,
        &[8, 2, 1],
    ),
    ("{ duration > 100ms } | count() >= 2", &[5, 2]),
    ("{ kind = server && duration > 200ms }", &[6, 3, 2]),
    (
        r#"{ traceDuration > 300ms && resource.service.name = "db" }"#,
        &[6, 2],
    ),
    (r#"{ name = "no such span" }"#, &[]),
    (
        r#"{ span.http.request.method = "GET" && kind = server && duration < 50ms }"#,
        &[8],
    ),
    (r#"{ span.http.request.method = "POST" }"#, &[]),
    (
        r#"{ span.db.system = "postgresql" } && { span.http.request.method = "GET" }"#,
        &[1],
    ),
];

async fn store_in(dir: &std::path::Path) -> Arc<Store> {
    let mut registry = prometheus_client::registry::Registry::default();
    let mut config = StoreConfig {
        data_dir: dir.to_path_buf(),
        durability: Durability::Relaxed,
        ..StoreConfig::default()
    };
    // Tiny row groups, so that statistics pruning has groups to skip.
    config.block_options.row_group_spans = 3;
    config.block_options.page_rows = 2;
    Arc::new(Store::open(config, &mut registry).unwrap())
}

async fn append(store: &Store, tenant: &TenantId, spans: &[SpanRecord]) {
    for rec in spans {
        store
            .append(tenant, TraceBatch::from_records([rec]))
            .await
            .unwrap();
    }
}

/// A querier over the golden data: all in the head, or the first part flushed to a block
/// (split traces: 6 has its root in the block and its child in the head).
async fn golden(dir: &std::path::Path, flushed: bool) -> Querier {
    let store = store_in(dir).await;
    let t = TenantId::default();
    let (first, second) = golden_spans();
    append(&store, &t, &first).await;
    if flushed {
        store.flush(&t).await.unwrap();
    }
    append(&store, &t, &second).await;
    Querier::new(store)
}

async fn ids(q: &Querier, request: &SearchRequest) -> Vec<u8> {
    q.search_traceql(&TenantId::default(), request)
        .await
        .unwrap()
        .traces
        .iter()
        .map(|t| t.trace_id.0[0])
        .collect()
}

#[tokio::test]
async fn golden_queries_in_head_and_blocks() {
    assert!(GOLDEN.len() >= 60, "{} queries", GOLDEN.len());
    for flushed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let q = golden(dir.path(), flushed).await;
        let mut failures = Vec::new();
        for (text, want) in GOLDEN {
            let query = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let got = ids(&q, &SearchRequest::new(query)).await;
            if got != *want {
                failures.push(format!("{text}: got {got:?}, want {want:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "flushed={flushed}:\n{}",
            failures.join("\n")
        );
    }
}

#[tokio::test]
async fn summaries_say_what_matched() {
    let dir = tempfile::tempdir().unwrap();
    let q = golden(dir.path(), true).await;
    let mut request = SearchRequest::new(
        parse(r#"{ resource.service.name = "db" } | select(span.db.system)"#).unwrap(),
    );
    request.spans_per_spanset = 1;
    let found = q
        .search_traceql(&TenantId::default(), &request)
        .await
        .unwrap();
    let t2 = found.traces.iter().find(|t| t.trace_id == tid(2)).unwrap();
    assert_eq!(t2.root_service_name.as_deref(), Some("api"));
    assert_eq!(t2.root_name.as_deref(), Some("POST /orders"));
    assert_eq!(t2.start, at(2000));
    assert_eq!(t2.duration, DurationNanos(400_000_000));
    assert_eq!(t2.span_count, 3);
    assert_eq!(t2.error_count, 2);
    let services: Vec<(&str, usize, usize)> = t2
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.span_count, s.error_count))
        .collect();
    assert_eq!(
        services,
        vec![("api", 1, 1), ("db", 1, 0), ("payments", 1, 1)]
    );
    assert_eq!(t2.spansets.len(), 1);
    let set = &t2.spansets[0];
    assert_eq!(set.matched, 1);
    assert_eq!(set.spans[0].name, "INSERT orders");
    assert_eq!(set.spans[0].service_name, "db");
    assert!(
        set.spans[0]
            .attributes
            .contains(&("db.system".to_owned(), FieldValue::Str("postgresql".into()))),
        "{:?}",
        set.spans[0].attributes
    );
    // Split trace 6: the whole trace is summarised, not the block's fragment.
    let t6 = found.traces.iter().find(|t| t.trace_id == tid(6)).unwrap();
    assert_eq!(t6.span_count, 2);
    assert_eq!(t6.root_name.as_deref(), Some("GET /split"));
    assert!(found.metrics.inspected_spans > 0);
    assert_eq!(found.metrics.total_blocks, 1);

    // spss limits the spans listed, not `matched`.
    let mut request = SearchRequest::new(parse(r#"{ name = "step" }"#).unwrap());
    request.spans_per_spanset = 2;
    let found = q
        .search_traceql(&TenantId::default(), &request)
        .await
        .unwrap();
    assert_eq!(found.traces[0].spansets[0].matched, 3);
    assert_eq!(found.traces[0].spansets[0].spans.len(), 2);

    // by() labels each spanset.
    let request = SearchRequest::new(parse("{ } | by(resource.service.name)").unwrap());
    let found = q
        .search_traceql(&TenantId::default(), &request)
        .await
        .unwrap();
    let t2 = found.traces.iter().find(|t| t.trace_id == tid(2)).unwrap();
    let labels: Vec<String> = t2
        .spansets
        .iter()
        .map(|s| s.attributes[0].1.to_text())
        .collect();
    assert_eq!(labels, vec!["api", "payments", "db"]);
}

#[tokio::test]
async fn pages_ranges_durations_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let q = golden(dir.path(), true).await;
    let all = parse("{}").unwrap();

    // Pages of 3 with the cursor give the whole list, each trace once.
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let mut request = SearchRequest::new(all.clone());
        request.limit = 3;
        request.cursor = cursor;
        let found = q
            .search_traceql(&TenantId::default(), &request)
            .await
            .unwrap();
        pages.push(
            found
                .traces
                .iter()
                .map(|t| t.trace_id.0[0])
                .collect::<Vec<_>>(),
        );
        cursor = found.next;
        if cursor.is_none() {
            break;
        }
        let token = cursor.unwrap().to_token();
        assert_eq!(Cursor::from_token(&token), cursor);
    }
    assert_eq!(pages, vec![vec![8, 7, 6], vec![5, 4, 3], vec![2, 1]]);

    // Longest first, paged.
    let mut request = SearchRequest::new(all.clone());
    request.order = SearchOrder::Longest;
    request.limit = 4;
    let found = q
        .search_traceql(&TenantId::default(), &request)
        .await
        .unwrap();
    let got: Vec<u8> = found.traces.iter().map(|t| t.trace_id.0[0]).collect();
    assert_eq!(got, vec![5, 6, 2, 3]);
    request.cursor = found.next;
    assert_eq!(ids(&q, &request).await, vec![1, 4, 7, 8]);
    // A cursor of one order is refused by the other.
    let mut wrong = SearchRequest::new(all.clone());
    wrong.cursor = found.next;
    assert!(
        q.search_traceql(&TenantId::default(), &wrong)
            .await
            .is_err()
    );

    // Whole-trace duration bounds.
    let mut request = SearchRequest::new(all.clone());
    request.min_duration = Some(DurationNanos(250_000_000));
    request.max_duration = Some(DurationNanos(500_000_000));
    assert_eq!(ids(&q, &request).await, vec![6, 3, 2]);

    // Time range: traces overlapping [3100 ms, 5000 ms].
    let mut request = SearchRequest::new(all.clone());
    request.start = Some(at(3100));
    request.end = Some(at(5000));
    assert_eq!(ids(&q, &request).await, vec![5, 4, 3]);

    // A byte budget stops the scan between blocks and says so.
    let store = q.store.clone();
    let t = TenantId::default();
    let (extra, _) = golden_spans();
    let moved: Vec<SpanRecord> = extra
        .into_iter()
        .map(|mut r| {
            r.span.trace_id = TraceId([0x40 + r.span.trace_id.0[0]; 16]);
            r
        })
        .collect();
    append(&store, &t, &moved).await;
    store.flush(&t).await.unwrap();
    let mut request = SearchRequest::new(parse(r#"{ span.nothing = "x" }"#).unwrap());
    request.max_inspected_bytes = Some(1);
    let found = q.search_traceql(&t, &request).await.unwrap();
    assert_eq!(found.metrics.total_blocks, 2);
    assert_eq!(found.metrics.inspected_blocks, 1, "{:?}", found.metrics);
    assert!(found.partial.is_some());
    request.max_inspected_bytes = None;
    let found = q.search_traceql(&t, &request).await.unwrap();
    assert!(found.partial.is_none());
    // A server-wide budget applies to requests without their own.
    let bounded = Querier::new(Arc::clone(&store)).with_search_max_bytes(1);
    let found = bounded.search_traceql(&t, &request).await.unwrap();
    assert_eq!(found.metrics.inspected_blocks, 1, "{:?}", found.metrics);
    assert!(found.partial.is_some());
}

/// Queries whose hints alone decide in blocks (no matcher): the same field twice,
/// `unknown_service`, a key whose first value is not the one asked, an unscoped key found in
/// the resource. A hint wider than its leaf only adds candidates, which the judge of whole
/// traces rejects; these pin the answers.
#[tokio::test]
async fn exact_hints_keep_every_condition() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let t = TenantId::default();
    let spans = vec![
        s(1, 1, None, "api", "a").time(0, 200),
        s(2, 1, None, "api", "b").time(10, 600),
        s(3, 1, None, "api", "a")
            .time(20, 5)
            .attr("k", AnyValue::Int(1))
            .attr("k", str_v("x")),
        s(4, 1, None, "api", "a")
            .time(30, 5)
            .attr("http.route", AnyValue::Int(7))
            .attr("http.route", str_v("/r"))
            .res("k", "x"),
        s(5, 1, None, "api", "a").time(40, 5).attr("k", str_v("x")),
    ];
    let spans: Vec<SpanRecord> = spans.into_iter().map(S::record).collect();
    append(&store, &t, &spans).await;
    store.flush(&t).await.unwrap();
    let q = Querier::new(store);
    let cases: [(&str, Vec<u8>); 12] = [
        (r#"{ span.k =~ "x|y" }"#, vec![5]),
        (r#"{ .k =~ "x" }"#, vec![5, 4]),
        (r#"{ span.http.route =~ "/.*" }"#, vec![]),
        ("{ duration > 500ms && duration > 100ms }", vec![2]),
        ("{ duration > 100ms && duration > 500ms }", vec![2]),
        (r#"{ name = "a" && name = "b" }"#, vec![]),
        (r#"{ resource.service.name = "unknown_service" }"#, vec![]),
        (r#"{ span.k = "x" }"#, vec![5]),
        ("{ span.k = 1 }", vec![3]),
        (r#"{ span.http.route = "/r" }"#, vec![]),
        (r#"{ .k = "x" }"#, vec![5, 4]),
        (r#"{ resource.k = "x" && name = "a" }"#, vec![4]),
    ];
    for (text, want) in cases {
        let request = SearchRequest::new(parse(text).unwrap());
        assert_eq!(ids(&q, &request).await, want, "{text}");
    }
}

#[tokio::test]
async fn tag_names_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let q = golden(dir.path(), true).await;
    let t = TenantId::default();
    let names = q.tag_names(&t, &TagsRequest::default()).await.unwrap();
    assert!(names.of(TagScope::Span).contains(&"db.system".to_owned()));
    assert!(names.of(TagScope::Span).contains(&"名字".to_owned()));
    assert!(
        names
            .of(TagScope::Resource)
            .contains(&"deployment.environment".to_owned())
    );
    assert_eq!(names.of(TagScope::Event), ["exception.type"]);
    assert!(
        names
            .of(TagScope::Intrinsic)
            .contains(&"duration".to_owned())
    );

    let only_resource = q
        .tag_names(
            &t,
            &TagsRequest {
                scope: Some(TagScope::Resource),
                ..TagsRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(only_resource.scopes.len(), 1);

    // Filtered by a query: tags of db spans only.
    let db_only = q
        .tag_names(
            &t,
            &TagsRequest {
                scope: Some(TagScope::Span),
                query: Some(parse(r#"{ resource.service.name = "db" }"#).unwrap()),
                ..TagsRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(db_only.of(TagScope::Span), ["db.system"]);

    let values = |tag: &str, query: Option<&str>| {
        let q = q.clone();
        let mut request = TagValuesRequest::new(TagRef::parse(tag).unwrap());
        request.query = query.map(|s| parse(s).unwrap());
        async move {
            q.tag_values(&TenantId::default(), &request)
                .await
                .unwrap()
                .iter()
                .map(|v| format!("{}:{}", v.type_name(), v.to_text()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        values("resource.service.name", Some(r#"{ kind = client }"#)).await,
        vec![
            "string:cart",
            "string:db",
            "string:payments",
            "string:pricing"
        ]
    );
    assert_eq!(
        values("span.http.response.status_code", None).await,
        vec!["int:200", "int:404", "int:500"]
    );
    assert_eq!(
        values("status", None).await,
        vec!["keyword:error", "keyword:ok", "keyword:unset"]
    );
    assert_eq!(
        values("event.exception.type", None).await,
        vec!["string:CardDeclined"]
    );
    assert_eq!(TagRef::parse("{ nonsense"), None);
}

/// Random traces and random simple queries: the engine (hints, pruning, candidates, whole-
/// trace judging, early stop) returns exactly what judging every trace returns.
mod engine_vs_scan {
    use super::*;

    const SERVICES: [&str; 3] = ["api", "db", "cache"];
    const NAMES: [&str; 3] = ["get", "put", "scan"];

    /// (trace, span, parent, service, name, start ms, duration ms, error, span.n, flush first,
    /// span.http.route: "/a", "/b" or the integer 7, which its dedicated string column never
    /// holds)
    type RandomSpan = (
        u8,
        u64,
        Option<u64>,
        usize,
        usize,
        u64,
        u64,
        bool,
        Option<i64>,
        bool,
        Option<u8>,
    );

    fn span_strategy() -> impl Strategy<Value = RandomSpan> {
        (
            1u8..7,  // trace (an all-zero id is invalid)
            1u64..6, // span id within the trace
            prop::option::of(1u64..6),
            0usize..3,                 // service
            0usize..3,                 // name
            0u64..10_000,              // start ms
            0u64..2_000,               // duration ms
            any::<bool>(),             // error
            prop::option::of(0i64..4), // span.n
            any::<bool>(),             // flushed before this span
            prop::option::of(0u8..3),
        )
    }

    fn condition() -> impl Strategy<Value = String> {
        prop_oneof![
            (0usize..3).prop_map(|i| format!(r#"resource.service.name = "{}""#, SERVICES[i])),
            (0usize..3).prop_map(|i| format!(r#"name = "{}""#, NAMES[i])),
            (0usize..3).prop_map(|i| format!(r#"name != "{}""#, NAMES[i])),
            Just("status = error".to_owned()),
            Just("status != error".to_owned()),
            (0u64..2_000).prop_map(|d| format!("duration > {d}ms")),
            (0u64..2_000).prop_map(|d| format!("duration <= {d}ms")),
            (0i64..4).prop_map(|n| format!("span.n = {n}")),
            (0i64..4).prop_map(|n| format!("span.n > {n}")),
            Just("span.n = nil".to_owned()),
            (0i64..4).prop_map(|n| format!(".n = {n}")),
            (0i64..4).prop_map(|n| format!("resource.n = {n}")),
            Just("span.even = true".to_owned()),
            Just(".even = false".to_owned()),
            (0i64..2).prop_map(|n| format!("span.half = {n}")),
            Just("span.half = 0.5".to_owned()),
            Just(r#"span.http.route = "/a""#.to_owned()),
            Just(r#"span.http.route != "/a""#.to_owned()),
            Just("span.http.route = 7".to_owned()),
            Just(r#"span.http.route =~ "/a|/c""#.to_owned()),
            Just(r#"span.http.route =~ "/.*""#.to_owned()),
            Just(r#".http.route =~ ".*b""#.to_owned()),
            Just(r#"span.n =~ "1""#.to_owned()),
            (0u64..3_000).prop_map(|d| format!("traceDuration > {d}ms")),
        ]
    }

    fn filter() -> impl Strategy<Value = String> {
        prop_oneof![
            condition().prop_map(|c| format!("{{ {c} }}")),
            (condition(), condition()).prop_map(|(a, b)| format!("{{ {a} && {b} }}")),
            (condition(), condition()).prop_map(|(a, b)| format!("{{ {a} || {b} }}")),
        ]
    }

    fn query() -> impl Strategy<Value = String> {
        prop_oneof![
            filter(),
            Just("{ }".to_owned()),
            (filter(), filter()).prop_map(|(a, b)| format!("{a} && {b}")),
            (filter(), filter()).prop_map(|(a, b)| format!("{a} || {b}")),
            (filter(), filter()).prop_map(|(a, b)| format!("{a} > {b}")),
            (filter(), filter()).prop_map(|(a, b)| format!("{a} >> {b}")),
            (filter(), filter()).prop_map(|(a, b)| format!("{a} ~ {b}")),
            (filter(), filter()).prop_map(|(a, b)| format!("{a} !> {b}")),
            filter().prop_map(|a| format!("{a} | count() > 1")),
            filter().prop_map(|a| format!("{a} | avg(span.n) > 1")),
            filter().prop_map(|a| format!("{a} | by(span.n) | count() > 1")),
            filter().prop_map(|a| format!("({a} | max(span.half) >= 1) && {{ }}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn engine_returns_what_a_full_scan_returns(
            spans in prop::collection::vec(span_strategy(), 1..40),
            text in query(),
            limit in 1usize..6,
            newest in any::<bool>(),
        ) {
            let query = parse(&text).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = store_in(dir.path()).await;
                let t = TenantId::default();
                let mut all: BTreeMap<TraceId, Vec<SpanRecord>> = BTreeMap::new();
                for (trace, id, parent, service, name, start, dur, error, n, flush, route) in spans {
                    let mut b = s(trace, id, parent.filter(|p| *p != id), SERVICES[service], NAMES[name])
                        .time(start, dur);
                    if error {
                        b = b.error("x");
                    }
                    if let Some(n) = n {
                        // An int, a bool and a double (integral for even n) for the
                        // attribute index's value rules.
                        b = b
                            .attr("n", AnyValue::Int(n))
                            .attr("even", AnyValue::Bool(n % 2 == 0))
                            .attr("half", AnyValue::Double(n as f64 / 2.0));
                    }
                    match route {
                        Some(0) => b = b.attr("http.route", str_v("/a")),
                        Some(1) => b = b.attr("http.route", str_v("/b")),
                        Some(_) => b = b.attr("http.route", AnyValue::Int(7)),
                        None => {}
                    }
                    let rec = b.record();
                    if flush {
                        store.flush(&t).await.unwrap();
                    }
                    append(&store, &t, std::slice::from_ref(&rec)).await;
                    all.entry(rec.span.trace_id).or_default().push(rec);
                }
                let order = if newest { SearchOrder::Newest } else { SearchOrder::Longest };
                // The plain way: judge every trace, order, take everything.
                let eval = Evaluator::new(&query);
                let mut request = SearchRequest::new(query.clone());
                request.order = order;
                let mut expected: Vec<(u64, u64, TraceId)> = all
                    .into_iter()
                    .filter_map(|(id, spans)| {
                        judge(&request, &eval, id, &trace_spans(spans)).map(|s| {
                            let primary = if newest { s.start.0 } else { s.duration.0 };
                            (primary, s.start.0, id)
                        })
                    })
                    .collect();
                expected.sort_unstable_by(|a, b| b.cmp(a));
                let expected: Vec<TraceId> = expected.into_iter().map(|(_, _, id)| id).collect();
                // The engine, page by page.
                let q = Querier::new(store);
                let mut got = Vec::new();
                request.limit = limit;
                loop {
                    let found = q.search_traceql(&t, &request).await.unwrap();
                    prop_assert!(found.traces.len() <= limit);
                    got.extend(found.traces.iter().map(|s| s.trace_id));
                    match found.next {
                        Some(c) => request.cursor = Some(c),
                        None => break,
                    }
                }
                prop_assert_eq!(got, expected, "{}", text);
                Ok(())
            })?;
        }
    }
}
