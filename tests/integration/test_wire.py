"""test_wire.py — exactly which bytes reach the peer.

A recording server in this process (never traced) keeps every byte it
receives; apps/rawclient.py, under the shim, sends requests with precisely
chosen system calls. The peer must receive the program's bytes plus exactly
the injected lines (X-B3-TraceId, X-B3-SpanId, [X-B3-ParentSpanId],
X-B3-Sampled, traceparent) just before the blank line ending the head, with
the ids of the client span found in the spans file, and every send must
return the count of the program's own bytes.
"""

import errno
import os
import random
import socket
import struct
import sys
import threading
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

# Span names are the raw paths here (no built-in {id} collapsing, README
# "Rules"): these tests tell requests apart by their names.
RAW_ROUTES = "^(.*)$=$1"


def call(how, *bufs, pause_ms=0):
    return {"how": how, "bufs": [b.hex() for b in bufs], "pause_ms": pause_ms}


def request(*calls, read="http"):
    return {"calls": list(calls), "read": read}


def connection(port, *requests):
    return {"port": port, "nodelay": True, "requests": list(requests)}


def respond_by_path(req):
    """The recording server's answer: the status is chosen by the path."""
    line = req.split(b"\r\n", 1)[0]
    if b"/status/404" in line:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissing"
    if b"/status/500" in line:
        return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail"
    return th.RecordingServer.DEFAULT_RESPONSE


class WireTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.srv = th.RecordingServer(mode="http", response=respond_by_path)
        self.addCleanup(self.srv.close)
        self.port = self.srv.port

    # -- helpers

    def head(self, path, method="GET", extra=b"", body=None):
        h = (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: rawclient/1\r\n"
             b"Accept: */*\r\n" % (method.encode(), path.encode(), self.port))
        if body is not None:
            h += b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(body)
        return h + extra + b"\r\n"

    def traced(self, *connections, env_extra=None, name="rawclient"):
        env = th.shim_env("rawclient", self.spans_file,
                           **dict({"TRACESHIM_ROUTES": RAW_ROUTES}, **(env_extra or {})))
        proc, results = th.run_rawclient(self, {"connections": list(connections)}, env,
                                         self.tmp, name=name)
        self.assertEqual(len(results), len(connections),
                         "rawclient printed %d results for %d connections\n%s"
                         % (len(results), len(connections), proc.describe()))
        return proc, results

    def client_span(self, spans, name):
        return th.only([s for s in spans if s["name"] == name and s["kind"] == th.KIND_CLIENT],
                       "client span named %r" % name, spans)

    def assert_injected(self, original, received, span, what=""):
        expected = th.with_injection(original, span["traceId"], span["spanId"],
                                     span["parentSpanId"])
        if bytes(received) != expected:
            self.fail("%s: the peer did not receive the program's bytes plus exactly the "
                      "injected lines for client span %s/%s (parent %s): %s"
                      % (what or span["name"], span["traceId"], span["spanId"],
                         span["parentSpanId"], th.diff_bytes(expected, bytes(received))))

    def final_spans(self, count):
        """The client has exited: the file is final. Exactly `count` spans, well formed."""
        th.wait_spans(self.spans_file, count, timeout=th.AFTER_EXIT_TIMEOUT)
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), count, "expected exactly %d spans:\n%s"
                         % (count, th.format_spans(spans)))
        return spans

    # -- (a) one send

    def test_a_head_in_one_send(self):
        orig = self.head("/wire/a?q=1&r=two")
        proc, results = self.traced(connection(self.port, request(call("send", orig))))
        (conn,) = self.srv.wait_closed(1)
        res = results[0]["requests"][0]
        self.assertEqual(res["sent"], [len(orig)], "send() must return the program's own count")
        self.assertEqual(bytes.fromhex(res["response_hex"]), th.RecordingServer.DEFAULT_RESPONSE,
                         "the program must receive the server's response unchanged")
        spans = self.final_spans(1)
        s = self.client_span(spans, "GET /wire/a")
        self.assertIsNone(s["parentSpanId"], "a program serving nothing starts a root span")
        self.assert_injected(orig, conn.data, s)
        self.assertEqual(s["service"], "rawclient")
        self.assertEqual(s["pid"], proc.pid)
        a = s["attrs"]
        want = {
            "http.request.method": "GET",
            "url.full": "http://127.0.0.1:%d/wire/a?q=1&r=two" % self.port,
            "server.address": "127.0.0.1",
            "server.port": self.port,
            "network.peer.address": "127.0.0.1",
            "network.peer.port": self.port,
            "http.response.status_code": 200,
        }
        got = {k: a.get(k) for k in want}
        self.assertEqual(got, want, "client span attributes:\n%s" % th.format_spans([s]))
        self.assertEqual(s["status"], th.STATUS_UNSET)
        self.assertTrue(s["start"] <= s["end"], "start after end")

    def test_a2_parent_from_traceparent_env(self):
        """TRACEPARENT in the environment (OTel env carrier, DESIGN.md §1) is the
        parent: the head carries X-B3-ParentSpanId."""
        trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        orig = self.head("/wire/a2")
        self.traced(connection(self.port, request(call("send", orig))),
                    env_extra={"TRACEPARENT": "00-%s-%s-01" % (trace, parent)})
        (conn,) = self.srv.wait_closed(1)
        s = self.client_span(self.final_spans(1), "GET /wire/a2")
        self.assertEqual((s["traceId"], s["parentSpanId"]), (trace, parent),
                         "client span must continue the TRACEPARENT context")
        self.assert_injected(orig, conn.data, s)
        self.assertIn(b"X-B3-ParentSpanId: %s\r\n" % parent.encode(), bytes(conn.data))

    # -- (b) split heads

    def split_offsets(self, n):
        return list(range(1, n))  # every byte offset

    def test_b_head_split_in_two_sends_at_every_offset(self):
        def orig_for(i):
            return self.head("/split/%03d" % i)
        n = len(orig_for(0))
        offsets = self.split_offsets(n)
        conns = []
        for i in offsets:
            o = orig_for(i)
            conns.append(connection(self.port, request(call("send", o[:i]),
                                                       call("send", o[i:], pause_ms=2))))
        proc, results = self.traced(*conns)
        received = self.srv.wait_closed(len(offsets))
        spans = self.final_spans(len(offsets))
        failures = []
        for k, i in enumerate(offsets):
            o = orig_for(i)
            sent = results[k]["requests"][0]["sent"]
            if sent != [i, n - i]:
                failures.append("offset %d: send() returned %s, expected %s" % (i, sent, [i, n - i]))
            match = [s for s in spans if s["name"] == "GET /split/%03d" % i]
            if len(match) != 1:
                failures.append("offset %d: %d client spans named GET /split/%03d" % (i, len(match), i))
                continue
            s = match[0]
            exp = th.with_injection(o, s["traceId"], s["spanId"], s["parentSpanId"])
            if bytes(received[k].data) != exp:
                failures.append("offset %d (%r | %r): %s" % (
                    i, o[max(0, i - 8):i], o[i:i + 8],
                    th.diff_bytes(exp, bytes(received[k].data), context=40, full=not failures)))
        if failures:
            self.fail("%d of %d split points failed:\n%s"
                      % (len(failures), len(offsets), "\n".join(failures[:8])))

    def test_b2_head_written_line_by_line(self):
        orig = self.head("/lines", extra=b"X-Custom: a\r\n")
        lines = [ln + b"\r\n" for ln in orig.split(b"\r\n")[:-1]]
        self.assertEqual(b"".join(lines), orig)
        calls = [call("write", ln, pause_ms=2) for ln in lines]
        proc, results = self.traced(connection(self.port, request(*calls)))
        (conn,) = self.srv.wait_closed(1)
        self.assertEqual(results[0]["requests"][0]["sent"], [len(ln) for ln in lines])
        s = self.client_span(self.final_spans(1), "GET /lines")
        self.assert_injected(orig, conn.data, s)

    # -- (c) sendmsg / writev with several buffers

    def test_c_sendmsg_buffers_and_body_in_one_call(self):
        body = b'{"k":"v","n":12345,"bin":"\x00\x01\xff"}'
        h1 = self.head("/c/get3")
        h2 = self.head("/c/post", method="POST", body=body)
        h3 = self.head("/c/crlf", method="POST", body=body)
        h4 = self.head("/c/writev", method="PUT", body=body)
        cases = [
            # (name, original bytes, buffers of the one call, how)
            ("GET /c/get3", h1, [h1[:10], h1[10:40], h1[40:]], "sendmsg"),
            ("POST /c/post", h2 + body, [h2[:25], h2[25:], body], "sendmsg"),
            ("POST /c/crlf", h3 + body, [h3[:-3], h3[-3:] + body[:5], body[5:]], "sendmsg"),
            ("PUT /c/writev", h4 + body, [h4, body[:7], body[7:]], "writev"),
        ]
        conns = [connection(self.port, request(call(how, *bufs))) for _, _, bufs, how in cases]
        proc, results = self.traced(*conns)
        received = self.srv.wait_closed(len(cases))
        spans = self.final_spans(len(cases))
        for k, (name, orig, bufs, how) in enumerate(cases):
            with self.subTest(name=name, how=how):
                self.assertEqual(results[k]["requests"][0]["sent"], [len(orig)],
                                 "%s must return the program's own count" % how)
                s = self.client_span(spans, name)
                self.assert_injected(orig, received[k].data, s, name)

    # -- (d) body in its own send

    def test_d_post_body_in_separate_sends(self):
        body = bytes(range(256)) * 3
        head = self.head("/d/upload", method="POST", body=body)
        proc, results = self.traced(
            connection(self.port, request(call("send", head),
                                          call("send", body[:100], pause_ms=2),
                                          call("send", body[100:], pause_ms=2))))
        (conn,) = self.srv.wait_closed(1)
        self.assertEqual(results[0]["requests"][0]["sent"], [len(head), 100, len(body) - 100])
        s = self.client_span(self.final_spans(1), "POST /d/upload")
        self.assert_injected(head + body, conn.data, s)
        self.assertEqual(s["attrs"].get("http.request.method"), "POST")
        self.assertEqual(s["attrs"].get("http.response.status_code"), 200)

    # -- (e) the program propagates itself

    def check_own_context(self, orig, received, span, trace, parent, allowed_extra):
        """received must be orig, or orig plus lines (from allowed_extra, built
        from the program's own ids) before the blank line; never a second copy
        of a trace header; the client span continues the program's context."""
        received = bytes(received)
        _, got_headers, _ = th.parse_head(received)
        for name in th.TRACE_HEADERS:
            vals = th.header_values(got_headers, name)
            self.assertLessEqual(len(vals), 1, "%s appears %d times on the wire: %r"
                                 % (name, len(vals), received))
        if received != orig:
            self.assertTrue(received.startswith(orig[:-2]) and received.endswith(b"\r\n\r\n"),
                            "the program's bytes were changed, not only appended to: %s"
                            % th.diff_bytes(orig, received))
            extra = received[len(orig) - 2:-2]
            for ln in extra.split(b"\r\n")[:-1]:
                self.assertIn(ln + b"\r\n", allowed_extra,
                              "added line %r does not carry the program's context %s/%s"
                              % (ln, trace, parent))
        self.assertEqual(span["traceId"], trace, "client span must keep the program's trace id\n%s"
                         % th.format_spans([span]))
        self.assertEqual(span["parentSpanId"], parent,
                         "client span's parent must be the span id the program sent\n%s"
                         % th.format_spans([span]))
        self.assertNotEqual(span["spanId"], parent)

    def test_e_program_sends_its_own_b3(self):
        trace, sid = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
        cases = [
            ("/e/canonical", b"X-B3-TraceId: %s\r\nX-B3-SpanId: %s\r\nX-B3-Sampled: 1\r\n"),
            ("/e/lower", b"x-b3-traceid: %s\r\nx-b3-spanid: %s\r\nx-b3-sampled: 1\r\n"),
        ]
        origs = [self.head(p, extra=(x % (trace.encode(), sid.encode()))) for p, x in cases]
        self.traced(*[connection(self.port, request(call("send", o))) for o in origs])
        received = self.srv.wait_closed(len(cases))
        spans = self.final_spans(len(cases))
        allowed = b"traceparent: 00-%s-%s-01\r\n" % (trace.encode(), sid.encode())
        for k, (path, _) in enumerate(cases):
            with self.subTest(path=path):
                s = self.client_span(spans, "GET " + path)
                self.check_own_context(origs[k], received[k].data, s, trace, sid, allowed)

    def test_e2_program_sends_its_own_traceparent(self):
        trace, sid = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
        orig = self.head("/e2", extra=b"traceparent: 00-%s-%s-01\r\n" % (trace.encode(), sid.encode()))
        self.traced(connection(self.port, request(call("send", orig))))
        (conn,) = self.srv.wait_closed(1)
        s = self.client_span(self.final_spans(1), "GET /e2")
        allowed = (b"X-B3-TraceId: %s\r\nX-B3-SpanId: %s\r\nX-B3-Sampled: 1\r\n"
                   % (trace.encode(), sid.encode()))
        self.check_own_context(orig, conn.data, s, trace, sid, allowed)

    # -- (f) keep-alive

    def test_f_keepalive_three_requests_one_connection(self):
        paths = ["/ka/1", "/ka/status/404", "/ka/status/500"]
        origs = [self.head(p) for p in paths]
        proc, results = self.traced(
            connection(self.port, *[request(call("send", o, pause_ms=2)) for o in origs]))
        (conn,) = self.srv.wait_closed(1)
        self.assertEqual(len(conn.requests), 3, "server saw %d requests on the connection: %r"
                         % (len(conn.requests), bytes(conn.data)))
        spans = self.final_spans(3)
        self.assertEqual(len({s["spanId"] for s in spans}), 3, "span ids must differ")
        for k, (path, orig) in enumerate(zip(paths, origs)):
            with self.subTest(path=path):
                self.assertEqual(results[0]["requests"][k]["sent"], [len(orig)])
                s = self.client_span(spans, "GET " + path)
                _, headers, _ = th.parse_head(conn.requests[k])
                self.assertEqual(th.header_values(headers, "X-B3-SpanId"), [s["spanId"]],
                                 "request %d must carry its own client span's id" % (k + 1))
                self.assertEqual(th.header_values(headers, "X-B3-TraceId"), [s["traceId"]])
                self.assert_injected(orig, conn.requests[k], s, "request %d" % (k + 1))
        by = {s["name"]: s for s in spans}
        self.assertEqual(by["GET /ka/1"]["attrs"].get("http.response.status_code"), 200)
        self.assertEqual(by["GET /ka/1"]["status"], th.STATUS_UNSET)
        self.assertEqual(by["GET /ka/status/404"]["attrs"].get("http.response.status_code"), 404)
        self.assertEqual(by["GET /ka/status/404"]["status"], th.STATUS_ERROR,
                         "a client span with a 4xx response is an ERROR")
        self.assertEqual(by["GET /ka/status/500"]["attrs"].get("http.response.status_code"), 500)
        self.assertEqual(by["GET /ka/status/500"]["status"], th.STATUS_ERROR)

    # -- (h) short writes on a non-blocking socket

    def test_h_short_writes_nonblocking(self):
        """A small send buffer, a slow reader and a non-blocking socket: sends
        return short counts and EAGAIN, sometimes before, inside or after the
        injection point. Every count is the program's own (they add up to
        its bytes, none is 0) and the peer gets exactly program + injected lines."""
        slow = th.RecordingServer(mode="http", rcvbuf=4096, recv_size=2048, recv_delay=0.0003)
        self.addCleanup(slow.close)
        body = bytes(range(256)) * 256  # 64 KiB
        cases = []
        # heads of 2.3 to 12.3 KB, none within the lines' length below 8 KiB
        # (a server bound the lines would cross: they are left out there)
        for k, pad in enumerate(range(2250, 12251, 500)):
            how = ("send", "sendmsg", "write", "writev")[k % 4]
            head = (b"POST /short/%02d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Pad: %s\r\n"
                    b"Content-Length: %d\r\n\r\n" % (k, slow.port, b"p" * pad, len(body)))
            bufs = [head + body] if how in ("send", "write") else [head[:50], head[50:], body]
            cases.append(("POST /short/%02d" % k, head + body, how, bufs))
        conns = [{"port": slow.port, "nonblocking": True, "sndbuf": 4096,
                  "requests": [request(call(how, *bufs))]} for _, _, how, bufs in cases]
        proc, results = self.traced(*conns)
        received = slow.wait_closed(len(cases), timeout=20)
        spans = self.final_spans(len(cases))
        failures, shorts = [], 0
        for k, (name, orig, how, bufs) in enumerate(cases):
            res = results[k]["requests"][0]
            sent = res["sent"]
            shorts += len(sent) > 1
            if sum(sent) != len(orig) or any(r <= 0 for r in sent):
                failures.append("%s (%s): returns %s add up to %d, the program wrote %d"
                                % (name, how, sent, sum(sent), len(orig)))
            match = [s for s in spans if s["name"] == name]
            if len(match) != 1:
                failures.append("%s: %d spans" % (name, len(match)))
                continue
            s = match[0]
            exp = th.with_injection(orig, s["traceId"], s["spanId"], s["parentSpanId"])
            if bytes(received[k].data) != exp:
                failures.append("%s (%s, returns %s): %s" % (
                    name, how, sent, th.diff_bytes(exp, bytes(received[k].data), full=False)))
        if failures:
            self.fail("%d of %d short-write cases failed:\n%s"
                      % (len(failures), len(cases), "\n".join(failures[:10])))
        self.assertGreater(shorts, 0, "the test provoked no short write (harness problem)")

    def test_h2_short_writes_with_full_send_buffer(self):
        """As (h), but the next request's head goes out while the send buffer
        is still full of the previous request's body (the server answered
        early and reads slowly): the head itself and the injected lines are
        cut by short writes and EAGAIN."""
        slow = th.RecordingServer(mode="http", rcvbuf=4096, recv_size=1024, recv_delay=0.0002,
                                  early_response=True)
        self.addCleanup(slow.close)
        fill = bytes(range(256)) * 256  # 64 KiB
        body = b"B" * 3000
        cases = []
        # the free space left at the second head is about 2 KiB here; dense
        # sizes around it make the cut fall before, inside and after the
        # injection point
        pads = list(range(100, 6101, 400)) + list(range(1500, 2400, 25))
        for k, pad in enumerate(pads):
            how = ("send", "sendmsg", "write", "writev")[k % 4]
            h1 = (b"POST /fill/%02d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
                  % (k, slow.port, len(fill)))
            h2 = (b"POST /short2/%02d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Pad: %s\r\n"
                  b"Content-Length: %d\r\n\r\n" % (k, slow.port, b"p" * pad, len(body)))
            bufs = [h2 + body] if how in ("send", "write") else [h2[:30], h2[30:], body]
            cases.append((k, h1 + fill, h2 + body, how, bufs))
        conns = [{"port": slow.port, "nonblocking": True, "sndbuf": 4096,
                  "requests": [request(call("send", r1)), request(call(how, *bufs))]}
                 for _, r1, _, how, bufs in cases]
        proc, results = self.traced(*conns)
        received = slow.wait_closed(len(cases), timeout=30)
        spans = self.final_spans(2 * len(cases))
        failures, shorts = [], 0
        for (k, r1, r2, how, bufs), conn, res in zip(cases, received, results):
            for i, (orig, name) in enumerate(((r1, "POST /fill/%02d" % k),
                                              (r2, "POST /short2/%02d" % k))):
                sent = res["requests"][i]["sent"]
                if i == 1:
                    shorts += len(sent) > 1 or res["requests"][i]["eagain"] > 0
                if sum(sent) != len(orig) or any(r <= 0 for r in sent):
                    failures.append("%s (%s): returns %s add up to %d, the program wrote %d"
                                    % (name, how, sent, sum(sent), len(orig)))
                match = [s for s in spans if s["name"] == name]
                if len(match) != 1:
                    failures.append("%s: %d spans" % (name, len(match)))
                    continue
                if len(conn.requests) != 2:
                    failures.append("%s: the server parsed %d requests" % (name, len(conn.requests)))
                    continue
                s = match[0]
                exp = th.with_injection(orig, s["traceId"], s["spanId"], s["parentSpanId"])
                if conn.requests[i] != exp:
                    failures.append("%s (%s, returns %s): %s" % (
                        name, how, sent[:8], th.diff_bytes(exp, conn.requests[i], full=False)))
        if failures:
            self.fail("%d failures in %d connections:\n%s"
                      % (len(failures), len(cases), "\n".join(failures[:10])))
        self.assertGreater(shorts, 0, "the test provoked no short write (harness problem)")

    # -- (g) not HTTP

    def test_i_sends_with_an_address_or_a_control_message(self):
        """sendto with the peer's address, and sendmsg with an address
        (sendmmsg's messages often carry one), are the stream's sends on a
        connected TCP socket (the kernel ignores the address): traced as
        send is. A sendmsg with a control message is passed on as it came:
        the rest of the connection is not traced, but no span is wrong (its
        request's answer once went to the next request's span: a 404 on a
        200)."""
        first, second = self.head("/wire/to"), self.head("/wire/after-to")
        self.traced(connection(self.port, request(call("sendto", first)),
                               request(call("send", second))))
        (conn,) = self.srv.wait_closed(1)
        spans = self.final_spans(2)
        received = list(th.complete_requests(bytearray(conn.data)))
        self.assertEqual(len(received), 2, conn.data)
        for orig, got, name in ((first, received[0], "GET /wire/to"),
                                (second, received[1], "GET /wire/after-to")):
            span = self.client_span(spans, name)
            self.assert_injected(orig, got, span)
            self.assertEqual(span["attrs"].get("http.response.status_code"), 200,
                             th.format_spans(spans))
        os.unlink(self.spans_file)
        # pipelined: the control message's request answered 404, the next 200
        missing, ok = self.head("/status/404/cmsg"), self.head("/wire/after-cmsg")
        proc, results = self.traced(connection(
            self.port, request(call("sendmsg_cmsg", missing), read="none"),
            request(call("send", ok)), request(read="http")))
        statuses = [bytes.fromhex(r["response_hex"])[:12] for r in results[0]["requests"][1:]]
        self.assertEqual(statuses, [b"HTTP/1.1 404", b"HTTP/1.1 200"], proc.describe())
        conn = self.srv.wait_closed(2)[1]
        self.assertEqual(bytes(conn.data), missing + ok, "passed on as the program sent it")
        spans = th.read_spans(self.spans_file, strict=True)
        for s in spans:
            self.assertNotEqual((s["name"], s["attrs"].get("http.response.status_code")),
                                ("GET /wire/after-cmsg", 404), th.format_spans(spans))

    def test_g_non_http_passes_untouched(self):
        echo = th.RecordingServer(mode="echo")
        self.addCleanup(echo.close)
        rnd = random.Random(20240601)
        blob = bytes(rnd.getrandbits(8) for _ in range(6000))
        ping = b"*1\r\n$4\r\nPING\r\n"
        setcmd = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nGET / HTTP/1\r\n"
        cases = [
            ("random, 3 sends", [call("send", blob[:1000]), call("send", blob[1000:1001], pause_ms=2),
                                 call("send", blob[1001:], pause_ms=2)], blob),
            ("random, sendmsg", [call("sendmsg", blob[:7], blob[7:3000], blob[3000:])], blob),
            ("redis PING", [call("send", ping)], ping),
            ("redis SET with an HTTP-looking value", [call("write", setcmd)], setcmd),
        ]
        conns = [{"port": echo.port, "requests": [{"calls": calls, "read": "echo"}]}
                 for _, calls, _ in cases]
        proc, results = self.traced(*conns)
        received = echo.wait_closed(len(cases))
        for k, (name, calls, data) in enumerate(cases):
            with self.subTest(case=name):
                self.assertEqual(bytes(received[k].data), data,
                                 "bytes changed on the way: %s" % th.diff_bytes(data, bytes(received[k].data)))
                res = results[k]["requests"][0]
                self.assertEqual(bytes.fromhex(res["response_hex"]), data, "echo changed")
                self.assertEqual(sum(res["sent"]), len(data))
                self.assertEqual(len(res["sent"]), len(calls), "a short send: %s" % res["sent"])
        spans = th.read_spans(self.spans_file)
        self.assertEqual(spans, [], "non-HTTP traffic must produce no span:\n%s" % th.format_spans(spans))
        if os.path.exists(self.spans_file):
            self.assertEqual(os.path.getsize(self.spans_file), 0,
                             "a process with no spans must write nothing")


