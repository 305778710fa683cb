"""stress_client.py — thousands of HTTP/1.1 requests over a few keep-alive
connections, written through every write door in random pieces on
non-blocking sockets with a tiny send buffer. Runs under the shim in
test_transparency.py; the receiver (not traced) records every byte.

    /usr/bin/python3 stress_client.py --port P --seed S --outdir DIR
        [--conns 4] [--requests 2200] [--sndbuf 4096] [--max-inflight 10]
        [--deadline 40]

The seed decides the requests (gen_requests, also imported by the test),
how the byte stream of each connection is cut into
calls (request line, header lines, at and inside the final CRLF CRLF, head
alone or with body bytes, several requests in one call), which door each
call uses (socket.send, socket.sendmsg with many buffers, os.write,
os.writev) and how a sendmsg/writev call spreads its bytes over buffers
(these last two, and the read sizes, come from one generator whose draws
depend on how often calls meet EAGAIN, i.e. on timing).
A call that returns short is continued from exactly the offset its return
value says; EAGAIN waits with poll. Responses are read (in random sizes,
through recv/read/recvmsg/readv) whenever poll says a socket is readable,
interleaved with writing; at most --max-inflight requests are unanswered
per connection (as pipelining clients do).

Writes, in DIR:
  conn-K.sent    the bytes the write calls accepted, in order (the program's stream)
  conn-K.resp    every byte read
  calls.log      one line per write call: conn, offset, asked, door, buffers, result
Prints one JSON line (summary) on stdout: per connection the request table
(start, inject point, end, span name), answered, error; per door call,
short and EAGAIN counts; return value violations (0 for a non-empty buffer,
more than asked, a failure other than EAGAIN). Exit status 0 when every
request was written and answered and no return value was wrong, else 1.
"""

import argparse
import bisect
import errno
import json
import os
import random
import select
import socket
import sys
import time

DOORS = ("send", "sendmsg", "write", "writev")
READ_DOORS = ("recv", "read", "recvmsg", "readv")

# --------------------------------------------------------------------------
# the requests (deterministic from the seed; test_transparency.py imports this)

_HTTPISH = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\r\n\r\n", b"HTTP/1.1 200 OK\r\n",
            b"X-B3-TraceId: 0123\r\n", b"traceparent: 00-", b"0\r\n\r\n", b"\r\n"]


def _body_bytes(rng, n):
    out = bytearray()
    while len(out) < n:
        if rng.random() < 0.2:
            out += rng.choice(_HTTPISH)
        else:
            out += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    return bytes(out[:n])


def _chunked(rng):
    exts = [b"", b"", b";ext=1", b';a=b;c="d e"', b";x", b';name="GET / HTTP/1.1"']
    out = bytearray()
    for _ in range(rng.randint(1, 5)):
        size = rng.randint(1, 700)
        sz = b"%x" % size
        r = rng.random()
        if r < 0.2:
            sz = sz.upper()
        elif r < 0.25:
            sz = b"00" + sz
        out += sz + rng.choice(exts) + b"\r\n" + _body_bytes(rng, size) + b"\r\n"
    out += b"0" + rng.choice(exts) + b"\r\n"
    for t in rng.choice([[], [b"X-Trailer: t"], [b"X-Checksum: abc", b"x-more: GET / HTTP/1.1"]]):
        out += t + b"\r\n"
    out += b"\r\n"
    return bytes(out)


def _extra_headers(rng):
    pool = [
        lambda: b"Accept: */*",
        lambda: b"X-Pad-%d: %s" % (rng.randint(0, 99), b"p" * rng.choice((rng.randint(0, 100),
                                                                       rng.randint(0, 3000)))),
        lambda: b"x-lower-case: v",
        lambda: b"X-Colon: a: b: HTTP/1.1 200 OK",
        lambda: b"X-Empty:",
        lambda: b"X-NoSpace:value",
        lambda: b"Cookie: a=b; c=d",
        lambda: b"Connection: keep-alive",
        lambda: b"X-Looks-Like-Head: GET / HTTP/1.1",
        lambda: b"Accept-Encoding: identity",
    ]
    return [rng.choice(pool)() for _ in range(rng.randint(0, 8))]


