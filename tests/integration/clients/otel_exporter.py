"""Sends the shared topology with one of OpenTelemetry Python's Jaeger or Zipkin exporters.

usage: otel_exporter.py KIND SERVICE TARGET
  KIND: jaeger-thrift-agent (TARGET host:port, UDP compact Thrift),
        jaeger-thrift-http (TARGET http://host:port/api/traces),
        jaeger-grpc (TARGET host:port), zipkin-json | zipkin-proto (TARGET http://host:port/api/v2/spans)
Prints the sent spans as JSON (topology.describe).
"""

import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import topology


def exporter(kind, target):
    if kind == "jaeger-thrift-agent":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        host, port = target.rsplit(":", 1)
        return JaegerExporter(agent_host_name=host, agent_port=int(port))
    if kind == "jaeger-thrift-http":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        return JaegerExporter(collector_endpoint=target)
    if kind == "jaeger-grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter

        return JaegerExporter(collector_endpoint=target, insecure=True)
    if kind == "zipkin-json":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter(endpoint=target)
    if kind == "zipkin-proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter

        return ZipkinExporter(endpoint=target)
    raise SystemExit(f"unknown exporter kind {kind}")


def main():
    kind, service, target = sys.argv[1:4]
    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "9.9"}))
    provider.add_span_processor(SimpleSpanProcessor(captured))
    # Simple (synchronous) export: each span is sent as it ends, so the script's exit
    # means everything was handed to the transport.
    provider.add_span_processor(SimpleSpanProcessor(exporter(kind, target)))
    tracer = provider.get_tracer("clew.clients", "0.2")
    topology.send(tracer, provider)
    provider.shutdown()
    topology.describe(captured.get_finished_spans())


if __name__ == "__main__":
    main()
