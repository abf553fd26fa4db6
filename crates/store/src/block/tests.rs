//! Block tests: exact round trips through every read path (proptest), meta, listing and
//! deletion, damaged files, the local file system, and the size benchmark (`#[ignore]`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use clew_model::{
    AnyValue, DurationNanos, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind,
    SpanRecord, Status, StatusCode, TenantId, TraceId, UnixNanos,
};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use proptest::prelude::*;

use super::write::sort_and_dedup;
use super::*;
use crate::filter::{AttributeTerm, SpanFilter, TermScope, TermValue, TextTest};

fn tenant() -> TenantId {
    TenantId::new("t1").unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---- strategies ----

fn arb_leaf() -> impl Strategy<Value = AnyValue> {
    prop_oneof![
        "[a-c]{0,3}".prop_map(AnyValue::String),
        any::<bool>().prop_map(AnyValue::Bool),
        any::<i64>().prop_map(AnyValue::Int),
        // NaN never equals itself; every other bit pattern must survive.
        any::<f64>()
            .prop_filter("not NaN", |d| !d.is_nan())
            .prop_map(AnyValue::Double),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(AnyValue::Bytes),
        Just(AnyValue::Empty),
    ]
}

fn arb_value() -> impl Strategy<Value = AnyValue> {
    arb_leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(AnyValue::Array),
            proptest::collection::vec(("[a-b]{1,2}", inner), 0..3).prop_map(|kvs| {
                AnyValue::KvList(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
            }),
        ]
    })
}

/// Keys that include every hot attribute and `service.name`, so that dedicated columns,
/// wrong types and repeated keys all occur.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("http.request.method".to_owned()),
        Just("http.response.status_code".to_owned()),
        Just("http.route".to_owned()),
        Just("db.system".to_owned()),
        Just("rpc.method".to_owned()),
        Just("peer.service".to_owned()),
        Just("service.name".to_owned()),
        "[a-d]{1,2}",
    ]
}

fn arb_hot_value() -> impl Strategy<Value = AnyValue> {
    prop_oneof![
        3 => "(GET|POST|api|db)".prop_map(AnyValue::String),
        2 => (100i64..600).prop_map(AnyValue::Int),
        1 => (100i64..103).prop_map(|i| AnyValue::Double(i as f64)),
        // Longer than the index keeps.
        1 => "[a-b]{257,260}".prop_map(AnyValue::String),
        1 => arb_value(),
    ]
}

fn arb_attrs(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec((arb_key(), arb_hot_value()), 0..max)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
}

fn arb_resource() -> impl Strategy<Value = Resource> {
    (arb_attrs(4), 0u32..3).prop_map(|(attributes, dropped_attributes_count)| Resource {
        attributes,
        dropped_attributes_count,
    })
}

fn arb_scope() -> impl Strategy<Value = Scope> {
    ("[a-b]{0,2}", "[0-9]{0,1}", arb_attrs(2), 0u32..2).prop_map(
        |(name, version, attributes, dropped_attributes_count)| Scope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    )
}

fn arb_kind() -> impl Strategy<Value = SpanKind> {
    (0i32..6).prop_map(SpanKind::from_i32)
}

fn arb_status() -> impl Strategy<Value = Status> {
    ((0i32..3).prop_map(StatusCode::from_i32), "[a-z]{0,2}")
        .prop_map(|(code, message)| Status { code, message })
}

fn arb_event() -> impl Strategy<Value = Event> {
    (0u64..1_000, "[a-b]{0,2}", arb_attrs(3), 0u32..2).prop_map(
        |(time, name, attributes, dropped_attributes_count)| Event {
            time: UnixNanos(time),
            name,
            attributes,
            dropped_attributes_count,
        },
    )
}

fn arb_link() -> impl Strategy<Value = Link> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 8]>(),
        "[a-b]{0,2}",
        arb_attrs(2),
        0u32..2,
        any::<u32>(),
    )
        .prop_map(
            |(t, s, trace_state, attributes, dropped_attributes_count, flags)| Link {
                trace_id: TraceId(t),
                span_id: SpanId(s),
                trace_state,
                attributes,
                dropped_attributes_count,
                flags,
            },
        )
}

/// Spans over few traces, resources and scopes, with occasional exact duplicates.
fn arb_spans() -> impl Strategy<Value = Vec<SpanRecord>> {
    let resources = proptest::collection::vec(arb_resource(), 1..4);
    let scopes = proptest::collection::vec(arb_scope(), 1..3);
    (resources, scopes).prop_flat_map(|(resources, scopes)| {
        let resources: Vec<Arc<Resource>> = resources.into_iter().map(Arc::new).collect();
        let scopes: Vec<Arc<Scope>> = scopes.into_iter().map(Arc::new).collect();
        let nr = resources.len();
        let ns = scopes.len();
        let span = (
            0usize..nr,
            0usize..ns,
            (0u8..6, any::<u8>(), proptest::option::of(any::<[u8; 8]>())),
            ("[a-b]{0,2}", any::<u32>(), "(x|y|z)", arb_kind()),
            // Mostly small times; sometimes huge, sometimes an end before the start.
            prop_oneof![4 => (0u64..100, 0u64..50), 1 => (any::<u64>(), any::<u64>())],
            (arb_attrs(6), 0u32..3, arb_status()),
            (
                proptest::collection::vec(arb_event(), 0..3),
                0u32..2,
                proptest::collection::vec(arb_link(), 0..2),
                0u32..2,
            ),
        )
            .prop_map(
                move |(
                    r,
                    sc,
                    (trace, span_id, parent),
                    (trace_state, flags, name, kind),
                    (start, len),
                    (attributes, dropped_attributes_count, status),
                    (events, dropped_events_count, links, dropped_links_count),
                )| {
                    SpanRecord {
                        resource: Arc::clone(&resources[r]),
                        scope: Arc::clone(&scopes[sc]),
                        span: Span {
                            trace_id: TraceId([trace; 16]),
                            span_id: SpanId([span_id; 8]),
                            parent_span_id: parent.map(SpanId),
                            trace_state,
                            flags,
                            name,
                            kind,
                            start: UnixNanos(start),
                            end: UnixNanos(start.wrapping_add(len)),
                            attributes,
                            dropped_attributes_count,
                            events,
                            dropped_events_count,
                            links,
                            dropped_links_count,
                            status,
                        },
                    }
                },
            );
        proptest::collection::vec(span, 1..30)
            .prop_flat_map(|spans| {
                let n = spans.len();
                (Just(spans), proptest::collection::vec(0..n, 0..3))
            })
            .prop_map(|(mut spans, dups)| {
                for i in dups {
                    let dup = spans[i].clone();
                    spans.push(dup);
                }
                spans
            })
    })
}

/// Terms on the keys and values spans are made of (index lookups hit and miss).
fn arb_term() -> impl Strategy<Value = AttributeTerm> {
    let scope = prop_oneof![
        Just(TermScope::Span),
        Just(TermScope::Resource),
        Just(TermScope::SpanOrResource),
    ];
    let value = prop_oneof![
        "(GET|POST|api|db|x)".prop_map(TermValue::Str),
        (99i64..104).prop_map(TermValue::Int),
        any::<bool>().prop_map(TermValue::Bool),
    ];
    (scope, arb_key(), value).prop_map(|(scope, key, value)| AttributeTerm { scope, key, value })
}

