"""Writes the small seed corpus of every fuzz target into regressions/<target>/seed-*.

Run with the integration tests' venv (it has opentelemetry-proto):
    ../target/py/bin/python make_seeds.py
Jaeger and Zipkin protobuf are encoded by hand below (a few lines of the wire format) from
our own .proto field numbers; the Jaeger Thrift seeds are the receiver's test fixtures,
which Jaeger's own Python client wrote.
"""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "regressions")
THRIFT = os.path.join(HERE, "..", "crates", "collector", "src", "receivers", "jaeger", "testdata")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- protobuf wire format ----
def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, n):
    return varint(field << 3) + varint(n)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def f_fixed64(field, n):
    return varint(field << 3 | 1) + struct.pack("<Q", n)


def f_double(field, d):
    return varint(field << 3 | 1) + struct.pack("<d", d)


# ---- OTLP ----
def otlp_seeds():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from google.protobuf import json_format

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "checkout"
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "io.clew", "1.0"
    root = ss.spans.add()
    root.trace_id = bytes(range(1, 17))
    root.span_id = bytes(range(1, 9))
    root.name = "GET /cart"
    root.kind = 2
    root.start_time_unix_nano = 1_700_000_000_000_000_000
    root.end_time_unix_nano = 1_700_000_000_500_000_000
    a = root.attributes.add()
    a.key, a.value.int_value = "http.response.status_code", 200
    a = root.attributes.add()
    a.key = "tags"
    a.value.array_value.values.add().string_value = "a"
    a.value.array_value.values.add().double_value = 1.5
    a = root.attributes.add()
    a.key = "nested"
    n = a.value.kvlist_value.values.add()
    n.key, n.value.bytes_value = "raw", b"\x00\xff"
    e = root.events.add()
    e.time_unix_nano, e.name = 1_700_000_000_100_000_000, "retry"
    child = ss.spans.add()
    child.CopyFrom(root)
    child.span_id = bytes(range(2, 10))
    child.parent_span_id = root.span_id
    child.name = "SELECT"
    child.status.code, child.status.message = 2, "boom"
    l = child.links.add()
    l.trace_id, l.span_id = bytes(16 * [7]), bytes(8 * [7])
    bad = ss.spans.add()
    bad.trace_id, bad.span_id, bad.name = bytes(16), bytes(8), "zero ids"
    put("otlp_protobuf", "two-spans-and-a-rejected-one", req.SerializeToString())
    put("otlp_protobuf", "empty", b"")
    put("otlp_json", "two-spans-and-a-rejected-one", json_format.MessageToJson(req))
    put("otlp_json", "empty-object", "{}")
    put("otlp_json", "int64-as-number", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708",
        "name": "n", "kind": 1, "startTimeUnixNano": 1700000000000000000,
        "endTimeUnixNano": "1700000000000000001",
        "attributes": [{"key": "k", "value": {"intValue": 5}}]}]}]}]}))


# ---- Jaeger proto (jaeger.api_v2) ----
def j_kv(key, vtype, **v):
    out = f_bytes(1, key) + (f_varint(2, vtype) if vtype else b"")
    if "s" in v: out += f_bytes(3, v["s"])
    if "b" in v: out += f_varint(4, int(v["b"]))
    if "i" in v: out += f_varint(5, v["i"])
    if "d" in v: out += f_double(6, v["d"])
    if "x" in v: out += f_bytes(7, v["x"])
    return out


def timestamp(secs, nanos):
    return f_varint(1, secs) + f_varint(2, nanos)


def jaeger_proto_seeds():
    process = f_bytes(1, "frontend") + f_bytes(2, j_kv("hostname", 0, s="h1"))
    span1 = (f_bytes(1, bytes(range(1, 17))) + f_bytes(2, bytes(range(1, 9))) + f_bytes(3, "GET /")
             + f_varint(5, 1) + f_bytes(6, timestamp(1_700_000_000, 5)) + f_bytes(7, timestamp(0, 1500))
             + f_bytes(8, j_kv("span.kind", 0, s="server")) + f_bytes(8, j_kv("error", 1, b=True))
             + f_bytes(8, j_kv("n", 2, i=42)) + f_bytes(8, j_kv("r", 3, d=0.5)) + f_bytes(8, j_kv("x", 4, x=b"\x01"))
             + f_bytes(9, f_bytes(1, timestamp(1_700_000_000, 9)) + f_bytes(2, j_kv("event", 0, s="cache miss"))))
    ref = f_bytes(1, bytes(range(1, 17))) + f_bytes(2, bytes(range(1, 9))) + f_varint(3, 0)
    span2 = (f_bytes(1, bytes(range(9, 17))) + f_bytes(2, bytes(range(2, 10))) + f_bytes(3, "SELECT")
             + f_bytes(4, ref) + f_bytes(10, f_bytes(1, "db")))
    bad = f_bytes(1, bytes(range(1, 17))) + f_bytes(2, b"\x01\x02\x03")
    batch = f_bytes(1, span1) + f_bytes(1, span2) + f_bytes(1, bad) + f_bytes(2, process)
    put("jaeger_proto", "post-spans", f_bytes(1, batch))
    put("jaeger_proto", "empty", b"")


