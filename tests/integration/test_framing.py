"""test_framing.py — HTTP/1 framing cases, exact bytes on the wire and spans.

The traced side runs under the shim (curl, apps/script_client.py — a
client that follows a JSON script of sends and reads —, or
apps/framing_server.py); the other side is a scripted peer in this process
(never traced) that records every byte. Cases: Expect: 100-continue,
HTTP/1.0 and close-delimited responses, chunked bodies with extensions and
trailers both ways, HEAD/204/304/1xx then keep-alive, CONNECT tunnels,
Upgrade/101, absurd and malicious heads, non-HTTP protocols (SMTP-like,
postgres-like), MSG_PEEK and MSG_WAITALL.

The rules checked everywhere: the peer receives the program's bytes plus
exactly the injected lines of the request's client span at the end of each
request head and nothing else; bytes the shim must not touch (tunnels,
non-HTTP, heads it cannot parse) arrive byte for byte; a traced program
reads exactly what the peer sent; one span per request, none for anything
else.
"""

import json
import os
import random
import socket
import struct
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

# Span names are the raw paths here (no built-in {id} collapsing, README
# "Rules"): these tests tell requests apart by their names.
RAW_ROUTES = "^(.*)$=$1"

CRLF2 = b"\r\n\r\n"
PEER_TIMEOUT = 10.0

# The chunked body both sides use: extensions, a trailer section that ends
# in CRLF CRLF and holds an HTTP-looking value.
CHUNKED_BODY = (b"5;ext=1\r\nhello\r\n" b'6;a="b c"\r\n world\r\n'
                b"0;last=yes\r\nX-Trailer: t1\r\nX-Looks: GET / HTTP/1.1\r\n\r\n")


# --------------------------------------------------------------------------
# a scripted peer (runs in this process, never traced)


