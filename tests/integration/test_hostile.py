"""test_hostile.py — the shim survives hostile programs (issue 7: "it never
breaks the program").

C probes (apps/*_probe.c, compiled here with cc) do what careful but unusual
programs do, under the shim. Each check fails when the shim breaks the
program or the trace (the report of the change that added this file says how
each was seen failing):

- EINTR on every door (apps/eintr_probe.c): SIGALRM every 100 µs without
  SA_RESTART while traced requests go out through write, send, sendto,
  sendmsg, writev, sendmmsg and come back through read, recv, recvfrom,
  recvmsg, readv, recvmmsg, to a server that reads slowly and answers in
  small pieces; connect interrupted (the accept queue is full) and finished
  by calling connect again or by waiting for writability (POSIX: the
  connection goes on); accept and accept4 interrupted on a traced server.
  The program sees -1/EINTR and short counts as without the shim (it counts
  them: they must have happened, on every door), the server receives the
  program's bytes with each request's header lines exactly once, one span
  per request with the right status.
- Requests from a signal handler (apps/sighandler_probe.c): a timer's
  handler makes whole requests on a second keep-alive socket (closing and
  reconnecting it now and then), on fresh connections, and, while the main
  loop sleeps, on the main loop's own socket; the main loop makes requests,
  opens and closes connections and allocates memory. Once with the timer
  alone, once with apps/lock_inject.c raising the signal each time the
  shim takes a lock on the main thread. No deadlock (bounded); every
  request arrives whole with the shim's lines at most once, each traced
  request has exactly its span (a request made while the handler
  interrupted the shim itself passes untraced).
- The shim's fds closed or replaced (apps/closefds_probe.c) while an export
  to a slow collector is on its way: close_range(3, ~0U, 0), closefrom(3),
  every fd closed one by one, dup2 over the span file's and the exporter
  socket's numbers.
  The program's files and socketpairs that get the shim's old numbers hold
  exactly what the program put there; spans keep coming, to the file and to
  the collector.
- Connections closed without close (apps/raw_close_probe.c): by
  syscall(SYS_close), SYS_close_range and SYS_dup2, as libuv closes every
  fd, a client's and a server's; the socketpair, pipe or fd received with
  SCM_RIGHTS that takes the number carries a request head exactly as written and makes no span
  (the shim once added its lines to the head, or traced it as a request
  in a trace of its ids). The same with Node (apps/node_child_pipe.js):
  a request, then text piped through a child. A thread's close_range
  with CLOSE_RANGE_UNSHARE closes nothing the main thread uses: its
  keep-alive connection's next request is still traced, also after that
  thread, and a thread it creates, made a connection whose socket took
  the same number in its own table (the connection was taken over: its
  request traced in its place, its close emptied the main thread's slot,
  whose next request went untraced), also with CLOSE_RANGE_CLOEXEC; that
  thread's own requests pass untraced, and a child it forks, whose fd
  table is the thread's, is traced. A connection the thread kept (fds
  closed from the one above it) is traced on it, and its close there
  leaves the program's traced. When that thread executes a program, the
  next image has its table: a request waiting on the others' connection
  ends as at its close, even where the thread's table holds a file at the
  connection's number (it ended as passed on, its outcome unknown), and
  as passed on when the thread kept it. The program's only thread's
  close_range with CLOSE_RANGE_UNSHARE (its helper thread ended) closes
  in place, and its later connections are traced. A socket
  dissolved by connect to AF_UNSPEC and connected elsewhere: the new
  connection's request has its own span, peer and status (the old
  connection's state was kept: an abandoned request took the new
  server's answer).
- fork from a multi-threaded program while exports are slow (apps/
  fork_probe.c, file and OTLP to a collector that answers after 100 ms;
  apps/lock_inject.c makes the other threads hold the shim's locks a while
  each time): every child ends in bounded time with its own status and its
  span comes out. vfork + _exit (the child closes everything and opens a
  socket) and vfork + exec: the parent's traced connection is intact.
- Ends (apps/exit_probe.c): exit() from three threads at once while eight
  are in traced I/O, _exit and abort mid-request: the process ends within a
  bound with exactly the status it has without the shim (SIGABRT for
  abort), nothing on stderr, the span file whole lines. _exit from a
  SIGALRM handler that interrupted malloc, with a process span (the shim
  once started its reporter thread and encoded spans there: a corrupted
  heap, SIGABRT in most runs), 20 times, half with the reporter in the
  program's fd table: status 5 each time, nothing on stderr, and each
  run's process span out with its exit code; the reporter thread started
  when signal() installed the handler, not before.
- The same ends while the allocator's lock is taken (apps/alloc_lock_probe.c,
  a program with its own malloc whose lock the handler finds taken): the
  flush the reporter thread does for that _exit or exec allocates nothing
  (it prepared its exporters when it started, and sigaction returned only
  then), so the process span is out, nothing on stderr. Also without a
  process span (a client span to flush) and in a forked child, whose
  reporter thread prepares as it starts.
- Handlers installed while the export hangs (apps/late_handlers.c, a
  collector that never answers): no install waits for the reporter.
"""

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends as bk  # noqa: E402
import tshelp as th  # noqa: E402

PROBES = ("eintr_probe", "sighandler_probe", "closefds_probe", "fork_probe", "exit_probe",
          "alloc_lock_probe", "late_handlers", "stdio_sockets_probe", "threads_requests",
          "raw_close_probe", "strict_sandbox_probe", "nproc_probe", "first_span_in_handler",
          "seccomp_probe")


def split_requests(data):
    """The HTTP requests (head + Content-Length body) one after another in data."""
    rest = bytearray(data)
    out = list(th.complete_requests(rest))
    if rest:
        raise AssertionError("trailing bytes that are no request: %r" % bytes(rest[:200]))
    return out


INJECTED_RX = re.compile(
    rb"X-B3-TraceId: ([0-9a-f]{32})\r\nX-B3-SpanId: ([0-9a-f]{16})\r\nX-B3-Sampled: 1\r\n"
    rb"traceparent: 00-\1-\2-01\r\n")


def strip_injection(req):
    """(request without the shim's lines, (trace id, span id) or None). The
    lines must be there at most once, at the end of the head, exactly as the
    shim writes them for a root span."""
    end = req.find(b"\r\n\r\n") + 2
    head, rest = req[:end], req[end:]
    found = list(INJECTED_RX.finditer(head))
    if not found:
        return req, None
    assert len(found) == 1 and found[0].end() == len(head), "injected lines misplaced: %r" % req
    m = found[0]
    return head[:m.start()] + rest, (m.group(1).decode(), m.group(2).decode())


def url_path(span):
    return urllib.parse.urlsplit(span["attrs"].get("url.full") or "").path


def probe_counts(out, kind):
    """{door: count} of the probe's "EINTR door n" or "SHORT door n" lines."""
    return {m.group(1).decode(): int(m.group(2))
            for m in re.finditer(rb"^" + kind.encode() + rb" (\w+) (\d+)$", out, re.M)}


# --------------------------------------------------------------------------
# peers (in the test process, never traced)


class TrickleServer(th.AcceptingServer):
    """An HTTP server that reads requests slowly (small receive buffer,
    small reads with pauses) and answers each in small pieces with pauses,
    so that the client's sends and receives block. Records every byte
    received, in order of the connections. status(path) gives each answer's
    status code."""

    def __init__(self, status=lambda path: 200, piece=97, pause=0.002):
        self.status = status
        self.piece = piece
        self.pause = pause
        self.conns = []  # bytearray per connection, in accept order
        self.lock = threading.Lock()
        self.listen(16, rcvbuf=2048)

    def _accepted(self, c, peer, n):
        data = bytearray()
        with self.lock:
            self.conns.append(data)
        return self._serve, (c, data)

    def _serve(self, c, data):
        pending = bytearray()
        try:
            for b in self._received(c, 512):
                time.sleep(0.0003)
                with self.lock:
                    data.extend(b)
                pending += b
                for req in th.complete_requests(pending):
                    self._answer(c, req)
        except OSError:
            pass
        finally:
            c.close()

    def _answer(self, c, req):
        path = req.split(b" ", 2)[1].decode("latin-1")
        code = self.status(path)
        body = (b"%s says the shim was here; " % path.encode()) * 9
        resp = (b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                % (code, len(body))) + body
        time.sleep(self.pause)
        for k in range(0, len(resp), self.piece):
            c.sendall(resp[k:k + self.piece])
            time.sleep(self.pause)

    def received(self):
        with self.lock:
            return b"".join(bytes(d) for d in self.conns)


class FullBacklogServer:
    """A listening socket whose accept queue is full (backlog 0 and one
    connection waiting), so that a connect to it blocks until release():
    then the waiting connection is taken away, the kernel's retransmitted
    SYN gets in (about a second after the first), and the connection that
    follows is served: one HTTP request, answered 200, recorded."""

    def __init__(self):
        self.sock = th.listen_local(backlog=0)
        self.port = self.sock.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        self.received = bytearray()
        self.done = threading.Event()
        self._release = threading.Event()
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                return c
            except socket.timeout:
                continue
        return None

    def _run(self):
        while not self._release.wait(0.1):
            if self._stop:
                return
        first = self._accept()  # the filler
        if first is None:
            return
        first.close()
        c = self._accept()
        if c is None:
            return
        c.settimeout(0.2)
        try:
            while not self._stop and th.complete_request_len(self.received) is None:
                try:
                    b = c.recv(4096)
                except socket.timeout:
                    continue
                if not b:
                    break
                self.received += b
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            while not self._stop:  # until the client closes
                try:
                    if not c.recv(4096):
                        break
                except socket.timeout:
                    continue
        except OSError:
            pass
        finally:
            c.close()
            self.done.set()

    def release(self):
        self._release.set()

    def close(self):
        self._stop = True
        self._t.join(timeout=3)
        self.filler.close()
        self.sock.close()


class SlowCollector(bk.Collector):
    """An OTLP/HTTP collector that answers 200 after `delay` seconds, so that
    the reporter is in the middle of an export most of the time."""

    def __init__(self, delay):
        super().__init__([200], delay=delay)

    def span_ids(self):
        ids = set()
        for _, _, body in self.requests():
            doc = json.loads(body)
            for rs in doc["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    ids.update(sp["spanId"] for sp in ss["spans"])
        return ids

    def exporting_env(self):
        """Environment entries that make the shim export to this collector
        (OTLP/JSON) as well as to the span file."""
        return dict(TRACESHIM_EXPORTER="file,otlp", OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % self.port)

    def undelivered(self, span_ids, timeout=5.0):
        """Those of span_ids that have not arrived here after waiting up to
        `timeout` seconds for them (the collector is slow on purpose)."""
        deadline = time.monotonic() + timeout
        while not span_ids <= self.span_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        return span_ids - self.span_ids()


class SlowClient:
    """Drives a traced server: n requests, two per connection; each request
    sent in four pieces with pauses, each response read in small pieces
    through a small receive buffer. Records the bytes of every response."""

    def __init__(self, port, n):
        self.port, self.n = port, n
        self.requests = []
        self.responses = bytearray()
        self.error = None
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _read_response(self, c):
        buf = bytearray()
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"\r\ncontent-length:\s*(\d+)", bytes(buf[:end]), re.I)
                if len(buf) >= end + 4 + int(m.group(1)):
                    return bytes(buf)
            b = c.recv(1024)
            if not b:
                raise OSError("server closed after %d bytes" % len(buf))
            buf += b
            time.sleep(0.0002)

    def _run(self):
        try:
            for i in range(0, self.n, 2):
                time.sleep(0.005)  # the server waits in accept meanwhile
                c = socket.socket()
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.settimeout(10)
                c.connect(("127.0.0.1", self.port))
                for k in range(i, min(i + 2, self.n)):
                    body = b"b%d;" % k * (k * 40)
                    req = (b"POST /served/%d HTTP/1.1\r\nHost: probe\r\nUser-Agent: slow\r\n"
                           b"Content-Length: %d\r\n\r\n" % (k, len(body))) + body
                    self.requests.append(req)
                    q = (len(req) + 3) // 4
                    for j in range(0, len(req), q):
                        c.sendall(req[j:j + q])
                        time.sleep(0.002)
                    self.responses += self._read_response(c)
                c.close()
        except OSError as e:
            self.error = e

    def join(self, timeout):
        self._t.join(timeout)
        return not self._t.is_alive()


