"""test_request_cost.py — the instructions the shim runs per traced
request, counted by callgrind, against a budget.

What a traced request costs the program is what issue 8's throughput
targets rest on, and it grows a little with every feature. A rise of 350
instructions per request went unnoticed for five sessions (from e28fac2
to 9786291, bench/PROFILE.md): the UTF-8 cut made the attribute store too
large for GCC to inline, so every attribute paid a call and a copy of
unknown length. The full benchmark run sees such a rise only as a point
of throughput inside its noise; an instruction count sees it exactly.

Counted: the instructions whose function lies in libtraceshim.so (all
threads; the span exporter is `none` unless said, so the spans are made
and dropped, and the reporter thread only takes them), over N2 requests less those
over N1, divided by N2 - N1: start-up and exit cancel. The program and
libc are left out: how many requests one epoll_wait returns varies from
run to run, the shim's work per request does not.

- a server's request: bench/tinyhttpd.c (one thread, epoll) answering
  keep-alive GETs from bench/keepalive_get.py (untraced), without and
  with an incoming traceparent; nginx serving a static file to the same
  client, as bench/run.sh measures it;
- an exchange: bench/percall.c's http kind, a client thread and a
  server thread of one process, a client span and a server span each;
- tinyhttpd's request again with its span exported to Jaeger (a UDP sink,
  bench/udpsink.c) and to Zipkin (an untraced tinyhttpd), every span in
  one batch: the encoders' share of the reporter thread's work.

The budgets hold for an optimized build (RelWithDebInfo, as scripts/
test.sh builds; a Debug build runs several times as many).
"""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

# Instructions in the shim per request, at most. Measured with GCC 12 on
# Debian 12, with the commit that brought this test in: 2,483 (no
# context), 3,148 (a traceparent), 6,105 per exchange; at e28fac2 2,448,
# 3,120 and 5,979; at 9786291, before the attribute store was inlined
# again, 2,798, 3,464 and 6,597. About 5% above what is measured: a rise
# of some 120 instructions fails.
SERVER_REQUEST_BUDGET = {"none": 2_600, "traceparent": 3_300}
# nginx 1.22 serving a 1 KiB static file: 3,079; 3,029 at e28fac2, 3,396
# at 9786291.
NGINX_REQUEST_BUDGET = 3_250
EXCHANGE_BUDGET = 6_400
# The same server's request with its span exported (all of the shim's
# threads: the request, and the reporter's encoding and sending), every
# span in one batch. Jaeger (Thrift to a UDP sink): 3,336-3,386, and
# 3,910-4,053 before its encoder wrote a span's tags in one pass with each
# key found by its position; Zipkin (JSON to an untraced tinyhttpd):
# 3,922-3,948, and 4,207-4,339 before the look at a span's keys was kept
# for the next span with the same keys (three runs each). About 5% and 4%
# above what is measured, under what the encoders ran before.
EXPORTED_REQUEST_BUDGET = {"jaeger": 3_550, "zipkin": 4_100}

BENCH = os.path.join(th.SRC, "bench")


