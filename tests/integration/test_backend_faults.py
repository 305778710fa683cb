"""test_backend_faults.py — a tracing backend that is down, black-holed,
slow or failing costs the traced program nothing.

A traced python server (apps/httpapp.py) exports its spans over OTLP/HTTP
every 20 ms to a backend that answers 200 (the baseline), refuses
connections, accepts and never reads, answers after 1.5 s, or answers every
request with 500 or 429. For each, the test sends the same keep-alive load
and checks against the baseline run:
  - the program's request latency (median of 3 x 80 requests) is unchanged
    within noise (at most twice the baseline's plus 3 ms: an export on the
    request path would add whole timeouts);
  - no fd and no thread is left behind by the failing exports (counted in
    /proc twice, a second apart, after the load);
  - the exit is bounded by TRACESHIM_EXIT_TIMEOUT;
  - the spans that could not be exported are counted
    (TRACESHIM_STATS=1: the stats line on stderr) and nothing else is lost.
"""

import http.client
import os
import socket
import statistics
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends as bk  # noqa: E402
import tshelp as th  # noqa: E402

ROUNDS, PER_ROUND = 3, 80
EXIT_TIMEOUT_MS = 1000


class BlackHole(th.AcceptingServer):
    """Accepts every connection and never reads from it (a tiny receive
    buffer, so the sender's writes stop at once)."""

    def __init__(self):
        self.conns = []
        self.listen(rcvbuf=4096)

    def _accepted(self, sock, peer, n):
        self.conns.append(sock)
        return (lambda: None), ()

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


class SlowCollector(th.AcceptingServer):
    """Reads each request whole and answers 200 after `delay` seconds."""

    def __init__(self, delay):
        self.delay = delay
        self.requests = 0
        self.listen()

    def _accepted(self, sock, peer, n):
        return self._serve, (sock,)

    def _serve(self, sock):
        pending = bytearray()
        with sock:
            for chunk in self._received(sock, 65536):
                pending += chunk
                for _ in th.complete_requests(pending):
                    self.requests += 1
                    time.sleep(self.delay)
                    try:
                        sock.sendall(bk.http_response(200))
                    except OSError:
                        return


