#!/usr/bin/python3
"""otlp_decode.py — read OTLP trace exports and Zipkin v2 lists the way
their receivers do, so tests compare exports field by field.

A protobuf body is decoded by the real thing: `protoc --decode` against the
official OpenTelemetry protos (tests/peers/setup.sh puts them in
$TRACESHIM_PEERS/protos). protoc rejects what a collector rejects (truncated
or malformed bytes, strings that are not UTF-8, wrong wire types); its
text-format output is parsed here.

    import otlp_decode as od
    od.decode_otlp_proto(body)       # protobuf body  -> the common shape
    od.from_otlp_json(json.loads(s)) # OTLP/JSON body or file line -> the same shape
    od.decode_otlp_proto_raw(body)   # protobuf body  -> nested dicts named as in the protos
    od.check_zipkin_v2(json.loads(s))  # AssertionError naming the field that breaks the spec

    /usr/bin/python3 tests/peers/otlp_decode.py FILE...   # prints the common shape as JSON

The common shape:
    {"resource_spans": [{
        "resource": {key: value},
        "scope_spans": [{
            "scope": {"name": str, "version": str},
            "spans": [{"trace_id": hex32, "span_id": hex16,
                       "parent_span_id": hex16 (only when the span has a parent),
                       "name": str, "kind": int, "status_code": int,
                       "status_message": str (only when not empty),
                       "flags": int (Span.flags: W3C trace flags, bits 8-9
                                whether the parent is remote; 0 when absent),
                       "start_time_unix_nano": int, "end_time_unix_nano": int,
                       "attributes": {key: value} (a repeated key: the last value),
                       "attribute_list": [[key, value], ...] (all, in order),
                       "other": {field: raw value} (only when there are fields
                                this shape does not name: events, links...)}]}]}]}
Values are str, int, bool, float, bytes, list (arrayValue) or dict
(kvlistValue); None for an empty AnyValue. Fields left at their default
read as the default (proto3 does not tell absent from default).
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys

__all__ = ["DecodeError", "PeersMissing", "decode_otlp_proto", "decode_otlp_proto_raw",
           "parse_text_format", "from_otlp_json", "check_zipkin_v2", "encode_export_response"]

REQUEST_TYPE = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
REQUEST_PROTO = "opentelemetry/proto/collector/trace/v1/trace_service.proto"
RESPONSE_TYPE = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse"
RESPONSE_PROTO = "export_response.proto"  # beside this file: see its head

SPAN_KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
              "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}

# The repeated fields of the messages a trace export holds (trace.proto,
# common.proto, resource.proto): text format gives no other way to tell a
# list of one from a single value.
REPEATED = {"resource_spans", "scope_spans", "instrumentation_library_spans", "spans",
            "attributes", "events", "links", "values"}
ID_FIELDS = {"trace_id", "span_id", "parent_span_id"}


class DecodeError(ValueError):
    """The body is not one well-formed ExportTraceServiceRequest."""


class PeersMissing(RuntimeError):
    """protoc or the OpenTelemetry protos are not there (tests/peers/setup.sh not run)."""


# --------------------------------------------------------------------------
# protoc and its text format


def protos_dir():
    """The directory holding opentelemetry/proto/..., or PeersMissing."""
    hint = "run: bash tests/peers/setup.sh DIR and set TRACESHIM_PEERS=DIR"
    peers = os.environ.get("TRACESHIM_PEERS")
    if not peers:
        raise PeersMissing("TRACESHIM_PEERS is not set; " + hint)
    d = os.path.join(peers, "protos")
    if not os.path.isfile(os.path.join(d, REQUEST_PROTO)):
        raise PeersMissing("no OpenTelemetry protos in %s; %s" % (d, hint))
    if not shutil.which("protoc"):
        raise PeersMissing("protoc is not on PATH (Debian: protobuf-compiler)")
    return d


def run_protoc(body):
    """protoc's text-format rendering of body as an ExportTraceServiceRequest."""
    p = subprocess.run(["protoc", "-I", protos_dir(), "--decode=" + REQUEST_TYPE, REQUEST_PROTO],
                       input=bytes(body), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if p.returncode != 0:
        raise DecodeError("protoc rejects the body (%d bytes): %s"
                          % (len(body), p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout


def encode_export_response(text):
    """An ExportTraceServiceResponse, given in protobuf text format (e.g.
    'partial_success { rejected_spans: 2 }'), encoded by protoc: the bytes
    a collector answers with."""
    if not shutil.which("protoc"):
        raise PeersMissing("protoc is not on PATH (Debian: protobuf-compiler)")
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.run(["protoc", "-I", here, "--encode=" + RESPONSE_TYPE, RESPONSE_PROTO],
                       input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if p.returncode != 0:
        raise DecodeError("protoc cannot encode %r: %s"
                          % (text, p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout


_TOKEN = re.compile(rb'\s*(?:("(?:[^"\\\n]|\\.)*")|([A-Za-z0-9_.+-]+)|([:{}]))')
_ESCAPES = {b"n": 10, b"r": 13, b"t": 9, b"a": 7, b"b": 8, b"f": 12, b"v": 11,
            b"\\": 92, b"'": 39, b'"': 34, b"?": 63}


def _unescape(lit):
    """The bytes a C-escaped text-format string literal (quotes included) stands for."""
    s, out, i = lit[1:-1], bytearray(), 0
    while i < len(s):
        c = s[i:i + 1]
        i += 1
        if c != b"\\":
            out += c
            continue
        e = s[i:i + 1]
        i += 1
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
        elif e.isdigit() and e < b"8":
            m = re.match(rb"[0-7]{1,3}", s[i - 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += len(m.group(0)) - 1
        elif e == b"x":
            m = re.match(rb"[0-9A-Fa-f]{1,2}", s[i:])
            if not m:
                raise DecodeError("bad \\x escape in %r" % lit)
            out.append(int(m.group(0), 16))
            i += len(m.group(0))
        else:
            raise DecodeError("unknown escape \\%s in %r" % (e.decode("latin-1"), lit))
    return bytes(out)


def _scalar(tok):
    """A text-format scalar that is not a string: a number, true/false or an enum name."""
    if re.fullmatch(r"-?\d+", tok):
        return int(tok)
    if tok in ("true", "false"):
        return tok == "true"
    try:
        return float(tok)
    except ValueError:
        return tok  # an enum value's name


def parse_text_format(text):
    """Parse protobuf text format (protoc --decode output) into nested dicts.

    Fields named in REPEATED become lists, others single values; strings stay
    bytes (the caller knows which are text). A field printed by number (one
    the protos do not define) keeps its number as name."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    pos, stack = 0, [{}]
    pending = None  # a field name waiting for ':' value or '{'
    while True:
        m = _TOKEN.match(data, pos)
        if not m:
            if data[pos:].strip():
                raise DecodeError("text format: cannot read %r" % data[pos:pos + 60])
            break
        pos = m.end()
        lit, word, punct = m.groups()
        if pending is None:
            if punct == b"}":
                if len(stack) == 1:
                    raise DecodeError("text format: unbalanced '}'")
                stack.pop()
                continue
            if not word:
                raise DecodeError("text format: expected a field name at %r"
                                  % data[m.start():m.start() + 60])
            pending = word.decode("ascii")
            continue
        if punct == b":":
            continue  # the value follows
        if punct == b"{":
            child = {}
            stack[-1].setdefault(pending, []).append(child)
            stack.append(child)
        elif lit is not None:
            value = _unescape(lit)
            # adjacent literals are one string
            while True:
                n = _TOKEN.match(data, pos)
                if not n or n.group(1) is None:
                    break
                value += _unescape(n.group(1))
                pos = n.end()
            stack[-1].setdefault(pending, []).append(value)
        elif word is not None:
            stack[-1].setdefault(pending, []).append(_scalar(word.decode("ascii")))
        else:
            raise DecodeError("text format: field %s without a value" % pending)
        pending = None
    if len(stack) != 1 or pending is not None:
        raise DecodeError("text format: message cut short")
    return _collapse(stack[0], "")


def _collapse(msg, where):
    out = {}
    for name, values in msg.items():
        here = where + "." + name if where else name
        values = [_collapse(v, here) if isinstance(v, dict) else v for v in values]
        if name in REPEATED or name.isdigit():  # unknown fields: _typed refuses them
            out[name] = values
        elif len(values) == 1:
            out[name] = values[0]
        else:
            raise DecodeError("%s: a single field given %d times" % (here, len(values)))
    return out


def _text(v, where):
    if not isinstance(v, bytes):
        raise DecodeError("%s: expected a string, got %r" % (where, v))
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError("%s: not UTF-8: %r" % (where, v)) from e


def _typed(msg, where):
    """Raw text-format dicts with ids as hex, strings as str, enums as ints."""
    out = {}
    for name, v in msg.items():
        here = where + "." + name
        if name.isdigit():
            raise DecodeError("%s: field %s is not in the protos (wrong field number or wire type?)"
                              % (where, name))
        if isinstance(v, list):
            out[name] = [_typed(x, here) if isinstance(x, dict) else x for x in v]
        elif isinstance(v, dict):
            out[name] = _typed(v, here)
        elif name in ID_FIELDS:
            out[name] = v.hex() if isinstance(v, bytes) else v
        elif name == "kind" and isinstance(v, str):
            out[name] = SPAN_KINDS[v]
        elif name == "code" and isinstance(v, str):
            out[name] = STATUS_CODES[v]
        elif name == "bytes_value":
            out[name] = v
        elif isinstance(v, bytes):
            out[name] = _text(v, here)
        else:
            out[name] = v
    return out


def decode_otlp_proto_raw(body):
    """An OTLP protobuf body as nested dicts named as in the protos."""
    return _typed(parse_text_format(run_protoc(body)), "request")


# --------------------------------------------------------------------------
# the common shape, from protobuf and from OTLP/JSON


def _snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _field(d, snake):
    """A field of a raw message, whichever of its two JSON names it has
    (the protobuf JSON mapping accepts lowerCamelCase and the proto name)."""
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)
    if camel in d:
        return d[camel]
    return d.get(snake)


def _any_value(v):
    """An AnyValue (protobuf-decoded or OTLP/JSON) as a plain Python value."""
    if not v:
        return None
    if not isinstance(v, dict) or len(v) != 1:
        raise DecodeError("AnyValue with %r" % (v,))
    (k, x), = v.items()
    k = _snake(k)
    if k == "string_value":
        return x
    if k == "int_value":
        return int(x)  # OTLP/JSON gives a decimal string
    if k == "bool_value":
        return bool(x)
    if k == "double_value":
        return float(x)
    if k == "bytes_value":
        return x
    if k == "array_value":
        return [_any_value(e) for e in _field(x or {}, "values") or []]
    if k == "kvlist_value":
        return dict(_kv_list(_field(x or {}, "values")))
    raise DecodeError("AnyValue with unknown member %r" % k)


def _kv_list(kvs):
    return [[kv.get("key", ""), _any_value(kv.get("value"))] for kv in kvs or []]


def _enum(v, names):
    return names[v] if isinstance(v, str) and v in names else int(v or 0)


_SPAN_NAMED = {"trace_id", "span_id", "parent_span_id", "name", "kind", "start_time_unix_nano",
               "end_time_unix_nano", "attributes", "status", "flags"}


def _common_span(s):
    status = _field(s, "status") or {}
    attrs = _kv_list(_field(s, "attributes"))
    out = {
        "trace_id": (_field(s, "trace_id") or "").lower(),
        "span_id": (_field(s, "span_id") or "").lower(),
        "name": _field(s, "name") or "",
        "kind": _enum(_field(s, "kind"), SPAN_KINDS),
        "start_time_unix_nano": int(_field(s, "start_time_unix_nano") or 0),
        "end_time_unix_nano": int(_field(s, "end_time_unix_nano") or 0),
        "attributes": dict((k, v) for k, v in attrs),
        "attribute_list": attrs,
        "status_code": _enum(_field(status, "code"), STATUS_CODES),
        "flags": int(_field(s, "flags") or 0),
    }
    parent = _field(s, "parent_span_id")
    if parent:
        out["parent_span_id"] = parent.lower()
    if _field(status, "message"):
        out["status_message"] = _field(status, "message")
    other = {_snake(k): v for k, v in s.items() if _snake(k) not in _SPAN_NAMED}
    if other:
        out["other"] = other
    return out


def _common(req):
    out = {"resource_spans": []}
    for rs in _field(req, "resource_spans") or []:
        scopes = []
        for ss in _field(rs, "scope_spans") or []:
            scope = _field(ss, "scope") or {}
            scopes.append({"scope": {"name": scope.get("name", ""),
                                     "version": scope.get("version", "")},
                           "spans": [_common_span(s) for s in _field(ss, "spans") or []]})
        resource = _field(rs, "resource") or {}
        out["resource_spans"].append({
            "resource": dict(_kv_list(_field(resource, "attributes"))),
            "scope_spans": scopes,
        })
    return out


def decode_otlp_proto(body):
    """An OTLP protobuf body (decoded by protoc) in the common shape."""
    return _common(decode_otlp_proto_raw(body))


def from_otlp_json(obj):
    """An OTLP/JSON ExportTraceServiceRequest (a parsed body or file line) in
    the common shape."""
    if not isinstance(obj, dict):
        raise DecodeError("OTLP/JSON: not an object: %r" % (obj,))
    return _common(obj)


# --------------------------------------------------------------------------
# Zipkin API v2 (openzipkin/zipkin-api zipkin2-api.yaml)

_ZIPKIN_SPAN_KEYS = {"traceId", "name", "parentId", "id", "kind", "timestamp", "duration",
                     "debug", "shared", "localEndpoint", "remoteEndpoint", "annotations", "tags"}
_ZIPKIN_ENDPOINT_KEYS = {"serviceName", "ipv4", "ipv6", "port"}
_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
# Microseconds since the epoch stay below this until the year 5138; a value
# above it is nanoseconds or milliseconds*1e6 sent by mistake.
_MAX_EPOCH_MICROS = 10 ** 17


def _zcheck(cond, where, field, value, why):
    if not cond:
        raise AssertionError("%s: %s=%r %s" % (where, field, value, why))


def _zint(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _zipkin_id(span, field, where, lengths, required):
    v = span.get(field)
    if v is None and not required:
        return
    ok = isinstance(v, str) and any(
        (_HEX16 if n == 16 else _HEX32).fullmatch(v) for n in lengths)
    _zcheck(ok, where, field, v, "is not %s lower-case hex digits"
            % " or ".join(str(n) for n in lengths))
    _zcheck(set(v) != {"0"}, where, field, v, "is all zeros (invalid)")


def _zipkin_endpoint(ep, where):
    _zcheck(isinstance(ep, dict), where, "", ep, "is not an object")
    extra = set(ep) - _ZIPKIN_ENDPOINT_KEYS
    _zcheck(not extra, where, "keys", sorted(extra), "are not Endpoint fields")
    _zcheck(ep, where, "", ep, "is empty (leave the endpoint out instead)")
    if "serviceName" in ep:
        # The spec asks for a lower-case label and Zipkin lower-cases it on
        # ingest; we send the configured name as given, so any string passes.
        _zcheck(isinstance(ep["serviceName"], str), where, "serviceName", ep["serviceName"],
                "is not a string")
    for field, cls in (("ipv4", ipaddress.IPv4Address), ("ipv6", ipaddress.IPv6Address)):
        if field in ep:
            v = ep[field]
            try:
                ok = isinstance(v, str) and bool(cls(v))
            except ValueError:
                ok = False
            _zcheck(ok, where, field, v, "is not an %s address in text form" % field.upper())
    if "port" in ep:
        p = ep["port"]
        _zcheck(_zint(p) and 0 < p <= 65535, where, "port", p,
                "is not an integer port 1..65535 (absent when unknown, never 0)")


def check_zipkin_v2(spans):
    """Check a Zipkin v2 span list (parsed JSON) against the v2 API spec,
    field by field; AssertionError names the first field that breaks it."""
    _zcheck(isinstance(spans, list), "body", "", type(spans).__name__, "is not a list of spans")
    for i, s in enumerate(spans):
        where = "span %d" % i
        _zcheck(isinstance(s, dict), where, "", s, "is not an object")
        if isinstance(s.get("id"), str):
            where = "span %d (id %s)" % (i, s["id"])
        extra = set(s) - _ZIPKIN_SPAN_KEYS
        _zcheck(not extra, where, "keys", sorted(extra), "are not Span fields")
        _zipkin_id(s, "traceId", where, (16, 32), True)
        _zipkin_id(s, "id", where, (16,), True)
        _zipkin_id(s, "parentId", where, (16,), False)
        if "name" in s:
            _zcheck(isinstance(s["name"], str), where, "name", s["name"], "is not a string")
        if "kind" in s:
            _zcheck(s["kind"] in ("CLIENT", "SERVER", "PRODUCER", "CONSUMER"), where, "kind",
                    s["kind"], "is not CLIENT, SERVER, PRODUCER or CONSUMER")
        if "timestamp" in s:
            t = s["timestamp"]
            _zcheck(_zint(t) and 0 <= t < _MAX_EPOCH_MICROS, where, "timestamp", t,
                    "is not epoch microseconds as an integer")
        if "duration" in s:
            d = s["duration"]
            _zcheck(_zint(d) and 1 <= d < 2 ** 63, where, "duration", d,
                    "is not an integer number of microseconds >= 1")
        for flag in ("debug", "shared"):
            if flag in s:
                _zcheck(isinstance(s[flag], bool), where, flag, s[flag], "is not a boolean")
        for ep in ("localEndpoint", "remoteEndpoint"):
            if ep in s:
                _zipkin_endpoint(s[ep], "%s %s" % (where, ep))
        for j, a in enumerate(s.get("annotations", [])):
            w = "%s annotation %d" % (where, j)
            _zcheck(isinstance(a, dict) and set(a) == {"timestamp", "value"}, w, "", a,
                    "is not {timestamp, value}")
            _zcheck(_zint(a["timestamp"]) and 0 <= a["timestamp"] < _MAX_EPOCH_MICROS, w,
                    "timestamp", a["timestamp"], "is not epoch microseconds")
            _zcheck(isinstance(a["value"], str), w, "value", a["value"], "is not a string")
        if "tags" in s:
            tags = s["tags"]
            _zcheck(isinstance(tags, dict), where, "tags", tags, "is not an object")
            for k, v in tags.items():
                _zcheck(isinstance(v, str), where, "tags[%r]" % k, v,
                        "is not a string (Zipkin tag values are strings)")


# --------------------------------------------------------------------------


def main(argv):
    """otlp_decode.py FILE: the protobuf request in FILE, decoded, as JSON on stdout."""
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: otlp_decode.py FILE  (TRACESHIM_PEERS=DIR made by "
                         "tests/peers/setup.sh)\n")
        return 2
    try:
        with open(argv[1], "rb") as f:
            decoded = decode_otlp_proto(f.read())
    except (OSError, DecodeError, PeersMissing) as e:
        sys.stderr.write("otlp_decode: %s: %s\n" % (argv[1], e))
        return 1
    # bytes (a bytesValue) print as hex
    json.dump(decoded, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False,
              default=lambda v: v.hex())
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
