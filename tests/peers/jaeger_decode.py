#!/usr/bin/python3
"""jaeger_decode.py — decode a Jaeger agent datagram with the real thing.

The datagram is read by the Python code that thrift-compiler generated from
the official Jaeger IDL (tests/peers/setup.sh puts it in $TRACESHIM_PEERS/gen-py)
and Apache Thrift's own TCompactProtocol, so what passes here is what a Jaeger
agent accepts, not what our own reading of the spec says.

    from jaeger_decode import decode_emit_batch
    batch = decode_emit_batch(datagram)      # plain dicts, see below

    /usr/bin/python3 tests/peers/jaeger_decode.py FILE...   # prints JSON

decode_emit_batch returns
    {"process": {"serviceName": str, "tags": {key: value}},
     "spans": [{"traceIdLow", "traceIdHigh", "spanId", "parentSpanId": int (signed i64),
                "operationName": str,
                "references": [{"refType", "traceIdLow", "traceIdHigh", "spanId"}],
                "flags", "startTime", "duration": int,
                "tags": {key: value}}]}
A tag's value is the field its vType names (str, bool, int, float; bytes for
BINARY). It raises DecodeError for anything a receiver would not take whole:
a bad header, a method other than emitBatch, a type other than ONEWAY,
truncated or malformed bytes, a missing required field, a tag whose value
field does not match its type, or bytes left over after the message.
"""

import json
import os
import sys

__all__ = ["DecodeError", "PeersMissing", "decode_emit_batch", "span_trace_id_hex",
           "id_hex", "load_generated"]


class DecodeError(ValueError):
    """The datagram is not one well-formed Agent.emitBatch message."""


class PeersMissing(RuntimeError):
    """The generated thrift code is not there (tests/peers/setup.sh not run)."""


_gen = None


def _zipkincore_stand_in():
    # agent.thrift includes zipkincore.thrift for emitZipkinBatch, so the
    # generated agent module imports zipkincore.ttypes when it loads. When
    # setup.sh did not generate it, a stand-in lets agent load: emitBatch
    # never touches it, and a datagram for emitZipkinBatch is rejected by
    # name before any argument is read.
    try:
        import zipkincore.ttypes  # noqa: F401
        return
    except ImportError:
        pass
    import types

    class Span:
        thrift_spec = ()

        def read(self, iprot):
            raise DecodeError("emitZipkinBatch is not decoded here")

    pkg = types.ModuleType("zipkincore")
    mod = types.ModuleType("zipkincore.ttypes")
    mod.Span = Span
    pkg.ttypes = mod
    sys.modules["zipkincore"] = pkg
    sys.modules["zipkincore.ttypes"] = mod


def load_generated():
    """Import thrift and the generated agent/jaeger modules (once).

    Returns (TTransport, TCompactProtocol, TMessageType, agent.Agent, jaeger.ttypes).
    """
    global _gen
    if _gen is not None:
        return _gen
    peers = os.environ.get("TRACESHIM_PEERS")
    hint = "run: bash tests/peers/setup.sh DIR and set TRACESHIM_PEERS=DIR"
    if not peers:
        raise PeersMissing("TRACESHIM_PEERS is not set; " + hint)
    gen = os.path.join(peers, "gen-py")
    if not os.path.isfile(os.path.join(gen, "agent", "Agent.py")):
        raise PeersMissing("no generated Jaeger code in %s; %s" % (gen, hint))
    # The generated packages are named plainly "agent" and "jaeger": put them
    # first so nothing else of that name is picked up.
    if gen not in sys.path:
        sys.path.insert(0, gen)
    try:
        from thrift.transport import TTransport
        from thrift.protocol import TCompactProtocol
        from thrift.Thrift import TMessageType
    except ImportError as e:
        raise PeersMissing("Apache Thrift for Python is missing (Debian: python3-thrift): %s"
                           % e) from e
    _zipkincore_stand_in()
    from agent import Agent
    from jaeger import ttypes
    _gen = (TTransport, TCompactProtocol, TMessageType, Agent, ttypes)
    return _gen


def id_hex(v):
    """A signed i64 id as the 16 lower-case hex digits of its bits."""
    return "%016x" % (v & 0xFFFFFFFFFFFFFFFF)


