"""test_transparency.py — the shim changes nothing but the lines it injects.

apps/stress_client.py, under the shim, writes thousands of HTTP/1.1
requests over a few keep-alive connections: non-blocking sockets with a
4 KiB send buffer, every request cut into random pieces (inside the
request line, inside header lines, at and inside the final CRLF CRLF, head
alone or with body bytes, several requests in one call), each piece sent
through a random door (send, sendmsg with many buffers, write, writev),
bodies by Content-Length and chunked (extensions, trailers), EAGAIN waited
for with poll and every short write continued from exactly the offset its
return value says. A receiver in this process (never traced) reads slowly
in small random pieces, so that the sender sees EAGAIN and short writes
all the time, also inside the injected bytes, and answers every request
(204, or 200 with a small body).

Then: the bytes received on each connection are exactly the program's
stream with the injected lines of that request's client span inserted at
the end of each head, once per request, and nothing else; one CLIENT span
per request; every injected span id is a span in the file; the responses
reach the program unchanged; no write returned 0 or more than asked.

The requests and where they are cut into calls are deterministic from a
seed; TSTEST_SEED=S reruns one (by default each run draws a new one; it is
printed, and named in every failure). The door and buffers of each call and
the read sizes come from the seed too, but how often a call meets EAGAIN
depends on timing, so the exact call sequence varies from run to run.
"""

import json
import os
import random
import re
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

sys.path.insert(0, th.APPS)
import stress_client  # noqa: E402

SEED = os.environ.get("TSTEST_SEED") or str(random.SystemRandom().randrange(1, 10 ** 9))
CONNS = 4
REQUESTS = 2200
CLIENT_DEADLINE = 25.0   # the client gives up after this
CLIENT_WAIT = 35.0       # and is killed after this

_REQ_LINE = re.compile(rb"^[A-Z]+ /t/c(\d+)/r(\d+)\S* HTTP/1\.1$")
# any block of injected lines (for the diagnosis of a failure)
_INJECTED = re.compile(rb"X-B3-TraceId: [0-9a-f]{32}\r\nX-B3-SpanId: [0-9a-f]{16}\r\n"
                       rb"(?:X-B3-ParentSpanId: [0-9a-f]{16}\r\n)?X-B3-Sampled: [01]\r\n"
                       rb"traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\r\n")


# The head sizes servers commonly refuse past (hooks/conn_send.c
# peer_max_head_bytes): a head within one that the lines would take past
# it goes without them.
PEER_HEAD_BOUNDS = (8192, 15360, 16384)


def crosses_a_peer_bound(head_len, lines_len):
    return any(head_len <= b < head_len + lines_len for b in PEER_HEAD_BOUNDS)


def strip_injections(received, requests):
    """received, walked request by request in the program's coordinates,
    without any block of injected lines found at a request's inject point:
    (the rest, indexes of the requests that had a block). When only
    injections went wrong, the rest equals the program's stream."""
    out = bytearray()
    pos = 0
    had = []
    for k, (start, inject, end, _) in enumerate(requests):
        out += received[pos:pos + inject - start]
        pos += inject - start
        m = _INJECTED.match(received, pos)
        if m:
            had.append(k)
            pos = m.end()
        out += received[pos:pos + end - inject]
        pos += end - inject
    out += received[pos:]
    return bytes(out), had