def gen_requests(seed, ci, n, port):
    """The n requests of connection ci: a list of dicts with bytes, head_len
    (through the blank line), inject (offset of the blank line's CRLF in the
    request: where the shim's lines go), name (the client span's name),
    index."""
    rng = random.Random("%s/gen/%d" % (seed, ci))
    reqs = []
    for i in range(n):
        method = rng.choice([b"GET"] * 4 + [b"POST"] * 3 + [b"PUT", b"PATCH", b"DELETE",
                                                             b"OPTIONS"])
        path = b"/t/c%d/r%d" % (ci, i)
        query = b""
        if rng.random() < 0.4:
            query = b"?" + b"&".join(b"k%d=%s" % (j, rng.choice([b"v", b"a%2Fb", b"HTTP/1.1",
                                                                  b"x" * rng.randint(0, 150)]))
                                     for j in range(rng.randint(1, 4)))
        lines = [b"Host: 127.0.0.1:%d" % port, b"User-Agent: stress/1"] + _extra_headers(rng)
        rng.shuffle(lines)
        body = b""
        kind = "none"
        if method in (b"POST", b"PUT", b"PATCH"):
            kind = rng.choice(["cl", "cl", "chunked", "cl0"])
        elif rng.random() < 0.05:
            kind = "cl0"
        if kind == "cl":
            body = _body_bytes(rng, rng.choice((rng.randint(1, 300), rng.randint(1, 6000))))
            lines.append(rng.choice([b"Content-Length", b"content-length", b"CONTENT-LENGTH"])
                         + b": %d" % len(body))
        elif kind == "cl0":
            lines.append(b"Content-Length: 0")
        elif kind == "chunked":
            body = _chunked(rng)
            lines.append(rng.choice([b"Transfer-Encoding: chunked", b"transfer-encoding: chunked"]))
        if kind != "none" and rng.random() < 0.5:
            lines.append(b"Content-Type: application/octet-stream")
        head = b"%s %s%s HTTP/1.1\r\n" % (method, path, query) + b"".join(
            ln + b"\r\n" for ln in lines) + b"\r\n"
        reqs.append({"bytes": head + body, "head_len": len(head), "inject": len(head) - 2,
                     "name": "%s %s" % (method.decode(), path.decode()), "index": i,
                     "line_len": head.index(b"\r\n") + 2, "body": kind})
    return reqs


def plan_cuts(rng, reqs):
    """Offsets in the connection's stream where one call ends and the next
    begins (sorted, without 0 and the end)."""
    cuts = set()
    pos = 0
    merged = 0
    for k, r in enumerate(reqs):
        s, hl, n = pos, r["head_len"], len(r["bytes"])
        if k > 0:
            if merged < 3 and rng.random() < 0.3:
                merged += 1  # pipelining: this request rides with the previous one
            else:
                merged = 0
                cuts.add(s)
        style = rng.random()
        if style > 0.4:
            for _ in range(rng.randint(1, 4)):
                where = rng.random()
                if where < 0.3:  # inside the request line (incl. its CRLF)
                    cuts.add(s + rng.randint(1, r["line_len"]))
                elif where < 0.6:  # inside the header lines
                    cuts.add(s + rng.randint(r["line_len"], hl - 1))
                else:  # at or inside the final CRLF CRLF, or the head's end
                    cuts.add(s + hl - rng.randint(0, 4))
        if n > hl and style > 0.2:
            if rng.random() < 0.5:
                cuts.add(s + hl)  # head alone, then the body
            for _ in range(rng.randint(0, 2)):
                cuts.add(s + rng.randint(hl, n - 1))
        pos += n
    cuts.discard(0)
    return sorted(c for c in cuts if 0 < c < pos)


def split_bufs(rng, data, many):
    """data as a list of buffers for sendmsg/writev; sometimes empty ones too."""
    if not data:
        return [data]
    k = rng.randint(1, min(len(data), 24 if many else 6))
    pts = sorted(rng.sample(range(1, len(data)), k - 1)) if k > 1 else []
    bufs, prev = [], 0
    for p in pts + [len(data)]:
        bufs.append(data[prev:p])
        prev = p
    if rng.random() < 0.1:
        bufs.insert(rng.randint(0, len(bufs)), b"")
    return bufs


# --------------------------------------------------------------------------
# one connection


