//! Round-trips of the OTLP conversions (protobuf and JSON) and OTLP/JSON spec cases.

use proptest::prelude::*;

use super::*;

fn arb_leaf() -> impl Strategy<Value = AnyValue> {
    prop_oneof![
        ".{0,12}".prop_map(AnyValue::String),
        any::<bool>().prop_map(AnyValue::Bool),
        any::<i64>().prop_map(AnyValue::Int),
        // JSON cannot carry NaN or infinities as numbers; finite values round-trip.
        (-1e12f64..1e12).prop_map(AnyValue::Double),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(AnyValue::Bytes),
    ]
}

fn arb_value() -> impl Strategy<Value = AnyValue> {
    arb_leaf().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
            proptest::collection::vec(("[a-z.]{1,8}", inner), 0..4).prop_map(|kvs| {
                AnyValue::KvList(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
            }),
        ]
    })
}

fn arb_attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(("[a-z._]{1,12}", arb_value()), 0..5)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
}

fn arb_nonzero<const N: usize>() -> impl Strategy<Value = [u8; N]> {
    proptest::array::uniform(any::<u8>())
        .prop_filter("non-zero id", |a: &[u8; N]| a.iter().any(|b| *b != 0))
}

fn arb_span() -> impl Strategy<Value = Span> {
    (
        arb_nonzero::<16>(),
        arb_nonzero::<8>(),
        proptest::option::of(arb_nonzero::<8>()),
        ".{0,16}",
        0usize..6,
        any::<u64>(),
        any::<u32>(),
        arb_attrs(),
        proptest::collection::vec((any::<u64>(), ".{0,8}", arb_attrs()), 0..3),
        proptest::collection::vec((arb_nonzero::<16>(), arb_nonzero::<8>(), arb_attrs()), 0..3),
        (0i32..3, ".{0,8}"),
        "[a-z=,]{0,10}",
    )
        .prop_map(
            |(tid, sid, parent, name, kind, start, dur, attrs, events, links, status, ts)| Span {
                trace_id: TraceId(tid),
                span_id: SpanId(sid),
                parent_span_id: parent.map(SpanId),
                trace_state: ts,
                flags: 1,
                name,
                kind: SpanKind::from_i32(kind as i32),
                start: UnixNanos(start),
                end: UnixNanos(start.saturating_add(u64::from(dur))),
                attributes: attrs,
                dropped_attributes_count: 1,
                events: events
                    .into_iter()
                    .map(|(t, n, a)| Event {
                        time: UnixNanos(t),
                        name: n,
                        attributes: a,
                        dropped_attributes_count: 0,
                    })
                    .collect(),
                dropped_events_count: 2,
                links: links
                    .into_iter()
                    .map(|(t, s, a)| Link {
                        trace_id: TraceId(t),
                        span_id: SpanId(s),
                        trace_state: String::new(),
                        attributes: a,
                        dropped_attributes_count: 0,
                        flags: 0,
                    })
                    .collect(),
                dropped_links_count: 3,
                status: Status {
                    code: StatusCode::from_i32(status.0),
                    message: status.1,
                },
            },
        )
}

fn arb_batch() -> impl Strategy<Value = TraceBatch> {
    proptest::collection::vec(
        (
            arb_attrs(),
            proptest::collection::vec(
                ("[a-z]{0,6}", proptest::collection::vec(arb_span(), 1..4)),
                1..3,
            ),
        ),
        0..3,
    )
    .prop_map(|rss| TraceBatch {
        resource_spans: rss
            .into_iter()
            .map(|(attrs, sss)| ResourceSpans {
                resource: Resource {
                    attributes: attrs,
                    dropped_attributes_count: 0,
                },
                schema_url: String::new(),
                scope_spans: sss
                    .into_iter()
                    .map(|(name, spans)| ScopeSpans {
                        scope: Scope {
                            name,
                            version: "1.0".into(),
                            attributes: vec![],
                            dropped_attributes_count: 0,
                        },
                        schema_url: String::new(),
                        spans,
                    })
                    .collect(),
            })
            .collect(),
    })
}

