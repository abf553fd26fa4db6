"""The topology every OpenTelemetry-SDK client script sends, and the JSON it prints about it.

Shared by scripts that run in different virtual environments (current and legacy SDKs), so it
uses only APIs present in both.
"""

import json
import sys


def send(tracer, provider):
    """Trace A: SERVER root (typed attributes, an event) -> CLIENT child (error, exception
    event) -> INTERNAL grandchild; trace B: a CONSUMER span linked to A's root."""
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    with tracer.start_as_current_span(
        "POST /orders",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "POST",
            "http.response.status_code": 201,
            "retry": False,
            "load.ratio": 0.25,
            "tags.list": ["x", "y"],
        },
    ) as root:
        root.add_event("validated", {"order.items": 3, "fast": True})
        with tracer.start_as_current_span("reserve stock", kind=SpanKind.CLIENT) as child:
            child.set_attribute("peer.service", "inventory")
            try:
                raise RuntimeError("out of stock")
            except RuntimeError as e:
                child.record_exception(e)
            child.set_status(Status(StatusCode.ERROR, "out of stock"))
            with tracer.start_as_current_span("encode", kind=SpanKind.INTERNAL):
                pass
        root_ctx = root.get_span_context()
    with tracer.start_as_current_span("ship", kind=SpanKind.CONSUMER, links=[Link(root_ctx, {"why": "follows"})]):
        pass
    provider.force_flush()


def describe(spans):
    """What was sent, as JSON the test compares with what Clew returns."""
    out = []
    for s in spans:
        out.append(
            {
                "trace_id": format(s.context.trace_id, "032x"),
                "span_id": format(s.context.span_id, "016x"),
                "parent_span_id": format(s.parent.span_id, "016x") if s.parent else None,
                "name": s.name,
                "kind": s.kind.name.lower(),
                "start_us": s.start_time // 1000,
                "end_us": s.end_time // 1000,
                "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in (s.attributes or {}).items()},
                "events": [
                    {"name": e.name, "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in (e.attributes or {}).items()}}
                    for e in s.events
                ],
                "links": [
                    {"trace_id": format(l.context.trace_id, "032x"), "span_id": format(l.context.span_id, "016x")}
                    for l in s.links
                ],
                "status": s.status.status_code.name,
                "status_message": s.status.description,
                "service": s.resource.attributes.get("service.name"),
            }
        )
    json.dump(out, sys.stdout)
