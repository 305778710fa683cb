"""test_exporters_decoded.py — what each network exporter sends, decoded by
the real third-party decoder, equals what the file exporter wrote for the
same spans in the same run.

A traced python server (apps/httpapp.py) exports to the span file and to one
network exporter at a time: the Jaeger agent's datagrams are decoded with
Thrift code generated from the official Jaeger IDL, OTLP protobuf bodies
with `protoc --decode` against the official OpenTelemetry protos, Zipkin
and OTLP/JSON bodies are checked field by field against their specs. Ids,
parents, names, kinds, times, attributes, status and the resource must all
agree with the file (Zipkin, which has no resource, has its attributes among
every span's tags). B3's debug flag, sent by curl, reaches Zipkin as
"debug": true and Jaeger as flags 3 on the spans of that trace only.
"""

import json
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends as bk  # noqa: E402
import tshelp as th  # noqa: E402

KINDS = {th.KIND_SERVER: "server", th.KIND_CLIENT: "client"}


class DecodedTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        bk.require_peers()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def run_workload(self, exporter, paths=None, **env):
        """Traced server, a fixed set of requests (a nested client call, 404,
        500), then a clean exit; returns the spans of the file, by id."""
        env.setdefault("TRACESHIM_EXPORTER", "file," + exporter)
        env.setdefault("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=a%2Cb")
        e = th.shim_env("decoded-svc", self.spans_file, **env)
        srv, port = th.start_app_server(self, "decoded-svc", self.spans_file, self.tmp, env=e)
        down = bk.Collector([200])
        self.addCleanup(down.close)
        for path in paths or ("/ok", "/missing", "/fail", "/call?to=%d&path=/down" % down.port):
            th.http_get(port, path)
        # The last response reaches us a moment before its span is queued:
        # let it be queued before the server is told to exit.
        want = len(paths or "1234") + (0 if paths else 1)
        if env.get("OTEL_BSP_SCHEDULE_DELAY", "100") == "100":
            th.wait_spans(self.spans_file, want, procs=(srv,))
        else:
            time.sleep(0.3)
        self.assertEqual(srv.stop(grace=20), 0, srv.describe())
        self.assertNotIn("traceshim", srv.stderr().decode(), srv.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), want, th.format_spans(spans))
        return {s["spanId"]: s for s in spans}

    # ---------------------------------------------------------------- jaeger

    def jaeger_spans(self, agent):
        import jaeger_decode as jd
        out, batches = {}, []
        for d in agent.received():
            self.assertLessEqual(len(d), 65000)
            b = jd.decode_emit_batch(d)
            batches.append(b)
            for s in b["spans"]:
                sid = jd.id_hex(s["spanId"])
                self.assertNotIn(sid, out, "span sent twice")
                out[sid] = s
        return out, batches

    def check_jaeger_span(self, f, j):
        import jaeger_decode as jd
        where = "span %s %r" % (f["spanId"], f["name"])
        self.assertEqual(jd.span_trace_id_hex(j), f["traceId"], where)
        self.assertEqual(j["operationName"], f["name"], where)
        self.assertEqual(j["startTime"], f["start"] // 1000, where)
        self.assertEqual(j["duration"], (f["end"] - f["start"]) // 1000, where)
        self.assertEqual(j["flags"] & 1, 1, where)
        if f["parentSpanId"]:
            self.assertEqual(jd.id_hex(j["parentSpanId"]), f["parentSpanId"], where)
            self.assertEqual(len(j["references"]), 1, where)
            ref = j["references"][0]
            self.assertEqual(ref["refType"], 0, where)  # CHILD_OF
            self.assertEqual(jd.id_hex(ref["spanId"]), f["parentSpanId"], where)
            self.assertEqual(jd.id_hex(ref["traceIdHigh"]) + jd.id_hex(ref["traceIdLow"]),
                             f["traceId"], where)
        else:
            self.assertEqual(j["parentSpanId"], 0, where)
            self.assertEqual(j["references"], [], where)
        tags = j["tags"]
        self.assertEqual(tags.get("span.kind"), KINDS[f["kind"]], where)
        for k, v in f["attrs"].items():
            self.assertEqual(tags.get(k), v, "%s tag %s" % (where, k))
        if f["status"] == th.STATUS_ERROR:
            self.assertIs(tags.get("error"), True, where)
        else:
            self.assertNotIn("error", tags, where)

    def test_jaeger_matches_file(self):
        agent = bk.UdpAgent()
        self.addCleanup(agent.close)
        fspans = self.run_workload("jaeger", JAEGER_AGENT_HOST="127.0.0.1",
                                   JAEGER_AGENT_PORT=agent.port)
        jspans, batches = self.jaeger_spans(agent)
        self.assertEqual(set(jspans), set(fspans))
        for sid, f in fspans.items():
            self.check_jaeger_span(f, jspans[sid])
        res = next(iter(fspans.values()))["resource"]
        for b in batches:
            p = b["process"]
            self.assertEqual(p["serviceName"], "decoded-svc")
            self.assertEqual(p["tags"]["hostname"], res["host.name"])
            self.assertRegex(p["tags"]["ip"], r"^[0-9a-f.:]+$")
            self.assertRegex(p["tags"]["client-uuid"],
                             r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            self.assertTrue(p["tags"]["jaeger.version"].startswith("traceshim-"))
            self.assertEqual(p["tags"]["deployment.environment"], "test")
            self.assertEqual(p["tags"]["team"], "a,b")
            self.assertEqual(p["tags"]["process.pid"], res["process.pid"])

    def test_jaeger_client_variables(self):
        """A process configured the Jaeger clients' way: JAEGER_TAGS are
        process tags (OTEL_RESOURCE_ATTRIBUTES wins on a key in both),
        JAEGER_PROPAGATION=jaeger writes uber-trace-id alone, and under
        JAEGER_SAMPLER_TYPE the root span has the sampler tags the
        collector's adaptive sampling reads (string tags: it parses
        sampler.param), its child none."""
        agent = bk.UdpAgent()
        self.addCleanup(agent.close)
        down = bk.Collector([200])
        self.addCleanup(down.close)
        e = th.shim_env("decoded-svc", self.spans_file, TRACESHIM_EXPORTER="file,jaeger",
                        JAEGER_AGENT_HOST="127.0.0.1", JAEGER_AGENT_PORT=agent.port,
                        OTEL_RESOURCE_ATTRIBUTES="team=a%2Cb",
                        JAEGER_TAGS="zone=eu-1,team=jaeger,ratio=5%", JAEGER_PROPAGATION="jaeger",
                        JAEGER_SAMPLER_TYPE="const", JAEGER_SAMPLER_PARAM="1")
        srv, port = th.start_app_server(self, "decoded-svc", self.spans_file, self.tmp, env=e)
        th.http_get(port, "/call?to=%d&path=/down" % down.port)
        th.wait_spans(self.spans_file, 2, procs=(srv,))
        self.assertEqual(srv.stop(grace=20), 0, srv.describe())
        self.assertNotIn("traceshim", srv.stderr().decode(), srv.describe())
        fspans = th.read_spans(self.spans_file, strict=True)
        jspans, batches = self.jaeger_spans(agent)
        self.assertTrue(batches)
        for b in batches:
            tags = b["process"]["tags"]
            self.assertEqual((tags["zone"], tags["team"], tags["ratio"]), ("eu-1", "a,b", "5%"))
        for j in jspans.values():
            sampler = (j["tags"].get("sampler.type"), j["tags"].get("sampler.param"))
            self.assertEqual(sampler, ("const", "1") if j["parentSpanId"] == 0 else (None, None),
                             j["operationName"])
        res = fspans[0]["resource"]
        self.assertEqual((res["zone"], res["team"]), ("eu-1", "a,b"))
        _, hdrs, _ = down.wait_requests(1)[0]
        names = {k.lower() for k, _ in hdrs}
        self.assertIn("uber-trace-id", names)
        self.assertFalse(names & {"traceparent", "x-b3-traceid", "b3"}, hdrs)

    def test_jaeger_large_batch_is_split_into_datagrams(self):
        agent = bk.UdpAgent()
        self.addCleanup(agent.close)
        pad = "p" * 900
        paths = ["/ok?n=%d&pad=%s" % (i, pad) for i in range(120)]
        fspans = self.run_workload("jaeger", paths=paths, JAEGER_AGENT_HOST="localhost",
                                   JAEGER_AGENT_PORT=agent.port, OTEL_BSP_SCHEDULE_DELAY="60000")
        jspans, batches = self.jaeger_spans(agent)
        sizes = sorted(len(d) for d in agent.received())
        self.assertGreater(sum(sizes), 65000, "the workload must need more than one datagram")
        self.assertGreaterEqual(len(batches), 2, sizes)
        self.assertGreater(sizes[-1], 40000, "datagrams should be filled, not one span each")
        self.assertEqual(set(jspans), set(fspans))
        for sid, f in fspans.items():
            self.check_jaeger_span(f, jspans[sid])

    # ---------------------------------------------------------------- otlp

    def check_otlp_request(self, fspans, decoded, where):
        """decoded: one request in otlp_decode's common shape."""
        got = {}
        for rs in decoded["resource_spans"]:
            res = rs["resource"]
            fres = next(iter(fspans.values()))["resource"]
            self.assertEqual(res, fres, where + ": resource")
            for ss in rs["scope_spans"]:
                self.assertEqual(ss["scope"]["name"], "traceshim", where)
                for s in ss["spans"]:
                    got[s["span_id"]] = s
        self.assertEqual(set(got), set(fspans), where)
        for sid, f in fspans.items():
            s = got[sid]
            w = "%s span %s %r" % (where, sid, f["name"])
            self.assertEqual(s["trace_id"], f["traceId"], w)
            self.assertEqual(s.get("parent_span_id") or None, f["parentSpanId"], w)
            self.assertEqual(s["name"], f["name"], w)
            self.assertEqual(s["kind"], f["kind"], w)
            self.assertEqual(s["start_time_unix_nano"], f["start"], w)
            self.assertEqual(s["end_time_unix_nano"], f["end"], w)
            self.assertEqual(s["attributes"], f["attrs"], w)
            self.assertEqual(s.get("status_code", 0), f["status"], w)
            self.assertEqual(s["flags"], f["raw"].get("flags", 0), w)

    def otlp_run(self, protocol):
        c = bk.Collector([200])
        self.addCleanup(c.close)
        fspans = self.run_workload("otlp", OTEL_EXPORTER_OTLP_ENDPOINT="http://localhost:%d" % c.port,
                                   OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
        reqs = c.requests()
        self.assertGreaterEqual(len(reqs), 1)
        return fspans, reqs

    def test_otlp_protobuf_matches_file(self):
        import otlp_decode as od
        fspans, reqs = self.otlp_run("http/protobuf")
        merged = {"resource_spans": []}
        for line, headers, body in reqs:
            self.assertEqual(line, "POST /v1/traces HTTP/1.1")
            self.assertEqual(th.header_values(headers, "content-type"), ["application/x-protobuf"])
            merged["resource_spans"] += od.decode_otlp_proto(body)["resource_spans"]
        self.check_otlp_request(fspans, merged, "protobuf")

    def test_otlp_large_request_arrives_whole(self):
        """A batch's request of well over 64 KiB (more than one loopback
        segment, more than the socket takes at once) arrives as one request,
        every span in it as the file has it."""
        import otlp_decode as od
        c = bk.Collector([200])
        self.addCleanup(c.close)
        pad = "p" * 1500
        paths = ["/ok?n=%d&pad=%s" % (i, pad) for i in range(120)]
        fspans = self.run_workload("otlp", paths=paths,
                                   OTEL_EXPORTER_OTLP_ENDPOINT="http://localhost:%d" % c.port,
                                   OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                                   OTEL_BSP_SCHEDULE_DELAY="60000")
        reqs = c.requests()
        sizes = [len(body) for _, _, body in reqs]
        self.assertEqual(len(reqs), 1, sizes)
        self.assertGreater(sizes[0], 2 * 65536, "the request must be large")
        self.check_otlp_request(fspans, od.decode_otlp_proto(reqs[0][2]), "large protobuf")

    def test_http_exporters_send_before_a_batch_is_full(self):
        """An HTTP exporter's open batch goes once it holds 128 spans and
        the last send is 1 ms old, not at 512 (reporter.c rep_send_early:
        a 230 KB loopback write held a busy machine's processor). 300
        requests one at a time, the schedule delay a minute: the first
        request the collector sees holds 128 spans (more if the reporter
        fell behind), before the server's exit, and the requests hold
        every span once, as the file has them."""
        import otlp_decode as od
        for exporter in ("otlp", "zipkin"):
            with self.subTest(exporter=exporter):
                if os.path.exists(self.spans_file):
                    os.unlink(self.spans_file)  # the other exporter's run
                c = bk.Collector([200])
                self.addCleanup(c.close)
                endpoint = {"otlp": ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:%d"),
                            "zipkin": ("OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                                       "http://127.0.0.1:%d/api/v2/spans")}[exporter]
                fspans = self.run_workload(exporter, paths=["/ok?n=%d" % i for i in range(300)],
                                           OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                                           OTEL_BSP_SCHEDULE_DELAY="60000",
                                           **{endpoint[0]: endpoint[1] % c.port})
                counts, ids = [], []
                for _, _, body in c.requests():
                    if exporter == "otlp":
                        d = od.decode_otlp_proto(body)
                        got = [s["span_id"] for rs in d["resource_spans"]
                               for ss in rs["scope_spans"] for s in ss["spans"]]
                    else:
                        got = [s["id"] for s in json.loads(body)]
                    counts.append(len(got))
                    ids += got
                self.assertGreaterEqual(len(counts), 2, counts)
                self.assertTrue(128 <= counts[0] < 300, counts)
                self.assertEqual(sorted(ids), sorted(fspans), counts)

    def test_otlp_span_flags_say_where_the_parent_is(self):
        """OTLP's span flags (opentelemetry-proto 1.1): every exported span
        sampled (bit 0), and bits 8-9 whether its parent is remote. A server
        span under the caller's traceparent: remote (0x301); a root server
        span and the client span it makes: local (0x101). The file's spans
        and the protobuf export's say the same."""
        import otlp_decode as od
        c = bk.Collector([200])
        self.addCleanup(c.close)
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        e = th.shim_env("flags-svc", self.spans_file, TRACESHIM_EXPORTER="file,otlp",
                        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
        srv, port = th.start_app_server(self, "flags-svc", self.spans_file, self.tmp, env=e)
        down = bk.Collector([200])
        self.addCleanup(down.close)
        th.http_get(port, "/ok", headers=[("traceparent", tp)])
        th.http_get(port, "/call?to=%d&path=/down" % down.port)
        th.wait_spans(self.spans_file, 3, procs=(srv,))
        self.assertEqual(srv.stop(grace=20), 0, srv.describe())
        fspans = th.read_spans(self.spans_file, strict=True)
        flags = {(s["kind"], s["parentSpanId"] == "00f067aa0ba902b7"): s["raw"].get("flags")
                 for s in fspans}
        self.assertEqual(flags, {(th.KIND_SERVER, True): 0x301, (th.KIND_SERVER, False): 0x101,
                                 (th.KIND_CLIENT, False): 0x101}, th.format_spans(fspans))
        decoded = {}
        for _, _, body in c.requests():
            for rs in od.decode_otlp_proto(body)["resource_spans"]:
                for ss in rs["scope_spans"]:
                    decoded.update((x["span_id"], x["flags"]) for x in ss["spans"])
        self.assertEqual(decoded, {s["spanId"]: s["raw"]["flags"] for s in fspans})

    def test_otlp_json_matches_file(self):
        import otlp_decode as od
        fspans, reqs = self.otlp_run("http/json")
        merged = {"resource_spans": []}
        for line, headers, body in reqs:
            self.assertEqual(th.header_values(headers, "content-type"), ["application/json"])
            merged["resource_spans"] += od.from_otlp_json(json.loads(body))["resource_spans"]
        self.check_otlp_request(fspans, merged, "json")

    # ---------------------------------------------------------------- zipkin

    def test_zipkin_matches_file(self):
        import otlp_decode as od
        c = bk.Collector([202])
        self.addCleanup(c.close)
        fspans = self.run_workload(
            "zipkin", OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:%d/api/v2/spans" % c.port)
        got = {}
        for line, headers, body in c.requests():
            self.assertEqual(line, "POST /api/v2/spans HTTP/1.1")
            self.assertEqual(th.header_values(headers, "content-type"), ["application/json"])
            lst = json.loads(body)
            od.check_zipkin_v2(lst)
            for z in lst:
                got[z["id"]] = z
        self.assertEqual(set(got), set(fspans))
        for sid, f in fspans.items():
            z = got[sid]
            w = "span %s %r" % (sid, f["name"])
            self.assertEqual(z["traceId"], f["traceId"], w)
            self.assertEqual(z.get("parentId"), f["parentSpanId"], w)
            self.assertEqual(z["name"], f["name"], w)
            self.assertEqual(z["kind"], KINDS[f["kind"]].upper(), w)
            self.assertEqual(z["timestamp"], f["start"] // 1000, w)
            self.assertEqual(z["duration"], max(1, (f["end"] - f["start"]) // 1000), w)
            self.assertEqual(z["localEndpoint"]["serviceName"], "decoded-svc", w)
            peer = f["attrs"].get("network.peer.address")
            if peer:
                self.assertEqual(z["remoteEndpoint"].get("ipv4") or z["remoteEndpoint"].get("ipv6"),
                                 peer, w)
                self.assertEqual(z["remoteEndpoint"]["port"], f["attrs"]["network.peer.port"], w)
            for k, v in f["attrs"].items():
                self.assertEqual(z["tags"][k], str(v).lower() if isinstance(v, bool) else str(v),
                                 "%s tag %s" % (w, k))
            if f["status"] == th.STATUS_ERROR:
                self.assertIn("error", z["tags"], w)
            else:
                self.assertNotIn("error", z["tags"], w)
            # the resource, which Zipkin has no place for, in the tags
            for k, v in f["resource"].items():
                if k != "service.name":
                    self.assertEqual(z["tags"].get(k), str(v), "%s resource tag %s" % (w, k))
            self.assertEqual((z["tags"]["deployment.environment"], z["tags"]["team"]),
                             ("test", "a,b"), w)
            self.assertNotIn("service.name", z["tags"], w)
            self.assertNotIn("debug", z, w)

    # ------------------------------------------------------------ B3 debug

    def test_b3_debug_flag_exported(self):
        """curl sends B3's debug flag (X-B3-Flags: 1; b3 "d", from a traced
        curl too) or not: the spans of a debug trace, the server's and its
        call's, carry Zipkin's "debug": true and Jaeger's flags 3 (sampled
        and debug); the others neither."""
        curl = th.require_tool("curl")
        collector, agent, down = bk.Collector([202]), bk.UdpAgent(), bk.Collector([200])
        for c in (collector, agent, down):
            self.addCleanup(c.close)
        exporters = dict(TRACESHIM_EXPORTER="file,zipkin,jaeger",
                         OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:%d/api/v2/spans"
                         % collector.port,
                         JAEGER_AGENT_HOST="127.0.0.1", JAEGER_AGENT_PORT=agent.port)
        srv, port = th.start_app_server(self, "debug-svc", self.spans_file, self.tmp,
                                        env=th.shim_env("debug-svc", self.spans_file, **exporters))
        span = "00f067aa0ba902b7"
        multi, single, plain, traced = ("%032x" % (0xa0 + i) for i in range(4))
        requests = [  # (headers, path, whether curl is traced)
            (["X-B3-TraceId: " + multi, "X-B3-SpanId: " + span, "X-B3-Flags: 1"],
             "/call?to=%d&path=/down" % down.port, False),
            (["b3: %s-%s-d" % (single, span)], "/ok", False),
            (["b3: %s-%s-1" % (plain, span)], "/ok", False),
            ([], "/ok", False),
            (["b3: %s-%s-d" % (traced, span)], "/ok", True),
        ]
        debug_traces = {multi, single, traced}
        procs = [srv]
        for headers, path, traced_curl in requests:
            env = (th.shim_env("debug-curl", self.spans_file, **exporters) if traced_curl
                   else th.clean_env())
            argv = [curl, "-q", "-sS", "--max-time", "10", "-o", "/dev/null"]
            for h in headers:
                argv += ["-H", h]
            p = th.run(argv + ["http://127.0.0.1:%d%s" % (port, path)], env=env, tmpdir=self.tmp,
                       name="curl", timeout=20)
            self.assertEqual(p.returncode, 0, p.describe())
            procs.append(p)
        th.wait_spans(self.spans_file, 7, procs=procs)  # a call's 2, a traced curl's 1
        self.assertEqual(srv.stop(grace=20), 0, srv.describe())
        fspans = {s["spanId"]: s for s in th.read_spans(self.spans_file, strict=True)}
        self.assertEqual(len(fspans), 7, th.format_spans(fspans.values()))
        self.assertEqual(sum(s["traceId"] in debug_traces for s in fspans.values()), 5,
                         th.format_spans(fspans.values()))

        import otlp_decode as od
        zspans = {}
        for _, _, body in collector.requests():
            lst = json.loads(body)
            od.check_zipkin_v2(lst)
            zspans.update((z["id"], z) for z in lst)
        jspans, _ = self.jaeger_spans(agent)
        self.assertEqual(set(zspans), set(fspans))
        self.assertEqual(set(jspans), set(fspans))
        for sid, f in fspans.items():
            w = "span %s %r of %s" % (sid, f["name"], f["traceId"])
            if f["traceId"] in debug_traces:
                self.assertIs(zspans[sid].get("debug"), True, w)
                self.assertEqual(jspans[sid]["flags"], 3, w)
            else:
                self.assertNotIn("debug", zspans[sid], w)
                self.assertEqual(jspans[sid]["flags"], 1, w)


if __name__ == "__main__":
    th.main()
