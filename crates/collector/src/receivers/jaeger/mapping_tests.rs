//! One test per mapping rule (see the module docs), on hand-built neutral batches.

use super::*;

fn st(v: &str) -> TagValue {
    TagValue::String(v.to_owned())
}

fn span(id: u64) -> Span {
    Span {
        trace_id_high: 0x1,
        trace_id_low: 0x2,
        span_id: id,
        operation_name: format!("op-{id}"),
        start_time: 1_700_000_000_000_000_000,
        duration: 5_000,
        ..Span::default()
    }
}

fn one(span: Span) -> ModelSpan {
    let decoded = to_model(Batch {
        process: Some(Process {
            service_name: "svc".into(),
            tags: vec![],
        }),
        spans: vec![span],
    });
    assert_eq!(decoded.rejected_spans, 0, "{:?}", decoded.first_rejection);
    decoded.batch.resource_spans[0].scope_spans[0].spans[0].clone()
}

fn with_tags(tags: Vec<Tag>) -> ModelSpan {
    one(Span { tags, ..span(1) })
}

fn attr<'a>(s: &'a ModelSpan, key: &str) -> Option<&'a AnyValue> {
    s.attribute(key)
}

fn child_of(trace: (u64, u64), id: u64) -> SpanRef {
    SpanRef {
        ref_type: RefType::ChildOf,
        trace_id_high: trace.0,
        trace_id_low: trace.1,
        span_id: id,
    }
}

fn follows_from(trace: (u64, u64), id: u64) -> SpanRef {
    SpanRef {
        ref_type: RefType::FollowsFrom,
        ..child_of(trace, id)
    }
}

fn ref_type(link: &Link) -> &str {
    link.attributes
        .iter()
        .find(|kv| kv.key == "opentracing.ref_type")
        .and_then(|kv| kv.value.as_str())
        .unwrap_or("")
}

#[test]
fn ids_are_widened_big_endian_and_times_become_nanoseconds() {
    let s = one(span(0xabc));
    assert_eq!(s.trace_id.to_hex(), "00000000000000010000000000000002");
    assert_eq!(s.span_id.to_hex(), "0000000000000abc");
    assert_eq!(s.start.0, 1_700_000_000_000_000_000);
    assert_eq!(s.end.0, 1_700_000_000_000_005_000);
    assert_eq!(s.name, "op-2748");
    assert_eq!(s.parent_span_id, None);
}

#[test]
fn negative_times_become_the_epoch_not_a_wrapped_future() {
    let s = one(Span {
        start_time: -5,
        duration: -1,
        ..span(1)
    });
    assert_eq!((s.start.0, s.end.0), (0, 0));
}

#[test]
fn zero_ids_are_rejected_and_counted() {
    let decoded = to_model(Batch {
        process: None,
        spans: vec![
            Span {
                trace_id_high: 0,
                trace_id_low: 0,
                ..span(1)
            },
            span(0),
            span(3),
        ],
    });
    assert_eq!(decoded.rejected_spans, 2);
    assert_eq!(
        decoded.first_rejection.as_deref(),
        Some("trace id must not be all zeros")
    );
    assert_eq!(decoded.batch.span_count(), 1);
}

#[test]
fn thrift_parent_field_is_the_parent() {
    let s = one(Span {
        parent_span_id: 42,
        ..span(1)
    });
    assert_eq!(s.parent_span_id, Some(SpanId::from_u64(42)));
    assert!(s.links.is_empty(), "the parent is not also a link");
}

#[test]
fn first_child_of_is_the_parent_and_other_references_are_links() {
    let t = (1, 2);
    let s = one(Span {
        references: vec![
            follows_from(t, 5),
            child_of((9, 9), 6), // another trace: never the parent
            child_of(t, 7),
            child_of(t, 8),
        ],
        ..span(1)
    });
    assert_eq!(s.parent_span_id, Some(SpanId::from_u64(7)));
    let links: Vec<(u64, &str)> = s
        .links
        .iter()
        .map(|l| (l.span_id.to_u64(), ref_type(l)))
        .collect();
    assert_eq!(
        links,
        vec![(5, "follows_from"), (6, "child_of"), (8, "child_of")]
    );
    assert_eq!(s.links[1].trace_id, TraceId::from_u64_pair(9, 9));
}

