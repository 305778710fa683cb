"""test_wget.py — wget and curl under the shim against a traced python server.

The client's span is the parent of the server's span, in one trace, and the
server app's /echo-headers shows each injected header exactly once, carrying
the client span's ids. wget reads its response with recv(MSG_PEEK) and then
read() (see IO-PROFILE.md), curl with recv() on a non-blocking socket. wget2
opens its connections with TCP Fast Open: no connect, a sendto with
MSG_FASTOPEN and the server's address, which comes back with EINPROGRESS
(nothing sent) when the kernel holds no Fast Open cookie for the server, and
the request then goes again in a plain send.
"""

import json
import os
import sys
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402


class ClientToServerTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.srv, self.port = th.start_app_server(self, "py-server", self.spans_file, self.tmp)

    def fetch(self, tool, path, extra_args=()):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        if tool in ("wget", "wget2"):
            exe = th.require_tool(tool)
            argv = [exe, "--no-config", "-q", "--no-proxy", "--tries=1", "--timeout=10",
                    "-O", "-", *extra_args, url]
        else:
            exe = th.require_tool("curl")
            argv = [exe, "-q", "-sS", "--max-time", "10", *extra_args, url]
        env = th.shim_env(tool + "-client", self.spans_file)
        p = th.run(argv, env=env, tmpdir=self.tmp, name=tool, timeout=20)
        if p.returncode != 0:
            self.fail("%s failed (status %s)\n%s\n%s" % (tool, p.returncode, p.describe(),
                                                         self.srv.describe()))
        return p, p.stdout()

    def spans_of_one_request(self, tool, client):
        th.wait_spans(self.spans_file, 2, procs=(client, self.srv))
        self.assertEqual(self.srv.stop(), 0, "server must exit cleanly on SIGTERM\n%s"
                         % self.srv.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(len(spans), 2, "expected a client and a server span" + dump)
        cli = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client span", spans)
        srv = th.only([s for s in spans if s["kind"] == th.KIND_SERVER], "server span", spans)
        self.assertEqual(cli["service"], tool + "-client", dump)
        self.assertEqual(srv["service"], "py-server", dump)
        return cli, srv, dump

    def check_ok(self, tool):
        proc, out = self.fetch(tool, "/ok")
        self.assertEqual(out, b"ok")
        cli, srv, dump = self.spans_of_one_request(tool, proc)
        self.assertEqual(cli["traceId"], srv["traceId"], "one trace" + dump)
        self.assertIsNone(cli["parentSpanId"], "the client span is a root" + dump)
        self.assertEqual(srv["parentSpanId"], cli["spanId"],
                         "the server span's parent is the client span" + dump)
        self.assertEqual((cli["name"], srv["name"]), ("GET /ok", "GET /ok"), dump)
        self.assertEqual(cli["pid"], proc.pid, dump)
        self.assertEqual(cli["attrs"].get("http.response.status_code"), 200, dump)
        self.assertEqual(srv["attrs"].get("http.response.status_code"), 200, dump)
        # wget2 1.99 names no port in its Host header: the span's URL is the
        # one the request names
        authority = "127.0.0.1" if tool == "wget2" else "127.0.0.1:%d" % self.port
        self.assertEqual(cli["attrs"].get("url.full"), "http://%s/ok" % authority, dump)
        ua = srv["attrs"].get("user_agent.original") or ""
        self.assertTrue(ua.lower().startswith(tool), "user_agent.original %r" % ua + dump)

    def check_echo(self, tool):
        proc, out = self.fetch(tool, "/echo-headers")
        headers = json.loads(out)
        cli, srv, dump = self.spans_of_one_request(tool, proc)
        want = {
            "X-B3-TraceId": cli["traceId"],
            "X-B3-SpanId": cli["spanId"],
            "X-B3-Sampled": "1",
            "traceparent": "00-%s-%s-01" % (cli["traceId"], cli["spanId"]),
        }
        for name, value in want.items():
            self.assertEqual(th.header_values(headers, name), [value],
                             "%s through %s: headers the server saw: %r%s"
                             % (name, tool, headers, dump))
        self.assertEqual(th.header_values(headers, "X-B3-ParentSpanId"), [],
                         "a root client span sends no X-B3-ParentSpanId: %r" % headers)
        self.assertEqual(srv["parentSpanId"], cli["spanId"], dump)

    def test_wget_ok(self):
        self.check_ok("wget")

    def test_wget_echo_headers(self):
        self.check_echo("wget")

    def test_wget2_ok(self):
        self.check_ok("wget2")

    def test_wget2_echo_headers(self):
        self.check_echo("wget2")

    def test_curl_ok(self):
        self.check_ok("curl")

    def test_curl_echo_headers(self):
        self.check_echo("curl")

    def test_curl_with_its_own_b3_headers(self):
        """The user passes B3 headers to curl: no second copy goes out, curl's
        span continues that context, and the server (seeing the user's ids)
        becomes a child of the user's span id."""
        trace, sid = "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312"
        proc, out = self.fetch("curl", "/echo-headers", [
            "-H", "X-B3-TraceId: " + trace, "-H", "X-B3-SpanId: " + sid,
            "-H", "X-B3-Sampled: 1"])
        headers = json.loads(out)
        cli, srv, dump = self.spans_of_one_request("curl", proc)
        for name in th.TRACE_HEADERS:
            self.assertLessEqual(len(th.header_values(headers, name)), 1,
                                 "%s sent twice: %r" % (name, headers))
        self.assertEqual(th.header_values(headers, "X-B3-TraceId"), [trace], headers)
        self.assertEqual(th.header_values(headers, "X-B3-SpanId"), [sid], headers)
        tp = th.header_values(headers, "traceparent")
        self.assertIn(tp, ([], ["00-%s-%s-01" % (trace, sid)]),
                      "a traceparent, if added, must carry the user's context")
        self.assertEqual((cli["traceId"], cli["parentSpanId"]), (trace, sid),
                         "curl's span continues the user's context" + dump)
        self.assertEqual((srv["traceId"], srv["parentSpanId"]), (trace, sid),
                         "the server continues the ids it received" + dump)


class ServerExtractTest(th.TempDirMixin, unittest.TestCase):
    """An untraced raw client sends heads with chosen trace headers to the
    traced python server, several on one keep-alive connection."""

    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.srv, self.port = th.start_app_server(self, "py-server", self.spans_file, self.tmp)

    def test_server_extracts_context(self):
        t1, s1, p1 = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", "05e3ac9a4f6e3b90"
        t2, s2 = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        host = b"Host: 127.0.0.1:%d\r\n" % self.port
        reqs = [
            ("/ok?b3multi", b"GET /ok?b3multi HTTP/1.1\r\n" + host + b"User-Agent: raw/1\r\n"
             b"X-B3-TraceId: %s\r\nX-B3-SpanId: %s\r\nX-B3-ParentSpanId: %s\r\nX-B3-Sampled: 1\r\n\r\n"
             % (t1.encode(), s1.encode(), p1.encode()), (t1, s1)),
            ("/missing?traceparent", b"GET /missing?traceparent HTTP/1.1\r\n" + host +
             b"traceparent: 00-%s-%s-01\r\n\r\n" % (t2.encode(), s2.encode()), (t2, s2)),
            ("/fail?none", b"GET /fail?none HTTP/1.1\r\n" + host + b"User-Agent: raw/1\r\n\r\n", None),
        ]
        spec = {"connections": [{"port": self.port, "requests": [
            {"calls": [{"how": "send", "bufs": [r.hex()]}], "read": "http"} for _, r, _ in reqs]}]}
        proc, results = th.run_rawclient(self, spec, th.clean_env(), self.tmp, name="raw-untraced")
        statuses = [bytes.fromhex(r["response_hex"]).split(b" ", 2)[1]
                    for r in results[0]["requests"]]
        self.assertEqual(statuses, [b"200", b"404", b"500"])
        th.wait_spans(self.spans_file, 3, procs=(self.srv,))
        self.assertEqual(self.srv.stop(), 0, self.srv.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(len(spans), 3, "one server span per request on the connection" + dump)
        by = {s["name"]: s for s in spans}
        self.assertEqual(sorted(by), ["GET /fail", "GET /missing", "GET /ok"], dump)
        for s in spans:
            self.assertEqual(s["kind"], th.KIND_SERVER, dump)

        ok, missing, fail = by["GET /ok"], by["GET /missing"], by["GET /fail"]
        self.assertEqual((ok["traceId"], ok["parentSpanId"]), (t1, s1),
                         "B3 multi: the server span is a child of X-B3-SpanId" + dump)
        self.assertEqual((missing["traceId"], missing["parentSpanId"]), (t2, s2),
                         "traceparent: the server span is a child of its parent-id" + dump)
        self.assertIsNone(fail["parentSpanId"], "no trace headers: a root span" + dump)
        self.assertNotIn(fail["traceId"], (t1, t2), dump)

        self.assertEqual([s["attrs"].get("http.response.status_code") for s in (ok, missing, fail)],
                         [200, 404, 500], dump)
        self.assertEqual([s["status"] for s in (ok, missing, fail)],
                         [th.STATUS_UNSET, th.STATUS_UNSET, th.STATUS_ERROR],
                         "server spans: ERROR for 5xx only" + dump)
        self.assertEqual(ok["attrs"].get("user_agent.original"), "raw/1", dump)
        self.assertNotIn("user_agent.original", missing["attrs"],
                         "no User-Agent header: no user_agent.original" + dump)
        self.assertEqual(ok["attrs"].get("url.path"), "/ok", dump)
        self.assertEqual(ok["attrs"].get("url.scheme"), "http", dump)
        self.assertEqual(ok["pid"], self.srv.pid, dump)


if __name__ == "__main__":
    th.main()
