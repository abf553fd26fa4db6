"""Remote sampling: strategies from a Jaeger strategies file, served in the JSON each client
expects, and obeyed by the real jaeger-client's RemoteControlledSampler."""

import json

import pytest
import requests

from legacy import run_client

STRATEGIES = {
    "default_strategy": {"type": "probabilistic", "param": 0.5},
    "service_strategies": [
        {
            "service": "svc",
            "type": "probabilistic",
            "param": 0.0,
            "operation_strategies": [
                {"operation": "keep", "type": "probabilistic", "param": 1.0},
                {"operation": "drop", "type": "probabilistic", "param": 0.0},
            ],
        },
        {"service": "limited", "type": "ratelimiting", "param": 5},
        {"service": "half", "type": "probabilistic", "param": 0.25},
    ],
}


@pytest.fixture
def sampled_clew(clew_factory, tmp_path):
    path = tmp_path / "strategies.json"
    path.write_text(json.dumps(STRATEGIES))
    return clew_factory(extra_args=["--set", f"sampling.strategies_file={path}"]).start()


def test_endpoints_serve_strategies(sampled_clew):
    c = sampled_clew
    agent = requests.get(c.url("sampling_http") + "/sampling", params={"service": "half"}).json()
    assert agent["strategyType"] == "PROBABILISTIC"
    assert agent["probabilisticSampling"]["samplingRate"] == 0.25
    collector = requests.get(c.url("jaeger_http") + "/api/sampling", params={"service": "limited"}).json()
    assert collector["strategyType"] == "RATE_LIMITING"
    assert collector["rateLimitingSampling"]["maxTracesPerSecond"] == 5
    per_op = requests.get(c.url("sampling_http") + "/sampling", params={"service": "svc"}).json()
    ops = {o["operation"]: o["probabilisticSampling"]["samplingRate"] for o in per_op["operationSampling"]["perOperationStrategies"]}
    assert ops == {"keep": 1.0, "drop": 0.0}
    default = requests.get(c.url("sampling_http") + "/sampling", params={"service": "unknown"}).json()
    assert default["probabilisticSampling"]["samplingRate"] == 0.5
    missing = requests.get(c.url("sampling_http") + "/sampling")
    assert missing.status_code == 400 and "service" in missing.text


def test_jaeger_client_obeys_per_operation_strategy(sampled_clew):
    port = sampled_clew.addrs["sampling_http"].rsplit(":", 1)[1]
    out = run_client("jaeger_client_app.py", "sampling", "svc", port, legacy=True)
    assert out["changed"], out
    assert out["sampler"] == "AdaptiveSampler"
    assert out["sampled"] == {"keep": 100, "drop": 0, "other": 0}


def test_jaeger_client_obeys_probabilistic_and_rate_limiting(sampled_clew):
    port = sampled_clew.addrs["sampling_http"].rsplit(":", 1)[1]
    half = run_client("jaeger_client_app.py", "sampling", "half", port, legacy=True)
    assert half["sampler"] == "ProbabilisticSampler" and half["rate"] == 0.25
    limited = run_client("jaeger_client_app.py", "sampling", "limited", port, legacy=True)
    assert limited["sampler"] == "RateLimitingSampler" and limited["traces_per_second"] == 5
    metrics = requests.get(sampled_clew.url("admin") + "/metrics").text
    assert 'clew_sampling_strategy_requests_total{endpoint="sampling",outcome="ok"}' in metrics


def test_a_bad_strategies_file_stops_startup_with_a_readable_error(clew_factory, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"default_strategy": {"type": "probabilistic", "param": 7}}))
    c = clew_factory(extra_args=["--set", f"sampling.strategies_file={path}"])
    with pytest.raises(AssertionError) as e:
        c.start()
    assert "param" in str(e.value) or "probab" in str(e.value)