fn arb_filter() -> impl Strategy<Value = SpanFilter> {
    let svc = proptest::option::of(prop_oneof![
        Just("api".to_owned()),
        Just("db".to_owned()),
        Just("unknown_service".to_owned()),
        "[a-c]{0,2}",
    ]);
    let op = proptest::option::of("(x|y|w)");
    let attrs = proptest::collection::vec(
        (
            prop_oneof![
                Just("http.route".to_owned()),
                Just("http.response.status_code".to_owned()),
                "[a-d]{1,2}"
            ],
            "(GET|api|200|[a-c]{0,2})",
        ),
        0..2,
    );
    let terms = proptest::collection::vec(arb_term(), 0..3);
    (
        (svc, op, proptest::option::of(arb_kind())),
        proptest::option::of((0i32..3).prop_map(StatusCode::from_i32)),
        (attrs, terms),
        (
            proptest::option::of(0u64..60),
            proptest::option::of(0u64..60),
            proptest::option::of(0u64..120),
            proptest::option::of(0u64..120),
        ),
    )
        .prop_map(
            |(
                (service, operation, kind),
                status,
                (attributes, terms),
                (dmin, dmax, smin, smax),
            )| {
                SpanFilter {
                    service,
                    operation,
                    kind,
                    status,
                    attributes,
                    span_strings: Vec::new(),
                    terms,
                    min_duration: dmin.map(DurationNanos),
                    max_duration: dmax.map(DurationNanos),
                    start_min: smin.map(UnixNanos),
                    start_max: smax.map(UnixNanos),
                }
            },
        )
}

// ---- oracles ----

/// What a block must hold, in file order: the input sorted and deduplicated.
fn expected_rows(spans: &[SpanRecord]) -> Vec<SpanRecord> {
    let mut sorted = spans.to_vec();
    sort_and_dedup(&mut sorted);
    sorted
}

/// The same grouped by trace: what a lookup of each trace must return.
fn expected_traces(spans: &[SpanRecord]) -> BTreeMap<TraceId, Vec<SpanRecord>> {
    let mut out: BTreeMap<TraceId, Vec<SpanRecord>> = BTreeMap::new();
    for s in expected_rows(spans) {
        out.entry(s.span.trace_id).or_default().push(s);
    }
    out
}

/// Trace ids with a span that meets `filter`, by brute force.
fn naive_ids(
    traces: &BTreeMap<TraceId, Vec<SpanRecord>>,
    filter: &SpanFilter,
) -> BTreeSet<TraceId> {
    traces
        .iter()
        .filter(|(_, spans)| spans.iter().any(|s| filter.matches(s)))
        .map(|(id, _)| *id)
        .collect()
}

/// The same by a scan of the block with `filter` as the hint.
async fn scan_ids(
    reader: &BlockReader,
    filter: &SpanFilter,
) -> Result<BTreeSet<TraceId>, BlockError> {
    let f = filter.clone();
    let scan = crate::scan::SpanScan {
        parts: crate::scan::SpanParts::ALL,
        hints: vec![filter.clone()],
        matcher: Arc::new(move |r| u64::from(f.matches(r))),
        exact: None,
    };
    let (hits, _) = reader.scan(&scan).await?;
    let ids: BTreeSet<TraceId> = hits.iter().map(|h| h.trace_id).collect();
    assert_eq!(ids.len(), hits.len(), "one hit per trace");
    Ok(ids)
}

fn check_meta(meta: &BlockMeta, traces: &BTreeMap<TraceId, Vec<SpanRecord>>) {
    let all: Vec<&SpanRecord> = traces.values().flatten().collect();
    assert_eq!(meta.span_count, all.len() as u64);
    assert_eq!(meta.trace_count, traces.len() as u64);
    assert_eq!(meta.format_version, FORMAT_VERSION);
    assert_eq!(meta.tenant, tenant());
    assert_eq!(meta.id.len(), 32);
    assert_eq!(
        meta.start_min,
        all.iter().map(|s| s.span.start).min().unwrap()
    );
    assert_eq!(
        meta.start_max,
        all.iter().map(|s| s.span.start).max().unwrap()
    );
    assert_eq!(
        meta.end_max,
        all.iter()
            .map(|s| s.span.end.max(s.span.start))
            .max()
            .unwrap()
    );
    let services: BTreeSet<String> = all.iter().map(|s| s.service_name().to_owned()).collect();
    assert_eq!(meta.services, services.into_iter().collect::<Vec<_>>());
    let ops: BTreeSet<(String, String, SpanKind)> = all
        .iter()
        .map(|s| {
            (
                s.service_name().to_owned(),
                s.span.name.clone(),
                s.span.kind,
            )
        })
        .collect();
    assert_eq!(meta.operations, ops.into_iter().collect::<Vec<_>>());
    assert_eq!(
        meta.size_bytes,
        meta.data_bytes + meta.bloom_bytes + meta.index_bytes
    );
}

// ---- properties ----

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any spans written to a block read back identically through `trace` (for every trace
    /// id, and nothing for an absent one), whole in file order, and through scans.
    #[test]
    fn round_trip_through_every_read_path(
        spans in arb_spans(),
        row_group_spans in 1usize..8,
        page_rows in 1usize..4,
        filters in proptest::collection::vec(arb_filter(), 1..6),
        parts in arb_parts_mask(),
        attribute_index in any::<bool>(),
    ) {
        rt().block_on(async {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let options = BlockOptions {
                row_group_spans,
                page_rows,
                attribute_index,
                ..BlockOptions::default()
            };
            let meta = write_block(store.as_ref(), &tenant(), spans.clone(), &options).await.unwrap();
            let traces = expected_traces(&spans);
            check_meta(&meta, &traces);
            let listed = list_blocks(store.as_ref(), &tenant()).await.unwrap();
            assert_eq!(listed.blocks, vec![meta.clone()]);
            let reader = BlockReader::open(Arc::clone(&store), meta).await.unwrap();
            for (id, want) in &traces {
                assert!(reader.may_contain(*id));
                let got = reader.trace(*id).await.unwrap();
                assert_eq!(&got, want, "trace {}", id);
            }
            assert!(reader.trace(TraceId([0xee; 16])).await.unwrap().is_empty());
            for (id, want) in &traces {
                let got = reader.trace_parts(*id, parts).await.unwrap();
                let view = |r: &SpanRecord| parts_view(r, parts);
                assert_eq!(
                    got.iter().map(view).collect::<Vec<_>>(),
                    want.iter().map(view).collect::<Vec<_>>(),
                    "trace {id} with {parts:?}"
                );
            }
            assert_eq!(reader.all_spans().await.unwrap(), expected_rows(&spans));
            for filter in &filters {
                let got = scan_ids(&reader, filter).await.unwrap();
                assert_eq!(got, naive_ids(&traces, filter), "{filter:?}");
                // Applied whole by the block, the hint decides without the matcher.
                if super::read::applies_whole(filter, attribute_index) {
                    let (hits, _) = reader.scan(&exact_scan(vec![filter.clone()])).await.unwrap();
                    let (want, _) = reader.scan(&matcher_scan(filter)).await.unwrap();
                    assert_eq!(hits, want, "exact {filter:?}");
                }
            }
            let (all, _) = reader.scan(&exact_scan(Vec::new())).await.unwrap();
            let (want, _) = reader.scan(&matcher_scan(&SpanFilter::default())).await.unwrap();
            assert_eq!(all, want);
        });
    }
}

fn arb_parts_mask() -> impl Strategy<Value = crate::scan::SpanParts> {
    proptest::collection::vec(any::<bool>(), 7).prop_map(|b| crate::scan::SpanParts {
        ids: b[0],
        trace_state: b[1],
        attributes: b[2],
        events: b[3],
        links: b[4],
        resource: b[5],
        scope: b[6],
    })
}

