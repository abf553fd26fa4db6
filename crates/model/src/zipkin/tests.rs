//! Zipkin mapping tests: one test per rule of the module doc, then JSON round trips
//! (model → Zipkin JSON → model) over generated spans.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn decode_one(v: serde_json::Value) -> Decoded {
    let spans = decode_json(json!([v]).to_string().as_bytes()).expect("valid JSON");
    batch_from_zipkin(spans)
}

fn only_span(d: &Decoded) -> (&Resource, &Scope, &Span) {
    assert_eq!(d.rejected_spans, 0, "{:?}", d.first_rejection);
    let rs = &d.batch.resource_spans[0];
    let ss = &rs.scope_spans[0];
    (&rs.resource, &ss.scope, &ss.spans[0])
}

fn s(v: &str) -> AnyValue {
    AnyValue::String(v.into())
}

/// py-zipkin's shape: a client span with both endpoints, annotations and tags.
fn client_json() -> serde_json::Value {
    json!({
        "traceId": "463ac35c9f6413ad",
        "parentId": "0000000000000001",
        "id": "a2fb4a1d1a96d312",
        "kind": "CLIENT",
        "name": "get /api",
        "timestamp": 1_700_000_000_000_123u64,
        "duration": 2500,
        "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "port": 8080},
        "remoteEndpoint": {"serviceName": "backend", "ipv6": "2001:db8::c001", "port": 9000},
        "annotations": [{"timestamp": 1_700_000_000_000_200u64, "value": "ws"}],
        "tags": {"http.method": "GET", "http.path": "/api"},
        "debug": true
    })
}

#[test]
fn ids_times_endpoints_tags_and_annotations() {
    let d = decode_one(client_json());
    let (resource, scope, span) = only_span(&d);
    assert_eq!(
        resource.attributes,
        vec![KeyValue::new("service.name", s("frontend"))]
    );
    assert_eq!(*scope, Scope::default());
    // 64-bit trace id widened with leading zeros.
    assert_eq!(span.trace_id.to_hex(), "0000000000000000463ac35c9f6413ad");
    assert_eq!(span.span_id.to_hex(), "a2fb4a1d1a96d312");
    assert_eq!(span.parent_span_id, Some(SpanId::from_u64(1)));
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(span.name, "get /api");
    assert_eq!(span.start, UnixNanos(1_700_000_000_000_123_000));
    assert_eq!(span.end, UnixNanos(1_700_000_000_002_623_000));
    assert_eq!(
        span.attributes,
        vec![
            KeyValue::new("http.method", s("GET")),
            KeyValue::new("http.path", s("/api")),
            KeyValue::new(LOCAL_ADDRESS, s("192.168.99.1")),
            KeyValue::new(LOCAL_PORT, AnyValue::Int(8080)),
            KeyValue::new(PEER_SERVICE, s("backend")),
            KeyValue::new(PEER_ADDRESS, s("2001:db8::c001")),
            KeyValue::new(PEER_PORT, AnyValue::Int(9000)),
        ]
    );
    assert_eq!(
        span.events,
        vec![Event {
            time: UnixNanos(1_700_000_000_000_200_000),
            name: "ws".into(),
            ..Event::default()
        }]
    );
    assert_eq!(span.status, Status::default());
}

#[test]
fn full_width_trace_id_and_uppercase_hex_are_read() {
    let d = decode_one(json!({
        "traceId": "5B8EFFF798038103D269B633813FC60C", "id": "EEE19B7EC3C1B174"
    }));
    let (resource, _, span) = only_span(&d);
    assert_eq!(span.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.parent_span_id, None);
    // No local service: no service.name, the store shows `unknown_service`.
    assert!(resource.attributes.is_empty());
    // Missing timestamp and duration: start at the epoch, zero length.
    assert_eq!((span.start, span.end), (UnixNanos(0), UnixNanos(0)));
}