#[test]
fn follows_from_alone_is_parent_and_link_as_in_jaeger() {
    let s = one(Span {
        references: vec![follows_from((1, 2), 5)],
        ..span(1)
    });
    assert_eq!(s.parent_span_id, Some(SpanId::from_u64(5)));
    assert_eq!(s.links.len(), 1);
    assert_eq!(ref_type(&s.links[0]), "follows_from");
}

#[test]
fn parent_field_and_matching_reference_make_one_parent() {
    let s = one(Span {
        parent_span_id: 7,
        references: vec![child_of((1, 2), 7)],
        ..span(1)
    });
    assert_eq!(s.parent_span_id, Some(SpanId::from_u64(7)));
    assert!(s.links.is_empty());
}

#[test]
fn logs_become_events_named_by_their_event_or_message_field() {
    let s = one(Span {
        logs: vec![
            Log {
                timestamp: 1_700_000_000_000_001_000,
                fields: vec![
                    Tag::new("event", st("retry")),
                    Tag::new("attempt", TagValue::Long(2)),
                ],
            },
            Log {
                timestamp: 3_000,
                fields: vec![Tag::new("message", st("hello"))],
            },
        ],
        ..span(1)
    });
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.events[0].name, "retry");
    assert_eq!(s.events[0].time.0, 1_700_000_000_000_001_000);
    assert_eq!(
        s.events[0].attributes,
        vec![KeyValue::new("attempt", AnyValue::Int(2))]
    );
    assert_eq!(
        s.events[1].name, "hello",
        "no event field: named by message, as OpenTelemetry's Jaeger exporters write it"
    );
    assert_eq!(
        s.events[1].attributes,
        vec![KeyValue::new("message", AnyValue::String("hello".into()))]
    );
}

#[test]
fn process_becomes_the_resource() {
    let decoded = to_model(Batch {
        process: Some(Process {
            service_name: "checkout".into(),
            tags: vec![
                Tag::new("hostname", st("h1")),
                Tag::new("jaeger.version", st("Python-4.8.0")),
                Tag::new("ip", st("10.0.0.1")),
            ],
        }),
        spans: vec![span(1)],
    });
    let resource = &decoded.batch.resource_spans[0].resource;
    assert_eq!(resource.service_name(), "checkout");
    assert_eq!(
        resource.attribute("host.name"),
        Some(&AnyValue::String("h1".into()))
    );
    assert_eq!(resource.attribute("hostname"), None);
    assert_eq!(
        resource.attribute("opencensus.exporterversion"),
        Some(&AnyValue::String("Jaeger-Python-4.8.0".into()))
    );
    assert_eq!(resource.attribute("jaeger.version"), None);
    assert_eq!(
        resource.attribute("ip"),
        Some(&AnyValue::String("10.0.0.1".into()))
    );
}

#[test]
fn hostname_is_kept_when_host_name_is_present() {
    let decoded = to_model(Batch {
        process: Some(Process {
            service_name: "svc".into(),
            tags: vec![
                Tag::new("hostname", st("a")),
                Tag::new("host.name", st("b")),
            ],
        }),
        spans: vec![span(1)],
    });
    let resource = &decoded.batch.resource_spans[0].resource;
    assert_eq!(
        resource.attribute("hostname"),
        Some(&AnyValue::String("a".into()))
    );
    assert_eq!(
        resource.attribute("host.name"),
        Some(&AnyValue::String("b".into()))
    );
}