# --------------------------------------------------------------------------


class HostileTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.bindir = cls.make_class_tmp("tsit-hostile-")
        flags = ("-O2", "-g", "-pthread")
        cls.exe = {name: th.compile_app(name + ".c", os.path.join(cls.bindir, name), *flags)
                   for name in PROBES}
        cls.injector = th.compile_app("lock_inject.c", os.path.join(cls.bindir, "lock_inject.so"),
                                      *flags, "-shared", "-fPIC", libs=("-ldl",))

    def with_injector(self, mode, **settings):
        """Environment entries that preload apps/lock_inject.c after the
        library, in the given mode."""
        preload = self.injector if th.NO_SHIM else th.preload_value() + " " + self.injector
        return dict(LD_PRELOAD=preload, TS_INJECT_MODE=mode, **settings)

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def env(self, service, **extra):
        return th.shim_env(service, self.spans_file, **extra)

    def start(self, argv, service, **extra):
        p = th.Proc(argv, env=self.env(service, **extra), tmpdir=self.tmp, name=service)
        self.addCleanup(p.stop, 1)
        return p

    def assert_clean_exit(self, p, what):
        self.assertEqual(p.returncode, 0, "%s failed\n%s" % (what, p.describe()))
        self.assertTrue(p.stdout().endswith(b"done\n"), "%s did not finish\n%s"
                        % (what, p.describe()))
        self.assertEqual(p.stderr(), b"", "%s: nothing on stderr\n%s" % (what, p.describe()))

    # ------------------------------------------------------------ EINTR

    def test_eintr_client_every_door(self):
        n = 30
        status = lambda path: 404 if path.endswith(("4", "9")) else 200  # noqa: E731
        srv = TrickleServer(status=status)
        self.addCleanup(srv.close)
        retry, poll = FullBacklogServer(), FullBacklogServer()
        self.addCleanup(retry.close)
        self.addCleanup(poll.close)
        sent_file = os.path.join(self.tmp, "sent.bin")
        p = self.start([self.exe["eintr_probe"], "client", srv.port, n, sent_file,
                        retry.port, poll.port], "eintr-client")
        for how, backlog in (("retry", retry), ("poll", poll)):
            p.wait_output(b"CONNECTING " + how.encode(), timeout=10)
            time.sleep(0.2)  # the probe is blocked in connect, interrupted again and again
            backlog.release()
        p.finish(30, "the EINTR client")
        self.assert_clean_exit(p, "the EINTR client")
        out = p.stdout()

        # the interruptions happened, on each family of doors
        eintr, short = probe_counts(out, "EINTR"), probe_counts(out, "SHORT")
        reads = ("read", "recv", "recvfrom", "recvmsg", "readv", "recvmmsg")
        writes = ("write", "send", "sendto", "sendmsg", "writev", "sendmmsg")
        counts = "EINTR %s\nSHORT %s" % (eintr, short)
        for d in reads:
            self.assertGreater(eintr[d], 0, "no interrupted %s: the test proves nothing\n%s"
                               % (d, counts))
        for d in writes:
            self.assertGreater(eintr[d] + short[d], 0, "no interrupted %s\n%s" % (d, counts))
        self.assertGreater(sum(eintr[d] for d in writes), 0, counts)
        self.assertGreater(sum(short[d] for d in writes), 0, counts)
        self.assertGreater(eintr["connect"], 1, counts)

        spans = th.wait_spans(self.spans_file, n + 2, timeout=th.AFTER_EXIT_TIMEOUT)
        clients = [s for s in spans if s["kind"] == th.KIND_CLIENT]
        self.assertEqual(len(clients), n + 2, "one client span per request\n%s"
                         % th.format_spans(spans))

        # connect interrupted, then finished by a second connect or by poll:
        # traced like any other connection
        by_path = {}
        for s in clients:
            by_path.setdefault(url_path(s), []).append(s)
        for how, backlog in (("retry", retry), ("poll", poll)):
            self.assertTrue(backlog.done.wait(5), "the %s server saw no request" % how)
            span = th.only(by_path.get("/connect/" + how, []), "span of /connect/" + how, spans)
            req = b"GET /connect/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (
                how.encode(), backlog.port)
            self.assertEqual(bytes(backlog.received),
                             th.with_injection(req, span["traceId"], span["spanId"]),
                             "connect interrupted (%s): %s" % (how, th.diff_bytes(
                                 th.with_injection(req, span["traceId"], span["spanId"]),
                                 bytes(backlog.received))))
            self.assertEqual(span["attrs"].get("http.response.status_code"), 200)

        # exactly the program's bytes, each request's lines once
        with open(sent_file, "rb") as f:
            requests = split_requests(f.read())
        self.assertEqual(len(requests), n)
        expected = b""
        for i, req in enumerate(requests):
            span = th.only(by_path.get("/eintr/%d" % i, []), "span of /eintr/%d" % i, spans)
            expected += th.with_injection(req, span["traceId"], span["spanId"])
            code = status("/eintr/%d" % i)
            self.assertEqual(span["attrs"].get("http.response.status_code"), code,
                             th.format_spans([span]))
            self.assertEqual(span["status"], th.STATUS_ERROR if code >= 400 else th.STATUS_UNSET,
                             th.format_spans([span]))
            self.assertIn(b"STATUS %d %d\n" % (i, code), out)
        got = srv.received()
        self.assertEqual(got, expected, th.diff_bytes(expected, got, full=False))

    def test_eintr_server_accept_and_every_door(self):
        n = 12
        out_file = os.path.join(self.tmp, "responses.bin")
        p = self.start([self.exe["eintr_probe"], "server", n, out_file], "eintr-server")
        port = int(p.wait_output(rb"LISTENING (\d+)\n").group(1))
        client = SlowClient(port, n)
        if not client.join(30):
            p.stop(1)
            self.fail("the slow client did not finish in 30 s\n%s" % p.describe())
        self.assertIsNone(client.error, p.describe())
        p.finish(10, "the EINTR server")
        self.assert_clean_exit(p, "the EINTR server")
        out = p.stdout()
        eintr, short = probe_counts(out, "EINTR"), probe_counts(out, "SHORT")
        counts = "EINTR %s\nSHORT %s" % (eintr, short)
        self.assertGreater(eintr["accept"] + eintr["accept4"], 0, counts)
        self.assertGreater(sum(eintr[d] for d in ("read", "recv", "recvfrom", "recvmsg", "readv",
                                                  "recvmmsg")), 0, counts)
        self.assertGreater(sum(eintr[d] + short[d] for d in (
            "write", "send", "sendto", "sendmsg", "writev", "sendmmsg")), 0, counts)
        # the responses arrive exactly as the program wrote them
        with open(out_file, "rb") as f:
            self.assertEqual(bytes(client.responses), f.read())
        spans = th.wait_spans(self.spans_file, n, timeout=th.AFTER_EXIT_TIMEOUT)
        servers = [s for s in spans if s["kind"] == th.KIND_SERVER]
        self.assertEqual(len(servers), n, th.format_spans(spans))
        by_path = {s["attrs"].get("url.path"): s for s in servers}
        for k in range(n):
            s = by_path.get("/served/%d" % k)
            self.assertIsNotNone(s, "no server span for /served/%d\n%s"
                                 % (k, th.format_spans(spans)))
            code = 500 if k % 4 == 3 else 200
            self.assertEqual(s["attrs"].get("http.response.status_code"), code)
            self.assertEqual(s["status"], th.STATUS_ERROR if code >= 500 else th.STATUS_UNSET)

    # ------------------------------------------------------ signal handlers

    def test_requests_from_a_signal_handler(self):
        """A timer's handler interrupts the program wherever it is."""
        self.check_signal_handler_requests()

    def test_requests_from_a_signal_handler_while_the_shim_holds_a_lock(self):
        """The handler runs every time the shim takes a lock on the main
        thread (apps/lock_inject.c): what the timer hits once in a
        while, every time."""
        self.check_signal_handler_requests(inject=True)

    def check_signal_handler_requests(self, inject=False):
        n = 48
        main_srv = TrickleServer(piece=211, pause=0.001)
        self.addCleanup(main_srv.close)
        side = th.RecordingServer(mode="http")
        self.addCleanup(side.close)
        main_log, side_log = os.path.join(self.tmp, "main.log"), os.path.join(self.tmp, "side.log")
        extra = self.with_injector("signal", TS_INJECT_EVERY=3) if inject else {}
        p = self.start([self.exe["sighandler_probe"], main_srv.port, side.port, n, main_log,
                        side_log], "sighandler", **extra)
        p.finish(25, "the program whose signal handler makes requests")
        self.assert_clean_exit(p, "the program whose signal handler makes requests")
        out = p.stdout().decode()
        counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", out)}
        # the handler really ran, often, and also on the main loop's socket
        self.assertGreater(counts["handler_b"] + counts["handler_fresh"], 200, out)
        self.assertGreater(counts["handler_a"], 0, out)

        with open(main_log, "rb") as f:
            main_reqs = split_requests(f.read())
        with open(side_log, "rb") as f:
            side_reqs = split_requests(f.read())
        self.assertEqual(len(main_reqs), counts["main"] + counts["handler_a"], out)
        self.assertEqual(len(side_reqs), counts["side"], out)

        spans = th.read_spans(self.spans_file)
        clients = {s["spanId"]: s for s in spans if s["kind"] == th.KIND_CLIENT}
        self.assertEqual(len(clients), len(spans), th.format_spans(spans))
        by_path = {}
        for s in clients.values():
            by_path.setdefault(url_path(s), []).append(s)

        # A: every request, the handler's too (made while the main loop
        # slept, outside the shim), traced once with its own span
        expected = b""
        for req in main_reqs:
            path = req.split(b" ", 2)[1].decode()
            span = th.only(by_path.get(path, []), "span of " + path, spans)
            expected += th.with_injection(req, span["traceId"], span["spanId"])
        got = main_srv.received()
        self.assertEqual(got, expected, th.diff_bytes(expected, got, full=False))

        # the side server: every request arrived whole, with the shim's lines
        # at most once; a request made by the handler while it had
        # interrupted the shim itself passes untraced; each traced request
        # has exactly its span, and there is no span without a request
        side.wait(lambda s: sum(len(c.requests) for c in s.conns) >= len(side_reqs), 10,
                  "every side request")
        arrived = [r for c in side.conns for r in c.requests]
        plain, traced_ids = [], {}
        for r in arrived:
            bare, ids = strip_injection(r)
            plain.append(bare)
            path = bare.split(b" ", 2)[1].decode()
            if ids:
                traced_ids[path] = ids
            elif not path.startswith("/handler-"):
                self.fail("a request the program made outside a handler went untraced: %r" % r)
        self.assertEqual(sorted(plain), sorted(side_reqs), "the side server's requests")
        side_spans = {url_path(s): s for s in clients.values()
                      if s["attrs"].get("server.port") == side.port}
        self.assertEqual(len(side_spans), len([s for s in clients.values()
                                               if s["attrs"].get("server.port") == side.port]))
        self.assertEqual(set(side_spans), set(traced_ids),
                         "spans of side requests = the requests that carry the shim's lines")
        for path, (trace, span_id) in traced_ids.items():
            s = side_spans[path]
            self.assertEqual((s["traceId"], s["spanId"]), (trace, span_id), path)
        for s in clients.values():
            self.assertEqual(s["attrs"].get("http.response.status_code"), 200,
                             th.format_spans([s]))
        sys.stderr.write("[handler requests traced: %d of %d] "
                         % (sum(1 for p in traced_ids if p.startswith("/handler-")),
                            counts["handler_b"] + counts["handler_fresh"]))

    # ------------------------------------------------------ closing the shim's fds

    def closefds_probe(self, **env):
        """apps/closefds_probe.c: a program that closes every fd, in four
        ways, between requests, while the OTLP exporter is slow. Checks
        that the program's files hold exactly what it wrote and that every
        span reached the file and the collector; returns, per phase, the
        shim's fds the program found open (its "shim=" list)."""
        collector = SlowCollector(0.4)
        self.addCleanup(collector.close)
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        outdir = os.path.join(self.tmp, "out")
        os.mkdir(outdir)
        p = self.start([self.exe["closefds_probe"], srv.port, self.spans_file, outdir], "closefds",
                       **collector.exporting_env(), TRACESHIM_EXIT_TIMEOUT=5000, **env)
        p.finish(30, "the program that closes every fd")
        self.assert_clean_exit(p, "the program that closes every fd")
        out = p.stdout().decode()
        shim_fds = {}
        for phase in ("range", "from", "each", "dup2"):
            m = re.search(r"^PHASE %s shim=(.*)$" % phase, out, re.M)
            self.assertIsNotNone(m, out)
            shim_fds[phase] = [f for f in m.group(1).split(",") if f]
        # the program's files that got the shim's numbers hold exactly what
        # the program wrote
        files = re.findall(r"^FILE (\S+) (.*)$", out, re.M)
        for path, marker in files:
            with open(path, "rb") as f:
                self.assertEqual(f.read(), marker.encode() + b"\n",
                                 "%s was written by the shim" % path)
        # spans kept coming, to the file and to the collector
        spans = th.read_spans(self.spans_file, strict=True)
        paths = sorted(url_path(s) for s in spans if s["kind"] == th.KIND_CLIENT)
        self.assertEqual(paths, sorted("/%s/%d" % (ph, k) for ph in ("range", "from", "each", "dup2")
                                       for k in range(6)), th.format_spans(spans))
        self.assertEqual(collector.undelivered({s["spanId"] for s in spans}), set(),
                         "spans the OTLP exporter never delivered")
        return shim_fds, files, out

    def test_program_closes_and_replaces_the_shims_fds(self):
        """The reporter in the program's fd table (TRACESHIM_OWN_FD_TABLE=0):
        the program closes and replaces the shim's fds, and loses nothing."""
        shim_fds, files, out = self.closefds_probe(TRACESHIM_OWN_FD_TABLE=0)
        # the shim's fds were there to be closed: the span file and a socket
        for phase, fds in shim_fds.items():
            self.assertTrue(any(f.endswith("(spans)") for f in fds),
                            "no span file open in phase %s\n%s" % (phase, out))
            self.assertGreaterEqual(len(fds), 2, "no exporter socket\n" + out)
        self.assertGreaterEqual(len(files), 3, "the program took the shim's numbers\n" + out)

    def test_program_never_sees_the_shims_fds(self):
        """The reporter's own fd table (the default): the program finds none
        of the shim's fds among its own, whatever it closes."""
        shim_fds, _, out = self.closefds_probe()
        for phase, fds in shim_fds.items():
            self.assertEqual(fds, [], "the shim's fds among the program's in phase %s\n%s"
                             % (phase, out))

    # ---------------------------------------------- connections closed raw

    def assert_passes_untouched(self, spans, what):
        for s in spans:
            self.assertNotIn("not-a-request", s["name"], "%s\n%s" % (what, th.format_spans(spans)))
            self.assertNotEqual(s["traceId"], "1" * 32, "%s\n%s" % (what, th.format_spans(spans)))

    def test_connections_closed_by_raw_system_calls(self):
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        for mode, args in (("client", [srv.port]), ("server", [])):
            p = self.start([self.exe["raw_close_probe"], mode, *args], "raw-" + mode)
            p.finish(20, mode)
            self.assert_clean_exit(p, mode)
        # the probes ended: every span is in the file
        spans = th.read_spans(self.spans_file, strict=True)
        self.assert_passes_untouched(spans, "a span of the fd that took a closed one's number")
        names = sorted((s["service"], s["kind"], s["name"]) for s in spans)
        self.assertEqual(names, sorted(
            [("raw-client", th.KIND_CLIENT, "GET /before-" + how)
             for how in ("SYS_close", "SYS_close_range", "SYS_dup2", "SCM_RIGHTS")] +
            [("raw-server", th.KIND_CLIENT, "GET /served"),
             ("raw-server", th.KIND_SERVER, "GET /served")]), th.format_spans(spans))

    def test_a_worker_in_seccomp_strict_mode(self):
        """A worker that enters seccomp's strict mode (prctl, and the
        seccomp system call through glibc's syscall) and writes a line and
        a request head to its supervisor over a Unix-domain connection and
        a TCP one: they arrive as written and the worker exits 0, as
        untraced. The shim sent them with sendmsg, which strict mode
        punishes with SIGKILL (and its clock read faults)."""
        for how in ("prctl", "seccomp"):
            p = self.start([self.exe["strict_sandbox_probe"], how], "sandbox-" + how)
            p.finish(20, how)
            self.assert_clean_exit(p, how)
            self.assertEqual(p.stdout().decode().splitlines(),
                             ["unix: 62 bytes, as the worker wrote them",
                              "tcp: 62 bytes, as the worker wrote them",
                              "worker: exit 0", "done"], p.describe())
        # stopped by SIGTERM while in strict mode: it dies of SIGTERM, as
        # untraced (the shim's handler's first system call made it SIGKILL)
        p = self.start([self.exe["strict_sandbox_probe"], "prctl", "sigterm"], "sandbox-sigterm")
        p.finish(20, "sigterm")
        self.assert_clean_exit(p, "sigterm")
        self.assertEqual(p.stdout().decode().splitlines()[2:],
                         ["worker: killed by signal 15", "done"], p.describe())

    def test_a_filter_installed_as_libseccomp_does(self):
        """What apt's download methods do under APT::Sandbox::Seccomp,
        through libseccomp: the probe seccomp(SECCOMP_SET_MODE_STRICT, 1,
        NULL), which the kernel refuses, then a filter that traps clone and
        clone3 (SIGSYS, whose handler exits 31), then two requests. The
        probe was taken for strict mode: the thread passed every call on
        untraced from then on (apt's methods made no span). And a reporter
        thread started after the filter was trapped: the program died of
        it. Now both requests are traced (the trace lines on the wire), no
        thread is started, and the spans are written at the exit by the
        program's own thread; the exit is the program's (0)."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.start([self.exe["seccomp_probe"], "libseccomp", srv.port], "libseccomp",
                       OTEL_BSP_SCHEDULE_DELAY=60000)
        p.finish(20, "libseccomp")
        self.assert_clean_exit(p, "libseccomp")
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(sorted(url_path(s) for s in spans),
                         ["/in-the-sandbox/a", "/in-the-sandbox/b"], th.format_spans(spans))
        got = [strip_injection(r)[1] for c in srv.conns for r in c.requests]
        self.assertEqual(sorted(got), sorted((s["traceId"], s["spanId"]) for s in spans),
                         "each request carried its span's ids")

    def test_strict_mode_refused_under_a_filter(self):
        """A thread under a seccomp filter asks for strict mode, which the
        kernel refuses (EINVAL): the thread goes on as it was, traced, and
        so does the shim's SIGTERM handler, which the strict mode had it
        give up (the request went untraced, and the SIGTERM's death lost
        its span)."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.start([self.exe["seccomp_probe"], "refused", srv.port], "refused",
                       OTEL_BSP_SCHEDULE_DELAY=60000)
        p.wait_output(rb"ready 200\n")
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10)
        self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
        self.assertEqual(p.stdout(), b"strict refused\nready 200\n", p.describe())
        spans = th.read_spans(self.spans_file, strict=True) if os.path.exists(
            self.spans_file) else []
        span = th.only(spans, "the request's client span", spans)
        self.assertEqual(url_path(span), "/after-the-refusal")
        self.assertIsNotNone(strip_injection(srv.conns[0].requests[0])[1],
                             "the request carried the trace lines")

    def test_node_pipes_through_a_child_after_a_request(self):
        node = th.require_tool("node")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        script = os.path.join(th.APPS, "node_child_pipe.js")
        p = self.start([node, script, srv.port], "node-pipe")
        p.finish(30, "node")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"GET /not-a-request HTTP/1.1\r\nHost: local\r\n\r\n",
                         "the text piped through cat changed\n" + p.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        self.assert_passes_untouched(spans, "a span of the child's pipe")
        span = th.only(spans, "the request's client span", spans)
        self.assertEqual(span["name"], "GET /before-child")

    def test_a_socket_dissolved_and_connected_elsewhere(self):
        a, b = th.RecordingServer(mode="http"), th.RecordingServer(mode="http")
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        for abandon in ([], ["abandon"]):
            with self.subTest(abandon=bool(abandon)):
                spans_file = os.path.join(self.tmp, "unspec%s.jsonl" % "".join(abandon))
                p = th.Proc([self.exe["raw_close_probe"], "unspec", a.port, b.port, *abandon],
                            env=th.shim_env("unspec", spans_file), tmpdir=self.tmp,
                            name="unspec" + "".join(abandon))
                self.addCleanup(p.stop, 1)
                p.finish(20, "unspec")
                self.assert_clean_exit(p, "unspec")
                self.assertIn(b"/on-B: 200\n", p.stdout())
                spans = {s["name"]: s for s in th.read_spans(spans_file, strict=True)}
                self.assertEqual(sorted(spans), ["GET /on-A", "GET /on-B"],
                                 th.format_spans(spans.values()))
                on_a, on_b = spans["GET /on-A"], spans["GET /on-B"]
                self.assertEqual(on_b["attrs"].get("network.peer.port"), b.port,
                                 th.format_spans(spans.values()))
                self.assertEqual(on_b["attrs"].get("http.response.status_code"), 200,
                                 th.format_spans(spans.values()))
                self.assertNotIn("error.type", on_b["attrs"], th.format_spans(spans.values()))
                self.assertEqual(on_a["attrs"].get("network.peer.port"), a.port)
                if abandon:  # its answer was never read
                    self.assertNotIn("http.response.status_code", on_a["attrs"],
                                     th.format_spans(spans.values()))
                else:
                    self.assertEqual(on_a["attrs"].get("http.response.status_code"), 200)

    def test_a_threads_unshared_close_range_leaves_the_others_connections(self):
        """A thread closes every fd from 3 in a table of its own
        (CLOSE_RANGE_UNSHARE; with CLOSE_RANGE_CLOEXEC too, which closes
        nothing, the thread closing the connection in its copy itself),
        then its socket, and its own thread's, take the main thread's
        connection's number there. Their requests go as written, and the
        main thread's connection stays traced. With CLOSE_RANGE_CLOEXEC
        the thread was not marked (the flag returned first): its socket
        took the connection over, /after-unshare went untraced. The
        thread's thread was not marked either (it shares the table): the
        same."""
        for how in ([], ["cloexec"]):
            with self.subTest(cloexec=bool(how)):
                srv = th.RecordingServer(mode="http")
                self.addCleanup(srv.close)
                spans_file = os.path.join(self.tmp, "unshare%s.jsonl" % "".join(how))
                p = th.Proc([self.exe["raw_close_probe"], "unshare", srv.port, *how],
                            env=th.shim_env("unshare", spans_file), tmpdir=self.tmp,
                            name="unshare" + "".join(how))
                self.addCleanup(p.stop, 1)
                p.finish(20, "unshare")
                self.assert_clean_exit(p, "unshare")
                spans = th.read_spans(spans_file, strict=True)
                self.assertEqual(sorted((s["name"], s["pid"] == p.pid) for s in spans),
                                 [("GET /after-unshare", True), ("GET /before-unshare", True),
                                  ("GET /forked-by-the-thread", False)], th.format_spans(spans))
                sent = {}
                for conn in srv.wait_closed(4):
                    data = bytes(conn.data)
                    sent[data.split(b" ", 2)[1].decode()] = data
                self.assertEqual(sorted(sent), ["/before-unshare", "/forked-by-the-thread",
                                                "/in-the-threads-table", "/in-the-threads-thread"],
                                 sent)
                self.assertEqual(sent["/before-unshare"].count(b"X-B3-TraceId: "), 2, sent)
                for path in ("/in-the-threads-table", "/in-the-threads-thread"):
                    self.assertEqual(sent[path], b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                                     % (path.encode(), srv.port),
                                     "the thread's request goes as it was written")
                self.assertEqual(sent["/forked-by-the-thread"].count(b"X-B3-TraceId: "), 1, sent)

    def raw_close_run(self, mode):
        """raw_close_probe MODE against a recording server, to its clean
        end: the server and the spans."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.start([self.exe["raw_close_probe"], mode, srv.port], mode)
        p.finish(20, mode)
        self.assert_clean_exit(p, mode)
        return srv, th.read_spans(self.spans_file, strict=True)

    def test_a_connection_a_thread_keeps_in_a_table_of_its_own(self):
        """A thread closes every fd above the keep-alive connection's in a
        table of its own: the connection is the same in its copy. Its GET
        there is traced (it went untraced, without trace lines: the thread's
        every number was taken for its own); its socket at a number its
        close freed goes as written, and its close of the connection (in
        its copy) leaves the program's traced."""
        srv, spans = self.raw_close_run("unshare-kept")
        self.assertEqual(sorted(s["name"] for s in spans),
                         ["GET /after-kept", "GET /before-kept", "GET /thread-on-kept"],
                         th.format_spans(spans))
        sent = {}
        for conn in srv.wait_closed(2):
            data = bytes(conn.data)
            sent[data.split(b" ", 2)[1].decode()] = data
        self.assertEqual(sorted(sent), ["/before-kept", "/threads-own"], sent)
        self.assertEqual(sent["/before-kept"].count(b"X-B3-TraceId: "), 3, sent)
        self.assertEqual(sent["/threads-own"],
                         b"GET /threads-own HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % srv.port)

    def test_an_exec_with_a_connection_a_thread_kept(self):
        """A thread keeps the connection a GET waits on as it closes every
        fd above it in a table of its own, and executes sh, which reads the
        answer from it: the request ends as passed on to the next image,
        its outcome unknown (it ended connection_closed: the connection was
        taken for one the next image does not have)."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.start([self.exe["raw_close_probe"], "unshare-kept-exec", srv.port],
                       "unshare-kept-exec")
        p.finish(20, "unshare-kept-exec")
        self.assertEqual((p.returncode, p.stdout()), (0, b"HTTP/1.1 200 OK\n"), p.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        span = th.only(spans, "the request's span", spans)
        self.assertEqual((span["name"], span["attrs"].get("error.type"),
                          span["attrs"].get("traceshim.response_unseen")),
                         ("GET /handed-to-exec", None, True), th.format_spans(spans))

    def test_an_unsharing_close_range_of_the_only_thread_left(self):
        """The program made a thread, which ended; its only thread left
        calls close_range(3, ~0U, CLOSE_RANGE_UNSHARE), which shares the
        table with no other thread of the program (the shim's reporter,
        which left it, or holds none of the program's connections), so
        the kernel closes in place. Its connections made after are traced
        (it was marked for good, as once a thread was made, and they went
        untraced)."""
        srv, spans = self.raw_close_run("unshare-alone")
        self.assertEqual(sorted(s["name"] for s in spans), ["GET /after-alone", "GET /before-alone"],
                         th.format_spans(spans))
        for conn in srv.wait_closed(2):
            self.assertEqual(bytes(conn.data).count(b"X-B3-TraceId: "), 1, bytes(conn.data))

    def test_an_exec_from_a_thread_with_a_table_of_its_own(self):
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.start([self.exe["raw_close_probe"], "unshare-exec", srv.port], "unshare-exec")
        p.finish(20, "unshare-exec")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stderr(), b"", p.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        span = th.only(spans, "the request's span", spans)
        self.assertEqual((span["name"], span["attrs"].get("error.type"),
                          span["attrs"].get("traceshim.response_unseen")),
                         ("GET /before-exec", "connection_closed", None), th.format_spans(spans))

    # ------------------------------------------------------------- fork, vfork

    def test_fork_from_threads_while_exports_are_slow(self):
        forks = 12
        collector = SlowCollector(0.1)
        self.addCleanup(collector.close)
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        # other threads hold the shim's locks for a while each time they
        # take one (apps/lock_inject.c), so forks find them held
        p = self.start([self.exe["fork_probe"], "fork", srv.port, forks, 3], "forker",
                       **self.with_injector("hold", TS_INJECT_HOLD_US=300),
                       **collector.exporting_env(), OTEL_BSP_SCHEDULE_DELAY=20)
        p.finish(30, "the forking program")
        self.assert_clean_exit(p, "the forking program")
        out = p.stdout().decode()
        children = {int(k): (int(pid), st, int(ms)) for k, pid, st, ms in
                    re.findall(r"^CHILD (\d+) pid (\d+) status (.*) ms (\d+)$", out, re.M)}
        self.assertEqual(sorted(children), list(range(forks)), out)
        for k, (pid, st, ms) in children.items():
            self.assertEqual(st, str(k % 4), "child %d (exit status, or a hang)\n%s" % (k, out))
        self.assertGreater(int(re.search(r"^THREADS (\d+)$", out, re.M).group(1)), 50, out)

        spans = th.wait_spans(self.spans_file, forks, timeout=th.AFTER_EXIT_TIMEOUT)
        ids = [s["spanId"] for s in spans]
        self.assertEqual(len(ids), len(set(ids)), "span ids are unique across the processes")
        by_path = {url_path(s): s for s in spans}
        child_spans = []
        for k, (pid, _, _) in children.items():
            s = by_path.get("/child/%d" % k)
            self.assertIsNotNone(s, "child %d's span did not come out\n%s" % (k, out))
            self.assertEqual(s["pid"], pid, th.format_spans([s]))
            self.assertEqual(s["attrs"].get("http.response.status_code"), 200)
            child_spans.append(s)
        self.assertEqual(len({s["traceId"] for s in child_spans}), forks)
        self.assertEqual(collector.undelivered({s["spanId"] for s in child_spans}), set(),
                         "children's spans the OTLP exporter never delivered")

    def test_vfork_then_exit_or_exec(self):
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.start([self.exe["fork_probe"], "vfork", srv.port, self.exe["fork_probe"]],
                       "vforker")
        p.finish(20, "the vforking program")
        self.assert_clean_exit(p, "the vforking program")
        out = p.stdout().decode()
        self.assertIn("VFORK exit 7\n", out, "the vfork child got A's number for its socket")
        self.assertIn("VFORK exec 5\n", out)
        spans = th.wait_spans(self.spans_file, 3, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        # the parent's connection stayed traced: each request injected once
        conn = th.only(srv.wait_closed(1), "connection")
        expected = b""
        for k in range(3):
            span = th.only([s for s in spans if url_path(s) == "/vfork/%d" % k],
                           "span of /vfork/%d" % k, spans)
            self.assertEqual(span["pid"], p.pid)
            req = b"GET /vfork/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (k, srv.port)
            expected += th.with_injection(req, span["traceId"], span["spanId"])
        self.assertEqual(bytes(conn.data), expected, th.diff_bytes(expected, bytes(conn.data)))

    # ------------------------------------------------------------------ ends

    def check_end(self, how, status):
        """exit_probe HOW, untraced and traced: the same status (`status`,
        a negative number for a signal) within a bound, nothing on stderr;
        whatever spans were written are whole lines."""
        srv = TrickleServer(pause=0.05)
        self.addCleanup(srv.close)
        runs = []
        for env, what in ((th.clean_env(), "untraced"), (self.env("ender"), "traced")):
            p = th.Proc([self.exe["exit_probe"], how, srv.port], env=env, tmpdir=self.tmp,
                        name="%s-%s" % (how, what))
            self.addCleanup(p.stop, 1)
            p.finish(15, "%s (%s)" % (how, what))
            runs.append(p)
        base, traced = runs
        self.assertEqual(base.returncode, status, "the probe itself\n" + base.describe())
        self.assertEqual(traced.returncode, status, traced.describe())
        self.assertEqual(traced.stderr(), base.stderr(), traced.describe())
        self.assertEqual(traced.stderr(), b"", traced.describe())
        th.read_spans(self.spans_file, strict=True)  # whole lines, well formed

    def test_exit_from_three_threads_at_once(self):
        self.check_end("exit", 3)

    def test_exit_from_four_threads_once_every_answer_is_in(self):
        """Four threads, their 25 requests each answered (100 client and 100
        server spans finished), call exit(5) at the same moment, 5 times:
        glibc before 2.41 let a second exit reach _exit while the first ran
        the exit handlers, the shim's flush among them, and 6 to 25% of the
        spans were lost, and the stats line. Each time: status 5, every
        span, the stats line once."""
        for run in range(5):
            spans_file = os.path.join(self.tmp, "spans-%d.jsonl" % run)
            env = th.shim_env("exit-together", spans_file, OTEL_TRACES_SAMPLER="always_on",
                              TRACESHIM_STATS=1)
            p = th.run([self.exe["threads_requests"], 64, 4, 25, "exit-together"], env=env,
                       tmpdir=self.tmp, name="exit-together-%d" % run, timeout=30)
            self.assertEqual(p.returncode, 5, p.describe())
            spans = th.read_spans(spans_file, strict=True)
            self.assertEqual(len(spans), 200, "run %d\n%s" % (run, p.describe()))
            stats = [line for line in p.stderr().splitlines() if b"]: stats " in line]
            self.assertEqual(len(stats), 1, p.describe())
            self.assertIn(b" exported=200 ", stats[0])

    def test_underscore_exit_mid_request(self):
        self.check_end("_exit", 4)

    def test_abort_mid_request(self):
        self.check_end("abort", -signal.SIGABRT)

    def test_main_thread_ends_by_pthread_exit(self):
        # glibc ends the process as its last thread returns; the reporter
        # thread kept it alive for good (a zombie main thread beside a
        # thread that blocks every signal: SIGTERM did nothing)
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        outs = []
        for env, what in ((th.clean_env(), "untraced"), (self.env("pthread-exit"), "traced")):
            p = th.Proc([self.exe["exit_probe"], "pthread-exit", srv.port], env=env,
                        tmpdir=self.tmp, name="pthread-exit-" + what)
            self.addCleanup(p.stop, 1)
            p.finish(15, "pthread-exit (%s)" % what)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertEqual(p.stderr(), b"", p.describe())
            outs.append(p.stdout())
        self.assertEqual(outs[0], b"main\nworker 200\n", "the probe itself")
        self.assertEqual(outs[1], outs[0])
        spans = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertEqual([s["name"] for s in spans], ["GET /pthread-exit"], th.format_spans(spans))

    def test_close_delimited_response_ends_with_the_process(self):
        # a server that writes a response running to the close and ends
        # without closing the socket (busybox httpd, a CGI relay): the
        # kernel's close ends the response, and must end its server span;
        # it was never ended (only a close or a peer's close ended one)
        for how in ("serve-then-exit", "serve-then-_exit", "serve-then-shutdown"):
            with self.subTest(how=how):
                spans_file = os.path.join(self.tmp, "%s.jsonl" % how)
                port = th.free_port()
                p = th.Proc([self.exe["exit_probe"], how, port],
                            env=th.shim_env("closer", spans_file), tmpdir=self.tmp, name=how)
                self.addCleanup(p.stop, 1)
                deadline = time.monotonic() + 10
                while True:
                    try:
                        c = socket.create_connection(("127.0.0.1", port), timeout=10)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.02)
                with c:
                    c.sendall(b"GET /closing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    got = th.recv_to_close(c)
                self.assertTrue(got.startswith(b"HTTP/1.1 404 Not Found\r\n"), got)
                p.finish(10, how)
                self.assertEqual(p.returncode, 0, p.describe())
                spans = th.wait_spans(spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT)
                span = th.only(spans, "the server span", spans)
                self.assertEqual(span["name"], "GET /closing")
                self.assertEqual(span["attrs"].get("http.response.status_code"), 404,
                                 th.format_spans(spans))
                self.assertNotIn("error.type", span["attrs"], th.format_spans(spans))

    def test_messages_stay_out_of_connections_on_fd_2(self):
        # the program closed stderr and a connection took fd 2: the shim's
        # message (the span file cannot be opened) went into it
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        env = th.shim_env("stdio", os.path.join(self.tmp, "no", "such", "dir", "spans.jsonl"),
                          OTEL_BSP_SCHEDULE_DELAY="100")
        p = th.run([self.exe["stdio_sockets_probe"], srv.port], env=env, tmpdir=self.tmp,
                   name="stdio-sockets", timeout=20)
        self.assertEqual(p.returncode, 0, p.describe())
        for i, conn in enumerate(srv.wait_closed(3)):
            data = bytes(conn.data)
            self.assertNotIn(b"traceshim", data.replace(b"X-B3", b""), data)
            self.assertEqual(data.count(b"GET /stdio/%d HTTP/1.1\r\n" % i), 2, data)
            pending = bytearray(data)
            self.assertEqual(len(list(th.complete_requests(pending))), 2, data)
            self.assertEqual(pending, b"", "bytes after the two requests")

    def test_messages_stay_out_of_a_unix_connection_on_stdio(self):
        """A program started on an accepted Unix-domain connection, fds 0,
        1 and 2 all of it (systemd's Accept=yes on a ListenStream= path,
        socat's EXEC:...,stderr): the shim's lines went to the client ahead
        of the program's bytes, as only an IPv4 or IPv6 socket on fd 2 kept
        them out. Both kinds: a configuration line at the start, and one
        from the reporter thread (the span file cannot be opened), which
        has an fd table of its own. journald's stream, a Unix socket on
        stderr alone with stdin /dev/null, still gets them."""
        curl = th.require_tool("curl")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        argv = [curl, "-s", "http://127.0.0.1:%d/unix-stdio" % srv.port]
        env = th.shim_env("unix-stdio", os.path.join(self.tmp, "no", "such", "dir", "s.jsonl"),
                          OTEL_PROPAGATORS="bogus")
        for stdin_too in (True, False):
            with self.subTest(stdin_too=stdin_too):
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                with ours:
                    with theirs:
                        stdin = theirs if stdin_too else subprocess.DEVNULL
                        p = subprocess.Popen(argv, env=env, stdin=stdin, stdout=theirs,
                                             stderr=theirs)
                    ours.settimeout(20)
                    got = th.recv_to_close(ours)
                self.assertEqual(p.wait(20), 0, got)
                if stdin_too:
                    self.assertEqual(got, b"ok", "only the program's bytes reach its client")
                else:
                    self.assertTrue(got.startswith(b"traceshim: invalid OTEL_PROPAGATORS="), got)
                    self.assertIn(b"ok", got)
                    self.assertIn(b"traceshim: cannot open span file", got)

    def test_messages_stay_out_of_a_unix_connection_that_took_stderr(self):
        """A program that closed its stderr, whose connection to a
        server's Unix socket (a database's) took fd 2: the shim's lines went
        to that server in front of the program's bytes. Only a capture of
        the program's output takes them (journald's stream, a socketpair:
        the test before this one)."""
        curl = th.require_tool("curl")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        path = os.path.join(self.tmp, "db.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(path)
        listener.listen(1)
        env = th.shim_env("unix-stderr", os.path.join(self.tmp, "no", "such", "dir", "s.jsonl"),
                          OTEL_PROPAGATORS="bogus")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            server_end, _ = listener.accept()
            with server_end:
                p = subprocess.Popen([curl, "-s", "-o", os.devnull,
                                      "http://127.0.0.1:%d/unix-stderr" % srv.port],
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=conn)
                conn.close()
                self.assertEqual(p.wait(20), 0)
                server_end.settimeout(20)
                got = th.recv_to_close(server_end)
        self.assertEqual(got, b"", "the server of the connection on fd 2 got the shim's lines")

    def test_messages_wait_no_longer_for_a_full_stderr(self):
        # stderr a pipe that is full and never read: the stats line at exit
        # and a configuration message at the start waited for room for good
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        os.set_blocking(w, False)
        try:
            while True:
                os.write(w, b"x" * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(w, True)
        env = th.shim_env("full-stderr", self.spans_file, TRACESHIM_STATS="1",
                          OTEL_BSP_SCHEDULE_DELAY="abc")
        try:
            p = subprocess.Popen(["/bin/true"], stdout=w, stderr=w, env=env)
        finally:
            os.close(w)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        started = time.monotonic()
        try:
            status = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("the program waited for room on its full stderr")
        self.assertEqual(status, 0)
        self.assertLess(time.monotonic() - started, 5)

    def as_root_with_a_server(self):
        """Skips unless root. A recording HTTP server, and the start of a
        python script whose get(path) sends it one GET."""
        if os.geteuid() != 0:
            self.skipTest("needs root to drop it")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        return srv, ("import http.client, os, sys, time\n"
                     "def get(path):\n"
                     "    c = http.client.HTTPConnection('127.0.0.1', %d, timeout=10)\n"
                     "    c.request('GET', path)\n"
                     "    assert c.getresponse().status == 200\n"
                     "    c.close()\n" % srv.port)

    def test_spans_kept_when_the_program_drops_root(self):
        # root makes a request, then takes another user or another root
        # (setuid, chroot) and makes three more: the span file was opened
        # at the first export, after the change, and all four were lost
        srv, script = self.as_root_with_a_server()
        jail = os.path.join(self.tmp, "jail")
        os.mkdir(jail)
        script += (
            "get('/as-root')\n"
            "if sys.argv[1] == 'setuid':\n"
            "    os.setgid(65534); os.setuid(65534)\n"
            "else:\n"
            "    os.chroot(%r); os.chdir('/')\n"
            "for _ in range(3):\n"
            "    get('/after')\n" % jail)
        for how in ("setuid", "chroot"):
            with self.subTest(how=how):
                spans_file = os.path.join(self.tmp, "drop-%s.jsonl" % how)
                p = th.run([th.PY, "-c", script, how], env=th.shim_env("dropper", spans_file),
                           tmpdir=self.tmp, name="drop-" + how)
                self.assertEqual(p.returncode, 0, p.describe())
                self.assertEqual(p.stderr(), b"", p.describe())
                spans = th.wait_spans(spans_file, 4, timeout=th.AFTER_EXIT_TIMEOUT)
                self.assertEqual(sorted(s["name"] for s in spans),
                                 ["GET /after"] * 3 + ["GET /as-root"], th.format_spans(spans))

    def test_a_child_that_closes_the_kept_file_keeps_it_again(self):
        # varnish: its manager keeps the span file (it gives its group up
        # for a moment and takes it back), its cache child closes every fd
        # it inherited, then gives root up and serves. The child's spans
        # were lost ("cannot open span file ...: Permission denied"): the
        # file counted as kept, its fd closed, its folder root's alone.
        srv, script = self.as_root_with_a_server()
        script = "import encodings.idna\n" + script + (
            "os.setresgid(-1, 65534, -1); os.setresgid(-1, 0, -1)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.closerange(3, 1024)\n"
            "    fd = os.open('/dev/null', os.O_RDONLY)  # the kept fd's number, the program's now\n"
            "    os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "    get('/child'); os._exit(0)\n"
            "assert os.waitpid(pid, 0)[1] == 0\n"
            "get('/parent')\n")
        p = th.run([th.PY, "-c", script], env=th.shim_env("closer", self.spans_file),
                   tmpdir=self.tmp, name="closer")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stderr(), b"", p.describe())
        spans = th.wait_spans(self.spans_file, 2, timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertEqual(sorted(s["name"] for s in spans), ["GET /child", "GET /parent"],
                         th.format_spans(spans))
        # made empty by the parent's keeping, it went to the user the child
        # became, as it would have without the close
        self.assertEqual(os.stat(self.spans_file).st_uid, 65534)

    def test_spans_kept_when_root_is_dropped_before_a_span_or_a_fork(self):
        # root gives its user up (the span file's folder is root's alone,
        # 0700) or its root (a jail with nothing in it) before its first
        # span, as nginx's workers and haproxy do: the file is kept open
        # at the drop, and the exporter writes to a copy of it. Before,
        # the reporter thread, started by the first span, could not open
        # it, and every span was lost. "fork": the user given up, then a
        # child makes a request; its exporter finds the kept fd in the
        # fd table it inherited. "span, fork": the same after a span as
        # root (the parent's reporter thread has the file in a table of
        # its own, which the child does not inherit). "shared table": the
        # reporter thread writes to a dup of the kept fd in the program's
        # table.
        srv, script = self.as_root_with_a_server()
        jail = os.path.join(self.tmp, "jail-first")
        os.mkdir(jail)
        base = "import encodings.idna\n" + script
        script = base + (
            "if sys.argv[1] == 'span, fork':\n"
            "    get('/as-root')\n"
            "if sys.argv[1] == 'chroot':\n"
            "    os.chroot(%r); os.chdir('/')\n"
            "else:\n"
            "    os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "if sys.argv[1].endswith('fork'):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        get('/child'); os._exit(0)\n"
            "    assert os.waitpid(pid, 0)[1] == 0\n"
            "for _ in range(3):\n"
            "    get('/after')\n" % jail)
        for how, table in (("setuid", None), ("chroot", None), ("fork", None),
                           ("span, fork", None), ("setuid", "0"), ("chroot", "0")):
            what = how + (", shared table" if table else "")
            with self.subTest(what):
                spans_file = os.path.join(self.tmp, "first-%s-%s.jsonl" % (how[-6:], table))
                p = th.run([th.PY, "-c", script, how],
                           env=th.shim_env("dropper", spans_file, TRACESHIM_OWN_FD_TABLE=table),
                           tmpdir=self.tmp, name="first-" + what.replace(", ", "-").replace(" ", "-"))
                self.assertEqual(p.returncode, 0, p.describe())
                self.assertEqual(p.stderr(), b"", p.describe())
                want = (["GET /after"] * 3 + (["GET /as-root"] if how.startswith("span") else [])
                        + (["GET /child"] if how.endswith("fork") else []))
                spans = th.wait_spans(spans_file, len(want), timeout=th.AFTER_EXIT_TIMEOUT)
                self.assertEqual(sorted(s["name"] for s in spans), want, th.format_spans(spans))
                self.assertEqual(len({s["traceId"] for s in spans}), len(want), th.format_spans(spans))
        # A launcher that gives root up and executes the service: the span
        # file its keeping made is the service's user's, so that the
        # service, as that user, can open it (a file of root's, 0600, would
        # be closed to it). setpriv changes the user itself; su and runuser
        # keep the file in the parent (initgroups) and change the user in
        # the child they fork, while the file is empty still.
        os.chmod(self.tmp, 0o711)  # nobody may pass through, not write
        shared = os.path.join(self.tmp, "anyone")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        # the service loads the library as nobody: a copy nobody can read
        # (the checkout may sit in a home only root enters)
        lib = os.path.join(shared, os.path.basename(th.LIB))
        shutil.copy(th.LIB, lib)
        os.chmod(lib, 0o755)
        launchers = {
            "setpriv": [th.require_tool("setpriv"), "--reuid=65534", "--regid=65534",
                        "--clear-groups"],
            "runuser": [th.require_tool("runuser"), "-u", "nobody", "--"],
        }
        for name, launcher in launchers.items():
            spans_file = os.path.join(shared, "%s.jsonl" % name)
            p = th.run(launcher + [th.PY, "-c", base + "for _ in range(3):\n    get('/run')\n"],
                       env=th.shim_env(name, spans_file, LD_PRELOAD=th.preload_value(lib)),
                       tmpdir=self.tmp, name=name)
            self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())
            spans = th.wait_spans(spans_file, 3, timeout=th.AFTER_EXIT_TIMEOUT)
            self.assertEqual([s["name"] for s in spans], ["GET /run"] * 3, th.format_spans(spans))
            st = os.stat(spans_file)
            self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (65534, 0o600), name)
        # the kept fd is write-only: the user the process became cannot
        # read the spans of the file through it (root's, other services')
        spans_file = os.path.join(self.tmp, "write-only.jsonl")
        with open(spans_file, "w") as f:
            f.write('{"root": "secret"}\n')
        os.chmod(spans_file, 0o600)
        p = th.run([th.PY, "-c", base + (
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "kept = [int(n) for n in os.listdir('/proc/self/fd')\n"
            "        if os.path.realpath('/proc/self/fd/' + n) == %r]\n"
            "assert len(kept) == 1, kept\n"
            "try:\n"
            "    os.pread(kept[0], 100, 0); print('readable')\n"
            "except OSError as e:\n"
            "    print('write-only', e.errno)\n" % spans_file)],
                   env=th.shim_env("write-only", spans_file), tmpdir=self.tmp, name="write-only")
        self.assertEqual((p.returncode, p.stdout(), p.stderr()), (0, b"write-only 9\n", b""),
                         p.describe())
        # a daemon acting as a user for a while (cron, Samba): the file it
        # made holds every user's spans, and stays root's
        spans_file = os.path.join(shared, "for-a-while.jsonl")
        p = th.run([th.PY, "-c", base + "os.seteuid(65534); get('/for-a-while')\n"],
                   env=th.shim_env("for-a-while", spans_file), tmpdir=self.tmp,
                   name="for-a-while")
        self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())
        th.wait_spans(spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertEqual(os.stat(spans_file).st_uid, 0)
        # nor does a worker forked after spans are in it, which gives root
        # up for good: the file its parent made stays the parent's (it
        # holds the parent's spans, and its other children's), and the
        # worker writes through the fd it inherited
        spans_file = os.path.join(shared, "worker.jsonl")
        p = th.run([th.PY, "-c", base + (
            "os.seteuid(65534); os.seteuid(0)\n"
            "get('/as-root')\n"
            "deadline = time.monotonic() + 10\n"
            "while os.path.getsize(%r) == 0 and time.monotonic() < deadline:\n"
            "    time.sleep(0.01)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "    get('/worker'); os._exit(0)\n"
            "assert os.waitpid(pid, 0)[1] == 0\n" % spans_file)],
                   env=th.shim_env("worker", spans_file), tmpdir=self.tmp, name="worker")
        self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())
        spans = th.wait_spans(spans_file, 2, timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertEqual(sorted(s["name"] for s in spans), ["GET /as-root", "GET /worker"],
                         th.format_spans(spans))
        self.assertEqual(os.stat(spans_file).st_uid, 0)
        # a change of user that fails (no CAP_SETUID left) gives nothing away
        spans_file = os.path.join(shared, "refused.jsonl")
        p = th.run([launchers["setpriv"][0], "--bounding-set=-setuid", "--inh-caps=-setuid",
                    th.PY, "-c", base + (
            "try:\n"
            "    os.setuid(65534)\n"
            "except PermissionError:\n"
            "    print('refused')\n")],
                   env=th.shim_env("refused", spans_file), tmpdir=self.tmp, name="refused")
        self.assertEqual((p.returncode, p.stdout(), p.stderr()), (0, b"refused\n", b""),
                         p.describe())
        self.assertEqual(os.stat(spans_file).st_uid, 0)
        # a process the shim does not trace keeps no file, and makes none
        for off in (dict(TRACESHIM_DISABLED="1"), dict(TRACESHIM_PROGRAMS="nothing-of-this-name")):
            with self.subTest(**off):
                spans_file = os.path.join(self.tmp, "first-off.jsonl")
                p = th.run([th.PY, "-c", script, "setuid"],
                           env=th.shim_env("dropper", spans_file, **off), tmpdir=self.tmp,
                           name="first-off")
                self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())
                self.assertFalse(os.path.exists(spans_file))

    def test_a_span_file_someone_else_put_in_a_shared_folder_is_not_written(self):
        # In a folder everyone may write (sticky, as /tmp and system mode's
        # /var/log/traceshim), a user puts a file readable by all where a
        # root service's span file will be: its URLs and command lines
        # would be theirs to read. Not written: neither by the exporter,
        # nor by the keeping of a service that gives root up, unless it
        # becomes that file's user. (fs.protected_regular, when on, makes
        # the kernel refuse to create over it; the shim opens an existing
        # file without O_CREAT first, and the setting may be off.)
        srv, script = self.as_root_with_a_server()
        os.chmod(self.tmp, 0o711)
        shared = os.path.join(self.tmp, "anyone")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        drop = "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
        # a service restarted: the file an earlier keeping gave the user it
        # becomes, kept at a chroot (haproxy's order) that names no user,
        # written through the kept fd alone once the process is that user
        jail = os.path.join(self.tmp, "jail-planted")
        os.mkdir(jail)
        chroot_drop = "os.chroot(%r); os.chdir('/')\n" % jail + drop
        for what, owner, code, written in (
                ("root", 65533, "get('/secret')\n", False),
                ("drops root", 65533, drop + "get('/secret')\n", False),
                ("becomes its owner", 65534, drop + "get('/secret')\n", True),
                ("chroot, becomes its owner", 65534, chroot_drop + "get('/after')\n", True),
                ("chroot, drops root", 65533, chroot_drop + "get('/secret')\n", False),
                ("the folder owner's", 0, "get('/secret')\n", True)):
            with self.subTest(what):
                spans_file = os.path.join(shared, "planted-%s.jsonl" % what.replace(" ", "-"))
                fd = os.open(spans_file, os.O_CREAT | os.O_WRONLY, 0o666)
                os.fchmod(fd, 0o666)
                os.fchown(fd, owner, owner)
                os.close(fd)
                p = th.run([th.PY, "-c", "import encodings.idna\n" + script + code],
                           env=th.shim_env("planted", spans_file), tmpdir=self.tmp,
                           name="planted")
                self.assertEqual(p.returncode, 0, p.describe())
                if written:
                    self.assertEqual(p.stderr(), b"", p.describe())
                    th.wait_spans(spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT)
                else:
                    self.assertIn(b"not writing to span file %s: it is user %d's"
                                  % (spans_file.encode(), owner), p.stderr(), p.describe())
                    self.assertEqual(os.path.getsize(spans_file), 0)

    def test_spans_exported_after_the_program_forbids_new_threads(self):
        # haproxy, as a user, sets RLIMIT_NPROC to 0 once its threads run:
        # every new thread is refused from then on, the reporter thread
        # too, which the first span would start. It is started before the
        # limit instead: the spans are written while the program runs (at
        # 55caab9 they were not, until a normal exit: none for a process
        # killed by a signal). Through setrlimit and prlimit.
        srv, script = self.as_root_with_a_server()
        script = ("import encodings.idna, resource\n" + script +
                  # the same limit again starts nothing (a shell's ulimit -u)
                  "resource.setrlimit(resource.RLIMIT_NPROC,"
                  " resource.getrlimit(resource.RLIMIT_NPROC))\n"
                  "print('threads', len(os.listdir('/proc/self/task')), flush=True)\n"
                  "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
                  "if sys.argv[1] == 'setrlimit':\n"
                  "    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))\n"
                  "else:\n"
                  "    resource.prlimit(0, resource.RLIMIT_NPROC, (0, 0))\n"
                  "for _ in range(3):\n"
                  "    get('/limited')\n"
                  "print('done', flush=True)\n"
                  "time.sleep(60)\n")
        os.chmod(self.tmp, 0o711)
        shared = os.path.join(self.tmp, "anyone-nproc")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        for how in ("setrlimit", "prlimit"):
            with self.subTest(how):
                spans_file = os.path.join(shared, "%s.jsonl" % how)
                p = th.Proc([th.PY, "-c", script, how], env=th.shim_env("limited", spans_file),
                            tmpdir=self.tmp, name="nproc-" + how)
                self.addCleanup(p.stop, 1)
                p.wait_output(rb"done\n", timeout=2 * th.SPAN_TIMEOUT)
                self.assertIn(b"threads 1\n", p.stdout(), p.describe())
                spans = th.wait_spans(spans_file, 3, timeout=th.SPAN_TIMEOUT, procs=(p,))
                self.assertEqual([s["name"] for s in spans], ["GET /limited"] * 3,
                                 th.format_spans(spans))
                p.stop(1)
                self.assertNotIn(b"cannot start the reporter thread", p.stderr(), p.describe())
        # Two threads set it at the same moment, as haproxy's do: the one
        # that finds the start claimed waits for the thread to exist
        # (without that wait the second's limit came first in 2 and 3 of 5
        # runs of this probe). Eight processes, each its one chance.
        for run in range(8):
            with self.subTest("two threads at once", run=run):
                spans_file = os.path.join(shared, "together-%d.jsonl" % run)
                p = th.Proc([self.exe["nproc_probe"], srv.port],
                            env=th.shim_env("limited", spans_file), tmpdir=self.tmp,
                            name="nproc-together-%d" % run)
                self.addCleanup(p.stop, 1)
                p.wait_output(rb"done\n", timeout=2 * th.SPAN_TIMEOUT)
                spans = th.wait_spans(spans_file, 3, timeout=th.SPAN_TIMEOUT, procs=(p,))
                self.assertEqual([s["name"] for s in spans], ["GET /limited"] * 3,
                                 th.format_spans(spans))
                p.stop(1)
                self.assertNotIn(b"cannot start the reporter thread", p.stderr(), p.describe())
        # A sandbox (no new fd, then no process: OpenSSH's
        # pre-authentication child) starts no thread: the filter it
        # installs next would not cover one started before, and it makes
        # no span. Nor does a limit other than 0 (a shell's ulimit -u).
        with self.subTest("sandbox"):
            p = th.run([self.exe["nproc_probe"], "sandbox"],
                       env=th.shim_env("sandbox", os.path.join(shared, "sandbox.jsonl")),
                       tmpdir=self.tmp, name="nproc-sandbox")
            self.assertEqual((p.returncode, p.stdout()), (0, b"threads 1\n"), p.describe())
        with self.subTest("ulimit -u"):
            p = th.run([th.PY, "-c",
                        "import os, resource\n"
                        "resource.setrlimit(resource.RLIMIT_NPROC, (5000, 5000))\n"
                        "print(len(os.listdir('/proc/self/task')))\n"],
                       env=th.shim_env("ulimit", os.path.join(shared, "ulimit.jsonl")),
                       tmpdir=self.tmp, name="nproc-ulimit")
            self.assertEqual((p.returncode, p.stdout()), (0, b"1\n"), p.describe())

    def test_a_span_fifo_that_is_not_read_holds_no_exit(self):
        """The span file a FIFO whose reader has stopped reading, the
        reporter's fds in the program's table (TRACESHIM_OWN_FD_TABLE=0, as
        under a seccomp filter): the exit's flush is the reporter thread's
        (bounded by TRACESHIM_EXIT_TIMEOUT), never a write on the program's
        thread, which waited for the reader for good (and, the reader gone,
        raised SIGPIPE, the program's death)."""
        fifo = os.path.join(self.tmp, "stalled.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
        self.addCleanup(os.close, reader)
        fcntl.fcntl(reader, 1031, 4096)  # F_SETPIPE_SZ: a page, which a batch outgrows
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        env = th.shim_env("stalled", fifo, TRACESHIM_OWN_FD_TABLE="0",
                          OTEL_BSP_SCHEDULE_DELAY="60000", TRACESHIM_EXIT_TIMEOUT="300")
        t0 = time.monotonic()
        p = th.run([th.PY, "-c",
                    "import sys, urllib.request as u\n"
                    "for _ in range(30):\n"
                    "    u.urlopen('http://127.0.0.1:%s/' % sys.argv[1]).read()\n",
                    str(srv.port)], env=env, tmpdir=self.tmp, name="stalled", timeout=20)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertLess(took, 10, "the exit waited for the FIFO's reader: %.1f s" % took)

    def test_giving_root_up_waits_for_the_span_file(self):
        # Root: the span file a FIFO nobody reads, so the reporter thread
        # never gets it open. A call that gives root up waits for that
        # open, once (the most it waits: 20 ms), so that a program that
        # drops root right after its first span does not do it before the
        # open; its first span does not wait (test_startup.py FirstSpanWait).
        srv, script = self.as_root_with_a_server()
        fifo = os.path.join(self.tmp, "spans.fifo")
        os.mkfifo(fifo)
        env = th.shim_env("fifo-root", fifo, TRACESHIM_EXIT_TIMEOUT="200")
        script += ("get('/as-root')\n"
                   "t0 = time.monotonic(); os.setgid(65534); t1 = time.monotonic()\n"
                   "os.setuid(65534); t2 = time.monotonic()\n"
                   "print(t1 - t0, t2 - t1)\n")
        p = th.run([th.PY, "-c", script], env=env, tmpdir=self.tmp, name="fifo-drop")
        self.assertEqual(p.returncode, 0, p.describe())
        setgid, setuid = (float(x) for x in p.stdout().decode().split())
        self.assertGreaterEqual(setgid, 0.015, "setgid did not wait for the span file")
        self.assertLess(setgid, 1.0)
        self.assertLess(setuid, 0.015, "the wait is once per process")

    def test_underscore_exit_from_a_signal_handler(self):
        self.check_end_in_a_handler("handler", 5, spans_per_run=1)

    def test_exec_from_a_signal_handler(self):
        # the first image's process span, ended at the exec, and the second's
        self.check_end_in_a_handler("handler-exec", 6, spans_per_run=2)

    def test_first_handler_in_a_vfork_child(self):
        # the child's handler is not the parent's: the parent's reporter
        # thread starts with its own handler, and its _exit keeps its span
        self.check_end_in_a_handler("vfork-handler", 8, spans_per_run=1)

    def test_ends_in_a_handler_while_the_allocator_is_locked(self):
        # The reporter thread's first flush once looked up the host's
        # addresses and grew its buffers: with the lock taken it waited
        # until the deadline, and the span was lost.
        collector = bk.Collector([200])
        self.addCleanup(collector.close)
        exporters = {
            "file, own fd table": dict(TRACESHIM_OWN_FD_TABLE=1),
            "file, shared fd table": dict(TRACESHIM_OWN_FD_TABLE=0),
            "otlp": dict(TRACESHIM_EXPORTER="otlp", OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                         OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % collector.port),
        }
        for how, status, spans in (("exit", 5, 1), ("exec", 6, 2)):
            for exporter, settings in exporters.items():
                what = "%s, %s" % (how, exporter)
                with self.subTest(what):
                    spans_file = os.path.join(self.tmp, "%s-%s.jsonl" % (how, exporter[:4]))
                    p = th.Proc([self.exe["alloc_lock_probe"], how],
                                env=th.shim_env("alloc-lock", spans_file, TRACESHIM_PROCESS_SPANS=1,
                                                TRACESHIM_EXIT_TIMEOUT=10000, **settings),
                                tmpdir=self.tmp, name="alloc-lock-%s-%s" % (how, exporter[:4]))
                    self.addCleanup(p.stop, 1)
                    started = time.monotonic()
                    p.finish(30, what)
                    took = time.monotonic() - started
                    self.assertEqual(p.returncode, status, p.describe())
                    self.assertEqual(p.stderr(), b"", p.describe())
                    self.assertLess(took, 5, "the flush waited\n" + p.describe())
                    if exporter == "otlp":
                        with open(spans_file, "wb") as f:
                            for _, _, body in collector.requests():
                                f.write(body.rstrip(b"\n") + b"\n")
                    mine = [s for s in th.read_spans(spans_file, strict=True) if s["pid"] == p.pid]
                    self.assertEqual(len(mine), spans, th.format_spans(mine))
                    self.assertIn(status, [s["attrs"].get("process.exit_code") for s in mine],
                                  th.format_spans(mine))

    def test_first_span_begun_in_a_handler_that_interrupted_malloc(self):
        """The reporter thread starts as the process's first span to be
        exported begins, at the end of the hook that began it. Where that
        hook ran in a handler of the program's that interrupted malloc
        (a GET sent from a SIGALRM handler while the main thread allocates
        without end), pthread_create, which allocates, met the allocator
        it interrupted: 13 runs in 40 aborted (heap corruption), and with
        one more thread of the program's 25 in 40 hung. It hung also when
        the span was begun on another thread (an upload blocked in its
        send) and the handler wrote to some other traced socket. Now the
        start is left to the span's end there (a blocked signal the
        program handles says "maybe in its handler"; a handler installed
        with SA_NODEFER, whose signal is not blocked, says so for good:
        with one, every run hung), as before the early start: every run
        ends, the GET with its span."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        log = th.RecordingServer(mode="sink")
        self.addCleanup(log.close)
        never_reads = th.listen_local()  # never accepts: the upload fills its buffers
        self.addCleanup(never_reads.close)
        upload_port = never_reads.getsockname()[1]
        cases = [("send", [srv.port]), ("send", [srv.port, "thread"]),
                 ("send", [srv.port, "nodefer"]), ("send", [srv.port, "sysv"]),
                 ("other-thread", [upload_port, log.port])]
        for mode, args in cases:
            for i in range(10):
                what = "%s %s, round %d" % (mode, " ".join(map(str, args[1:])), i)
                with self.subTest(what):
                    spans_file = os.path.join(self.tmp, "first-in-handler-%s-%s-%d.jsonl"
                                              % (mode, "-".join(map(str, args[1:])), i))
                    p = th.Proc([self.exe["first_span_in_handler"], mode, *map(str, args)],
                                env=th.shim_env("first-in-handler", spans_file), tmpdir=self.tmp,
                                name="first-in-handler-%s-%d" % (mode, i))
                    self.addCleanup(p.stop, 1)
                    p.finish(10, what)
                    self.assert_clean_exit(p, what)
                    if mode == "send":
                        spans = th.read_spans(spans_file) if os.path.exists(spans_file) else []
                        s = th.only(spans, "the handler's GET", spans)
                        self.assertEqual((s["kind"], url_path(s),
                                          s["attrs"].get("http.response.status_code")),
                                         (th.KIND_CLIENT, "/from-the-handler", 200),
                                         th.format_spans(spans))

    def test_a_flush_in_a_handler_needs_no_process_span(self):
        # The exporters were prepared only where a process span was to be
        # exported: without one (the default outside `traceshim run`), and
        # in a forked child (its resource is its own), the handler's flush
        # allocated and waited out its deadline, and the span was lost.
        # Jaeger too: its encoder once made a kind's leading tags at that
        # kind's first span, the client span here, which allocated.
        target = bk.Collector([200])
        self.addCleanup(target.close)
        for exporter in ("file", "jaeger"):
            for where, process_spans in (("same", 0), ("fork", 0), ("fork", 1)):
                what = "%s, %s process, process spans %d" % (exporter, where, process_spans)
                with self.subTest(what):
                    self.check_handler_flush_of_a_get(what, target, exporter, where,
                                                      process_spans)

    def check_handler_flush_of_a_get(self, what, target, exporter, where, process_spans):
        settings = {}
        if exporter == "jaeger":
            agent = bk.UdpAgent()
            self.addCleanup(agent.close)
            settings = dict(TRACESHIM_EXPORTER="jaeger",
                            OTEL_EXPORTER_JAEGER_AGENT_HOST="127.0.0.1",
                            OTEL_EXPORTER_JAEGER_AGENT_PORT=str(agent.port))
        name = "get-%s-%s-%d" % (exporter, where, process_spans)
        spans_file = os.path.join(self.tmp, name + ".jsonl")
        argv = [self.exe["alloc_lock_probe"], "exit", str(target.port)]
        if where == "fork":
            argv.append("fork")
        p = th.Proc(argv, env=th.shim_env("alloc-lock-get", spans_file,
                                          TRACESHIM_PROCESS_SPANS=process_spans,
                                          TRACESHIM_EXIT_TIMEOUT=10000, **settings),
                    tmpdir=self.tmp, name="alloc-lock-" + name)
        self.addCleanup(p.stop, 1)
        started = time.monotonic()
        p.finish(30, what)
        took = time.monotonic() - started
        self.assertEqual(p.returncode, 5, p.describe())
        self.assertEqual(p.stderr(), b"", p.describe())
        self.assertLess(took, 5, "the flush waited\n" + p.describe())
        if exporter == "jaeger":
            # the client span's tags: span.kind "client", the status code
            # 200 as a vLong (zigzag 400: 0x90 0x03)
            client = b"\x18\x09span.kind\x15\x00\x18\x06client\x00"
            status = b"\x18\x19http.response.status_code\x15\x06\x46\x90\x03\x00"
            deadline = time.monotonic() + 5
            while not any(client in d and status in d for d in agent.received()):
                self.assertLess(time.monotonic(), deadline,
                                "no datagram with the client span\n" + p.describe())
                time.sleep(0.05)
            return
        spans = th.read_spans(spans_file, strict=True)
        gets = [s for s in spans if s["kind"] == th.KIND_CLIENT]
        self.assertEqual(len(gets), 1, th.format_spans(spans))
        self.assertEqual(gets[0]["attrs"].get("http.response.status_code"), 200,
                         th.format_spans(spans))
        if where == "fork":
            self.assertNotEqual(gets[0]["pid"], p.pid, th.format_spans(spans))

    def test_handlers_installed_while_the_export_hangs(self):
        # Installing a handler waited for the reporter thread to prepare
        # its exporters, which it did only between exports: with the
        # collector not answering, every install waited 250 ms.
        target = bk.Collector([200])
        self.addCleanup(target.close)
        for process_spans in (1, 0):
            with self.subTest(process_spans=process_spans):
                collector = bk.Collector(["stall"])
                self.addCleanup(collector.close)
                go_read, go_write = os.pipe()
                self.addCleanup(os.close, go_write)
                p = th.Proc([self.exe["late_handlers"], str(target.port)], stdin=go_read,
                            env=th.shim_env("late-handlers", self.spans_file,
                                            TRACESHIM_PROCESS_SPANS=process_spans,
                                            TRACESHIM_EXPORTER="otlp",
                                            OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                                            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d"
                                            % collector.port,
                                            OTEL_EXPORTER_OTLP_TIMEOUT=5000,
                                            OTEL_BSP_SCHEDULE_DELAY=20,
                                            TRACESHIM_EXIT_TIMEOUT=300),
                            tmpdir=self.tmp, name="late-handlers-%d" % process_spans)
                os.close(go_read)
                self.addCleanup(p.stop, 1)
                # the handlers come once the export hangs: the collector holds its request
                deadline = time.monotonic() + 15
                while not collector.times and time.monotonic() < deadline and p.poll() is None:
                    time.sleep(0.01)
                self.assertTrue(collector.times, "nothing was exported\n" + p.describe())
                os.write(go_write, b"g")
                p.finish(30, "late_handlers")
                self.assertEqual(p.returncode, 0, p.describe())
                m = re.match(rb"longest install (\d+) ms\n$", p.stdout())
                self.assertTrue(m, p.describe())
                self.assertLess(int(m.group(1)), 100, p.describe())

    def check_end_in_a_handler(self, how, status, spans_per_run):
        """exit_probe HOW: a SIGALRM handler that interrupts malloc and free
        ends (_exit) or replaces (execv) the process, 20 times traced with
        process spans, half with the reporter in the program's fd table
        (there a flush on the calling thread would encode, allocating)."""
        runs = 20
        base = th.Proc([self.exe["exit_probe"], how, 0], env=th.clean_env(),
                       tmpdir=self.tmp, name="handler-untraced")
        self.addCleanup(base.stop, 1)
        base.finish(15, "the %s probe (untraced)" % how)
        self.assertEqual(base.returncode, status, "the probe itself\n" + base.describe())
        self.assertEqual(base.stdout(), b"threads 1 1\n", base.describe())
        pids = []
        for k in range(runs):
            p = th.Proc([self.exe["exit_probe"], how, 0],
                        env=self.env("handler-exit", TRACESHIM_PROCESS_SPANS=1,
                                     TRACESHIM_OWN_FD_TABLE=k % 2),
                        tmpdir=self.tmp, name="handler-%d" % k)
            self.addCleanup(p.stop, 1)
            p.finish(15, "%s, run %d" % (how, k))
            self.assertEqual(p.returncode, status, "run %d\n%s" % (k, p.describe()))
            self.assertEqual(p.stderr(), b"", "run %d\n%s" % (k, p.describe()))
            # A runtime preloaded first (the sanitizer stage's ASan) installs
            # handlers of its own before main: the reporter then starts as
            # main does, before the probe's handler.
            threads = {b"threads 1 2\n", b"threads 2 2\n"} if th.PRELOAD_FIRST else \
                {b"threads 1 2\n"}
            self.assertIn(p.stdout(), threads, "the reporter thread starts with the first "
                          "handler, run %d\n%s" % (k, p.describe()))
            pids.append(p.pid)
        # the reporter thread, started with the handler, took each process span
        spans = th.read_spans(self.spans_file, strict=True)
        for pid in pids:
            mine = [s for s in spans if s["pid"] == pid]
            self.assertEqual(len(mine), spans_per_run, "spans of pid %d\n%s"
                             % (pid, th.format_spans(spans)))
            self.assertTrue(all(s["kind"] == th.KIND_INTERNAL for s in mine),
                            th.format_spans(mine))
            self.assertIn(status, [s["attrs"].get("process.exit_code") for s in mine],
                          th.format_spans(mine))


class FakedClockTest(th.TempDirMixin, unittest.TestCase):
    """Under libfaketime, preloaded after the shim as the faketime command
    does (th.faked_clock_env), which fakes CLOCK_MONOTONIC too: the shim's
    deadlines are the kernel's (futex waits, timed locks) and are read on
    its own clocks (vDSO), not through libc's clock_gettime. Before, the periodic export never came
    (every deadline decades away in the kernel's time), and with a frozen
    clock and a receiver that never answers, the exit never ended."""

    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()

    def test_the_periodic_export_comes(self):
        for fake in ("+0", "2020-01-01 00:00:00"):
            with self.subTest(fake=fake):
                spans_file = os.path.join(self.tmp, "spans-%d.jsonl" % len(fake))
                env = th.faked_clock_env(
                    th.shim_env("faked", spans_file, OTEL_BSP_SCHEDULE_DELAY="300"), fake)
                p = th.Proc([th.PY, os.path.join(th.APPS, "httpapp.py"), "--port", "0"],
                            env=env, tmpdir=self.tmp, name="faked")
                self.addCleanup(p.stop)
                port = int(p.wait_output(rb"LISTENING (\d+)\n", timeout=10).group(1))
                th.http_get(port, "/ok")
                # the server still runs: only the periodic export writes it
                th.wait_spans(spans_file, 1, timeout=3, procs=(p,))
                p.stop()

    def test_an_exit_with_a_frozen_clock_stays_bounded(self):
        silent = th.listen_local()  # accepts, never answers
        self.addCleanup(silent.close)
        srv, port = th.start_app_server(self, "server", os.path.join(self.tmp, "srv.jsonl"),
                                        self.tmp, env=th.clean_env())
        env = th.faked_clock_env(
            th.shim_env("frozen", os.path.join(self.tmp, "unused.jsonl"),
                        TRACESHIM_EXPORTER="otlp", TRACESHIM_EXIT_TIMEOUT="1000",
                        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % silent.getsockname()[1]),
            "2020-01-01 00:00:00")
        t0 = time.monotonic()
        p = th.run([th.PY, "-c",
                    "import sys, urllib.request; "
                    "urllib.request.urlopen('http://127.0.0.1:%d/ok').read()" % port],
                   env=env, tmpdir=self.tmp, name="frozen", timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertLess(took, 8, "TRACESHIM_EXIT_TIMEOUT is 1 s; the exit took %.1f s\n%s"
                        % (took, p.describe()))

    def test_requests_made_after_the_shims_destructor(self):
        """Requests made once the shim's destructor has run (a library's
        destructor, an atexit handler a library registered, a thread still
        busy as main returns: apps/library_exit_requests.c), libfaketime
        preloaded after the shim. Its destructor runs after the shim's,
        and the shim's end after every library's destructor (registered by
        its destructor, for such requests) made calls that reached
        libfaketime then: its fstat took the semaphore its destructor had
        unmapped, and the process died of SIGSEGV, its buffered output lost
        (every exit and return, most busy ones). That end is not made when
        a library after the shim defines a function the shim calls: the
        process exits as it would, once, with its output (those requests'
        spans are lost, as they were before that end)."""
        tmp = self.tmp
        exe = th.compile_library_exit_requests(tmp)
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        for how, runs in (("exit", 3), ("return", 3), ("busy", 10)):
            for run in range(runs):
                with self.subTest(how=how, run=run):
                    spans_file = os.path.join(tmp, "spans-%s-%d.jsonl" % (how, run))
                    env = th.faked_clock_env(th.shim_env("late", spans_file, TRACESHIM_STATS=1),
                                             "+0")
                    p = th.run([exe, how, str(srv.port)], env=env, tmpdir=tmp,
                               name="late-%s-%d" % (how, run))
                    self.assertEqual(p.returncode, 0, p.describe())
                    self.assertEqual(p.stdout(), b"/main 200\n/lib-destructor 200\n"
                                     b"/lib-unanswered sent\n/lib-atexit 200\n", p.describe())
                    # the end at the shim's destructor, and none after
                    self.assertEqual(len(th.stats_lines(p.stderr())), 1, p.describe())
                    spans = th.read_spans(spans_file)
                    self.assertIn("http://127.0.0.1:%d/main" % srv.port,
                                  [x["attrs"].get("url.full") for x in spans],
                                  th.format_spans(spans))

    def test_a_wall_clock_step_keeps_each_span_duration(self):
        """The wall clock steps (an NTP step, settimeofday) while a request
        is out: the span lasts as long as the request did, by the monotonic
        clock, which no step moves. Before, a step back of 30 s put the
        client span's end 29.5 s before its start (Zipkin then said 1 us,
        Jaeger 0), and a step forward added 30 s."""
        for step in ("-30", "+30"):
            with self.subTest(step=step):
                clock_file = os.path.join(self.tmp, "clock%s" % step[0])
                with open(clock_file, "w") as f:
                    f.write("+0\n")
                lsock = th.listen_local()
                self.addCleanup(lsock.close)

                def serve():
                    # the client's wall clock steps while its request waits
                    try:
                        while True:
                            try:
                                c, _ = lsock.accept()
                                break
                            except socket.timeout:
                                continue
                        with c:
                            c.settimeout(10)
                            got = b""
                            while b"\r\n\r\n" not in got:
                                got += c.recv(4096)
                            with open(clock_file, "w") as f:
                                f.write(step + "\n")
                            time.sleep(0.5)
                            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                      b"Connection: close\r\n\r\nok")
                    except OSError:
                        pass
                server = threading.Thread(target=serve, daemon=True)
                server.start()
                spans_file = os.path.join(self.tmp, "step%s.jsonl" % step[0])
                env = th.faked_clock_env(th.shim_env("stepped", spans_file), "+0")
                del env["FAKETIME"]
                env.update(FAKETIME_TIMESTAMP_FILE=clock_file, FAKETIME_NO_CACHE="1",
                           FAKETIME_DONT_FAKE_MONOTONIC="1")
                p = th.run([th.PY, "-c",
                            "import urllib.request; urllib.request.urlopen("
                            "'http://127.0.0.1:%d/step').read()" % lsock.getsockname()[1]],
                           env=env, tmpdir=self.tmp, name="stepped", timeout=30)
                server.join(10)
                self.assertEqual(p.returncode, 0, p.describe())
                clients = [s for s in th.read_spans(spans_file) if s["kind"] == th.KIND_CLIENT]
                self.assertEqual(len(clients), 1, th.format_spans(clients))
                took = (clients[0]["end"] - clients[0]["start"]) / 1e9
                self.assertTrue(0.5 <= took < 5,
                                "the request took 0.5 s and more; its span says %.3f s\n%s"
                                % (took, th.format_spans(clients)))

    def test_the_process_span_holds_its_spans_across_a_step(self):
        """The wall clock steps forward 30 s while a process runs, before it
        makes a request: the process span, whose end would be its start
        plus the monotonic time gone by, ends no earlier than the wall clock
        says, so the request's span (started on the new time) is still
        inside it."""
        clock_file = os.path.join(self.tmp, "clock")
        with open(clock_file, "w") as f:
            f.write("+0\n")
        srv, port = th.start_app_server(self, "server", os.path.join(self.tmp, "srv.jsonl"),
                                        self.tmp, env=th.clean_env())
        spans_file = os.path.join(self.tmp, "pspan.jsonl")
        env = th.faked_clock_env(th.shim_env("stepped", spans_file,
                                             TRACESHIM_PROCESS_SPANS="true"), "+0")
        del env["FAKETIME"]
        env.update(FAKETIME_TIMESTAMP_FILE=clock_file, FAKETIME_NO_CACHE="1",
                   FAKETIME_DONT_FAKE_MONOTONIC="1")
        p = th.run([th.PY, "-c",
                    "import sys, time, urllib.request\n"
                    "open(sys.argv[1], 'w').write('+30\\n')\n"
                    "t = time.monotonic()\n"  # (libfaketime's sleep fails here)
                    "while time.monotonic() - t < 0.3: pass\n"
                    "urllib.request.urlopen('http://127.0.0.1:%d/ok').read()\n" % port,
                    clock_file],
                   env=env, tmpdir=self.tmp, name="stepped", timeout=30)
        self.assertEqual(p.returncode, 0, p.describe())
        spans = th.read_spans(spans_file)
        (proc,) = [s for s in spans if s["kind"] == th.KIND_INTERNAL]
        (client,) = [s for s in spans if s["kind"] == th.KIND_CLIENT]
        self.assertEqual(client["parentSpanId"], proc["spanId"], th.format_spans(spans))
        self.assertTrue(proc["start"] <= client["start"] and client["end"] <= proc["end"],
                        "the client span is outside its process span\n%s" % th.format_spans(spans))


if __name__ == "__main__":
    th.main()