def content_length(head):
    for ln in head.split(b"\r\n")[1:]:
        name, _, value = ln.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class PeerConn:
    """One accepted (or connected) socket; records every byte both ways."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(PEER_TIMEOUT)
        self.received = bytearray()  # every byte received, in order
        self.sent = bytearray()      # every byte sent
        self.buf = bytearray()       # received, not yet consumed by a recv_* call
        self.error = None
        self.eof = False

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            self.eof = True
            raise EOFError("peer closed; unconsumed %r" % bytes(self.buf[:300]))
        self.received += b
        self.buf += b

    def recv_until(self, pat):
        while pat not in self.buf:
            self._fill()
        k = self.buf.index(pat) + len(pat)
        out = bytes(self.buf[:k])
        del self.buf[:k]
        return out

    def recv_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_request(self):
        """One request: head, then a Content-Length or chunked body."""
        head = self.recv_until(CRLF2)
        if b"transfer-encoding: chunked" in head.lower():
            body = b""
            while True:
                line = self.recv_until(b"\r\n")
                body += line
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        t = self.recv_until(b"\r\n")
                        body += t
                        if t == b"\r\n":
                            return head + body
                body += self.recv_exact(size + 2)
        return head + self.recv_exact(content_length(head))

    def recv_to_close(self):
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def send(self, data, pieces=1, delay=0.0):
        step = max(1, -(-len(data) // pieces))
        for i in range(0, len(data), step):
            if i and delay:
                time.sleep(delay)
            self.sock.sendall(data[i:i + step])
            self.sent += data[i:i + step]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ScriptedPeer(th.AcceptingServer):
    """Listens on 127.0.0.1; the k-th accepted connection runs script(conn, k)
    in its own thread, then is closed."""

    def __init__(self, script):
        self.script = script
        self.conns = []
        self.listen(16)

    def _accepted(self, c, peer, k):
        pc = PeerConn(c)
        self.conns.append(pc)
        return self._run, (pc, k)

    def _run(self, pc, k):
        try:
            self.script(pc, k)
        except Exception as e:
            pc.error = "%s: %s" % (type(e).__name__, e)
        finally:
            pc.close()

    def wait(self, n, timeout=15.0):
        """The first n connections, once their scripts have finished."""
        deadline = time.monotonic() + timeout
        while len(self._threads) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        for t in self._threads[:n]:
            t.join(max(0.1, deadline - time.monotonic()))
        if len(self.conns) < n or any(t.is_alive() for t in self._threads[:n]):
            raise AssertionError("scripted peer: %d connection(s) of %d finished within %.0fs"
                                 % (sum(not t.is_alive() for t in self._threads), n, timeout))
        return self.conns[:n]

    def close(self):
        self.stop_accepting()
        for c in self.conns:
            c.close()
        super().close()


def raw_connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=PEER_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return PeerConn(s)


# --------------------------------------------------------------------------
# script steps for apps/script_client.py


def connect(port, conn=0):
    return {"op": "connect", "port": port, "conn": conn}


def send(*bufs, how="send", conn=0):
    return {"op": "send", "how": how, "bufs": [b.hex() for b in bufs], "conn": conn}


def read_n(n, conn=0):
    return {"op": "read", "n": n, "conn": conn}


def read_until(pat, conn=0):
    return {"op": "read", "until": pat.hex(), "conn": conn}


def read_close(conn=0):
    return {"op": "read", "close": True, "conn": conn}


def close(conn=0):
    return {"op": "close", "conn": conn}


def pieces(data, *cuts):
    """data cut at the given offsets."""
    out, prev = [], 0
    for c in list(cuts) + [len(data)]:
        out.append(data[prev:c])
        prev = c
    return out


class FramingTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    # -- helpers

    def peer(self, script):
        p = ScriptedPeer(script)
        self.addCleanup(p.close)
        return p

    def head(self, port, method, path, *extra, version=b"HTTP/1.1"):
        h = b"%s %s %s\r\nHost: 127.0.0.1:%d\r\nUser-Agent: script/1\r\n" % (
            method, path, version, port)
        return h + b"".join(x + b"\r\n" for x in extra) + b"\r\n"

    def script(self, *steps, name="script_client"):
        """Run apps/script_client.py under the shim; its result dict."""
        path = os.path.join(self.tmp, "script-%d.json" % int(time.monotonic() * 1e6))
        with open(path, "w") as f:
            json.dump({"steps": list(steps)}, f)
        p = th.run([th.PY, os.path.join(th.APPS, "script_client.py"), path],
                   env=th.shim_env("framing-client", self.spans_file, TRACESHIM_ROUTES=RAW_ROUTES), tmpdir=self.tmp,
                   name=name, timeout=30)
        out = [ln for ln in p.stdout().decode("utf-8", "replace").splitlines()
               if ln.startswith("{")]
        res = json.loads(out[-1]) if out else None
        if p.returncode != 0 or res is None:
            self.fail("the traced client failed (status %s, it must neither crash nor see a "
                      "wrong return value)\n%s" % (p.returncode, p.describe()))
        self.assertEqual(res["violations"], [], "write return values")
        res["proc"] = p
        return res

    def received(self, res, conn=0):
        return bytes.fromhex(res["received_hex"].get(str(conn), ""))

    def check_returns(self, res):
        """Every send step's returns add up to its bytes, none is 0 or more."""
        for st in res["steps"]:
            if st["op"] == "send":
                self.assertTrue(all(r > 0 for r in st["returns"]), st)

    def final_spans(self, count, kind=None):
        """The traced programs have exited: exactly `count` spans (of kind)."""
        if count:
            th.wait_spans(self.spans_file, count, timeout=th.AFTER_EXIT_TIMEOUT)
        spans = th.read_spans(self.spans_file, strict=True)
        if kind is not None:
            others = [s for s in spans if s["kind"] != kind]
            self.assertEqual(others, [], "spans of another kind:\n%s" % th.format_spans(others))
        self.assertEqual(len(spans), count, "expected exactly %d span(s):\n%s"
                         % (count, th.format_spans(spans)))
        return spans

    def no_spans(self):
        spans = th.read_spans(self.spans_file)
        self.assertEqual(spans, [], "no span expected:\n%s" % th.format_spans(spans))
        if os.path.exists(self.spans_file):
            self.assertEqual(os.path.getsize(self.spans_file), 0,
                             "a process with no spans must write nothing")

    def span_named(self, spans, name):
        return th.only([s for s in spans if s["name"] == name], "span named %r" % name, spans)

    def assert_bytes(self, expected, got, what):
        if bytes(got) != bytes(expected):
            self.fail("%s: %s" % (what, th.diff_bytes(bytes(expected), bytes(got), context=80)))

    def injected(self, requests, spans_in_order):
        """The requests, each with its span's lines injected."""
        return b"".join(th.with_injection(r, s["traceId"], s["spanId"], s["parentSpanId"])
                        for r, s in zip(requests, spans_in_order))

    def assert_clean_status(self, s, code):
        a = s["attrs"]
        self.assertEqual(a.get("http.response.status_code"), code,
                         "status code of %r:\n%s" % (s["name"], th.format_spans([s])))
        self.assertEqual(a.get("error.type"), th.status_error_type(s), "%r ended as a failure:\n%s"
                         % (s["name"], th.format_spans([s])))
        if code < 400:
            self.assertNotEqual(s["status"], th.STATUS_ERROR, th.format_spans([s]))

    def assert_in_order(self, spans):
        """Each span ended before the next one started: each response was
        framed right at the time it was read (not at close)."""
        for a, b in zip(spans, spans[1:]):
            self.assertLessEqual(a["end"], b["start"], "%r ended after %r started:\n%s"
                                 % (a["name"], b["name"], th.format_spans(spans)))

    def start_server(self, mode):
        p = th.Proc([th.PY, os.path.join(th.APPS, "framing_server.py"), "--mode", mode],
                    env=th.shim_env("framing-server", self.spans_file, TRACESHIM_ROUTES=RAW_ROUTES), tmpdir=self.tmp,
                    name="framing_server-" + mode)
        self.addCleanup(p.stop)
        m = p.wait_output(rb"LISTENING (\d+)\n", timeout=10)
        return p, int(m.group(1))

    def server_spans(self, proc, count):
        """Spans of a traced server: wait for them, stop it, then exactly count."""
        th.wait_spans(self.spans_file, count, procs=[proc])
        proc.stop()
        time.sleep(0.05)
        return self.final_spans(count, kind=th.KIND_SERVER)

    def curl(self, *args, traced, name):
        curl = th.require_tool("curl")
        env = th.shim_env("curl", self.spans_file, TRACESHIM_ROUTES=RAW_ROUTES) if traced else th.clean_env()
        p = th.run([curl, "-sS", "--max-time", "20"] + list(args), env=env, tmpdir=self.tmp,
                   name=name, timeout=30)
        self.assertEqual(p.returncode, 0, p.describe())
        return p

    # ======================================================================
    # Expect: 100-continue

    def test_expect_100_continue_curl(self):
        body = random.Random(100).randbytes(300 * 1024)
        body_file = os.path.join(self.tmp, "body.bin")
        with open(body_file, "wb") as f:
            f.write(body)

        def script(c, k):
            head = c.recv_until(CRLF2)
            if b"expect: 100-continue" in head.lower():
                c.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            c.recv_exact(content_length(head))
            c.send(b"HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated")
            c.recv_to_close()
        peer = self.peer(script)
        url = "http://127.0.0.1:%d/upload" % peer.port
        args = ["-w", "%{http_code}", "--data-binary", "@" + body_file,
                "-H", "Expect: 100-continue", "-H", "Content-Type: application/octet-stream", url]
        ref = self.curl(*args, traced=False, name="curl-reference")
        got = self.curl(*args, traced=True, name="curl-traced")
        c_ref, c_got = peer.wait(2)
        self.assertIsNone(c_ref.error or c_got.error, "peer: %s / %s" % (c_ref.error, c_got.error))
        self.assertEqual(ref.stdout(), b"created201")
        self.assertEqual(got.stdout(), b"created201", "curl under the shim: " + got.describe())
        self.assertIn(b"Expect: 100-continue", bytes(c_ref.received))
        self.assertTrue(bytes(c_ref.received).endswith(CRLF2 + body), "reference run")
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assertEqual(s["name"], "POST /upload")
        self.assert_clean_status(s, 201)
        self.assert_bytes(th.with_injection(bytes(c_ref.received), s["traceId"], s["spanId"],
                                            s["parentSpanId"]),
                          c_got.received, "curl's head and 300 KiB body with the injected lines")

    def test_expect_100_continue_traced_server(self):
        proc, port = self.start_server("http")
        body = random.Random(101).randbytes(5000)
        c = raw_connect(port)
        c.send(self.head(port, b"POST", b"/expect", b"Content-Length: 5000",
                         b"Expect: 100-continue"))
        cont = b"HTTP/1.1 100 Continue\r\n\r\n"
        self.assertEqual(c.recv_exact(len(cont)), cont)
        c.send(body, pieces=3, delay=0.01)
        final = b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\n\r\ncreated 5000"
        self.assertEqual(c.recv_exact(len(final)), final)
        c.send(self.head(port, b"GET", b"/plain"))
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        self.assertEqual(c.recv_exact(len(ok)), ok)
        c.close()
        spans = self.server_spans(proc, 2)
        spans.sort(key=lambda s: s["start"])
        self.assertEqual([s["name"] for s in spans], ["POST /expect", "GET /plain"])
        self.assert_clean_status(spans[0], 201)
        self.assert_clean_status(spans[1], 200)
        self.assert_in_order(spans)

    # ======================================================================
    # HTTP/1.0, close-delimited responses

    def test_http10_and_close_delimited_responses(self):
        body1 = b"old school body\r\n\r\nHTTP/1.1 200 OK\r\n" * 200
        body2 = b"until close " * 500
        resp1 = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body1
        resp2 = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body2

        def script(c, k):
            c.recv_until(CRLF2)
            c.send(resp1 if k == 0 else resp2, pieces=3, delay=0.02)
        peer = self.peer(script)
        r1 = self.head(peer.port, b"GET", b"/old", version=b"HTTP/1.0")
        r2 = self.head(peer.port, b"GET", b"/old11", b"Connection: close")
        res = self.script(connect(peer.port, 0), send(r1, conn=0), read_close(0), close(0),
                          connect(peer.port, 1), send(r2, how="write", conn=1), read_close(1),
                          close(1))
        c1, c2 = peer.wait(2)
        self.assertIsNone(c1.error or c2.error, "peer: %s / %s" % (c1.error, c2.error))
        self.assert_bytes(resp1, self.received(res, 0), "the program's HTTP/1.0 response")
        self.assert_bytes(resp2, self.received(res, 1), "the program's close-delimited response")
        spans = self.final_spans(2, kind=th.KIND_CLIENT)
        s1, s2 = self.span_named(spans, "GET /old"), self.span_named(spans, "GET /old11")
        self.assert_bytes(self.injected([r1], [s1]), c1.received, "HTTP/1.0 request")
        self.assert_bytes(self.injected([r2], [s2]), c2.received, "HTTP/1.1 request")
        for s, version in ((s1, "1.0"), (s2, "1.1")):
            self.assert_clean_status(s, 200)
            self.assertEqual(s["attrs"].get("network.protocol.version"), version)

    def test_a_close_delimited_response_cut_by_a_reset(self):
        """A response that runs to the close, ended by the server's reset
        (curl: "Connection reset by peer", exit 56): an error with its
        status, not a success."""
        def script(c, k):
            c.recv_until(CRLF2)
            c.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial-body")
            time.sleep(0.2)  # the program has read what came
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer = self.peer(script)
        curl = th.require_tool("curl")
        p = th.run([curl, "-sS", "--max-time", "20", "http://127.0.0.1:%d/cut" % peer.port],
                   env=th.shim_env("curl", self.spans_file, TRACESHIM_ROUTES=RAW_ROUTES),
                   tmpdir=self.tmp, name="curl-reset", timeout=30)
        self.assertEqual(p.returncode, 56, p.describe())
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assertEqual(s["attrs"].get("http.response.status_code"), 200, th.format_spans([s]))
        self.assertEqual(s["status"], th.STATUS_ERROR, th.format_spans([s]))
        self.assertEqual(s["attrs"].get("error.type"), "connection_error", th.format_spans([s]))

    # ======================================================================
    # chunked bodies, both ways, then keep-alive

    def test_chunked_both_ways_then_keepalive_client(self):
        resp1 = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"4;x=y\r\nabcd\r\n" b"0\r\nX-Resp-Trailer: z\r\n\r\n")
        resp2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        resp3 = b"HTTP/1.1 204 No Content\r\n\r\n"

        def script(c, k):
            c.recv_request()
            c.send(resp1, pieces=3, delay=0.02)
            c.recv_request()
            c.send(resp2)
            c.recv_request()
            c.send(resp3)
            c.recv_to_close()
        peer = self.peer(script)
        h1 = self.head(peer.port, b"POST", b"/chunked", b"Transfer-Encoding: chunked")
        r2 = self.head(peer.port, b"GET", b"/second")
        h3 = self.head(peer.port, b"PUT", b"/chunked-one-call", b"transfer-encoding: chunked")
        r1, r3 = h1 + CHUNKED_BODY, h3 + CHUNKED_BODY
        b = CHUNKED_BODY
        i2, i3 = b.index(b"6;"), b.index(b"0;last")
        t = b.index(b"X-Looks")
        res = self.script(
            connect(peer.port),
            send(h1),
            send(b[:i2], how="write"),                      # first chunk
            send(*pieces(b[i2:i3], 3, 9), how="sendmsg"),   # second, cut in its size line and data
            send(*pieces(b[i3:], t - i3, len(b) - i3 - 2), how="writev"),  # last chunk, trailers
            read_until(b"X-Resp-Trailer: z\r\n\r\n"),
            send(r2), read_n(len(resp2)),
            send(r3), read_n(len(resp3)),                   # head and whole body in one call
            close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(resp1 + resp2 + resp3, self.received(res), "responses")
        spans = self.final_spans(3, kind=th.KIND_CLIENT)
        order = [self.span_named(spans, n) for n in
                 ("POST /chunked", "GET /second", "PUT /chunked-one-call")]
        self.assert_bytes(self.injected([r1, r2, r3], order), c.received,
                          "chunked requests and the keep-alive request after them")
        for s, code in zip(order, (200, 200, 204)):
            self.assert_clean_status(s, code)
        self.assert_in_order(order)

    def test_chunked_both_ways_then_keepalive_traced_server(self):
        proc, port = self.start_server("http")
        c = raw_connect(port)
        c.send(self.head(port, b"GET", b"/chunked"))
        want = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY
        self.assertEqual(c.recv_exact(len(want)), want)
        c.send(self.head(port, b"POST", b"/chunked-in", b"Transfer-Encoding: chunked"))
        c.send(CHUNKED_BODY, pieces=4, delay=0.01)
        want = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ngot 11"
        self.assertEqual(c.recv_exact(len(want)), want)
        c.send(self.head(port, b"GET", b"/plain"))
        want = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        self.assertEqual(c.recv_exact(len(want)), want)
        c.close()
        spans = sorted(self.server_spans(proc, 3), key=lambda s: s["start"])
        self.assertEqual([s["name"] for s in spans],
                         ["GET /chunked", "POST /chunked-in", "GET /plain"])
        for s in spans:
            self.assert_clean_status(s, 200)
        self.assert_in_order(spans)

    # ======================================================================
    # responses without a body, interim responses, then keep-alive

    NO_BODY = [
        (b"HEAD", b"/head", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            b"Content-Length: 1234\r\n\r\n", 200),
        (b"GET", b"/204", b"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", 204),
        (b"GET", b"/304", b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 100\r\n\r\n',
         304),
        (b"GET", b"/103", b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                          b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhinted", 200),
        (b"GET", b"/plain", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200),
    ]

    def test_head_204_304_1xx_then_keepalive_client(self):
        answers = {path: resp for _, path, resp, _ in self.NO_BODY}

        def script(c, k):
            for _ in self.NO_BODY:
                req = c.recv_request()
                resp = answers[req.split(b" ")[1]]
                if b" 103 " in resp:  # the interim answer, a pause, the final one
                    cut = resp.index(CRLF2) + 4
                    c.send(resp[:cut])
                    time.sleep(0.03)
                    c.send(resp[cut:])
                else:
                    c.send(resp)
            c.recv_to_close()
        peer = self.peer(script)
        reqs = [self.head(peer.port, m, p) for m, p, _, _ in self.NO_BODY]
        steps = [connect(peer.port)]
        for r, (_, _, resp, _) in zip(reqs, self.NO_BODY):
            steps += [send(r), read_n(len(resp))]
        res = self.script(*steps, close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(b"".join(r for _, _, r, _ in self.NO_BODY), self.received(res),
                          "responses")
        spans = self.final_spans(len(reqs), kind=th.KIND_CLIENT)
        order = [self.span_named(spans, "%s %s" % (m.decode(), p.decode()))
                 for m, p, _, _ in self.NO_BODY]
        self.assert_bytes(self.injected(reqs, order), c.received,
                          "every request on the connection, each with its own lines")
        for s, (_, _, _, code) in zip(order, self.NO_BODY):
            self.assert_clean_status(s, code)
        self.assert_in_order(order)

    def test_head_204_304_1xx_then_keepalive_traced_server(self):
        proc, port = self.start_server("http")
        c = raw_connect(port)
        for m, p, resp, _ in self.NO_BODY:
            c.send(self.head(port, m, p))
            got = c.recv_exact(len(resp))
            self.assertEqual(got, resp, "%s %s" % (m, p))
        time.sleep(0.1)
        self.assertEqual(bytes(c.buf), b"", "bytes after the responses")
        c.close()
        spans = sorted(self.server_spans(proc, len(self.NO_BODY)), key=lambda s: s["start"])
        self.assertEqual([s["name"] for s in spans],
                         ["%s %s" % (m.decode(), p.decode()) for m, p, _, _ in self.NO_BODY])
        for s, (_, _, _, code) in zip(spans, self.NO_BODY):
            self.assert_clean_status(s, code)
        self.assert_in_order(spans)

    # ======================================================================
    # CONNECT

    CONNECT_REQ = (b"CONNECT target.test:443 HTTP/1.1\r\nHost: target.test:443\r\n"
                   b"User-Agent: script/1\r\n\r\n")
    ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"
    TUNNEL = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(200)),
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET /inner HTTP/1.1\r\nHost: target\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    ]

    def test_connect_tunnel_passes_untouched(self):
        established = self.ESTABLISHED
        tunnel = b"".join(self.TUNNEL)
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + bytes(range(256))

        def script(c, k):
            c.recv_until(CRLF2)
            c.send(established)
            c.recv_exact(len(tunnel))
            c.send(reply)
            c.recv_to_close()
        peer = self.peer(script)
        req = self.CONNECT_REQ
        t = self.TUNNEL
        res = self.script(connect(peer.port), send(req), read_n(len(established)),
                          send(t[0]), send(t[1], how="write"),
                          send(*pieces(t[2], 5, 20), how="sendmsg"),
                          send(*pieces(t[3], 10), how="writev"),
                          read_n(len(reply)), close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(established + reply, self.received(res), "what the program read")
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assertEqual(s["attrs"].get("http.request.method"), "CONNECT")
        self.assert_clean_status(s, 200)
        self.assert_bytes(self.injected([req], [s]) + tunnel, c.received,
                          "the CONNECT head with its lines, then the tunnel byte for byte")

    def test_connect_tunnel_bytes_before_the_answer(self):
        # A client need not wait for the 2xx: bytes it sends right after
        # the CONNECT head may be the tunnel's, and pass untouched.
        established = self.ESTABLISHED
        t = self.TUNNEL
        tunnel = t[2] + t[0] + t[1] + t[3]  # first, bytes that look like a request head

        def script(c, k):
            c.recv_until(CRLF2)
            c.recv_exact(len(tunnel))
            c.send(established)
            c.recv_to_close()
        peer = self.peer(script)
        req = self.CONNECT_REQ
        res = self.script(connect(peer.port), send(req + t[2]), send(t[0], how="write"),
                          send(t[1], how="sendmsg"), send(t[3], how="writev"),
                          read_n(len(established)), close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(established, self.received(res), "what the program read")
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assert_clean_status(s, 200)
        self.assert_bytes(self.injected([req], [s]) + tunnel, c.received,
                          "the CONNECT head with its lines, then the tunnel byte for byte")

    def test_connect_curl_proxytunnel(self):
        def script(c, k):
            c.recv_until(CRLF2)
            c.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            c.recv_until(CRLF2)  # curl's request inside the tunnel
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ninner")
            c.recv_to_close()
        peer = self.peer(script)
        args = ["-p", "-x", "http://127.0.0.1:%d" % peer.port, "http://target.test:8080/inner"]
        ref = self.curl(*args, traced=False, name="curl-reference")
        got = self.curl(*args, traced=True, name="curl-traced")
        c_ref, c_got = peer.wait(2)
        self.assertIsNone(c_ref.error or c_got.error, "peer: %s / %s" % (c_ref.error, c_got.error))
        self.assertEqual(ref.stdout(), b"inner")
        self.assertEqual(got.stdout(), b"inner")
        self.assertTrue(bytes(c_ref.received).startswith(b"CONNECT target.test:8080 HTTP/1.1\r\n"))
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assertEqual(s["attrs"].get("http.request.method"), "CONNECT")
        self.assert_clean_status(s, 200)
        self.assert_bytes(th.with_injection(bytes(c_ref.received), s["traceId"], s["spanId"],
                                            s["parentSpanId"]), c_got.received,
                          "lines in the CONNECT head only; curl's GET inside the tunnel untouched")

    # ======================================================================
    # Upgrade / 101

    SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    WS_OUT = [b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
              b"GET /inner HTTP/1.1\r\nHost: x\r\n\r\n",
              b"POST /y HTTP/1.1\r\nContent-Length: 0\r\n\r\n"]
    WS_IN = b"\x81\x05hello" + b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" + b"\x88\x00"

    def test_upgrade_101_client(self):
        ws_out = b"".join(self.WS_OUT)

        def script(c, k):
            c.recv_until(CRLF2)
            c.send(self.SWITCH)
            c.recv_exact(len(ws_out))
            c.send(self.WS_IN, pieces=2, delay=0.01)
            c.recv_to_close()
        peer = self.peer(script)
        req = self.head(peer.port, b"GET", b"/chat", b"Upgrade: websocket", b"Connection: Upgrade",
                        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                        b"Sec-WebSocket-Version: 13")
        w = self.WS_OUT
        res = self.script(connect(peer.port), send(req), read_n(len(self.SWITCH)),
                          send(w[0], how="write"), send(*pieces(w[1], 3, 30), how="sendmsg"),
                          send(w[2]), read_n(len(self.WS_IN)), close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(self.SWITCH + self.WS_IN, self.received(res), "what the program read")
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assertEqual(s["name"], "GET /chat")
        self.assert_clean_status(s, 101)
        self.assert_bytes(self.injected([req], [s]) + ws_out, c.received,
                          "the upgrade request with its lines, then the new protocol untouched")

    def test_upgrade_bytes_before_the_101(self):
        # The new protocol's bytes sent at once, before the 101 is read
        # (RFC 9110 7.8 lets a client): untouched, even where they look
        # like a request head.
        w = self.WS_OUT
        ws_out = w[1] + w[0] + w[2]  # first, bytes that look like a request head

        def script(c, k):
            c.recv_until(CRLF2)
            c.recv_exact(len(ws_out))
            c.send(self.SWITCH)
            c.recv_to_close()
        peer = self.peer(script)
        req = self.head(peer.port, b"GET", b"/chat", b"Upgrade: websocket", b"Connection: Upgrade")
        res = self.script(connect(peer.port), send(req + w[1]), send(w[0], how="sendmsg"),
                          send(w[2]), read_n(len(self.SWITCH)), close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(self.SWITCH, self.received(res), "what the program read")
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assert_clean_status(s, 101)
        self.assert_bytes(self.injected([req], [s]) + ws_out, c.received,
                          "the upgrade request with its lines, then the new protocol untouched")

    OK2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def first_then_second(self, first, answer):
        """first(port) on a connection, answered with answer; once the
        program read that, GET /second, answered with OK2. Returns (the
        second request, what the peer received)."""
        def script(c, k):
            c.recv_until(CRLF2)
            c.send(answer)
            c.recv_until(CRLF2)
            c.send(self.OK2)
            c.recv_to_close()
        peer = self.peer(script)
        second = self.head(peer.port, b"GET", b"/second")
        res = self.script(connect(peer.port), send(first(peer.port)), read_n(len(answer)),
                          send(second), read_n(len(self.OK2)), close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(answer + self.OK2, self.received(res), "what the program read")
        return second, c.received

    def check_only_first_request_traced(self, first_extra, first_answer):
        """Two requests on one connection, the first with first_extra
        header lines and answered with first_answer, the second with OK2:
        the first carries its trace lines and makes the one client span,
        the second goes as it is."""
        heads = []
        second, received = self.first_then_second(
            lambda port: heads.append(self.head(port, b"GET", b"/first", *first_extra)) or heads[0],
            first_answer)
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assertEqual(s["name"], "GET /first")
        self.assert_bytes(self.injected(heads, [s]) + second, received,
                          "lines in the first request only")
        return s

    def check_declined_tunnel(self, first, name, answer):
        """A request asking for a tunnel, answered with answer (no tunnel),
        then a GET on the same connection once that answer was read: both
        traced, each with its lines. Java's HttpClient asks every plain
        http connection for h2c; until this the shim left the rest of such
        a connection's requests untraced (no lines, no spans)."""
        second, received = self.first_then_second(lambda port: first, answer)
        spans = self.final_spans(2, kind=th.KIND_CLIENT)
        self.assertEqual([s["name"] for s in spans], [name, "GET /second"])
        self.assert_clean_status(spans[1], 200)
        self.assert_bytes(self.injected([first, second], spans), received,
                          "lines in both requests, once each")
        return spans[0]

    def test_upgrade_declined_then_requests_traced(self):
        first = (b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: h2c\r\n"
                 b"Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAEAAEAAAAIAAAAB\r\n\r\n")
        s = self.check_declined_tunnel(first, "GET /first", self.OK2)
        self.assert_clean_status(s, 200)

    def test_connect_refused_then_requests_traced(self):
        s = self.check_declined_tunnel(
            self.CONNECT_REQ, "CONNECT", b"HTTP/1.1 407 Proxy Authentication Required\r\n"
            b"Content-Length: 0\r\n\r\n")
        self.assert_clean_status(s, 407)

    def test_request_before_an_upgrades_answer_goes_untouched(self):
        # Until the answer, what follows an Upgrade request may be the new
        # protocol's: a request sent before it goes as it is, and so does
        # the rest of the connection, whatever the answer.
        up = [b"Upgrade: h2c", b"Connection: Upgrade"]

        def script(c, k):
            c.recv_until(CRLF2)
            c.recv_until(CRLF2)
            c.send(self.OK2 + self.OK2)
            c.recv_until(CRLF2)
            c.send(self.OK2)
            c.recv_to_close()
        peer = self.peer(script)
        first = self.head(peer.port, b"GET", b"/first", *up)
        second = self.head(peer.port, b"GET", b"/second")
        third = self.head(peer.port, b"GET", b"/third")
        res = self.script(connect(peer.port), send(first), send(second),
                          read_n(2 * len(self.OK2)), send(third), read_n(len(self.OK2)),
                          close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(3 * self.OK2, self.received(res), "what the program read")
        (s,) = self.final_spans(1, kind=th.KIND_CLIENT)
        self.assertEqual(s["name"], "GET /first")
        self.assert_bytes(self.injected([first], [s]) + second + third, c.received,
                          "lines in the first request only")

    def test_requests_after_an_unread_response_go_untouched(self):
        # A response head over the limit: the shim reads that connection's
        # responses no more, so the requests after it, whose responses it
        # could not pair with them, go as they are (no lines, no spans).
        big = (b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 20000 +
               b"\r\nContent-Length: 2\r\n\r\nok")
        self.check_only_first_request_traced([], big)

    def test_upgrade_101_traced_server(self):
        proc, port = self.start_server("http")
        c = raw_connect(port)
        c.send(self.head(port, b"GET", b"/upgrade", b"Upgrade: websocket", b"Connection: Upgrade"))
        want = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n")
        self.assertEqual(c.recv_exact(len(want)), want)
        for chunk in self.WS_OUT + [self.WS_IN]:
            c.send(chunk)
            self.assertEqual(c.recv_exact(len(chunk)), chunk, "echo through the traced server")
        c.close()
        (s,) = self.server_spans(proc, 1)
        self.assertEqual(s["name"], "GET /upgrade")
        self.assert_clean_status(s, 101)

    # ======================================================================
    # absurd and malicious heads

    def test_absurd_heads_pass_untouched(self):
        srv = th.RecordingServer(mode="sink")
        self.addCleanup(srv.close)
        port = srv.port

        def long_head(k):
            return self.head(port, b"GET", b"/long%d" % k, b"X-Long: " + b"a" * 20000)

        def many(k):
            return self.head(port, b"GET", b"/many%d" % k,
                             *[b"X-H%d: v%d" % (i, i) for i in range(150)])

        def nul(k):
            return self.head(port, b"GET", b"/a\x00b%d" % k)

        def chunk_head(k):
            return self.head(port, b"POST", b"/badchunk%d" % k, b"Transfer-Encoding: chunked")
        bad_body = b"zz\r\nhello\r\n0\r\n\r\n"

        def writes(data, size, how="write"):
            return [send(data[i:i + size], how=how) for i in range(0, len(data), size)]
        # (name, the program's bytes, its send steps, how many bytes of it are a
        # head the shim may trace: only the bad chunk's, whose head is fine)
        cases = []
        for k, (name, make) in enumerate([
                ("20 KiB header line, one send", lambda d, k: [send(d)]),
                ("20 KiB header line, 1000-byte writes", lambda d, k: writes(d, 1000)),
                ("20 KiB header line, writev of 40 buffers",
                 lambda d, k: [send(*[d[i:i + 512] for i in range(0, len(d), 512)],
                                    how="writev")]),
                ("150 header lines, one send", lambda d, k: [send(d)]),
                ("150 header lines, line by line",
                 lambda d, k: [send(ln + b"\r\n") for ln in d.split(b"\r\n")[:-1]]),
                ("NUL in the request line", lambda d, k: [send(d)]),
                ("NUL in the request line, split at it", lambda d, k: writes(d, 6)[:1] +
                 [send(d[6:], how="write")]),
                ("bad chunk size, one send", lambda d, k: [send(d)]),
                ("bad chunk size, own send",
                 lambda d, k: [send(d[:len(chunk_head(k))]),
                               send(d[len(chunk_head(k)):], how="sendmsg")])]):
            if name.startswith("20 KiB"):
                data, traced = long_head(k), 0
            elif name.startswith("150"):
                data, traced = many(k), 0
            elif name.startswith("NUL"):
                data, traced = nul(k), 0
            else:
                data, traced = chunk_head(k) + bad_body, len(chunk_head(k))
            cases.append((name, data, make(data, k), traced))
        steps = []
        afters = []
        for k, (_, _, sends, _) in enumerate(cases):
            after = self.head(port, b"GET", b"/after%d" % k)
            afters.append(after)
            steps += [connect(port, k)] + [dict(s, conn=k) for s in sends]
            steps += [send(after, conn=k), {"op": "sleep", "ms": 20}, close(k)]
        res = self.script(*steps)
        self.check_returns(res)
        conns = srv.wait_closed(len(cases))
        n_traced = sum(1 for c in cases if c[3])
        if n_traced:
            th.wait_spans(self.spans_file, n_traced, timeout=th.AFTER_EXIT_TIMEOUT)
        spans = th.read_spans(self.spans_file, strict=True)
        failures = []
        for k, ((name, data, _, traced), conn, after) in enumerate(zip(cases, conns, afters)):
            mine = [s for s in spans if s["name"].endswith("%d" % k)]
            if traced:
                want_names = ["POST /badchunk%d" % k]
            else:
                want_names = []
            if sorted(s["name"] for s in mine) != want_names:
                failures.append("%s: spans %s, expected %s" % (name, [s["name"] for s in mine],
                                                               want_names))
            if traced and len(mine) == 1:
                want = self.injected([data[:traced]], mine) + data[traced:] + after
            else:
                want = data + after
            if bytes(conn.data) != want:
                failures.append("%s: %s" % (name, th.diff_bytes(want, bytes(conn.data),
                                                                full=False)))
        if failures:
            self.fail("%d problem(s) in %d cases (the peer must get the program's bytes with "
                      "lines only in a head the shim could parse, and the request after an "
                      "unparsable one must pass untouched, untraced):\n%s\n%s"
                      % (len(failures), len(cases), "\n".join(failures), th.format_spans(spans)))

    # ======================================================================
    # not HTTP

    SMTP = [  # (client says, server answers); the server speaks first
        (None, b"220 peer.test ESMTP ready\r\n"),
        (b"EHLO client.test\r\n", b"250-peer.test\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"),
        (b"MAIL FROM:<a@b.test>\r\n", b"250 OK\r\n"),
        (b"RCPT TO:<c@d.test>\r\n", b"250 OK\r\n"),
        (b"DATA\r\n", b"354 end with <CRLF>.<CRLF>\r\n"),
        (b"Subject: hi\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n.\r\n",
         b"250 queued as 42\r\n"),
        (b"QUIT\r\n", b"221 bye\r\n"),
    ]

    def test_smtp_like_client(self):
        def script(c, k):
            for says, answer in self.SMTP:
                if says:
                    c.recv_exact(len(says))
                c.send(answer)
            c.recv_to_close()
        peer = self.peer(script)
        steps = [connect(peer.port)]
        for k, (says, answer) in enumerate(self.SMTP):
            if says:
                steps.append(send(says, how=("send", "write", "sendmsg", "writev")[k % 4]))
            steps.append(read_n(len(answer)))
        res = self.script(*steps, close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(b"".join(s for s, _ in self.SMTP if s), c.received, "client to server")
        self.assert_bytes(b"".join(a for _, a in self.SMTP), self.received(res), "server to client")
        self.no_spans()

    def test_smtp_like_traced_server(self):
        proc, port = self.start_server("smtp")
        c = raw_connect(port)
        answers = [b"220 framing.test ESMTP ready\r\n",
                   b"250-framing.test\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n",
                   b"250 OK\r\n", b"250 OK\r\n", b"354 end with <CRLF>.<CRLF>\r\n",
                   b"250 queued as 42\r\n", b"221 bye\r\n"]
        for (says, _), want in zip(self.SMTP, answers):
            if says:
                c.send(says)
            self.assertEqual(c.recv_exact(len(want)), want)
        c.close()
        time.sleep(0.3)  # two export periods
        proc.stop()
        self.no_spans()

    def test_postgres_like_binary_startup(self):
        ssl_request = struct.pack("!II", 8, 80877103)
        params = b"user\x00postgres\x00database\x00GET / HTTP/1.1\x00\x00"
        startup = struct.pack("!II", 8 + len(params), 196608) + params
        q = b"SELECT 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';\x00"
        query = b"Q" + struct.pack("!I", 4 + len(q)) + q
        terminate = b"X\x00\x00\x00\x04"
        ready = (b"R\x00\x00\x00\x08\x00\x00\x00\x00"
                 b"S\x00\x00\x00\x19server_version\x0016.0\x00" b"Z\x00\x00\x00\x05I")
        result = (b"T\x00\x00\x00\x21\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19"
                  b"\xff\xff\xff\xff\xff\xff\x00\x00" b"Z\x00\x00\x00\x05I")

        def script(c, k):
            c.recv_exact(len(ssl_request))
            c.send(b"N")
            c.recv_exact(len(startup))
            c.send(ready)
            c.recv_exact(len(query))
            c.send(result)
            c.recv_exact(len(terminate))
            c.recv_to_close()
        peer = self.peer(script)
        res = self.script(connect(peer.port), send(ssl_request), read_n(1),
                          send(*pieces(startup, 4, 8, 20), how="sendmsg"), read_n(len(ready)),
                          send(query, how="write"), read_n(len(result)), send(terminate),
                          close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        self.assert_bytes(ssl_request + startup + query + terminate, c.received, "client to server")
        self.assert_bytes(b"N" + ready + result, self.received(res), "server to client")
        self.no_spans()

    # ======================================================================
    # MSG_PEEK, MSG_WAITALL

    def test_msg_peek_traced_server(self):
        proc, port = self.start_server("peek")
        c = raw_connect(port)
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        for req in (self.head(port, b"GET", b"/p1"),
                    self.head(port, b"POST", b"/p2", b"Content-Length: 10") + b"0123456789",
                    self.head(port, b"GET", b"/p3")):
            c.send(req, pieces=2, delay=0.02)  # the server peeks at a partial head first
            self.assertEqual(c.recv_exact(len(ok)), ok)
        c.close()
        spans = sorted(self.server_spans(proc, 3), key=lambda s: s["start"])
        self.assertEqual([s["name"] for s in spans], ["GET /p1", "POST /p2", "GET /p3"],
                         "one server span per request, peeked or not")
        for s in spans:
            self.assert_clean_status(s, 200)
        self.assert_in_order(spans)

    def test_msg_peek_client(self):
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        reqs = [self.head(srv.port, b"GET", b"/peek/%d" % i) for i in range(3)]
        steps = [connect(srv.port)]
        for r in reqs:
            steps += [send(r), {"op": "peek_response"}]
        res = self.script(*steps, close())
        (conn,) = srv.wait_closed(1)
        self.assert_bytes(th.RecordingServer.DEFAULT_RESPONSE * 3, self.received(res),
                          "what the program read")
        spans = self.final_spans(3, kind=th.KIND_CLIENT)
        order = [self.span_named(spans, "GET /peek/%d" % i) for i in range(3)]
        self.assert_bytes(self.injected(reqs, order), conn.data, "requests")
        for s in order:
            self.assert_clean_status(s, 200)
        self.assert_in_order(order)

    def test_msg_waitall_client(self):
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + b"w" * 3000

        def script(c, k):
            for _ in range(2):
                c.recv_request()
                c.send(resp, pieces=4, delay=0.02)
            c.recv_to_close()
        peer = self.peer(script)
        reqs = [self.head(peer.port, b"GET", b"/waitall/%d" % i) for i in range(2)]
        res = self.script(connect(peer.port), send(reqs[0]),
                          {"op": "recv", "n": len(resp), "flags": ["MSG_WAITALL"]},
                          send(reqs[1]), read_n(len(resp)), close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        waitall = res["steps"][2]
        self.assertEqual(waitall["returns"], [len(resp)], "recv(MSG_WAITALL) returns everything")
        self.assert_bytes(resp * 2, self.received(res), "what the program read")
        spans = self.final_spans(2, kind=th.KIND_CLIENT)
        order = [self.span_named(spans, "GET /waitall/%d" % i) for i in range(2)]
        self.assert_bytes(self.injected(reqs, order), c.received, "requests")
        for s in order:
            self.assert_clean_status(s, 200)
        self.assert_in_order(order)


    # ======================================================================
    # one write, one segment

    def test_one_write_of_several_messages_is_one_segment(self):
        """A client that leaves Nagle's algorithm on writes two pipelined
        heads in one call, then a blank line after a body with the next
        head: the shim sends each message's bytes in a call of its own, and
        each call's bytes go out as one segment with the next, as the
        program's would. Apart, a head behind an unacknowledged segment
        waits for the peer's delayed acknowledgement."""
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

        def script(c, k):
            for _ in range(4):
                c.recv_request()
                c.send(resp)
            c.recv_to_close()
        peer = self.peer(script)
        pipelined = [self.head(peer.port, b"GET", b"/pipelined/%d" % i) for i in range(2)]
        post = self.head(peer.port, b"POST", b"/body", b"Content-Length: 4") + b"data"
        after_blank = self.head(peer.port, b"GET", b"/after-blank")
        tcp_info = {"op": "tcp_info"}
        res = self.script({"op": "connect", "port": peer.port, "nodelay": False},
                          send(pipelined[0] + pipelined[1]), tcp_info, read_n(2 * len(resp)),
                          send(post), tcp_info, read_n(len(resp)),
                          send(b"\r\n" + after_blank), tcp_info, read_n(len(resp)),
                          tcp_info, close())
        (c,) = peer.wait(1)
        self.assertIsNone(c.error, "peer: %s" % c.error)
        infos = [st["returns"] for st in res["steps"] if st["op"] == "tcp_info"]
        # each write's last bytes left at once: nothing was held back after it
        self.assertEqual([i[1] for i in infos[:3]], [0, 0, 0], "bytes written, not sent")
        self.assertEqual(infos[3][0], 3,
                         "segments with data: one for each of the program's three writes")
        spans = self.final_spans(4, kind=th.KIND_CLIENT)
        order = [self.span_named(spans, n) for n in
                 ("GET /pipelined/0", "GET /pipelined/1", "POST /body", "GET /after-blank")]
        self.assert_bytes(self.injected(pipelined + [post], order[:3])
                          + b"\r\n" + self.injected([after_blank], order[3:]),
                          c.received, "requests")


if __name__ == "__main__":
    th.main()
