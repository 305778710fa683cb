"""test_exporter_transport.py — how the network exporters behave toward a
backend that answers, refuses, fails, throttles or hangs.

A traced python server (apps/httpapp.py) serves requests sent from this
test; its spans go to the file AND to a stand-in collector
(backends.Collector) as OTLP/JSON, so every body the collector receives is
compared with what the file exporter wrote in the same run. Retries must
deliver the same batch again; failures must cost the program nothing but
counted spans: its requests are not slowed, its exit is bounded.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends as bk  # noqa: E402
import tshelp as th  # noqa: E402

sys.path.insert(0, os.path.join(th.SRC, "tests", "peers"))
import otlp_decode as od  # noqa: E402

def otlp_json_spans(body):
    """Spans of one OTLP/JSON request body, as {spanId: (traceId, parent, name, kind)}."""
    doc = json.loads(body)
    out = {}
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                out[s["spanId"]] = (s["traceId"], s.get("parentSpanId"), s["name"], s["kind"],
                                    s["startTimeUnixNano"], s["endTimeUnixNano"])
    return out


def file_spans(spans):
    return {s["spanId"]: (s["traceId"], s["parentSpanId"], s["name"], s["kind"],
                          str(s["start"]), str(s["end"])) for s in spans}


class TransportTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def collector(self, script):
        c = bk.Collector(script)
        self.addCleanup(c.close)
        return c

    def start(self, **env):
        env.setdefault("TRACESHIM_EXPORTER", "file,otlp")
        env.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        env.setdefault("TRACESHIM_LOG_LEVEL", "warn")
        e = th.shim_env("transport-svc", self.spans_file, **env)
        srv, port = th.start_app_server(self, "transport-svc", self.spans_file, self.tmp, env=e)
        return srv, port

    def settle(self, srv, n):
        """Wait until the server's n spans are in the file: the last response
        reaches us a moment before its span is queued, and the tests count
        spans after the server exits."""
        th.wait_spans(self.spans_file, n, procs=(srv,))

    def stop(self, srv):
        """Stop the server; returns how long its exit took (s)."""
        t0 = time.monotonic()
        rc = srv.stop(grace=20)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, srv.describe())
        return took

    def test_success_delivers_exactly_what_the_file_has(self):
        c = self.collector([200])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d/" % c.port,
                               OTEL_EXPORTER_OTLP_HEADERS="x-api-key=s3cret,x-tenant=a%20b")
        for path in ("/ok", "/missing", "/fail"):
            th.http_get(port, path)
        self.settle(srv, 3)
        self.stop(srv)
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(len(spans), 3, th.format_spans(spans))
        reqs = c.requests()
        self.assertGreaterEqual(len(reqs), 1)
        got = {}
        for line, headers, body in reqs:
            self.assertEqual(line, "POST /v1/traces HTTP/1.1")
            self.assertEqual(th.header_values(headers, "content-type"), ["application/json"])
            self.assertEqual(th.header_values(headers, "x-api-key"), ["s3cret"])
            self.assertEqual(th.header_values(headers, "x-tenant"), ["a b"])
            self.assertEqual(th.header_values(headers, "host"), ["127.0.0.1:%d" % c.port])
            got.update(otlp_json_spans(body))
        self.assertEqual(got, file_spans(spans))
        self.assertNotIn("not exported", srv.stderr().decode(), srv.describe())

    def test_the_exit_flush_fits_a_small_thread(self):
        """A thread of 16 KiB that makes a request and calls exit: with the
        reporter in the program's fd table (TRACESHIM_OWN_FD_TABLE=0, or a
        seccomp filter), the flush, its OTLP request head included, runs
        on that thread. The head, grown for 8 KiB of user headers, was on
        the stack: the process died of it (139) and the batch was lost."""
        exe = th.compile_app("small_stack_exit.c", os.path.join(self.tmp, "small_stack_exit"),
                             "-O2", libs=("-lpthread",))
        c = self.collector([200])
        srv, port = th.start_app_server(self, "backend", os.path.join(self.tmp, "backend.jsonl"),
                                        self.tmp, env=th.shim_env("backend", os.path.join(
                                            self.tmp, "backend.jsonl"), TRACESHIM_EXPORTER="none"))
        # under the sanitizers (TSTEST_PRELOAD_FIRST) every frame is larger
        kib = "128" if th.PRELOAD_FIRST else "16"
        p = th.run([exe, str(port), kib], env=th.shim_env(
            "small", self.spans_file, TRACESHIM_EXPORTER="otlp", TRACESHIM_OWN_FD_TABLE="0",
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
            OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20" + "t" * 4000),
            tmpdir=self.tmp, name="small")
        self.assertEqual(p.returncode, 0, p.describe())
        line, headers, _ = c.wait_requests(1)[0]
        self.assertEqual(line, "POST /v1/traces HTTP/1.1")
        self.assertEqual(th.header_values(headers, "authorization"), ["Bearer " + "t" * 4000])
        srv.stop(grace=20)

    def test_a_traced_collector_does_not_trace_the_batches(self):
        """A collector (or a gateway in front of one) that is itself traced
        makes no span of the batches it receives: each would be exported,
        received, traced and exported again, forever. The exporter's
        User-Agent (traceshim/VERSION) tells the shim on the other side."""
        collector_file = os.path.join(self.tmp, "collector.jsonl")
        col, col_port = th.start_app_server(self, "collector", collector_file, self.tmp)
        srv, port = self.start(TRACESHIM_EXPORTER="otlp",
                               OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d/" % col_port)
        th.http_get(port, "/ok")
        th.http_get(col_port, "/ok")  # the collector's own traffic is traced
        self.stop(srv)  # its exit flushes the batch to the collector
        th.wait_spans(collector_file, 1, procs=(col,))
        time.sleep(0.5)  # a span of the batch would be in the file by now (delay 100 ms)
        col.stop(grace=20)
        paths = sorted(s["attrs"].get("url.path") for s in th.read_spans(collector_file, strict=True))
        self.assertEqual(paths, ["/ok"], "the collector's spans")
        # the batch did reach it (httpapp answers 404 to POST /v1/traces)
        self.assertIn(b"OTLP endpoint http://127.0.0.1:%d/v1/traces: HTTP 404" % col_port,
                      srv.stderr(), srv.describe())

    def test_traces_endpoint_is_used_as_given(self):
        c = self.collector([200])
        srv, port = self.start(
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:%d/custom/path?x=1" % c.port,
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9/ignored")
        th.http_get(port, "/ok")
        self.stop(srv)
        reqs = c.wait_requests(1)
        self.assertEqual(reqs[0][0], "POST /custom/path?x=1 HTTP/1.1")

    def test_503_then_200_is_retried_with_the_same_batch(self):
        c = self.collector([503, 502, 200])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_BSP_SCHEDULE_DELAY="200")
        th.http_get(port, "/ok")
        th.http_get(port, "/missing")
        self.settle(srv, 2)
        reqs = c.wait_requests(3, timeout=10)
        self.stop(srv)
        reqs = c.requests()
        self.assertEqual(len(reqs), 3, "one batch: two failures and the success")
        self.assertEqual(reqs[0][2], reqs[1][2])
        self.assertEqual(reqs[1][2], reqs[2][2])
        # backoff: 100 ms, then 200 ms, each with up to 25% jitter
        gaps = [c.times[1] - c.times[0], c.times[2] - c.times[1]]
        self.assertGreaterEqual(gaps[0], 0.09, gaps)
        self.assertGreaterEqual(gaps[1], 0.19, gaps)
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(otlp_json_spans(reqs[2][2]), file_spans(spans))
        self.assertNotIn("not exported", srv.stderr().decode(), srv.describe())

    def test_a_failing_batch_gets_six_attempts_with_doubling_waits(self):
        """What the README says of the retries, measured: 6 attempts in
        all (5 retries), after waits of 100, 200, 400, 800 and 1600 ms,
        each with up to a quarter more; then the batch is given up."""
        c = self.collector([503])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               TRACESHIM_STATS="1")
        th.http_get(port, "/ok")
        self.settle(srv, 1)
        c.wait_requests(6, timeout=10)
        time.sleep(2.5)  # a seventh would come 3.2 s after the sixth, at most 4 s
        self.stop(srv)
        self.assertEqual(len(c.requests()), 6)
        gaps = [b - a for a, b in zip(c.times, c.times[1:])]
        for gap, backoff in zip(gaps, (0.1, 0.2, 0.4, 0.8, 1.6)):
            self.assertGreaterEqual(gap, backoff * 0.95, gaps)
            self.assertLess(gap, backoff * 1.25 + 0.15, gaps)
        st = th.stats_lines(srv.stderr())[0][1]
        self.assertEqual((st["export_errors"], st["dropped_export_failed"]), (6, 1), st)

    def retry_after_waits(self, status, retry_after, at_least):
        """A batch answered status with Retry-After, then 200: sent twice,
        the second time at least at_least seconds after the first."""
        c = self.collector([bk.http_response(status, headers=[("Retry-After", retry_after)]), 200])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_BSP_SCHEDULE_DELAY="100")
        th.http_get(port, "/ok")
        c.wait_requests(2, timeout=10)
        self.stop(srv)
        self.assertGreaterEqual(c.times[1] - c.times[0], at_least)
        self.assertEqual(len(c.requests()), 2)

    def test_timed_out_attempt_is_retried(self):
        """An attempt that timed out (OTEL_EXPORTER_OTLP_TIMEOUT) is a
        transient failure: the batch goes again, on a new connection."""
        c = self.collector(["stall", 200])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_EXPORTER_OTLP_TIMEOUT="300", OTEL_BSP_SCHEDULE_DELAY="100")
        th.http_get(port, "/ok")
        reqs = c.wait_requests(2, timeout=10)
        self.assertGreaterEqual(c.times[1] - c.times[0], 0.3)
        self.stop(srv)
        self.assertEqual(len(c.requests()), 2)
        self.assertEqual(reqs[0][2], reqs[1][2])
        self.assertEqual(otlp_json_spans(reqs[1][2]),
                         file_spans(th.read_spans(self.spans_file, strict=True)))
        self.assertNotIn("not exported", srv.stderr().decode(), srv.describe())

    def test_429_retry_after_is_honoured(self):
        self.retry_after_waits(429, "1", 0.95)

    def test_retry_after_as_a_date_is_honoured(self):
        """Retry-After may be an HTTP-date (RFC 9110): the wait until then,
        1 to 2 s here (the date has whole seconds)."""
        import email.utils
        self.retry_after_waits(503, email.utils.formatdate(time.time() + 2, usegmt=True), 0.9)

    def partial_success(self, protocol, answer, requests=3):
        """A server's spans sent to a collector that answers every batch
        with answer (a 200 body); the server's stderr and its exporters'
        counters, after its exit flushed them all as one batch."""
        content_type = "application/json" if protocol == "http/json" else "application/x-protobuf"
        c = self.collector([bk.http_response(200, answer, headers=[("Content-Type", content_type)])])
        srv, port = self.start(TRACESHIM_EXPORTER="otlp", TRACESHIM_STATS="1",
                               OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                               OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port)
        for _ in range(requests):
            th.http_get(port, "/ok")
        time.sleep(0.3)  # the last span is queued a moment after its response
        self.stop(srv)
        self.assertEqual(len(c.requests()), 1, "one batch, not sent again")
        [(_, stats)] = th.stats_lines(srv.stderr())
        return srv.stderr().decode(), stats

    def test_partial_success_counts_the_rejected_spans(self):
        """A collector that takes part of a batch answers 200 with a
        partial success (here as protoc encodes it): the spans it rejected
        are not exported but lost, said once with its reason."""
        bk.require_peers()
        body = od.encode_export_response(
            'partial_success { rejected_spans: 2 error_message: "quota exceeded for tenant" }')
        err, stats = self.partial_success("http/protobuf", body)
        self.assertIn("traceshim: otlp exporter: the OTLP endpoint rejected 2 of 3 spans: "
                      "quota exceeded for tenant", err)
        self.assertIn("traceshim: 2 spans not exported: 0 dropped on a full queue, 2 failed", err)
        self.assertEqual((stats["exported"], stats["dropped_export_failed"]), (1, 2), stats)
        self.assertEqual(stats["export_errors"], 0, stats)

    def test_partial_success_in_json(self):
        err, stats = self.partial_success(
            "http/json", b'{"partialSuccess":{"rejectedSpans":"1","errorMessage":"span too old"}}')
        self.assertIn("the OTLP endpoint rejected 1 of 3 spans: span too old", err)
        self.assertEqual((stats["exported"], stats["dropped_export_failed"]), (2, 1), stats)

    def test_partial_success_warning_only(self):
        """A message with nothing rejected is a warning: every span counts
        as exported. An empty partial success says nothing."""
        bk.require_peers()
        body = od.encode_export_response('partial_success { error_message: "slow down" }')
        err, stats = self.partial_success("http/protobuf", body)
        self.assertIn("traceshim: otlp exporter: the OTLP endpoint took the spans with a "
                      "warning: slow down", err)
        self.assertEqual((stats["exported"], stats["dropped_export_failed"]), (3, 0), stats)
        self.assertNotIn("not exported", err)
        err, stats = self.partial_success("http/json", b'{"partialSuccess":{}}')
        self.assertNotIn("OTLP endpoint", err)
        self.assertEqual((stats["exported"], stats["dropped_export_failed"]), (3, 0), stats)

    def test_a_backend_in_retries_holds_back_no_other_exporter(self):
        """The OTLP collector answers the first batch 503 with Retry-After:
        2, then takes everything. Meanwhile the span file gets each span
        within moments (one reporter thread exported in turn: the file
        waited out the OTLP batch's retries), and the spans that came
        during the wait reach the collector after the retry, each once."""
        busy = bk.http_response(503, headers=[("Retry-After", "2")])
        c = self.collector([busy, 200])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_BSP_SCHEDULE_DELAY="50")
        th.http_get(port, "/first")
        c.wait_requests(1)  # answered 503: its retry is 2 s away
        t0 = time.monotonic()
        for i in range(5):
            th.http_get(port, "/during-%d" % i)
        th.wait_spans(self.spans_file, 6, timeout=1.0, procs=(srv,))
        self.assertLess(time.monotonic() - t0, 1.5, "the file waited for the OTLP retry")
        self.assertEqual(len(c.requests()), 1, "the retry is not due yet")
        c.wait_requests(3, timeout=10)  # the retry, then the batch it held
        self.stop(srv)
        posted = []
        for _, _, body in c.requests()[1:]:
            for rs in json.loads(body)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    posted += [sp["name"] for sp in ss["spans"]]
        self.assertEqual(sorted(posted), sorted(["GET /first"] + ["GET /during-%d" % i
                                                                  for i in range(5)]))
        self.assertEqual(len(th.read_spans(self.spans_file, strict=True)), 6)

    def test_400_is_not_retried_and_is_counted(self):
        c = self.collector([400])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_BSP_SCHEDULE_DELAY="100")
        th.http_get(port, "/ok")
        c.wait_requests(1)
        time.sleep(0.5)
        self.stop(srv)
        self.assertEqual(len(c.requests()), 1)
        err = srv.stderr().decode()
        self.assertIn("traceshim: otlp exporter: OTLP endpoint http://127.0.0.1:%d/v1/traces: "
                      "HTTP 400" % c.port, err)
        self.assertIn("traceshim: 1 span not exported: 0 dropped on a full queue, 1 failed", err)

    def test_refused_costs_nothing_but_counted_spans(self):
        port_closed = th.closed_port()
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % port_closed,
                               OTEL_BSP_SCHEDULE_DELAY="60000")
        for _ in range(5):
            status, _ = th.http_get(port, "/ok")
            self.assertEqual(status, 200)
        time.sleep(0.3)  # the last span is queued a moment after its response
        took = self.stop(srv)
        self.assertLess(took, 1.5, "exit must not wait for a backend that is down")
        err = srv.stderr().decode()
        self.assertEqual(err.count("traceshim: otlp exporter:"), 1, err)
        self.assertIn("Connection refused", err)
        self.assertIn("traceshim: 5 spans not exported", err)
        # the file exporter still has them all
        self.assertEqual(len(th.read_spans(self.spans_file, strict=True)), 5)

    def test_failure_line_names_the_endpoint(self):
        """The first failure's line names the endpoint by its URL, as the
        Jaeger agent's and the remote sampler's name their address
        ("OTLP endpoint: cannot connect" said which one only to someone who
        knew the configuration); a token in its query is not shown."""
        closed = th.closed_port()
        srv, port = self.start(
            TRACESHIM_EXPORTER="file,otlp,zipkin",
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d/otlp?token=s3cret" % closed,
            OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:%d/api/v2/spans?key=s3cret" % closed,
            OTEL_BSP_SCHEDULE_DELAY="60000")
        th.http_get(port, "/ok")
        time.sleep(0.3)  # the span is queued a moment after its response
        self.stop(srv)  # the exit's flush sends it
        err = srv.stderr().decode()
        self.assertIn("traceshim: otlp exporter: OTLP endpoint http://127.0.0.1:%d/otlp/v1/traces"
                      "?token=(not shown): cannot connect: Connection refused; 1 span dropped"
                      % closed, err)
        self.assertIn("traceshim: zipkin exporter: Zipkin endpoint http://127.0.0.1:%d/api/v2/spans"
                      "?key=(not shown): cannot connect: Connection refused; 1 span dropped"
                      % closed, err)
        self.assertNotIn("s3cret", err)

    def jaeger_load(self, agent_port, requests, between=0.3, before_each=None, per_round=1,
                    **env):
        """The server exporting to the file and to a Jaeger agent on
        127.0.0.1:agent_port, `per_round` requests at once every `between`
        s (by default each its own batch); returns (stderr, stats of the
        server)."""
        env.setdefault("TRACESHIM_LOG_LEVEL", "error")
        srv, port = self.start(TRACESHIM_EXPORTER="file,jaeger", JAEGER_AGENT_HOST="127.0.0.1",
                               JAEGER_AGENT_PORT=str(agent_port), OTEL_BSP_SCHEDULE_DELAY="100",
                               TRACESHIM_STATS="1", **env)
        for i in range(requests):
            if before_each:
                before_each(i)
            for _ in range(per_round):
                status, _ = th.http_get(port, "/ok")
                self.assertEqual(status, 200)
            time.sleep(between)
        self.stop(srv)
        stats = th.stats_lines(srv.stderr())
        self.assertEqual(len(stats), 1, srv.describe())
        return srv.stderr().decode(), stats[0][1]

    def udp_port_nobody_uses(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def test_jaeger_agent_down_is_said_and_counted(self):
        # Each datagram to a UDP port with nothing on it is refused (ICMP
        # port unreachable, pending on the socket right after the send).
        err, st = self.jaeger_load(self.udp_port_nobody_uses(), 4)
        self.assertEqual(err.count("traceshim: jaeger exporter: Jaeger agent: 127.0.0.1:"), 1, err)
        self.assertIn("Connection refused", err)
        self.assertEqual((st["sampled"], st["exported"], st["dropped_export_failed"],
                          st["export_errors"]), (4, 4, 4, 4), st)  # exported: the file's

    def test_jaeger_agent_ipv6_is_shown_in_brackets(self):
        """The failure line names an IPv6 agent as traceshim config does,
        [::1]:PORT (it was ::1:PORT)."""
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
                port = s.getsockname()[1]
        except OSError as e:
            self.skipTest("no ::1 here: %s" % e)
        env = th.shim_env("v6", self.spans_file, TRACESHIM_EXPORTER="jaeger",
                          TRACESHIM_PROCESS_SPANS="1", JAEGER_AGENT_HOST="::1",
                          JAEGER_AGENT_PORT=str(port))
        p = th.run(["/bin/true"], env=env, tmpdir=self.tmp, name="v6")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn("traceshim: jaeger exporter: Jaeger agent: [::1]:%d: Connection refused"
                      % port, p.stderr().decode())

    def test_span_file_removed_or_rotated_is_made_again(self):
        """The span file renamed away (a log rotation) and then removed while
        the process runs: its later spans go to a file at the path again,
        not into the removed one, where nobody could read them (they were
        counted as exported); so too when they are the exit's, written on
        the program's thread (the reporter's fds in its table, as under a
        seccomp filter)."""
        for own_table in ("1", "0"):
            with self.subTest(own_table=own_table):
                spans_file = os.path.join(self.tmp, "rotated-%s.jsonl" % own_table)
                env = th.shim_env("rotated", spans_file, OTEL_BSP_SCHEDULE_DELAY="50",
                                  TRACESHIM_OWN_FD_TABLE=own_table)

                def rotate():
                    th.wait_spans(spans_file, 5)
                    os.rename(spans_file, spans_file + ".1")  # rotated away
                    os.unlink(spans_file + ".1")              # and its turn passed
                    time.sleep(0.15)                          # more than the reporter's look
                self.phases(env, rotate, quick=True)
                spans = th.wait_spans(spans_file, 5, exact=True)
                self.assertEqual(len({s["traceId"] for s in spans}), 5)

    PHASES = ("import sys, os, time, urllib.request as u\n"
              "for phase in (1, 2):\n"
              "    for _ in range(5):\n"
              "        u.urlopen('http://127.0.0.1:%s/' % sys.argv[1]).read()\n"
              "    if phase == 1 or sys.argv[2] != 'quick':\n"
              "        time.sleep(0.2)\n"
              "    print(phase, flush=True)\n"
              "    if phase == 1 and len(sys.argv) > 3:\n"
              "        os.chroot(sys.argv[3])\n"
              "        os.chdir('/')\n"
              "    sys.stdin.readline()\n")

    def phases(self, env, between, *argv, quick=False):
        """PHASES under env: five requests, between() (the test's doings),
        five more (quick: then the exit at once, the spans the exit's to
        write; else 0.2 s, the reporter thread's); returns the process's
        stderr."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = subprocess.Popen([th.PY, "-c", self.PHASES, str(srv.port),
                              "quick" if quick else "slow", *argv], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        for pipe in (p.stdin, p.stdout, p.stderr):
            self.addCleanup(pipe.close)
        self.assertEqual(p.stdout.readline(), b"1\n")
        between()
        p.stdin.write(b"\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), b"2\n")
        p.stdin.close()
        self.assertEqual(p.wait(timeout=20), 0, p.stderr.read())
        return p.stderr.read().decode()

    def test_span_file_not_followed_into_another_root_or_a_fifo(self):
        """What the path names is followed only while it is a regular file
        in the folder the file was opened in: not into a chroot that
        mirrors the path (the file was made again inside it), and never
        into a FIFO put at the path (the reporter thread opened it and
        waited there), nor over a FIFO span file that was removed."""
        env = th.shim_env("follow", self.spans_file, OTEL_BSP_SCHEDULE_DELAY="50")
        if os.getuid() == 0:
            root = os.path.join(self.tmp, "root")
            os.makedirs(root + os.path.dirname(self.spans_file))
            self.phases(env, lambda: None, root)
            self.assertEqual(len(th.wait_spans(self.spans_file, 10, exact=True)), 10)
            self.assertFalse(os.path.exists(root + self.spans_file), "made again in the chroot")
            os.unlink(self.spans_file)
        # the file removed and a FIFO put at its path: not opened
        fifo_reader = []

        def fifo_in_its_place():
            th.wait_spans(self.spans_file, 5)
            os.unlink(self.spans_file)
            os.mkfifo(self.spans_file)
            fifo_reader.append(os.open(self.spans_file, os.O_RDONLY | os.O_NONBLOCK))
            self.addCleanup(os.close, fifo_reader[0])
            time.sleep(0.15)
        self.phases(env, fifo_in_its_place)
        try:
            got = os.read(fifo_reader[0], 65536)
        except BlockingIOError:
            got = b""
        self.assertEqual(got, b"", "spans written into the FIFO put at the path")
        # a FIFO span file its reader removes once both ends are open: the
        # reader still gets every span, and no file is made at the path
        os.unlink(self.spans_file)
        os.mkfifo(self.spans_file)
        reader = os.open(self.spans_file, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        received = bytearray()

        def drain():
            while True:
                try:
                    chunk = os.read(reader, 65536)
                except BlockingIOError:
                    return
                if not chunk:
                    return
                received.extend(chunk)

        def unlink_the_fifo():
            time.sleep(0.2)
            drain()
            os.unlink(self.spans_file)
            time.sleep(0.15)
        self.phases(env, unlink_the_fifo)
        time.sleep(0.2)
        drain()
        self.assertFalse(os.path.exists(self.spans_file), "a file made where the FIFO was")
        self.assertEqual(received.count(b'"spanId"'), 10, received[:300])

    FORKED_WRITERS = (
        "import os, sys, urllib.request as u\n"
        "done_r, done_w = os.pipe()\n"
        "go_r, go_w = os.pipe()\n"
        "kids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.close(go_w)\n"
        "        for i in range(40):\n"
        "            u.urlopen('http://127.0.0.1:%s/%d' % (sys.argv[1], i)).read()\n"
        "        os.write(done_w, b'.')\n"
        "        os.read(go_r, 1)\n"
        "        sys.exit(0)\n"
        "    kids.append(pid)\n"
        "os.close(go_r)\n"
        "got = b''\n"
        "while len(got) < 4:\n"
        "    got += os.read(done_r, 4)\n"
        "os.close(go_w)\n"
        "for pid in kids:\n"
        "    assert os.waitpid(pid, 0)[1] == 0\n")

    def test_a_fifo_shared_by_processes_gets_whole_lines(self):
        """A FIFO span file that several processes write (a forking server's
        workers): a write longer than PIPE_BUF may be split, its pieces
        between another process's, so each line is kept within PIPE_BUF
        (64 KiB lines before: four children ending at once, a slow reader,
        lines of two spans' halves that no reader could parse), the
        TRACESHIM_STATS line too (5.4 KB: a line a metric there)."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        os.mkfifo(self.spans_file)
        reader = os.open(self.spans_file, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        env = th.shim_env("fifo-writers", self.spans_file, OTEL_BSP_SCHEDULE_DELAY="10000",
                          TRACESHIM_STATS="1")
        p = subprocess.Popen([th.PY, "-c", self.FORKED_WRITERS, str(srv.port)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        received = bytearray()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                chunk = os.read(reader, 4096)  # a slow reader: the writers wait for room
            except BlockingIOError:
                chunk = None
            if chunk:
                received.extend(chunk)
            elif p.poll() is not None and chunk is not None:
                break
            time.sleep(0.002)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        lines = bytes(received).split(b"\n")
        self.assertEqual(lines[-1], b"", "the last line ends")
        per_line, metrics = [], {}
        for line in lines[:-1]:
            self.assertLessEqual(len(line) + 1, select.PIPE_BUF, line[:200])
            try:
                doc = json.loads(line)
            except ValueError:
                self.fail("a line that does not parse: %r" % line[:300])
            if "resourceMetrics" in doc:  # TRACESHIM_STATS: a line a metric here
                for rm in doc["resourceMetrics"]:
                    pid = [a["value"]["intValue"] for a in rm["resource"]["attributes"]
                           if a["key"] == "process.pid"]
                    names = metrics.setdefault(tuple(pid), [])
                    names += [m["name"] for sm in rm["scopeMetrics"] for m in sm["metrics"]]
                continue
            per_line.append(sum(len(ss["spans"]) for rs in doc["resourceSpans"]
                                for ss in rs["scopeSpans"]))
        self.assertEqual(sum(per_line), 160, err)
        self.assertGreater(max(per_line), 1, "spans still share a line")
        # every process's metrics, each once (the four children and their parent)
        self.assertEqual(len(metrics), 5, metrics)
        for names in metrics.values():
            self.assertIn("traceshim.spans.finished", names)
            self.assertEqual(sorted(names), sorted(set(names)), names)
            self.assertEqual(sorted(names), sorted(next(iter(metrics.values()))))

    def test_backends_named_by_an_ipv6_address_with_a_zone(self):
        """A collector and an agent named by an IPv6 address with a zone
        (RFC 6874's [::1%25lo] in a URL, ::1%lo as the agent's host) get
        the spans (the zone was looked up as a name: "does not resolve"),
        and the Host header names the address without its zone."""
        try:
            collector = bk.Collector([200], address="::1")
        except OSError as e:
            self.skipTest("no ::1 here: %s" % e)
        self.addCleanup(collector.close)
        agent = bk.UdpAgent(address="::1")
        self.addCleanup(agent.close)
        env = th.shim_env("zoned", self.spans_file, TRACESHIM_EXPORTER="otlp,jaeger",
                          TRACESHIM_PROCESS_SPANS="1",
                          OTEL_EXPORTER_OTLP_ENDPOINT="http://[::1%%25lo]:%d" % collector.port,
                          OTEL_EXPORTER_JAEGER_AGENT_HOST="::1%lo",
                          OTEL_EXPORTER_JAEGER_AGENT_PORT=str(agent.port))
        p = th.run(["/bin/true"], env=env, tmpdir=self.tmp, name="zoned")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stderr().decode(), "")
        line, headers, _ = collector.wait_requests(1)[0]
        self.assertEqual(line, "POST /v1/traces HTTP/1.1")
        self.assertEqual(th.header_values(headers, "Host"), ["[::1]:%d" % collector.port])
        deadline = time.monotonic() + 10
        while not agent.received() and time.monotonic() < deadline:
            time.sleep(0.02)  # sent before the exit; the agent's thread reads it
        self.assertEqual(len(agent.received()), 1)

    def test_jaeger_agent_up_gets_every_batch(self):
        agent = bk.UdpAgent()
        self.addCleanup(agent.close)
        err, st = self.jaeger_load(agent.port, 4)
        self.assertNotIn("jaeger exporter", err)
        self.assertEqual((st["exported"], st["dropped_export_failed"], st["export_errors"]),
                         (8, 0, 0), st)
        self.assertEqual(len(agent.received()), 4)

    def test_jaeger_agent_started_late_gets_the_batches_after(self):
        # The first batch is refused (said once); an agent that then comes
        # up on the port gets every later one, none of them taken for a
        # refusal of the first.
        port = self.udp_port_nobody_uses()
        agents = []

        def start_agent(i):
            if i == 1:
                agents.append(bk.UdpAgent(port))
                self.addCleanup(agents[0].close)
        err, st = self.jaeger_load(port, 4, before_each=start_agent)
        self.assertEqual(err.count("traceshim: jaeger exporter:"), 1, err)
        self.assertEqual((st["exported"], st["dropped_export_failed"], st["export_errors"]),
                         (4 + 3, 1, 1), st)
        self.assertEqual(len(agents[0].received()), 3)

    def late_refusing_agent(self, refuse=None):
        agent = bk.LateRefusingAgent(refuse)
        self.addCleanup(agent.close)
        return agent

    def test_remote_jaeger_agent_down_is_said_when_datagrams_go_in_bursts(self):
        """An agent on another host refuses after the send has returned,
        and the socket holds one refusal: of two datagrams sent at once
        (one span a batch, two spans a round), the second finds nothing
        pending, the first finds the refusal of the round before. Counted
        in a row, refusals never made two: 16 refused datagrams, no line."""
        agent = self.late_refusing_agent()
        err, st = self.jaeger_load(agent.port, 6, between=0.4, per_round=2,
                                   OTEL_BSP_MAX_EXPORT_BATCH_SIZE="1")
        self.assertEqual(len(agent.received()), 12)
        self.assertEqual(err.count("traceshim: jaeger exporter: Jaeger agent: 127.0.0.1:%d: "
                                   "Connection refused: the agent refuses the datagrams"
                                   % agent.port), 1, err)
        # one a round at least: the refusals the socket reported
        self.assertGreaterEqual(st["export_errors"], 5, st)
        self.assertLessEqual(st["export_errors"], 12, st)

    def test_remote_jaeger_agent_refusing_once_is_not_said(self):
        """One refusal (an agent restarted since) is counted, not said,
        however the datagrams after it go."""
        agent = self.late_refusing_agent(refuse={1})
        err, st = self.jaeger_load(agent.port, 4, between=0.4, per_round=2,
                                   OTEL_BSP_MAX_EXPORT_BATCH_SIZE="1")
        self.assertNotIn("jaeger exporter", err)
        self.assertEqual((st["export_errors"], st["dropped_export_failed"]), (1, 0), st)

    def test_remote_jaeger_agent_down_makes_no_recovery_line(self):
        """A refusal found before a send is an earlier datagram's: the send
        that goes after it is no recovery ("sending again" followed each
        refusal after the first at the info level)."""
        agent = self.late_refusing_agent()
        err, st = self.jaeger_load(agent.port, 4, TRACESHIM_LOG_LEVEL="info")
        self.assertEqual(err.count("traceshim: jaeger exporter:"), 1, err)
        self.assertNotIn("sending again", err)
        self.assertEqual(st["export_errors"], 3, st)  # the last one's comes after the exit

    def test_hanging_backend_slows_nothing_and_exit_is_bounded(self):
        c = self.collector(["stall"])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_BSP_SCHEDULE_DELAY="50", OTEL_EXPORTER_OTLP_TIMEOUT="30000",
                               TRACESHIM_EXIT_TIMEOUT="1000")
        th.http_get(port, "/ok")
        c.wait_requests(1)  # the reporter thread is now stuck waiting for an answer
        t0 = time.monotonic()
        for _ in range(20):
            status, _ = th.http_get(port, "/ok")
            self.assertEqual(status, 200)
        per_request = (time.monotonic() - t0) / 20
        self.assertLess(per_request, 0.1, "requests must not wait for the exporter")
        took = self.stop(srv)
        self.assertLess(took, 1.0 + 1.0, "exit bounded by TRACESHIM_EXIT_TIMEOUT=1000")
        err = srv.stderr().decode()
        self.assertRegex(err, r"traceshim: \d+ spans? not exported")

    def test_a_send_under_way_at_exit_is_counted(self):
        """The reporter thread's own send (the schedule's, with its 30 s
        timeout) hangs on a collector that never answers when the program
        exits: the exit gives up after TRACESHIM_EXIT_TIMEOUT, and the span
        that send holds is counted as dropped_exit_timeout with the three
        still queued, so that every sampled span is in one column. (It was
        in none: the send's spans were neither queued nor exported.)"""
        c = self.collector(["stall"])
        srv, port = self.start(TRACESHIM_EXPORTER="otlp",
                               OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_BSP_SCHEDULE_DELAY="50", OTEL_EXPORTER_OTLP_TIMEOUT="30000",
                               TRACESHIM_EXIT_TIMEOUT="500", TRACESHIM_STATS="1")
        th.http_get(port, "/ok")
        c.wait_requests(1)  # the reporter thread's send of that span waits for an answer
        for _ in range(3):
            th.http_get(port, "/ok")
        time.sleep(0.3)  # the last span is queued a moment after its response
        took = self.stop(srv)
        self.assertLess(took, 0.5 + 1.0, "exit bounded by TRACESHIM_EXIT_TIMEOUT=500")
        err = srv.stderr().decode()
        self.assertRegex(err, r"stats .* sampled=4 .* exported=0 dropped_queue_full=0 "
                              r"dropped_export_failed=0 dropped_exit_timeout=4 ")
        self.assertIn("traceshim: 4 spans not exported: 0 dropped on a full queue, 0 failed or "
                      "refused by the backend, 4 still queued or being sent at exit", err)

    def test_the_exit_flush_ends_its_own_send_in_time(self):
        """/bin/true under process spans, OTLP to a collector that never
        answers: its one span goes out in the exit's flush, whose send
        ends a little before the flush's waiter stops waiting, as a failed
        export (the last 100 ms of the second are the waiter's alone):
        counted as failed and said at the default log level.
        (With one deadline for both, the waiter left first as often as
        not, and the span was in no count and went without a word.)"""
        c = self.collector(["stall"])
        e = th.shim_env("true-svc", self.spans_file, TRACESHIM_EXPORTER="otlp",
                        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                        TRACESHIM_PROCESS_SPANS="1", TRACESHIM_EXIT_TIMEOUT="1000",
                        TRACESHIM_STATS="1",
                        # the open batch never due on its own: the exit's flush sends it
                        OTEL_BSP_SCHEDULE_DELAY="60000")
        e.pop("TRACESHIM_LOG_LEVEL", None)
        for _ in range(3):
            t0 = time.monotonic()
            r = subprocess.run(["/bin/true"], env=e, capture_output=True, timeout=30)
            self.assertLess(time.monotonic() - t0, 3.0)
            self.assertEqual((r.returncode, r.stdout), (0, b""))
            err = r.stderr.decode()
            self.assertIn("traceshim: otlp exporter: OTLP endpoint http://127.0.0.1:%d/v1/traces: "
                          "timed out; 1 span dropped" % c.port, err)
            self.assertRegex(err, r"stats .* exported=0 dropped_queue_full=0 "
                                  r"dropped_export_failed=1 dropped_exit_timeout=0 ")

    def test_exit_and_exec_do_not_wait_out_a_backoff(self):
        """A batch answered 503 with Retry-After: 10 waits ten seconds for
        its retry; an exit or an exec in that wait is not held up by it (it
        waited out TRACESHIM_EXIT_TIMEOUT, 5 s here): the batch is given up
        and counted, as at any exit with a backend that is down."""
        busy = bk.http_response(503, headers=[("Retry-After", "10")])
        c = self.collector([busy])
        srv, port = self.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c.port,
                               OTEL_BSP_SCHEDULE_DELAY="50", TRACESHIM_EXIT_TIMEOUT="5000")
        th.http_get(port, "/ok")
        c.wait_requests(1)  # the reporter thread now waits for the retry
        took = self.stop(srv)
        self.assertLess(took, 1.5, "an exit does not wait for a retry")
        self.assertIn("traceshim: 1 span not exported: 0 dropped on a full queue, 1 failed",
                      srv.stderr().decode(), srv.describe())
        self.assertEqual(len(c.requests()), 1, "one attempt: the retry was not due")

        # an exec: a client's span (a GET the collector answers 503 too),
        # its batch answered so, then the exec
        c2 = self.collector([busy])
        code = ("import http.client, os, sys, time\n"
                "c = http.client.HTTPConnection('127.0.0.1', %d)\n"
                "c.request('GET', '/ok')\n"
                "c.getresponse().read()\n"
                "c.close()\n"
                "time.sleep(0.6)\n"  # the batch went out, and its retry waits
                "t = time.monotonic()\n"
                "os.execv(sys.executable, [sys.executable, '-c', "
                "'import sys, time; print(time.monotonic() - float(sys.argv[1]))', str(t)])\n"
                % c2.port)
        env = th.shim_env("exec-svc", os.path.join(self.tmp, "exec.jsonl"),
                          TRACESHIM_EXPORTER="otlp", OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                          OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % c2.port,
                          OTEL_BSP_SCHEDULE_DELAY="50", TRACESHIM_EXIT_TIMEOUT="5000")
        p = th.run([th.PY, "-c", code], env=env, tmpdir=self.tmp, name="exec-in-backoff")
        self.assertEqual(p.returncode, 0, p.describe())
        posts = [r for r in c2.requests() if r[0].startswith("POST ")]
        self.assertEqual(len(posts), 1, p.describe())
        self.assertLess(float(p.stdout()), 1.0, "an exec does not wait for a retry")

    def test_console_writes_stderr_only(self):
        srv, port = self.start(TRACESHIM_EXPORTER="console")
        th.http_get(port, "/missing")
        self.stop(srv)
        err = srv.stderr().decode()
        self.assertRegex(err, r'traceshim: span [0-9a-f]{32}/[0-9a-f]{16} parent=- '
                              r'"GET /missing" server 404 \d+\.\d{3}ms\n')
        self.assertEqual(srv.stdout().count(b"traceshim"), 0)
        self.assertFalse(os.path.exists(self.spans_file))

    def test_none_exports_nothing_but_still_propagates(self):
        srv, port = self.start(TRACESHIM_EXPORTER="none")
        down = bk.Collector([200])  # any HTTP server: records the injected headers
        self.addCleanup(down.close)
        status, body = th.http_get(port, "/call?to=%d&path=/x" % down.port)
        self.assertEqual(status, 200)
        self.stop(srv)
        line, headers, _ = down.wait_requests(1)[0]
        self.assertEqual(len(th.header_values(headers, "traceparent")), 1, headers)
        self.assertEqual(th.header_values(headers, "X-B3-Sampled"), ["1"], headers)
        self.assertFalse(os.path.exists(self.spans_file))
        self.assertEqual(srv.stderr().decode().count("traceshim"), 0, srv.describe())


if __name__ == "__main__":
    th.main()