# ---- Zipkin proto3 ----
def zipkin_proto_seeds():
    local = f_bytes(1, "frontend") + f_bytes(2, bytes([10, 0, 0, 1])) + f_varint(4, 8080)
    remote = f_bytes(1, "backend") + f_bytes(3, bytes(15) + b"\x01") + f_varint(4, 9000)
    tag = f_bytes(1, "http.method") + f_bytes(2, "GET")
    span = (f_bytes(1, bytes(range(1, 17))) + f_bytes(2, bytes(range(3, 11))) + f_bytes(3, bytes(range(1, 9)))
            + f_varint(4, 1) + f_bytes(5, "get") + f_fixed64(6, 1_700_000_000_000_000) + f_varint(7, 1500)
            + f_bytes(8, local) + f_bytes(9, remote)
            + f_bytes(10, f_fixed64(1, 1_700_000_000_000_100) + f_bytes(2, "ws"))
            + f_bytes(11, tag) + f_varint(13, 1))
    put("zipkin_proto", "list-of-spans", f_bytes(1, span) + f_bytes(1, f_bytes(1, b"\x00" * 8) + f_bytes(3, b"\x01")))
    put("zipkin_proto", "empty", b"")


def zipkin_json_seeds():
    spans = [{
        "traceId": "0102030405060708", "id": "0000000000000002", "parentId": "0000000000000001",
        "kind": "CLIENT", "name": "get /api", "timestamp": 1700000000000000, "duration": 1500,
        "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080},
        "remoteEndpoint": {"serviceName": "backend", "ipv6": "::1", "port": 9000},
        "annotations": [{"timestamp": 1700000000000100, "value": "ws"},
                        {"timestamp": 1700000000000200, "value": "{\"exception\": {\"type\": \"E\"}}"},
                        {"timestamp": 1700000000000300, "value": "retry|{\"n\":1}|0"}],
        "tags": {"http.method": "GET", "error": "", "otel.scope.name": "lib", "n": 5, "b": True},
        "debug": True,
    }, {
        "traceId": "0102030405060708", "id": "0000000000000002", "shared": True, "kind": "SERVER",
        "name": "get /api", "timestamp": 1700000000000050, "duration": 1000.4,
        "localEndpoint": {"serviceName": "backend"},
        "tags": {"otel.status_code": "ERROR", "otel.status_description": "bad", "w3c.tracestate": "a=b"},
    }, {"traceId": "zz", "id": "1"}]
    put("zipkin_json", "client-server-and-bad-id", json.dumps(spans))
    put("zipkin_json", "empty-list", "[]")


# ---- WAL ----
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def wal_seeds():
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
    data = TracesData()
    rs = data.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "svc"
    s = rs.scope_spans.add().spans.add()
    s.trace_id, s.span_id, s.name = bytes(range(1, 17)), bytes(range(1, 9)), "op"
    s.start_time_unix_nano, s.end_time_unix_nano = 1000, 2000
    payload = b"\x01" + data.SerializeToString()
    record = struct.pack("<II", len(payload), crc32c(payload)) + payload
    # Mode byte odd: the rest is the segment as is.
    put("wal_segment", "raw-two-records-torn-tail", b"\x01" + b"CLEWWAL1" + record + record + record[:5])
    put("wal_segment", "raw-bad-checksum", b"\x01" + b"CLEWWAL1" + record[:-1] + b"\x00")
    # Mode byte even: payloads framed by a length byte, checksums computed by the target.
    assert len(payload) < 256
    put("wal_segment", "framed-record-and-unknown-format", b"\x00" + bytes([len(payload)]) + payload + b"\x03\x07\x01\x02")


def thrift_seeds():
    for name, target in [("batch_binary.bin", "jaeger_thrift_binary"),
                         ("emit_batch_binary.bin", "jaeger_thrift_binary"),
                         ("emit_batch_compact.bin", "jaeger_thrift_compact")]:
        with open(os.path.join(THRIFT, name), "rb") as f:
            put(target, name.removesuffix(".bin"), f.read())


def params_seeds():
    for i, s in enumerate(["1h2m3.5s", "-9223372036854775808ns", "2023-11-14T23:13:20.123456789+01:00",
                           "AQIDBAUGBwgJCgsMDQ4PEA==", "0102030405060708090a0b0c0d0e0f10", "1700000000000000",
                           "service=a&tag=http.method:GET&tags={\"k\":\"v\"}&minDuration=1ms&maxDuration=2s&limit=5&traceID=abc",
                           "query.service_name=a&query.start_time_min=2023-11-14T22:13:20Z&query.start_time_max=2023-11-15T22:13:20Z&query.attributes={\"a\":\"b\"}&query.duration_min=1us",
                           "serviceName=a&annotationQuery=http.method=GET and error&endTs=1700000000000&lookback=60000&minDuration=5"]):
        put("server_params", f"{i}", s)


if __name__ == "__main__":
    otlp_seeds()
    jaeger_proto_seeds()
    zipkin_proto_seeds()
    zipkin_json_seeds()
    wal_seeds()
    thrift_seeds()
    params_seeds()
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))))