def request_len(buf):
    """Length of the first complete request in buf (head, then a
    Content-Length or chunked body), None when more bytes are needed;
    ValueError when the bytes are not a well-formed request."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 65536:
            raise ValueError("no end of head within 64 KiB")
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    if not _REQ_LINE.match(lines[0]):
        raise ValueError("bad request line %r" % lines[0][:100])
    chunked, length = False, 0
    for ln in lines[1:]:
        name, sep, value = ln.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError("bad header line %r" % ln[:100])
        n = name.lower()
        if n == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
        elif n == b"content-length":
            length = int(value.strip())
    pos = end + 4
    if not chunked:
        return pos + length if len(buf) >= pos + length else None
    while True:
        le = buf.find(b"\r\n", pos)
        if le < 0:
            return None
        size = int(bytes(buf[pos:le]).split(b";")[0], 16)
        pos = le + 2
        if size == 0:
            while True:  # trailer lines, then the empty line
                le = buf.find(b"\r\n", pos)
                if le < 0:
                    return None
                if le == pos:
                    return pos + 2
                pos = le + 2
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise ValueError("chunk of %d bytes not followed by CRLF" % size)
        pos += size + 2


def response_for(request):
    """The receiver's answer, chosen by the request's path (the test knows it too)."""
    m = _REQ_LINE.match(request.split(b"\r\n", 1)[0])
    ci, i = int(m.group(1)), int(m.group(2))
    return response_by_index(ci, i)


def response_by_index(ci, i):
    if (ci * 31 + i) % 3 == 0:
        return 204, b"HTTP/1.1 204 No Content\r\n\r\n"
    body = b"0123456789abcdefghijklmnopqrstuvwxyz"[:i % 23]
    return 200, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


class SlowReceiver(th.AcceptingServer):
    """Accepts on 127.0.0.1 (small SO_RCVBUF), reads each connection in small
    random pieces with random short sleeps, records every byte, answers
    every complete request. A malformed stream is recorded and the
    connection closed (the client then stops quickly)."""

    def __init__(self, seed):
        self.seed = seed
        self.conns = []
        self._lock = threading.Lock()
        # A small MSS too: with a window this small, loopback's 64 KiB MSS is
        # clamped to half the window, the window then dips just below the
        # MSS and the sender waits for the 200 ms persist timer for every
        # segment (measured: 1 seed in 6 stalled to the deadline, with or
        # without the shim). 512 keeps several segments in the window.
        self.listen(16, rcvbuf=2048, maxseg=512)

    def _accepted(self, c, peer, n):
        rec = th.RecordedConn(peer)
        with self._lock:
            self.conns.append(rec)
        return self._serve, (c, rec, n)

    def _serve(self, c, rec, n):
        rng = random.Random("%s/recv/%d" % (self.seed, n))
        sizes = (1, 2, 3, 5, 8, 13, 40, 100, 300, 700, 1500, 3000)
        pending = bytearray()
        try:
            for b in self._received(c, lambda: rng.choice(sizes)):
                rec.data += b
                pending += b
                for req in th.complete_requests(pending, request_len):
                    rec.requests.append(req)
                    _, resp = response_for(req)
                    c.sendall(resp)
                    rec.sent += resp
                r = rng.random()
                if r < 0.1:
                    time.sleep(rng.uniform(0, 0.004))
                elif r < 0.12:  # a longer stall: the sender's buffer fills up
                    time.sleep(rng.uniform(0.005, 0.015))
        except ValueError as e:
            rec.error = "unparsable stream after %d requests: %s" % (len(rec.requests), e)
        except OSError as e:
            rec.error = "socket error: %s" % e
        finally:
            c.close()
            rec.closed.set()

    def wait_closed(self, n, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                conns = list(self.conns)
            if len(conns) >= n and all(r.closed.is_set() for r in conns):
                return conns
            time.sleep(0.02)
        with self._lock:
            return list(self.conns)


class TransparencyTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def test_stress_byte_exact(self):
        tmp = self.make_tmp()
        spans_file = os.path.join(tmp, "spans.jsonl")
        sys.stderr.write("\n[test_transparency: seed %s]\n" % SEED)
        rcv = SlowReceiver(SEED)
        self.addCleanup(rcv.close)
        env = th.shim_env("stress", spans_file, OTEL_BSP_MAX_QUEUE_SIZE=65536)
        t0 = time.monotonic()
        p = th.Proc([th.PY, os.path.join(th.APPS, "stress_client.py"), "--port", rcv.port,
                     "--seed", SEED, "--outdir", tmp, "--conns", CONNS, "--requests", REQUESTS,
                     "--deadline", CLIENT_DEADLINE], env=env, tmpdir=tmp, name="stress_client")
        self.addCleanup(p.stop)
        rerun = ("seed %s (rerun: TSTEST_SEED=%s TRACESHIM_BUILD=%s %s %s)"
                 % (SEED, SEED, th.BUILD, th.PY, os.path.abspath(__file__)))
        try:
            p.wait(CLIENT_WAIT)
        except AssertionError as e:
            self.fail("%s: %s" % (rerun, e))
        elapsed = time.monotonic() - t0
        summary = None
        for line in p.stdout().decode("utf-8", "replace").splitlines():
            if line.startswith("{"):
                summary = json.loads(line)
        if summary is None:
            self.fail("%s: the client printed no summary\n%s" % (rerun, p.describe()))
        received = rcv.wait_closed(CONNS, timeout=5)

        total = sum(len(c["requests"]) for c in summary["conns"])
        deadline = time.monotonic() + th.AFTER_EXIT_TIMEOUT
        while True:
            spans = th.read_spans(spans_file)
            if len(spans) >= total or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        spans = th.read_spans(spans_file, strict=True)
        client_spans = [s for s in spans if s["kind"] == th.KIND_CLIENT]
        by_name = {}
        for s in client_spans:
            by_name.setdefault(s["name"], []).append(s)
        span_ids = {s["spanId"]: s for s in client_spans}

        stats = ("%.1fs; write calls %s; short %s (%d holding an inject point); EAGAIN %s; "
                 "reads %s" % (elapsed, summary["calls"], summary["shorts"],
                               summary["short_with_head_end"], summary["eagain"],
                               summary["reads"]))
        sys.stderr.write("[test_transparency: %s]\n" % stats)
        problems = []

        # -- the client's own view: return values, completion
        if p.returncode != 0:
            problems.append("client exit status %s" % p.returncode)
        if summary["timed_out"]:
            problems.append("client gave up after %.0fs (deadline)" % CLIENT_DEADLINE)
        for v in summary["violations"][:10]:
            problems.append("return value: " + v)
        for c in summary["conns"]:
            if c["error"] or c["answered"] != len(c["requests"]) or c["written"] != c["stream_len"]:
                problems.append("conn %d: wrote %d of %d bytes, %d of %d responses, error: %s"
                                % (c["conn"], c["written"], c["stream_len"], c["answered"],
                                   len(c["requests"]), c["error"]))

        # -- the bytes on the wire
        by_port = {r.peer[1]: r for r in received}
        for c in summary["conns"]:
            ci = c["conn"]
            rec = by_port.get(c["local_port"])
            if rec is None:
                problems.append("conn %d: the receiver saw no connection from port %d"
                                % (ci, c["local_port"]))
                continue
            if rec.error:
                problems.append("conn %d: receiver: %s" % (ci, rec.error))
            with open(os.path.join(tmp, "conn-%d.received" % ci), "wb") as f:
                f.write(bytes(rec.data))  # for the diagnosis (TSTEST_KEEP=1)
            with open(os.path.join(tmp, "conn-%d.sent" % ci), "rb") as f:
                sent = f.read()
            with open(os.path.join(tmp, "conn-%d.resp" % ci), "rb") as f:
                resp = f.read()
            gen = b"".join(r["bytes"] for r in
                           stress_client.gen_requests(SEED, ci, len(c["requests"]), rcv.port))
            self.assertTrue(gen.startswith(sent), "harness: conn %d's stream is not the "
                            "generated one (%s)" % (ci, rerun))
            expected = bytearray()
            missing = 0
            bare = set()  # requests that go without the lines
            for k, (start, inject, end, name) in enumerate(c["requests"]):
                if end > len(sent):
                    expected += sent[start:]
                    break
                match = by_name.get(name, [])
                if len(match) == 1:
                    s = match[0]
                    lines = th.injected_lines(s["traceId"], s["spanId"], s["parentSpanId"])
                    if crosses_a_peer_bound(inject + 2 - start, len(lines)):
                        lines = b""  # its server would refuse it with them: none
                        bare.add(k)
                else:
                    missing += 1
                    lines = b"<%d client spans named %s>" % (len(match), name.encode())
                expected += sent[start:inject] + lines + sent[inject:end]
            got = bytes(rec.data)
            if got != bytes(expected):
                i = 0
                n = min(len(got), len(expected))
                while i < n and got[i] == expected[i]:
                    i += 1
                # the request the first difference falls in (receiver's count)
                k = 0
                pos = 0
                for req in rec.requests:
                    if pos + len(req) > i:
                        break
                    pos += len(req)
                    k += 1
                problems.append("conn %d: received stream differs from the program's bytes plus "
                                "the injected lines, in request %d (%s): %s%s"
                                % (ci, k, c["requests"][k][3] if k < len(c["requests"]) else "-",
                                   th.diff_bytes(bytes(expected), got, context=80, full=False),
                                   "" if not missing else
                                   " [%d requests without exactly one client span]" % missing))
                # diagnosis: were only the injections wrong, or the program's bytes too?
                rest, had = strip_injections(got, c["requests"])
                without = [k for k in range(len(c["requests"])) if k not in set(had)]
                problems.append("  diagnosis, conn %d: %d of %d requests carry a block of injected "
                                "lines at their inject point%s; the bytes around them %s"
                                % (ci, len(had), len(c["requests"]),
                                   " (first without: request %d, %s)"
                                   % (without[0], c["requests"][without[0]][3]) if without else "",
                                   "are the program's, byte for byte" if rest == sent else
                                   "differ from the program's: " +
                                   th.diff_bytes(sent, rest, context=60, full=False)))
            # each request carries one set of trace headers naming a client span
            bad = []
            for k, req in enumerate(rec.requests):
                _, headers, _ = th.parse_head(req)
                ids = th.header_values(headers, "X-B3-SpanId")
                tps = th.header_values(headers, "traceparent")
                if k in bare:
                    if ids or tps:
                        bad.append("request %d carries trace headers past a server's bound" % k)
                elif len(ids) != 1 or len(tps) != 1:
                    bad.append("request %d has %d X-B3-SpanId and %d traceparent headers"
                               % (k, len(ids), len(tps)))
                elif ids[0] not in span_ids:
                    bad.append("request %d carries X-B3-SpanId %s, not a client span in the file"
                               % (k, ids[0]))
                elif tps[0] != "00-%s-%s-01" % (span_ids[ids[0]]["traceId"], ids[0]):
                    bad.append("request %d: traceparent %s does not name span %s/%s"
                               % (k, tps[0], span_ids[ids[0]]["traceId"], ids[0]))
            if len(rec.requests) != len(c["requests"]):
                bad.append("the receiver parsed %d requests, the program wrote %d"
                           % (len(rec.requests), len(c["requests"])))
            if bad:
                problems.append("conn %d: %d problem(s) with trace headers, first: %s"
                                % (ci, len(bad), "; ".join(bad[:3])))
            if resp != bytes(rec.sent):
                problems.append("conn %d: the program did not read exactly the responses sent: %s"
                                % (ci, th.diff_bytes(bytes(rec.sent), resp, full=False)))

        # -- the spans
        if len(client_spans) != total:
            problems.append("%d CLIENT spans in the file for %d requests" % (len(client_spans),
                                                                          total))
        if len(spans) != len(client_spans):
            problems.append("%d spans that are not CLIENT spans" % (len(spans) - len(client_spans)))
        wrong = []
        for c in summary["conns"]:
            for k, (_, _, _, name) in enumerate(c["requests"]):
                match = by_name.get(name, [])
                if len(match) != 1:
                    wrong.append("%d client spans named %r" % (len(match), name))
                    continue
                want, _ = response_by_index(c["conn"], k)
                s = match[0]
                got = s["attrs"].get("http.response.status_code")
                if got != want or s["status"] == th.STATUS_ERROR or "error.type" in s["attrs"]:
                    wrong.append("%r: status code %s (want %d), span status %s, error.type %s"
                                 % (name, got, want, s["status"], s["attrs"].get("error.type")))
        if wrong:
            problems.append("%d requests without a right client span, first: %s"
                            % (len(wrong), "; ".join(wrong[:4])))

        # -- the harness did what it is for
        if sum(summary["shorts"].values()) == 0 or sum(summary["eagain"].values()) == 0:
            problems.append("harness: no short write or no EAGAIN was provoked: %s" % stats)

        if problems:
            self.fail("%s\n%d problem(s):\n  %s\n%s\nfiles: calls.log, conn-K.sent/resp/received "
                      "in %s%s" % (rerun, len(problems), "\n  ".join(problems[:25]), stats, tmp,
                         "" if th.KEEP else " (TSTEST_KEEP=1 keeps them)"))


if __name__ == "__main__":
    th.main()