#[test]
fn the_collectors_no_service_placeholder_is_an_empty_resource() {
    let decoded = to_model(Batch {
        process: Some(Process {
            service_name: NO_SERVICE_NAME.into(),
            tags: vec![Tag::new("a", st("b"))],
        }),
        spans: vec![span(1)],
    });
    assert!(
        decoded.batch.resource_spans[0]
            .resource
            .attributes
            .is_empty()
    );
}

#[test]
fn spans_with_their_own_process_get_their_own_resource() {
    let own = Process {
        service_name: "other".into(),
        tags: vec![],
    };
    let decoded = to_model(Batch {
        process: Some(Process {
            service_name: "main".into(),
            tags: vec![],
        }),
        spans: vec![
            span(1),
            Span {
                process: Some(own.clone()),
                ..span(2)
            },
            Span {
                process: Some(own),
                ..span(3)
            },
        ],
    });
    let services: Vec<(&str, usize)> = decoded
        .batch
        .resource_spans
        .iter()
        .map(|rs| (rs.resource.service_name(), rs.scope_spans[0].spans.len()))
        .collect();
    assert_eq!(services, vec![("main", 1), ("other", 2)]);
}

#[test]
fn tags_become_typed_attributes() {
    let s = with_tags(vec![
        Tag::new("s", st("x")),
        Tag::new("b", TagValue::Bool(true)),
        Tag::new("i", TagValue::Long(-3)),
        Tag::new("d", TagValue::Double(1.5)),
        Tag::new("bin", TagValue::Binary(vec![0, 1, 2])),
        Tag::new("u", TagValue::Unknown(9)),
        Tag::new("i", TagValue::Long(4)), // a repeated key: the later value wins, in place
    ]);
    assert_eq!(
        s.attributes,
        vec![
            KeyValue::new("s", AnyValue::String("x".into())),
            KeyValue::new("b", AnyValue::Bool(true)),
            KeyValue::new("i", AnyValue::Int(4)),
            KeyValue::new("d", AnyValue::Double(1.5)),
            KeyValue::new("bin", AnyValue::Bytes(vec![0, 1, 2])),
            KeyValue::new(
                "u",
                AnyValue::String("<Unknown Jaeger TagType \"9\">".into())
            ),
        ]
    );
}

#[test]
fn error_true_is_error_status_and_is_removed() {
    let s = with_tags(vec![
        Tag::new("error", TagValue::Bool(true)),
        Tag::new("otel.status_description", st("boom")),
        Tag::new("otel.status_code", st("OK")), // the error tag wins; the code is removed
    ]);
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message, "boom");
    assert!(s.attributes.is_empty(), "{:?}", s.attributes);

    let s = with_tags(vec![
        Tag::new("error", TagValue::Bool(true)),
        Tag::new("http.status_message", st("Bad Gateway")),
    ]);
    assert_eq!(s.status.message, "Bad Gateway");
    assert!(
        attr(&s, "http.status_message").is_some(),
        "kept as an attribute"
    );
}

#[test]
fn error_false_or_a_string_error_tag_is_only_an_attribute() {
    let s = with_tags(vec![Tag::new("error", TagValue::Bool(false))]);
    assert_eq!(s.status, Status::default());
    assert_eq!(attr(&s, "error"), Some(&AnyValue::Bool(false)));
    let s = with_tags(vec![Tag::new("error", st("true"))]);
    assert_eq!(s.status, Status::default());
}

#[test]
fn otel_status_tags_become_the_status() {
    let s = with_tags(vec![
        Tag::new("otel.status_code", st("error")),
        Tag::new("otel.status_description", st("bad input")),
    ]);
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message, "bad input");
    assert!(s.attributes.is_empty());
    let s = with_tags(vec![Tag::new("otel.status_code", st("OK"))]);
    assert_eq!(s.status.code, StatusCode::Ok);
}

