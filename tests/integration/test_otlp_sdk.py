"""The real OpenTelemetry Python SDK sends over OTLP gRPC and OTLP HTTP; every span,
attribute, event, link and status comes back through Tempo's, Jaeger v1's and Jaeger
v3's APIs."""

import json

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from conftest import wait_until
from otel_helpers import (
    assert_span_matches,
    fetch_tempo_protobuf,
    jaeger_tags,
    pretty,
    send_topology,
    span_hex,
    trace_hex,
)


def exporter_for(clew, transport):
    if transport == "grpc":
        return GrpcExporter(endpoint=clew.url("otlp_grpc"), insecure=True)
    return HttpExporter(endpoint=clew.url("otlp_http") + "/v1/traces")


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_spans_come_back_whole(clew, transport):
    service = f"checkout-{transport}"
    ok, sent = send_topology(exporter_for(clew, transport), service)
    assert ok, "the SDK could not export"
    by_trace = {}
    for s in sent:
        by_trace.setdefault(trace_hex(s), []).append(s)
    assert len(by_trace) == 2

    for tid, spans in by_trace.items():
        got = fetch_tempo_protobuf(clew, tid)
        got_by_id = {g["span"].span_id.hex(): g for g in got}
        assert sorted(got_by_id) == sorted(span_hex(s) for s in spans)
        for s in spans:
            assert_span_matches(s, got_by_id[span_hex(s)], service)


def test_jaeger_v1_shapes(clew):
    ok, sent = send_topology(exporter_for(clew, "grpc"), "shop")
    assert ok
    root = next(s for s in sent if s.name == "POST /checkout/{id}")
    child = next(s for s in sent if s.name == "charge card")
    consumer = next(s for s in sent if s.name == "process refund")
    tid = trace_hex(root)

    services = clew.get("/api/services").json()
    assert "shop" in services["data"]
    ops = clew.get("/api/services/shop/operations").json()["data"]
    assert {"POST /checkout/{id}", "charge card", "build request", "process refund"} <= set(ops)

    body = clew.get(f"/api/traces/{tid}").json()
    assert body["errors"] is None, pretty(body)
    [trace] = body["data"]
    assert trace["traceID"] == tid
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert set(spans) == {span_hex(s) for s in sent if trace_hex(s) == tid}
    jroot = spans[span_hex(root)]
    assert jroot["operationName"] == "POST /checkout/{id}"
    assert jroot["startTime"] == root.start_time // 1000
    assert jroot["duration"] == (root.end_time - root.start_time) // 1000
    assert jroot["references"] == []
    tags = jaeger_tags(jroot["tags"])
    assert tags["http.request.method"] == ("string", "POST")
    assert tags["http.response.status_code"] == ("int64", 200)
    assert tags["sampled.flag"] == ("bool", True)
    assert tags["load.ratio"] == ("float64", 0.75)
    assert tags["span.kind"] == ("string", "server")
    assert tags["unicode.text"] == ("string", "héllo ✓ 日本")
    [log] = jroot["logs"]
    assert log["timestamp"] == root.events[0].timestamp // 1000
    fields = jaeger_tags(log["fields"])
    assert fields["event"] == ("string", "cache miss")
    assert fields["cache.hit"] == ("bool", False)
    proc = trace["processes"][jroot["processID"]]
    assert proc["serviceName"] == "shop"
    assert ("service.version", "string", "1.2.3") in {(t["key"], t["type"], t["value"]) for t in proc["tags"]}

    jchild = spans[span_hex(child)]
    assert jchild["references"] == [{"refType": "CHILD_OF", "traceID": tid, "spanID": span_hex(root)}]
    ctags = jaeger_tags(jchild["tags"])
    assert ctags["error"] == ("bool", True)
    assert ctags["otel.status_code"] == ("string", "ERROR")
    assert ctags["span.kind"] == ("string", "client")

    # a link is a FOLLOWS_FROM reference
    cbody = clew.get(f"/api/traces/{trace_hex(consumer)}").json()
    [cspan] = cbody["data"][0]["spans"]
    assert {"refType": "FOLLOWS_FROM", "traceID": tid, "spanID": span_hex(root)} in cspan["references"]

    # search: every filter narrows to the trace
    def search(**params):
        r = clew.get("/api/traces", params=params)
        assert r.status_code == 200, r.text
        return [t["traceID"] for t in r.json()["data"]]

    assert tid in search(service="shop")
    assert search(service="shop", tags=json.dumps({"error": "true"})) == [tid]
    assert search(service="shop", operation="charge card") == [tid]
    assert search(service="shop", tags=json.dumps({"http.request.method": "POST"})) == [tid]
    assert search(service="shop", tags=json.dumps({"http.request.method": "GET"})) == []
    assert search(service="shop", minDuration="1h") == []
    assert search(service="nobody") == []
    assert len(search(service="shop", limit=1)) == 1

    missing = clew.get("/api/traces/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == 404


def test_jaeger_v3_and_tempo_json(clew):
    ok, sent = send_topology(exporter_for(clew, "http"), "shop-v3")
    assert ok
    root = next(s for s in sent if s.name == "POST /checkout/{id}")
    tid = trace_hex(root)

    assert "shop-v3" in clew.get("/api/v3/services").json()["services"]
    ops = clew.get("/api/v3/operations", params={"service": "shop-v3"}).json()["operations"]
    assert {"name": "POST /checkout/{id}", "spanKind": "server"} in ops

    v3 = clew.get(f"/api/v3/traces/{tid}").json()
    rs = v3["result"]["resourceSpans"]
    names = {s["name"] for r in rs for ss in r["scopeSpans"] for s in ss["spans"]}
    assert names == {"POST /checkout/{id}", "charge card", "build request"}

    tempo = clew.get(f"/tempo/api/traces/{tid}").json()
    spans = [s for b in tempo["batches"] for ss in b["scopeSpans"] for s in ss["spans"]]
    assert len(spans) == 3
    v2 = clew.get(f"/api/v2/traces/{tid}").json()
    assert "trace" in v2

    assert clew.get("/api/echo").text == "echo"
    assert clew.get("/api/v2/traces/0123456789abcdef0123456789abcdef").status_code == 404


def test_tempo_prefix_serves_tempo_whole(clew):
    ok, sent = send_topology(exporter_for(clew, "grpc"), "tempo-prefix")
    assert ok
    tid = trace_hex(sent[0])
    assert clew.get("/tempo/api/echo").text == "echo"
    r = clew.get(f"/tempo/api/traces/{tid}", headers={"Accept": "application/protobuf"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/protobuf")
    v1 = clew.get(f"/tempo/api/traces/{tid}").json()
    span = v1["batches"][0]["scopeSpans"][0]["spans"][0]
    # Tempo's JSON writes ids in base64 and enums by name
    assert len(span["traceId"]) == 24 and span["kind"].startswith("SPAN_KIND_")
