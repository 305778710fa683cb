"""test_wget.py — wget and curl under the shim against a traced python server.

The client's span is the parent of the server's span, in one trace, and the
server app's /echo-headers shows each injected header exactly once, carrying
the client span's ids. wget reads its response with recv(MSG_PEEK) and then
read() (see IO-PROFILE.md), curl with recv() on a non-blocking socket.
"""

import json
import os
import sys
import unittest

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
        if tool == "wget":
            exe = th.require_tool("wget")
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

    def spans_of_one_request(self, tool):
        th.wait_spans(self.spans_file, 2)
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
        cli, srv, dump = self.spans_of_one_request(tool)
        self.assertEqual(cli["traceId"], srv["traceId"], "one trace" + dump)
        self.assertIsNone(cli["parentSpanId"], "the client span is a root" + dump)
        self.assertEqual(srv["parentSpanId"], cli["spanId"],
                         "the server span's parent is the client span" + dump)
        self.assertEqual((cli["name"], srv["name"]), ("GET /ok", "GET /ok"), dump)
        self.assertEqual(cli["pid"], proc.pid, dump)
        self.assertEqual(cli["attrs"].get("http.response.status_code"), 200, dump)
        self.assertEqual(srv["attrs"].get("http.response.status_code"), 200, dump)
        self.assertEqual(cli["attrs"].get("url.full"), "http://127.0.0.1:%d/ok" % self.port, dump)
        ua = srv["attrs"].get("user_agent.original") or ""
        self.assertTrue(ua.lower().startswith(tool), "user_agent.original %r" % ua + dump)

    def check_echo(self, tool):
        proc, out = self.fetch(tool, "/echo-headers")
        headers = json.loads(out)
        cli, srv, dump = self.spans_of_one_request(tool)
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
        cli, srv, dump = self.spans_of_one_request("curl")
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


if __name__ == "__main__":
    th.main()
