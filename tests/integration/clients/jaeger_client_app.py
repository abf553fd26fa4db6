"""The Jaeger Python client (jaeger-client 4.8, OpenTracing API).

usage:
  jaeger_client_app.py report SERVICE UDP_PORT
      sends a trace over the agent UDP port (compact Thrift emitBatch); prints what was sent.
  jaeger_client_app.py sampling SERVICE SAMPLING_PORT
      lets the RemoteControlledSampler fetch its strategy from http://127.0.0.1:PORT/sampling,
      then prints the sampler it adopted and how many of 200 new traces it sampled.
"""

import json
import sys
import time

import opentracing
from jaeger_client import Config


def wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def report(service, udp_port):
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": udp_port},
            "reporter_flush_interval": 0.05,
            "reporter_queue_size": 10000,
            "logging": False,
        },
        service_name=service,
        validate=True,
    )
    tracer = config.new_tracer()
    sent = []
    with tracer.start_span("GET /cart", tags={"http.method": "GET", "http.status_code": 200, "cache.hit": False, "ratio": 0.5, "span.kind": "server"}) as root:
        root.log_kv({"event": "cart loaded", "items": 3})
        with tracer.start_span("SELECT cart", child_of=root, tags={"db.type": "sql", "span.kind": "client"}) as child:
            child.set_tag("error", True)
            child.log_kv({"event": "error", "message": "deadlock"})
            sent.append(child)
        follower = tracer.start_span("audit", references=[opentracing.follows_from(root.context)])
        follower.finish()
        sent.append(follower)
        sent.append(root)
    # close() returns a future that may never resolve on Python 3.11 (TESTING.md): wait for
    # the reporter's queue to drain instead, with a deadline, then give its flush a moment.
    drained = wait_until(lambda: tracer.reporter.queue.qsize() == 0)
    time.sleep(0.3)
    out = []
    for s in sent:
        out.append(
            {
                "trace_id": format(s.trace_id, "032x"),
                "span_id": format(s.span_id, "016x"),
                "parent_id": format(s.parent_id, "016x") if s.parent_id else None,
                "name": s.operation_name,
            }
        )
    json.dump({"drained": drained, "spans": out}, sys.stdout)
    sys.stdout.flush()


def sampling(service, sampling_port):
    config = Config(
        config={
            # no "sampler" section: the tracer uses the RemoteControlledSampler
            "local_agent": {"reporting_host": "127.0.0.1", "sampling_port": sampling_port, "reporting_port": 1},
            "sampling_refresh_interval": 1,
            "logging": False,
        },
        service_name=service,
        validate=True,
    )
    tracer = config.new_tracer()
    initial = type(tracer.sampler.sampler).__name__ + str(getattr(tracer.sampler.sampler, "rate", ""))
    current = lambda: type(tracer.sampler.sampler).__name__ + str(getattr(tracer.sampler.sampler, "rate", ""))
    changed = wait_until(lambda: current() != initial)
    sampled = {}
    for op in ("keep", "drop", "other"):
        sampled[op] = sum(1 for _ in range(100) if tracer.start_span(op).is_sampled())
    inner = tracer.sampler.sampler
    json.dump(
        {
            "changed": changed,
            "initial": initial,
            "sampler": type(inner).__name__,
            "rate": getattr(inner, "rate", None),
            "traces_per_second": getattr(inner, "traces_per_second", None),
            "sampled": sampled,
        },
        sys.stdout,
    )
    sys.stdout.flush()


if __name__ == "__main__":
    mode, service, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"report": report, "sampling": sampling}[mode](service, port)
    # jaeger-client's tornado thread would keep the process alive: leave without waiting.
    import os

    os._exit(0)
