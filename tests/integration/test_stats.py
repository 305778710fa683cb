"""test_stats.py — TRACESHIM_STATS=1: the shim's own counters, as one line on
stderr when a traced process ends and as one OTLP/JSON metrics line in the
span file.

Real programs under the shim (curl, a python server, python clients), and
for each process: exactly one `traceshim[PID]: stats ...` line on stderr,
its numbers equal to what the span file holds for that pid (spans started,
finished, exported, the header bytes curl's requests gained), the program's
stdout the same as without the shim. A full queue behind a slow collector
shows dropped_queue_full and still adds up (exported + dropped = sampled);
a collector that is not there shows dropped_export_failed and
export_errors; one that stalls at exit shows dropped_exit_timeout; a forked
child counts from zero. The metrics line agrees with the stderr line, is
skipped by `traceshim view` and the harness's span reader, and protoc
(against the official OpenTelemetry protos) takes it as an
ExportMetricsServiceRequest once its JSON is written in text format.
"""

import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends as bk  # noqa: E402
import tshelp as th  # noqa: E402

REASONS = ("not_http", "bad_head", "head_too_big", "bad_framing", "tunnel", "unseen_bytes",
           "no_memory", "too_many_in_flight", "fd_out_of_range", "exec")
KEYS = ("spans_started", "spans_finished", "sampled", "unsampled", "exported",
        "dropped_queue_full", "dropped_export_failed", "dropped_exit_timeout", "export_errors",
        "queue_length", "bytes_injected", "conns_tracked", "conns_given_up")
# metric name -> the stderr key of each of its data points (by reason attribute)
METRIC_KEYS = {
    "traceshim.spans.started": "spans_started",
    "traceshim.spans.finished": "spans_finished",
    "traceshim.spans.sampled": "sampled",
    "traceshim.spans.unsampled": "unsampled",
    "traceshim.spans.exported": "exported",
    "traceshim.export.errors": "export_errors",
    "traceshim.queue.length": "queue_length",
    "traceshim.spans.unsent_at_exit": "dropped_exit_timeout",
    "traceshim.bytes.injected": "bytes_injected",
    "traceshim.connections.tracked": "conns_tracked",
}
BY_REASON = {
    "traceshim.spans.dropped": {"queue_full": "dropped_queue_full",
                                "export_failed": "dropped_export_failed"},
    "traceshim.connections.given_up": {r: r for r in REASONS},
}
# What the latest count says, not a running sum: a second line's
# unsent_at_exit can be lower than the first's.
GAUGES = {"traceshim.queue.length", "traceshim.spans.unsent_at_exit"}
METRICS_REQUEST = "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest"
METRICS_PROTO = "opentelemetry/proto/collector/metrics/v1/metrics_service.proto"
# OTLP/JSON writes these 64-bit fields as decimal strings
INT64_FIELDS = {"startTimeUnixNano", "timeUnixNano", "asInt", "intValue"}

MANY_REQUESTS = r'''
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(int(sys.argv[2])):
    conn.request("GET", "/n/%d" % i)
    conn.getresponse().read()
conn.close()
print("done")
'''

FORKING_CLIENT = r'''
import http.client, os, sys
def get(n):
    conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
    for i in range(n):
        conn.request("GET", "/x")
        conn.getresponse().read()
    conn.close()
get(1)
pid = os.fork()
if pid == 0:
    get(2)
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
print("parent done")
'''


