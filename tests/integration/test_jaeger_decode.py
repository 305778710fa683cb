"""test_jaeger_decode.py — our Jaeger agent datagrams, read by thrift itself.

tests/unit/test_jaeger_thrift dumps every datagram it builds (TS_DUMP_DIR) with
a sidecar NAME.json of what it must decode to; here each one goes through the
code thrift-compiler generated from the official Jaeger IDL
(tests/peers/jaeger_decode.py) and must come back exactly as expected. Also
checks the decoder itself rejects what an agent would not accept, so a pass
means something.

Environment (set by ctest): TRACESHIM_BUILD (the unit test binary lives in
its tests/), TRACESHIM_PEERS (made by `bash tests/peers/setup.sh DIR`; the
test fails, not skips, without it), TRACESHIM_SRC.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TRACESHIM_SRC") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("TRACESHIM_BUILD") or os.path.join(SRC, "build")
PEERS = os.environ.get("TRACESHIM_PEERS") or os.path.join(BUILD, "peers")
UNIT = os.path.join(BUILD, "tests", "test_jaeger_thrift")
MAX_DATAGRAM = 65000

sys.path.insert(0, os.path.join(SRC, "tests", "peers"))
os.environ["TRACESHIM_PEERS"] = PEERS
import jaeger_decode  # noqa: E402

sys.path.insert(0, HERE)
import tshelp as th  # noqa: E402


def i64(u):
    """The signed i64 with the bits of the unsigned u."""
    return u - (1 << 64) if u >= 1 << 63 else u


class JaegerDecodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dumps = None
        cls.setup_error = None
        try:
            jaeger_decode.load_generated()
        except jaeger_decode.PeersMissing as e:
            cls.setup_error = ("the real Jaeger decoder is missing: %s\n(TRACESHIM_PEERS=%s; "
                               "run: bash tests/peers/setup.sh %s)" % (e, PEERS, PEERS))
            return
        if not os.access(UNIT, os.X_OK):
            cls.setup_error = "%s is not built (TRACESHIM_BUILD=%s)" % (UNIT, BUILD)
            return
        cls.tmp = tempfile.mkdtemp(prefix="ts-jaeger-")
        env = dict(os.environ, TS_DUMP_DIR=cls.tmp)
        r = subprocess.run([UNIT], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        if r.returncode != 0:
            cls.setup_error = "%s failed (%d):\n%s" % (UNIT, r.returncode,
                                                      r.stdout.decode(errors="replace")[-3000:])
            return
        cls.dumps = {}
        for path in sorted(glob.glob(os.path.join(cls.tmp, "*.bin"))):
            name = os.path.basename(path)[:-4]
            with open(path, "rb") as f:
                data = f.read()
            with open(path[:-4] + ".json", encoding="utf-8") as f:
                side = json.load(f)
            cls.dumps[name] = (data, side)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "tmp", None) and os.environ.get("TSTEST_KEEP") != "1":
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if self.setup_error:
            self.fail(self.setup_error)

    def decoded(self, name):
        self.assertIn(name, self.dumps, "the unit test did not dump %s" % name)
        return jaeger_decode.decode_emit_batch(self.dumps[name][0])

    def test_every_dump_decodes_as_expected(self):
        expected_names = {"two_spans", "server_span", "root_span", "hostile", "batch_00",
                          "debug_span", "dropped_attrs"}
        self.assertTrue(expected_names <= set(self.dumps), sorted(self.dumps))
        for name, (data, side) in sorted(self.dumps.items()):
            with self.subTest(dump=name):
                self.assertEqual(len(data), side["size"])
                self.assertLessEqual(len(data), MAX_DATAGRAM)
                got = jaeger_decode.decode_emit_batch(data)
                if got != side["expected"]:
                    self.maxDiff = None
                    self.assertEqual(got, side["expected"])

    def test_known_values(self):
        # Constants of the unit test's server_span(), stated here again so the
        # check does not rest on the sidecar alone.
        b = self.decoded("server_span")
        self.assertEqual(b["process"]["serviceName"], "shop")
        tags = b["process"]["tags"]
        self.assertEqual(tags["hostname"], "node-7")
        self.assertRegex(tags["jaeger.version"], r"^traceshim-C-\d+\.\d+\.\d+")
        self.assertRegex(tags["client-uuid"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                              r"[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertTrue(tags["ip"])
        self.assertEqual(tags["process.pid"], 4321)
        self.assertEqual(tags["team"], "a,b")
        self.assertNotIn("service.name", tags)
        [s] = b["spans"]
        self.assertEqual(s["traceIdHigh"], i64(0xf0e1d2c3b4a59687))
        self.assertEqual(s["traceIdLow"], i64(0x8000000000000001))
        self.assertEqual(jaeger_decode.span_trace_id_hex(s),
                         "f0e1d2c3b4a596878000000000000001")
        self.assertEqual(s["spanId"], i64(0xfedcba9876543210))
        self.assertEqual(s["parentSpanId"], 0x0123456789abcdef)
        self.assertEqual(s["references"], [{"refType": 0, "traceIdLow": s["traceIdLow"],
                                            "traceIdHigh": s["traceIdHigh"],
                                            "spanId": 0x0123456789abcdef}])
        self.assertEqual(s["operationName"], "GET /api/items")
        self.assertEqual(s["flags"], 1)
        self.assertEqual(s["startTime"], 1700000000123456)
        self.assertEqual(s["duration"], 2000)
        self.assertEqual(s["tags"], {
            "span.kind": "server", "http.request.method": "GET", "url.path": "/api/items",
            "http.response.status_code": 500, "server.port": 8080,
            "big.negative": -(1 << 63), "tls": False, "keepalive": True,
            "otel.status_code": "ERROR", "error": True,
            "otel.scope.name": "traceshim", "otel.scope.version": th.project_version()})

        # B3's debug flag: Jaeger's flags 2 (debug) beside 1 (sampled)
        [d] = self.decoded("debug_span")["spans"]
        self.assertEqual(d["flags"], 3)
        self.assertEqual(d["spanId"], s["spanId"])

        # attributes left out: otel.dropped_attributes_count, a long (the
        # OpenTelemetry mapping to non-OTLP formats); none when 0
        [dropped] = self.decoded("dropped_attrs")["spans"]
        count = dropped["tags"].pop("otel.dropped_attributes_count")
        self.assertIs(type(count), int)  # LONG, not a string nor a bool
        self.assertEqual(count, 3)
        self.assertEqual(dropped["tags"], s["tags"])
        self.assertNotIn("otel.dropped_attributes_count", s["tags"])
        self.assertEqual(
            self.decoded("hostile")["spans"][0]["tags"]["otel.dropped_attributes_count"], 255)

        r = self.decoded("root_span")["spans"][0]
        self.assertEqual((r["parentSpanId"], r["references"]), (0, []))
        self.assertEqual(r["operationName"], "GET /caf\u00e9")
        self.assertEqual(r["duration"], 0)
        self.assertEqual(r["tags"]["otel.status_code"], "OK")
        self.assertNotIn("error", r["tags"])
        self.assertEqual(r["tags"]["url.full"],
                         "http://h/" + "\ufffd" * 7 + "\U0001F600\x00x")

    def test_batch_cut_holds_every_span(self):
        batches = sorted(n for n in self.dumps if n.startswith("batch_"))
        self.assertGreater(len(batches), 1)
        ids = []
        for n in batches:
            self.assertLessEqual(len(self.dumps[n][0]), MAX_DATAGRAM)
            ids += [s["spanId"] for s in self.decoded(n)["spans"]]
        self.assertEqual(sorted(ids), [i64(0xa000000000000000 + i) for i in range(500)])

    def test_decoder_rejects_broken_datagrams(self):
        data = self.dumps["two_spans"][0]
        bad = {
            "truncated": data[:-1],
            "cut in a span": data[:len(data) // 2],
            "trailing byte": data + b"\x00",
            "other method": data[:4] + b"emitBatcx" + data[13:],
            "CALL, not ONEWAY": data[:1] + b"\x21" + data[2:],
            "binary protocol id": b"\x80" + data[1:],
            "empty": b"",
        }
        for what, d in bad.items():
            with self.subTest(what):
                with self.assertRaises(jaeger_decode.DecodeError):
                    jaeger_decode.decode_emit_batch(d)
        # A span without its required spanId (field 3) is refused, not
        # decoded with a None.
        one = self.dumps["root_span"][0]
        hdr = one.index(b"\x16\x84\x01")  # traceIdLow 0x42 = zigzag 132
        i = hdr + 3 + 2  # past traceIdLow and traceIdHigh (0)
        self.assertEqual(one[i:i + 2], b"\x16\x86")  # spanId 0x43
        # drop it (3 bytes); parentSpanId's header becomes delta 2
        broken = one[:i] + b"\x26" + one[i + 4:]
        with self.assertRaises(jaeger_decode.DecodeError):
            jaeger_decode.decode_emit_batch(broken)


if __name__ == "__main__":
    unittest.main()
