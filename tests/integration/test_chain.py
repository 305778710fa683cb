"""test_chain.py — curl -> server A -> server B, all three under the shim.

  curl http://127.0.0.1:A/call?to=B&path=/x
    A (apps/httpapp.py) calls http://127.0.0.1:B/x with urllib
      B (apps/httpapp.py) answers /x

Four spans, one trace: curl client (root) -> A server -> A client -> B server,
kinds 3/2/3/2, status codes and ERROR status by the rules, parents linked
through the injected headers. All processes append to one spans file.

ForwardedB3Test: A as a proxy (/forward) passing on B3 headers that came
without a sampling decision; the decision A's shim makes reaches B in them.
"""

import json
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402


class SpansFileCase(th.TempDirMixin, unittest.TestCase):
    """The library required; per test a fresh directory and spans file."""

    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")


class ChainTest(SpansFileCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.curl = th.require_tool("curl")

    def setUp(self):
        super().setUp()
        self.t0 = time.time_ns()
        self.b, self.b_port = th.start_app_server(self, "svc-b", self.spans_file, self.tmp)
        self.a, self.a_port = th.start_app_server(self, "svc-a", self.spans_file, self.tmp)

    def curl_get(self, url):
        env = th.shim_env("curl-client", self.spans_file)
        p = th.run([self.curl, "-q", "-sS", "--max-time", "10", "-o", "-", "-w",
                    "\n%{http_code}", url], env=env, tmpdir=self.tmp, name="curl", timeout=20)
        if p.returncode != 0:
            self.fail("curl failed (status %s)\n%s\n%s\n%s" % (p.returncode, p.describe(),
                                                              self.a.describe(), self.b.describe()))
        body, _, code = p.stdout().decode("utf-8", "replace").rpartition("\n")
        return p, int(code), body

    def chain(self, downstream_path):
        """Run the chain; return (curl proc, response body, spans) once all 4
        spans arrived and both servers stopped (so the file is final)."""
        url = "http://127.0.0.1:%d/call?to=%d&path=%s" % (self.a_port, self.b_port, downstream_path)
        curl, code, body = self.curl_get(url)
        self.assertEqual(code, 200, "A must answer 200 whatever B said; body %r" % body)
        th.wait_spans(self.spans_file, 4, procs=(curl, self.a, self.b))
        # stop the servers (SIGTERM: they exit cleanly and flush), then read the final file
        for p in (self.a, self.b):
            status = p.stop()
            self.assertEqual(status, 0, "%s did not exit cleanly on SIGTERM\n%s"
                             % (p.name, p.describe()))
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), 4, "expected exactly 4 spans (curl client, A server, "
                         "A client, B server):\n%s" % th.format_spans(spans))
        return curl, json.loads(body), spans

    def find(self, spans, service, kind):
        return th.only([s for s in spans if s["service"] == service and s["kind"] == kind],
                       "span of %s with kind %d" % (service, kind), spans)

    def check_chain(self, path, status, b_error):
        curl, resp, spans = self.chain(path)
        self.assertEqual(resp["status"], status, "A relayed B's status: %r" % resp)
        dump = "\n" + th.format_spans(spans)

        traces = {s["traceId"] for s in spans}
        self.assertEqual(len(traces), 1, "one trace id along the chain" + dump)

        c = self.find(spans, "curl-client", th.KIND_CLIENT)
        a_srv = self.find(spans, "svc-a", th.KIND_SERVER)
        a_cli = self.find(spans, "svc-a", th.KIND_CLIENT)
        b_srv = self.find(spans, "svc-b", th.KIND_SERVER)

        # parentage
        self.assertIsNone(c["parentSpanId"], "curl's client span is a root" + dump)
        self.assertEqual(a_srv["parentSpanId"], c["spanId"],
                         "A server's parent must be curl's client span" + dump)
        self.assertEqual(a_cli["parentSpanId"], a_srv["spanId"],
                         "A client's parent must be the server span A is serving" + dump)
        self.assertEqual(b_srv["parentSpanId"], a_cli["spanId"],
                         "B server's parent must be A's client span" + dump)

        # names
        self.assertEqual(c["name"], "GET /call", dump)
        self.assertEqual(a_srv["name"], "GET /call", dump)
        self.assertEqual(a_cli["name"], "GET " + path, dump)
        self.assertEqual(b_srv["name"], "GET " + path, dump)

        # status codes and span status
        def code(s):
            return s["attrs"].get("http.response.status_code")
        self.assertEqual((code(c), code(a_srv), code(a_cli), code(b_srv)),
                         (200, 200, status, status), "http.response.status_code" + dump)
        self.assertEqual(c["status"], th.STATUS_UNSET, "curl got 200: not an error" + dump)
        self.assertEqual(a_srv["status"], th.STATUS_UNSET, "A answered 200: not an error" + dump)
        self.assertEqual(a_cli["status"], th.STATUS_ERROR if status >= 400 else th.STATUS_UNSET,
                         "client span status for %d" % status + dump)
        self.assertEqual(b_srv["status"], th.STATUS_ERROR if b_error else th.STATUS_UNSET,
                         "server span status for %d" % status + dump)

        # resources
        self.assertEqual(c["pid"], curl.pid, "curl span's process.pid" + dump)
        self.assertEqual(a_srv["pid"], self.a.pid, dump)
        self.assertEqual(a_cli["pid"], self.a.pid, dump)
        self.assertEqual(b_srv["pid"], self.b.pid, dump)

        # attributes
        a = c["attrs"]
        self.assertEqual(
            {k: a.get(k) for k in ("http.request.method", "url.full", "server.address",
                                   "server.port", "network.peer.address", "network.peer.port")},
            {"http.request.method": "GET",
             "url.full": "http://127.0.0.1:%d/call?to=%d&path=%s" % (self.a_port, self.b_port, path),
             "server.address": "127.0.0.1", "server.port": self.a_port,
             "network.peer.address": "127.0.0.1", "network.peer.port": self.a_port},
            "curl client span attributes" + dump)
        a = a_cli["attrs"]
        self.assertEqual(
            {k: a.get(k) for k in ("http.request.method", "url.full", "server.address",
                                   "server.port", "network.peer.address", "network.peer.port")},
            {"http.request.method": "GET", "url.full": "http://127.0.0.1:%d%s" % (self.b_port, path),
             "server.address": "127.0.0.1", "server.port": self.b_port,
             "network.peer.address": "127.0.0.1", "network.peer.port": self.b_port},
            "A client span attributes" + dump)
        for srv, p, ua in ((a_srv, "/call", "curl/"), (b_srv, path, "Python-urllib/")):
            a = srv["attrs"]
            self.assertEqual(
                {k: a.get(k) for k in ("http.request.method", "url.path", "url.scheme",
                                       "client.address", "network.peer.address")},
                {"http.request.method": "GET", "url.path": p, "url.scheme": "http",
                 "client.address": "127.0.0.1", "network.peer.address": "127.0.0.1"},
                "%s server span attributes" % srv["service"] + dump)
            self.assertTrue(str(a.get("user_agent.original", "")).startswith(ua),
                            "user_agent.original of %s should start with %r" % (srv["service"], ua)
                            + dump)

        # times: plausible, and A's client span inside A's server span (one clock)
        t1 = time.time_ns()
        for s in spans:
            self.assertTrue(self.t0 - 5e9 <= s["start"] <= s["end"] <= t1 + 5e9,
                            "span times out of the test's window: %s" % th.format_spans([s]))
        self.assertTrue(a_srv["start"] <= a_cli["start"] and a_cli["end"] <= a_srv["end"],
                        "A's client span must lie inside A's server span" + dump)

    def test_chain_200(self):
        self.check_chain("/ok", 200, b_error=False)

    def test_chain_404(self):
        self.check_chain("/missing", 404, b_error=False)

    def test_chain_500(self):
        self.check_chain("/fail", 500, b_error=True)

    def test_injected_headers_seen_by_b(self):
        curl, resp, spans = self.chain("/echo-headers")
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(resp["status"], 200)
        headers = json.loads(resp["body"])
        a_srv = self.find(spans, "svc-a", th.KIND_SERVER)
        a_cli = self.find(spans, "svc-a", th.KIND_CLIENT)
        self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace id" + dump)
        trace = a_cli["traceId"]
        want = {
            "X-B3-TraceId": trace,
            "X-B3-SpanId": a_cli["spanId"],
            "X-B3-ParentSpanId": a_srv["spanId"],
            "X-B3-Sampled": "1",
            "traceparent": "00-%s-%s-01" % (trace, a_cli["spanId"]),
        }
        for name, value in want.items():
            vals = th.header_values(headers, name)
            self.assertEqual(vals, [value], "B received %s %r, expected exactly once %r\n"
                             "headers B received: %r%s" % (name, vals, value, headers, dump))
        # urllib's own headers are all still there, in order, before ours
        names = [k.lower() for k, _ in headers]
        self.assertEqual(names[-5:], [n.lower() for n in want],
                         "injected headers are the last lines of the head, in this order: %r" % headers)
        for own in ("accept-encoding", "host", "user-agent", "connection"):
            self.assertIn(own, names, "urllib's %s header lost: %r" % (own, headers))

    def test_tracestate_passed_on(self):
        """A request with traceparent and tracestate reaches A (from the
        untraced test process); A's own call to B carries A's client span's
        traceparent and that tracestate, exactly, once (W3C trace-context
        3.3: who passes a traceparent on passes its tracestate on)."""
        trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        state = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"
        status, body = th.http_get(self.a_port, "/call?to=%d&path=/echo-headers" % self.b_port,
                                   headers=[("traceparent", "00-%s-%s-01" % (trace, parent)),
                                            ("tracestate", state)])
        self.assertEqual(status, 200, body)
        resp = json.loads(body)
        headers = json.loads(resp["body"])
        th.wait_spans(self.spans_file, 3, procs=(self.a, self.b))
        for p in (self.a, self.b):
            p.stop()
        spans = th.read_spans(self.spans_file, strict=True)
        dump = "\n" + th.format_spans(spans)
        a_cli = self.find(spans, "svc-a", th.KIND_CLIENT)
        self.assertEqual(a_cli["traceId"], trace, dump)
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (trace, a_cli["spanId"])], "%r%s" % (headers, dump))
        self.assertEqual(th.header_values(headers, "tracestate"), [state],
                         "B must receive the tracestate A received, exactly once: %r" % headers)

    def test_a_long_tracestate_is_cut_by_whole_members(self):
        """A tracestate longer than the 512 characters every vendor passes
        on goes on without whole members (trace-context 3.3.1.5): those
        longer than 128 characters first, then from the end; what is left
        as it came, without the blanks around members."""
        trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        small = ["k%02d=%s" % (i, "v" * 36) for i in range(14)]  # 40 characters each
        big = "big=" + "b" * 200
        sent = ", ".join([small[0], big] + small[1:])
        status, body = th.http_get(self.a_port, "/call?to=%d&path=/echo-headers" % self.b_port,
                                   headers=[("traceparent", "00-%s-%s-01" % (trace, parent)),
                                            ("tracestate", sent)])
        self.assertEqual(status, 200, body)
        headers = json.loads(json.loads(body)["body"])
        th.wait_spans(self.spans_file, 3, procs=(self.a, self.b))
        for p in (self.a, self.b):
            p.stop()
        # 14 * 41 - 1 = 573 without the big one: the last two go too
        self.assertEqual(th.header_values(headers, "tracestate"), [",".join(small[:12])],
                         headers)
        spans = th.read_spans(self.spans_file, strict=True)
        a_srv = self.find(spans, "svc-a", th.KIND_SERVER)
        self.assertEqual(a_srv["raw"].get("traceState"), ",".join(small[:12]),
                         th.format_spans(spans))

    def test_probe_connection_makes_no_span(self):
        """A port probe (connect, close, no byte) is not a request."""
        th.wait_port(self.a_port, timeout=5, proc=self.a)
        th.wait_port(self.b_port, timeout=5, proc=self.b)
        curl, code, body = self.curl_get("http://127.0.0.1:%d/ok" % self.a_port)
        self.assertEqual((code, body), (200, "ok"))
        th.wait_spans(self.spans_file, 2, procs=(curl, self.a, self.b))
        for p in (self.a, self.b):
            p.stop()
        spans = th.read_spans(self.spans_file)
        self.assertEqual(len(spans), 2, "only curl's request makes spans (client + server):\n%s"
                         % th.format_spans(spans))