def fds_of(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def threads_of(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def parse_stats(stderr):
    """{key: value} of the one stats line the process wrote on stderr."""
    found = th.stats_lines(stderr)
    if len(found) != 1:
        raise AssertionError("expected one stats line, got %d:\n%s"
                             % (len(found), stderr.decode("utf-8", "replace")))
    return found[0][1]


class BackendFaultsTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()

    def backend(self, server):
        self.addCleanup(server.close)
        return server

    def run_load(self, endpoint_port, label):
        """Serve ROUNDS x PER_ROUND keep-alive requests with spans exported
        to 127.0.0.1:endpoint_port; returns a dict of what was measured."""
        spans_file = os.path.join(self.tmp, "unused-%s.jsonl" % label)
        env = th.shim_env("faults-" + label, spans_file,
                          TRACESHIM_EXPORTER="otlp", OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                          OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % endpoint_port,
                          OTEL_BSP_SCHEDULE_DELAY=20, OTEL_EXPORTER_OTLP_TIMEOUT=3000,
                          TRACESHIM_EXIT_TIMEOUT=EXIT_TIMEOUT_MS, TRACESHIM_STATS=1,
                          TRACESHIM_LOG_LEVEL="error")
        srv, port = th.start_app_server(self, "faults-" + label, spans_file, self.tmp, env=env,
                                        name="httpapp-" + label)
        latencies = []
        for _ in range(ROUNDS):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                for _ in range(PER_ROUND):
                    t0 = time.perf_counter()
                    conn.request("GET", "/ok")
                    # the server writes head and body apart: an immediate
                    # ACK of the head lets Nagle release the body (not 40 ms
                    # of delayed ACK per request)
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                    r = conn.getresponse()
                    body = r.read()
                    latencies.append(time.perf_counter() - t0)
                    self.assertEqual((r.status, body), (200, b"ok"), label)
            finally:
                conn.close()
        time.sleep(0.3)  # the connection's thread ends; more exports are tried
        first = (fds_of(srv.pid), threads_of(srv.pid))
        time.sleep(1.0)  # ~50 more export periods
        second = (fds_of(srv.pid), threads_of(srv.pid))
        t0 = time.monotonic()
        rc = srv.stop(grace=20)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, srv.describe())
        self.assertFalse(os.path.exists(spans_file), "only the OTLP exporter is on")
        return {"median": statistics.median(latencies), "fds": (first[0], second[0]),
                "threads": (first[1], second[1]), "exit": took,
                "stats": parse_stats(srv.stderr())}

    def baseline(self):
        if not hasattr(type(self), "_baseline"):
            good = bk.Collector([200])
            try:
                type(self)._baseline = self.run_load(good.port, "baseline")
                type(self)._baseline_requests = len(good.requests())
            finally:
                good.close()
        return type(self)._baseline

    def assert_unharmed(self, got, label):
        base = self.baseline()
        report = "%s: %r\nbaseline: %r" % (label, got, base)
        self.assertEqual(base["stats"]["exported"], base["stats"]["sampled"], report)
        self.assertEqual(base["stats"]["sampled"], ROUNDS * PER_ROUND, report)
        self.assertLessEqual(got["median"], 2 * base["median"] + 0.003,
                             "requests slowed by the backend\n" + report)
        # no fd or thread per failed export; one exporter socket may be open
        fds, threads = got["fds"], got["threads"]
        self.assertLessEqual(fds[1], fds[0] + 1, "fds grow with failed exports\n" + report)
        self.assertLessEqual(fds[1], base["fds"][1] + 1, report)
        self.assertEqual(threads[1], threads[0], report)
        self.assertLessEqual(threads[1], base["threads"][1], report)
        self.assertLess(got["exit"], EXIT_TIMEOUT_MS / 1000 + 1.5, "exit not bounded\n" + report)
        st = got["stats"]
        self.assertEqual(st["sampled"], ROUNDS * PER_ROUND, report)
        return st

    def assert_counted(self, st, label):
        """Every span not exported is in one drop column (a batch an export
        still holds when the exit flush ends is dropped_exit_timeout)."""
        dropped = st["dropped_queue_full"] + st["dropped_export_failed"] + st["dropped_exit_timeout"]
        self.assertLess(st["exported"], st["sampled"], "%s: %r" % (label, st))
        self.assertGreater(dropped, 0, "%s: %r" % (label, st))
        self.assertEqual(st["exported"] + dropped, st["sampled"],
                         "%s: spans neither exported nor counted once: %r" % (label, st))

    def test_refused(self):
        got = self.run_load(th.closed_port(), "refused")
        st = self.assert_unharmed(got, "refused")
        self.assert_counted(st, "refused")
        self.assertEqual(st["exported"], 0, st)
        self.assertGreater(st["dropped_export_failed"], 0, st)
        self.assertGreater(st["export_errors"], 0, st)

    def test_black_holed(self):
        hole = self.backend(BlackHole())
        got = self.run_load(hole.port, "blackhole")
        st = self.assert_unharmed(got, "blackhole")
        self.assert_counted(st, "blackhole")
        self.assertEqual(st["exported"], 0, st)

    def test_slow(self):
        slow = self.backend(SlowCollector(1.5))
        got = self.run_load(slow.port, "slow")
        st = self.assert_unharmed(got, "slow")
        self.assertGreater(slow.requests, 0, "the slow backend got requests")
        # what the slow backend took is exported; the rest is counted
        dropped = st["dropped_queue_full"] + st["dropped_export_failed"] + st["dropped_exit_timeout"]
        self.assertGreater(st["exported"], 0, st)
        self.assertEqual(st["exported"] + dropped, st["sampled"], st)

    def test_500(self):
        c = self.backend(bk.Collector([500]))
        got = self.run_load(c.port, "500")
        st = self.assert_unharmed(got, "500")
        self.assert_counted(st, "500")
        self.assertEqual(st["exported"], 0, st)
        self.assertGreater(len(c.requests()), 0)
        self.assertGreater(st["export_errors"], 0, st)

    def test_429(self):
        c = self.backend(bk.Collector([bk.http_response(429, headers=[("Retry-After", "1")])]))
        got = self.run_load(c.port, "429")
        st = self.assert_unharmed(got, "429")
        self.assert_counted(st, "429")
        self.assertEqual(st["exported"], 0, st)
        self.assertGreater(len(c.requests()), 0)


if __name__ == "__main__":
    th.main()