/// What reading only `parts` must keep of a span: the always-decoded fields, the service
/// name and the parts asked for (the rest cleared on both sides of a comparison).
fn parts_view(r: &SpanRecord, parts: crate::scan::SpanParts) -> (String, SpanRecord) {
    let mut v = r.clone();
    if !parts.ids {
        v.span.span_id = SpanId::default();
        v.span.parent_span_id = None;
    }
    if !parts.trace_state {
        v.span.trace_state.clear();
        v.span.flags = 0;
    }
    if !parts.attributes {
        v.span.attributes.clear();
        v.span.dropped_attributes_count = 0;
    }
    if !parts.events {
        v.span.events.clear();
        v.span.dropped_events_count = 0;
    }
    if !parts.links {
        v.span.links.clear();
        v.span.dropped_links_count = 0;
    }
    if !parts.resource {
        v.resource = Arc::new(Resource::default());
    }
    if !parts.scope {
        v.scope = Arc::new(Scope::default());
    }
    (r.service_name().to_owned(), v)
}

/// A scan that trusts `hints` to decide (bit 1) without a matcher that could tell.
fn exact_scan(hints: Vec<SpanFilter>) -> crate::scan::SpanScan {
    crate::scan::SpanScan {
        parts: crate::scan::SpanParts::ALL,
        hints,
        matcher: Arc::new(|_| panic!("an exact scan must not call the matcher")),
        exact: Some(1),
    }
}

/// A scan that judges by `filter.matches`, hinted by `filter`.
fn matcher_scan(filter: &SpanFilter) -> crate::scan::SpanScan {
    let f = filter.clone();
    crate::scan::SpanScan {
        parts: crate::scan::SpanParts::ALL,
        hints: vec![filter.clone()],
        matcher: Arc::new(move |r| u64::from(f.matches(r))),
        exact: None,
    }
}

/// Terms made from the attributes the spans do have, so that index lookups hit.
fn terms_of(spans: &[SpanRecord]) -> Vec<AttributeTerm> {
    let mut out = Vec::new();
    let mut tests = Vec::new();
    let mut add = |scope, kv: &KeyValue| {
        let value = match &kv.value {
            AnyValue::String(s) => TermValue::Str(s.clone()),
            AnyValue::Int(i) => TermValue::Int(*i),
            AnyValue::Double(d) if d.fract() == 0.0 && d.abs() < 1e15 => TermValue::Int(*d as i64),
            AnyValue::Bool(b) => TermValue::Bool(*b),
            AnyValue::Double(_) => return,
            other => TermValue::Str(other.to_display_string()),
        };
        out.push(AttributeTerm {
            scope,
            key: kv.key.clone(),
            value,
        });
    };
    for rec in spans {
        for kv in &rec.span.attributes {
            add(TermScope::Span, kv);
            add(TermScope::SpanOrResource, kv);
            // A text test: the same first character (long strings included).
            if let Some(first) = kv.value.to_display_string().chars().next() {
                tests.push(AttributeTerm {
                    scope: TermScope::Span,
                    key: kv.key.clone(),
                    value: TermValue::Matches(TextTest {
                        source: format!("^{first}"),
                        test: Arc::new(move |s: &str| s.starts_with(first)),
                    }),
                });
            }
        }
        for kv in &rec.resource.attributes {
            add(TermScope::Resource, kv);
        }
    }
    out.extend(tests);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Scans narrowed by the attribute index find exactly the traces a brute-force check of
    /// the same terms finds: single terms the spans have, pairs, and hints side by side.
    #[test]
    fn index_narrowed_scans_equal_brute_force(
        spans in arb_spans(),
        row_group_spans in 1usize..8,
        picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..6),
    ) {
        rt().block_on(async {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let options = BlockOptions { row_group_spans, ..BlockOptions::default() };
            let meta = write_block(store.as_ref(), &tenant(), spans.clone(), &options).await.unwrap();
            assert!(meta.index_bytes > 0);
            let traces = expected_traces(&spans);
            let reader = BlockReader::open(Arc::clone(&store), meta).await.unwrap();
            let terms = terms_of(&spans);
            if terms.is_empty() {
                return;
            }
            for (a, b) in &picks {
                let one = SpanFilter { terms: vec![a.get(&terms).clone()], ..SpanFilter::default() };
                let two = SpanFilter {
                    terms: vec![a.get(&terms).clone(), b.get(&terms).clone()],
                    ..SpanFilter::default()
                };
                for filter in [&one, &two] {
                    let want = naive_ids(&traces, filter);
                    assert_eq!(scan_ids(&reader, filter).await.unwrap(), want, "{filter:?}");
                    if super::read::applies_whole(filter, true) {
                        let (exact, _) =
                            reader.scan(&exact_scan(vec![filter.clone()])).await.unwrap();
                        let (judged, _) = reader.scan(&matcher_scan(filter)).await.unwrap();
                        assert_eq!(exact, judged, "exact {filter:?}");
                    }
                }
                let f1 = one.clone();
                let f2 = two.clone();
                let scan = crate::scan::SpanScan {
                    parts: crate::scan::SpanParts::ALL,
                    hints: vec![two.clone(), one.clone()],
                    matcher: Arc::new(move |r| u64::from(f1.matches(r)) | u64::from(f2.matches(r)) << 1),
                    exact: None,
                };
                let (hits, _) = reader.scan(&scan).await.unwrap();
                let got: BTreeSet<TraceId> = hits.iter().map(|h| h.trace_id).collect();
                let mut want = naive_ids(&traces, &one);
                want.extend(naive_ids(&traces, &two));
                assert_eq!(got, want);
            }
        });
    }
}

// ---- examples ----

/// The columns chosen to stay uncompressed exist (a wrong path would be ignored silently)
/// and are written so; the others keep zstd.
#[tokio::test]
async fn uncompressed_columns_are_real_and_written_so() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let meta = write_block(
        store.as_ref(),
        &tenant(),
        some_spans(20),
        &BlockOptions::default(),
    )
    .await
    .unwrap();
    let data = store
        .get(&block_path(&tenant(), &meta.id, DATA_FILE))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(data).unwrap();
    use parquet::file::reader::FileReader as _;
    let group = reader.metadata().row_group(0);
    let raw = super::write::uncompressed_leaves();
    let paths: Vec<String> = group
        .columns()
        .iter()
        .map(|c| c.column_path().string())
        .collect();
    for path in &raw {
        assert!(paths.contains(path), "{path} is not a column");
    }
    for c in group.columns() {
        let path = c.column_path().string();
        let zstd = matches!(c.compression(), parquet::basic::Compression::ZSTD(_));
        assert_eq!(zstd, !raw.contains(&path), "{path}: {:?}", c.compression());
    }
}

fn simple_span(trace: u64, span: u64, service: &str, name: &str, start: u64) -> SpanRecord {
    SpanRecord {
        resource: Arc::new(Resource {
            attributes: vec![KeyValue::new(
                "service.name",
                AnyValue::String(service.into()),
            )],
            dropped_attributes_count: 0,
        }),
        scope: Arc::new(Scope::default()),
        span: Span {
            trace_id: TraceId::from_u64_pair(1, trace),
            span_id: SpanId::from_u64(span),
            name: name.into(),
            start: UnixNanos(start),
            end: UnixNanos(start + 10),
            attributes: vec![KeyValue::new("http.route", AnyValue::String("/x".into()))],
            ..Default::default()
        },
    }
}

fn some_spans(n: u64) -> Vec<SpanRecord> {
    (0..n)
        .map(|i| simple_span(i / 3, i, ["api", "db"][(i % 2) as usize], "op", 1_000 + i))
        .collect()
}

