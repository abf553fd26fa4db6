"""OTLP/HTTP JSON with every attribute type, bad input answered properly, tenants kept
apart, admin endpoints, and the terminal client."""

import gzip
import json
import os
import subprocess

import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from conftest import CLEW_BIN
from otlp_json import json_trace


def otlp_url(clew):
    return clew.url("otlp_http") + "/v1/traces"


def test_otlp_json_every_value_type_round_trips(clew):
    body, tid, sids = json_trace("json-svc", spans=3)
    r = requests.post(otlp_url(clew), data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    v3 = clew.get(f"/api/v3/traces/{tid}").json()
    spans = [s for rs in v3["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert sorted(s["spanId"] for s in spans) == sorted(sids)
    first = next(s for s in spans if s["name"] == "op-0")
    attrs = {a["key"]: a["value"] for a in first["attributes"]}
    assert attrs["raw"] == {"bytesValue": "3q2+7w=="}
    assert attrs["nested"]["kvlistValue"]["values"][0] == {"key": "k", "value": {"stringValue": "v"}}
    assert attrs["i"] == {"intValue": "0"}


def test_gzip_and_partial_success(clew):
    body, tid, sids = json_trace("gz", spans=2)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"].append({"traceId": "00" * 16, "spanId": "ab" * 8, "name": "bad"})
    r = requests.post(
        otlp_url(clew),
        data=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert partial["errorMessage"]
    got = clew.get(f"/api/traces/{tid}").json()["data"][0]["spans"]
    assert len(got) == 2


def test_bad_input_gets_clear_errors_and_server_keeps_running(clew):
    r = requests.post(otlp_url(clew), data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "column" in r.text
    r = requests.post(otlp_url(clew), data=b"\xff\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    r = requests.post(otlp_url(clew), data=b"hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    big = os.urandom(17 * 1024 * 1024)
    r = requests.post(otlp_url(clew), data=big, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 413
    bomb = gzip.compress(b"\x00" * (40 * 1024 * 1024))
    r = requests.post(
        otlp_url(clew), data=bomb, headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    )
    assert r.status_code == 413
    # protobuf error answers are google.rpc.Status in protobuf
    body, tid, _ = json_trace("still-alive", spans=1)
    r = requests.post(otlp_url(clew), json=body)
    assert r.status_code == 200
    assert clew.get(f"/api/traces/{tid}").status_code == 200


def test_protobuf_request_answers_protobuf(clew):
    req = trace_service_pb2.ExportTraceServiceRequest()
    r = requests.post(otlp_url(clew), data=req.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/x-protobuf")
    trace_service_pb2.ExportTraceServiceResponse().ParseFromString(r.content)


def test_tenants_are_isolated(clew):
    body, tid, _ = json_trace("tenant-svc", spans=1)
    r = requests.post(otlp_url(clew), json=body, headers={"X-Scope-OrgID": "team-a"})
    assert r.status_code == 200
    assert clew.get(f"/api/traces/{tid}", headers={"X-Scope-OrgID": "team-a"}).status_code == 200
    assert clew.get(f"/api/traces/{tid}", headers={"X-Scope-OrgID": "team-b"}).status_code == 404
    assert clew.get(f"/api/traces/{tid}").status_code == 404
    assert "tenant-svc" not in clew.get("/api/services").json()["data"]


def test_admin_endpoints(clew):
    body, _, _ = json_trace("metrics-svc", spans=4)
    assert requests.post(otlp_url(clew), json=body).status_code == 200
    admin = clew.url("admin")
    assert requests.get(admin + "/healthz").status_code == 200
    assert requests.get(admin + "/readyz").status_code == 200
    metrics = requests.get(admin + "/metrics").text
    for name in ("clew_receiver_spans_received", "clew_receiver_spans_accepted", "clew_wal_bytes_written", "clew_wal_fsync_duration_seconds"):
        assert name in metrics, name
    accepted = [
        l for l in metrics.splitlines() if l.startswith("clew_receiver_spans_accepted") and "otlp-http-json" in l
    ]
    assert accepted and float(accepted[0].split()[-1]) >= 4


def test_terminal_waterfall(clew):
    body, tid, _ = json_trace("term-svc", spans=3, name_prefix="step")
    assert requests.post(otlp_url(clew), json=body).status_code == 200
    out = subprocess.run(
        [CLEW_BIN, "trace", tid, "--server", clew.query], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"Trace {tid}") and "3 spans" in lines[0]
    assert any(l.startswith("term-svc step-0") for l in lines), out.stdout
    assert any(l.startswith("    !term-svc step-2") for l in lines), out.stdout
    missing = subprocess.run(
        [CLEW_BIN, "trace", "ab" * 16, "--server", clew.query], capture_output=True, text=True, timeout=30
    )
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_config_default_prints_commented_defaults():
    out = subprocess.run([CLEW_BIN, "config", "default"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert 'durability = "fsync"' in out.stdout and out.stdout.lstrip().startswith("#")


def test_span_limits_truncate_and_count(clew_factory):
    clew = clew_factory(extra_args=["--set", "receivers.limits.max_attributes=2", "--set", "receivers.limits.max_attribute_value_bytes=8"]).start()
    body, tid, sids = json_trace("limits-svc", spans=1)
    span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] = [{"key": "long", "value": {"stringValue": "abcdefghijklmnop"}}] + [
        {"key": f"k{i}", "value": {"intValue": i}} for i in range(5)
    ]
    assert requests.post(otlp_url(clew), json=body).status_code == 200
    v3 = clew.get(f"/api/v3/traces/{tid}").json()
    got = v3["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    attrs = {a["key"]: a["value"] for a in got["attributes"]}
    assert attrs == {"long": {"stringValue": "abcdefgh"}, "k0": {"intValue": "0"}}
    assert got["droppedAttributesCount"] == 4
    metrics = requests.get(clew.url("admin") + "/metrics").text
    assert 'clew_receiver_span_limits_applied_total{protocol="otlp-http-json",limit="attributes_dropped"} 4' in metrics
