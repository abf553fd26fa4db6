"""Zipkin's own Python client (py-zipkin) sends a two-service trace over HTTP v2 JSON: a SERVER
root with annotations and tags, a CLIENT child with a remoteEndpoint, and the callee's SERVER
half continuing the client's span id (a shared span, as Zipkin's B3 propagation does).

usage: py_zipkin_client.py URL  (http://host:port/api/v2/spans). Prints what was sent as JSON.
"""

import json
import sys

import requests
from py_zipkin import Kind
from py_zipkin.encoding import Encoding
from py_zipkin.storage import get_default_tracer
from py_zipkin.transport import BaseTransportHandler
from py_zipkin.zipkin import ZipkinAttrs, zipkin_span

URL = sys.argv[1]
STATUSES = []


class HttpTransport(BaseTransportHandler):
    def get_max_payload_bytes(self):
        return None

    def send(self, payload):
        r = requests.post(URL, data=payload, headers={"Content-Type": "application/json"}, timeout=10)
        STATUSES.append(r.status_code)


def main():
    transport = HttpTransport()
    with zipkin_span(
        service_name="zk-web",
        span_name="get /home",
        transport_handler=transport,
        sample_rate=100.0,
        encoding=Encoding.V2_JSON,
        kind=Kind.SERVER,
        use_128bit_trace_id=True,
    ) as root:
        root.update_binary_annotations({"http.path": "/home", "error": "boom"})
        root.add_annotation("cache.miss")
        with zipkin_span(service_name="zk-web", span_name="call api", kind=Kind.CLIENT) as client:
            client.add_sa_binary_annotation(port=8080, service_name="zk-api", host="10.1.2.3")
            attrs = client.zipkin_attrs
            # The callee continues the caller's span id: py-zipkin marks its half shared.
            with zipkin_span(
                service_name="zk-api",
                span_name="get /api",
                transport_handler=transport,
                encoding=Encoding.V2_JSON,
                kind=Kind.SERVER,
                zipkin_attrs=ZipkinAttrs(
                    trace_id=attrs.trace_id,
                    span_id=attrs.span_id,
                    parent_span_id=attrs.parent_span_id,
                    flags="0",
                    is_sampled=True,
                ),
            ) as server:
                server.update_binary_annotations({"db.rows": "7"})
        trace_id = root.zipkin_attrs.trace_id
        root_id = root.zipkin_attrs.span_id
        client_id = attrs.span_id
    get_default_tracer().clear() if hasattr(get_default_tracer(), "clear") else None
    json.dump(
        {"trace_id": trace_id, "root_id": root_id, "client_id": client_id, "statuses": STATUSES},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