#[test]
fn missing_bad_or_zero_ids_are_rejected_and_counted() {
    let spans = vec![
        json!({"id": "0000000000000001"}),
        json!({"traceId": "", "id": "1"}),
        json!({"traceId": "00000000000000000000000000000000", "id": "1"}),
        json!({"traceId": "1", "id": "0000000000000000"}),
        json!({"traceId": "1"}),
        json!({"traceId": "xyz", "id": "1"}),
        json!({"traceId": "1", "id": "11111111111111111"}),
        json!({"traceId": "1", "id": "2", "parentId": "zz"}),
        json!({"traceId": "1", "id": "2", "parentId": "0000000000000000"}),
        json!({"traceId": "1", "id": "2", "parentId": "2"}),
    ];
    let decoded = decode_json(json!(spans).to_string().as_bytes()).expect("JSON");
    let d = batch_from_zipkin(decoded);
    assert_eq!(d.rejected_spans, 8);
    assert_eq!(d.first_rejection.as_deref(), Some("missing traceId"));
    let kept = &d.batch.resource_spans[0].scope_spans[0].spans;
    assert_eq!(kept.len(), 2);
    // A zero or self-referencing parent means root.
    assert!(kept.iter().all(|s| s.parent_span_id.is_none()));
}

#[test]
fn kinds_including_internal_by_tag() {
    for (kind, tag, want) in [
        (json!("SERVER"), None, SpanKind::Server),
        (json!("PRODUCER"), None, SpanKind::Producer),
        (json!("CONSUMER"), None, SpanKind::Consumer),
        (json!(null), None, SpanKind::Unspecified),
        (json!(null), Some("internal"), SpanKind::Internal),
        (json!("BOGUS"), None, SpanKind::Unspecified),
    ] {
        let mut v = json!({"traceId": "1", "id": "2", "kind": kind});
        if let Some(t) = tag {
            v["tags"] = json!({"span.kind": t});
        }
        let d = decode_one(v);
        let (_, _, span) = only_span(&d);
        assert_eq!(span.kind, want, "{kind}");
        assert!(span.attributes.is_empty(), "span.kind consumed");
    }
}

#[test]
fn status_from_error_and_otel_tags() {
    let cases = [
        (
            json!({"error": "connection refused"}),
            StatusCode::Error,
            "connection refused",
        ),
        (json!({"error": "true"}), StatusCode::Error, ""),
        (json!({"error": ""}), StatusCode::Error, ""),
        (json!({"otel.status_code": "OK"}), StatusCode::Ok, ""),
        (
            json!({"otel.status_code": "ERROR", "otel.status_description": "boom"}),
            StatusCode::Error,
            "boom",
        ),
        (
            json!({"otel.status_code": "STATUS_CODE_ERROR"}),
            StatusCode::Error,
            "",
        ),
        (
            json!({"otel.status_code": "ERROR", "otel.status_description": "d", "error": "e"}),
            StatusCode::Error,
            "d",
        ),
    ];
    for (tags, code, message) in cases {
        let d = decode_one(json!({"traceId": "1", "id": "2", "tags": tags}));
        let (_, _, span) = only_span(&d);
        assert_eq!(span.status.code, code, "{tags}");
        assert_eq!(span.status.message, message, "{tags}");
        assert!(span.attributes.is_empty(), "status tags consumed: {tags}");
    }
}

#[test]
fn trace_state_and_scope_tags() {
    let d = decode_one(json!({
        "traceId": "1", "id": "2",
        "tags": {"w3c.tracestate": "k=v", "otel.library.name": "lib", "otel.scope.version": "1.0", "x": "y"}
    }));
    let (_, scope, span) = only_span(&d);
    assert_eq!(span.trace_state, "k=v");
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("lib", "1.0")
    );
    assert_eq!(span.attributes, vec![KeyValue::new("x", s("y"))]);
}

