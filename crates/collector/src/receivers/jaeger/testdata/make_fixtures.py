# Writes the Thrift fixtures of the Jaeger receiver tests with the generated Thrift code of
# Jaeger's own Python client, so the Rust codec is checked against real clients' bytes.
# Run: python -m venv v && v/bin/pip install jaeger-client==4.8.0 six && v/bin/python make_fixtures.py .
# (jaeger-client writes binary tags with writeString, so on Python 3 they must be str.)
import sys
from thrift.protocol import TCompactProtocol, TBinaryProtocol
from thrift.transport import TTransport
from jaeger_client.thrift_gen.jaeger import ttypes as J
from jaeger_client.thrift_gen.agent import Agent

def tag_s(k, v): return J.Tag(key=k, vType=J.TagType.STRING, vStr=v)
batch = J.Batch(
    process=J.Process(serviceName="py-frontend", tags=[tag_s("hostname", "host-1"), tag_s("jaeger.version", "Python-4.8.0")]),
    spans=[
        J.Span(traceIdLow=0x1122334455667788, traceIdHigh=0, spanId=0x0a, parentSpanId=0, operationName="GET /", flags=1,
               startTime=1700000000000000, duration=1500,
               tags=[tag_s("span.kind", "server"), J.Tag(key="http.status_code", vType=J.TagType.LONG, vLong=200),
                     J.Tag(key="sampler.param", vType=J.TagType.BOOL, vBool=True),
                     J.Tag(key="ratio", vType=J.TagType.DOUBLE, vDouble=0.25),
                     J.Tag(key="blob", vType=J.TagType.BINARY, vBinary="ab")],
               logs=[J.Log(timestamp=1700000000000100, fields=[tag_s("event", "cache miss"), tag_s("key", "k1")])]),
        J.Span(traceIdLow=0x1122334455667788, traceIdHigh=0, spanId=0x0b, parentSpanId=0x0a, operationName="SELECT", flags=1,
               startTime=1700000000000200, duration=700,
               references=[J.SpanRef(refType=J.SpanRefType.FOLLOWS_FROM, traceIdLow=0x99, traceIdHigh=0, spanId=0x77)],
               tags=[tag_s("span.kind", "client"), J.Tag(key="error", vType=J.TagType.BOOL, vBool=True)]),
    ],
)

def emit(proto_cls, out):
    # What Agent.Client.send_emitBatch writes (its transport is UDP; here a buffer).
    from thrift.Thrift import TMessageType
    buf = TTransport.TMemoryBuffer()
    oprot = proto_cls(buf)
    oprot.writeMessageBegin('emitBatch', TMessageType.ONEWAY, 1)
    Agent.emitBatch_args(batch=batch).write(oprot)
    oprot.writeMessageEnd()
    open(out, "wb").write(buf.getvalue())

emit(TCompactProtocol.TCompactProtocol, sys.argv[1] + "/emit_batch_compact.bin")
emit(lambda t: TBinaryProtocol.TBinaryProtocol(t), sys.argv[1] + "/emit_batch_binary.bin")
buf = TTransport.TMemoryBuffer()
batch.write(TBinaryProtocol.TBinaryProtocol(buf))
open(sys.argv[1] + "/batch_binary.bin", "wb").write(buf.getvalue())
