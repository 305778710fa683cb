"""test_encoders_decode.py — the OTLP protobuf and Zipkin v2 encoders'
output, read by the real decoder and checked against the spec.

The unit tests test_otlp_proto and test_zipkin_json, run with TS_DUMP_DIR,
write every message they build (NAME.bin: an OTLP protobuf request;
NAME.json: a Zipkin v2 list) and, beside it, the OTLP/JSON encoding of the
same spans (NAME.expect.json). Here:

  * every protobuf dump is decoded by `protoc --decode` against the
    official OpenTelemetry protos and must equal, field by field (ids,
    parent, name, kind, times, attributes in order, status, resource,
    scope), what its OTLP/JSON twin says;
  * every Zipkin dump must pass check_zipkin_v2 (the v2 API spec) and hold
    exactly what the Zipkin mapping of its OTLP/JSON twin gives (the
    resource's attributes among each span's tags; B3's debug flag, which
    OTLP has no field for, from ZIPKIN_DEBUG);
  * the "known" cases are also compared with constants written out below,
    so a mistake shared by two encoders cannot hide;
  * the decoder and the checker themselves reject broken input.

Needs the peers dir (tests/peers/setup.sh): fails, never skips, without it.
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tshelp as th  # noqa: E402

PEERS = os.environ.get("TRACESHIM_PEERS") or os.path.join(th.BUILD, "peers")
sys.path.insert(0, os.path.join(th.SRC, "tests", "peers"))
import otlp_decode as od  # noqa: E402

OTLP_CASES = {"known", "two", "empty", "many", "hostile", "random"}
ZIPKIN_CASES = {"known", "short_trace", "ipv6_peer", "status", "hostile", "damaged", "empty",
                "many", "resource", "debug", "dropped"}
# The spans of each case that are debug spans (B3's debug flag), by id:
# test_zipkin_json.c's test_debug_flag.
ZIPKIN_DEBUG = {"debug": {"00f067aa0ba902b7"}}
# Resource attributes that are no span's tag: service.name is the
# serviceName; the status, dropped-count and scope tags are the span's own.
ZIPKIN_NOT_RESOURCE_TAGS = {"service.name", "otel.status_code", "error",
                            "otel.dropped_attributes_count", "otel.scope.name",
                            "otel.scope.version"}


VERSION = th.project_version()

# The span and resource of test_otlp_proto.c's known_span() and
# test_known_dump(): change both together.
OTLP_KNOWN = {
    "resource_spans": [{
        "resource": {
            "service.name": "frontend", "process.pid": 1234,
            "process.executable.name": "python3", "host.name": "box",
            "telemetry.sdk.name": "traceshim", "telemetry.sdk.language": "c",
            "telemetry.sdk.version": VERSION,
            "deployment.environment": "test", "team": "a,b",
        },
        "scope_spans": [{
            "scope": {"name": "traceshim", "version": VERSION},
            "spans": [{
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "span_id": "00f067aa0ba902b7",
                "parent_span_id": "b7ad6b7169203331",
                "name": "GET /api",
                "kind": 2,
                "start_time_unix_nano": 1700000000000000000,
                "end_time_unix_nano": 1700000000001500000,
                "attributes": {"http.request.method": "GET", "http.response.status_code": 500,
                               "b": True, "neg": -7},
                "attribute_list": [["http.request.method", "GET"],
                                   ["http.response.status_code", 500], ["b", True],
                                   ["neg", -7]],
                "status_code": 2,
                "flags": 0x301,  # sampled; the parent known to be remote
            }],
        }],
    }],
}

# test_zipkin_json.c's known_span(); the local address is this host's.
ZIPKIN_KNOWN = {
    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "id": "00f067aa0ba902b7",
    "parentId": "b7ad6b7169203331", "name": "GET /api", "kind": "SERVER",
    "timestamp": 1700000000000000, "duration": 1500,
    "localEndpoint": {"serviceName": "frontend"},
    "remoteEndpoint": {"ipv4": "10.1.2.3", "port": 51000},
    "tags": {"http.request.method": "GET", "http.response.status_code": "500",
             "server.port": "8080", "network.peer.address": "10.1.2.3",
             "network.peer.port": "51000", "b": "true", "neg": "-7",
             "process.pid": "1234", "process.executable.name": "python3", "host.name": "box",
             "telemetry.sdk.name": "traceshim", "telemetry.sdk.language": "c",
             "telemetry.sdk.version": VERSION,
             "otel.status_code": "ERROR", "error": "500",
             "otel.scope.name": "traceshim", "otel.scope.version": VERSION},
}


def require_peers():
    """Fail (never skip) when protoc or the protos are not there."""
    protos = os.path.join(PEERS, "protos", od.REQUEST_PROTO)
    if not os.path.isfile(protos):
        raise AssertionError(
            "the OpenTelemetry protos are missing (%s): run `bash tests/peers/setup.sh %s` "
            "(scripts/test.sh does)" % (protos, PEERS))
    if not shutil.which("protoc"):
        raise AssertionError("protoc is not installed (Debian: protobuf-compiler); "
                             "run scripts/install-deps.sh")
    os.environ["TRACESHIM_PEERS"] = PEERS


def run_dumps(binary, outdir):
    """Run one cmocka test binary with TS_DUMP_DIR=outdir; {name: (body, expect_obj)}."""
    path = os.path.join(th.BUILD, "tests", binary)
    if not os.access(path, os.X_OK):
        raise AssertionError("%s is not built (cmake --build %s)" % (path, th.BUILD))
    os.makedirs(outdir)
    env = dict(os.environ, TS_DUMP_DIR=outdir)
    p = subprocess.run([path], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=240)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (binary, p.returncode,
                                                      p.stdout.decode(errors="replace")[-3000:]))
    dumps = {}
    for f in sorted(os.listdir(outdir)):
        if f.endswith(".expect.json"):
            continue
        name, _ = os.path.splitext(f)
        with open(os.path.join(outdir, f), "rb") as fh:
            body = fh.read()
        with open(os.path.join(outdir, name + ".expect.json"), "rb") as fh:
            expect = json.loads(fh.read())
        dumps[name] = (body, expect)
    return dumps


# --------------------------------------------------------------------------
# the Zipkin mapping, written from the spec and DESIGN.md, independently of
# the C encoder


def _tag_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _first_wins(attribute_list):
    out = {}
    for k, v in attribute_list:
        out.setdefault(k, v)
    return out


def _ip_member(text):
    """{"ipv4"|"ipv6": text} when text is an address, else None."""
    if not isinstance(text, str) or "%" in text:
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return {"ipv6" if addr.version == 6 else "ipv4": text}


def _port(v):
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 65535 else None


def zipkin_expected(otlp_obj, debug=()):
    """The Zipkin v2 list the spans of an OTLP/JSON request should become
    (localEndpoint without its address: that is this host's); the spans
    whose ids are in debug are debug spans."""
    common = od.from_otlp_json(otlp_obj)
    out = []
    for rs in common["resource_spans"]:
        for ss in rs["scope_spans"]:
            for s in ss["spans"]:
                tid = s["trace_id"]
                z = {"traceId": tid[16:] if tid.startswith("0" * 16) else tid,
                     "id": s["span_id"], "name": s["name"]}
                if "parent_span_id" in s:
                    z["parentId"] = s["parent_span_id"]
                kind = {2: "SERVER", 3: "CLIENT"}.get(s["kind"])
                if kind:
                    z["kind"] = kind
                start, end = s["start_time_unix_nano"], s["end_time_unix_nano"]
                z["timestamp"] = start // 1000
                z["duration"] = max(1, (end - start) // 1000) if end > start else 1
                attrs = _first_wins(s["attribute_list"])
                z["localEndpoint"] = {"serviceName": rs["resource"]["service.name"]}
                remote = {}
                name = attrs.get("server.address") if kind == "CLIENT" else None
                if isinstance(name, str) and name:
                    remote["serviceName"] = name
                ip = _ip_member(attrs.get("network.peer.address"))
                if ip:
                    remote.update(ip)
                    if _port(attrs.get("network.peer.port")):
                        remote["port"] = attrs["network.peer.port"]
                if remote:
                    z["remoteEndpoint"] = remote
                tags = {k: _tag_text(v) for k, v in attrs.items()}
                # Zipkin has no resource: its attributes are every span's
                # tags, the span's own value first
                for k, v in rs["resource"].items():
                    if k not in ZIPKIN_NOT_RESOURCE_TAGS:
                        tags.setdefault(k, _tag_text(v))
                status = s["status_code"]
                if status in (1, 2):
                    tags.setdefault("otel.status_code", "OK" if status == 1 else "ERROR")
                if status == 2 and "error" not in tags:
                    cause = attrs.get("error.type", attrs.get("http.response.status_code"))
                    tags["error"] = "true" if cause is None else _tag_text(cause)
                # the OpenTelemetry mapping to non-OTLP formats: the span's
                # droppedAttributesCount as a tag, only when not 0
                dropped = int(s.get("other", {}).get("dropped_attributes_count", 0))
                if dropped:
                    tags.setdefault("otel.dropped_attributes_count", str(dropped))
                # the scope the spans were under (its name and version as tags)
                tags.setdefault("otel.scope.name", ss["scope"]["name"])
                tags.setdefault("otel.scope.version", ss["scope"]["version"])
                z["tags"] = tags
                if s["span_id"] in debug:
                    z["debug"] = True
                out.append(z)
    return out


def without_local_address(z):
    """z with the localEndpoint's address taken out (checked separately)."""
    z = dict(z)
    z["localEndpoint"] = {k: v for k, v in z["localEndpoint"].items() if k not in ("ipv4", "ipv6")}
    return z


class EncodersDecodeTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require_peers()
        cls.tmp = tempfile.mkdtemp(prefix="tsit-encoders-")
        if th.KEEP:
            sys.stderr.write("\n[kept %s]\n" % cls.tmp)
        try:
            cls.otlp = run_dumps("test_otlp_proto", os.path.join(cls.tmp, "otlp"))
            cls.zipkin = run_dumps("test_zipkin_json", os.path.join(cls.tmp, "zipkin"))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if not th.KEEP:
            shutil.rmtree(cls.tmp, True)

    # ------------------------------------------------------------ protobuf

    def test_otlp_every_case_dumped(self):
        self.assertEqual(set(self.otlp), OTLP_CASES)

    def test_otlp_decodes_to_what_the_json_twin_says(self):
        for name, (body, expect) in sorted(self.otlp.items()):
            with self.subTest(name):
                got = od.decode_otlp_proto(body)
                want = od.from_otlp_json(expect)
                self.assertEqual(got, want)
                # and the envelope is the agreed one
                self.assertEqual(len(got["resource_spans"]), 1)
                rs = got["resource_spans"][0]
                self.assertEqual(len(rs["scope_spans"]), 1)
                self.assertEqual(rs["scope_spans"][0]["scope"],
                                 {"name": "traceshim", "version": VERSION})
                self.assertEqual(rs["resource"]["telemetry.sdk.version"], VERSION)
                for s in rs["scope_spans"][0]["spans"]:
                    self.assertNotIn("other", s)

    def test_otlp_known_values(self):
        self.assertEqual(od.decode_otlp_proto(self.otlp["known"][0]), OTLP_KNOWN)

    def test_otlp_hostile_values(self):
        spans = od.decode_otlp_proto(self.otlp["hostile"][0])["resource_spans"][0]
        self.assertEqual(spans["resource"]["host.name"], 'h"o\\st\n\ufffd')
        first, second = spans["scope_spans"][0]["spans"]
        self.assertEqual(first["name"], "ok")  # clamped to the end of the buffer
        self.assertEqual(first["attribute_list"],
                         [["http.request.method", ""], ["b", True], ["neg", -7]])
        self.assertEqual(first["kind"], 9)
        self.assertEqual(second["name"], 'GET /"}]\n\x00\ufffd\ufffd')
        self.assertEqual(second["attribute_list"],
                         [["url.path", '\\"\x1b[31m\ufffd\ufffd\ufffd'], ["url.path", "again"],
                          ["last", "?"]])
        self.assertEqual(second["status_code"], 200)
        self.assertNotIn("parent_span_id", second)

    def test_otlp_batches(self):
        def spans(name):
            return od.decode_otlp_proto(self.otlp[name][0])["resource_spans"][0][
                "scope_spans"][0]["spans"]
        self.assertEqual(spans("empty"), [])
        many = spans("many")
        self.assertEqual(len(many), 300)
        self.assertEqual(len({s["span_id"] for s in many}), 300)
        self.assertEqual(sum("parent_span_id" not in s for s in many), 100)

    def test_decoder_rejects_broken_bodies(self):
        body = self.otlp["known"][0]
        with self.assertRaisesRegex(od.DecodeError, "protoc rejects"):
            od.decode_otlp_proto(body[:-3])  # truncated
        with self.assertRaisesRegex(od.DecodeError, "not in the protos"):
            od.decode_otlp_proto(b"\x1a" + body[1:])  # field 3 of the request
        # a Span whose name is not UTF-8: proto3 parsers refuse it
        span = b"\x0a\x10" + b"\x01" * 16 + b"\x12\x08" + b"\x02" * 8 + b"\x2a\x01\xff"
        ss = b"\x12" + bytes([len(span)]) + span
        rs = b"\x12" + bytes([len(ss)]) + ss
        with self.assertRaisesRegex(od.DecodeError, "protoc rejects"):
            od.decode_otlp_proto(b"\x0a" + bytes([len(rs)]) + rs)
        # the same with a valid name decodes
        span = span[:-1] + b"x"
        ss = b"\x12" + bytes([len(span)]) + span
        rs = b"\x12" + bytes([len(ss)]) + ss
        got = od.decode_otlp_proto(b"\x0a" + bytes([len(rs)]) + rs)
        self.assertEqual(got["resource_spans"][0]["scope_spans"][0]["spans"][0]["name"], "x")

    # -------------------------------------------------------------- zipkin

    def test_zipkin_every_case_dumped(self):
        self.assertEqual(set(self.zipkin), ZIPKIN_CASES)

    def test_zipkin_follows_spec_and_mapping(self):
        for name, (body, expect) in sorted(self.zipkin.items()):
            with self.subTest(name):
                self.assertNotIn(b"\n", body)
                lst = json.loads(body.decode("utf-8"))  # strict UTF-8, strict JSON
                od.check_zipkin_v2(lst)
                want = zipkin_expected(expect, ZIPKIN_DEBUG.get(name, ()))
                self.assertEqual([without_local_address(z) for z in lst], want)
                for z in lst:
                    addr = {k for k in z["localEndpoint"] if k in ("ipv4", "ipv6")}
                    self.assertEqual(len(addr), 1, "localEndpoint needs this host's address")

    def test_zipkin_known_values(self):
        lst = json.loads(self.zipkin["known"][0])
        self.assertEqual(len(lst), 1)
        self.assertEqual(without_local_address(lst[0]), ZIPKIN_KNOWN)

    def test_zipkin_batches(self):
        self.assertEqual(json.loads(self.zipkin["empty"][0]), [])
        self.assertEqual(len(json.loads(self.zipkin["many"][0])), 300)
        z = json.loads(self.zipkin["ipv6_peer"][0])[0]
        self.assertEqual(z["remoteEndpoint"], {"ipv6": "2001:db8::1", "port": 443})
        z = json.loads(self.zipkin["short_trace"][0])[0]
        self.assertEqual(z["traceId"], "a3ce929d0e0e4736")
        self.assertNotIn("parentId", z)

    def test_zipkin_resource_tags_and_debug(self):
        # test_zipkin_json.c's test_resource_tags and test_debug_flag,
        # stated again apart from the mapping above
        [z] = json.loads(self.zipkin["resource"][0])
        tags = z["tags"]
        self.assertEqual((tags["deployment.environment"], tags["service.namespace"], tags["team"],
                          tags["host.name"], tags["process.pid"]),
                         ("test", "shop", "a,b", "node-7", "1234"))
        self.assertEqual((tags["error"], tags["otel.status_code"], tags["otel.scope.name"]),
                         ("500", "ERROR", "traceshim"))  # the span's, not the resource's
        self.assertNotIn("service.name", tags)
        self.assertEqual(z["localEndpoint"]["serviceName"], "frontend")
        debug, plain = json.loads(self.zipkin["debug"][0])
        self.assertIs(debug["debug"], True)
        self.assertNotIn("debug", plain)

    def test_zipkin_dropped_attributes_count(self):
        # test_zipkin_json.c's test_dropped_attributes_count, stated again
        # apart from the mapping above: a string tag, only when not 0
        body, expect = self.zipkin["dropped"]
        counts = [s.get("droppedAttributesCount")
                  for s in expect["resourceSpans"][0]["scopeSpans"][0]["spans"]]
        self.assertEqual(counts, [3, 255, 1, None])  # the OTLP/JSON twin
        tags = [z["tags"] for z in json.loads(body)]
        self.assertEqual([t.get("otel.dropped_attributes_count") for t in tags],
                         ["3", "255", "1", None])

    def test_zipkin_checker_rejects_spec_breaks(self):
        base = json.loads(self.zipkin["known"][0])[0]
        od.check_zipkin_v2([base])
        bad = [
            ("traceId", dict(base, traceId=base["traceId"].upper())),
            ("traceId", dict(base, traceId="0" * 32)),
            ("id", dict(base, id=base["id"][:15])),
            ("parentId", dict(base, parentId=1)),
            ("kind", dict(base, kind="client")),
            ("timestamp", dict(base, timestamp=base["timestamp"] * 1000)),
            ("timestamp", dict(base, timestamp=1.5)),
            ("duration", dict(base, duration=0)),
            ("ipv4", dict(base, remoteEndpoint={"ipv4": "300.1.1.1"})),
            ("ipv6", dict(base, remoteEndpoint={"ipv6": "10.0.0.1"})),
            ("port", dict(base, remoteEndpoint={"ipv4": "10.0.0.1", "port": "80"})),
            ("port", dict(base, remoteEndpoint={"ipv4": "10.0.0.1", "port": 0})),
            ("serviceName", dict(base, localEndpoint={"serviceName": 5})),
            ("tags", dict(base, tags={"n": 1})),
            ("keys", dict(base, traceID="x")),
        ]
        for field, span in bad:
            with self.subTest(field):
                with self.assertRaisesRegex(AssertionError, re.escape(field)):
                    od.check_zipkin_v2([base, span])


if __name__ == "__main__":
    unittest.main(verbosity=2)
