//! Thrift codec tests: round trips in both protocols, hostile lengths, unknown fields.

use proptest::prelude::*;

use super::*;
use crate::receivers::jaeger::test_strategies::batch_strategy;

const BOTH: [ThriftProtocol; 2] = [ThriftProtocol::Compact, ThriftProtocol::Binary];

proptest! {
    #[test]
    fn batch_round_trips_in_both_protocols(batch in batch_strategy(true)) {
        for protocol in BOTH {
            let bytes = encode_batch(protocol, &batch).expect("encodes");
            prop_assert_eq!(decode_batch(protocol, &bytes).expect("decodes"), batch.clone());
        }
    }

    #[test]
    fn emit_batch_round_trips_in_both_protocols(batch in batch_strategy(true), seq in any::<i32>()) {
        for protocol in BOTH {
            let bytes = encode_emit_batch(protocol, &batch, seq).expect("encodes");
            prop_assert_eq!(decode_emit_batch(protocol, &bytes).expect("decodes"), batch.clone());
        }
    }

    /// Any bytes: an error or a batch, never a panic or a huge allocation.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for protocol in BOTH {
            let _ = decode_emit_batch(protocol, &bytes);
            let _ = decode_batch(protocol, &bytes);
        }
    }
}

fn sample() -> Batch {
    Batch {
        process: Some(Process {
            service_name: "frontend".into(),
            tags: vec![Tag::new("hostname", TagValue::String("h1".into()))],
        }),
        spans: vec![Span {
            trace_id_low: 7,
            span_id: 9,
            operation_name: "GET /".into(),
            start_time: 1_000_000,
            duration: 2_000,
            ..Span::default()
        }],
    }
}

#[test]
fn hostile_string_length_is_refused_without_allocating_it() {
    // Binary protocol: Batch { 1: Process { 1: serviceName (length 0x7fff_fff0) } }
    let mut bytes = vec![12u8, 0, 1, 11, 0, 1];
    bytes.extend_from_slice(&0x7fff_fff0i32.to_be_bytes());
    bytes.extend_from_slice(b"abc");
    let err = decode_batch(ThriftProtocol::Binary, &bytes).expect_err("refused");
    // thrift names its size-limit error "message too long".
    assert!(
        matches!(err, ThriftError::Invalid { .. }) && err.to_string().contains("too long"),
        "{err}"
    );
}

#[test]
fn hostile_list_length_is_refused() {
    // Compact protocol: Batch { 2: list<struct> with 2^31-1 elements }
    // field header: delta 2, type list (9) => 0x29; list header: size 15 (varint follows), type struct (12) => 0xFC
    let mut bytes = vec![0x29u8, 0xFC];
    bytes.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x07]);
    let err = decode_batch(ThriftProtocol::Compact, &bytes).expect_err("refused");
    assert!(err.to_string().contains("invalid Thrift compact"), "{err}");
}

#[test]
fn unknown_fields_are_skipped() {
    // A Batch with an extra field 9 (a string) before the known ones decodes unchanged.
    let known = encode_batch(ThriftProtocol::Binary, &sample()).expect("encodes");
    let mut bytes = vec![11u8, 0, 9, 0, 0, 0, 2, b'h', b'i'];
    bytes.extend_from_slice(&known);
    assert_eq!(
        decode_batch(ThriftProtocol::Binary, &bytes).expect("decodes"),
        sample()
    );
}

#[test]
fn other_agent_methods_are_refused_by_name() {
    let mut bytes = encode_emit_batch(ThriftProtocol::Compact, &sample(), 1).expect("encodes");
    // Compact message header: 0x82, type/version, varint seq, varint name length, name.
    let name_at = bytes
        .windows(EMIT_BATCH.len())
        .position(|w| w == EMIT_BATCH.as_bytes())
        .expect("name present");
    bytes[name_at..name_at + 4].copy_from_slice(b"emiT");
    let err = decode_emit_batch(ThriftProtocol::Compact, &bytes).expect_err("refused");
    assert!(matches!(err, ThriftError::UnexpectedMessage { ref name } if name == "emiTBatch"));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = encode_batch(ThriftProtocol::Binary, &sample()).expect("encodes");
    bytes.push(0);
    assert!(matches!(
        decode_batch(ThriftProtocol::Binary, &bytes),
        Err(ThriftError::Trailing(1))
    ));
}

/// What `testdata/make_fixtures.py` builds with jaeger-client 4.8.0's generated code.
fn python_client_batch() -> Batch {
    let s = |k: &str, v: &str| Tag::new(k, TagValue::String(v.into()));
    Batch {
        process: Some(Process {
            service_name: "py-frontend".into(),
            tags: vec![s("hostname", "host-1"), s("jaeger.version", "Python-4.8.0")],
        }),
        spans: vec![
            Span {
                trace_id_low: 0x1122_3344_5566_7788,
                span_id: 0x0a,
                operation_name: "GET /".into(),
                flags: 1,
                start_time: 1_700_000_000_000_000_000,
                duration: 1_500_000,
                tags: vec![
                    s("span.kind", "server"),
                    Tag::new("http.status_code", TagValue::Long(200)),
                    Tag::new("sampler.param", TagValue::Bool(true)),
                    Tag::new("ratio", TagValue::Double(0.25)),
                    Tag::new("blob", TagValue::Binary(b"ab".to_vec())),
                ],
                logs: vec![Log {
                    timestamp: 1_700_000_000_000_100_000,
                    fields: vec![s("event", "cache miss"), s("key", "k1")],
                }],
                ..Span::default()
            },
            Span {
                trace_id_low: 0x1122_3344_5566_7788,
                span_id: 0x0b,
                parent_span_id: 0x0a,
                operation_name: "SELECT".into(),
                flags: 1,
                start_time: 1_700_000_000_000_200_000,
                duration: 700_000,
                references: vec![SpanRef {
                    ref_type: RefType::FollowsFrom,
                    trace_id_high: 0,
                    trace_id_low: 0x99,
                    span_id: 0x77,
                }],
                tags: vec![
                    s("span.kind", "client"),
                    Tag::new("error", TagValue::Bool(true)),
                ],
                ..Span::default()
            },
        ],
    }
}

#[test]
fn decodes_what_jaegers_python_client_writes() {
    let compact = include_bytes!("testdata/emit_batch_compact.bin");
    let binary = include_bytes!("testdata/emit_batch_binary.bin");
    let body = include_bytes!("testdata/batch_binary.bin");
    let expected = python_client_batch();
    assert_eq!(
        decode_emit_batch(ThriftProtocol::Compact, compact).expect("compact"),
        expected
    );
    assert_eq!(
        decode_emit_batch(ThriftProtocol::Binary, binary).expect("binary"),
        expected
    );
    assert_eq!(
        decode_batch(ThriftProtocol::Binary, body).expect("body"),
        expected
    );
}

/// `clew gen` sends what the writers produce: byte for byte what the client sends.
#[test]
fn writes_what_jaegers_python_client_writes() {
    let batch = python_client_batch();
    assert_eq!(
        encode_emit_batch(ThriftProtocol::Compact, &batch, 1).expect("compact"),
        include_bytes!("testdata/emit_batch_compact.bin")
    );
    assert_eq!(
        encode_emit_batch(ThriftProtocol::Binary, &batch, 1).expect("binary"),
        include_bytes!("testdata/emit_batch_binary.bin")
    );
    assert_eq!(
        encode_batch(ThriftProtocol::Binary, &batch).expect("body"),
        include_bytes!("testdata/batch_binary.bin")
    );
}
