//! Tempo search API tests: parameters (logfmt tags, durations, Unix seconds, limits, bad
//! values), the JSON written from hand-made engine answers, and every route end to end
//! through the router over a real store in a temporary directory.

use axum::Router;
use axum::http::{StatusCode, Uri};
use clew_model::{
    AnyValue, DurationNanos, SpanId, SpanKind, Status, StatusCode as SpanStatus, TenantId, TraceId,
    UnixNanos,
};
use clew_query::search::{
    Cursor, FieldValue, MatchedSpan, MatchedSpanset, SearchMetrics, SearchOrder, SearchRequest,
    SearchResult, ServiceStats, TagNames, TagScope, TraceSummary,
};
use clew_query::traceql;
use serde_json::{Value, json};

use super::*;
use crate::tempo_common::tags_to_traceql;
use crate::test_support::{
    MS, Reply, batch, get, kv, resource, router, span, temp_store, trace_a, trace_b, trace_c,
};

/// 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000_000_000_000;
const T0_S: u64 = 1_700_000_000;

// ---------------------------------------------------------------- parameters

fn parse(query: &str) -> Result<SearchRequest, TempoError> {
    let uri: Uri = format!("/api/search?{query}").parse().unwrap();
    parse_search(&uri)
}

fn parse_ok(query: &str) -> SearchRequest {
    parse(query).unwrap_or_else(|e| panic!("{query}: {e:?}"))
}

fn parse_err(query: &str) -> String {
    match parse(query) {
        Err(TempoError::BadRequest(msg)) => msg,
        other => panic!("{query} must be a 400, got {other:?}"),
    }
}

fn tql(text: &str) -> traceql::Query {
    traceql::parse(text).unwrap_or_else(|e| panic!("{}", e.render(text)))
}