#[tokio::test]
async fn list_ignores_incomplete_blocks_and_reports_bad_meta() {
    let store = InMemory::new();
    let t = tenant();
    let good = write_block(&store, &t, some_spans(10), &BlockOptions::default())
        .await
        .unwrap();
    // A write that died before meta.json: data only.
    let partial = "0000000000000000000000000000dead";
    store
        .put(&block_path(&t, partial, DATA_FILE), b"PAR1".to_vec().into())
        .await
        .unwrap();
    // Garbage meta, a meta of a newer version, a meta naming another block.
    let bad = [
        "00000000000000000000000000000bad",
        "00000000000000000000000000000ne1",
        "00000000000000000000000000000ot1",
    ];
    store
        .put(
            &block_path(&t, bad[0], META_FILE),
            b"{not json".to_vec().into(),
        )
        .await
        .unwrap();
    store
        .put(
            &block_path(&t, bad[1], META_FILE),
            br#"{"format_version": 99}"#.to_vec().into(),
        )
        .await
        .unwrap();
    let mut other = good.clone();
    other.id = "somewhere-else".into();
    store
        .put(
            &block_path(&t, bad[2], META_FILE),
            meta::encode(&other).into(),
        )
        .await
        .unwrap();
    // Another tenant's block is not listed.
    let other_tenant = TenantId::new("t2").unwrap();
    write_block(
        &store,
        &other_tenant,
        some_spans(3),
        &BlockOptions::default(),
    )
    .await
    .unwrap();

    let list = list_blocks(&store, &t).await.unwrap();
    assert_eq!(list.blocks, vec![good.clone()]);
    assert_eq!(list.incomplete, vec![partial.to_owned()]);
    let problems: Vec<(&str, bool)> = list
        .problems
        .iter()
        .map(|p| {
            (
                p.id.as_str(),
                matches!(p.error, BlockError::UnsupportedVersion { found: 99, .. }),
            )
        })
        .collect();
    assert_eq!(
        problems,
        vec![(bad[0], false), (bad[1], true), (bad[2], false)]
    );

    delete_block(&store, &t, &good.id).await.unwrap();
    delete_block(&store, &t, partial).await.unwrap();
    // Deleting again is fine.
    delete_block(&store, &t, &good.id).await.unwrap();
    let list = list_blocks(&store, &t).await.unwrap();
    assert!(list.blocks.is_empty());
    assert!(list.incomplete.is_empty());
    let left = store
        .list_with_delimiter(Some(&Path::from_iter([
            t.as_str(),
            "blocks",
            good.id.as_str(),
        ])))
        .await
        .unwrap();
    assert!(left.objects.is_empty());
    assert_eq!(
        list_blocks(&store, &other_tenant)
            .await
            .unwrap()
            .blocks
            .len(),
        1
    );
}

#[tokio::test]
async fn ids_sort_by_creation_and_empty_or_bad_input_is_refused() {
    let store = InMemory::new();
    let t = tenant();
    let a = write_block(&store, &t, some_spans(2), &BlockOptions::default())
        .await
        .unwrap();
    // Ids carry milliseconds: wait for the clock to move rather than assume it did.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while UnixNanos::now().0 / 1_000_000 <= a.created_unix_nanos / 1_000_000 {
        assert!(std::time::Instant::now() < deadline);
        tokio::task::yield_now().await;
    }
    let b = write_block(&store, &t, some_spans(2), &BlockOptions::default())
        .await
        .unwrap();
    assert!(a.id < b.id, "{} then {}", a.id, b.id);
    assert!(matches!(
        write_block(&store, &t, Vec::new(), &BlockOptions::default()).await,
        Err(BlockError::Empty)
    ));
    let bad = BlockOptions {
        row_group_spans: 0,
        ..BlockOptions::default()
    };
    assert!(matches!(
        write_block(&store, &t, some_spans(2), &bad).await,
        Err(BlockError::Options(_))
    ));
}

/// Every truncation and many byte flips of each part give errors (or, for flips that hit
/// nothing checked, possibly wrong data), never a panic.
#[tokio::test]
async fn damaged_blocks_give_errors_not_panics() {
    let mem = Arc::new(InMemory::new());
    let store: Arc<dyn ObjectStore> = mem.clone();
    let t = tenant();
    let options = BlockOptions {
        row_group_spans: 7,
        page_rows: 3,
        ..BlockOptions::default()
    };
    let meta = write_block(store.as_ref(), &t, some_spans(40), &options)
        .await
        .unwrap();
    let data_path = block_path(&t, &meta.id, DATA_FILE);
    let data = store.get(&data_path).await.unwrap().bytes().await.unwrap();
    let probe = TraceId::from_u64_pair(1, 4);
    // Every position would take minutes in a debug build: about 200 probes spread over
    // headers, pages and footer, plus each of the last 8 bytes (footer length and magic).
    let (cut_step, flip_step) = ((data.len() / 60).max(1), (data.len() / 150).max(1));

    let exercise = |meta: BlockMeta| {
        let store = Arc::clone(&store);
        async move {
            let reader = BlockReader::open(store, meta).await?;
            reader.trace(probe).await?;
            scan_ids(&reader, &SpanFilter::default()).await?;
            let with_attrs = SpanFilter {
                attributes: vec![("http.route".into(), "/x".into())],
                ..SpanFilter::default()
            };
            scan_ids(&reader, &with_attrs).await?;
            let with_term = SpanFilter {
                terms: vec![AttributeTerm {
                    scope: TermScope::Span,
                    key: "http.route".into(),
                    value: TermValue::Str("/x".into()),
                }],
                ..SpanFilter::default()
            };
            scan_ids(&reader, &with_term).await?;
            reader.all_spans().await?;
            Ok::<_, BlockError>(())
        }
    };

    // Truncated data, with the meta's size (a short read) and with the true size.
    let mut failures = 0;
    for cut in (0..data.len())
        .step_by(cut_step)
        .chain(data.len() - 8..data.len())
    {
        mem.put(&data_path, data.slice(..cut).into()).await.unwrap();
        failures += usize::from(exercise(meta.clone()).await.is_err());
        let mut m = meta.clone();
        m.data_bytes = cut as u64;
        failures += usize::from(exercise(m).await.is_err());
    }
    assert!(failures > 0);
    // Flipped bytes all over the file.
    for at in (0..data.len())
        .step_by(flip_step)
        .chain(data.len() - 8..data.len())
    {
        let mut bad = data.to_vec();
        bad[at] ^= 0x5a;
        mem.put(&data_path, bad.into()).await.unwrap();
        let _ = exercise(meta.clone()).await;
    }
    mem.put(&data_path, data.clone().into()).await.unwrap();
    exercise(meta.clone()).await.unwrap();
    // The attribute index, truncated and flipped.
    let index_path = block_path(&t, &meta.id, INDEX_FILE);
    let index = store.get(&index_path).await.unwrap().bytes().await.unwrap();
    let mut failures = 0;
    for cut in (0..index.len()).step_by((index.len() / 40).max(1)) {
        let mut m = meta.clone();
        m.index_bytes = cut as u64;
        mem.put(&index_path, index.slice(..cut).into())
            .await
            .unwrap();
        failures += usize::from(exercise(m).await.is_err());
    }
    assert!(failures > 0);
    for at in (0..index.len()).step_by((index.len() / 80).max(1)) {
        let mut bad = index.to_vec();
        bad[at] ^= 0x5a;
        mem.put(&index_path, bad.into()).await.unwrap();
        let _ = exercise(meta.clone()).await;
    }
    mem.put(&index_path, index.clone().into()).await.unwrap();
    exercise(meta.clone()).await.unwrap();

    // A damaged bloom filter is reported as corrupt.
    let bloom_path = block_path(&t, &meta.id, BLOOM_FILE);
    mem.put(&bloom_path, b"CLEWBLM1 short".to_vec().into())
        .await
        .unwrap();
    assert!(matches!(
        exercise(meta.clone()).await,
        Err(BlockError::Corrupt { .. })
    ));
    // A missing data file is a store error.
    mem.delete(&data_path).await.unwrap();
    assert!(exercise(meta).await.is_err());
}