def metrics_lines(path):
    """The metrics requests in a span file, as parsed JSON."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            doc = json.loads(line)
            if "resourceMetrics" in doc:
                out.append(doc)
    return out


def resource_pid(doc):
    for a in doc["resourceMetrics"][0]["resource"]["attributes"]:
        if a["key"] == "process.pid":
            return int(a["value"]["intValue"])
    return None


def metric_values(doc, case):
    """{stderr key: value} read from a metrics request; checks the OTLP/JSON
    shape on the way (case: a unittest.TestCase)."""
    (rm,) = doc["resourceMetrics"]
    (sm,) = rm["scopeMetrics"]
    case.assertEqual(sm["scope"]["name"], "traceshim")
    values = {}
    for m in sm["metrics"]:
        name = m["name"]
        if name in GAUGES:
            case.assertNotIn("sum", m)
            points = m["gauge"]["dataPoints"]
        else:
            case.assertNotIn("gauge", m)
            s = m["sum"]
            case.assertIs(s["isMonotonic"], True, name)
            case.assertEqual(s["aggregationTemporality"], 2, name)  # CUMULATIVE, as an integer
            points = s["dataPoints"]
        for p in points:
            for f in INT64_FIELDS & set(p):
                case.assertRegex(p[f], r"^\d+$", "%s.%s must be a decimal string" % (name, f))
            if "startTimeUnixNano" in p:
                case.assertLessEqual(int(p["startTimeUnixNano"]), int(p["timeUnixNano"]))
            if name in BY_REASON:
                (attr,) = p["attributes"]
                case.assertEqual(attr["key"], "reason")
                values[BY_REASON[name][attr["value"]["stringValue"]]] = int(p["asInt"])
            else:
                case.assertNotIn("attributes", p)
                values[METRIC_KEYS[name]] = int(p["asInt"])
    values["conns_given_up"] = sum(values[r] for r in REASONS)
    return values


# --------------------------------------------------------------------------
# protoc: the metrics line as the official protos read it


def _text_string(s):
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def json_to_text_format(obj):
    """An OTLP/JSON object in protobuf text format: lowerCamelCase keys back to
    the protos' field names (protoc refuses any name the protos lack), 64-bit
    decimal strings back to numbers, enum integers kept as numbers."""
    parts = []
    for key, val in obj.items():
        name = re.sub(r"([A-Z])", r"_\1", key).lower()
        for v in val if isinstance(val, list) else [val]:
            if isinstance(v, dict):
                parts.append("%s { %s }" % (name, json_to_text_format(v)))
            elif isinstance(v, bool):
                parts.append("%s: %s" % (name, "true" if v else "false"))
            elif isinstance(v, int):
                parts.append("%s: %d" % (name, v))
            elif key in INT64_FIELDS:
                parts.append("%s: %s" % (name, v))
            else:
                parts.append("%s: %s" % (name, _text_string(v)))
    return " ".join(parts)


def parse_decoded(text):
    """protoc --decode's output (one field per line) as nested dicts whose
    values are lists, in order."""
    root = {}
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
        elif line.endswith("{"):
            child = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(child)
            stack.append(child)
        else:
            k, _, v = line.partition(": ")
            stack[-1].setdefault(k, []).append(json.loads(v) if v.startswith('"') else v)
    return root


def protoc(args, data):
    protos = os.path.join(bk.PEERS, "protos")
    p = subprocess.run(["protoc", "-I", protos] + args + [METRICS_PROTO], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise AssertionError("protoc %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout


def decode_with_protoc(doc):
    """The metrics request through protoc: text format -> binary (schema
    checked) -> protoc's own decoding, parsed."""
    binary = protoc(["--encode=" + METRICS_REQUEST], json_to_text_format(doc).encode())
    return parse_decoded(protoc(["--decode=" + METRICS_REQUEST], binary).decode())


class StatsTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        th.require_view()
        bk.require_peers()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def env(self, service, **extra):
        extra.setdefault("TRACESHIM_STATS", "1")
        return th.shim_env(service, self.spans_file, **extra)

    def one_line(self, proc, pid=None):
        lines = th.stats_lines(proc.stderr())
        self.assertEqual(len(lines), 1, "expected one stats line\n%s" % proc.describe())
        got_pid, values = lines[0]
        self.assertEqual(got_pid, pid or proc.pid, proc.describe())
        self.assertEqual(sorted(values), sorted(KEYS + REASONS))
        self.assertEqual(values["conns_given_up"], sum(values[r] for r in REASONS))
        return values

    def script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_adds_up(self, v):
        """Every sampled span is exported or dropped for one reason (one exporter)."""
        self.assertEqual(v["sampled"] + v["unsampled"], v["spans_finished"], v)
        self.assertEqual(v["exported"] + v["dropped_queue_full"] + v["dropped_export_failed"]
                         + v["dropped_exit_timeout"], v["sampled"], v)

    # ------------------------------------------------------------ the line

    def test_one_line_per_process_agrees_with_the_file(self):
        curl = th.require_tool("curl")
        srv, port = th.start_app_server(self, "stats-svc", self.spans_file, self.tmp,
                                        env=self.env("stats-svc"))
        base = "http://127.0.0.1:%d" % port
        urls = [base + "/ok", base + "/missing", base + "/call?to=%d&path=/ok" % port]
        plain = th.run([curl, "-sS"] + urls, env=th.clean_env(), tmpdir=self.tmp, name="curl-plain")
        traced = th.run([curl, "-sS"] + urls, env=self.env("stats-curl"), tmpdir=self.tmp,
                        name="curl-traced")
        self.assertEqual(traced.returncode, 0, traced.describe())
        self.assertEqual(traced.stdout(), plain.stdout(), "stdout changed by the shim")
        self.assertEqual(plain.stderr(), b"")
        # each curl run: 4 server spans and 1 client span in the server; the traced run
        # also 3 client spans in curl
        th.wait_spans(self.spans_file, 13, procs=(srv, traced))
        self.assertEqual(srv.stop(grace=20), 0, srv.describe())
        self.assertEqual(srv.stdout().count(b"traceshim"), 0)

        spans = th.read_spans(self.spans_file, strict=True)  # the metrics lines are skipped
        self.assertEqual(len(spans), 13, th.format_spans(spans))
        lines = {}
        for proc in (traced, srv):
            v = self.one_line(proc)
            mine = [s for s in spans if s["pid"] == proc.pid]
            where = "%s: %s\n%s" % (proc.name, v, th.format_spans(mine))
            for key in ("spans_started", "spans_finished", "sampled", "exported"):
                self.assertEqual(v[key], len(mine), where)
            for key in ("unsampled", "dropped_queue_full", "dropped_export_failed",
                        "dropped_exit_timeout", "export_errors", "queue_length", "conns_given_up"):
                self.assertEqual(v[key], 0, where)
            clients = [s for s in mine if s["kind"] == th.KIND_CLIENT]
            injected = sum(len(th.injected_lines(s["traceId"], s["spanId"], s["parentSpanId"]))
                           for s in clients)
            self.assertEqual(v["bytes_injected"], injected, where)
            self.assertGreaterEqual(v["conns_tracked"], 1, where)
            lines[proc.pid] = v
        self.assertEqual(lines[traced.pid]["spans_started"], 3)
        self.assertEqual(lines[srv.pid]["spans_started"], 10)

        # one metrics line per process, saying what its stderr line says
        docs = metrics_lines(self.spans_file)
        self.assertEqual(sorted(resource_pid(d) for d in docs), sorted(lines))
        for doc in docs:
            pid = resource_pid(doc)
            self.assertEqual(metric_values(doc, self), lines[pid])
            decoded = decode_with_protoc(doc)
            (rm,) = decoded["resource_metrics"]
            (sm,) = rm["scope_metrics"]
            got = {}
            for m in sm["metrics"]:
                data = (m.get("sum") or m.get("gauge"))[0]
                if "sum" in m:
                    self.assertEqual(data["aggregation_temporality"],
                                     ["AGGREGATION_TEMPORALITY_CUMULATIVE"])
                    self.assertEqual(data["is_monotonic"], ["true"])
                for p in data["data_points"]:
                    if "attributes" in p:
                        reason = p["attributes"][0]["value"][0]["string_value"][0]
                        got[BY_REASON[m["name"][0]][reason]] = int(p["as_int"][0])
                    else:
                        got[METRIC_KEYS[m["name"][0]]] = int(p["as_int"][0])
            for key in KEYS + REASONS:
                if key != "conns_given_up":
                    self.assertEqual(got[key], lines[pid][key], "protoc read %s" % key)

        # the viewer draws the spans and says nothing about the metrics lines
        view = th.run([th.VIEW, self.spans_file], env=th.clean_env(), tmpdir=self.tmp, name="view")
        self.assertEqual(view.returncode, 0, view.describe())
        self.assertEqual(view.stderr(), b"", view.describe())
        self.assertIn(b"GET /missing", view.stdout())

    def test_nothing_without_the_variable(self):
        srv, port = th.start_app_server(self, "quiet-svc", self.spans_file, self.tmp)
        th.http_get(port, "/ok")
        th.wait_spans(self.spans_file, 1, procs=(srv,))
        self.assertEqual(srv.stop(grace=20), 0, srv.describe())
        self.assertNotIn(b"traceshim", srv.stderr())
        with open(self.spans_file, "rb") as f:
            self.assertNotIn(b"resourceMetrics", f.read())

    def test_bad_value_is_one_line_and_no_stats(self):
        p = th.run(["/bin/sh", "-c", "echo out"], env=self.env("bad", TRACESHIM_STATS="sometimes"),
                   tmpdir=self.tmp, name="bad-value")
        self.assertEqual(p.stdout(), b"out\n")
        err = p.stderr().decode().splitlines()
        self.assertEqual(len(err), 1, p.describe())
        self.assertIn('TRACESHIM_STATS="sometimes"', err[0])
        self.assertEqual(th.stats_lines(p.stderr()), [])

    def test_a_process_that_did_nothing_says_so(self):
        p = th.run(["/bin/sh", "-c", "echo out"], env=self.env("idle"), tmpdir=self.tmp,
                   name="idle")
        self.assertEqual(p.stdout(), b"out\n")
        v = self.one_line(p)
        self.assertEqual(set(v.values()), {0}, v)

    # ------------------------------------------------------------ losses

    def test_full_queue_drops_are_counted_and_add_up(self):
        target = th.RecordingServer(mode="http")
        self.addCleanup(target.close)
        collector = bk.Collector(delay=0.3)
        self.addCleanup(collector.close)
        n = 60
        p = th.run([th.PY, self.script("many.py", MANY_REQUESTS), target.port, n],
                   env=self.env("overflow", TRACESHIM_EXPORTER="otlp",
                                OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % collector.port,
                                OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                                OTEL_BSP_MAX_QUEUE_SIZE=4, TRACESHIM_EXIT_TIMEOUT=20000),
                   tmpdir=self.tmp, name="overflow", timeout=60)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"done\n")
        v = self.one_line(p)
        self.assertEqual(v["spans_finished"], n, v)
        self.assertEqual(v["sampled"], n, v)
        self.assertGreater(v["dropped_queue_full"], 0, v)
        self.assertEqual(v["dropped_export_failed"] + v["dropped_exit_timeout"], 0, v)
        self.assert_adds_up(v)
        received = sum(len(ss["spans"]) for _, _, body in collector.requests()
                       for rs in json.loads(body)["resourceSpans"] for ss in rs["scopeSpans"])
        self.assertEqual(received, v["exported"], v)

    def test_backend_down_counts_failed_exports(self):
        curl = th.require_tool("curl")
        target = th.RecordingServer(mode="http")
        self.addCleanup(target.close)
        base = "http://127.0.0.1:%d" % target.port
        # the spans wait for the exit, whose flush makes one attempt per batch
        p = th.run([curl, "-sS", base + "/a", base + "/b", base + "/c"],
                   env=self.env("down", TRACESHIM_EXPORTER="otlp",
                                OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % th.closed_port(),
                                OTEL_BSP_SCHEDULE_DELAY=60000),
                   tmpdir=self.tmp, name="curl-down")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"okokok")
        v = self.one_line(p)
        self.assertEqual(v["sampled"], 3, v)
        self.assertEqual(v["exported"], 0, v)
        self.assertEqual(v["dropped_export_failed"], 3, v)
        self.assertGreaterEqual(v["export_errors"], 1, v)
        self.assert_adds_up(v)
        self.assertFalse(os.path.exists(self.spans_file))  # not the file exporter: no metrics line

    def test_stalled_backend_at_exit_counts_exit_timeout(self):
        target = th.RecordingServer(mode="http")
        self.addCleanup(target.close)
        collector = bk.Collector(["stall"])
        self.addCleanup(collector.close)
        started = time.monotonic()
        p = th.run([th.PY, self.script("many.py", MANY_REQUESTS), target.port, 6],
                   env=self.env("stalled", TRACESHIM_EXPORTER="otlp",
                                OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % collector.port,
                                OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1, TRACESHIM_EXIT_TIMEOUT=300),
                   tmpdir=self.tmp, name="stalled", timeout=30)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertLess(time.monotonic() - started, 8, "the exit waited for the stalled backend")
        v = self.one_line(p)
        self.assertEqual(v["sampled"], 6, v)
        self.assertGreater(v["dropped_exit_timeout"], 0, v)
        self.assertEqual(v["queue_length"], v["dropped_exit_timeout"], v)
        # the batch the stalled export holds counts as dropped_exit_timeout
        self.assert_adds_up(v)

    def test_a_second_line_counts_what_went_out_after_the_first(self):
        """A process whose spans began after the exit's first stats line (a
        request in a shared library's destructor: apps/library_exit_requests.c)
        writes the line again once they are flushed. The first flush timed
        out: the span file, a FIFO, is full (this test's own blank lines)
        and the reporter thread waits in its write of /main. Its reader
        starts at the library's first request, after the first line, and
        the library's last request is answered once /lib-destructor's span
        has come through it. The first count closed the exporters'
        counting for good, because it found a span left: the second line
        said exported=0 while /main and /lib-destructor were in the file
        (the same with a thread still making requests as main returns:
        spans_finished=1433 exported=1415, 1432 of them in the file). Now
        the second line counts what went out since the first, and adds
        up."""
        exe = th.compile_library_exit_requests(self.tmp)
        fifo = os.path.join(self.tmp, "spans.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
        filler = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:  # full: the reporter's first write waits
            while True:
                os.write(filler, b"\n" * 4096)
        except BlockingIOError:
            pass
        os.close(filler)
        received = bytearray()
        got = threading.Condition()
        drain, done = threading.Event(), threading.Event()

        def read_fifo():  # from `drain` until empty once `done`
            drain.wait(30)
            while True:
                try:
                    chunk = os.read(reader, 65536)
                except BlockingIOError:
                    chunk = b""
                with got:
                    received.extend(chunk)
                    got.notify_all()
                if not chunk and done.is_set():
                    return
                if not chunk:
                    time.sleep(0.005)
        t = threading.Thread(target=read_fifo, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        self.addCleanup(done.set)
        self.addCleanup(drain.set)

        def answer(req):
            if b"GET /lib-destructor " in req:
                drain.set()  # past the first line: the shim's destructor is over
            elif b"GET /lib-atexit " in req:
                with got:
                    got.wait_for(lambda: b"/lib-destructor" in received, 10)
            return th.RecordingServer.DEFAULT_RESPONSE
        srv = th.RecordingServer(mode="http", response=answer)
        self.addCleanup(srv.close)
        p = th.run([exe, "exit", srv.port], tmpdir=self.tmp, name="second-line",
                   env=th.shim_env("second-line", fifo, TRACESHIM_STATS=1,
                                   TRACESHIM_EXIT_TIMEOUT=500))
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"/main 200\n/lib-destructor 200\n"
                         b"/lib-unanswered sent\n/lib-atexit 200\n", p.describe())
        done.set()  # the process is over: what it wrote is all there
        t.join(10)
        out = os.path.join(self.tmp, "received.jsonl")
        with open(out, "wb") as f:
            f.write(bytes(received[:received.rfind(b"\n") + 1]))
        spans = th.read_spans(out)
        names = sorted(s["attrs"].get("url.full", "").rsplit("/", 1)[-1] for s in spans)
        lines = [v for _, v in th.stats_lines(p.stderr())]
        where = "%s\nin the FIFO: %s" % (p.describe(), names)
        self.assertEqual(len(lines), 2, where)
        first, second = lines
        # the first: /main, not written (the write waits for room)
        self.assertEqual((first["sampled"], first["exported"], first["dropped_exit_timeout"]),
                         (1, 0, 1), where)
        # the second: /main and the library's three; what went out since
        # the first counted (/main at least: its write was over before
        # /lib-destructor's began), what is in the FIFO no fewer
        self.assertIn("main", names, where)
        self.assertIn("lib-destructor", names, where)
        self.assertEqual(second["sampled"], 4, where)
        self.assertGreaterEqual(second["exported"], 1, where)
        self.assertLessEqual(second["exported"], len(spans), where)
        self.assert_adds_up(second)

    def test_a_busy_exits_metrics_lines_say_what_its_stats_lines_say(self):
        """main returns while a thread of its own goes on making requests:
        a stats line at the exit, a second once the spans begun since are
        flushed, and a metrics line in the span file for each. Each
        metrics line says what its stats line says, and no point of a
        monotonic sum is lower in the second line than in the first: the
        first line's dropped_exit_timeout (spans still being written when
        it was counted) goes out since and is lower in the second, so it
        is the gauge traceshim.spans.unsent_at_exit, not a point of one."""
        exe = th.compile_library_exit_requests(self.tmp)
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        seen = 0
        for run in range(3):
            spans_file = os.path.join(self.tmp, "busy-%d.jsonl" % run)
            p = th.run([exe, "busy", srv.port], tmpdir=self.tmp, name="busy-%d" % run,
                       env=th.shim_env("busy", spans_file, TRACESHIM_STATS=1))
            self.assertEqual(p.returncode, 0, p.describe())
            lines = [v for _, v in th.stats_lines(p.stderr())]
            docs = metrics_lines(spans_file)
            where = "%s\nstats lines: %s" % (p.describe(), lines)
            self.assertIn(len(lines), (1, 2), where)
            self.assertLessEqual(len(docs), len(lines), where)
            values = [metric_values(doc, self) for doc in docs]
            # a metrics line is written before its stats line, and is left
            # out when an export still ran: each is one of the stats lines
            for v in values:
                self.assertIn(v, lines, where)
            if len(values) == 2:
                seen += 1
                first, second = values
                for key in KEYS + REASONS:
                    if key not in ("queue_length", "dropped_exit_timeout"):
                        self.assertGreaterEqual(second[key], first[key], "%s\n%s" % (key, where))
        # (two metrics lines in none of three runs would test nothing)
        self.assertGreater(seen, 0, "no run wrote two metrics lines")

    # ------------------------------------------------------------ fork

    def test_forked_child_counts_from_zero(self):
        target = th.RecordingServer(mode="http")
        self.addCleanup(target.close)
        p = th.run([th.PY, self.script("fork.py", FORKING_CLIENT), target.port],
                   env=self.env("forker"), tmpdir=self.tmp, name="forker")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"parent done\n")
        lines = dict(th.stats_lines(p.stderr()))
        self.assertEqual(len(lines), 2, p.describe())
        self.assertIn(p.pid, lines)
        (child,) = [pid for pid in lines if pid != p.pid]
        self.assertEqual(lines[p.pid]["spans_started"], 1, lines)
        self.assertEqual(lines[child]["spans_started"], 2, lines)
        try:
            spans = th.wait_spans(self.spans_file, 3, timeout=th.AFTER_EXIT_TIMEOUT)
        except AssertionError as e:  # the stats lines say which process lost what
            raise AssertionError("%s\n%s" % (e, p.describe())) from None
        for pid, v in lines.items():
            mine = [s for s in spans if s["pid"] == pid]
            self.assertEqual(v["exported"], len(mine), (pid, v, th.format_spans(spans)))
            self.assertEqual(v["conns_tracked"], 1, (pid, v))
        self.assertEqual(sorted(resource_pid(d) for d in metrics_lines(self.spans_file)),
                         sorted(lines))


if __name__ == "__main__":
    th.main()