#[test]
fn http_status_code_sets_the_status_when_nothing_else_does() {
    let code = |kind: &str, code: TagValue| {
        with_tags(vec![
            Tag::new("span.kind", st(kind)),
            Tag::new("http.status_code", code),
            Tag::new("http.status_message", st("msg")),
        ])
        .status
    };
    assert_eq!(code("server", TagValue::Long(500)).code, StatusCode::Error);
    assert_eq!(code("server", TagValue::Long(500)).message, "msg");
    assert_eq!(code("server", TagValue::Long(404)).code, StatusCode::Unset);
    assert_eq!(code("client", st("404")).code, StatusCode::Error);
    assert_eq!(code("client", TagValue::Long(200)), Status::default());
    assert_eq!(code("client", st("nope")), Status::default());
}

#[test]
fn span_kind_tag_becomes_the_kind() {
    for (tag, kind) in [
        ("client", SpanKind::Client),
        ("server", SpanKind::Server),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
        ("weird", SpanKind::Unspecified),
    ] {
        let s = with_tags(vec![Tag::new("span.kind", st(tag))]);
        assert_eq!(s.kind, kind, "{tag}");
        assert!(s.attributes.is_empty());
    }
}

#[test]
fn scope_tags_become_the_scope_and_group_spans() {
    let tagged = |id, name: &str, version: &str| Span {
        tags: vec![
            Tag::new("otel.scope.name", st(name)),
            Tag::new("otel.scope.version", st(version)),
            Tag::new("k", st("v")),
        ],
        ..span(id)
    };
    let decoded = to_model(Batch {
        process: None,
        spans: vec![
            tagged(1, "lib-a", "1.0"),
            tagged(2, "lib-b", "2.0"),
            tagged(3, "lib-a", "1.0"),
            Span {
                tags: vec![Tag::new("otel.library.name", st("old-lib"))],
                ..span(4)
            },
        ],
    });
    let scopes: Vec<(&str, &str, usize)> = decoded.batch.resource_spans[0]
        .scope_spans
        .iter()
        .map(|ss| {
            (
                ss.scope.name.as_str(),
                ss.scope.version.as_str(),
                ss.spans.len(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        vec![("lib-a", "1.0", 2), ("lib-b", "2.0", 1), ("old-lib", "", 1)]
    );
    let first = &decoded.batch.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        first.attributes,
        vec![KeyValue::new("k", AnyValue::String("v".into()))]
    );
}

#[test]
fn tracestate_tag_becomes_the_trace_state() {
    let s = with_tags(vec![Tag::new("w3c.tracestate", st("vendor=1"))]);
    assert_eq!(s.trace_state, "vendor=1");
    assert!(s.attributes.is_empty());
}

#[test]
fn only_the_sampled_flag_is_kept() {
    assert_eq!(
        one(Span {
            flags: 0b1011,
            ..span(1)
        })
        .flags,
        1
    );
    assert_eq!(
        one(Span {
            flags: 0b10,
            ..span(1)
        })
        .flags,
        0
    );
}

proptest::proptest! {
    /// Every span is accepted or rejected, never lost; accepted ones have non-zero ids and
    /// none of the tags the mapping consumes.
    #[test]
    fn every_span_is_accepted_or_rejected(
        batch in crate::receivers::jaeger::test_strategies::batch_strategy(true)
    ) {
        let total = batch.spans.len() as u64;
        let zero = batch
            .spans
            .iter()
            .filter(|s| (s.trace_id_high == 0 && s.trace_id_low == 0) || s.span_id == 0)
            .count() as u64;
        let decoded = to_model(batch);
        proptest::prop_assert_eq!(decoded.batch.span_count() as u64 + decoded.rejected_spans, total);
        proptest::prop_assert_eq!(decoded.rejected_spans, zero);
        for rec in decoded.batch.into_records() {
            proptest::prop_assert!(!rec.span.trace_id.is_zero() && !rec.span.span_id.is_zero());
            for key in ["span.kind", "otel.status_code", "w3c.tracestate", "otel.scope.name"] {
                proptest::prop_assert!(rec.span.attribute(key).is_none(), "{key} left");
            }
        }
    }
}