def shim_instructions(callgrind_out):
    """Self instructions of the functions in libtraceshim.so (all threads)."""
    annotate = th.require_tool("callgrind_annotate")
    out = subprocess.run([annotate, "--threshold=100", "--auto=no", "--inclusive=no", callgrind_out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError("callgrind_annotate failed: %s" % out.stderr[-2000:])
    total = 0
    for line in out.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+.*\[(.*)\]\s*$", line)
        if m and os.path.basename(m.group(2)) == "libtraceshim.so":
            total += int(m.group(1).replace(",", ""))
    return total


def read_port(path):
    """The port tinyhttpd wrote to path, or "" before it has."""
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


class RequestCost(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        if th.PRELOAD_FIRST:
            raise unittest.SkipTest("valgrind cannot run a process with a sanitizer runtime preloaded")
        if os.path.basename(th.LIB) != "libtraceshim.so":
            raise unittest.SkipTest("the library is told apart by its file name, libtraceshim.so")
        cls.valgrind = th.require_tool("valgrind")
        th.require_tool("callgrind_annotate")
        d = cls.make_class_tmp("tsit-request-cost-")
        cls.tinyhttpd = th.compile_app(os.path.join(BENCH, "tinyhttpd.c"), os.path.join(d, "tinyhttpd"),
                                       "-O2")
        cls.nginx = th.require_tool("nginx")
        cls.percall = th.compile_app(os.path.join(BENCH, "percall.c"), os.path.join(d, "percall"),
                                     "-O2")
        cls.udpsink = th.compile_app(os.path.join(BENCH, "udpsink.c"), os.path.join(d, "udpsink"), "-O2")

    def setUp(self):
        self.tmp = self.make_tmp()

    def env(self, name, **exporter):
        exporter.setdefault("TRACESHIM_EXPORTER", "none")
        return th.shim_env("cost", os.path.join(self.tmp, name + ".jsonl"), OTEL_TRACES_SAMPLER="always_on",
                           **exporter)

    def receiver(self, exporter):
        """An untraced receiver for exporter's spans, started for this
        test: the settings that send them there."""
        port_file = os.path.join(self.tmp, exporter + "-receiver.port")
        program = self.udpsink if exporter == "jaeger" else self.tinyhttpd
        p = subprocess.Popen([program, port_file, "300"], env=th.clean_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        deadline = time.monotonic() + 10
        while not read_port(port_file):
            self.assertIsNone(p.poll(), "the %s receiver ended before it listened" % exporter)
            self.assertLess(time.monotonic(), deadline, "the %s receiver never listened" % exporter)
            time.sleep(0.02)
        port = read_port(port_file)
        # Every span in one batch, sent by the exit's flush: how the spans
        # of a run fall into batches, with the timing under callgrind,
        # moved the count by up to 130 from run to run.
        batch = {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048", "OTEL_BSP_SCHEDULE_DELAY": "60000"}
        if exporter == "jaeger":
            return dict(batch, TRACESHIM_EXPORTER="jaeger", OTEL_EXPORTER_JAEGER_AGENT_HOST="127.0.0.1",
                        OTEL_EXPORTER_JAEGER_AGENT_PORT=port)
        return dict(batch, TRACESHIM_EXPORTER="zipkin",
                    OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:%s/api/v2/spans" % port)

    def callgrind(self, name):
        out = os.path.join(self.tmp, name + ".callgrind")
        return out, [self.valgrind, "--tool=callgrind", "--callgrind-out-file=" + out]

    def served_run(self, name, argv, port_of, requests, context, stop=signal.SIGTERM, exporter=None):
        """The shim's instructions in a server (argv, under callgrind) that
        answered requests keep-alive GETs; port_of() is its port once it
        listens (None before). exporter: the settings of the exporter (none
        by default)."""
        out, valgrind = self.callgrind(name)
        server = subprocess.Popen([*valgrind, *argv], env=self.env(name, **(exporter or {})),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            port = port_of()
            while not port:
                self.assertIsNone(server.poll(), "%s under callgrind ended before it listened" % name)
                self.assertLess(time.monotonic(), deadline, "%s under callgrind never listened" % name)
                time.sleep(0.05)
                port = port_of()
            client = subprocess.run([th.PY, os.path.join(BENCH, "keepalive_get.py"), str(port),
                                     str(requests), context], env=th.clean_env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, timeout=120)
            self.assertEqual(client.returncode, 0, client.stderr.decode()[-2000:])
            server.send_signal(stop)
            _, err = server.communicate(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        self.assertEqual(server.returncode, 0, err.decode()[-2000:])
        return shim_instructions(out)

    def tinyhttpd_run(self, requests, context, exporter=None):
        name = "tinyhttpd-%s-%d" % (context, requests)
        port_file = os.path.join(self.tmp, name + ".port")
        return self.served_run(name, [self.tinyhttpd, port_file, "120"], lambda: read_port(port_file),
                               requests, context, exporter=exporter)

    def nginx_run(self, requests):
        """nginx as bench/run.sh measures it (one process, sendfile and
        tcp_nopush, a 1 KiB static file), at the path keepalive_get.py asks
        for."""
        name = "nginx-%d" % requests
        d = os.path.join(self.tmp, name)
        os.makedirs(os.path.join(d, "temp"))
        os.makedirs(os.path.join(d, "root", "api", "items"))
        with open(os.path.join(d, "root", "api", "items", "42"), "wb") as f:
            f.write(b"a" * 1024)
        port = th.free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(th.nginx_conf(d, port, "root %s/root;" % d, main_extra="daemon off; master_process off;",
                                  http_extra="sendfile on; tcp_nopush on; keepalive_requests 100000;"))

        def port_of():
            try:
                th.wait_port(port, timeout=0.05)
            except AssertionError:
                return None
            return port

        return self.served_run(name, [self.nginx, "-c", conf, "-p", d], port_of, requests, "none",
                               stop=signal.SIGQUIT)

    def exchange_run(self, exchanges):
        name = "exchange-%d" % exchanges
        out, valgrind = self.callgrind(name)
        env = dict(self.env(name), TMPDIR=self.tmp)
        r = subprocess.run([*valgrind, self.percall, "--after-span", str(exchanges), "1", "http"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
        return shim_instructions(out)

    def assert_within(self, short, long, count, budget, what):
        per = (long - short) / count
        # The shim ran: a request made spans (the count is no empty difference).
        self.assertGreater(per, 500, "%s: %.0f instructions in the shim: was it preloaded?" % (what, per))
        self.assertLess(per, budget, "%s: the shim runs %.0f instructions (budget %d; bench/PROFILE.md "
                        "says how to find where they went)" % (what, per, budget))

    def test_a_servers_request_stays_in_its_budget(self):
        short, long = 50, 250
        self.assert_within(self.tinyhttpd_run(short, "none"), self.tinyhttpd_run(long, "none"), long - short,
                           SERVER_REQUEST_BUDGET["none"], "a server's request")

    def test_a_servers_request_with_a_traceparent_stays_in_its_budget(self):
        short, long = 50, 250
        self.assert_within(self.tinyhttpd_run(short, "traceparent"), self.tinyhttpd_run(long, "traceparent"),
                           long - short, SERVER_REQUEST_BUDGET["traceparent"],
                           "a server's request with a traceparent")

    def test_an_nginx_request_stays_in_its_budget(self):
        """nginx's static file: the head by writev, the body by sendfile,
        what the 97% target of issue 8 is measured on."""
        short, long = 50, 250
        self.assert_within(self.nginx_run(short), self.nginx_run(long), long - short, NGINX_REQUEST_BUDGET,
                           "an nginx request")

    def exported_request(self, exporter):
        """A server's request whose span exporter sends (the shim's exit
        sends what is left: both runs export every span they made)."""
        settings = self.receiver(exporter)
        short, long = 50, 250
        self.assert_within(self.tinyhttpd_run(short, "none", settings),
                           self.tinyhttpd_run(long, "none", settings), long - short,
                           EXPORTED_REQUEST_BUDGET[exporter], "a server's request exported to " + exporter)

    def test_a_request_exported_to_jaeger_stays_in_its_budget(self):
        self.exported_request("jaeger")

    def test_a_request_exported_to_zipkin_stays_in_its_budget(self):
        self.exported_request("zipkin")

    def test_an_exchange_stays_in_its_budget(self):
        short, long = 1000, 1200  # (percall warms up with min(calls, 1000): the same in both runs)
        self.assert_within(self.exchange_run(short), self.exchange_run(long), long - short,
                           EXCHANGE_BUDGET, "a client's and a server's exchange")


if __name__ == "__main__":
    th.main()