#[tokio::test]
async fn local_file_system_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let t = tenant();
    let spans = some_spans(50);
    let meta = write_block(store.as_ref(), &t, spans.clone(), &BlockOptions::default())
        .await
        .unwrap();
    let folder = dir.path().join("t1").join("blocks").join(&meta.id);
    for file in [DATA_FILE, BLOOM_FILE, META_FILE] {
        assert!(folder.join(file).is_file(), "{file}");
    }
    let listed = list_blocks(store.as_ref(), &t).await.unwrap();
    assert_eq!(listed.blocks, vec![meta.clone()]);
    let reader = BlockReader::open(Arc::clone(&store), meta.clone())
        .await
        .unwrap();
    for (id, want) in expected_traces(&spans) {
        assert_eq!(reader.trace(id).await.unwrap(), want);
    }
    let db = SpanFilter {
        service: Some("db".into()),
        ..SpanFilter::default()
    };
    let got = scan_ids(&reader, &db).await.unwrap();
    assert_eq!(got, naive_ids(&expected_traces(&spans), &db));
    delete_block(store.as_ref(), &t, &meta.id).await.unwrap();
    let list = list_blocks(store.as_ref(), &t).await.unwrap();
    assert!(list.blocks.is_empty());
    assert!(list.incomplete.is_empty(), "{:?}", list.incomplete);
    // A tenant that never flushed has no blocks folder at all.
    let fresh = TenantId::new("fresh").unwrap();
    let list = list_blocks(store.as_ref(), &fresh).await.unwrap();
    assert!(list.blocks.is_empty() && list.incomplete.is_empty() && list.problems.is_empty());
}

// ---- size and speed (run by hand; see the report in BENCHMARKS.md) ----

/// splitmix64: a tiny deterministic generator, so the data set is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A data set shaped like Jaeger's ClickHouse storage benchmark: 10-span traces, 11 string
/// attributes per span with keys drawn from 97 and values from 1,000; random 128-bit trace
/// and 64-bit span ids; 20 services of 10 operations; traces over a 10-minute window, spans
/// within 100 ms of their trace's start, durations from 10 µs to 100 ms in nanoseconds.
fn jaeger_clickhouse_shape(traces: usize, seed: u64) -> Vec<SpanRecord> {
    let mut rng = Rng(seed);
    let resources: Vec<Arc<Resource>> = (0..20)
        .map(|i| {
            Arc::new(Resource {
                attributes: vec![
                    KeyValue::new("service.name", AnyValue::String(format!("service-{i}"))),
                    KeyValue::new("host.name", AnyValue::String(format!("host-{}", i % 7))),
                ],
                dropped_attributes_count: 0,
            })
        })
        .collect();
    let scope = Arc::new(Scope {
        name: "bench".into(),
        version: "1.0.0".into(),
        ..Scope::default()
    });
    let window_start = 1_700_000_000_000_000_000u64;
    let mut out = Vec::with_capacity(traces * 10);
    for _ in 0..traces {
        let trace_id = TraceId::from_u64_pair(rng.next(), rng.next());
        let trace_start = window_start + rng.below(600_000_000_000);
        let mut ids: Vec<SpanId> = Vec::with_capacity(10);
        for k in 0..10 {
            let span_id = SpanId::from_u64(rng.next());
            let parent = (k > 0).then(|| ids[rng.below(k as u64) as usize]);
            ids.push(span_id);
            let service = rng.below(20) as usize;
            let start = trace_start + if k == 0 { 0 } else { rng.below(100_000_000) };
            let duration = 10_000 + rng.below(100_000_000);
            let attributes = (0..11)
                .map(|_| {
                    KeyValue::new(
                        format!("key-{}", rng.below(97)),
                        AnyValue::String(format!("value-{}", rng.below(1_000))),
                    )
                })
                .collect();
            let error = rng.below(20) == 0;
            out.push(SpanRecord {
                resource: Arc::clone(&resources[service]),
                scope: Arc::clone(&scope),
                span: Span {
                    trace_id,
                    span_id,
                    parent_span_id: parent,
                    flags: 1,
                    name: format!("op-{service}-{}", rng.below(10)),
                    kind: SpanKind::from_i32(1 + rng.below(3) as i32),
                    start: UnixNanos(start),
                    end: UnixNanos(start + duration),
                    attributes,
                    status: Status {
                        code: if error {
                            StatusCode::Error
                        } else {
                            StatusCode::Unset
                        },
                        message: if error { "boom".into() } else { String::new() },
                    },
                    ..Span::default()
                },
            });
        }
    }
    out
}

/// `CLEW_BENCH_TRACES=100000 cargo test -p clew-store --release -- --ignored --nocapture bytes_per_span`
#[tokio::test]
#[ignore = "benchmark: run by hand"]
async fn bytes_per_span_jaeger_clickhouse_shape() {
    let traces: usize = std::env::var("CLEW_BENCH_TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let spans = jaeger_clickhouse_shape(traces, 42);
    let n = spans.len();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let t = tenant();
    let options = BlockOptions::default();
    // Phases of the write, to see where its time goes.
    let began = std::time::Instant::now();
    let mut sorted = spans.clone();
    let clone_secs = began.elapsed().as_secs_f64();
    sort_and_dedup(&mut sorted);
    let sort_secs = began.elapsed().as_secs_f64() - clone_secs;
    let began = std::time::Instant::now();
    let batches: Vec<_> = sorted
        .chunks(options.row_group_spans)
        .map(|c| super::write::to_batch(c).unwrap())
        .collect();
    let arrow_secs = began.elapsed().as_secs_f64();
    drop(batches);
    println!("phases: clone {clone_secs:.2} s, sort {sort_secs:.2} s, to arrow {arrow_secs:.2} s");
    let input = spans.clone();
    let began = std::time::Instant::now();
    let meta = write_block(store.as_ref(), &t, input, &options)
        .await
        .unwrap();
    let write_secs = began.elapsed().as_secs_f64();
    println!(
        "{n} spans, {traces} traces: data {} B ({:.1} B/span), bloom {} B ({:.2} B/span), total {:.1} B/span; {} row groups",
        meta.data_bytes,
        meta.data_bytes as f64 / n as f64,
        meta.bloom_bytes,
        meta.bloom_bytes as f64 / n as f64,
        meta.size_bytes as f64 / n as f64,
        meta.row_groups,
    );
    println!(
        "write: {write_secs:.2} s, {:.0} spans/s",
        n as f64 / write_secs
    );
    let data = store
        .get(&block_path(&t, &meta.id, DATA_FILE))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let file = parquet::file::serialized_reader::SerializedFileReader::new(data).unwrap();
    let md = parquet::file::reader::FileReader::metadata(&file);
    let mut per_column: BTreeMap<String, i64> = BTreeMap::new();
    for rg in md.row_groups() {
        for c in rg.columns() {
            *per_column.entry(c.column_path().string()).or_default() += c.compressed_size();
        }
    }
    let mut per_column: Vec<(String, i64)> = per_column.into_iter().collect();
    per_column.sort_by_key(|(_, b)| -b);
    for (c, b) in per_column {
        println!("  {c:<45} {:>6.2} B/span", b as f64 / n as f64);
    }

    let reader = BlockReader::open(Arc::clone(&store), meta).await.unwrap();
    let ids: Vec<TraceId> = spans
        .iter()
        .step_by(10 * (traces / 1_000).max(1))
        .map(|s| s.span.trace_id)
        .collect();
    let began = std::time::Instant::now();
    for id in &ids {
        assert_eq!(reader.trace(*id).await.unwrap().len(), 10);
    }
    let per = began.elapsed().as_secs_f64() / ids.len() as f64;
    println!(
        "trace by id (in memory): {:.2} ms each over {} lookups",
        per * 1e3,
        ids.len()
    );

    let began = std::time::Instant::now();
    let all = scan_ids(&reader, &SpanFilter::default()).await.unwrap();
    let secs = began.elapsed().as_secs_f64();
    assert_eq!(all.len(), traces);
    println!(
        "search, columns only: {secs:.2} s, {:.0} spans/s",
        n as f64 / secs
    );

    let decode_all = SpanFilter {
        attributes: vec![("key-1".into(), "value-1".into())],
        ..SpanFilter::default()
    };
    let began = std::time::Instant::now();
    scan_ids(&reader, &decode_all).await.unwrap();
    let secs = began.elapsed().as_secs_f64();
    println!(
        "search decoding every span: {secs:.2} s, {:.0} spans/s",
        n as f64 / secs
    );
}

/// Writes a small block under `$CLEW_BLOCK_SAMPLE_DIR` (e.g. to check that DuckDB reads
/// it): `CLEW_BLOCK_SAMPLE_DIR=/tmp/b cargo test -p clew-store -- --ignored sample_block`.
#[tokio::test]
#[ignore = "writes to a directory given by the environment"]
async fn sample_block_on_disk() {
    let Ok(dir) = std::env::var("CLEW_BLOCK_SAMPLE_DIR") else {
        return;
    };
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap();
    let mut spans = jaeger_clickhouse_shape(100, 7);
    spans.extend(some_spans(10));
    let meta = write_block(&store, &tenant(), spans, &BlockOptions::default())
        .await
        .unwrap();
    println!("wrote block {}", meta.id);
}

/// Readers are shared across request handlers, whose futures must be `Send`.
#[test]
fn readers_and_their_futures_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let check = |reader: &BlockReader| {
        send_sync(reader);
        send(reader.trace(TraceId::default()));
        send(scan_ids(reader, &SpanFilter::default()));
        send(reader.all_spans());
    };
    let _ = check;
    let store = InMemory::new();
    send(write_block(
        &store,
        &tenant(),
        Vec::new(),
        &BlockOptions::default(),
    ));
    send(list_blocks(&store, &tenant()));
    send(delete_block(&store, &tenant(), "x"));
}

