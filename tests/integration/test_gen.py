"""`clew gen` against the real server over both OTLP protocols: its report must match what
the server counted, and the generated services must be queryable."""

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


def test_gen_fails_when_nothing_is_acknowledged():
    # A port with no listener: bound then closed, so nothing answers there.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for protocol in ("otlp-grpc", "otlp-http"):
        out = run_gen("--protocol", protocol, "--endpoint", f"http://127.0.0.1:{port}", "--spans", "10")
        assert out.returncode != 0, out.stdout + out.stderr


def test_gen_duration_and_rate_bound_the_run(clew):
    out = run_gen("--endpoint", clew.url("otlp_grpc"), "--duration", "1s", "--rate", "2000", "--batch", "100")
    assert out.returncode == 0, out.stdout + out.stderr
    sent = report_value(out.stdout, "spans sent")
    # Paced at 2000/s for 1 s: never more than the schedule allows.
    assert 0 < sent <= 2000
    wait_until(lambda: accepted_counter(clew, "otlp-grpc") == report_value(out.stdout, "spans acknowledged"))