def span_trace_id_hex(span):
    """A decoded span's 128-bit trace id as 32 lower-case hex digits."""
    return id_hex(span["traceIdHigh"]) + id_hex(span["traceIdLow"])


def _validate(obj, what):
    # The generated readers skip a field whose wire type does not match the
    # IDL and leave it None; validate() turns a missing required field into
    # an error instead of a silent None.
    try:
        obj.validate()
    except Exception as e:
        raise DecodeError("%s: %s" % (what, e)) from e


def _tags(tags, ttypes, what):
    out = {}
    for i, t in enumerate(tags or []):
        _validate(t, "%s tag %d" % (what, i))
        field = {
            ttypes.TagType.STRING: "vStr",
            ttypes.TagType.DOUBLE: "vDouble",
            ttypes.TagType.BOOL: "vBool",
            ttypes.TagType.LONG: "vLong",
            ttypes.TagType.BINARY: "vBinary",
        }.get(t.vType)
        if field is None:
            raise DecodeError("%s tag %r: unknown vType %r" % (what, t.key, t.vType))
        value = getattr(t, field)
        if value is None:
            raise DecodeError("%s tag %r: vType %d without its %s" % (what, t.key, t.vType, field))
        out[t.key] = value
    return out


def _span(s, ttypes, i):
    what = "span %d" % i
    _validate(s, what)
    refs = []
    for j, r in enumerate(s.references or []):
        _validate(r, "%s reference %d" % (what, j))
        refs.append({"refType": r.refType, "traceIdLow": r.traceIdLow,
                     "traceIdHigh": r.traceIdHigh, "spanId": r.spanId})
    return {
        "traceIdLow": s.traceIdLow,
        "traceIdHigh": s.traceIdHigh,
        "spanId": s.spanId,
        "parentSpanId": s.parentSpanId,
        "operationName": s.operationName,
        "references": refs,
        "flags": s.flags,
        "startTime": s.startTime,
        "duration": s.duration,
        "tags": _tags(s.tags, ttypes, what),
    }


def decode_emit_batch(datagram):
    """Decode one UDP datagram holding an Agent.emitBatch oneway message."""
    TTransport, TCompactProtocol, TMessageType, Agent, ttypes = load_generated()
    data = bytes(datagram)
    trans = TTransport.TMemoryBuffer(data)
    proto = TCompactProtocol.TCompactProtocol(trans)
    try:
        name, mtype, _seqid = proto.readMessageBegin()
        if name != "emitBatch":
            raise DecodeError("method %r, expected 'emitBatch'" % name)
        if mtype != TMessageType.ONEWAY:
            raise DecodeError("message type %d, expected ONEWAY (%d)" % (mtype, TMessageType.ONEWAY))
        args = Agent.emitBatch_args()
        args.read(proto)
        proto.readMessageEnd()
    except DecodeError:
        raise
    except Exception as e:  # EOFError, struct.error, TProtocolException, UnicodeDecodeError…
        raise DecodeError("malformed datagram (%d bytes): %s: %s"
                          % (len(data), type(e).__name__, e)) from e
    left = trans.read(len(data) + 1)
    if left:
        raise DecodeError("%d bytes after the message" % len(left))
    batch = args.batch
    if batch is None:
        raise DecodeError("emitBatch without its batch argument")
    _validate(batch, "batch")
    _validate(batch.process, "process")
    return {
        "process": {
            "serviceName": batch.process.serviceName,
            "tags": _tags(batch.process.tags, ttypes, "process"),
        },
        "spans": [_span(s, ttypes, i) for i, s in enumerate(batch.spans)],
    }


def _json_default(v):
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    raise TypeError("not JSON: %r" % (v,))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: jaeger_decode.py FILE...  (TRACESHIM_PEERS=DIR made by tests/peers/setup.sh)",
              file=sys.stderr)
        return 2
    status = 0
    for path in argv[1:]:
        try:
            with open(path, "rb") as f:
                decoded = decode_emit_batch(f.read())
        except (OSError, DecodeError, PeersMissing) as e:
            print("jaeger_decode: %s: %s" % (path, e), file=sys.stderr)
            status = 1
            continue
        print(json.dumps({"file": path, "batch": decoded}, default=_json_default, indent=1,
                         sort_keys=True, ensure_ascii=False))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