// ---- caches (cache.rs) ----

fn tiny_cache(bloom: u64, metadata: u64, range: u64) -> Arc<BlockCache> {
    Arc::new(
        BlockCache::new(&CacheOptions {
            bloom_bytes: bloom,
            metadata_bytes: metadata,
            range_bytes: range,
        })
        .unwrap(),
    )
}

fn assert_within_bounds(cache: &BlockCache) {
    for kind in [CacheKind::Bloom, CacheKind::Metadata, CacheKind::Range] {
        let s = cache.stats(kind);
        assert!(
            s.bytes <= s.capacity_bytes,
            "{kind:?}: {} bytes held, bound {}",
            s.bytes,
            s.capacity_bytes
        );
    }
}

/// Writes `blocks` blocks of `traces` Jaeger-shaped traces each; returns their spans too.
async fn some_blocks(
    store: &Arc<dyn ObjectStore>,
    blocks: usize,
    traces: usize,
    options: &BlockOptions,
) -> Vec<(BlockMeta, Vec<SpanRecord>)> {
    let mut out = Vec::new();
    for i in 0..blocks {
        let spans = jaeger_clickhouse_shape(traces, 100 + i as u64);
        let meta = write_block(store.as_ref(), &tenant(), spans.clone(), options)
            .await
            .unwrap();
        out.push((meta, spans));
    }
    out
}

/// Bounds far below what the blocks need: entries are evicted and fetched again all the
/// time, reads stay exact and the cache never holds more than its bound.
#[tokio::test]
async fn reads_stay_exact_while_a_tiny_cache_evicts() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let options = BlockOptions {
        row_group_spans: 100,
        page_rows: 20,
        ..BlockOptions::default()
    };
    let blocks = some_blocks(&store, 4, 60, &options).await;
    // Room for about one footer, one bloom filter and a few pages.
    let footer = {
        let probe = tiny_cache(1 << 20, 64 << 20, 0);
        BlockReader::open_with_cache(Arc::clone(&store), blocks[0].0.clone(), Arc::clone(&probe))
            .await
            .unwrap();
        probe.stats(CacheKind::Metadata).bytes
    };
    assert!(footer > 0);
    for (bloom, metadata, range) in [(2_048, footer * 3 / 2, 16 << 10), (1, 1, 1), (0, 0, 0)] {
        let cache = tiny_cache(bloom, metadata, range);
        let mut readers = Vec::new();
        for (meta, _) in &blocks {
            readers.push(
                BlockReader::open_with_cache(Arc::clone(&store), meta.clone(), Arc::clone(&cache))
                    .await
                    .unwrap(),
            );
            assert_within_bounds(&cache);
        }
        for round in 0..2 {
            for (reader, (_, spans)) in readers.iter().zip(&blocks) {
                for (id, want) in expected_traces(spans).into_iter().step_by(7) {
                    assert_eq!(reader.trace(id).await.unwrap(), want, "round {round}");
                    assert_within_bounds(&cache);
                }
                assert!(reader.trace(TraceId([0xee; 16])).await.unwrap().is_empty());
                let f = SpanFilter {
                    service: Some("service-3".into()),
                    ..SpanFilter::default()
                };
                assert_eq!(
                    scan_ids(reader, &f).await.unwrap(),
                    naive_ids(&expected_traces(spans), &f)
                );
                assert_within_bounds(&cache);
            }
        }
        let md = cache.stats(CacheKind::Metadata);
        // Four footers never fit in room for one and a half: they were fetched again.
        assert!(md.misses > blocks.len() as u64, "{md:?}");
        assert!(md.entries <= 1, "{md:?}");
    }
}

#[tokio::test]
async fn cache_counters_move_and_pages_are_served_from_memory() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let options = BlockOptions {
        row_group_spans: 100,
        page_rows: 20,
        ..BlockOptions::default()
    };
    let blocks = some_blocks(&store, 1, 50, &options).await;
    let (meta, spans) = &blocks[0];
    let cache = Arc::new(BlockCache::new(&CacheOptions::default()).unwrap());
    let reader = BlockReader::open_with_cache(Arc::clone(&store), meta.clone(), Arc::clone(&cache))
        .await
        .unwrap();
    let opened = |kind| cache.stats(kind);
    assert_eq!(opened(CacheKind::Bloom).misses, 1);
    assert_eq!(opened(CacheKind::Metadata).misses, 1);
    assert!(opened(CacheKind::Bloom).bytes >= meta.bloom_bytes);
    let id = spans[0].span.trace_id;
    let want = expected_traces(spans).remove(&id).unwrap();
    assert_eq!(reader.trace(id).await.unwrap(), want);
    let first = cache.stats(CacheKind::Range);
    assert!(first.misses > 0 && first.bytes > 0, "{first:?}");
    // The same lookup again: bloom, footer and every page from memory.
    assert_eq!(reader.trace(id).await.unwrap(), want);
    let second = cache.stats(CacheKind::Range);
    assert_eq!(second.misses, first.misses, "{second:?}");
    assert!(second.hits > first.hits);
    assert!(cache.stats(CacheKind::Bloom).hits >= 2);
    assert!(cache.stats(CacheKind::Metadata).hits >= 2);
    // A store with the object gone still answers the cached lookup.
    store
        .delete(&block_path(&tenant(), &meta.id, DATA_FILE))
        .await
        .unwrap();
    assert_eq!(reader.trace(id).await.unwrap(), want);

    // The metrics carry the same numbers under the documented names.
    let mut registry = prometheus_client::registry::Registry::default();
    cache.register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for name in [
        "clew_block_cache_hits_total{kind=\"range\"}",
        "clew_block_cache_misses_total{kind=\"metadata\"} 1",
        "clew_block_cache_bytes{kind=\"bloom\"}",
        "clew_block_cache_capacity_bytes{kind=\"metadata\"} 134217728",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}

