"""Hand-built OTLP/JSON requests (the Python exporters send protobuf only), per the
OTLP/JSON rules: hex ids, 64-bit integers as strings, enums as numbers."""

import os
import time


def new_ids():
    return os.urandom(16).hex(), os.urandom(8).hex()


def json_trace(service, trace_id=None, spans=3, name_prefix="op"):
    """A request with one trace of `spans` spans in a chain; returns (body, trace_id, span_ids)."""
    trace_id = trace_id or os.urandom(16).hex()
    now = time.time_ns()
    span_ids = [os.urandom(8).hex() for _ in range(spans)]
    out = []
    for i, sid in enumerate(span_ids):
        out.append(
            {
                "traceId": trace_id,
                "spanId": sid,
                "parentSpanId": span_ids[i - 1] if i else "",
                "name": f"{name_prefix}-{i}",
                "kind": 2 if i == 0 else 3,
                "startTimeUnixNano": str(now + i * 1000),
                "endTimeUnixNano": str(now + 1_000_000 - i * 1000),
                "attributes": [
                    {"key": "i", "value": {"intValue": str(i)}},
                    {"key": "raw", "value": {"bytesValue": "3q2+7w=="}},
                    {
                        "key": "nested",
                        "value": {
                            "kvlistValue": {
                                "values": [
                                    {"key": "k", "value": {"stringValue": "v"}},
                                    {"key": "n", "value": {"arrayValue": {"values": [{"intValue": 1}, {"doubleValue": 2.5}]}}},
                                ]
                            }
                        },
                    },
                ],
                "status": {"code": 2 if i == spans - 1 else 0, "message": "boom" if i == spans - 1 else ""},
            }
        )
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "json-test", "version": "1"}, "spans": out}],
            }
        ]
    }
    return body, trace_id, span_ids
