"""Tempo's search API as Grafana's Tempo data source calls it, against the real binary: spans
from the real OpenTelemetry SDK, TraceQL over head and blocks, tags and tag values for the
editor, build info, paging, tenants, Jaeger search on the same engine, and `clew search` in the
terminal. (Traces split between blocks and the head are judged whole: crates/query's golden
table runs every query both ways.)"""

import subprocess
import time

import requests

from conftest import CLEW_BIN
from otel_helpers import send_topology, trace_hex
from test_otlp_sdk import exporter_for


def search(clew, q, **params):
    r = clew.get("/api/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()


def flush(clew):
    r = requests.post(clew.url("admin") + "/flush", timeout=30)
    assert r.status_code == 200, r.text


def test_traceql_search_tags_and_values(clew):
    ok, sent = send_topology(exporter_for(clew, "grpc"), "tq-shop")
    assert ok
    root = next(s for s in sent if s.name == "POST /checkout/{id}")
    consumer = next(s for s in sent if s.name == "process refund")
    tid, other = trace_hex(root), trace_hex(consumer)

    # The first traces are in a block, the next ones in the head.
    flush(clew)
    ok, later = send_topology(exporter_for(clew, "http"), "tq-late")
    assert ok

    got = search(clew, '{ resource.service.name = "tq-shop" && status = error }')
    assert [t["traceID"] for t in got["traces"]] == [tid]
    t = got["traces"][0]
    assert t["rootServiceName"] == "tq-shop" and t["rootTraceName"] == "POST /checkout/{id}"
    # jsonpb leaves zero values out: a sub-millisecond trace has no durationMs.
    assert int(t["startTimeUnixNano"]) > 0 and isinstance(t.get("durationMs", 0), int)
    assert t["spanSets"][0]["matched"] == 1
    assert t["spanSets"][0]["spans"][0]["name"] == "charge card"
    assert t["serviceStats"]["tq-shop"]["spanCount"] == 3
    assert t["serviceStats"]["tq-shop"]["errorCount"] == 1
    assert int(got["metrics"]["totalBlocks"]) == 1

    # Structure and attributes of every type.
    q = '{ resource.service.name = "tq-shop" && span.http.route = "/checkout/{id}" && span.load.ratio > 0.5 } > { kind = client }'
    assert [t["traceID"] for t in search(clew, q)["traces"]] == [tid]
    assert [t["traceID"] for t in search(clew, '{ link:traceID = "%s" }' % tid)["traces"]] == [other]
    assert search(clew, '{ span.http.response.status_code = "200" }')["traces"] == []
    both = search(clew, '{ resource.service.name =~ "tq-.*" && kind = consumer }')
    assert len(both["traces"]) == 2

    # Paging with Clew's cursor: each trace once, newest first.
    seen, cursor = [], None
    while True:
        params = {"limit": 1, "start": int(time.time()) - 3600, "end": int(time.time()) + 60}
        if cursor:
            params["cursor"] = cursor
        page = search(clew, '{ resource.service.name =~ "tq-.*" }', **params)
        seen += [t["traceID"] for t in page["traces"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert len(seen) == 4 and len(set(seen)) == 4
    whole = search(clew, '{ resource.service.name =~ "tq-.*" }')["traces"]
    assert [t["traceID"] for t in whole] == seen
    starts = [int(t["startTimeUnixNano"]) for t in whole]
    assert starts == sorted(starts, reverse=True)

    # A TraceQL error names the position.
    r = clew.get("/api/search", params={"q": "{ .a = }"})
    assert r.status_code == 400 and "column" in r.text, r.text

    # Tags and values, as the TraceQL editor asks for them.
    v2 = clew.get("/api/v2/search/tags").json()
    scopes = {s["name"]: s["tags"] for s in v2["scopes"]}
    assert "http.route" in scopes["span"] and "service.name" in scopes["resource"]
    assert "cache.key" in scopes["event"] and "link.reason" in scopes["link"]
    assert "duration" in scopes["intrinsic"]
    assert "http.route" in clew.get("/api/search/tags").json()["tagNames"]
    values = clew.get("/api/v2/search/tag/resource.service.name/values").json()["tagValues"]
    assert {"type": "string", "value": "tq-shop"} in values
    codes = clew.get("/api/v2/search/tag/span.http.response.status_code/values").json()["tagValues"]
    assert {"type": "int", "value": "200"} in codes
    filtered = clew.get(
        "/api/v2/search/tag/name/values", params={"q": '{ resource.service.name = "tq-late" }'}
    ).json()["tagValues"]
    assert {v["value"] for v in filtered} == {s.name for s in later}
    assert "tq-shop" in clew.get("/api/search/tag/service.name/values").json()["tagValues"]
    assert clew.get("/api/status/buildinfo").json()["version"]

    # Jaeger's search runs on the same engine.
    jaeger = clew.get("/api/traces", params={"service": "tq-shop", "tags": '{"error":"true"}'}).json()["data"]
    assert [t["traceID"] for t in jaeger] == [tid]

    # The terminal.
    out = subprocess.run(
        [CLEW_BIN, "search", '{ resource.service.name = "tq-shop" }', "--server", clew.url("query")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert tid in out.stdout and other in out.stdout
    bad = subprocess.run(
        [CLEW_BIN, "search", "{ .a = }", "--server", clew.url("query")], capture_output=True, text=True, timeout=30
    )
    assert bad.returncode != 0 and "^" in bad.stdout + bad.stderr


def test_search_is_per_tenant(clew):
    from otlp_json import json_trace

    body, tid, _ = json_trace("tenant-svc", spans=2)
    r = requests.post(clew.url("otlp_http") + "/v1/traces", json=body, headers={"X-Scope-OrgID": "team-a"}, timeout=10)
    assert r.status_code == 200, r.text
    q = {"q": '{ resource.service.name = "tenant-svc" }'}
    mine = clew.get("/api/search", params=q, headers={"X-Scope-OrgID": "team-a"}).json()["traces"]
    assert [t["traceID"] for t in mine] == [tid]
    assert clew.get("/api/search", params=q).json()["traces"] == []