class Conn:
    def __init__(self, ci, reqs, cuts, sock):
        self.ci = ci
        self.reqs = reqs
        self.stream = b"".join(r["bytes"] for r in reqs)
        self.starts, self.ends, self.injects = [], [], []
        pos = 0
        for r in reqs:
            self.starts.append(pos)
            self.injects.append(pos + r["inject"])
            pos += len(r["bytes"])
            self.ends.append(pos)
        self.bounds = cuts + [len(self.stream)]
        self.bi = 0            # index of the current call's end in bounds
        self.cursor = 0        # bytes of the stream the program has written
        self.sock = sock
        self.fd = sock.fileno()
        self.blocked = False   # last write said EAGAIN: wait for POLLOUT
        self.resp = bytearray()
        self.rpos = 0          # parse position in resp
        self.answered = 0
        self.error = None
        self.eof = False

    def done_writing(self):
        return self.cursor >= len(self.stream)

    def done(self):
        return self.error is not None or (self.done_writing() and self.answered >= len(self.reqs))

    def call_end(self):
        while self.bounds[self.bi] <= self.cursor:
            self.bi += 1
        return self.bounds[self.bi]

    def begun_by(self, end):
        """Requests with at least one byte before `end`."""
        return bisect.bisect_left(self.starts, end)

    def complete(self):
        return bisect.bisect_right(self.ends, self.cursor)

    def where(self, start, end):
        """[start, end) described relative to the requests it touches."""
        k = max(0, bisect.bisect_right(self.starts, start) - 1)
        out = []
        while k < len(self.reqs) and self.starts[k] < end:
            s0, r = self.starts[k], self.reqs[k]
            out.append("request %d (%s, %d bytes, head %d, inject point %d): bytes [%d, %d)"
                       % (k, r["name"], len(r["bytes"]), r["head_len"], r["inject"],
                          max(0, start - s0), min(len(r["bytes"]), end - s0)))
            k += 1
        return "; ".join(out)

    def holds_inject_point(self, end):
        """Does [cursor, end) hold a request's inject point?"""
        k = bisect.bisect_left(self.injects, self.cursor)
        return k < len(self.injects) and self.injects[k] < end

    def may_write(self, max_inflight):
        if self.error or self.done_writing() or self.blocked:
            return False
        end = self.call_end()
        if self.begun_by(end) - self.answered <= max_inflight:
            return True
        # too many unanswered; wait for answers unless none can come
        return self.complete() - self.answered == 0

    def parse_responses(self):
        while True:
            end = self.resp.find(b"\r\n\r\n", self.rpos)
            if end < 0:
                return
            head = bytes(self.resp[self.rpos:end]).decode("latin-1")
            length = 0
            for ln in head.split("\r\n")[1:]:
                name, _, value = ln.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if not head.startswith("HTTP/1.1 "):
                self.error = "bad response at byte %d: %r" % (self.rpos, head[:80])
                return
            total = end + 4 + length
            if len(self.resp) < total:
                return
            self.rpos = total
            self.answered += 1


class Stats:
    def __init__(self):
        self.calls = {d: 0 for d in DOORS}
        self.shorts = {d: 0 for d in DOORS}
        self.eagain = {d: 0 for d in DOORS}
        self.reads = {d: 0 for d in READ_DOORS}
        self.short_with_head_end = 0  # short returns of calls holding an inject point
        self.violations = []


def write_once(c, rng, st, log):
    """One write call of the current piece; returns True when it wrote."""
    end = c.call_end()
    data = c.stream[c.cursor:end]
    door = rng.choice(DOORS)
    has_head_end = c.holds_inject_point(end)
    bufs = None
    try:
        if door == "send":
            r = c.sock.send(data)
        elif door == "write":
            r = os.write(c.fd, data)
        else:
            bufs = split_bufs(rng, data, many=has_head_end)
            if door == "sendmsg":
                r = c.sock.sendmsg(bufs)
            else:
                r = os.writev(c.fd, bufs)
    except BlockingIOError:
        st.eagain[door] += 1
        c.blocked = True
        log.write("%d %d %d %s %s EAGAIN\n" % (c.ci, c.cursor, len(data), door,
                                             [len(b) for b in bufs] if bufs else "-"))
        return False
    except OSError as e:
        st.violations.append("conn %d: %s of %d bytes at offset %d failed: %s (errno %s); "
                             "the call held %s" % (c.ci, door, len(data), c.cursor, e, e.errno,
                                                   c.where(c.cursor, end)))
        c.error = "write failed: %s" % e
        return False
    st.calls[door] += 1
    log.write("%d %d %d %s %s %d\n" % (c.ci, c.cursor, len(data), door,
                                     [len(b) for b in bufs] if bufs else "-", r))
    if r <= 0 or r > len(data):
        st.violations.append("conn %d: %s of %d bytes at offset %d returned %d; the call held %s"
                             % (c.ci, door, len(data), c.cursor, r, c.where(c.cursor, end)))
        c.error = "write returned %d for %d bytes" % (r, len(data))
        return False
    if r < len(data):
        st.shorts[door] += 1
        if has_head_end:
            st.short_with_head_end += 1
    c.cursor += r
    return True