#[test]
fn spans_group_by_service_then_scope() {
    let spans = json!([
        {"traceId": "1", "id": "1", "localEndpoint": {"serviceName": "a"}},
        {"traceId": "1", "id": "2", "localEndpoint": {"serviceName": "b"}},
        {"traceId": "1", "id": "3", "localEndpoint": {"serviceName": "a"}, "tags": {"otel.scope.name": "s"}},
        {"traceId": "1", "id": "4", "localEndpoint": {"serviceName": "a"}},
    ]);
    let d = batch_from_zipkin(decode_json(spans.to_string().as_bytes()).expect("JSON"));
    let shape: Vec<(String, Vec<(String, usize)>)> = d
        .batch
        .resource_spans
        .iter()
        .map(|rs| {
            (
                rs.resource.service_name().to_owned(),
                rs.scope_spans
                    .iter()
                    .map(|ss| (ss.scope.name.clone(), ss.spans.len()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("a".into(), vec![(String::new(), 2), ("s".into(), 1)]),
            ("b".into(), vec![(String::new(), 1)]),
        ]
    );
}

#[test]
fn endpoint_addresses_are_normalised_and_bad_ones_dropped() {
    let d = decode_one(json!({
        "traceId": "1", "id": "2",
        "localEndpoint": {"ipv4": "not an ip", "ipv6": "::ffff:10.0.0.1", "port": 0},
        "remoteEndpoint": {"serviceName": "", "ipv4": "10.0.0.2", "ipv6": "::1", "port": 70000}
    }));
    let (_, _, span) = only_span(&d);
    assert_eq!(
        span.attributes,
        vec![
            KeyValue::new(LOCAL_ADDRESS, s("10.0.0.1")),
            KeyValue::new(PEER_ADDRESS, s("10.0.0.2")),
        ]
    );
}

#[test]
fn otel_event_form_is_unpacked_and_other_values_kept_whole() {
    let d = decode_one(json!({
        "traceId": "1", "id": "2",
        "annotations": [
            {"timestamp": 5, "value": "exception|{\"exception.type\":\"IOError\",\"n\":3,\"r\":0.5,\"b\":true,\"l\":[1]}|2"},
            {"timestamp": 6, "value": "a|b|c"},
            {"timestamp": 8, "value": "{\"db.retry\":{\"attempt\":2,\"why\":\"timeout\"}}"},
            {"timestamp": 9, "value": "{\"a\":1}"},
            {"timestamp": 7, "value": "plain"},
        ]
    }));
    let (_, _, span) = only_span(&d);
    assert_eq!(
        span.events,
        vec![
            Event {
                time: UnixNanos(5_000),
                name: "exception".into(),
                attributes: vec![
                    KeyValue::new("b", AnyValue::Bool(true)),
                    KeyValue::new("exception.type", s("IOError")),
                    KeyValue::new("n", AnyValue::Int(3)),
                    KeyValue::new("r", AnyValue::Double(0.5)),
                ],
                dropped_attributes_count: 2,
            },
            Event {
                time: UnixNanos(6_000),
                name: "a|b|c".into(),
                ..Event::default()
            },
            Event {
                time: UnixNanos(8_000),
                name: "db.retry".into(),
                attributes: vec![
                    KeyValue::new("attempt", AnyValue::Int(2)),
                    KeyValue::new("why", s("timeout")),
                ],
                dropped_attributes_count: 0,
            },
            Event {
                time: UnixNanos(9_000),
                name: "{\"a\":1}".into(),
                ..Event::default()
            },
            Event {
                time: UnixNanos(7_000),
                name: "plain".into(),
                ..Event::default()
            },
        ]
    );
}

#[test]
fn lenient_json_nulls_numbers_and_fractional_times() {
    let d = decode_one(json!({
        "traceId": "1", "id": "2", "parentId": null, "kind": null, "name": null,
        "timestamp": 1.5e6, "duration": null, "annotations": null,
        "tags": {"n": 1, "b": false, "z": null}, "shared": null, "unknown": {"x": 1}
    }));
    let (_, _, span) = only_span(&d);
    assert_eq!(span.start, UnixNanos(1_500_000_000));
    assert_eq!(
        span.attributes,
        vec![KeyValue::new("b", s("false")), KeyValue::new("n", s("1"))]
    );
    assert!(decode_json(br#"[{"traceId": "1", "id": "2", "timestamp": -1}]"#).is_err());
}

#[test]
fn malformed_json_reports_line_and_column() {
    let e = decode_json(b"[\n  {\"traceId\": 12}\n]").expect_err("traceId must be a string");
    assert_eq!(e.line, 2);
    assert!(e.to_string().contains("line 2, column"), "{e}");
    assert!(decode_json(b"{}").is_err(), "a list is required");
}

#[test]
fn shared_server_half_gets_a_derived_id_under_the_client_half() {
    let client = client_json();
    let server = json!({
        "traceId": "463ac35c9f6413ad",
        "parentId": "0000000000000001",
        "id": "a2fb4a1d1a96d312",
        "kind": "SERVER",
        "name": "get /api",
        "timestamp": 1_700_000_000_000_500u64,
        "duration": 2000,
        "localEndpoint": {"serviceName": "backend"},
        "shared": true
    });
    let d = batch_from_zipkin(
        decode_json(json!([client, server]).to_string().as_bytes()).expect("JSON"),
    );
    assert_eq!(d.rejected_spans, 0);
    let server_span = &d.batch.resource_spans[1].scope_spans[0].spans[0];
    let original = SpanId::from_hex("a2fb4a1d1a96d312").expect("hex");
    assert_eq!(server_span.span_id, shared_span_id(original));
    assert_ne!(server_span.span_id, original);
    assert_eq!(server_span.parent_span_id, Some(original));
    assert_eq!(
        server_span.attribute(SHARED_SPAN_ID),
        Some(&s("a2fb4a1d1a96d312"))
    );
    // Deterministic (retries dedupe) and pinned (stored ids must not change across versions).
    assert_eq!(shared_span_id(original), shared_span_id(original));
    assert_eq!(
        shared_span_id(SpanId::from_u64(1)).to_hex(),
        pinned_derived_id_of_1()
    );

    // Back out as Zipkin: the server half is shared again, under the client's parent.
    let records = d.batch.clone().into_records();
    let out = records_to_zipkin(&records);
    let back = &out[1];
    assert_eq!(back.id.as_deref(), Some("a2fb4a1d1a96d312"));
    assert_eq!(back.parent_id.as_deref(), Some("0000000000000001"));
    assert_eq!(back.shared, Some(true));
    assert!(!back.tags.contains_key(SHARED_SPAN_ID));
}

fn pinned_derived_id_of_1() -> String {
    // Computed once from the splitmix64 finaliser; a change here re-keys stored spans.
    let mut z: u64 = 1 ^ 0x5a49_504b_494e_5348;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{z:016x}")
}

#[test]
fn model_to_zipkin_json_shape() {
    let resource = Resource {
        attributes: vec![
            KeyValue::new("service.name", s("frontend")),
            KeyValue::new("host.name", s("web-1")),
        ],
        dropped_attributes_count: 0,
    };
    let scope = Scope {
        name: "io.clew".into(),
        version: "1.0".into(),
        ..Scope::default()
    };
    let span = Span {
        trace_id: TraceId::from_u64_pair(1, 2),
        span_id: SpanId::from_u64(3),
        parent_span_id: Some(SpanId::from_u64(4)),
        name: "render".into(),
        kind: SpanKind::Internal,
        start: UnixNanos(1_700_000_000_000_000_000),
        end: UnixNanos(1_700_000_000_000_000_001),
        attributes: vec![
            KeyValue::new("n", AnyValue::Int(7)),
            KeyValue::new(PEER_SERVICE, s("db")),
            KeyValue::new(LEGACY_PEER_ADDRESS, s("10.1.2.3")),
            KeyValue::new(PEER_PORT, AnyValue::Int(5432)),
            KeyValue::new(LOCAL_ADDRESS, s("::1")),
        ],
        events: vec![Event {
            time: UnixNanos(1_700_000_000_000_000_000),
            name: "retry".into(),
            attributes: vec![KeyValue::new("attempt", AnyValue::Int(2))],
            dropped_attributes_count: 0,
        }],
        status: Status {
            code: StatusCode::Error,
            message: "timeout".into(),
        },
        trace_state: "k=v".into(),
        ..Span::default()
    };
    let z = span_to_zipkin(&resource, &scope, &span);
    assert_eq!(
        serde_json::to_value(&z).expect("serialise"),
        json!({
            "traceId": "00000000000000010000000000000002",
            "parentId": "0000000000000004",
            "id": "0000000000000003",
            "name": "render",
            "timestamp": 1_700_000_000_000_000u64,
            "duration": 1,
            "localEndpoint": {"serviceName": "frontend", "ipv6": "::1"},
            "remoteEndpoint": {"serviceName": "db", "ipv4": "10.1.2.3", "port": 5432},
            "annotations": [{"timestamp": 1_700_000_000_000_000u64, "value": "{\"retry\":{\"attempt\":2}}"}],
            "tags": {
                "error": "timeout",
                "host.name": "web-1",
                "n": "7",
                "otel.scope.name": "io.clew",
                "otel.scope.version": "1.0",
                "otel.status_code": "ERROR",
                "span.kind": "internal",
                "w3c.tracestate": "k=v"
            }
        })
    );
    // Field order is Zipkin's.
    let text = serde_json::to_string(&z).expect("serialise");
    let order: Vec<usize> = [
        "traceId",
        "parentId",
        "\"id\"",
        "name",
        "timestamp",
        "duration",
        "localEndpoint",
        "remoteEndpoint",
        "annotations",
        "tags",
    ]
    .iter()
    .map(|k| text.find(k).expect("field present"))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(
        trace_id_hex(&TraceId::from_u64_pair(0, 0xab)),
        "00000000000000ab"
    );
}

#[test]
fn ok_status_and_untimed_spans_outbound() {
    let span = Span {
        trace_id: TraceId::from_u64_pair(0, 1),
        span_id: SpanId::from_u64(2),
        status: Status {
            code: StatusCode::Ok,
            message: "fine".into(),
        },
        ..Span::default()
    };
    let z = span_to_zipkin(&Resource::default(), &Scope::default(), &span);
    assert_eq!(
        serde_json::to_value(&z).expect("serialise"),
        json!({
            "traceId": "0000000000000001",
            "id": "0000000000000002",
            "tags": {"otel.status_code": "OK", "otel.status_description": "fine"}
        })
    );
}

// ------------------------------------------------------------------ round trips

fn arb_id(digits: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9a-f]{{{digits}}}"))
        .expect("regex")
        .prop_filter("non-zero", |s| s.chars().any(|c| c != '0'))
}

fn arb_endpoint() -> impl Strategy<Value = Option<Endpoint>> {
    proptest::option::of(
        (
            proptest::option::of("[a-z][a-z0-9-]{0,8}"),
            proptest::option::of(any::<[u8; 4]>().prop_map(|b| Ipv4Addr::from(b).to_string())),
            proptest::option::of(any::<[u8; 16]>().prop_map(|b| Ipv6Addr::from(b).to_string())),
            proptest::option::of(1i64..=65_535),
        )
            .prop_map(|(service_name, ipv4, ipv6, port)| Endpoint {
                service_name,
                ipv4,
                ipv6,
                port,
            }),
    )
}

/// Zipkin spans a client could send; the model values Zipkin can carry are their images.
pub(crate) fn arb_zipkin_span() -> impl Strategy<Value = ZipkinSpan> {
    let ids = (
        prop_oneof![arb_id(16), arb_id(32)],
        proptest::option::of(arb_id(16)),
        arb_id(16),
        proptest::option::of(prop_oneof![
            Just("CLIENT"),
            Just("SERVER"),
            Just("PRODUCER"),
            Just("CONSUMER")
        ]),
        any::<bool>(),
    );
    let body = (
        proptest::option::of("[a-z /]{1,12}"),
        proptest::option::of(1u64..4_000_000_000_000_000),
        proptest::option::of(0u64..10_000_000_000),
        arb_endpoint(),
        arb_endpoint(),
        proptest::collection::vec(
            (1u64..4_000_000_000_000_000, "[a-z ]{1,8}")
                .prop_map(|(timestamp, value)| Annotation { timestamp, value }),
            0..3,
        ),
        proptest::collection::btree_map("[a-z]{1,6}(\\.[a-z]{1,6})?", ".{0,8}", 0..4),
        prop_oneof![
            Just(None),
            Just(Some(("error", "oops"))),
            Just(Some(("otel.status_code", "OK"))),
            Just(Some(("span.kind", "internal"))),
            Just(Some(("otel.scope.name", "lib"))),
        ],
    );
    (ids, body).prop_map(
        |(
            (trace_id, parent_id, id, kind, shared),
            (name, timestamp, duration, local, remote, annotations, mut tags, special),
        )| {
            // Keys the mapping gives meaning to are only added deliberately.
            tags.retain(|k, _| {
                !k.starts_with("otel.")
                    && !k.starts_with("network.")
                    && !k.starts_with("span.")
                    && k != "error"
                    && k != "peer.service"
                    && !k.starts_with("w3c.")
                    && !k.starts_with("zipkin.")
            });
            if let Some((k, v)) = special {
                tags.insert(k.into(), v.into());
            }
            ZipkinSpan {
                trace_id: Some(trace_id),
                parent_id,
                id: Some(id),
                kind: kind.map(str::to_owned),
                name,
                timestamp,
                duration,
                local_endpoint: local,
                remote_endpoint: remote,
                annotations,
                tags,
                debug: None,
                shared: shared.then_some(true),
            }
        },
    )
}

proptest! {
    /// model → Zipkin v2 JSON (bytes) → model is the identity on what Zipkin can carry.
    #[test]
    fn json_round_trip(spans in proptest::collection::vec(arb_zipkin_span(), 0..6)) {
        let first = batch_from_zipkin(spans);
        prop_assert_eq!(first.rejected_spans, 0);
        let json = serde_json::to_vec(&batch_to_zipkin(&first.batch)).expect("serialise");
        let again = batch_from_zipkin(decode_json(&json).expect("decode our own JSON"));
        prop_assert_eq!(again.rejected_spans, 0);
        prop_assert_eq!(&again.batch, &first.batch);
    }

    /// Whatever the bytes, decoding and mapping never panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(spans) = decode_json(&bytes) {
            let _ = batch_from_zipkin(spans);
        }
    }
}

#[test]
fn explicit_peer_service_tag_wins_over_the_remote_endpoint() {
    let d = decode_one(json!({
        "traceId": "1", "id": "2",
        "remoteEndpoint": {"serviceName": "from-endpoint"},
        "tags": {"peer.service": "from-tag"}
    }));
    let (_, _, span) = only_span(&d);
    assert_eq!(
        span.attributes,
        vec![KeyValue::new(PEER_SERVICE, s("from-tag"))]
    );
}

#[test]
fn client_spans_name_the_remote_endpoint_by_server_address() {
    let span = |kind, attributes| Span {
        trace_id: TraceId::from_u64_pair(0, 1),
        span_id: SpanId::from_u64(2),
        kind,
        attributes,
        ..Span::default()
    };
    let remote = |sp: &Span| {
        span_to_zipkin(&Resource::default(), &Scope::default(), sp)
            .remote_endpoint
            .and_then(|e| e.service_name)
    };
    let addr = vec![KeyValue::new("server.address", s("db.internal"))];
    assert_eq!(
        remote(&span(SpanKind::Client, addr.clone())).as_deref(),
        Some("db.internal")
    );
    assert_eq!(
        remote(&span(
            SpanKind::Producer,
            vec![KeyValue::new("net.peer.name", s("mq"))]
        ))
        .as_deref(),
        Some("mq")
    );
    assert_eq!(remote(&span(SpanKind::Server, addr.clone())), None);
    let mut with_peer = addr;
    with_peer.push(KeyValue::new(PEER_SERVICE, s("db")));
    assert_eq!(
        remote(&span(SpanKind::Client, with_peer)).as_deref(),
        Some("db")
    );
}

#[test]
fn error_status_without_message_is_an_empty_error_tag() {
    let span = Span {
        trace_id: TraceId::from_u64_pair(0, 1),
        span_id: SpanId::from_u64(2),
        status: Status {
            code: StatusCode::Error,
            message: String::new(),
        },
        ..Span::default()
    };
    let z = span_to_zipkin(&Resource::default(), &Scope::default(), &span);
    assert_eq!(z.tags.get("error").map(String::as_str), Some(""));
    assert_eq!(
        z.tags.get("otel.status_code").map(String::as_str),
        Some("ERROR")
    );
}

/// Found by fuzzing: `error` with a stray `otel.status_description` (no `otel.status_code`)
/// read as Error with an empty message plus a description attribute; written back, the
/// attribute sat next to the status tags and the next read took it as the message.
#[test]
fn status_tags_written_back_read_back_the_same_status() {
    let first = decode_one(json!({
        "traceId": "0000000000000001", "id": "0000000000000002",
        "tags": {"error": "", "otel.status_description": "bad"}
    }));
    let out = batch_to_zipkin(&first.batch);
    assert_eq!(out[0].tags.get("otel.status_description"), None);
    let again = batch_from_zipkin(out.clone());
    let (_, _, span) = only_span(&again);
    assert_eq!(span.status, only_span(&first).2.status);
    assert_eq!(batch_to_zipkin(&again.batch), out);
}

/// Found by fuzzing: `name|{}|7` (no attributes, some dropped) was written back as
/// `{"name":{}}`, which read back as another event (no dropped count) and was then written
/// as `name`: the outbound form changed on every pass.
#[test]
fn event_without_attributes_is_written_as_its_name() {
    let first = decode_one(json!({
        "traceId": "0000000000000001", "id": "0000000000000002",
        "annotations": [{"timestamp": 1, "value": "retry|{}|7"}]
    }));
    assert_eq!(only_span(&first).2.events[0].dropped_attributes_count, 7);
    let out = batch_to_zipkin(&first.batch);
    assert_eq!(out[0].annotations[0].value, "retry");
    assert_eq!(batch_to_zipkin(&batch_from_zipkin(out.clone()).batch), out);
}