class FastOpenTest(th.TempDirMixin, unittest.TestCase):
    """TCP Fast Open (apps/fast_open_get.c): a connection opened by a send
    with MSG_FASTOPEN and the server's address, no connect, as wget2 opens
    its own. The probe forks a server (traced too) that keeps each request
    head it receives. Each request leaves with exactly the injected lines
    of its client span, and the server's span is that span's child, whether
    the kernel sends the request in the SYN (a Fast Open cookie held) or
    after the handshake (none: a blocking call waits for it, a non-blocking
    one comes back with EINPROGRESS and the program sends the request
    again), and after a Fast Open call on the same socket that failed."""

    N = 3

    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.probe = th.compile_app("fast_open_get.c", os.path.join(
            cls.make_class_tmp("fast-open"), "fast_open_get"))

    def run_probe(self, call, mode, n=N):
        out_dir = self.make_tmp()
        spans_file = os.path.join(out_dir, "spans.jsonl")
        p = th.run([self.probe, call, mode, str(n), out_dir],
                   env=th.shim_env("fast-open", spans_file), tmpdir=out_dir,
                   name="fast_open_get", timeout=30)
        if p.returncode == 2 and b"unshare" in p.stderr():
            self.skipTest("no network namespace of its own here (needs root): %s"
                          % p.stderr().decode(errors="replace").strip())
        self.assertEqual(p.returncode, 0, p.describe())
        lines = [ln.split() for ln in p.stdout().decode().splitlines()]
        self.assertEqual([ln[:2] for ln in lines], [[str(i), "200"] for i in range(n)],
                         p.describe())
        th.wait_spans(spans_file, 2 * n, timeout=th.AFTER_EXIT_TIMEOUT)
        spans = th.read_spans(spans_file, strict=True)
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(len(spans), 2 * n, "a client and a server span a GET" + dump)
        for i in range(n):
            path = "/fast-open/%d" % i
            with open(os.path.join(out_dir, "request.%d" % i), "rb") as f:
                received = f.read()
            port = int(received.split(b"Host: 127.0.0.1:", 1)[1].split(b"\r\n", 1)[0])
            sent = (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                    % (path.encode(), port))
            cli = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT and
                           s["attrs"].get("url.full") == "http://127.0.0.1:%d%s" % (port, path)],
                          "client span of " + path, spans)
            srv = th.only([s for s in spans if s["kind"] == th.KIND_SERVER and
                           s["attrs"].get("url.path") == path], "server span of " + path, spans)
            expected = th.with_injection(sent, cli["traceId"], cli["spanId"])
            self.assertEqual(received, expected, "%s: %s" % (path, th.diff_bytes(expected, received)))
            self.assertEqual((srv["traceId"], srv["parentSpanId"]), (cli["traceId"], cli["spanId"]),
                             path + dump)
            self.assertEqual(cli["attrs"].get("network.peer.port"), port,
                             "the client span's peer is the server" + dump)
            self.assertEqual([cli["attrs"].get("http.response.status_code"),
                              srv["attrs"].get("http.response.status_code")], [200, 200], dump)
        return [int(ln[2]) for ln in lines]

    def test_without_a_cookie(self):
        for call in ("sendto", "sendmsg", "sendmmsg"):
            for mode in ("block", "nonblock"):
                with self.subTest(call=call, mode=mode):
                    self.run_probe(call, mode)

    def test_after_a_failed_attempt_on_the_same_socket(self):
        """Tried again by Fast Open, or by connect: the socket's connection
        is the second attempt's, to its address."""
        for call in ("sendto", "sendmsg", "sendmmsg"):
            for mode in ("block,retry", "nonblock,retry", "block,retry-connect",
                         "nonblock,retry-connect"):
                with self.subTest(call=call, mode=mode):
                    self.run_probe(call, mode)

    def test_after_a_refusal_that_came_after_the_call(self):
        """The same, the attempt refused a second after its call returned
        (the SYN dropped by a full listener, which is then closed): the
        socket the shim followed from that attempt is not its connection
        any more (the peer was the refused one's)."""
        for call in ("sendto", "sendmsg", "sendmmsg"):
            for mode in ("nonblock,retry,late", "nonblock,retry-connect,late"):
                with self.subTest(call=call, mode=mode):
                    self.run_probe(call, mode, n=1)

    def test_the_same_call_again_for_the_rest(self):
        """The non-blocking Fast Open call made again once the socket is
        writable (EINPROGRESS, then the same call for what the first did
        not send): a second call on the connection the first began, whose
        bytes the kernel sends; they went out as they came, without their
        trace lines, and the request had no span."""
        for call in ("sendto", "sendmsg", "sendmmsg"):
            with self.subTest(call=call):
                self.run_probe(call, "nonblock,again")

    AGAIN_ON_A_RESET = ("import errno, socket, sys, time\n"
                        "addr = ('127.0.0.1', int(sys.argv[1]))\n"
                        "s = socket.create_connection(addr)\n"
                        "s.sendall(b'GET /reset HTTP/1.1\\r\\nHost: r\\r\\n\\r\\n')\n"
                        "time.sleep(0.3)\n"
                        "try:\n"
                        "    if sys.argv[2] == 'connect':\n"
                        "        s.connect(addr)\n"
                        "    else:\n"
                        "        s.sendto(b'x', socket.MSG_FASTOPEN, addr)\n"
                        "except OSError as e:\n"
                        "    print(errno.errorcode[e.errno])\n"
                        "print(s.recv(4096).split(b'\\r\\n')[0].decode())\n")

    def test_a_call_that_connects_on_a_connection_the_peer_reset(self):
        """connect again (a status check), or a Fast Open call, on a
        connection whose peer answered and then reset it (closed, its
        answer unread): the kernel refuses it (EISCONN) and the answer is
        still the program's to read. The shim took the closed socket for a
        failed attempt and let its connection go: the request ended as
        connection_closed, its 200 unseen."""
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

        def serve(listener):
            c, _ = listener.accept()
            c.recv(4096)
            c.sendall(answer)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # a reset

        for how in ("connect", "fast-open"):
            with self.subTest(how=how):
                listener = th.listen_local()
                listener.settimeout(10)
                self.addCleanup(listener.close)
                t = threading.Thread(target=serve, args=(listener,), daemon=True)
                t.start()
                out_dir = self.make_tmp()
                spans_file = os.path.join(out_dir, "spans.jsonl")
                p = th.run([th.PY, "-c", self.AGAIN_ON_A_RESET, str(listener.getsockname()[1]), how],
                           env=th.shim_env("reset", spans_file), tmpdir=out_dir, name="reset")
                t.join(timeout=5)
                self.assertEqual((p.returncode, p.stdout()), (0, b"EISCONN\nHTTP/1.1 200 OK\n"),
                                 p.describe())
                spans = th.wait_spans(spans_file, 1, exact=True)
                cli = th.only(spans, "the client span", spans)
                self.assertEqual((cli["attrs"].get("http.response.status_code"),
                                  cli["attrs"].get("error.type")), (200, None),
                                 th.format_spans(spans))

    STRAY = ("import ctypes, socket, struct, sys\n"
             "libc = ctypes.CDLL(None, use_errno=True)\n"
             "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
             "s.connect(sys.argv[1])\n"
             "def get(i):\n"
             "    s.sendall(b'GET /unix/%d HTTP/1.1\\r\\nHost: u\\r\\n\\r\\n' % i)\n"
             "    got = b''\n"
             "    while not got.endswith(b'ok'):\n"
             "        got += s.recv(4096)\n"
             "get(0)\n"
             "inet = struct.pack('=HH4s8x', socket.AF_INET, socket.htons(9), bytes([127, 0, 0, 1]))\n"
             "r = libc.sendto(s.fileno(), b'x', 1, socket.MSG_FASTOPEN, inet, len(inet))\n"
             "print(r, ctypes.get_errno(), flush=True)\n"
             "get(1)\n")

    def test_a_stray_call_on_a_unix_domain_connection(self):
        """A Fast Open call with an IPv4 address on a connected Unix-domain
        socket, which the kernel refuses (EISCONN): the connection stays
        followed. It was given up, its next request sent without trace
        lines."""
        srv = th.RecordingServer(mode="http", unix_path=os.path.join(self.make_tmp(), "s"))
        self.addCleanup(srv.close)
        out_dir = self.make_tmp()
        spans_file = os.path.join(out_dir, "spans.jsonl")
        p = th.run([th.PY, "-c", self.STRAY, srv.unix_path], env=th.shim_env("stray", spans_file),
                   tmpdir=out_dir, name="stray")
        self.assertEqual((p.returncode, p.stdout()), (0, b"-1 %d\n" % errno.EISCONN),
                         p.describe())
        spans = th.wait_spans(spans_file, 2, exact=True)
        (conn,) = srv.wait_closed(1)
        received = list(th.complete_requests(bytearray(conn.data)))
        self.assertEqual(len(received), 2, conn.data)
        for i, got in enumerate(received):
            cli = th.only([s for s in spans if s["name"] == "GET /unix/{id}" and
                           s["attrs"].get("url.full", "").endswith("/unix/%d" % i)],
                          "client span %d" % i, spans)
            sent = b"GET /unix/%d HTTP/1.1\r\nHost: u\r\n\r\n" % i
            expected = th.with_injection(sent, cli["traceId"], cli["spanId"])
            self.assertEqual(got, expected, th.diff_bytes(expected, got))
            self.assertEqual(cli["attrs"].get("http.response.status_code"), 200,
                             th.format_spans(spans))

    def test_the_request_in_the_syn(self):
        for call in ("sendto", "sendmsg", "sendmmsg"):
            for mode in ("block,own-net", "nonblock,own-net"):
                with self.subTest(call=call, mode=mode):
                    syn_data = self.run_probe(call, mode)
                    self.assertEqual(syn_data, [0] + [1] * (self.N - 1),
                                     "the first connection gets the cookie, the others send "
                                     "their request in the SYN (TCPI_OPT_SYN_DATA)")


if __name__ == "__main__":
    th.main()