def read_once(c, rng, st):
    n = rng.choice([1, 7, 64, 512, 4096, 65536])
    door = rng.choice(READ_DOORS)
    try:
        if door == "recv":
            b = c.sock.recv(n)
        elif door == "read":
            b = os.read(c.fd, n)
        elif door == "recvmsg":
            b = c.sock.recvmsg(n)[0]
        else:
            half = max(1, n // 2)
            bufs = [bytearray(half), bytearray(max(1, n - half))]
            k = os.readv(c.fd, bufs)
            b = bytes((bufs[0] + bufs[1])[:k])
    except BlockingIOError:
        return
    except OSError as e:
        c.error = "read failed after %d of %d responses: %s" % (c.answered, len(c.reqs), e)
        return
    st.reads[door] += 1
    if not b:
        c.eof = True
        if not c.done():
            c.error = "peer closed after %d of %d responses" % (c.answered, len(c.reqs))
        return
    c.resp += b
    c.parse_responses()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--requests", type=int, default=2200)
    ap.add_argument("--sndbuf", type=int, default=4096)
    ap.add_argument("--max-inflight", type=int, default=10)
    ap.add_argument("--deadline", type=float, default=40.0)
    a = ap.parse_args()
    deadline = time.monotonic() + a.deadline
    io_rng = random.Random("%s/io" % a.seed)
    st = Stats()
    conns = []
    per = [a.requests // a.conns + (1 if k < a.requests % a.conns else 0) for k in range(a.conns)]
    for ci in range(a.conns):
        reqs = gen_requests(a.seed, ci, per[ci], a.port)
        cuts = plan_cuts(random.Random("%s/cuts/%d" % (a.seed, ci)), reqs)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, a.sndbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ci % 2:  # non-blocking connect (EINPROGRESS, then poll), as curl does
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", a.port))
            if rc not in (0, errno.EINPROGRESS):
                raise OSError(rc, os.strerror(rc))
            select.select([], [s], [], 10)
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc:
                raise OSError(rc, os.strerror(rc))
        else:
            s.settimeout(10)
            s.connect(("127.0.0.1", a.port))
            s.setblocking(False)
        conns.append(Conn(ci, reqs, cuts, s))

    log = open(os.path.join(a.outdir, "calls.log"), "w")
    poller = select.poll()
    registered = {}
    timed_out = False
    while not all(c.done() for c in conns):
        if time.monotonic() > deadline:
            timed_out = True
            break
        wrote = False
        for c in conns:
            for _ in range(io_rng.randint(1, 4)):
                if not c.may_write(a.max_inflight):
                    break
                if write_once(c, io_rng, st, log):
                    wrote = True
        for c in conns:
            ev = 0
            if not c.done() and not c.eof:
                ev |= select.POLLIN
                if c.blocked:
                    ev |= select.POLLOUT
            if ev:
                poller.register(c.fd, ev)
                registered[c.fd] = c
            elif c.fd in registered:
                poller.unregister(c.fd)
                del registered[c.fd]
        if not registered:
            continue
        ready = any(c.may_write(a.max_inflight) for c in conns)
        for fd, ev in poller.poll(0 if (wrote or ready) else 200):
            c = registered[fd]
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                read_once(c, io_rng, st)
            if ev & (select.POLLOUT | select.POLLHUP | select.POLLERR):
                c.blocked = False
    log.close()

    # A graceful end, also after a failure: no RST (closing with responses
    # unread would make the receiver lose bytes it has not read yet).
    for c in conns:
        try:
            c.sock.shutdown(socket.SHUT_WR)
            c.sock.settimeout(2)
            while True:
                b = c.sock.recv(65536)
                if not b:
                    break
                c.resp += b
        except OSError:
            pass

    summary = {"seed": a.seed, "timed_out": timed_out, "conns": [], "calls": st.calls,
               "shorts": st.shorts, "eagain": st.eagain, "reads": st.reads,
               "short_with_head_end": st.short_with_head_end, "violations": st.violations}
    ok = not timed_out and not st.violations
    for c in conns:
        with open(os.path.join(a.outdir, "conn-%d.sent" % c.ci), "wb") as f:
            f.write(c.stream[:c.cursor])
        with open(os.path.join(a.outdir, "conn-%d.resp" % c.ci), "wb") as f:
            f.write(bytes(c.resp))
        summary["conns"].append({
            "conn": c.ci, "written": c.cursor, "stream_len": len(c.stream),
            "answered": c.answered, "error": c.error, "local_port": c.sock.getsockname()[1],
            "requests": [[s, s + r["inject"], e, r["name"]]
                         for s, e, r in zip(c.starts, c.ends, c.reqs)]})
        ok = ok and c.error is None and c.done()
        c.sock.close()
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