proptest! {
    #[test]
    fn single_span_round_trip(span in arb_span()) {
        prop_assert_eq!(decode_span(&encode_span(&span)).unwrap(), span);
    }

    #[test]
    fn protobuf_round_trip(batch in arb_batch()) {
        let bytes = encode_traces_data(&batch);
        let decoded = decode_traces_data(&bytes).unwrap();
        prop_assert_eq!(decoded.rejected_spans, 0);
        prop_assert_eq!(decoded.batch, batch);
    }

    #[test]
    fn json_round_trip(batch in arb_batch()) {
        let json = traces_data_to_json(&batch).to_string();
        let req = decode_request_json(json.as_bytes()).unwrap();
        let decoded = batch_from_proto(req.resource_spans);
        prop_assert_eq!(decoded.rejected_spans, 0);
        prop_assert_eq!(decoded.batch, batch);
    }

    #[test]
    fn records_regroup_to_the_same_batch(batch in arb_batch()) {
        let records = batch.clone().into_records();
        let regrouped = TraceBatch::from_records(&records);
        prop_assert_eq!(regrouped.span_count(), batch.span_count());
        let again = TraceBatch::from_records(&regrouped.clone().into_records());
        prop_assert_eq!(again, regrouped);
    }
}

#[test]
fn otlp_json_spec_example_decodes() {
    // Shapes the OTLP/JSON spec allows: int64 as string or number, enums as numbers,
    // hex ids, unknown fields ignored.
    let body = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{
          "scope": {"name": "manual", "version": "1"},
          "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "",
            "name": "GET /cart",
            "kind": 2,
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000,
            "unknownField": {"x": 1},
            "attributes": [
              {"key": "http.response.status_code", "value": {"intValue": "200"}},
              {"key": "retries", "value": {"intValue": 3}},
              {"key": "ratio", "value": {"doubleValue": 0.5}},
              {"key": "ok", "value": {"boolValue": true}},
              {"key": "raw", "value": {"bytesValue": "AQI="}},
              {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
              {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": "1"}}]}}}
            ],
            "events": [{"timeUnixNano": "1544712660500000000", "name": "cache miss"}],
            "links": [{"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b175"}],
            "status": {"code": 2, "message": "boom"}
          }]
        }]
      }]
    }"#;
    let req = decode_request_json(body.as_bytes()).unwrap();
    let decoded = batch_from_proto(req.resource_spans);
    assert_eq!(decoded.rejected_spans, 0);
    let records = decoded.batch.into_records();
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec.service_name(), "checkout");
    let s = &rec.span;
    assert_eq!(s.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(s.parent_span_id, None);
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(s.duration().0, 1_000_000_000);
    assert_eq!(
        s.attribute("http.response.status_code"),
        Some(&AnyValue::Int(200))
    );
    assert_eq!(s.attribute("retries"), Some(&AnyValue::Int(3)));
    assert_eq!(s.attribute("raw"), Some(&AnyValue::Bytes(vec![1, 2])));
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.events[0].name, "cache miss");
    assert_eq!(s.links.len(), 1);
}

#[test]
fn invalid_ids_are_rejected_not_dropped_silently() {
    let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b174","name":"a"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"ee","name":"b"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"c"}
    ]}]}]}"#;
    let req = decode_request_json(body.as_bytes()).unwrap();
    let decoded = batch_from_proto(req.resource_spans);
    assert_eq!(decoded.rejected_spans, 2);
    assert_eq!(decoded.batch.span_count(), 1);
    assert!(decoded.first_rejection.unwrap().contains("trace id"));
}

#[test]
fn malformed_json_names_the_position() {
    let err = decode_request_json(b"{\"resourceSpans\": [}").unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.to_string().contains("column"));
    assert!(
        decode_request_json(
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#
        )
        .is_err()
    );
}
