"""test_trust.py — signed inbound context (TRACESHIM_TRUST_INBOUND=hmac).

  client -> A (apps/httpapp.py /call?to=B) -> B (/ok)

Both servers run with TRACESHIM_TRUST_INBOUND=hmac and keys. A context is
honoured only with a valid "X-Traceshim-Signature: v1=<hex>" header, the
HMAC-SHA256 of "v1:<32 hex trace>:<16 hex span>:<0|1|d|->" (computed here
with Python's hmac, independently of the shim). A signs what it injects, so
B continues A's trace. An unsigned or wrongly signed context starts a new
trace at A, its ids kept as traceshim.untrusted.* attributes, and its
sampled / debug flags do not force sampling.
"""

import hashlib
import hmac
import os
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def signature(key, trace, span, flag):
    canon = "v1:%s:%s:%s" % (trace.rjust(32, "0"), span, flag)
    return "v1=" + hmac.new(key.encode(), canon.encode(), hashlib.sha256).hexdigest()


def b3(trace=TRACE, span=SPAN, sampled="1", flags=None):
    h = [("X-B3-TraceId", trace), ("X-B3-SpanId", span), ("X-B3-Sampled", sampled)]
    if flags:
        h.append(("X-B3-Flags", flags))
    return h


class TrustTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.curl = th.require_tool("curl")

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def server(self, service, keys="k1", mode="hmac", **extra):
        env = th.shim_env(service, self.spans_file, TRACESHIM_TRUST_INBOUND=mode,
                          TRACESHIM_HMAC_KEYS=keys, **extra)
        return th.start_app_server(self, service, self.spans_file, self.tmp, env=env)

    def chain(self, headers, a_keys="k1", b_keys="k1"):
        """Request A /call?to=B from this (untraced) process with headers;
        returns the 3 spans (A server, A client, B server) once final."""
        self.b, b_port = self.server("svc-b", b_keys)
        self.a, a_port = self.server("svc-a", a_keys)
        status, _ = th.http_get(a_port, "/call?to=%d&path=/ok" % b_port, headers)
        self.assertEqual(status, 200)
        th.wait_spans(self.spans_file, 3, procs=(self.a, self.b))
        return self.finish(3)

    def finish(self, expect):
        for p in (self.a, self.b):
            self.assertEqual(p.stop(), 0, p.describe())
            self.assertNotIn("traceshim", p.stderr().decode(), p.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), expect, th.format_spans(spans))
        return spans

    def find(self, spans, service, kind):
        return th.only([s for s in spans if s["service"] == service and s["kind"] == kind],
                       "span of %s with kind %d" % (service, kind), spans)

    def parts(self, spans):
        return (self.find(spans, "svc-a", th.KIND_SERVER), self.find(spans, "svc-a", th.KIND_CLIENT),
                self.find(spans, "svc-b", th.KIND_SERVER))

    def assert_continued(self, spans, trace, parent):
        """A continued (trace, parent), and B continued A's client span."""
        dump = "\n" + th.format_spans(spans)
        a_srv, a_cli, b_srv = self.parts(spans)
        self.assertEqual({s["traceId"] for s in spans}, {trace}, dump)
        self.assertEqual(a_srv["parentSpanId"], parent, dump)
        self.assertEqual(a_cli["parentSpanId"], a_srv["spanId"], dump)
        self.assertEqual(b_srv["parentSpanId"], a_cli["spanId"],
                         "B must trust the context A signed" + dump)
        for s in spans:
            self.assertNotIn("traceshim.untrusted.trace_id", s["attrs"], dump)

    def assert_not_honoured(self, spans, trace=TRACE, span=SPAN):
        """A started a new trace (keeping the ids it was sent); B continued it."""
        dump = "\n" + th.format_spans(spans)
        a_srv, a_cli, b_srv = self.parts(spans)
        self.assertNotEqual(a_srv["traceId"], trace, "untrusted trace continued" + dump)
        self.assertIsNone(a_srv["parentSpanId"], dump)
        self.assertEqual(a_srv["attrs"].get("traceshim.untrusted.trace_id"), trace, dump)
        self.assertEqual(a_srv["attrs"].get("traceshim.untrusted.span_id"), span, dump)
        self.assertEqual({s["traceId"] for s in spans}, {a_srv["traceId"]}, dump)
        self.assertEqual(b_srv["parentSpanId"], a_cli["spanId"], dump)
        self.assertNotIn("traceshim.untrusted.trace_id", b_srv["attrs"], dump)

    # ---------------------------------------------------------------- signed

    def test_signed_b3_continues_across_both(self):
        h = b3() + [("X-Traceshim-Signature", signature("k1", TRACE, SPAN, "1"))]
        self.assert_continued(self.chain(h), TRACE, SPAN)

    def test_signed_traceparent_verifies_like_b3(self):
        h = [("traceparent", "00-%s-%s-01" % (TRACE, SPAN)),
             ("X-Traceshim-Signature", signature("k1", TRACE, SPAN, "1"))]
        self.assert_continued(self.chain(h), TRACE, SPAN)

    def test_rotated_keys_old_signature_accepted(self):
        """A has "new,old"; the client signs with old; A signs with new, B knows new."""
        h = b3() + [("X-Traceshim-Signature", signature("old", TRACE, SPAN, "1"))]
        self.assert_continued(self.chain(h, a_keys="new,old", b_keys="new"), TRACE, SPAN)

    def test_traced_curl_signs_its_request(self):
        """curl under the shim (a client, hmac keys) signs its own context: 4 spans, one trace."""
        self.b, b_port = self.server("svc-b")
        self.a, a_port = self.server("svc-a")
        env = th.shim_env("curl-client", self.spans_file, TRACESHIM_TRUST_INBOUND="hmac",
                          TRACESHIM_HMAC_KEYS="k1")
        p = th.run([self.curl, "-q", "-sS", "--max-time", "10", "-o", "/dev/null",
                    "http://127.0.0.1:%d/call?to=%d&path=/ok" % (a_port, b_port)],
                   env=env, tmpdir=self.tmp, name="curl", timeout=20)
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(self.spans_file, 4, procs=(p, self.a, self.b))
        spans = self.finish(4)
        c = self.find(spans, "curl-client", th.KIND_CLIENT)
        self.assert_continued([s for s in spans if s is not c], c["traceId"], c["spanId"])

    def test_signature_holds_for_a_peer_reading_traceparent_only(self):
        """curl writes its own B3 context without a decision; the shim adds a
        traceparent saying the sampler's decision, and signs both readings:
        a peer that reads traceparent alone (OTEL_PROPAGATORS=tracecontext)
        verifies it too."""
        self.a, a_port = self.server("svc-a", OTEL_PROPAGATORS="tracecontext")
        env = th.shim_env("curl-client", self.spans_file, TRACESHIM_TRUST_INBOUND="hmac",
                          TRACESHIM_HMAC_KEYS="k1")
        p = th.run([self.curl, "-q", "-sS", "--max-time", "10", "-o", "/dev/null",
                    "-H", "b3: %s-%s" % (TRACE, SPAN), "http://127.0.0.1:%d/ok" % a_port],
                   env=env, tmpdir=self.tmp, name="curl", timeout=20)
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(self.spans_file, 2, procs=(p, self.a))
        self.assertEqual(self.a.stop(), 0, self.a.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        dump = "\n" + th.format_spans(spans)
        c = self.find(spans, "curl-client", th.KIND_CLIENT)
        srv = self.find(spans, "svc-a", th.KIND_SERVER)
        self.assertEqual(c["parentSpanId"], SPAN, dump)
        self.assertNotIn("traceshim.untrusted.trace_id", srv["attrs"], "A must trust it" + dump)
        self.assertEqual((srv["traceId"], srv["parentSpanId"]), (TRACE, SPAN), dump)

    # ---------------------------------------------------------------- not honoured

    def test_unsigned_curl_starts_new_trace(self):
        """curl not under the shim sends B3 with Sampled: 1 and no signature."""
        self.b, b_port = self.server("svc-b")
        self.a, a_port = self.server("svc-a")
        args = [self.curl, "-q", "-sS", "--max-time", "10", "-o", "/dev/null"]
        for k, v in b3():
            args += ["-H", "%s: %s" % (k, v)]
        p = th.run(args + ["http://127.0.0.1:%d/call?to=%d&path=/ok" % (a_port, b_port)],
                   env=th.clean_env(), tmpdir=self.tmp, name="curl", timeout=20)
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(self.spans_file, 3, procs=(p, self.a, self.b))
        self.assert_not_honoured(self.finish(3))

    def test_a_passed_on_outsiders_context_stays_unsigned_after_a_request_ends(self):
        """A single-threaded proxy reads request A, which carries an
        outsider's unsigned traceparent, serves request B whole (the
        thread then serves no request), and only then passes A's head on
        as it came. Its shim must not sign the outsider's context for B:
        it was refused when A came in, whichever request the thread
        serves when it goes out."""
        proxy = (
            "import socket, sys\n"
            "ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(8)\n"
            "print('LISTENING', ls.getsockname()[1], flush=True)\n"
            "def head(c):\n"
            "    d = b''\n"
            "    while b'\\r\\n\\r\\n' not in d:\n"
            "        r = c.recv(4096)\n"
            "        if not r: break\n"
            "        d += r\n"
            "    return d\n"
            "a, _ = ls.accept(); req_a = head(a)\n"
            "b, _ = ls.accept(); head(b)\n"
            "b.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok')\n"
            "b.close()\n"
            "u = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
            "u.sendall(req_a)\n"
            "resp = b''\n"
            "while True:\n"
            "    r = u.recv(65536)\n"
            "    if not r: break\n"
            "    resp += r\n"
            "a.sendall(resp); a.close()\n")
        self.b, b_port = self.server("svc-b")
        env = th.shim_env("svc-a", self.spans_file, TRACESHIM_TRUST_INBOUND="hmac",
                          TRACESHIM_HMAC_KEYS="k1")
        self.a = th.Proc([th.PY, "-c", proxy, str(b_port)], env=env, tmpdir=self.tmp, name="proxy")
        self.addCleanup(self.a.stop)
        a_port = int(self.a.wait_output(rb"LISTENING (\d+)\n", timeout=10).group(1))
        a = socket.create_connection(("127.0.0.1", a_port), timeout=10)
        self.addCleanup(a.close)
        a.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"traceparent: 00-%s-%s-01\r\n\r\n" % (TRACE.encode(), SPAN.encode()))
        time.sleep(0.3)  # A read before B connects
        status, _ = th.http_get(a_port, "/b")
        self.assertEqual(status, 200)
        answer = b""
        while True:
            r = a.recv(65536)
            if not r:
                break
            answer += r
        self.assertTrue(answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200"),
                        answer[:100])
        self.assertEqual(self.a.wait(10), 0, self.a.describe())
        th.wait_spans(self.spans_file, 4, procs=(self.a, self.b))
        spans = self.finish(4)
        dump = "\n" + th.format_spans(spans)
        b_srv = self.find(spans, "svc-b", th.KIND_SERVER)
        self.assertNotEqual(b_srv["traceId"], TRACE, "the outsider's trace was signed" + dump)
        self.assertEqual(b_srv["attrs"].get("traceshim.untrusted.trace_id"), TRACE, dump)

    def test_wrong_key_starts_new_trace(self):
        h = b3() + [("X-Traceshim-Signature", signature("other", TRACE, SPAN, "1"))]
        self.assert_not_honoured(self.chain(h))

    def test_signature_of_another_context_rejected(self):
        """A valid signature, but for another span id (or sampling flag)."""
        h = b3() + [("X-Traceshim-Signature", signature("k1", TRACE, SPAN, "0"))]
        self.assert_not_honoured(self.chain(h))

    def test_outsider_cannot_force_sampling(self):
        """parentbased_always_off: an unsigned Sampled: 1 / Flags: 1 / traceparent -01
        exports nothing; the same context signed is exported (the test has teeth)."""
        self.a, a_port = self.server("svc-a", OTEL_TRACES_SAMPLER="parentbased_always_off")
        self.b, _ = self.server("svc-b")
        attempts = [b3(), b3(flags="1"), b3(sampled="d"),
                    [("traceparent", "00-%s-%s-01" % (TRACE, SPAN))],
                    [("b3", "%s-%s-d" % (TRACE, SPAN))],
                    b3() + [("X-Traceshim-Signature", signature("wrong", TRACE, SPAN, "1"))]]
        for i, h in enumerate(attempts):
            status, _ = th.http_get(a_port, "/ok?attempt=%d" % i, h)
            self.assertEqual(status, 200)
        signed = "1111111111111111"
        h = b3(span=signed) + [("X-Traceshim-Signature", signature("k1", TRACE, signed, "1"))]
        self.assertEqual(th.http_get(a_port, "/ok?signed", h)[0], 200)
        time.sleep(0.3)
        spans = self.finish(1)
        self.assertEqual((spans[0]["traceId"], spans[0]["parentSpanId"]), (TRACE, signed),
                         th.format_spans(spans))

    def test_hmac_without_keys_trusts_nothing(self):
        env = th.shim_env("svc-a", self.spans_file, TRACESHIM_TRUST_INBOUND="hmac")
        self.a, a_port = th.start_app_server(self, "svc-a", self.spans_file, self.tmp, env=env)
        h = b3() + [("X-Traceshim-Signature", signature("k1", TRACE, SPAN, "1"))]
        self.assertEqual(th.http_get(a_port, "/ok", h)[0], 200)
        th.wait_spans(self.spans_file, 1, procs=(self.a,))
        self.assertEqual(self.a.stop(), 0)
        err = [ln for ln in self.a.stderr().decode().splitlines() if "traceshim" in ln]
        self.assertEqual(len(err), 1, self.a.describe())
        self.assertIn("TRACESHIM_HMAC_KEYS", err[0])
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), 1, th.format_spans(spans))
        self.assertNotEqual(spans[0]["traceId"], TRACE)
        self.assertEqual(spans[0]["attrs"].get("traceshim.untrusted.span_id"), SPAN)

    def test_mode_none_ignores_even_signed(self):
        env = th.shim_env("svc-a", self.spans_file, TRACESHIM_TRUST_INBOUND="none",
                          TRACESHIM_HMAC_KEYS="k1")
        self.a, a_port = th.start_app_server(self, "svc-a", self.spans_file, self.tmp, env=env)
        h = b3() + [("X-Traceshim-Signature", signature("k1", TRACE, SPAN, "1"))]
        self.assertEqual(th.http_get(a_port, "/ok", h)[0], 200)
        th.wait_spans(self.spans_file, 1, procs=(self.a,))
        self.assertEqual(self.a.stop(), 0)
        self.assertNotIn("traceshim", self.a.stderr().decode())
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), 1)
        self.assertNotEqual(spans[0]["traceId"], TRACE)
        self.assertIsNone(spans[0]["parentSpanId"])
        self.assertEqual(spans[0]["attrs"].get("traceshim.untrusted.trace_id"), TRACE)


if __name__ == "__main__":
    th.main()
