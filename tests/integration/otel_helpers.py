"""Builds traces with the real OpenTelemetry Python SDK and compares them with what Clew returns."""

import json

from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

KIND_NUMBERS = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}

ROOT_ATTRIBUTES = {
    "http.request.method": "POST",
    "http.route": "/checkout/{id}",
    "http.response.status_code": 200,
    "sampled.flag": True,
    "load.ratio": 0.75,
    "tags.list": ["a", "b"],
    "flags.list": [True, False],
    "ids.list": [1, 2, 3],
    "weights.list": [0.5, 1.5],
    "unicode.text": "héllo ✓ 日本",
}


def send_topology(exporter, service):
    """Sends a known topology through `exporter`; returns (provider-flush-ok, captured spans).

    Topology: trace A = SERVER root (every attribute type, an event) -> CLIENT child
    (error status, exception event) -> INTERNAL grandchild; trace B = a CONSUMER span
    linked to trace A's root.
    """
    captured = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": "1.2.3", "deployment.environment.name": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(captured))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("clew.integration", "0.1.0")
    with tracer.start_as_current_span("POST /checkout/{id}", kind=SpanKind.SERVER, attributes=ROOT_ATTRIBUTES) as root:
        root.add_event("cache miss", {"cache.key": "cart:1", "cache.hit": False, "attempt": 2})
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as child:
            child.set_attribute("peer.service", "payments")
            try:
                raise ValueError("card declined")
            except ValueError as e:
                child.record_exception(e)
            child.set_status(Status(StatusCode.ERROR, "card declined"))
            with tracer.start_as_current_span("build request", kind=SpanKind.INTERNAL):
                pass
        root_ctx = root.get_span_context()
    with tracer.start_as_current_span(
        "process refund", kind=SpanKind.CONSUMER, links=[Link(root_ctx, {"link.reason": "refund of"})]
    ):
        pass
    ok = provider.force_flush(timeout_millis=20000)
    provider.shutdown()
    return ok, captured.get_finished_spans()


def trace_hex(span):
    return format(span.context.trace_id, "032x")


def span_hex(span):
    return format(span.context.span_id, "016x")


def otlp_attr_value(v):
    """An OTLP AnyValue protobuf -> the Python value the SDK was given."""
    which = v.WhichOneof("value")
    if which == "array_value":
        return [otlp_attr_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: otlp_attr_value(kv.value) for kv in v.kvlist_value.values}
    if which is None:
        return None
    return getattr(v, which)


def attrs_dict(kvs):
    return {kv.key: otlp_attr_value(kv.value) for kv in kvs}


def sdk_attrs(attrs):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in (attrs or {}).items()}


def assert_span_matches(sent, got, service):
    """Every field the SDK sent comes back from Clew's protobuf trace endpoint."""
    assert got["span"].name == sent.name
    assert got["span"].span_id.hex() == span_hex(sent)
    assert got["span"].trace_id.hex() == trace_hex(sent)
    parent = got["span"].parent_span_id.hex()
    assert parent == (format(sent.parent.span_id, "016x") if sent.parent else "")
    assert got["span"].kind == KIND_NUMBERS[sent.kind]
    assert got["span"].start_time_unix_nano == sent.start_time
    assert got["span"].end_time_unix_nano == sent.end_time
    assert attrs_dict(got["span"].attributes) == sdk_attrs(sent.attributes)
    assert [e.name for e in got["span"].events] == [e.name for e in sent.events]
    for ge, se in zip(got["span"].events, sent.events):
        assert ge.time_unix_nano == se.timestamp
        assert attrs_dict(ge.attributes) == sdk_attrs(se.attributes)
    assert [(l.trace_id.hex(), l.span_id.hex()) for l in got["span"].links] == [
        (format(l.context.trace_id, "032x"), format(l.context.span_id, "016x")) for l in sent.links
    ]
    for gl, sl in zip(got["span"].links, sent.links):
        assert attrs_dict(gl.attributes) == sdk_attrs(sl.attributes)
    assert got["span"].status.code == sent.status.status_code.value
    assert got["span"].status.message == (sent.status.description or "")
    res = attrs_dict(got["resource"].attributes)
    assert res["service.name"] == service
    assert res == sdk_attrs(sent.resource.attributes)
    assert got["scope"].name == sent.instrumentation_scope.name
    assert got["scope"].version == sent.instrumentation_scope.version


def spans_from_traces_data(data):
    """Flattens TracesData protobuf into dicts of span, resource and scope."""
    out = []
    for rs in data.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({"span": s, "resource": rs.resource, "scope": ss.scope})
    return out


def fetch_tempo_protobuf(clew, trace_id):
    r = clew.get(f"/api/traces/{trace_id}", headers={"Accept": "application/protobuf"})
    assert r.status_code == 200, r.text
    data = trace_pb2.TracesData()
    data.ParseFromString(r.content)
    return spans_from_traces_data(data)


def jaeger_tags(tags):
    return {t["key"]: (t["type"], t["value"]) for t in tags}


def pretty(obj):
    return json.dumps(obj, indent=1, sort_keys=True)[:4000]