/// An evicted bloom filter makes `may_contain` answer "maybe"; `trace` loads it again.
#[tokio::test]
async fn evicted_bloom_filters_are_loaded_on_demand() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let blocks = some_blocks(&store, 2, 30, &BlockOptions::default()).await;
    let cache = tiny_cache(blocks[0].0.bloom_bytes + 200, 64 << 20, 0);
    let a =
        BlockReader::open_with_cache(Arc::clone(&store), blocks[0].0.clone(), Arc::clone(&cache))
            .await
            .unwrap();
    let b =
        BlockReader::open_with_cache(Arc::clone(&store), blocks[1].0.clone(), Arc::clone(&cache))
            .await
            .unwrap();
    let absent = TraceId([0xee; 16]);
    assert!(cache.stats(CacheKind::Bloom).entries <= 1);
    let before = cache.stats(CacheKind::Bloom).misses;
    // At most one of the two filters is in memory: for the other, `may_contain` cannot rule
    // the trace out, and `trace` fetches the filter to do so.
    assert!(a.may_contain(absent) || b.may_contain(absent) || before == 2);
    assert!(a.trace(absent).await.unwrap().is_empty());
    assert!(b.trace(absent).await.unwrap().is_empty());
    assert!(cache.stats(CacheKind::Bloom).misses > before);
    for (reader, (_, spans)) in [&a, &b].into_iter().zip(&blocks) {
        let id = spans[3].span.trace_id;
        assert_eq!(
            reader.trace(id).await.unwrap(),
            expected_traces(spans).remove(&id).unwrap()
        );
    }
}

// ---- merging (merge.rs) ----

use super::merge::{Tuning, merge_blocks_tuned};

/// Writes each part as a block and merges them all; returns the merged meta and readers.
async fn write_and_merge(
    store: &Arc<dyn ObjectStore>,
    parts: &[Vec<SpanRecord>],
    options: &BlockOptions,
    tuning: Tuning,
) -> (BlockMeta, Vec<Arc<BlockReader>>) {
    let mut sources = Vec::new();
    for part in parts {
        let meta = write_block(store.as_ref(), &tenant(), part.clone(), options)
            .await
            .unwrap();
        sources.push(Arc::new(
            BlockReader::open(Arc::clone(store), meta).await.unwrap(),
        ));
    }
    let merged = merge_blocks_tuned(store, &tenant(), &sources, options, tuning)
        .await
        .unwrap();
    (merged, sources)
}

/// A merged block holds exactly what writing all the spans as one block would: the same
/// spans in the same order, each duplicate once (the earliest source's copy), and a meta
/// that says so.
async fn check_merge(
    store: &Arc<dyn ObjectStore>,
    parts: &[Vec<SpanRecord>],
    options: &BlockOptions,
    tuning: Tuning,
) -> BlockMeta {
    let (merged, sources) = write_and_merge(store, parts, options, tuning).await;
    let all: Vec<SpanRecord> = parts.iter().flatten().cloned().collect();
    let traces = expected_traces(&all);
    check_meta(&merged, &traces);
    assert_eq!(
        merged.provenance.compacted_from,
        sources
            .iter()
            .map(|s| s.meta().id.clone())
            .collect::<Vec<_>>()
    );
    let data = block_path(&tenant(), &merged.id, DATA_FILE);
    assert_eq!(store.head(&data).await.unwrap().size, merged.data_bytes);
    let listed = list_blocks(store.as_ref(), &tenant()).await.unwrap();
    assert!(listed.blocks.contains(&merged));
    let reader = BlockReader::open(Arc::clone(store), merged.clone())
        .await
        .unwrap();
    assert_eq!(reader.all_spans().await.unwrap(), expected_rows(&all));
    // The single block a flush would have written, for the parts the meta must agree on.
    let single = write_block(store.as_ref(), &tenant(), all, options)
        .await
        .unwrap();
    assert_eq!(single.row_groups, merged.row_groups);
    // The same attribute index entries (runs may be cut elsewhere).
    let index = |id: &str| block_path(&tenant(), id, INDEX_FILE);
    let merged_index = store.get(&index(&merged.id)).await.unwrap().bytes().await;
    let single_index = store.get(&index(&single.id)).await.unwrap().bytes().await;
    assert_eq!(
        index_entries(merged_index.unwrap()),
        index_entries(single_index.unwrap())
    );
    assert!(merged.index_bytes > 0);
    for (id, spans) in &traces {
        assert!(reader.may_contain(*id));
        assert_eq!(&reader.trace(*id).await.unwrap(), spans);
    }
    merged
}

/// Copies of spans of one part appended to others: duplicates across blocks, some exact,
/// some with the same (trace id, span id, start) but another name, so that which copy is
/// kept shows.
fn arb_parts() -> impl Strategy<Value = Vec<Vec<SpanRecord>>> {
    (
        proptest::collection::vec(arb_spans(), 1..5),
        proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                any::<bool>(),
            ),
            0..6,
        ),
    )
        .prop_map(|(mut parts, copies)| {
            for (from, span, to, altered) in copies {
                let from = from.index(parts.len());
                let mut dup = span.get(&parts[from]).clone();
                if altered {
                    dup.span.name.push_str("-copy");
                }
                let to = to.index(parts.len());
                parts[to].push(dup);
            }
            parts
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn merging_blocks_equals_writing_their_spans_as_one(
        parts in arb_parts(),
        row_group_spans in 1usize..8,
        page_rows in 1usize..4,
        read_rows in 1usize..5,
        out_rows in 1usize..7,
    ) {
        rt().block_on(async {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let options = BlockOptions { row_group_spans, page_rows, ..BlockOptions::default() };
            check_merge(&store, &parts, &options, Tuning { read_rows, out_rows }).await;
        });
    }
}

/// Thousands of spans through small row groups and batches, traces split across blocks
/// and one block entirely duplicated, on the local file system (a real upload).
#[tokio::test]
async fn merge_crosses_many_row_groups_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let spans = jaeger_clickhouse_shape(600, 5);
    // Spans 0..6000 in three overlapping slices: every trace's spans split across blocks.
    let parts = vec![
        spans[..2_500].to_vec(),
        spans[2_000..4_200].to_vec(),
        spans[4_200..].to_vec(),
        spans[1_000..1_500].to_vec(),
    ];
    let options = BlockOptions {
        row_group_spans: 37,
        page_rows: 9,
        ..BlockOptions::default()
    };
    let tuning = Tuning {
        read_rows: 16,
        out_rows: 50,
    };
    let merged = check_merge(&store, &parts, &options, tuning).await;
    assert_eq!(merged.span_count, 6_000);
    assert_eq!(merged.trace_count, 600);
    assert_eq!(u64::from(merged.row_groups), 6_000u64.div_ceil(37));
    // The same with the default batch sizes.
    check_merge(&store, &parts, &options, Tuning::default()).await;
}