class ForwardedB3Test(SpansFileCase):
    """A traced proxy (A, /forward) passes the B3 headers of the request it
    serves on to B as they came, and they came with ids but no sampling
    decision. A's shim decides, rewrites the forwarded span id to its
    client span's, and must put that decision into the forwarded B3 too:
    B, which reads B3 first, follows it instead of deciding again."""

    T, S = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    def forward(self, inbound, a_sampler, b_sampler):
        """Start B and A with those samplers (None: the default), send
        inbound headers to A's /forward; returns (headers B received,
        spans) once both stopped."""
        b_env = th.shim_env("svc-b", self.spans_file, OTEL_TRACES_SAMPLER=b_sampler)
        a_env = th.shim_env("svc-a", self.spans_file, OTEL_TRACES_SAMPLER=a_sampler)
        b, b_port = th.start_app_server(self, "svc-b", self.spans_file, self.tmp, env=b_env)
        a, a_port = th.start_app_server(self, "svc-a", self.spans_file, self.tmp, env=a_env)
        status, body = th.http_get(a_port, "/forward?to=%d&path=/echo-headers" % b_port,
                                   headers=inbound)
        self.assertEqual(status, 200, body)
        resp = json.loads(body)
        self.assertEqual(resp["status"], 200, resp)
        for p in (a, b):  # SIGTERM: they flush what they recorded
            self.assertEqual(p.stop(), 0, "%s did not exit cleanly\n%s" % (p.name, p.describe()))
        return json.loads(resp["body"]), th.read_spans(self.spans_file, strict=True)

    def test_multi_not_sampled_at_the_proxy(self):
        headers, spans = self.forward([("X-B3-TraceId", self.T), ("X-B3-SpanId", self.S)],
                                      "parentbased_always_off", None)
        dump = "\nB received %r\n%s" % (headers, th.format_spans(spans))
        self.assertEqual(th.header_values(headers, "X-B3-Sampled"), ["0"], dump)
        span = th.header_values(headers, "X-B3-SpanId")
        self.assertEqual(len(span), 1, dump)
        self.assertNotEqual(span[0], self.S, "the forwarded id is the proxy's client span" + dump)
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-00" % (self.T, span[0])], dump)
        self.assertEqual(spans, [], "nobody records a trace the proxy did not" + dump)

    def test_single_not_sampled_at_the_proxy(self):
        headers, spans = self.forward([("b3", "%s-%s" % (self.T, self.S))],
                                      "parentbased_always_off", None)
        dump = "\nB received %r\n%s" % (headers, th.format_spans(spans))
        b3 = th.header_values(headers, "b3")
        self.assertEqual(len(b3), 1, dump)
        fields = b3[0].split("-")
        self.assertEqual(len(fields), 3, "b3 carries the decision" + dump)
        trace, span, decision = fields
        self.assertEqual((trace, decision), (self.T, "0"), dump)
        self.assertNotEqual(span, self.S, dump)
        self.assertEqual(th.header_values(headers, "X-B3-Sampled"), ["0"], dump)
        self.assertEqual(spans, [], "nobody records a trace the proxy did not" + dump)

    def test_sampled_at_the_proxy_is_followed(self):
        """The proxy samples (its default sampler); B would turn down a
        root or an open decision (parentbased_always_off) but follows."""
        for inbound in ([("X-B3-TraceId", self.T), ("X-B3-SpanId", self.S)],
                        [("b3", "%s-%s" % (self.T, self.S))]):
            with self.subTest(inbound=inbound):
                if os.path.exists(self.spans_file):
                    os.unlink(self.spans_file)
                headers, spans = self.forward(inbound, None, "parentbased_always_off")
                dump = "\nB received %r\n%s" % (headers, th.format_spans(spans))
                a_srv = th.only([s for s in spans if s["service"] == "svc-a"
                                 and s["kind"] == th.KIND_SERVER], "A's server span", spans)
                a_cli = th.only([s for s in spans if s["service"] == "svc-a"
                                 and s["kind"] == th.KIND_CLIENT], "A's client span", spans)
                b_srv = th.only([s for s in spans if s["service"] == "svc-b"],
                                "B's server span", spans)
                self.assertEqual({s["traceId"] for s in spans}, {self.T}, "one trace" + dump)
                self.assertEqual(a_srv["parentSpanId"], self.S, dump)
                self.assertEqual(a_cli["parentSpanId"], a_srv["spanId"], dump)
                self.assertEqual(b_srv["parentSpanId"], a_cli["spanId"], dump)
                if inbound[0][0] == "b3":
                    self.assertEqual(th.header_values(headers, "b3"),
                                     ["%s-%s-1" % (self.T, a_cli["spanId"])], dump)
                else:
                    self.assertEqual(th.header_values(headers, "X-B3-Sampled"), ["1"], dump)


    def test_forwarded_b3_passes_the_tracestate_on(self):
        """A proxy that forwards the B3 headers alone of a request that came
        with a traceparent and a tracestate too: the traceparent the shim
        adds for its client span goes with that tracestate, and the client
        span has it (W3C trace-context: a tracestate received is sent on;
        it was lost, where a proxy forwarding nothing passed it on)."""
        state = "congo=t61rcWkgMzE"
        headers, spans = self.forward([("X-B3-TraceId", self.T), ("X-B3-SpanId", self.S),
                                       ("X-B3-Sampled", "1"),
                                       ("traceparent", "00-%s-%s-01" % (self.T, self.S)),
                                       ("tracestate", state)], None, None)
        dump = "\nB received %r\n%s" % (headers, th.format_spans(spans))
        a_cli = th.only([s for s in spans if s["service"] == "svc-a"
                         and s["kind"] == th.KIND_CLIENT], "A's client span", spans)
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (self.T, a_cli["spanId"])], dump)
        self.assertEqual(th.header_values(headers, "tracestate"), [state], dump)
        self.assertEqual(a_cli["raw"].get("traceState"), state, dump)


if __name__ == "__main__":
    th.main()