#[test]
fn traceql_search_params() {
    let r = parse_ok(
        "q=%7B+span.http.method+%3D+%22GET%22+%7D&limit=7&spss=5&start=1700000000&end=1700003600\
         &minDuration=1.5ms&maxDuration=2s&order=longest",
    );
    assert_eq!(r.query, tql(r#"{ span.http.method = "GET" }"#));
    assert_eq!(r.limit, 7);
    assert_eq!(r.spans_per_spanset, 5);
    assert_eq!(r.start, Some(UnixNanos(T0)));
    assert_eq!(
        r.end,
        Some(UnixNanos(T0 + 3_600_999_999_999)),
        "the whole end second"
    );
    assert_eq!(r.min_duration, Some(DurationNanos(1_500_000)));
    assert_eq!(r.max_duration, Some(DurationNanos(2_000_000_000)));
    assert_eq!(r.order, SearchOrder::Longest);
    assert_eq!(r.cursor, None);
}

#[test]
fn search_defaults() {
    let r = parse_ok("");
    assert_eq!(r.query, tql("{ }"));
    // 0 is the engine's "default" (Tempo's 20 traces, 3 spans per spanset).
    assert_eq!((r.limit, r.spans_per_spanset), (0, 0));
    assert_eq!((r.start, r.end), (None, None));
    assert_eq!((r.min_duration, r.max_duration), (None, None));
    assert_eq!(r.order, SearchOrder::Newest);
    // start=0&end=0 is "no range"; minDuration=0 no bound; spss=0 every span.
    let r = parse_ok("start=0&end=0&minDuration=0s&spss=0");
    assert_eq!((r.start, r.end, r.min_duration), (None, None, None));
    assert_eq!(r.spans_per_spanset, usize::MAX);
}

#[test]
fn cursor_continues_its_order() {
    let cursor = Cursor {
        order: SearchOrder::Longest,
        key: 5_000,
        start: T0,
        trace_id: TraceId::from_u64_pair(1, 2),
    };
    let token = cursor.to_token();
    let r = parse_ok(&format!("q=%7B%7D&cursor={token}"));
    assert_eq!(r.cursor, Some(cursor));
    assert_eq!(r.order, SearchOrder::Longest, "order taken from the cursor");
    let r = parse_ok(&format!("cursor={token}&order=longest"));
    assert_eq!(r.cursor, Some(cursor));
    let msg = parse_err(&format!("cursor={token}&order=newest"));
    assert!(msg.contains("cursor"), "{msg}");
    let msg = parse_err("cursor=zzz");
    assert!(msg.contains("invalid cursor"), "{msg}");
}

#[test]
fn legacy_tags_become_traceql() {
    let r = parse_ok(
        "tags=service.name%3Dapi+name%3D%22GET+%2Fx%22+status.code%3Derror+http.status_code%3D500+region%3D%22eu+%5C%22west%5C%22%22",
    );
    assert_eq!(
        r.query,
        tql(
            r#"{ resource."service.name" =~ ".*api.*" } && { name =~ ".*GET /x.*" }
               && { status = error } && { span."http.status_code" = 500 }
               && { ."region" = "eu \"west\"" }"#
        )
    );
    // Substrings are regex-escaped, root fields are the trace's.
    let r = parse_ok("tags=root.name%3Da.b%2B+root.service.name%3D%22%5B1%5D%22+error%3Dtrue");
    assert_eq!(
        r.query,
        tql(
            r#"{ rootName =~ ".*a\\.b\\+.*" } && { rootServiceName =~ ".*\\[1\\].*" } && { status = error }"#
        )
    );
    // Tags as loose parameters when nothing else is asked (the first Grafana integration).
    let r = parse_ok("service.name=api&limit=5&http.method=GET&order=newest");
    assert_eq!(
        r.query,
        tql(r#"{ resource."service.name" =~ ".*api.*" } && { span."http.method" =~ ".*GET.*" }"#)
    );
    assert_eq!(r.limit, 5);
    // ...but not beside a range, as in Tempo.
    let r = parse_ok("service.name=api&start=10&end=20");
    assert_eq!(r.query, tql("{ }"));
}

#[test]
fn tags_to_traceql_table() {
    let t = |pairs: &[(&str, &str)]| {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        tags_to_traceql(&owned)
    };
    assert_eq!(t(&[]).unwrap(), "{ }");
    assert_eq!(
        t(&[("k8s.pod.name", "web-1")]).unwrap(),
        r#"{ resource."k8s.pod.name" =~ ".*web\\-1.*" }"#
    );
    assert_eq!(
        t(&[("http.url", "")]).unwrap(),
        r#"{ span."http.url" =~ ".*.*" }"#
    );
    assert_eq!(
        t(&[("http.status_code", "5xx")]).unwrap(),
        r#"{ ."http.status_code" = "5xx" }"#
    );
    assert_eq!(t(&[("error", "false")]).unwrap(), "{ status != error }");
    assert_eq!(
        t(&[("tab\tkey", "line\nbreak\u{1}")]).unwrap(),
        r#"{ ."tab\tkey" = "line\nbreak\u0001" }"#
    );
    assert!(t(&[("status.code", "bad")]).is_err());
    assert!(t(&[("error", "yes")]).is_err());
    // Every translation parses back, whatever the key and value hold.
    for (k, v) in [
        ("we\"ird\\key", "va\"l\\ue"),
        ("name", "(.*)[]{}^$|?+#&-~"),
        ("x", "\u{7f}\u{85}é"),
    ] {
        let text = t(&[(k, v), ("service.name", v)]).unwrap();
        traceql::parse(&text).unwrap_or_else(|e| panic!("{}", e.render(&text)));
    }
}

#[test]
fn logfmt_as_go_logfmt_reads_it() {
    let d = |s: &str| decode_logfmt(s);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        d(r#"a=1 b="two words"  c= d e="x\"y\\z\u00e9\n""#).unwrap(),
        pairs(&[
            ("a", "1"),
            ("b", "two words"),
            ("c", ""),
            ("d", ""),
            ("e", "x\"y\\zé\n")
        ])
    );
    assert_eq!(
        d("a=1\r\nb=2\n\n").unwrap(),
        pairs(&[("a", "1"), ("b", "2")])
    );
    assert_eq!(d(r#"s="\ud83d\ude00""#).unwrap(), pairs(&[("s", "😀")]));
    assert_eq!(d(r#"s="\ud83d""#).unwrap(), pairs(&[("s", "\u{fffd}")]));
    assert_eq!(d("").unwrap(), pairs(&[]));
    // Errors name the 1-based position in the line, as go-logfmt does.
    assert_eq!(d("=x").unwrap_err(), "unexpected '=' at pos 1");
    assert_eq!(d("a=b=c").unwrap_err(), "unexpected '=' at pos 4");
    assert_eq!(d(r#"a"b=1"#).unwrap_err(), "unexpected '\"' at pos 2");
    assert_eq!(d(r#"a=b"c"#).unwrap_err(), "unexpected '\"' at pos 4");
    assert_eq!(
        d(r#"a="open"#).unwrap_err(),
        "unterminated quoted value at pos 8"
    );
    assert_eq!(d(r#"a="\q""#).unwrap_err(), "invalid quoted value at pos 7");
}

#[test]
fn bad_search_params_are_400_naming_the_param() {
    for (query, needle) in [
        ("limit=lots", "invalid limit"),
        ("limit=0", "invalid limit: must be a positive number"),
        ("limit=-3", "invalid limit"),
        ("limit=262145", "limit 262145 exceeds max limit 262144"),
        ("spss=101", "spans per span set exceeds 100. received 101"),
        ("spss=x", "invalid spss"),
        ("start=yesterday&end=5", "invalid start"),
        ("start=1&end=99999999999", "invalid end"),
        (
            "start=10",
            "http parameter start must be before end. received start=10 end=0",
        ),
        (
            "start=20&end=10",
            "http parameter start must be before end. received start=20 end=10",
        ),
        ("minDuration=5", "invalid minDuration"),
        ("maxDuration=-1s", "invalid maxDuration"),
        (
            "minDuration=2s&maxDuration=1s",
            "invalid maxDuration: must be greater than minDuration",
        ),
        (
            "q=%7B%7D&tags=a%3Db",
            "invalid request: can't specify tags and q in the same query",
        ),
        (
            "tags=a%3D%22open",
            "invalid tags: unterminated quoted value",
        ),
        ("tags=a%3D1+a%3D2", "invalid tags: tag a has been set twice"),
        ("tags=status.code%3Dbroken", "invalid tags: status.code"),
        ("order=oldest", "invalid order"),
    ] {
        let msg = parse_err(query);
        assert!(msg.contains(needle), "{query}: {msg:?} lacks {needle:?}");
    }
}

#[test]
fn traceql_errors_show_line_column_and_caret() {
    let msg = parse_err("q=%7B+name+%3D+%7D");
    assert!(
        msg.starts_with("invalid TraceQL query: parse error at line 1, column 10"),
        "{msg}"
    );
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 3, "{msg}");
    assert_eq!(lines[1], "{ name = }");
    assert_eq!(lines[2], "         ^");
    // A type error, on the second line of the query.
    let msg = parse_err("q=%7B+.a+%3D+1+%7D+%26%26%0A%7B+duration+%3D+%22x%22+%7D");
    assert!(msg.contains("line 2"), "{msg}");
}

// ---------------------------------------------------------------- JSON shapes

fn summary_a() -> TraceSummary {
    TraceSummary {
        trace_id: TraceId::from_u64_pair(0, 0xabc),
        root_service_name: Some("frontend".into()),
        root_name: Some("GET /checkout".into()),
        start: UnixNanos(T0),
        duration: DurationNanos(10 * MS + 999_999),
        span_count: 3,
        error_count: 1,
        services: vec![
            ServiceStats {
                name: "backend".into(),
                span_count: 1,
                error_count: 1,
            },
            ServiceStats {
                name: "frontend".into(),
                span_count: 2,
                error_count: 0,
            },
        ],
        spansets: vec![
            MatchedSpanset {
                spans: vec![MatchedSpan {
                    span_id: SpanId::from_u64(2),
                    name: "SELECT cart".into(),
                    service_name: "backend".into(),
                    start: UnixNanos(T0 + 2 * MS),
                    duration: DurationNanos(5 * MS),
                    attributes: vec![
                        ("http.status_code".into(), FieldValue::Int(500)),
                        ("ratio".into(), FieldValue::Float(0.25)),
                        ("cached".into(), FieldValue::Bool(false)),
                        ("status".into(), FieldValue::Status(SpanStatus::Error)),
                        ("kind".into(), FieldValue::Kind(SpanKind::Client)),
                        (
                            "elapsed".into(),
                            FieldValue::Duration(DurationNanos(1_500_000_000)),
                        ),
                        ("nan".into(), FieldValue::Float(f64::NAN)),
                        ("inf".into(), FieldValue::Float(f64::NEG_INFINITY)),
                        ("db".into(), FieldValue::Str(String::new())),
                    ],
                }],
                matched: 4,
                attributes: vec![("count()".into(), FieldValue::Int(4))],
            },
            MatchedSpanset {
                spans: vec![MatchedSpan {
                    span_id: SpanId::from_u64(0xff),
                    name: String::new(),
                    service_name: "frontend".into(),
                    start: UnixNanos(T0),
                    duration: DurationNanos(0),
                    attributes: vec![],
                }],
                matched: 1,
                attributes: vec![],
            },
        ],
    }
}

fn summary_orphan() -> TraceSummary {
    TraceSummary {
        trace_id: TraceId([0xcc; 16]),
        root_service_name: None,
        root_name: None,
        start: UnixNanos(T0 + 30 * MS),
        duration: DurationNanos(999_999),
        span_count: 1,
        error_count: 0,
        services: vec![ServiceStats {
            name: "isolated".into(),
            span_count: 1,
            error_count: 0,
        }],
        spansets: vec![],
    }
}

#[test]
fn search_response_is_tempos_jsonpb() {
    let result = SearchResult {
        traces: vec![summary_a(), summary_orphan()],
        next: Some(Cursor {
            order: SearchOrder::Newest,
            key: T0,
            start: 0,
            trace_id: TraceId([0xcc; 16]),
        }),
        metrics: SearchMetrics {
            inspected_bytes: 12_345,
            inspected_spans: 4,
            inspected_traces: 2,
            total_blocks: 0,
            inspected_blocks: 0,
            total_block_bytes: 0,
        },
        partial: None,
    };
    let first_set = json!({
        "spans": [{
            "spanID": "0000000000000002",
            "name": "SELECT cart",
            "startTimeUnixNano": (T0 + 2 * MS).to_string(),
            "durationNanos": "5000000",
            "attributes": [
                {"key": "http.status_code", "value": {"intValue": "500"}},
                {"key": "ratio", "value": {"doubleValue": 0.25}},
                {"key": "cached", "value": {"boolValue": false}},
                {"key": "status", "value": {"stringValue": "error"}},
                {"key": "kind", "value": {"stringValue": "client"}},
                {"key": "elapsed", "value": {"stringValue": "1.5s"}},
                {"key": "nan", "value": {"doubleValue": "NaN"}},
                {"key": "inf", "value": {"doubleValue": "-Infinity"}},
                {"key": "db", "value": {"stringValue": ""}},
            ],
        }],
        "matched": 4,
        "attributes": [{"key": "count()", "value": {"intValue": "4"}}],
    });
    let want = json!({
        "traces": [
            {
                "traceID": "00000000000000000000000000000abc",
                "rootServiceName": "frontend",
                "rootTraceName": "GET /checkout",
                "startTimeUnixNano": T0.to_string(),
                "durationMs": 10,
                "spanSet": first_set,
                "spanSets": [
                    first_set,
                    {
                        // Zero duration and empty name left out, as jsonpb does.
                        "spans": [{"spanID": "00000000000000ff", "startTimeUnixNano": T0.to_string()}],
                        "matched": 1,
                    },
                ],
                "serviceStats": {
                    "backend": {"spanCount": 1, "errorCount": 1},
                    "frontend": {"spanCount": 2},
                },
            },
            {
                "traceID": "cccccccccccccccccccccccccccccccc",
                "rootServiceName": "<root span not yet received>",
                "startTimeUnixNano": (T0 + 30 * MS).to_string(),
                "serviceStats": {"isolated": {"spanCount": 1}},
            },
        ],
        "metrics": {
            "inspectedTraces": 2,
            "inspectedBytes": "12345",
            "completedJobs": 1,
            "totalJobs": 1,
            "inspectedSpans": "4",
        },
        "nextCursor": format!("n{T0:016x}-0000000000000000-{}", "cc".repeat(16)),
    });
    assert_eq!(search_response(&result), want);

    let empty = SearchResult {
        partial: Some("inspected bytes limit reached".into()),
        ..SearchResult::default()
    };
    assert_eq!(
        search_response(&empty),
        json!({
            "traces": [],
            "metrics": {"completedJobs": 1, "totalJobs": 1},
            "partial": "inspected bytes limit reached",
        })
    );
}

/// One trace of a search answer, as `search_response` writes it.
fn trace_json(t: &TraceSummary) -> Value {
    trace_metadata_json(&tempo_common::trace_metadata(t, TraceIdForm::Padded))
}

#[test]
fn counts_saturate_at_u32() {
    let mut t = summary_orphan();
    t.duration = DurationNanos(u64::MAX);
    t.services[0].span_count = usize::MAX;
    let v = trace_json(&t);
    assert_eq!(v["durationMs"], json!(u32::MAX));
    assert_eq!(v["serviceStats"]["isolated"]["spanCount"], json!(u32::MAX));
}

fn names() -> TagNames {
    TagNames {
        scopes: vec![
            (TagScope::Span, vec!["http.method".into(), "shared".into()]),
            (
                TagScope::Resource,
                vec!["service.name".into(), "shared".into()],
            ),
            (TagScope::Event, vec!["exception.type".into()]),
            (TagScope::Link, vec![]),
            (TagScope::Intrinsic, vec!["duration".into(), "name".into()]),
        ],
    }
}

#[test]
fn tag_names_json() {
    assert_eq!(
        tags_v1_response(&tempo_common::v1_tag_names(&names(), ScopeParam::All)),
        json!({"tagNames": ["http.method", "service.name", "shared"], "metrics": {}})
    );
    assert_eq!(
        tags_v2_response(names()),
        json!({
            "scopes": [
                {"name": "span", "tags": ["http.method", "shared"]},
                {"name": "resource", "tags": ["service.name", "shared"]},
                {"name": "event", "tags": ["exception.type"]},
                {"name": "intrinsic", "tags": ["duration", "name"]},
            ],
            "metrics": {},
        })
    );
    assert_eq!(
        tags_v2_response(TagNames::default()),
        json!({"scopes": [], "metrics": {}})
    );
}

#[test]
fn tag_values_json() {
    let values = [
        FieldValue::Int(200),
        FieldValue::Str("GET".into()),
        FieldValue::Str(String::new()),
        FieldValue::Float(1.5),
        FieldValue::Bool(true),
        FieldValue::Duration(DurationNanos(2_000_000)),
        FieldValue::Status(SpanStatus::Ok),
        FieldValue::Kind(SpanKind::Server),
    ];
    assert_eq!(
        tag_values_v2_response(&values),
        json!({
            "tagValues": [
                {"type": "int", "value": "200"},
                {"type": "string", "value": "GET"},
                {"type": "string"},
                {"type": "float", "value": "1.5"},
                {"type": "bool", "value": "true"},
                {"type": "duration", "value": "2ms"},
                {"type": "keyword", "value": "ok"},
                {"type": "keyword", "value": "server"},
            ],
            "metrics": {},
        })
    );
    assert_eq!(
        tag_values_v1_response("http.status_code", &values[..2]),
        json!({"tagValues": ["200", "GET"], "metrics": {}})
    );
    // Tempo's virtual values come first, each text once.
    assert_eq!(
        tag_values_v1_response("status.code", &[FieldValue::Str("error".into())]),
        json!({"tagValues": ["unset", "ok", "error"], "metrics": {}})
    );
    assert_eq!(
        tag_values_v1_response("error", &[]),
        json!({"tagValues": ["true"], "metrics": {}})
    );
}

#[test]
fn buildinfo_names_clew_with_a_plain_tempo_version() {
    let v = buildinfo_json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys.len(),
        6,
        "version, revision, branch, buildUser, buildDate, goVersion"
    );
    // major.minor.patch, digits only: what semver.gte parses without surprises.
    let version = v["version"].as_str().unwrap();
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(parts.len(), 3, "{version}");
    assert!(
        parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    );
    assert!(v["revision"].as_str().unwrap().starts_with("clew-"));
    assert_eq!(v["branch"], "clew");
}

// ---------------------------------------------------------------- end to end

struct Fixture {
    router: Router,
    _dir: tempfile::TempDir,
}

/// Trace A: frontend `GET /checkout` (root, ok) → backend `SELECT cart` (error) and
/// frontend `render`; 10 ms from T0. Trace B: one backend `consume` span, 50 ms from
/// T0 + 20 ms. Trace C, tenant `team-b` only: an orphan span.
async fn fixture() -> Fixture {
    let (store, dir) = temp_store();
    let default = TenantId::default();

    let mut checkout = span(trace_a(), 1, None, "GET /checkout", T0, 10 * MS);
    checkout.kind = SpanKind::Server;
    checkout.status = Status {
        code: SpanStatus::Ok,
        message: String::new(),
    };
    checkout.attributes = vec![
        kv("http.method", AnyValue::String("GET".into())),
        kv("http.status_code", AnyValue::Int(200)),
    ];
    let mut render = span(trace_a(), 3, Some(1), "render", T0 + 8 * MS, MS);
    render.kind = SpanKind::Internal;
    let mut query = span(trace_a(), 2, Some(1), "SELECT cart", T0 + 2 * MS, 5 * MS);
    query.kind = SpanKind::Client;
    query.status = Status {
        code: SpanStatus::Error,
        message: "db timeout".into(),
    };
    query.attributes = vec![kv("db.system", AnyValue::String("postgresql".into()))];
    let mut consume = span(trace_b(), 0x0b, None, "consume", T0 + 20 * MS, 50 * MS);
    consume.kind = SpanKind::Consumer;
    consume.attributes = vec![kv("messaging.system", AnyValue::String("kafka".into()))];

    for b in [
        batch(resource("backend"), vec![query]),
        batch(resource("frontend"), vec![render, checkout]),
        batch(resource("backend"), vec![consume]),
    ] {
        store.append(&default, b).await.unwrap();
    }
    store
        .append(
            &TenantId::new("team-b").unwrap(),
            batch(
                resource("isolated"),
                vec![span(
                    trace_c(),
                    0x21,
                    Some(0x99),
                    "orphan-op",
                    T0 + 30 * MS,
                    MS,
                )],
            ),
        )
        .await
        .unwrap();
    Fixture {
        router: router(store),
        _dir: dir,
    }
}

impl Reply {
    /// The `traceID`s of a search answer, in order.
    fn trace_ids(&self) -> Vec<String> {
        let v = self.json();
        v["traces"]
            .as_array()
            .unwrap_or_else(|| panic!("no traces in {v}"))
            .iter()
            .map(|t| t["traceID"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// `uri` with each query value percent-encoded (values may hold TraceQL).
fn encode(path: &str, params: &[(&str, &str)]) -> String {
    let mut out = path.to_owned();
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

impl Fixture {
    async fn get_as(&self, uri: &str, tenant: Option<&str>) -> Reply {
        let tenant: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
        get(&self.router, uri, &tenant).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.get_as(uri, None).await
    }

    async fn search(&self, params: &[(&str, &str)]) -> Reply {
        let r = self.get(&encode("/api/search", params)).await;
        assert_eq!(r.status, StatusCode::OK, "{params:?}: {}", r.text());
        r
    }
}

const A: &str = "123456789abcdef0";
const B: &str = "0102030405060708090a0b0c0d0e0f10";

fn padded(id: &str) -> String {
    format!("{id:0>32}")
}

/// Needs the engine.
#[tokio::test]
async fn search_finds_traces_in_tempos_shape() {
    let f = fixture().await;
    let r = f.search(&[("q", r#"{ name = "SELECT cart" }"#)]).await;
    let v = r.json();
    let set = json!({
        "spans": [{
            "spanID": "0000000000000002",
            "name": "SELECT cart",
            "startTimeUnixNano": (T0 + 2 * MS).to_string(),
            "durationNanos": "5000000",
        }],
        "matched": 1,
    });
    assert_eq!(
        v["traces"],
        json!([{
            "traceID": padded(A),
            "rootServiceName": "frontend",
            "rootTraceName": "GET /checkout",
            "startTimeUnixNano": T0.to_string(),
            "durationMs": 10,
            "spanSet": set,
            "spanSets": [set],
            "serviceStats": {
                "backend": {"spanCount": 1, "errorCount": 1},
                "frontend": {"spanCount": 2},
            },
        }]),
        "{v}"
    );
    assert!(v.get("nextCursor").is_none(), "{v}");
    assert_eq!(v["metrics"]["totalJobs"], 1);

    // The same under Tempo's prefix.
    let r = f
        .get(&encode(
            "/tempo/api/search",
            &[("q", r#"{ name = "SELECT cart" }"#)],
        ))
        .await;
    assert_eq!(r.json()["traces"], v["traces"]);
}

/// Needs the engine.
#[tokio::test]
async fn search_orders_filters_and_pages() {
    let f = fixture().await;
    let backend = r#"{ resource.service.name = "backend" }"#;
    assert_eq!(
        f.search(&[("q", backend)]).await.trace_ids(),
        [B.to_owned(), padded(A)],
        "newest first"
    );
    assert_eq!(
        f.search(&[("q", "{ }"), ("order", "longest")])
            .await
            .trace_ids(),
        [B.to_owned(), padded(A)],
    );
    assert_eq!(
        f.search(&[("q", "{ }"), ("minDuration", "20ms")])
            .await
            .trace_ids(),
        [B.to_owned()],
    );
    assert_eq!(
        f.search(&[("q", "{ }"), ("maxDuration", "20ms")])
            .await
            .trace_ids(),
        [padded(A)],
    );
    let (start, end) = ((T0_S + 3600).to_string(), (T0_S + 7200).to_string());
    assert!(
        f.search(&[("q", "{ }"), ("start", &start), ("end", &end)])
            .await
            .trace_ids()
            .is_empty(),
        "outside the range"
    );
    let (start, end) = ((T0_S - 60).to_string(), (T0_S + 60).to_string());
    assert_eq!(
        f.search(&[("q", backend), ("start", &start), ("end", &end)])
            .await
            .trace_ids()
            .len(),
        2
    );

    // Pages of one trace each, by cursor.
    let page1 = f.search(&[("q", "{ }"), ("limit", "1")]).await.json();
    assert_eq!(page1["traces"][0]["traceID"], B, "{page1}");
    let cursor = page1["nextCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no nextCursor: {page1}"));
    let page2 = f
        .search(&[("q", "{ }"), ("limit", "1"), ("cursor", cursor)])
        .await
        .json();
    assert_eq!(page2["traces"][0]["traceID"], padded(A), "{page2}");
    if let Some(cursor) = page2["nextCursor"].as_str() {
        let page3 = f
            .search(&[("q", "{ }"), ("limit", "1"), ("cursor", cursor)])
            .await;
        assert!(page3.trace_ids().is_empty(), "{}", page3.text());
    }
}

/// Needs the engine.
#[tokio::test]
async fn legacy_tag_search() {
    let f = fixture().await;
    assert_eq!(
        f.search(&[("tags", "service.name=back")]).await.trace_ids(),
        [B.to_owned(), padded(A)],
    );
    assert_eq!(
        f.search(&[("tags", r#"name="GET /checkout" http.status_code=200"#)])
            .await
            .trace_ids(),
        [padded(A)],
    );
    assert_eq!(
        f.search(&[("tags", "status.code=error")]).await.trace_ids(),
        [padded(A)],
    );
    assert_eq!(
        f.search(&[("tags", "messaging.system=kafka")])
            .await
            .trace_ids(),
        [B.to_owned()],
    );
    assert!(
        f.search(&[("tags", "messaging.system=kaf")])
            .await
            .trace_ids()
            .is_empty(),
        "other attributes match whole values"
    );
}

/// Needs the engine.
#[tokio::test]
async fn search_is_per_tenant() {
    let f = fixture().await;
    let r = f
        .get_as(&encode("/api/search", &[("q", "{ }")]), Some("team-b"))
        .await;
    let v = r.json();
    assert_eq!(v["traces"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["traces"][0]["traceID"], "cc".repeat(16));
    assert_eq!(
        v["traces"][0]["rootServiceName"],
        "<root span not yet received>"
    );
    let r = f
        .get_as(&encode("/api/search", &[("q", "{ }")]), Some("../x"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_requests_are_400_in_plain_text() {
    let f = fixture().await;
    for uri in [
        encode("/api/search", &[("q", "{ name = }")]),
        encode("/tempo/api/search", &[("q", "{ name = }")]),
    ] {
        let r = f.get(&uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.content_type(), "text/plain; charset=utf-8");
        assert_eq!(
            r.text(),
            "invalid TraceQL query: parse error at line 1, column 10: expected a value after `=`, found `}`\n\
             { name = }\n         ^\n",
            "{uri}"
        );
    }
    for (uri, needle) in [
        (encode("/api/search", &[("limit", "x")]), "invalid limit"),
        (
            encode("/api/v2/search/tags", &[("scope", "galaxy")]),
            "invalid scope: galaxy",
        ),
        (
            encode("/api/search/tags", &[("start", "x")]),
            "invalid start",
        ),
        (
            encode("/api/v2/search/tag/not%20a%20tag/values", &[]),
            "please provide a valid tagName",
        ),
        (
            encode("/api/v2/search/tag/name/values", &[("limit", "-1")]),
            "invalid limit",
        ),
    ] {
        let r = f.get(&uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(r.text().contains(needle), "{uri}: {}", r.text());
    }
}

/// Needs the engine.
#[tokio::test]
async fn tag_names_v1_and_v2() {
    let f = fixture().await;
    let v = f.get("/api/v2/search/tags").await.json();
    let scope = |name: &str| -> Vec<String> {
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| serde_json::from_value(s["tags"].clone()).unwrap())
            .unwrap_or_default()
    };
    for t in [
        "db.system",
        "http.method",
        "http.status_code",
        "messaging.system",
    ] {
        assert!(scope("span").contains(&t.to_owned()), "{t} in {v}");
    }
    assert_eq!(scope("resource"), ["service.name"], "{v}");
    for t in ["name", "status", "duration", "rootServiceName"] {
        assert!(scope("intrinsic").contains(&t.to_owned()), "{t} in {v}");
    }

    let v = f
        .get("/tempo/api/v2/search/tags?scope=resource")
        .await
        .json();
    assert_eq!(
        v,
        json!({"scopes": [{"name": "resource", "tags": ["service.name"]}], "metrics": {}})
    );
    let v = f.get("/api/v2/search/tags?scope=trace").await.json();
    assert_eq!(v, json!({"scopes": [], "metrics": {}}));

    let v = f.get("/api/search/tags").await.json();
    assert_eq!(
        v["tagNames"],
        json!([
            "db.system",
            "http.method",
            "http.status_code",
            "messaging.system",
            "service.name"
        ]),
        "{v}"
    );
    let v = f.get("/api/search/tags?scope=intrinsic").await.json();
    assert!(
        v["tagNames"]
            .as_array()
            .unwrap()
            .contains(&json!("duration")),
        "{v}"
    );
    // Another tenant's names stay there.
    let r = f.get_as("/api/search/tags", Some("team-b")).await;
    assert_eq!(r.json()["tagNames"], json!(["service.name"]));
}

/// Needs the engine.
#[tokio::test]
async fn tag_values_v1_and_v2() {
    let f = fixture().await;
    let both = json!([
        {"type": "string", "value": "backend"},
        {"type": "string", "value": "frontend"},
    ]);
    let v = f
        .get("/api/v2/search/tag/resource.service.name/values")
        .await
        .json();
    assert_eq!(v["tagValues"], both, "{v}");
    // Filtered by a query; a query that does not parse filters nothing (as Tempo).
    let v = f
        .get(&encode(
            "/api/v2/search/tag/resource.service.name/values",
            &[("q", r#"{ name = "consume" }"#)],
        ))
        .await
        .json();
    assert_eq!(
        v["tagValues"],
        json!([{"type": "string", "value": "backend"}]),
        "{v}"
    );
    let v = f
        .get(&encode(
            "/tempo/api/v2/search/tag/resource.service.name/values",
            &[("q", r#"{ name = "#)],
        ))
        .await
        .json();
    assert_eq!(v["tagValues"], both, "{v}");
    let v = f
        .get("/api/v2/search/tag/span.http.status_code/values")
        .await
        .json();
    assert_eq!(
        v["tagValues"],
        json!([{"type": "int", "value": "200"}]),
        "{v}"
    );
    let v = f.get("/api/v2/search/tag/status/values").await.json();
    for s in ["ok", "error"] {
        assert!(
            v["tagValues"]
                .as_array()
                .unwrap()
                .contains(&json!({"type": "keyword", "value": s})),
            "{s} in {v}"
        );
    }

    let v = f.get("/api/search/tag/service.name/values").await.json();
    assert_eq!(v["tagValues"], json!(["backend", "frontend"]), "{v}");
    let v = f
        .get("/api/search/tag/http.status_code/values")
        .await
        .json();
    assert_eq!(v["tagValues"], json!(["200"]), "{v}");
}

#[tokio::test]
async fn virtual_tag_values_and_buildinfo_need_no_data() {
    let f = fixture().await;
    let v = f.get("/api/search/tag/status.code/values").await.json();
    assert_eq!(
        v["tagValues"].as_array().unwrap()[..3],
        [json!("unset"), json!("ok"), json!("error")],
        "{v}"
    );
    for uri in ["/api/status/buildinfo", "/tempo/api/status/buildinfo"] {
        let v = f.get(uri).await.json();
        assert_eq!(v, buildinfo_json(), "{uri}");
    }
}
