//! The shared rules on their own: validation and its messages, the zero conventions of the
//! two wires, tag scopes and listings, and the result mapping's Tempo-specific choices.

use clew_model::{DurationNanos, TraceId, UnixNanos};
use clew_query::search::{FieldValue, SearchRequest, TagNames, TagScope, TraceSummary};
use clew_query::traceql;

use super::*;

fn query() -> traceql::Query {
    parse_traceql("{ }").unwrap()
}

fn request(b: SearchBounds) -> Result<SearchRequest, String> {
    search_request(query(), &b).map_err(|e| e.to_string())
}

#[test]
fn search_bounds_are_checked_with_tempos_messages() {
    let cases = [
        (
            SearchBounds {
                start: 10,
                ..SearchBounds::default()
            },
            "http parameter start must be before end. received start=10 end=0",
        ),
        (
            SearchBounds {
                start: 20,
                end: 20,
                ..SearchBounds::default()
            },
            "http parameter start must be before end. received start=20 end=20",
        ),
        (
            SearchBounds {
                min_duration: Some(DurationNanos(2)),
                max_duration: Some(DurationNanos(1)),
                ..SearchBounds::default()
            },
            "invalid maxDuration: must be greater than minDuration",
        ),
        (
            SearchBounds {
                limit: MAX_LIMIT + 1,
                ..SearchBounds::default()
            },
            "limit 262145 exceeds max limit 262144",
        ),
        (
            SearchBounds {
                spans_per_spanset: Some(MAX_SPANS_PER_SPANSET + 1),
                ..SearchBounds::default()
            },
            "spans per span set exceeds 100. received 101",
        ),
    ];
    for (bounds, message) in cases {
        assert_eq!(request(bounds).unwrap_err(), message, "{bounds:?}");
    }
}

#[test]
fn zero_is_unset_and_end_covers_its_second() {
    let r = request(SearchBounds::default()).unwrap();
    assert_eq!(
        (r.start, r.end, r.limit, r.spans_per_spanset),
        (None, None, 0, 0)
    );
    let r = request(SearchBounds {
        start: 1,
        end: 2,
        limit: MAX_LIMIT,
        spans_per_spanset: Some(0),
        ..SearchBounds::default()
    })
    .unwrap();
    assert_eq!(r.start, Some(UnixNanos(1_000_000_000)));
    assert_eq!(r.end, Some(UnixNanos(2_999_999_999)));
    assert_eq!(r.limit, MAX_LIMIT as usize);
    // HTTP's explicit `spss=0`: every span of a spanset.
    assert_eq!(r.spans_per_spanset, usize::MAX);
}

#[test]
fn traceql_errors_are_rendered_and_tag_queries_lenient() {
    let e = parse_traceql("{ name = }").unwrap_err().to_string();
    assert!(
        e.starts_with("invalid TraceQL query: parse error at line 1"),
        "{e}"
    );
    assert!(e.lines().count() == 3, "caret under the token: {e}");
    assert!(lenient_query("{ name = ").is_none());
    assert!(lenient_query("  ").is_none());
    assert!(lenient_query(r#"{ name = "a" }"#).is_some());
    let e = legacy_tags_query(&[("error".into(), "maybe".into())]).unwrap_err();
    assert!(
        e.to_string().starts_with("invalid tags: error must be"),
        "{e}"
    );
}

#[test]
fn scopes_and_tag_names() {
    assert_eq!(ScopeParam::parse(""), Ok(ScopeParam::All));
    assert_eq!(ScopeParam::parse("none"), Ok(ScopeParam::All));
    assert_eq!(ScopeParam::parse("trace"), Ok(ScopeParam::Trace));
    assert_eq!(
        ScopeParam::parse("resource"),
        Ok(ScopeParam::One(TagScope::Resource))
    );
    assert_eq!(
        ScopeParam::parse("bogus").unwrap_err().to_string(),
        "invalid scope: bogus"
    );
    let p = TagParams::new(ScopeParam::Trace, "", 0, 0, 0);
    assert!(p.tags_request().is_none(), "the trace scope holds no names");
    assert_eq!(
        v1_tag("").unwrap_err().to_string(),
        "please provide a non-empty tagName"
    );
    assert!(
        v2_tag("{{")
            .unwrap_err()
            .to_string()
            .starts_with("please provide a valid tagName")
    );

    let names = TagNames {
        scopes: vec![
            (TagScope::Span, vec!["b".into(), "shared".into()]),
            (TagScope::Resource, vec!["a".into(), "shared".into()]),
            (TagScope::Event, vec!["exception.type".into()]),
            (TagScope::Link, vec![]),
            (TagScope::Intrinsic, vec!["name".into()]),
        ],
    };
    assert_eq!(v1_tag_names(&names, ScopeParam::All), ["a", "b", "shared"]);
    let scopes: Vec<&str> = v2_tag_scopes(names).iter().map(|(s, _)| s.name()).collect();
    assert_eq!(scopes, ["span", "resource", "event", "intrinsic"]);
    assert_eq!(
        v1_tag_values("status.code", &[FieldValue::Str("error".into())]),
        ["unset", "ok", "error"]
    );
}

#[test]
fn results_map_to_tempopb() {
    let summary = TraceSummary {
        trace_id: TraceId::from_u64_pair(0, 0xabc),
        root_service_name: Some(String::new()),
        root_name: None,
        start: UnixNanos(1),
        duration: DurationNanos(2_999_999),
        span_count: 1,
        error_count: 0,
        services: Vec::new(),
        spansets: Vec::new(),
    };
    let padded = trace_metadata(&summary, TraceIdForm::Padded);
    assert_eq!(padded.trace_id, format!("{:0>32}", "abc"));
    // An empty root service is one not yet received, as Tempo's combiner reads it.
    assert_eq!(padded.root_service_name, ROOT_SPAN_NOT_YET_RECEIVED);
    assert_eq!(padded.duration_ms, 2);
    assert_eq!(
        trace_metadata(&summary, TraceIdForm::Trimmed).trace_id,
        "abc"
    );
}
