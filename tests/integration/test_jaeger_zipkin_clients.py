"""Real Jaeger and Zipkin clients send to Clew unchanged; every span, tag, log and reference
comes back through the Jaeger and Tempo APIs as mapped in DESIGN.md section 3."""

import json

import pytest
import requests

from conftest import wait_until
from legacy import run_client
from otel_helpers import fetch_tempo_protobuf, jaeger_tags

KIND_NUMBERS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}


def jaeger_trace(clew, tid, expect_spans):
    """Polls Jaeger's v1 trace endpoint until the trace has `expect_spans` spans."""

    def fetch():
        r = clew.get(f"/api/traces/{tid}")
        if r.status_code != 200:
            return None
        trace = r.json()["data"][0]
        return trace if len(trace["spans"]) >= expect_spans else None

    return wait_until(fetch, what=f"trace {tid} with {expect_spans} spans")


def check_otel_topology(clew, sent, service, *, links_kept=True, events_with_attributes=True, typed=True):
    """The topology of clients/topology.py, checked through Jaeger v1 and Tempo protobuf."""
    by_trace = {}
    for s in sent:
        by_trace.setdefault(s["trace_id"], []).append(s)
    for tid, spans in by_trace.items():
        trace = jaeger_trace(clew, tid, len(spans))
        got = {s["spanID"]: s for s in trace["spans"]}
        assert set(got) == {s["span_id"] for s in spans}
        proto = {g["span"].span_id.hex(): g for g in fetch_tempo_protobuf(clew, tid)}
        for s in spans:
            j = got[s["span_id"]]
            assert j["operationName"] == s["name"]
            assert trace["processes"][j["processID"]]["serviceName"] == service
            # the exporters round nanoseconds to microseconds; we truncate in describe()
            assert abs(j["startTime"] - s["start_us"]) <= 1
            assert abs(j["duration"] - (s["end_us"] - s["start_us"])) <= 1
            parents = [r for r in j["references"] if r["refType"] == "CHILD_OF"]
            if s["parent_span_id"]:
                assert parents == [{"refType": "CHILD_OF", "traceID": tid, "spanID": s["parent_span_id"]}]
            else:
                assert parents == []
            tags = jaeger_tags(j["tags"])
            for key, value in s["attributes"].items():
                if isinstance(value, list):
                    assert key in tags, key
                elif typed:
                    assert tags[key][1] == value, (key, tags[key])
                else:
                    assert str(tags[key][1]).lower() == str(value).lower(), (key, tags[key])
            if s["kind"] != "internal":
                assert tags["span.kind"] == ("string", s["kind"])
            if s["status"] == "ERROR":
                assert tags["error"] == ("bool", True)
            p = proto[s["span_id"]]["span"]
            assert p.kind in (KIND_NUMBERS[s["kind"]], 0 if s["kind"] == "internal" else -1)
            assert p.status.code == {"UNSET": 0, "OK": 1, "ERROR": 2}[s["status"]]
            assert [e.name for e in p.events] == [e["name"] for e in s["events"]]
            if events_with_attributes:
                for pe, se in zip(p.events, s["events"]):
                    keys = {kv.key for kv in pe.attributes}
                    assert set(se["attributes"]) <= keys, (keys, se)
            if links_kept:
                follows = [r for r in j["references"] if r["refType"] == "FOLLOWS_FROM"]
                assert [(r["traceID"], r["spanID"]) for r in follows] == [(l["trace_id"], l["span_id"]) for l in s["links"]]
                assert [(l.trace_id.hex(), l.span_id.hex()) for l in p.links] == [
                    (l["trace_id"], l["span_id"]) for l in s["links"]
                ]


def test_otel_jaeger_thrift_agent_udp(clew):
    sent = run_client("otel_exporter.py", "jaeger-thrift-agent", "jg-udp", clew.addrs["jaeger_udp_compact"], legacy=True)
    check_otel_topology(clew, sent, "jg-udp")


def test_otel_jaeger_thrift_http(clew):
    url = clew.url("jaeger_http") + "/api/traces"
    sent = run_client("otel_exporter.py", "jaeger-thrift-http", "jg-http", url, legacy=True)
    check_otel_topology(clew, sent, "jg-http")


def test_otel_jaeger_grpc(clew):
    sent = run_client("otel_exporter.py", "jaeger-grpc", "jg-grpc", clew.addrs["jaeger_grpc"], legacy=True)
    check_otel_topology(clew, sent, "jg-grpc")


@pytest.mark.parametrize("kind,legacy", [("zipkin-json", False), ("zipkin-proto", True)])
def test_otel_zipkin_exporters(clew, kind, legacy):
    url = clew.url("zipkin") + "/api/v2/spans"
    service = f"zk-{kind}"
    sent = run_client("otel_exporter.py", kind, service, url, legacy=legacy)
    # Zipkin carries tags as strings, no links, and events as annotations without attributes.
    check_otel_topology(clew, sent, service, links_kept=False, events_with_attributes=False, typed=False)