/// Merging goes around the page cache (a whole-file scan would only push hot pages out)
/// and refuses nothing-to-merge and bad options.
#[tokio::test]
async fn merge_bypasses_the_page_cache_and_refuses_empty_input() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let blocks = some_blocks(&store, 2, 20, &BlockOptions::default()).await;
    let cache = Arc::new(BlockCache::new(&CacheOptions::default()).unwrap());
    let mut sources = Vec::new();
    for (meta, _) in &blocks {
        sources.push(Arc::new(
            BlockReader::open_with_cache(Arc::clone(&store), meta.clone(), Arc::clone(&cache))
                .await
                .unwrap(),
        ));
    }
    let merged = merge_blocks(&store, &tenant(), &sources, &BlockOptions::default())
        .await
        .unwrap();
    assert_eq!(merged.span_count, 400);
    assert_eq!(
        cache.stats(CacheKind::Range),
        CacheKindStats {
            capacity_bytes: CacheOptions::default().range_bytes,
            ..CacheKindStats::default()
        }
    );
    assert!(matches!(
        merge_blocks(&store, &tenant(), &[], &BlockOptions::default()).await,
        Err(BlockError::Empty)
    ));
    let bad = BlockOptions {
        row_group_spans: 0,
        ..BlockOptions::default()
    };
    assert!(matches!(
        merge_blocks(&store, &tenant(), &sources, &bad).await,
        Err(BlockError::Options(_))
    ));
}

/// A source whose data is damaged fails the merge with an error, leaves no visible block
/// and no upload parts behind.
#[tokio::test]
async fn a_damaged_source_fails_the_merge_cleanly() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let blocks = some_blocks(&store, 2, 20, &BlockOptions::default()).await;
    let mut sources = Vec::new();
    for (meta, _) in &blocks {
        sources.push(Arc::new(
            BlockReader::open(Arc::clone(&store), meta.clone())
                .await
                .unwrap(),
        ));
    }
    // Garbage over the second block's pages (its footer, already read, stays valid).
    let path = block_path(&tenant(), &blocks[1].0.id, DATA_FILE);
    let mut data = store
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    for b in data.iter_mut().skip(4).take(2_000) {
        *b = 0xa5;
    }
    store.put(&path, data.into()).await.unwrap();
    assert!(
        merge_blocks(&store, &tenant(), &sources, &BlockOptions::default())
            .await
            .is_err()
    );
    let listed = list_blocks(store.as_ref(), &tenant()).await.unwrap();
    assert_eq!(listed.blocks.len(), 2);
}

/// Peak memory of compaction, the old way (every span in memory, then one encode) against
/// the streaming merge. Run each mode in its own process, release build:
/// `CLEW_BENCH_DIR=/tmp/merge-bench CLEW_MERGE_MODE=old cargo test -p clew-store --release
/// -- --ignored --nocapture merge_peak_memory` (then `CLEW_MERGE_MODE=new`). The first run
/// writes the source blocks (CLEW_BENCH_TRACES traces over CLEW_BENCH_BLOCKS blocks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by hand"]
async fn merge_peak_memory() {
    fn status(field: &str) -> u64 {
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        text.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    }
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let traces = env("CLEW_BENCH_TRACES", 150_000);
    let blocks = env("CLEW_BENCH_BLOCKS", 10);
    let dir = std::env::var("CLEW_BENCH_DIR").unwrap_or_else(|_| "/tmp/clew-merge-bench".into());
    let mode = std::env::var("CLEW_MERGE_MODE").unwrap_or_else(|_| "new".into());
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&dir).unwrap());
    let t = tenant();
    let options = BlockOptions::default();
    let mut metas = list_blocks(store.as_ref(), &t).await.unwrap().blocks;
    metas.retain(|m| m.provenance.compacted_from.is_empty());
    if metas.len() != blocks {
        for m in &metas {
            delete_block(store.as_ref(), &t, &m.id).await.unwrap();
        }
        metas.clear();
        for i in 0..blocks {
            let spans = jaeger_clickhouse_shape(traces / blocks, 1_000 + i as u64);
            metas.push(
                write_block(store.as_ref(), &t, spans, &options)
                    .await
                    .unwrap(),
            );
        }
    }
    let spans: u64 = metas.iter().map(|m| m.span_count).sum();
    let mut sources = Vec::new();
    for m in &metas {
        sources.push(Arc::new(
            BlockReader::open(Arc::clone(&store), m.clone())
                .await
                .unwrap(),
        ));
    }
    // Peak RSS from here on (Linux: writing 5 to clear_refs resets VmHWM).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let base = status("VmRSS:");
    let began = std::time::Instant::now();
    let merged = if mode == "old" {
        let mut all = Vec::new();
        for s in &sources {
            all.extend(s.all_spans().await.unwrap());
        }
        write_block(store.as_ref(), &t, all, &options)
            .await
            .unwrap()
    } else {
        merge_blocks(&store, &t, &sources, &options).await.unwrap()
    };
    let secs = began.elapsed().as_secs_f64();
    let peak = status("VmHWM:");
    println!(
        "mode {mode}: {spans} spans in {} blocks -> {} spans, {} row groups, {} MB data; \
         {secs:.1} s ({:.0} spans/s); RSS before {} MiB, peak {} MiB, peak above before {} MiB",
        metas.len(),
        merged.span_count,
        merged.row_groups,
        merged.data_bytes / 1_000_000,
        spans as f64 / secs,
        base / 1024,
        peak / 1024,
        peak.saturating_sub(base) / 1024,
    );
    delete_block(store.as_ref(), &t, &merged.id).await.unwrap();
}

/// A lookup reads only the `trace_id` pages whose statistics admit the id: with rows sorted
/// by trace, a page or two per row group, however large the row group.
#[tokio::test]
async fn lookups_select_only_the_pages_that_can_hold_the_trace() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    // Pages end at the writer's 1,024-row write batches at the earliest, so 10,000-row
    // groups get about ten pages of `trace_id` each.
    let spans: Vec<SpanRecord> = (0..20_000u64)
        .map(|i| simple_span(i / 10, i % 10, "svc", "op", 1_000 + i))
        .collect();
    let options = BlockOptions {
        row_group_spans: 10_000,
        page_rows: 1_000,
        ..BlockOptions::default()
    };
    let meta = write_block(store.as_ref(), &tenant(), spans.clone(), &options)
        .await
        .unwrap();
    let reader = BlockReader::open(Arc::clone(&store), meta).await.unwrap();
    let metadata = reader.metadata().await.unwrap();
    let traces = expected_traces(&spans);
    for (id, want) in traces.iter().step_by(97) {
        let selection =
            super::read::trace_pages(&metadata, &[0, 1], *id).expect("blocks have a page index");
        let selected: usize = selection
            .iter()
            .filter(|s| !s.skip)
            .map(|s| s.row_count)
            .sum();
        assert!(
            (10..=2 * 1_024).contains(&selected),
            "{selected} rows selected of 20,000 for one trace"
        );
        assert_eq!(&reader.trace(*id).await.unwrap(), want);
    }
}

/// Every (term, slot) an encoded index holds, decoded the simple way: what merge and write
/// tests compare.
fn index_entries(bytes: bytes::Bytes) -> std::collections::BTreeSet<(Vec<u8>, u32)> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("index footer");
    let sizes: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows() as usize)
        .collect();
    let mut terms: Vec<Vec<u8>> = Vec::new();
    let mut gaps: Vec<u32> = Vec::new();
    for batch in builder.build().expect("index reader") {
        let batch = batch.expect("index batch");
        let t = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::BinaryArray>()
            .expect("terms");
        let g = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow_array::UInt32Array>()
            .expect("gaps");
        terms.extend(t.iter().flatten().map(<[u8]>::to_vec));
        gaps.extend(g.values().iter().copied());
    }
    let mut out = std::collections::BTreeSet::new();
    let mut at = 0;
    for size in sizes {
        let mut previous: Option<(&[u8], u32)> = None;
        for i in at..at + size {
            let slot = match previous {
                Some((t, slot)) if t == terms[i].as_slice() => slot + gaps[i],
                _ => gaps[i],
            };
            out.insert((terms[i].clone(), slot));
            previous = Some((&terms[i], slot));
        }
        at += size;
    }
    out
}
