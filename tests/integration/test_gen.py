"""`clew gen` against the real server over every protocol it speaks (OTLP, Jaeger gRPC, Thrift
over HTTP and agent UDP, Zipkin JSON and proto): its report must match what the server
counted, and the generated services must be queryable."""

import re
import socket
import subprocess

import pytest
import requests

from conftest import CLEW_BIN, wait_until

SERVICES = ["cart", "checkout", "frontend", "inventory", "payment"]


def run_gen(*args):
    return subprocess.run([CLEW_BIN, "gen", *args], capture_output=True, text=True, timeout=120)


def report_value(report, key):
    m = re.search(rf"^{re.escape(key)}: (\d+)", report, re.MULTILINE)
    assert m, f"no {key!r} in report:\n{report}"
    return int(m.group(1))


def accepted_counter(clew, label):
    text = requests.get(clew.url("admin") + "/metrics", timeout=10).text
    m = re.search(rf'^clew_receiver_spans_accepted_total{{protocol="{label}"}} (\d+)$', text, re.MULTILINE)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize(
    "protocol, role, label, tenant",
    [
        ("otlp-grpc", "otlp_grpc", "otlp-grpc", None),
        ("otlp-http", "otlp_http", "otlp-http-protobuf", "gen-tenant"),
    ],
)
def test_gen_report_matches_what_the_server_accepted(clew, protocol, role, label, tenant):
    args = ["--protocol", protocol, "--endpoint", clew.url(role), "--spans", "2000", "--batch", "300"]
    if tenant:
        args += ["--tenant", tenant]
    out = run_gen(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert report_value(out.stdout, "spans sent") == 2000
    acknowledged = report_value(out.stdout, "spans acknowledged")
    assert acknowledged == 2000, out.stdout
    assert report_value(out.stdout, "requests") == 7  # 6 x 300 + 200
    # Acknowledged means durable, so the counter is final by the time gen has printed.
    assert accepted_counter(clew, label) == acknowledged

    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    services = clew.get("/api/services", headers=headers).json()["data"]
    assert sorted(services) == SERVICES
    if tenant:
        # Another tenant's spans stay out of the default tenant.
        assert not clew.get("/api/services").json()["data"]
    traces = clew.get("/api/traces", params={"service": "frontend", "limit": 5}, headers=headers).json()["data"]
    assert traces, "the generated root spans are searchable"
    for t in traces:
        roots = [s for s in t["spans"] if not s["references"]]
        assert len(roots) <= 1


def server_counters(clew):
    return requests.get(clew.url("admin") + "/metrics", timeout=10).text


def counter(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0
    for m in re.finditer(rf"^{re.escape(name)}{{([^}}]*)}} ([0-9.e+]+)$", text, re.MULTILINE):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            total += int(float(m.group(2)))
    return total


@pytest.mark.parametrize(
    "protocol, role, label",
    [
        ("jaeger-grpc", "jaeger_grpc", "jaeger-grpc"),
        ("jaeger-thrift-http", "jaeger_http", "jaeger-thrift-http"),
        ("zipkin-json", "zipkin", "zipkin-json"),
        ("zipkin-proto", "zipkin", "zipkin-proto"),
    ],
)
def test_gen_over_jaeger_and_zipkin_matches_what_the_server_accepted(clew, protocol, role, label):
    out = run_gen(
        "--protocol", protocol, "--endpoint", clew.url(role), "--spans", "2000", "--batch", "300",
        "--admin", clew.url("admin"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert report_value(out.stdout, "spans sent") == 2000
    assert report_value(out.stdout, "spans acknowledged") == 2000, out.stdout
    assert report_value(out.stdout, "spans refused") == 0
    # The report's own reading of /metrics and ours agree with the acknowledgements.
    assert report_value(out.stdout, "server spans accepted") == 2000
    assert accepted_counter(clew, label) == 2000
    if protocol.startswith("jaeger"):
        # One service per request, as a Jaeger client sends: 300-span requests, then the rest.
        assert report_value(out.stdout, "requests") == 7
    services = clew.get("/api/services").json()["data"]
    assert set(services) <= set(SERVICES) and len(services) >= 2, services
    traces = clew.get("/api/traces", params={"service": "frontend", "limit": 5}).json()["data"]
    assert traces, "the generated root spans are searchable"


@pytest.mark.parametrize(
    "protocol, role",
    [("jaeger-udp-compact", "jaeger_udp_compact"), ("jaeger-udp-binary", "jaeger_udp_binary")],
)
def test_gen_over_udp_reports_what_arrived(clew, protocol, role):
    # A modest rate in 100-span batches: well within what the receiver's buffers absorb.
    out = run_gen(
        "--protocol", protocol, "--endpoint", clew.addrs[role], "--spans", "2000", "--batch", "100",
        "--rate", "4000", "--admin", clew.url("admin"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert report_value(out.stdout, "spans sent") == 2000
    assert report_value(out.stdout, "spans sent in packets") == 2000
    packets = report_value(out.stdout, "udp packets sent")
    assert packets >= 20  # at least one packet per 100-span batch
    # Every packet arrived and every span was accepted, per the report and per /metrics
    # (polled: the report waits for the server to settle, but check independently).
    assert report_value(out.stdout, "server udp spans accepted") == 2000, out.stdout
    assert report_value(out.stdout, "udp spans lost before decoding") == 0
    wait_until(
        lambda: counter(server_counters(clew), "clew_udp_spans_total", protocol=protocol, outcome="accepted") == 2000,
        what="2000 UDP spans accepted",
    )
    text = server_counters(clew)
    assert counter(text, "clew_udp_packets_total", protocol=protocol, outcome="received") == packets
    assert counter(text, "clew_udp_packets_total", protocol=protocol, outcome="decoded") == packets
    assert counter(text, "clew_receiver_spans_accepted_total", protocol=protocol) == 2000
    assert counter(text, "clew_udp_spans_total", protocol=protocol, outcome="dropped") == 0


def test_gen_over_udp_cuts_large_batches_into_packets_under_the_limit(clew):
    # 2000 spans of 40 attributes in one batch: far over one packet's 65,000 bytes.
    out = run_gen(
        "--protocol", "jaeger-udp-compact", "--endpoint", clew.addrs["jaeger_udp_compact"],
        "--spans", "2000", "--batch", "2000", "--services", "1", "--attributes", "40",
        "--admin", clew.url("admin"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    packets = report_value(out.stdout, "udp packets sent")
    assert packets > 2, out.stdout
    assert report_value(out.stdout, "server udp packets malformed") == 0
    wait_until(
        lambda: counter(server_counters(clew), "clew_udp_spans_total", protocol="jaeger-udp-compact", outcome="accepted") == 2000,
        what="2000 UDP spans accepted",
    )


def test_gen_over_udp_refuses_a_tenant(clew):
    out = run_gen("--protocol", "jaeger-udp-compact", "--endpoint", clew.addrs["jaeger_udp_compact"],
                  "--spans", "10", "--tenant", "t1")
    assert out.returncode != 0
    assert "tenant" in out.stderr


def test_gen_fails_when_nothing_is_acknowledged():
    # A port with no listener: bound then closed, so nothing answers there.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for protocol in ("otlp-grpc", "otlp-http", "jaeger-grpc", "jaeger-thrift-http", "zipkin-json", "zipkin-proto"):
        out = run_gen("--protocol", protocol, "--endpoint", f"http://127.0.0.1:{port}", "--spans", "10")
        assert out.returncode != 0, out.stdout + out.stderr


def test_gen_duration_and_rate_bound_the_run(clew):
    out = run_gen("--endpoint", clew.url("otlp_grpc"), "--duration", "1s", "--rate", "2000", "--batch", "100")
    assert out.returncode == 0, out.stdout + out.stderr
    sent = report_value(out.stdout, "spans sent")
    # Paced at 2000/s for 1 s: never more than the schedule allows.
    assert 0 < sent <= 2000
    wait_until(lambda: accepted_counter(clew, "otlp-grpc") == report_value(out.stdout, "spans acknowledged"))