def test_jaeger_client_udp_compact(clew):
    out = run_client("jaeger_client_app.py", "report", "jc-svc", clew.addrs["jaeger_udp_compact"].rsplit(":", 1)[1], legacy=True)
    assert out["drained"]
    spans = {s["name"]: s for s in out["spans"]}
    tid = spans["GET /cart"]["trace_id"]
    trace = jaeger_trace(clew, tid, 3)
    # jaeger-client's ids are 64-bit: Jaeger prints such a trace id in 16 digits
    assert trace["traceID"] == tid[16:]
    tid = trace["traceID"]
    got = {s["operationName"]: s for s in trace["spans"]}
    assert trace["processes"][got["GET /cart"]["processID"]]["serviceName"] == "jc-svc"
    root_tags = jaeger_tags(got["GET /cart"]["tags"])
    assert root_tags["http.status_code"] == ("int64", 200)
    assert root_tags["cache.hit"] == ("bool", False)
    assert root_tags["ratio"] == ("float64", 0.5)
    assert root_tags["span.kind"] == ("string", "server")
    [log] = got["GET /cart"]["logs"]
    assert jaeger_tags(log["fields"])["event"] == ("string", "cart loaded")
    child = got["SELECT cart"]
    assert child["references"] == [{"refType": "CHILD_OF", "traceID": tid, "spanID": spans["GET /cart"]["span_id"]}]
    assert jaeger_tags(child["tags"])["error"] == ("bool", True)
    audit = got["audit"]
    assert {"refType": "FOLLOWS_FROM", "traceID": tid, "spanID": spans["GET /cart"]["span_id"]} in audit["references"]
    proto = {g["span"].name: g["span"] for g in fetch_tempo_protobuf(clew, tid)}
    assert proto["SELECT cart"].status.code == 2
    assert proto["GET /cart"].kind == 2 and proto["SELECT cart"].kind == 3
    assert [l.span_id.hex() for l in proto["audit"].links] == [spans["GET /cart"]["span_id"]]


def test_py_zipkin_shared_spans_and_remote_endpoint(clew):
    out = run_client("py_zipkin_client.py", clew.url("zipkin") + "/api/v2/spans")
    assert set(out["statuses"]) == {202}
    tid = out["trace_id"]
    trace = jaeger_trace(clew, tid, 3)
    services = {trace["processes"][s["processID"]]["serviceName"] for s in trace["spans"]}
    assert services == {"zk-web", "zk-api"}
    by_name = {s["operationName"]: s for s in trace["spans"]}
    client = by_name["call api"]
    server = by_name["get /api"]
    assert client["spanID"] == out["client_id"]
    # both halves of the shared span are kept, the server half under the client half
    assert server["spanID"] != client["spanID"]
    assert {"refType": "CHILD_OF", "traceID": tid, "spanID": client["spanID"]} in server["references"]
    ctags = jaeger_tags(client["tags"])
    assert ctags["peer.service"][1] == "zk-api"
    assert "10.1.2.3" in json.dumps(client["tags"])
    root = by_name["get /home"]
    assert "cache.miss" in json.dumps(root["logs"])
    assert jaeger_tags(root["tags"])["error"] == ("bool", True)
    # and the Zipkin API reads it back
    z = requests.get(clew.query + f"/api/v2/trace/{tid}").json()
    assert {s["name"] for s in z} == {"get /home", "call api", "get /api"}
    assert "zk-web" in requests.get(clew.query + "/api/v2/services").json()


def test_mixed_protocols_assemble_one_trace(clew):
    """Half the trace by OTLP, half by Zipkin: one tree."""
    tid = "0af7651916cd43dd8448eb211c80319c"
    root_id, child_id = "b7ad6b7169203331", "00f067aa0ba902b7"
    now_us = 1_700_000_000_000_000
    otlp = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "mix-front"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": tid,
                                "spanId": root_id,
                                "name": "front",
                                "kind": 2,
                                "startTimeUnixNano": str(now_us * 1000),
                                "endTimeUnixNano": str((now_us + 10_000) * 1000),
                            }
                        ]
                    }
                ],
            }
        ]
    }
    assert requests.post(clew.url("otlp_http") + "/v1/traces", json=otlp).status_code == 200
    zipkin = [
        {
            "traceId": tid,
            "id": child_id,
            "parentId": root_id,
            "name": "back",
            "kind": "SERVER",
            "timestamp": now_us + 1000,
            "duration": 5000,
            "localEndpoint": {"serviceName": "mix-back"},
        }
    ]
    assert requests.post(clew.url("zipkin") + "/api/v2/spans", json=zipkin).status_code == 202
    trace = jaeger_trace(clew, tid, 2)
    back = next(s for s in trace["spans"] if s["operationName"] == "back")
    assert back["references"] == [{"refType": "CHILD_OF", "traceID": tid, "spanID": root_id}]


def test_malformed_input_per_protocol(clew):
    jh = clew.url("jaeger_http") + "/api/traces"
    assert requests.post(jh, data=b"\x0c\x00\x01", headers={"Content-Type": "application/x-thrift"}).status_code == 400
    assert requests.post(jh, data=b"{}", headers={"Content-Type": "application/json"}).status_code == 415
    zk = clew.url("zipkin") + "/api/v2/spans"
    r = requests.post(zk, data=b"[{]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.text
    assert requests.post(zk, data=b"\xff\x00", headers={"Content-Type": "application/x-protobuf"}).status_code == 400
    # still alive
    assert requests.get(clew.query + "/api/services").status_code == 200
