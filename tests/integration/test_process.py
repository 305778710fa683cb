"""test_process.py — traces across processes: exec, fork, system(), exit codes.

Under `traceshim run` (scripts/traceshim, which sets TRACESHIM_PROCESS_SPANS=1)
every traced process has an INTERNAL span (kind 1) for its life, named by its
command, with process.pid, process.parent_pid, process.command_line and
process.exit_code (status ERROR when non-zero). A child's environment gets
TRACEPARENT naming the span current at the exec, so a shell script's
commands hang under the shell's span, and their HTTP spans under their own
process's span. Forked servers (socketserver.ForkingMixIn, whose children end
with os._exit; a pre-fork worker pool) keep every span, with ids of their own.

  1. sh -c 'curl; curl; python3 client': one trace, parents, exit codes, stdout
     as without the shim; `exit 3` -> ERROR, and traceshim run exits 3
  2. ForkingMixIn server (apps/forking_server.py): 20 requests, 20 server
     spans from 20 children; the children do not end the parent's process span
  3. pre-fork pool (apps/prefork_server.py): 60 requests over 3 workers
  4. env -i: the library and its configuration come back (not with
     TRACESHIM_FOLLOW_EXEC=0)
  5. an inherited TRACEPARENT is the parent of the process span; an unsampled
     one records nothing and still reaches the next service through env -i
  6. system(): python -> sh -> curl in one trace; system() and popen() leave a
     TRACEPARENT too long to save and put back as it is
  7. exit(), main's return, _exit(), _Exit(), quick_exit(), and glibc's own
     calls to exit in error() and errx(), also from an atexit handler
     (apps/exit_codes.c): process.exit_code;
     unshare -r (single-threaded when it needs to be)
  8. every exec door (execveat by a path, relative to a directory's fd, and
     of an open file) and posix_spawn[p] with an empty environment, and the C
     library's system() and popen() (apps/exec_doors.c); execve and
     posix_spawn from a thread with a 64 KiB stack with 10,000 environment
     entries, and execve from a handler on an 8 KiB alternate stack
     (apps/exec_small_stack.c)
  9. a process's spans are sent before exec replaces it
 10. a traced server starts a program while serving a request
     (apps/spawn_server.py): the program's span hangs under the server span,
     and the request's tracestate reaches the program's own request
 11. an inherited TRACESTATE goes with TRACEPARENT through sh to curl's
     request; a malformed one is dropped with a warning
 12. the shim's system() does what glibc's does around the shell, untraced
     and traced side by side (apps/system_semantics.c), and a threaded
     server's system() hands the request's context to the shell
 13. a request's B3 debug flag and 64-bit B3 trace id reach the program a
     server starts as they reach its own calls: its curl sends
     `X-B3-Flags: 1` (its span a debug span, Zipkin's "debug": true) and a
     16-digit X-B3-TraceId (TRACESHIM_B3 beside TRACEPARENT)
 14. a process whose only span is its process span writes it on its own
     thread: at a span file past the file size limit it exits as untraced
     (no SIGXFSZ from the shim's write; apps/fsize_probe.c: the mask and
     pending signals an exec'd program finds are the program's), and a
     span file that is a symbolic link or a folder is said on stderr, also
     from the shim's SIGTERM handler

With TSTEST_NO_SHIM=1 the commands run without the launcher and the library.
"""

import collections
import concurrent.futures
import fcntl
import itertools
import json
import os
import re
import resource
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends as bk  # noqa: E402
import tshelp as th  # noqa: E402

KIND_INTERNAL = 1


def dump(spans):
    return "\n" + th.format_spans(spans)


class ProcessTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        th.require_launcher()
        cls.curl = th.require_tool("curl")
        cls.curl_args = [cls.curl, "-q", "-sS", "--max-time", "10"]

    @classmethod
    def compiled(cls, name):
        """apps/NAME.c compiled with cc (once per run); the executable's path."""
        if not getattr(cls, "bindir", None):
            cls.bindir = cls.make_class_tmp("tsit-process-")
        exe = os.path.join(cls.bindir, name)
        if not os.path.exists(exe):
            th.compile_app(name + ".c", exe, "-O2")
        return exe

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    # ------------------------------------------------------------- helpers

    def launch(self, argv, name, spans_file=None, service=None, timeout=20, **env):
        """`traceshim run [-s SERVICE] -o FILE -- ARGV` to completion; with
        TSTEST_NO_SHIM=1, ARGV alone (no launcher, no library)."""
        env.setdefault("TRACESHIM_QUIET", 1)
        extra = {k: str(v) for k, v in env.items()}
        if th.NO_SHIM:
            return th.run(argv, env=th.clean_env(**extra), tmpdir=self.tmp, name=name,
                          timeout=timeout)
        opts = ["-o", spans_file or self.spans_file] + (["-s", service] if service else [])
        full = th.launcher_env()
        full.update(extra)
        return th.run(["bash", th.LAUNCHER, "run", *opts, "--", *argv],
                      env=full, tmpdir=self.tmp, name=name, timeout=timeout)

    def final_spans(self, count, procs=(), spans_file=None):
        """Once every traced process has exited: at least `count` spans, then
        the whole (final) file."""
        path = spans_file or self.spans_file
        th.wait_spans(path, count, timeout=th.AFTER_EXIT_TIMEOUT, procs=procs)
        return th.read_spans(path)

    def check_process_span(self, s, spans):
        """The shape every process span has."""
        a = s["attrs"]
        self.assertEqual(s["kind"], KIND_INTERNAL, "process span kind" + dump(spans))
        self.assertTrue(th.HEX32.match(s["traceId"] or "") and th.HEX16.match(s["spanId"] or ""),
                        "ids of %r" % s["name"] + dump(spans))
        self.assertEqual(a.get("process.pid"), s["pid"],
                         "process.pid attribute = the resource's process.pid" + dump(spans))
        self.assertIsInstance(a.get("process.parent_pid"), int, dump(spans))
        self.assertIsInstance(a.get("process.command_line"), str, dump(spans))
        self.assertTrue(s["start"] and s["end"] and s["start"] <= s["end"],
                        "times of %r" % s["name"] + dump(spans))
        # the file format's rules (tshelp's check knows only kinds 2 and 3)
        problems = [p for p in th.format_problems(s["raw"], "process span %r" % s["name"])
                    if "kind=" not in p]
        self.assertEqual(problems, [], dump(spans))

    def process_spans(self, spans):
        return [s for s in spans if s["kind"] == KIND_INTERNAL]

    def pspan(self, spans, what, pred):
        return th.only([s for s in self.process_spans(spans) if pred(s)],
                       "process span of %s" % what, spans)

    def assert_inside(self, inner, outer, spans):
        self.assertTrue(outer["start"] <= inner["start"] and inner["end"] <= outer["end"],
                        "%r must lie inside %r" % (inner["name"], outer["name"]) + dump(spans))

    def assert_exit(self, s, code, spans):
        self.assertEqual(s["attrs"].get("process.exit_code"), code,
                         "process.exit_code of %r" % s["name"] + dump(spans))
        self.assertEqual(s["status"], th.STATUS_ERROR if code else th.STATUS_UNSET,
                         "status of %r (exit code %d)" % (s["name"], code) + dump(spans))

    def recording_server(self):
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        return srv

    # ------------------------------------------------ 1. a shell script

    def test_shell_script_is_one_trace(self):
        srv, port = th.start_app_server(self, "svc-http", self.spans_file, self.tmp)
        base = "http://127.0.0.1:%d" % port
        curl = " ".join(map(shlex.quote, self.curl_args))
        script = "%s %s/ok; echo; %s %s/missing; echo; %s %s %s" % (
            curl, base, curl, base, th.PY, shlex.quote(os.path.join(th.APPS, "urllib_client.py")),
            base)
        argv = ["sh", "-c", script]
        p = self.launch(argv, "sh-script")
        self.assertEqual(p.returncode, 0, p.describe())
        # sh, 2 x (curl process + client), python process + 3 clients, 5 server spans
        th.wait_spans(self.spans_file, 14, procs=(p, srv))
        # the same command without the shim, against the same (traced) server:
        # the output is the program's own
        plain = th.run(argv, env=th.clean_env(), tmpdir=self.tmp, name="sh-untraced", timeout=20)
        self.assertEqual(plain.returncode, 0, plain.describe())
        self.assertEqual(p.stdout(), plain.stdout(), "stdout as without the shim")
        self.assertEqual(plain.stdout(),
                         b"ok\nmissing\n200 ok\n404 missing\n200 hello from urllib\n")
        th.wait_spans(self.spans_file, 14 + 5, procs=(p, srv))
        self.assertEqual(srv.stop(), 0, srv.describe())
        everything = th.read_spans(self.spans_file)

        sh = self.pspan(everything, "sh", lambda s: s["pid"] == p.pid)
        spans = [s for s in everything if s["traceId"] == sh["traceId"]]
        untraced = [s for s in everything if s["traceId"] != sh["traceId"]]
        self.assertEqual(len(spans), 14, "expected 14 spans in sh's trace" + dump(everything))
        self.assertEqual(sorted((s["kind"], s["parentSpanId"], s["service"]) for s in untraced),
                         [(th.KIND_SERVER, None, "svc-http")] * 5,
                         "the untraced run: only the server's 5 root spans" + dump(everything))
        for s in self.process_spans(spans):
            self.check_process_span(s, spans)
        self.assertTrue(sh["name"].startswith("sh -c"), "sh's span name: %r" % sh["name"])
        self.assertIsNone(sh["parentSpanId"], "the shell's process span is the root" + dump(spans))
        self.assertEqual(sh["attrs"].get("process.parent_pid"), os.getpid(), dump(spans))
        self.assertEqual(sh["attrs"].get("process.command_line"), "sh -c " + script, dump(spans))
        self.assert_exit(sh, 0, spans)

        cmd = lambda s: s["attrs"].get("process.command_line", "")  # noqa: E731
        children = {
            "/ok": self.pspan(spans, "curl /ok", lambda s: cmd(s).endswith("/ok")),
            "/missing": self.pspan(spans, "curl /missing", lambda s: cmd(s).endswith("/missing")),
            "python": self.pspan(spans, "python", lambda s: cmd(s).startswith(th.PY + " ")),
        }
        self.assertTrue(children["/ok"]["name"].startswith("curl -q -sS"), dump(spans))
        self.assertTrue(children["python"]["name"].startswith("python3 "), dump(spans))
        for what, c in children.items():
            self.assertEqual(c["parentSpanId"], sh["spanId"],
                             "%s's process span is a child of sh's" % what + dump(spans))
            self.assertEqual(c["attrs"].get("process.parent_pid"), p.pid,
                             "%s was started by sh" % what + dump(spans))
            self.assertNotEqual(c["pid"], p.pid, dump(spans))
            self.assert_exit(c, 0, spans)
            self.assert_inside(c, sh, spans)
        self.assertEqual(len(self.process_spans(spans)), 4, "sh, curl, curl, python" + dump(spans))

        # every client span hangs under its own process's span
        clients = [s for s in spans if s["kind"] == th.KIND_CLIENT]
        self.assertEqual(len(clients), 5, dump(spans))
        by_pid = {c["pid"]: c for c in children.values()}
        for c in clients:
            owner = by_pid.get(c["pid"])
            self.assertIsNotNone(owner, "client span from an unknown process" + dump(spans))
            self.assertEqual(c["parentSpanId"], owner["spanId"],
                             "%r's parent is its process's span" % c["name"] + dump(spans))
            self.assert_inside(c, owner, spans)
        names = lambda pid: sorted(c["name"] for c in clients if c["pid"] == pid)  # noqa: E731
        self.assertEqual(names(children["/ok"]["pid"]), ["GET /ok"], dump(spans))
        self.assertEqual(names(children["/missing"]["pid"]), ["GET /missing"], dump(spans))
        self.assertEqual(names(children["python"]["pid"]),
                         ["GET /missing", "GET /ok", "POST /echo-body"], dump(spans))
        # and the server's spans under the client spans
        client_ids = {c["spanId"] for c in clients}
        for s in spans:
            if s["kind"] == th.KIND_SERVER:
                self.assertIn(s["parentSpanId"], client_ids, dump(spans))
        self.assertEqual(len({s["spanId"] for s in spans}), 14, "distinct span ids" + dump(spans))

    def test_shell_exit_code(self):
        srv = self.recording_server()
        closed = th.closed_port()
        curl = " ".join(map(shlex.quote, self.curl_args))
        script = "%s http://127.0.0.1:%d/ok; %s http://127.0.0.1:%d/refused; exit 3" % (
            curl, srv.port, curl, closed)
        p = self.launch(["sh", "-c", script], "sh-exit-3")
        self.assertEqual(p.returncode, 3, "traceshim run exits with the command's status\n"
                         + p.describe())
        self.assertEqual(p.stdout(), b"ok")
        # sh, curl /ok (process + client), curl refused (process; no request went out)
        spans = self.final_spans(4, procs=(p,))
        for s in self.process_spans(spans):
            self.check_process_span(s, spans)
        self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace" + dump(spans))
        sh = self.pspan(spans, "sh", lambda s: s["pid"] == p.pid)
        self.assertTrue(sh["name"].startswith("sh -c"), dump(spans))
        self.assert_exit(sh, 3, spans)
        cmd = lambda s: s["attrs"].get("process.command_line", "")  # noqa: E731
        ok = self.pspan(spans, "curl /ok", lambda s: cmd(s).endswith("/ok"))
        refused = self.pspan(spans, "curl refused", lambda s: cmd(s).endswith("/refused"))
        self.assert_exit(ok, 0, spans)
        self.assert_exit(refused, 7, spans)  # curl: "Failed to connect"
        for c in (ok, refused):
            self.assertEqual(c["parentSpanId"], sh["spanId"], dump(spans))
        self.assertEqual(len(self.process_spans(spans)), 3, dump(spans))

    # ------------------------------------------------ 2. ForkingMixIn

    def test_forking_server(self):
        n = 20
        srv = th.Proc([th.PY, os.path.join(th.APPS, "forking_server.py"), "--port", "0"],
                      env=th.shim_env("forking", self.spans_file, TRACESHIM_PROCESS_SPANS=1),
                      tmpdir=self.tmp, name="forking-server")
        self.addCleanup(srv.stop)
        m = srv.wait_output(rb"LISTENING (\d+) PID (\d+)\n")
        port, srv_pid = int(m.group(1)), int(m.group(2))
        self.assertEqual(srv_pid, srv.pid)
        urls = ["http://127.0.0.1:%d/r%d" % (port, i) for i in range(n)]
        c = th.run([*self.curl_args, "--no-progress-meter", "-Z", "--parallel-max", "4", *urls],
                   env=th.shim_env("curl-client", self.spans_file), tmpdir=self.tmp, name="curl",
                   timeout=30)
        self.assertEqual(c.returncode, 0, c.describe())
        served = {path: int(pid) for pid, path in
                  re.findall(r"^(\d+) (/r\d+)$", c.stdout().decode(), re.M)}
        self.assertEqual(sorted(served), sorted("/r%d" % i for i in range(n)), c.describe())
        th.wait_spans(self.spans_file, 2 * n, procs=(c, srv))
        self.assertEqual(srv.stop(), 0, "the server exits cleanly on SIGTERM\n" + srv.describe())
        spans = th.read_spans(self.spans_file)

        servers = [s for s in spans if s["kind"] == th.KIND_SERVER]
        clients = {s["name"]: s for s in spans if s["kind"] == th.KIND_CLIENT}
        self.assertEqual(sorted(s["name"] for s in servers),
                         sorted("GET /r%d" % i for i in range(n)),
                         "one server span per request, none lost to os._exit" + dump(spans))
        self.assertEqual(len(clients), n, dump(spans))
        for s in servers:
            cl = clients[s["name"]]
            self.assertEqual((s["traceId"], s["parentSpanId"]), (cl["traceId"], cl["spanId"]),
                             "%r: parent is curl's client span" % s["name"] + dump(spans))
            path = s["name"].split()[1]
            self.assertEqual(s["pid"], served[path],
                             "%s: span from the child that answered" % path + dump(spans))
            self.assertNotEqual(s["pid"], srv_pid, "served in a child" + dump(spans))
        self.assertEqual(len({s["pid"] for s in servers}), n, "one child per request" + dump(spans))
        self.assertEqual(len({s["spanId"] for s in spans}), len(spans),
                         "distinct span ids" + dump(spans))
        # the children continue the server's process span but do not end it
        ps = self.process_spans(spans)
        self.assertEqual(len(ps), 1, "only the server's own process span; a forked child does "
                         "not end its parent's" + dump(spans))
        self.check_process_span(ps[0], spans)
        self.assertEqual(ps[0]["pid"], srv_pid, dump(spans))
        self.assertTrue(ps[0]["name"].startswith("python3 "), dump(spans))
        self.assert_exit(ps[0], 0, spans)
        self.assertEqual(len(spans), 2 * n + 1, dump(spans))

    def test_cgi_server_forks_a_child_to_answer(self):
        # python3 -m http.server --cgi writes the status line, forks, and
        # its child executes the script with the socket as its stdout; the
        # server closes its copy once the child has exited. Its span ended
        # as a failure (error.type connection_closed, no status): the rest
        # of the answer is the child's, unseen, after the server's status.
        site = os.path.join(self.tmp, "site")
        cgi = os.path.join(site, "cgi-bin")
        os.makedirs(cgi)
        script = os.path.join(cgi, "hello.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello\\n'\n")
        for path in (self.tmp, site, cgi, script):
            os.chmod(path, 0o755)  # the child runs the script as nobody when it can
        srv = th.Proc([th.PY, "-u", "-m", "http.server", "--cgi", "--bind", "127.0.0.1",
                       "--directory", site, "0"],
                      env=th.shim_env("cgi-server", self.spans_file), tmpdir=self.tmp,
                      name="cgi-server")
        self.addCleanup(srv.stop)
        port = int(srv.wait_output(rb"port (\d+)").group(1))
        c = th.run([*self.curl_args, "http://127.0.0.1:%d/cgi-bin/hello.sh" % port],
                   env=th.clean_env(), tmpdir=self.tmp, name="curl", timeout=30)
        self.assertEqual((c.returncode, c.stdout()), (0, b"hello\n"), c.describe())
        th.wait_spans(self.spans_file, 1, procs=(srv,))
        srv.stop()
        spans = th.read_spans(self.spans_file)
        s = th.only([s for s in spans if s["kind"] == th.KIND_SERVER], "the server span", spans)
        a = s["attrs"]
        self.assertEqual(a.get("url.path"), "/cgi-bin/hello.sh", dump(spans))
        self.assertEqual(a.get("http.response.status_code"), 200, dump(spans))
        self.assertNotIn("error.type", a, dump(spans))
        self.assertEqual(s["status"], th.STATUS_UNSET, dump(spans))
        self.assertIs(a.get("traceshim.response_unseen"), True, dump(spans))

    # ------------------------------------------------ 3. pre-fork pool

    def test_prefork_workers(self):
        n, workers = 60, 3
        srv = th.Proc([th.PY, os.path.join(th.APPS, "prefork_server.py"), "--port", "0",
                       "--workers", workers],
                      env=th.shim_env("prefork", self.spans_file, TRACESHIM_PROCESS_SPANS=1),
                      tmpdir=self.tmp, name="prefork")
        self.addCleanup(srv.stop)
        m = srv.wait_output(rb"LISTENING (\d+) PID (\d+) WORKERS ([\d,]+)\n")
        port, worker_pids = int(m.group(1)), {int(x) for x in m.group(3).split(b",")}
        self.assertEqual(int(m.group(2)), srv.pid)
        self.assertEqual(len(worker_pids), workers)

        def get(i):
            """Every third request without a traceparent: its span continues
            the context the workers inherited (the parent's process span)."""
            path = "/p%d" % i
            ctx = (os.urandom(16).hex(), os.urandom(8).hex()) if i % 3 else (None, None)
            headers = {"traceparent": "00-%s-%s-01" % ctx} if ctx[0] else {}
            st, body = th.http_get(port, path, headers=headers.items())
            self.assertEqual(st, 200, body)
            pid, got_path = body.decode().split()
            self.assertEqual(got_path, path)
            return path, ctx + (int(pid),)

        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            sent = dict(ex.map(get, range(n)))
        th.wait_spans(self.spans_file, n, procs=(srv,))
        self.assertEqual(srv.stop(), 0, "workers and parent exit cleanly\n" + srv.describe())
        spans = th.read_spans(self.spans_file)
        self.assertEqual(len(spans), n + 1, "one server span per request, and the parent's "
                         "process span" + dump(spans))
        own = th.only(self.process_spans(spans), "process span (the parent's only: a forked "
                      "worker does not end it)", spans)
        self.check_process_span(own, spans)
        self.assertEqual(own["pid"], srv.pid, dump(spans))
        self.assert_exit(own, 0, spans)
        servers = [s for s in spans if s["kind"] == th.KIND_SERVER]
        self.assertEqual(sorted(s["name"] for s in servers),
                         sorted("GET " + p for p in sent), dump(spans))
        for s in servers:
            trace, parent, pid = sent[s["name"].split()[1]]
            if trace is None:
                trace, parent = own["traceId"], own["spanId"]
            self.assertEqual((s["traceId"], s["parentSpanId"]), (trace, parent),
                             "%r continues the traceparent it was sent, else the process span"
                             % s["name"] + dump(spans))
            self.assertEqual(s["pid"], pid, "%r comes from the worker that answered"
                             % s["name"] + dump(spans))
        pids = collections.Counter(s["pid"] for s in servers)
        self.assertLessEqual(set(pids), worker_pids, "spans come from the workers" + dump(spans))
        self.assertGreaterEqual(len(pids), 2, "several workers served: %r" % pids)
        self.assertEqual(len({s["spanId"] for s in spans}), n + 1,
                         "no duplicate span ids" + dump(spans))

    # ------------------------------------------------ 4. env -i

    def test_scrubbed_environment_is_followed(self):
        srv = self.recording_server()
        p = self.launch(["env", "-i", *self.curl_args, "http://127.0.0.1:%d/scrubbed" % srv.port],
                        "env-i-curl", service="scrubbed")
        self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
        spans = self.final_spans(3, procs=(p,))
        self.assertEqual(len(spans), 3, "env, curl (process and client)" + dump(spans))
        self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace" + dump(spans))
        env_span = self.pspan(spans, "env", lambda s: s["name"].startswith("env -i"))
        curl_span = self.pspan(spans, "curl", lambda s: s["name"].startswith("curl "))
        client = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client span", spans)
        for s in (env_span, curl_span):
            self.check_process_span(s, spans)
            self.assertEqual(s["pid"], p.pid, "env execs curl: one pid" + dump(spans))
        self.assertIsNone(env_span["parentSpanId"], dump(spans))
        self.assertEqual(curl_span["parentSpanId"], env_span["spanId"],
                         "curl's process span is a child of env's" + dump(spans))
        self.assertEqual(client["parentSpanId"], curl_span["spanId"],
                         "curl's client span is a child of curl's process span" + dump(spans))
        self.assertEqual(client["name"], "GET /scrubbed", dump(spans))
        self.assertEqual({s["service"] for s in spans}, {"scrubbed"},
                         "OTEL_SERVICE_NAME came back after env -i" + dump(spans))
        self.assert_exit(curl_span, 0, spans)
        (conn,) = srv.wait_closed(1)
        _, headers, _ = th.parse_head(bytes(conn.data))
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (client["traceId"], client["spanId"])], headers)

    def test_scrubbed_environment_not_followed(self):
        srv = self.recording_server()
        p = self.launch(["env", "-i", *self.curl_args, "http://127.0.0.1:%d/scrubbed" % srv.port],
                        "env-i-curl", TRACESHIM_FOLLOW_EXEC=0)
        self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
        spans = self.final_spans(1, procs=(p,))
        self.assertEqual(len(spans), 1, "only env's process span, nothing from curl" + dump(spans))
        self.check_process_span(spans[0], spans)
        self.assertTrue(spans[0]["name"].startswith("env -i"), dump(spans))
        (conn,) = srv.wait_closed(1)
        _, headers, _ = th.parse_head(bytes(conn.data))
        for h in th.TRACE_HEADERS:
            self.assertEqual(th.header_values(headers, h), [], "untraced curl: %r" % headers)

    def test_a_relative_span_file_is_one_file_across_a_cd(self):
        """LD_PRELOAD alone (no launcher to make the path absolute), the span
        file relative or left to its default in the cwd: a child executed
        after a `cd` writes into its parent's file, not into one of its own
        in the folder it was started in (a trace split between two files);
        a relative path the program set for its child stays its own.
        Following the children or not: they keep LD_PRELOAD here."""
        srv = self.recording_server()
        elsewhere = os.path.join(self.tmp, "elsewhere")
        os.makedirs(elsewhere)
        curl = " ".join(map(shlex.quote, self.curl_args))
        url = "http://127.0.0.1:%d/cd" % srv.port
        for given, follow in itertools.product(("spans-relative.jsonl", None), ("1", "0")):
            with self.subTest(given=given, follow=follow):
                name = given or "traceshim-spans.jsonl"
                env = th.shim_env("relative", "", TRACESHIM_FILE=given, TRACESHIM_PROCESS_SPANS=1,
                                  TRACESHIM_FOLLOW_EXEC=follow)
                p = th.run(["sh", "-c", "cd elsewhere && %s %s && cd .. && cd elsewhere && "
                            "TRACESHIM_FILE=own.jsonl %s %s" % (curl, url, curl, url)],
                           env=env, tmpdir=self.tmp, name="cd-curl", cwd=self.tmp)
                self.assertEqual((p.returncode, p.stdout()), (0, b"okok"), p.describe())
                spans = self.final_spans(3, procs=(p,), spans_file=os.path.join(self.tmp, name))
                self.assertFalse(os.path.exists(os.path.join(elsewhere, name)),
                                 "a second span file where the child started" + dump(spans))
                self.assertEqual(len(spans), 3, "sh, the first curl (process and client)" +
                                 dump(spans))
                own = th.read_spans(os.path.join(elsewhere, "own.jsonl"))
                self.assertEqual(sorted(s["kind"] for s in own), [KIND_INTERNAL, th.KIND_CLIENT],
                                 "the second curl's in its own file" + dump(own))
                self.assertEqual(len({s["traceId"] for s in spans + own}), 1, dump(spans + own))
                for leftover in (name, "own.jsonl"):
                    for folder in (self.tmp, elsewhere):
                        if os.path.exists(os.path.join(folder, leftover)):
                            os.unlink(os.path.join(folder, leftover))

    # ------------------------------------------------ 5. inherited TRACEPARENT

    def test_inherited_traceparent(self):
        srv = self.recording_server()
        trace, parent = os.urandom(16).hex(), os.urandom(8).hex()
        p = self.launch([*self.curl_args, "http://127.0.0.1:%d/inherited" % srv.port], "curl",
                        TRACEPARENT="00-%s-%s-01" % (trace, parent))
        self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
        spans = self.final_spans(2, procs=(p,))
        self.assertEqual(len(spans), 2, dump(spans))
        ps = self.pspan(spans, "curl", lambda s: True)
        self.check_process_span(ps, spans)
        self.assertEqual((ps["traceId"], ps["parentSpanId"]), (trace, parent),
                         "the process span continues TRACEPARENT" + dump(spans))
        client = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client span", spans)
        self.assertEqual((client["traceId"], client["parentSpanId"]), (trace, ps["spanId"]),
                         dump(spans))
        (conn,) = srv.wait_closed(1)
        _, headers, _ = th.parse_head(bytes(conn.data))
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (trace, client["spanId"])], headers)

    def test_inherited_tracestate(self):
        """TRACESTATE beside TRACEPARENT is that trace's: sh passes both to
        curl, whose request carries the tracestate after its traceparent;
        the shell's next command sees it too. A malformed one is dropped
        (said at TRACESHIM_LOG_LEVEL=warn), the traceparent still goes."""
        srv = self.recording_server()
        trace, parent = os.urandom(16).hex(), os.urandom(8).hex()
        state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        cmd = "%s http://127.0.0.1:%d/state; printenv TRACESTATE" % (
            " ".join(map(shlex.quote, self.curl_args)), srv.port)
        p = self.launch(["sh", "-c", cmd], "sh-curl", TRACEPARENT="00-%s-%s-01" % (trace, parent),
                        TRACESTATE=state)
        self.assertEqual((p.returncode, p.stdout()), (0, b"ok" + state.encode() + b"\n"),
                         p.describe())
        spans = self.final_spans(4, procs=(p,))
        client = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client span", spans)
        self.assertEqual(client["traceId"], trace, dump(spans))
        (conn,) = srv.wait_closed(1)
        _, headers, _ = th.parse_head(bytes(conn.data))
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (trace, client["spanId"])], headers)
        self.assertEqual(th.header_values(headers, "tracestate"), [state], headers)

        bad = self.launch([*self.curl_args, "http://127.0.0.1:%d/bad" % srv.port], "curl-bad",
                          TRACEPARENT="00-%s-%s-01" % (trace, parent), TRACESTATE="no equals sign",
                          TRACESHIM_LOG_LEVEL="warn")
        self.assertEqual(bad.returncode, 0, bad.describe())
        self.assertIn(b"ignoring TRACESTATE", bad.stderr(), bad.describe())
        (_, conn) = srv.wait_closed(2)
        _, headers, _ = th.parse_head(bytes(conn.data))
        self.assertEqual(len(th.header_values(headers, "traceparent")), 1, headers)
        self.assertEqual(th.header_values(headers, "tracestate"), [], headers)

        # longer than 512 characters: the last whole members go
        # (trace-context 3.3.1.5), the rest as it came
        members = ["k%02d=%s" % (i, "v" * 36) for i in range(14)]  # 14 * 41 - 1 = 573
        long = self.launch([*self.curl_args, "http://127.0.0.1:%d/long" % srv.port], "curl-long",
                           TRACEPARENT="00-%s-%s-01" % (trace, parent),
                           TRACESTATE=",".join(members))
        self.assertEqual(long.returncode, 0, long.describe())
        (_, _, conn) = srv.wait_closed(3)
        _, headers, _ = th.parse_head(bytes(conn.data))
        self.assertEqual(th.header_values(headers, "tracestate"), [",".join(members[:12])],
                         headers)

    def test_inherited_traceparent_unsampled(self):
        """An unsampled parent: no span anywhere, and the trace id and the
        "not sampled" flag still reach the next service, also through env -i."""
        srv = self.recording_server()
        trace, parent = os.urandom(16).hex(), os.urandom(8).hex()
        p = self.launch(["env", "-i", *self.curl_args, "http://127.0.0.1:%d/unsampled" % srv.port],
                        "env-i-curl", TRACEPARENT="00-%s-%s-00" % (trace, parent))
        self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
        (conn,) = srv.wait_closed(1)
        _, headers, _ = th.parse_head(bytes(conn.data))
        tp = th.header_values(headers, "traceparent")
        self.assertEqual(len(tp), 1, "curl was traced after env -i: %r" % headers)
        self.assertTrue(re.match(r"^00-%s-[0-9a-f]{16}-00$" % trace, tp[0]),
                        "same trace, not sampled: %r" % tp)
        self.assertEqual(th.header_values(headers, "X-B3-Sampled"), ["0"], headers)
        self.assertEqual(th.read_spans(self.spans_file), [], "nothing is recorded")

    # ------------------------------------------------ 6. system()

    def system_chain(self, before=""):
        """python3 -c 'BEFORE; os.system("curl URL")' under traceshim run;
        returns (spans, python, sh, curl process spans, curl's client span)."""
        srv = self.recording_server()
        url = "http://127.0.0.1:%d" % srv.port
        cmd = "%s %s/system" % (" ".join(map(shlex.quote, self.curl_args)), url)
        code = ("import os, sys, urllib.request\n%s\n"
                "sys.exit(os.waitstatus_to_exitcode(os.system(%r)))" % (before % {"url": url}, cmd))
        p = self.launch([th.PY, "-c", code], "python-system")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(p.stdout().endswith(b"ok"), p.describe())
        extra = 1 if before else 0  # the client span of the request made before
        spans = self.final_spans(4 + extra, procs=(p,))
        self.assertEqual(len(spans), 4 + extra, dump(spans))
        py = self.pspan(spans, "python", lambda s: s["pid"] == p.pid)
        sh = self.pspan(spans, "sh", lambda s: s["name"].startswith("sh -c"))
        curl = self.pspan(spans, "curl", lambda s: s["name"].startswith("curl "))
        client = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT
                          and s["name"] == "GET /system"], "curl's client span", spans)
        for s in (py, sh, curl):
            self.check_process_span(s, spans)
        self.assertEqual(sh["attrs"].get("process.parent_pid"), p.pid, dump(spans))
        return spans, py, sh, curl, client

    def check_system_chain(self, spans, py, sh, curl, client):
        self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace" + dump(spans))
        self.assertIsNone(py["parentSpanId"], dump(spans))
        self.assertEqual(sh["parentSpanId"], py["spanId"],
                         "the shell system() started is a child of python's span" + dump(spans))
        self.assertEqual(curl["parentSpanId"], sh["spanId"],
                         "curl's process span is a child of sh's" + dump(spans))
        self.assertEqual(client["parentSpanId"], curl["spanId"], dump(spans))

    def test_system(self):
        self.check_system_chain(*self.system_chain())

    def test_system_after_a_request(self):
        spans, py, sh, curl, client = self.system_chain(
            'urllib.request.urlopen("%(url)s/first", timeout=10).read()')
        first = th.only([s for s in spans if s["name"] == "GET /first"], "first request", spans)
        self.assertEqual(first["parentSpanId"], py["spanId"], dump(spans))
        self.check_system_chain(spans, py, sh, curl, client)

    def test_system_and_popen_keep_a_long_traceparent(self):
        """A long TRACEPARENT (a later version's, a field appended) is still
        the program's after system() and popen(), and the shell gets the
        shim's for the call: the shim, which could not save one of 96
        characters or more to put it back, once deleted it; later it left
        one of more than 512 characters, or a TRACESTATE of more than 512,
        alone (the shell continued the inherited context). A TRACESTATE
        the shim does not take (longer than 512) is not the shell's, and is
        the program's again after the call. The program's entries are put
        back as they were, whatever their length."""
        trace = os.urandom(16).hex()
        code = "\n".join([
            "import ctypes",
            "libc = ctypes.CDLL(None)",
            "libc.getenv.restype = ctypes.c_char_p",
            "libc.popen.restype = ctypes.c_void_p",
            "libc.pclose.argtypes = [ctypes.c_void_p]",
            "def show(when):",
            "    v = [libc.getenv(n) for n in (b'TRACEPARENT', b'TRACESTATE')]",
            "    print(when, *[x.decode() if x else None for x in v], flush=True)",
            "libc.system(b'echo \"system sees $TRACEPARENT ${TRACESTATE-None}\"')",
            "show('after system')",
            "libc.pclose(libc.popen(b'echo \"popen sees $TRACEPARENT ${TRACESTATE-None}\"', b'w'))",
            "show('after popen')",
        ])
        long_state = "k=" + "v" * 600
        for extra, state in ((25, None), (300, None), (25, long_state)):
            with self.subTest(traceparent=len(extra * "ab") + 55, tracestate=len(state or "")):
                tp = "01-%s-%s-01-%s" % (trace, os.urandom(8).hex(), "ab" * extra)
                env = dict(TRACEPARENT=tp)
                if state:
                    env["TRACESTATE"] = state
                p = self.launch([th.PY, "-c", code], "python-long-traceparent", **env)
                self.assertEqual(p.returncode, 0, p.describe())
                lines = p.stdout().decode().splitlines()
                self.assertEqual(lines[1::2], ["after system %s %s" % (tp, state),
                                               "after popen %s %s" % (tp, state)], p.describe())
                for line, who in zip(lines[0::2], ("system", "popen")):
                    self.assertRegex(line, r"^%s sees 00-%s-[0-9a-f]{16}-01 None$" % (who, trace),
                                     "the shell continues the trace\n" + p.describe())

    def test_system_leaves_no_stale_duplicate(self):
        """An environment with a variable twice (a launcher that appended
        rather than replaced): the shell of system() gets the shim's
        TRACEPARENT and TRACESTATE once each, not the stale second copies
        beside them, which a shell or Python child could read instead. The
        program's environ is the same array afterwards, its entries the
        same (unsetenv, which the shim once used, shifts them in place)."""
        trace = os.urandom(16).hex()
        parent = "00-%s-%s-01" % (trace, os.urandom(8).hex())
        code = "\n".join([
            "import ctypes",
            "libc = ctypes.CDLL(None)",
            "extra = [b'TRACEPARENT=00-%s-%s-01' % (b'1' * 32, b'2' * 16), b'TRACESTATE=stale=1']",
            "environ = ctypes.POINTER(ctypes.c_char_p).in_dll(libc, 'environ')",
            "entries = []",
            "while environ[len(entries)]:",
            "    entries.append(environ[len(entries)])",
            "table = (ctypes.c_char_p * (len(entries) + 3))(*(entries + extra), None)",
            "ctypes.c_void_p.in_dll(libc, 'environ').value = ctypes.addressof(table)",
            "libc.system(b\"tr '\\\\0' '\\\\n' </proc/$$/environ | grep -E '^TRACE(PARENT|STATE)='\")",
            "after = ctypes.c_void_p.in_dll(libc, 'environ').value == ctypes.addressof(table)",
            "print('program array kept' if after and list(table)[:-1] == entries + extra",
            "      else 'program array changed', flush=True)",
        ])
        p = self.launch([th.PY, "-c", code], "python-duplicate-env", TRACEPARENT=parent,
                        TRACESTATE="mine=1")
        self.assertEqual(p.returncode, 0, p.describe())
        lines = p.stdout().decode().splitlines()
        # the program's environ, its array and its entries, as they were
        self.assertEqual(lines[-1:], ["program array kept"], p.describe())
        lines = sorted(lines[:-1])
        self.assertEqual(len(lines), 2, p.describe())
        self.assertRegex(lines[0], r"^TRACEPARENT=00-%s-[0-9a-f]{16}-01$" % trace, p.describe())
        self.assertEqual(lines[1], "TRACESTATE=mine=1", p.describe())

    # ------------------------------------------------ 7. exit codes of a C program

    def test_exit_codes_of_a_c_program(self):
        exe = self.compiled("exit_codes")
        # (mode, code, the status the process exits with)
        for mode, code, status in (("exit", 5, 5), ("return", 6, 6), ("return", 0, 0),
                                   ("exit", 300, 44), ("_exit", 7, 7), ("_Exit", 8, 8),
                                   ("quick_exit", 9, 9), ("error", 10, 10), ("errx", 11, 11),
                                   ("atexit_error", 12, 12)):
            with self.subTest(mode=mode, code=code):
                spans_file = os.path.join(self.tmp, "spans-%s-%d.jsonl" % (mode, code))
                p = self.launch([exe, mode, code], "exit_codes", spans_file=spans_file)
                self.assertEqual(p.returncode, status, p.describe())
                # quick_exit ends by glibc's own _exit, which no hook sees:
                # the shim's flush is the last of its handlers
                handler = "quick handler\n" if mode == "quick_exit" else ""
                self.assertEqual(p.stdout(),
                                 ("ending by %s %d\n%s" % (mode, code, handler)).encode())
                spans = self.final_spans(1, procs=(p,), spans_file=spans_file)
                s = th.only(spans, "process span", spans)
                self.check_process_span(s, spans)
                self.assertEqual(s["pid"], p.pid, dump(spans))
                self.assertEqual(s["name"], "exit_codes %s %d" % (mode, code), dump(spans))
                self.assert_exit(s, status, spans)

    def test_a_signal_sent_to_itself_after_a_handler_was_put_away(self):
        """A program that had a SIGTERM handler once, put the default back
        and sends itself SIGTERM dies of it, its process span ended first
        with 143. The flush before the signal holds the program's handlers
        off (as every end of the image does), SIGTERM among them, since it
        had one: the mask must be as it was once the flush is done, or the
        signal waits blocked and the process lives on to exit(3)."""
        exe = self.compiled("exit_codes")
        p = self.launch([exe, "handled_selfkill", 3], "exit_codes")
        self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
        spans = self.final_spans(1, procs=(p,))
        s = th.only(spans, "process span", spans)
        self.assert_exit(s, 128 + signal.SIGTERM, spans)

    def test_a_long_program_name_is_cut_between_characters(self):
        # The service name, without OTEL_SERVICE_NAME, is argv[0]'s last
        # part, which exec lets be any length: 200 two-byte characters are
        # cut to the 127 whole ones of 254 bytes, not to 255 bytes that end
        # in half of one (which the encoders showed as a U+FFFD)
        name = "\u00e9" * 200
        p = self.launch([th.PY, "-c", "import os, sys; os.execv('/bin/true', [sys.argv[1]])", name],
                        "long_name")
        self.assertEqual(p.returncode, 0, p.describe())
        spans = self.final_spans(2, procs=(p,))
        with open(self.spans_file, "rb") as f:
            f.read().decode("utf-8")  # every byte of the file is UTF-8
        true_span = th.only([s for s in spans if s["name"].startswith(name[:10])], "/bin/true",
                            spans)
        self.assertEqual(true_span["service"], name[:127], dump(spans))

    def test_init_of_a_pid_namespace_outlives_its_own_signals(self):
        """A container's first process (PID 1 of its namespace) that sends
        itself SIGTERM and SIGINT at their defaults lives on: the kernel
        drops them. The shim took them for its death: the process span
        ended there (143, ERROR), not at the real exit (6)."""
        unshare = th.require_tool("unshare")
        exe = self.compiled("exit_codes")
        untraced = th.run([unshare, "-pf", exe, "selfkill", "6"], env=th.clean_env(),
                          tmpdir=self.tmp, name="pid1-untraced")
        if untraced.returncode != 6:
            self.skipTest("no PID namespaces here: " + untraced.describe())
        p = self.launch([unshare, "-pf", exe, "selfkill", 6], "pid1")
        self.assertEqual(p.returncode, 6, p.describe())
        self.assertEqual(p.stdout(), b"ending by selfkill 6\n", p.describe())
        spans = self.final_spans(2, procs=(p,))
        s = self.pspan(spans, "the namespace's init", lambda s: s["name"] == "exit_codes selfkill 6")
        self.assert_exit(s, 6, spans)

    def test_unshare_user_namespace(self):
        """unshare(CLONE_NEWUSER) fails with EINVAL in a process with a
        second thread: `unshare -r`, which installs no signal handler,
        still works under traceshim run (the reporter thread starts with
        the first span, or the first handler, not at start-up)."""
        unshare = th.require_tool("unshare")
        if th.run([unshare, "-r", "true"], env=th.clean_env(), tmpdir=self.tmp,
                  name="unshare-untraced").returncode != 0:
            self.skipTest("no user namespaces here")
        p = self.launch([unshare, "-r", "id", "-u"], "unshare")
        self.assertEqual((p.returncode, p.stdout()), (0, b"0\n"), p.describe())
        spans = self.final_spans(2, procs=(p,))
        for name in ("unshare -r id -u", "id -u"):
            self.check_process_span(self.pspan(spans, name, lambda s: s["name"] == name), spans)

    # ------------------------------------------------ 8. every exec door

    def test_exec_and_spawn_doors(self):
        exe = self.compiled("exec_doors")
        srv = self.recording_server()
        for door in ("execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle",
                     "fexecve", "execveat", "execveat_dir", "execveat_fd", "posix_spawn",
                     "posix_spawnp", "system", "popen"):
            with self.subTest(door=door):
                if th.PRELOAD_FIRST and door in ("execvp", "execlp"):
                    # after clearenv() these search the default path, where
                    # curl is /usr/bin's, which cannot start under the
                    # preloaded sanitizer runtime (tshelp.SANITIZER_CANNOT_RUN)
                    self.skipTest("TSTEST_PRELOAD_FIRST: curl found on the default path")
                spans_file = os.path.join(self.tmp, "spans-%s.jsonl" % door)
                # an empty environment for the child (system and popen: the
                # process's own): the shim must come back through every door
                p = self.launch([exe, door, self.curl, "-q", "-sS", "--max-time", "10",
                                 "http://127.0.0.1:%d/%s" % (srv.port, door)], door,
                                spans_file=spans_file, service="doors")
                self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
                shell = door in ("system", "popen")
                count = 4 if shell else 3
                spans = self.final_spans(count, procs=(p,), spans_file=spans_file)
                self.assertEqual(len(spans), count, "starter, [sh,] curl (process and client)"
                                 + dump(spans))
                self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace" + dump(spans))
                starter = self.pspan(spans, "exec_doors",
                                     lambda s: s["name"].startswith("exec_doors"))
                curl = self.pspan(spans, "curl", lambda s: s["name"].startswith("curl "))
                client = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client", spans)
                for s in self.process_spans(spans):
                    self.check_process_span(s, spans)
                self.assertIsNone(starter["parentSpanId"], dump(spans))
                if shell:
                    sh = self.pspan(spans, "sh", lambda s: s["name"].startswith("sh -c"))
                    self.assertEqual(sh["parentSpanId"], starter["spanId"], dump(spans))
                    self.assertEqual(sh["attrs"].get("process.parent_pid"), p.pid, dump(spans))
                    self.assertEqual(curl["parentSpanId"], sh["spanId"], dump(spans))
                else:
                    self.assertEqual(curl["parentSpanId"], starter["spanId"], dump(spans))
                self.assertEqual(client["parentSpanId"], curl["spanId"], dump(spans))
                self.assertEqual({s["service"] for s in spans}, {"doors"}, dump(spans))
                self.assertEqual(client["name"], "GET /" + door, dump(spans))
                if door.startswith("posix_spawn"):
                    self.assertEqual(curl["attrs"].get("process.parent_pid"), p.pid, dump(spans))
                if door.startswith("exec") or door == "fexecve":
                    self.assertLessEqual(starter["end"], curl["start"],
                                         "the starter's span ends at the exec" + dump(spans))
                    self.assertEqual(curl["pid"], p.pid, "exec keeps the pid" + dump(spans))
                else:
                    self.assert_exit(starter, 0, spans)
                self.assert_exit(curl, 0, spans)
                self.assert_inside(client, curl, spans)

    def test_exec_from_a_small_stack_with_a_large_environment(self):
        """A thread with a 64 KiB stack execs (and spawns) a program with
        an environment of 10,000 entries: the shim built the child's on the
        thread's stack (80 KB here) and the program died of it. So does a
        signal handler on an 8 KiB alternate stack, which glibc's execve
        fits in: the shim's 8.8 KB of strings for the environment were on
        it. The child gets every entry, the library and TRACEPARENT naming
        the starter's process span."""
        exe = self.compiled("exec_small_stack")
        # sanitizers need far more of any stack
        handler_kib = "64" if th.PRELOAD_FIRST else "8"
        for door in ("execve", "posix_spawn", "handler"):
            with self.subTest(door=door):
                spans_file = os.path.join(self.tmp, "spans-small-stack-%s.jsonl" % door)
                args = [exe, door, 10000] + ([handler_kib] if door == "handler" else [])
                p = self.launch(args, "small-stack-" + door, spans_file=spans_file)
                self.assertEqual(p.returncode, 0, p.describe())
                m = re.match(rb"fill 10000 preload yes traceparent "
                             rb"00-([0-9a-f]{32})-([0-9a-f]{16})-01\n\Z", p.stdout())
                self.assertTrue(m, p.describe())
                spans = self.final_spans(2, procs=(p,), spans_file=spans_file)
                starter = self.pspan(spans, "the starter",
                                     lambda s: " %s 10000" % door in s["name"])
                report = self.pspan(spans, "the report", lambda s: s["name"].endswith(" report"))
                self.assertEqual((m.group(1).decode(), m.group(2).decode()),
                                 (starter["traceId"], starter["spanId"]), dump(spans))
                self.assertEqual(report["parentSpanId"], starter["spanId"], dump(spans))

    def test_exec_with_an_environment_at_the_kernels_bound(self):
        """An environment as large as the kernel takes (apps/
        exec_near_arg_max.c finds it with raw execs, under a 256 KiB stack
        limit: 128 KiB of arguments and environment): the shim's TRACEPARENT
        tipped the exec over, E2BIG, only when traced. The call is made
        again with the program's own environment: the child runs. The
        same for the shell of system() and popen() (the process's own
        environment, sized with the shell's arguments): they failed, 127
        and "Argument list too long"."""
        exe = self.compiled("exec_near_arg_max")
        for door in ("execve", "posix_spawn", "system", "popen"):
            with self.subTest(door=door):
                p = self.launch([exe, door], "near-arg-max-" + door)
                self.assertEqual(p.returncode, 0, p.describe())

    # ------------------------------------------------ 9. spans are sent before exec

    def test_spans_sent_when_python_ends_by_its_ctrl_c(self):
        """CPython ends an unhandled KeyboardInterrupt (Ctrl-C) by setting
        SIGINT back to its default and sending it to itself, so that its
        parent sees it die of it: no exit handler runs, and a server stopped
        so lost its last spans (here, with no periodic export in time, all
        of them). The shim flushes before such a signal: the client span
        and the process span, with the status a shell gives (130)."""
        srv = self.recording_server()
        url = "http://127.0.0.1:%d/before-ctrl-c" % srv.port
        code = ("import urllib.request\n"
                "urllib.request.urlopen(%r, timeout=10).read()\n"
                "raise KeyboardInterrupt" % url)
        p = self.launch([th.PY, "-c", code], "python-ctrl-c", OTEL_BSP_SCHEDULE_DELAY=60000)
        self.assertIn(p.returncode, (-2, 130), p.describe())  # SIGINT, as untraced
        spans = self.final_spans(2, procs=(p,))
        self.assertEqual(len(spans), 2, dump(spans))
        client = [s for s in spans if s["kind"] == 3]  # client
        self.assertEqual([s["name"] for s in client], ["GET /before-ctrl-c"], dump(spans))
        py = self.pspan(spans, "python", lambda s: s["name"].startswith("python3 "))
        self.assertEqual(client[0]["parentSpanId"], py["spanId"], dump(spans))
        self.assert_exit(py, 130, spans)

    def test_spans_sent_before_exec(self):
        srv = self.recording_server()
        url = "http://127.0.0.1:%d" % srv.port
        code = ("import os, urllib.request\n"
                "urllib.request.urlopen(%r, timeout=10).read()\n"
                "os.execv(%r, %r)"
                % (url + "/before", self.curl, [*self.curl_args, url + "/after"]))
        # no periodic export in time: only the flush before exec saves python's span
        p = self.launch([th.PY, "-c", code], "python-exec", OTEL_BSP_SCHEDULE_DELAY=60000)
        self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
        spans = self.final_spans(4, procs=(p,))
        self.assertEqual(len(spans), 4, dump(spans))
        self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace" + dump(spans))
        py = self.pspan(spans, "python", lambda s: s["name"].startswith("python3 "))
        curl = self.pspan(spans, "curl", lambda s: s["name"].startswith("curl "))
        before = th.only([s for s in spans if s["name"] == "GET /before"], "GET /before", spans)
        after = th.only([s for s in spans if s["name"] == "GET /after"], "GET /after", spans)
        self.assertEqual(before["parentSpanId"], py["spanId"], dump(spans))
        self.assertEqual(curl["parentSpanId"], py["spanId"], dump(spans))
        self.assertEqual(after["parentSpanId"], curl["spanId"], dump(spans))
        self.assertEqual({s["pid"] for s in spans}, {p.pid},
                         "one process, two images" + dump(spans))
        self.assertLessEqual(py["end"], curl["start"],
                             "python's span ends at the exec" + dump(spans))

    def test_a_client_that_exits_waiting_for_its_answer(self):
        """A request still waiting for its answer when the process ends (a
        client that gives up: siege's workers when its time is up) ends as
        at its socket's close, which the kernel makes: failed,
        connection_closed. Before, it was lost, and its server's span named
        a parent never written."""
        silent = th.listen_local()
        self.addCleanup(silent.close)
        code = ("import os, socket, sys, time\n"
                "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
                "s.sendall(b'GET /no-answer HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
                "time.sleep(0.2)\n"
                "os._exit(0)\n")
        client_file = os.path.join(self.tmp, "client.jsonl")
        p = th.run([th.PY, "-c", code, silent.getsockname()[1]], tmpdir=self.tmp, name="gives-up",
                   env=th.shim_env("gives-up", client_file))
        self.assertEqual(p.returncode, 0, p.describe())
        spans = th.wait_spans(client_file, 1, exact=True)
        s = th.only(spans, "the client span", spans)
        self.assertEqual((s["kind"], s["name"], s["attrs"].get("traceshim.response_unseen"),
                          s["attrs"].get("error.type")),
                         (th.KIND_CLIENT, "GET /no-answer", None, "connection_closed"), dump(spans))

    def test_requests_of_a_librarys_destructors_at_exit(self):
        """Requests a shared library of the program makes as the process
        exits (apps/library_exit_requests.c: its destructor's, and an
        atexit handler's its constructor registered, which runs with its
        destructors, as a C++ static's does), by exit and by main's
        return. The preloaded library's destructor runs before those of
        the program's libraries, and made the final flush there: such a
        request was traced, its trace headers went out, and its span was
        never exported nor counted (the stats line said spans_started=2:
        /main and the process span). Each span must be out, a child of the
        process span (which ended at the shim's destructor, before them);
        the request still waiting as the process ends fails
        (connection_closed); every trace header the server got names an
        exported span; the stats line, written at the shim's destructor,
        is written again once they are out, and counts them all."""
        exe = th.compile_library_exit_requests(self.tmp)
        for how in ("exit", "return"):
            with self.subTest(how=how):
                srv = self.recording_server()
                spans_file = os.path.join(self.tmp, "spans-%s.jsonl" % how)
                p = self.launch([exe, how, srv.port], "library-exit-" + how,
                                spans_file=spans_file, TRACESHIM_STATS=1)
                self.assertEqual(p.returncode, 0, p.describe())
                self.assertEqual(p.stdout(), b"/main 200\n/lib-destructor 200\n"
                                 b"/lib-unanswered sent\n/lib-atexit 200\n", p.describe())
                spans = self.final_spans(5, procs=(p,), spans_file=spans_file)
                proc = self.pspan(spans, how, lambda s: s["pid"] == p.pid)
                clients = {s["attrs"].get("url.full", "").rsplit("/", 1)[-1]: s
                           for s in spans if s["kind"] == th.KIND_CLIENT}
                self.assertEqual(sorted(clients),
                                 ["lib-atexit", "lib-destructor", "lib-unanswered", "main"],
                                 dump(spans))
                for name, s in clients.items():
                    self.assertEqual(s["parentSpanId"], proc["spanId"], dump(spans))
                    unanswered = name == "lib-unanswered"
                    self.assertEqual((s["attrs"].get("http.response.status_code"),
                                      s["attrs"].get("error.type")),
                                     (None, "connection_closed") if unanswered else (200, None),
                                     name + dump(spans))
                # the server's threads read what the program sent on their
                # own time: wait until all three connections (/main's and
                # /lib-atexit's, /lib-destructor's, /lib-unanswered's) are
                # read to their end, which the process's exit closed
                conns = srv.wait_closed(3)
                sent = set(re.findall(rb"X-B3-SpanId: ([0-9a-f]{16})",
                                      b"".join(bytes(c.data) for c in conns)))
                self.assertEqual(sent, {s["spanId"].encode() for s in clients.values()},
                                 dump(spans))
                counts = [tuple(c[k] for k in ("spans_started", "spans_finished", "exported"))
                          for _, c in th.stats_lines(p.stderr())]
                self.assertEqual(counts, [(2, 2, 2), (5, 5, 5)], p.describe())

    def test_a_server_that_executes_a_cgi_program_on_the_socket(self):
        """A server that executes a CGI program on the socket to answer
        (mini_httpd): the server span ends at the exec, its outcome unknown
        (traceshim.response_unseen, no error), and the CGI program's
        request continues its trace. Before, it was lost, and the CGI's
        span named a parent never written."""
        srv = self.recording_server()
        cgi = ("printf 'HTTP/1.0 200 OK\\r\\n\\r\\n'; "
               "exec %s -q -sS --max-time 10 http://127.0.0.1:%d/from-the-cgi"
               % (shlex.quote(self.curl), srv.port))
        code = ("import os, socket, sys\n"
                "l = socket.socket(); l.bind(('127.0.0.1', int(sys.argv[1]))); l.listen(1)\n"
                "print('listening', flush=True)\n"
                "c, _ = l.accept()\n"
                "c.recv(65536)\n"
                "os.dup2(c.fileno(), 1)\n"
                "os.execv('/bin/sh', ['sh', '-c', sys.argv[2]])\n")
        port = th.free_port()
        server = th.Proc([th.PY, "-c", code, port, cgi], tmpdir=self.tmp, name="cgi-server",
                         env=th.shim_env("cgi-server", self.spans_file))
        self.addCleanup(server.stop)
        server.wait_output(rb"listening")
        status, body = th.http_get(port, "/cgi")
        self.assertEqual(status, 200, server.describe())
        server.wait(10)
        spans = self.final_spans(2, procs=(server,))
        front = th.only([x for x in spans if x["kind"] == th.KIND_SERVER], "the server span", spans)
        hop = th.only([x for x in spans if x["kind"] == th.KIND_CLIENT], "curl's span", spans)
        self.assertEqual((front["name"], front["attrs"].get("traceshim.response_unseen"),
                          th.status_error_type(front)), ("GET /cgi", True, None), dump(spans))
        self.assertEqual((hop["name"], hop["traceId"], hop["parentSpanId"]),
                         ("GET /from-the-cgi", front["traceId"], front["spanId"]), dump(spans))

    # ------------------------------------------------ 9b. a signal from outside

    def stopped_by_signal(self, argv, name, sig=signal.SIGTERM, request=None, **env):
        """A traced server (its spans exported only every minute): one GET
        of / answered (or `request(port, process)`), then `sig` from
        outside. The process, once ended, and the spans in its file."""
        port = th.free_port()
        argv = [str(port) if a == "PORT" else a for a in argv]
        spans_file = os.path.join(self.tmp, name + ".jsonl")
        p = th.Proc(argv, env=th.shim_env(name, spans_file, OTEL_BSP_SCHEDULE_DELAY=60000, **env),
                    tmpdir=self.tmp, name=name)
        self.addCleanup(p.stop)
        th.wait_port(port, proc=p)
        if request:
            request(port, p)
        else:
            self.assertEqual(th.http_get(port, "/")[0], 200, p.describe())
        os.kill(p.pid, sig)
        p.wait(10, why=" after %s" % signal.Signals(sig).name)
        return p, (th.read_spans(spans_file) if os.path.exists(spans_file) else [])

    def test_server_stopped_by_sigterm_keeps_its_spans(self):
        """A supervisor stops a service with SIGTERM; one that leaves it at
        its default (python3 -m http.server, a node server) runs no exit
        code, and the spans of its last seconds were lost, here all of
        them. The shim's handler sends them first; the process still dies
        of the signal."""
        node = "/usr/bin/node"
        servers = {
            "python": [th.PY, "-m", "http.server", "PORT", "--bind", "127.0.0.1"],
            # node catches SIGTERM itself (SA_RESETHAND) and raises it again
            "node": [node, "-e", "require('http').createServer((q, r) => r.end('hi')).listen("
                     "Number(process.argv[1]), '127.0.0.1')", "PORT"],
        }
        for name, argv in servers.items():
            with self.subTest(server=name):
                if not os.access(argv[0], os.X_OK):
                    self.fail("%s not found (bash scripts/install-deps.sh)" % argv[0])
                p, spans = self.stopped_by_signal(argv, name)
                self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
                s = th.only(spans, "the server span", spans)
                self.assertEqual((s["kind"], s["name"], s["attrs"].get("http.response.status_code")),
                                 (th.KIND_SERVER, "GET /", 200), dump(spans))
                self.assertNotIn(b"traceshim", p.stderr(), p.describe())
        with self.subTest("TRACESHIM_SIGNAL_FLUSH=0: as before, lost"):
            p, spans = self.stopped_by_signal(servers["python"], "python-off",
                                              TRACESHIM_SIGNAL_FLUSH=0)
            self.assertEqual((p.returncode, spans), (-signal.SIGTERM, []), p.describe())

    def test_each_stop_signal_and_a_handler_that_raises_again(self):
        """SIGINT (Ctrl-C), SIGHUP (a terminal closed) and SIGTERM end a C
        client that waits after its request; one with a handler of its own
        that puts the default back and raises the signal again, as node's
        does, too: the client span is written, the status is the signal's."""
        exe = self.compiled("signal_probe")
        srv = self.recording_server()
        cases = [("wait", signal.SIGINT), ("wait", signal.SIGHUP), ("wait", signal.SIGTERM),
                 ("reraise", signal.SIGTERM)]
        for mode, sig in cases:
            with self.subTest(mode=mode, signal=sig.name):
                spans_file = os.path.join(self.tmp, "%s-%s.jsonl" % (mode, sig.name))
                p = th.Proc([exe, mode, srv.port], tmpdir=self.tmp, name=mode,
                            env=th.shim_env(mode, spans_file, OTEL_BSP_SCHEDULE_DELAY=60000))
                self.addCleanup(p.stop)
                p.wait_output(rb"ready 200\n")
                os.kill(p.pid, sig)
                p.wait(10)
                self.assertEqual(p.returncode, -sig, p.describe())
                self.assertEqual(p.stdout(), b"ready 200\n" + (b"cleanup\n" if mode == "reraise"
                                                               else b""), p.describe())
                spans = th.read_spans(spans_file) if os.path.exists(spans_file) else []
                s = th.only(spans, "the client span", spans)
                self.assertEqual((s["kind"], s["name"]),
                                 (th.KIND_CLIENT, "GET /before-the-signal"), dump(spans))

    def start_until_stdin_ends(self, exe, mode, port, n, spans_file, **env):
        """signal_probe MODE (stdin-exit, stdin-exec) traced, its spans to
        spans_file, no periodic export: started, its N requests made; and
        the function that closes its stdin."""
        go_r, go_w = os.pipe()
        stdin_open = [go_w]

        def close_stdin():
            while stdin_open:
                os.close(stdin_open.pop())
        self.addCleanup(close_stdin)
        try:
            p = th.Proc([exe, mode, port, n], tmpdir=self.tmp, name=mode, stdin=go_r,
                        env=th.shim_env(mode, spans_file, OTEL_BSP_SCHEDULE_DELAY=60000, **env))
        finally:
            os.close(go_r)
        self.addCleanup(p.stop)
        p.wait_output(rb"ready 200\n")
        return p, close_stdin

    def assert_every_request_before_the_exit(self, got, name, port, n):
        """got, the bytes read from the span FIFO, holds the span of each of
        signal_probe's N requests (written to NAME.jsonl to be read)."""
        path = os.path.join(self.tmp, name + ".jsonl")
        with open(path, "wb") as f:
            f.write(got)
        spans = th.read_spans(path, strict=True)
        self.assertEqual(sorted(s["attrs"].get("url.full", "") for s in spans),
                         sorted("http://127.0.0.1:%d/before-the-exit/%d" % (port, i)
                                for i in range(n)), dump(spans))

    def test_an_exit_in_a_handler_during_the_exit_flush(self):
        """What apt does to its download methods: it closes their stdin
        (the method's main returns: the shim's flush at exit begins) and
        sends SIGINT, whose handler calls _exit(100). That _exit came
        inside the shim's own flush, which it may not run again (the
        guard): it ended the process at once, while the reporter thread
        was still writing the spans (lost in one apt-get download in six,
        about). The _exit now waits for the flush handed over, up to its
        deadline. Made sure here: the span file a FIFO of one page whose
        reader waits until the flush is under way (bytes in it, the
        writer blocked on the rest) and SIGINT has come; then it reads.
        Every span arrives, and the status is the handler's 100."""
        exe = self.compiled("signal_probe")
        srv = self.recording_server()
        n = 20  # about 400 bytes a span: more than the page the FIFO holds
        fifo = os.path.join(self.tmp, "spans.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        fcntl.fcntl(reader, 1031, 4096)  # F_SETPIPE_SZ: one page
        p, close_stdin = self.start_until_stdin_ends(exe, "stdin-exit", srv.port, n, fifo)
        close_stdin()  # stdin's end: main returns, the flush at exit begins
        deadline = time.monotonic() + 10
        while not select.select([reader], [], [], 0.05)[0]:
            self.assertIsNone(p.poll(), "the probe ended before its flush wrote\n" + p.describe())
            self.assertLess(time.monotonic(), deadline, "no span written\n" + p.describe())
        # (the flush is more than the page: the reporter thread waits for room)
        os.kill(p.pid, signal.SIGINT)
        got = bytearray()
        while True:
            self.assertLess(time.monotonic(), deadline, "the FIFO was not closed\n" + p.describe())
            if not select.select([reader], [], [], 0.1)[0]:
                continue
            chunk = os.read(reader, 65536)
            if not chunk:
                break
            got += chunk
        p.wait(10)
        self.assertEqual(p.returncode, 100, p.describe())
        self.assert_every_request_before_the_exit(got, "from-the-fifo", srv.port, n)

    def test_a_handler_held_off_until_the_exit_flush_is_handed_over(self):
        """The same program, its SIGINT coming before the flush at exit was
        handed to the reporter thread: the exit waits for that thread to
        try the span file first (a FIFO nobody reads yet holds it in its
        open), and a handler's _exit there found no flush to wait for and
        ended the process with every span (in CI, and about one run in ten
        of the test above, it came a moment earlier, as the exit began).
        The program's handlers are now held off while the shim ends the
        process image: SIGINT waits for the spans, then its handler runs,
        and its _exit(100) is the status. The same for an exec's flush
        (stdin-exec: the exec is never made)."""
        futex = {"x86_64": 202, "aarch64": 98}.get(os.uname().machine)
        if futex is None:
            self.skipTest("futex's number on %s not known here" % os.uname().machine)
        exe = self.compiled("signal_probe")
        srv = self.recording_server()
        n = 3
        for mode in ("stdin-exit", "stdin-exec"):
            with self.subTest(mode=mode):
                fifo = os.path.join(self.tmp, mode + ".fifo")
                os.mkfifo(fifo)
                p, close_stdin = self.start_until_stdin_ends(exe, mode, srv.port, n, fifo,
                                                             TRACESHIM_EXIT_TIMEOUT=20000)
                close_stdin()  # the exit (or the exec) begins, and waits for the span file
                deadline = time.monotonic() + 10
                call = []
                while time.monotonic() < deadline:
                    with open("/proc/%d/task/%d/syscall" % (p.pid, p.pid)) as f:
                        call = f.read().split()
                    if call and call[0] == str(futex):
                        break
                    time.sleep(0.01)
                self.assertTrue(call and call[0] == str(futex),
                                "the %s never waited: %r\n%s" % (mode, call, p.describe()))
                os.kill(p.pid, signal.SIGINT)
                time.sleep(0.2)  # a handler not held off has ended the process by now
                reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
                self.addCleanup(os.close, reader)
                p.wait(10)  # (the spans fit in the FIFO)
                self.assertEqual(p.returncode, 100, p.describe())
                got = bytearray()
                while True:
                    try:
                        chunk = os.read(reader, 65536)
                    except BlockingIOError:  # no writer ever came
                        break
                    if not chunk:
                        break
                    got += chunk
                self.assert_every_request_before_the_exit(got, mode, srv.port, n)

    def test_process_span_of_a_program_a_stop_signal_ends(self):
        """`traceshim run sleep 10` and a Ctrl-C: a process whose only span
        is its process span starts no reporter thread, and the shim's
        handler (which may have interrupted malloc) could hand the flush
        to none: the span was lost, no span file at all. With the span
        file as the only exporter the handler now writes it itself, with
        no memory from malloc; the exit code says the signal, and the
        process still dies of it. A program that allocates without end
        meanwhile (the signal mostly lands inside malloc or free) gets
        its span each time, and neither crashes nor hangs."""
        exe = self.compiled("signal_probe")
        cases = [("idle", signal.SIGINT), ("idle", signal.SIGTERM), ("idle", signal.SIGHUP)]
        cases += [("malloc", signal.SIGTERM)] * 10
        for i, (mode, sig) in enumerate(cases):
            with self.subTest(mode=mode, signal=sig.name, round=i):
                spans_file = os.path.join(self.tmp, "%s-%d.jsonl" % (mode, i))
                p = th.Proc([exe, mode], tmpdir=self.tmp, name="%s-%d" % (mode, i),
                            env=th.shim_env(mode, spans_file, TRACESHIM_PROCESS_SPANS=1))
                self.addCleanup(p.stop)
                p.wait_output(rb"ready\n")
                time.sleep(0.01 * (i % 5))
                os.kill(p.pid, sig)
                p.wait(10, why=" after %s" % sig.name)
                self.assertEqual(p.returncode, -sig, p.describe())
                spans = th.read_spans(spans_file) if os.path.exists(spans_file) else []
                s = th.only(spans, "the process span", spans)
                self.check_process_span(s, spans)
                self.assertEqual(s["attrs"].get("process.exit_code"), 128 + sig, dump(spans))
                self.assertNotIn(b"traceshim", p.stderr(), p.describe())

    def test_process_span_to_a_link_or_a_folder_says_so(self):
        """A process whose only span is its process span writes its span
        file on its own thread, at its exit and in the shim's SIGTERM
        handler. A span file that is a symbolic link (never followed) or a
        folder was left to a reporter thread, as a FIFO is: at the exit one
        was started only to say it could not open the file, and the
        handler, which cannot start one, dropped the span without a word.
        Now either says it there, in the line a reporter thread writes;
        the status is the program's, and nothing goes through the link."""
        exe = self.compiled("signal_probe")
        for kind in ("link", "dangling link", "folder"):
            for how in ("exit", "SIGTERM"):
                with self.subTest(kind=kind, how=how):
                    name = "%s-%s" % (kind.replace(" ", "-"), how)
                    path = os.path.join(self.tmp, name + ".jsonl")
                    target = os.path.join(self.tmp, name + "-target")
                    if kind == "folder":
                        os.mkdir(path)
                    else:
                        if kind == "link":
                            with open(target, "w") as f:
                                f.write("precious\n")
                        os.symlink(target, path)
                    env = th.shim_env(name, path, TRACESHIM_PROCESS_SPANS=1)
                    if how == "exit":
                        p = th.run(["true"], env=env, tmpdir=self.tmp, name=name)
                        self.assertEqual(p.returncode, 0, p.describe())
                    else:
                        p = th.Proc([exe, "idle"], env=env, tmpdir=self.tmp, name=name)
                        self.addCleanup(p.stop)
                        p.wait_output(rb"ready\n")
                        os.kill(p.pid, signal.SIGTERM)
                        p.wait(10, why=" after SIGTERM")
                        self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
                    err = p.stderr().decode("utf-8", "replace").splitlines()
                    # (a handler names the error "EISDIR": strerror_r may allocate;
                    # where a reporter thread runs, as a sanitizer's handlers
                    # start it, that thread writes the text)
                    whys = (["it is a symbolic link, which the shim does not follow"]
                            if "link" in kind else ["Is a directory"] if how == "exit"
                            else ["EISDIR", "Is a directory"])
                    self.assertIn(err, [["traceshim: cannot open span file %s: %s; spans are "
                                         "dropped" % (path, why)] for why in whys], p.describe())
                    if kind == "folder":
                        self.assertEqual(os.listdir(path), [], "nothing written in the folder")
                    else:
                        self.assertTrue(os.path.islink(path))
                    if kind == "link":
                        with open(target) as f:
                            self.assertEqual(f.read(), "precious\n", "nothing through the link")
                    elif kind == "dangling link":
                        self.assertFalse(os.path.lexists(target), "no file made through the link")

    def under_fsize_limit(self, argv, limit, env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE):
        """argv started with its file size limit (RLIMIT_FSIZE, soft) at
        `limit` bytes and no core file, in the test's folder; stdout and
        stderr pipes (which no file size limit applies to) unless given.
        Returns the Popen, whose stdin is /dev/null."""
        def limited():
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
            resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        p = subprocess.Popen(argv, env=env, cwd=self.tmp, preexec_fn=limited,
                             stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        return p

    def run_under_fsize_limit(self, argv, limit, env, **streams):
        """The same, to its end (at most 20 s): (status, stdout, stderr)."""
        p = self.under_fsize_limit(argv, limit, env, **streams)
        out, err = p.communicate(timeout=20)
        return p.returncode, out, err

    def test_process_span_at_the_file_size_limit(self):
        """A process whose only span is its process span writes it on its
        own thread (at its exit, before an exec, in the shim's SIGTERM
        handler). Under a file size limit that the span file is at
        (`ulimit -f`), that write raised SIGXFSZ at the program, which
        died of it (153 from a shell) where untraced it exits 0. Now the
        write fails as any other: the status is the program's, and one
        line on stderr says so; the stats line too. A stderr that is a
        file at the limit only loses the line. A program that itself
        writes past the limit still dies of SIGXFSZ, as untraced."""
        exe = self.compiled("signal_probe")
        full = b'{"resourceSpans":[]}\n' * 400  # 8400 bytes, past a 4096-byte limit

        def spans_file(name, content=b""):
            path = os.path.join(self.tmp, name + ".jsonl")
            if content:
                with open(path, "wb") as f:
                    f.write(content)
            return path

        def line(path, why):
            return ("traceshim: cannot write span file %s: %s; spans are dropped\n"
                    % (path, why)).encode()

        with self.subTest("exit, a new file, limit 0"):
            path = spans_file("new")
            status, out, err = self.run_under_fsize_limit(
                ["true"], 0, th.shim_env("new", path, TRACESHIM_PROCESS_SPANS=1))
            self.assertEqual((status, err), (0, line(path, "File too large")))
            self.assertEqual(os.path.getsize(path), 0)
        with self.subTest("exit, a file past the limit, with the stats line"):
            path = spans_file("full", full)
            status, out, err = self.run_under_fsize_limit(
                ["true"], 4096, th.shim_env("full", path, TRACESHIM_PROCESS_SPANS=1,
                                            TRACESHIM_STATS=1))
            self.assertEqual(status, 0, err)
            self.assertTrue(err.startswith(line(path, "File too large")), err)
            self.assertEqual(err.count(b"cannot write span file"), 1, err)
            stats = th.stats_lines(err)
            self.assertEqual([v["dropped_export_failed"] for pid, v in stats], [1], err)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), full, "the span file as it was")
        with self.subTest("SIGTERM: the shim's handler writes"):
            path = spans_file("stopped", full)
            p = self.under_fsize_limit([exe, "idle"], 4096,
                                       th.shim_env("stopped", path, TRACESHIM_PROCESS_SPANS=1))
            self.assertEqual(p.stdout.readline(), b"ready\n")
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=10)
            # (a handler names the error "EFBIG": strerror_r may allocate;
            # a reporter thread, where one runs, writes the text)
            self.assertIn((p.returncode, err), [(-signal.SIGTERM, line(path, why))
                                                for why in ("EFBIG", "File too large")])
        with self.subTest("stderr a file at the limit too"):
            path = spans_file("both", full)
            err_path = os.path.join(self.tmp, "both.err")
            with open(err_path, "wb") as f:
                f.write(full)
            with open(err_path, "ab") as err_file:
                status, out, err = self.run_under_fsize_limit(
                    ["true"], 4096, th.shim_env("both", path, TRACESHIM_PROCESS_SPANS=1),
                    stderr=err_file)
            self.assertEqual(status, 0)
            self.assertEqual(os.path.getsize(err_path), len(full), "no line there, no signal")
        for traced in (False, True):
            with self.subTest("the program's own write past the limit", traced=traced):
                path = spans_file("own-%s" % traced)
                env = (th.shim_env("own", path, TRACESHIM_PROCESS_SPANS=1) if traced
                       else th.clean_env())
                out_path = os.path.join(self.tmp, "own-%s.out" % traced)
                with open(out_path, "wb") as out_file:
                    status, out, err = self.run_under_fsize_limit(
                        ["head", "-c", "8192", "/dev/zero"], 4096, env, stdout=out_file)
                self.assertEqual((status, os.path.getsize(out_path)), (-signal.SIGXFSZ, 4096), err)

    def test_file_size_limit_leaves_the_programs_sigxfsz_alone(self):
        """The write of the process span before an exec, at a span file
        past the file size limit, holds SIGXFSZ off and takes the one it
        raised away: the program executed next finds the mask and the
        signals pending as the program left them, as untraced (the
        program's own SIGXFSZ, blocked and pending, stays pending; one the
        shim's write raised where the program blocks the signal is not
        left behind)."""
        exe = self.compiled("fsize_probe")
        expected = {"free": b"blocked no, pending no\n", "blocked": b"blocked yes, pending no\n",
                    "pending": b"blocked yes, pending yes\n"}
        for mode, shown in expected.items():
            for traced in (False, True):
                with self.subTest(mode=mode, traced=traced):
                    path = os.path.join(self.tmp, "%s-%s.jsonl" % (mode, traced))
                    with open(path, "wb") as f:
                        f.write(b'{"resourceSpans":[]}\n' * 400)
                    env = (th.shim_env(mode, path, TRACESHIM_PROCESS_SPANS=1) if traced
                           else th.clean_env())
                    status, out, err = self.run_under_fsize_limit([exe, mode], 4096, env)
                    self.assertEqual((status, out), (0, shown), err)
        # The hold takes system calls of its own (rt_sigpending, where the
        # thread blocks the signal already): not under a seccomp filter of
        # the program's, which may kill for them (it did: SIGSYS, no span).
        with self.subTest(mode="filtered"):
            path = os.path.join(self.tmp, "filtered.jsonl")
            p = th.run([exe, "filtered"], tmpdir=self.tmp, name="filtered",
                       env=th.shim_env("filtered", path, TRACESHIM_PROCESS_SPANS=1))
            self.assertEqual((p.returncode, p.stdout()), (0, b"filtered\n"), p.describe())
            self.assertEqual(len(th.read_spans(path)), 1, p.describe())

    def test_dispositions_read_as_the_program_left_them(self):
        """The shim's handler stands in for the default the program left:
        sigaction, signal, bsd_signal, sysv_signal and sigset read the
        default back with the flags and mask the kernel would show, a
        SIG_DFL set is the default again, and a handler of the program's
        own gets its signal. A signal the program inherited ignored (nohup)
        stays ignored. Same output traced and untraced."""
        exe = self.compiled("signal_probe")
        for argv in ([exe, "dispositions"], ["nohup", exe, "dispositions"]):
            with self.subTest(argv=argv[0]):
                untraced = th.run(argv, env=th.clean_env(), tmpdir=self.tmp, name="untraced")
                traced = th.run(argv, env=th.shim_env("probe", self.spans_file), tmpdir=self.tmp,
                                name="traced")
                self.assertEqual(untraced.returncode, 0, untraced.describe())
                self.assertIn(b"caught 15\n", untraced.stdout())
                self.assertEqual((traced.returncode, traced.stdout().decode()),
                                 (0, untraced.stdout().decode()), traced.describe())
                self.assertEqual(b"1 found ignored" in traced.stdout(), argv[0] == "nohup",
                                 traced.describe())

    def test_stopped_while_a_send_blocks(self):
        """A server whose only thread is blocked in a send (a client that
        does not read a large answer) when SIGTERM comes: the send holds
        nothing the flush needs, and the spans of the requests it had
        answered go out; the process dies at once, as untraced."""
        code = ("import http.server, sys\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "    def do_GET(self):\n"
                "        body = b'x' * (32 << 20 if self.path == '/big' else 2)\n"
                "        self.send_response(200)\n"
                "        self.send_header('Content-Length', str(len(body)))\n"
                "        self.end_headers()\n"
                "        self.wfile.write(body)\n"
                "    def log_message(self, *a):\n"
                "        pass\n"
                "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")
        held = []

        def small_then_big(port, server):
            self.assertEqual(th.http_get(port, "/small")[0], 200)
            c = socket.create_connection(("127.0.0.1", port))
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            held.append(c)
            c.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.5)  # its send blocks: this client reads nothing

        start = time.monotonic()
        p, spans = self.stopped_by_signal([th.PY, "-c", code, "PORT"], "blocked",
                                          request=small_then_big)
        for c in held:
            c.close()
        self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
        self.assertLess(time.monotonic() - start, 5, "SIGTERM ended it at once")
        small = [s for s in spans if s["attrs"].get("url.path") == "/small"]
        self.assertEqual(len(small), 1, dump(spans))
        self.assertEqual(small[0]["attrs"].get("http.response.status_code"), 200, dump(spans))

    def test_stopped_before_any_span_ended(self):
        """A stop signal while the process's first request is still under
        way: `timeout 5 curl URL` against a server that has not answered, a
        service stopped while it serves its first request. The reporter
        thread started only with the first span that ended, the handler
        cannot start one, and the span under way was lost (no span file at
        all). The thread now starts as the span begins: the span goes out,
        ended as its connection is (connection_closed), and the process
        still dies of the signal."""
        sink = th.RecordingServer(mode="sink")  # reads the request, never answers
        self.addCleanup(sink.close)
        for n, sig in enumerate((signal.SIGTERM, signal.SIGINT)):
            with self.subTest(program="curl", signal=sig.name):
                spans_file = os.path.join(self.tmp, "curl-%s.jsonl" % sig.name)
                p = th.Proc(self.curl_args + ["http://127.0.0.1:%d/never-answered" % sink.port],
                            env=th.shim_env("curl", spans_file), tmpdir=self.tmp,
                            name="curl-" + sig.name)
                self.addCleanup(p.stop)
                sink.wait(lambda s: len(s.conns) > n and s.conns[n].data.endswith(b"\r\n\r\n"),
                          what="curl's request")
                os.kill(p.pid, sig)
                p.wait(10, why=" after %s" % sig.name)
                self.assertEqual(p.returncode, -sig, p.describe())
                spans = th.read_spans(spans_file) if os.path.exists(spans_file) else []
                s = th.only(spans, "the client span", spans)
                self.assertEqual((s["kind"], s["attrs"].get("url.full"),
                                  s["attrs"].get("error.type")),
                                 (th.KIND_CLIENT, "http://127.0.0.1:%d/never-answered" % sink.port,
                                  "connection_closed"), dump(spans))
        code = ("import http.server, sys, time\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "    def do_GET(self):\n"
                "        print('serving', flush=True)\n"
                "        time.sleep(30)\n"
                "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")
        held = []

        def first_request_under_way(port, server):
            c = socket.create_connection(("127.0.0.1", port))
            held.append(c)
            c.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            server.wait_output(rb"serving\n")

        with self.subTest(program="python3 http.server", signal="SIGTERM"):
            try:
                p, spans = self.stopped_by_signal([th.PY, "-c", code, "PORT"], "first-request",
                                                  request=first_request_under_way)
            finally:
                for c in held:
                    c.close()
            self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
            s = th.only(spans, "the server span", spans)
            self.assertEqual((s["kind"], s["attrs"].get("url.path"), s["attrs"].get("error.type")),
                             (th.KIND_SERVER, "/slow", "connection_closed"), dump(spans))

    def curl_waiting_for_a_sink(self, name, **env):
        """A traced curl whose request a server has read and never answers
        (its client span under way), and that server."""
        sink = th.RecordingServer(mode="sink")
        self.addCleanup(sink.close)
        spans_file = os.path.join(self.tmp, name + ".jsonl")
        p = th.Proc(self.curl_args + ["http://127.0.0.1:%d/never-answered" % sink.port],
                    env=th.shim_env("curl", spans_file, **env), tmpdir=self.tmp, name=name)
        self.addCleanup(p.stop)
        sink.wait(lambda s: s.conns and s.conns[0].data.endswith(b"\r\n\r\n"),
                  what="curl's request")
        return p, spans_file

    def test_a_second_copy_of_the_stop_signal_during_the_export(self):
        """timeout(1) sends its signal to the program and then, at once, to
        its whole process group: the program gets it twice, microseconds
        apart. The second copy found the default the kernel puts back as
        the shim's handler begins (SA_RESETHAND) and ended the process in
        the middle of the export: `timeout 1 wget URL` lost its spans in
        about one run of five. A copy that comes within 100 ms of the first
        is now the same stop: the export goes on, and the process still
        dies of the signal. Sent here while the handler waits for the span
        under way (curl's request, which no thread but the interrupted one
        can end; /proc/PID/syscall shows the wait), a window of 20 ms."""
        nanosleep = {"x86_64": 230, "aarch64": 115}.get(os.uname().machine)
        if nanosleep is None:
            self.skipTest("clock_nanosleep's number on %s not known here" % os.uname().machine)
        p, spans_file = self.curl_waiting_for_a_sink("curl-twice")
        os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/syscall" % p.pid) as f:
                    call = f.read().split()
            except OSError:
                call = []  # gone already
            if not call or call[0] == str(nanosleep):
                break
        self.assertTrue(call and call[0] == str(nanosleep),
                        "the handler never waited for the span under way: %r" % call)
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10, why=" after the second SIGTERM")
        self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
        spans = th.read_spans(spans_file) if os.path.exists(spans_file) else []
        s = th.only(spans, "the client span", spans)
        self.assertEqual(s["attrs"].get("error.type"), "connection_closed", dump(spans))

    def test_a_later_second_stop_signal_ends_it_at_once(self):
        """A second stop signal while the export waits for a collector that
        does not answer (TRACESHIM_EXIT_TIMEOUT, here 5 s) ends the process
        at once, as it did when the kernel put the default back for the
        second, and of the first signal, the status the first stop would
        have given: a second Ctrl-C to curl; SIGTERM, then SIGHUP to a
        python3 with a second thread, where the SIGHUP lands on that thread
        (the first's handler blocks it on its own) and ended it of SIGHUP;
        two SIGTERMs to one that had a SIGTERM handler once."""
        hole = th.listen_local()
        self.addCleanup(hole.close)
        otlp = dict(TRACESHIM_EXPORTER="otlp", TRACESHIM_EXIT_TIMEOUT=5000,
                    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % hole.getsockname()[1])
        sink = th.RecordingServer(mode="sink")
        self.addCleanup(sink.close)
        srv = self.recording_server()
        # (a span ended first: the reporter thread runs also where a
        # SA_NODEFER handler, as a sanitizer's runtime installs, keeps it
        # from starting as the first span begins)
        threaded = ("import threading, time, urllib.request, sys\n"
                    "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
                    "urllib.request.urlopen('http://127.0.0.1:%d/first', timeout=30).read()\n"
                    "urllib.request.urlopen('http://127.0.0.1:%d/never-answered', timeout=30)\n"
                    % (srv.port, sink.port))
        # (a program of one thread that had a SIGTERM handler once and put
        # the default back: the shim's handler takes it, and the program's
        # handlers, held off during the export, are not that one)
        had_one = ("import signal, urllib.request\n"
                   "signal.signal(signal.SIGTERM, lambda *a: None)\n"
                   "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
                   "urllib.request.urlopen('http://127.0.0.1:%d/first', timeout=30).read()\n"
                   "urllib.request.urlopen('http://127.0.0.1:%d/never-answered', timeout=30)\n"
                   % (srv.port, sink.port))
        cases = [("curl", signal.SIGINT, signal.SIGINT, None),
                 ("python3", signal.SIGTERM, signal.SIGHUP, [th.PY, "-c", threaded]),
                 ("python3-had-a-handler", signal.SIGTERM, signal.SIGTERM,
                  [th.PY, "-c", had_one])]
        for name, first, second, args in cases:
            with self.subTest(program=name, first=first.name, second=second.name):
                if args is None:
                    p, _ = self.curl_waiting_for_a_sink("impatient-" + name, **otlp)
                else:
                    seen = len(sink.conns)  # (the sink serves each case)
                    p = th.Proc(args, env=th.shim_env(name, self.spans_file, **otlp),
                                tmpdir=self.tmp, name="impatient-" + name)
                    self.addCleanup(p.stop)
                    sink.wait(lambda s: len(s.conns) > seen and
                              s.conns[-1].data.endswith(b"\r\n\r\n"), what="python's request")
                os.kill(p.pid, first)
                time.sleep(0.4)  # the export waits for the collector
                self.assertIsNone(p.poll(), "died before the export: " + p.describe())
                start = time.monotonic()
                os.kill(p.pid, second)
                p.wait(10, why=" after the second signal")
                self.assertEqual(p.returncode, -first, p.describe())
                self.assertLess(time.monotonic() - start, 1.0, p.describe())

    def test_sigterm_during_the_flush_before_an_exec(self):
        """SIGTERM while the process is inside the shim, in the flush before
        an exec (a collector that never answers holds it there): the death
        is put off, and carried out before the exec replaces the process,
        not lost with it (a timer would be: exec deletes them). Dies of the
        signal within a second, as untraced it dies at once; the command it
        was to execute never runs."""
        hole = th.listen_local()
        self.addCleanup(hole.close)
        held = []

        def accept_and_hold():
            while True:
                try:
                    c, _ = hole.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                held.append(c)

        t = threading.Thread(target=accept_and_hold, daemon=True)
        t.start()
        self.addCleanup(lambda: [c.close() for c in held])
        srv = self.recording_server()
        code = ("import os, sys, urllib.request\n"
                "urllib.request.urlopen('http://127.0.0.1:%d/before', timeout=10).read()\n"
                "print('exec', flush=True)\n"
                "os.execv('/bin/sh', ['sh', '-c', 'echo ran; sleep 5'])\n" % srv.port)
        env = th.shim_env("execer", self.spans_file, OTEL_BSP_SCHEDULE_DELAY=60000,
                          TRACESHIM_EXPORTER="otlp", TRACESHIM_EXIT_TIMEOUT=600,
                          OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d"
                          % hole.getsockname()[1])
        p = th.Proc([th.PY, "-c", code], env=env, tmpdir=self.tmp, name="execer")
        self.addCleanup(p.stop)
        p.wait_output(rb"exec\n")
        time.sleep(0.3)  # inside the flush, which waits for the collector
        start = time.monotonic()
        os.kill(p.pid, signal.SIGTERM)
        p.wait(10)
        self.assertEqual(p.returncode, -signal.SIGTERM, p.describe())
        self.assertLess(time.monotonic() - start, 1.0, p.describe())
        self.assertNotIn(b"ran", p.stdout(), p.describe())

    def test_init_of_a_pid_namespace_ignores_sigterm_from_outside(self):
        """A container's first process without a handler for SIGTERM is
        not ended by one from outside its namespace (docker stop waits, then
        sends SIGKILL): the shim installs no handler of its own there, one
        that would let the signal in."""
        unshare = th.require_tool("unshare")
        exe = self.compiled("signal_probe")
        srv = self.recording_server()
        probe = th.run([unshare, "-pf", "true"], env=th.clean_env(), tmpdir=self.tmp,
                       name="unshare-probe")
        if probe.returncode != 0:
            self.skipTest("no PID namespaces here: " + probe.describe())
        for traced in (False, True):
            with self.subTest(traced=traced):
                env = (th.shim_env("init", self.spans_file) if traced else th.clean_env())
                p = th.Proc([unshare, "-pf", exe, "wait", srv.port], env=env, tmpdir=self.tmp,
                            name="init")
                self.addCleanup(p.stop)
                p.wait_output(rb"ready 200\n")
                with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                    (init,) = [int(x) for x in f.read().split()]
                with open("/proc/%d/status" % init) as f:
                    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", f.read(), re.M).group(1), 16)
                self.assertFalse(caught & (1 << (signal.SIGTERM - 1)), "no handler for SIGTERM")
                os.kill(init, signal.SIGTERM)
                time.sleep(0.5)
                self.assertIsNone(p.poll(), "the namespace's init lives on\n" + p.describe())
                os.kill(init, signal.SIGKILL)
                p.wait(10)

    # ------------------------------------------------ 10. a server starts a program

    def served_child(self, how, threads=False):
        """A traced spawn_server.py (process spans on) runs curl while it
        serves a request that arrived with a traceparent: one server span,
        answered 200, and curl's process (through sh for system) under it.
        threads: the server serves each connection in a thread of its own."""
        backend = self.recording_server()
        srv = th.Proc([th.PY, os.path.join(th.APPS, "spawn_server.py"), "--port", "0"]
                      + (["--threads"] if threads else []),
                      env=th.shim_env("spawner", self.spans_file, TRACESHIM_PROCESS_SPANS=1),
                      tmpdir=self.tmp, name="spawn-server")
        self.addCleanup(srv.stop)
        port = int(srv.wait_output(rb"LISTENING (\d+)\n").group(1))
        trace, parent = os.urandom(16).hex(), os.urandom(8).hex()
        state = "vendor=%s" % os.urandom(4).hex()
        st, body = th.http_get(port, "/run?how=%s&url=http://127.0.0.1:%d/%s"
                               % (how, backend.port, how),
                               headers=[("traceparent", "00-%s-%s-01" % (trace, parent)),
                                        ("tracestate", state)])
        self.assertEqual((st, body), (200, b"ok"), srv.describe())
        shell = how in ("system", "popen")
        chain = 3 if shell else 2  # [sh,] curl process span, curl's client span
        th.wait_spans(self.spans_file, 1 + chain, procs=(srv,))
        self.assertEqual(srv.stop(), 0, srv.describe())
        spans = th.read_spans(self.spans_file)
        self.assertEqual(len({s["spanId"] for s in spans}), len(spans),
                         "no span id twice" + dump(spans))
        server = th.only([s for s in spans if s["kind"] == th.KIND_SERVER], "server span", spans)
        self.assertEqual((server["traceId"], server["parentSpanId"], server["pid"]),
                         (trace, parent, srv.pid), dump(spans))
        self.assertEqual((server["attrs"].get("http.response.status_code"), server["status"]),
                         (200, th.STATUS_UNSET), "the request was answered 200" + dump(spans))
        own = self.pspan(spans, "the server", lambda s: s["pid"] == srv.pid)
        self.assert_exit(own, 0, spans)
        top = self.pspan(spans, "the child", lambda s: s["pid"] != srv.pid and
                         s["attrs"].get("process.parent_pid") == srv.pid)
        self.assertEqual((top["traceId"], top["parentSpanId"]), (trace, server["spanId"]),
                         "the program started while serving hangs under the server span"
                         + dump(spans))
        curl = self.pspan(spans, "curl", lambda s: s["name"].startswith("curl "))
        if shell:
            self.assertTrue(top["name"].startswith("sh -c"), dump(spans))
            self.assertEqual(curl["parentSpanId"], top["spanId"], dump(spans))
        else:
            self.assertIs(curl, top, dump(spans))
        client = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client", spans)
        self.assertEqual(client["parentSpanId"], curl["spanId"], dump(spans))
        self.assertEqual(len(spans), 2 + chain, dump(spans))
        # the request's tracestate came along in the child's environment
        (conn,) = backend.wait_closed(1)
        _, headers, _ = th.parse_head(bytes(conn.data))
        self.assertEqual(th.header_values(headers, "tracestate"), [state], headers)

    def test_server_started_with_a_tracestate(self):
        """A server started with TRACEPARENT and TRACESTATE serves a request
        that carries no context: its span continues the process's trace, and
        the program it starts meanwhile gets the process's tracestate, which
        its own request carries."""
        backend = self.recording_server()
        trace, parent = os.urandom(16).hex(), os.urandom(8).hex()
        state = "inherited=%s" % os.urandom(4).hex()
        srv = th.Proc([th.PY, os.path.join(th.APPS, "spawn_server.py"), "--port", "0"],
                      env=th.shim_env("spawner", self.spans_file,
                                      TRACEPARENT="00-%s-%s-01" % (trace, parent),
                                      TRACESTATE=state),
                      tmpdir=self.tmp, name="spawn-server")
        self.addCleanup(srv.stop)
        port = int(srv.wait_output(rb"LISTENING (\d+)\n").group(1))
        st, body = th.http_get(port, "/run?how=spawn&url=http://127.0.0.1:%d/x" % backend.port)
        self.assertEqual((st, body), (200, b"ok"), srv.describe())
        th.wait_spans(self.spans_file, 2, procs=(srv,))
        self.assertEqual(srv.stop(), 0, srv.describe())
        spans = th.read_spans(self.spans_file)
        server = th.only([s for s in spans if s["kind"] == th.KIND_SERVER], "server span", spans)
        self.assertEqual((server["traceId"], server["parentSpanId"]), (trace, parent), dump(spans))
        (conn,) = backend.wait_closed(1)
        _, headers, _ = th.parse_head(bytes(conn.data))
        self.assertEqual(th.header_values(headers, "tracestate"), [state], headers)
        tp = th.header_values(headers, "traceparent")
        self.assertEqual(len(tp), 1, headers)
        self.assertTrue(tp[0].startswith("00-%s-" % trace), headers)

    def test_server_starts_posix_spawn(self):
        self.served_child("spawn")

    def test_server_starts_system(self):
        self.served_child("system")

    def test_threaded_server_starts_system(self):
        """system() from a request's thread while the server's main thread
        waits for the next connection: glibc's shell would inherit the
        process's environment (the request's context can reach it only
        through environ, which is the whole process's); the shim starts
        the shell itself, with TRACEPARENT."""
        self.served_child("system", threads=True)

    def test_server_starts_popen(self):
        self.served_child("popen")

    def test_threaded_server_starts_popen(self):
        """popen() from a request's thread: as with system(), the shim
        starts the shell itself, with TRACEPARENT; glibc's would inherit
        the process's environment (the shim changed environ for the call
        only in a process with no other thread), and curl's span would
        start a trace of its own."""
        self.served_child("popen", threads=True)

    def test_system_as_the_c_library_does(self):
        """The shim's system() against glibc's, the same program untraced
        and traced, calls from threads (apps/system_semantics.c): the
        statuses, SIGINT and SIGQUIT ignored while any call waits (two at
        once: the last to return puts them back), the shell's mask and
        signal defaults, a cancelled call's shell killed and reaped, the
        program's handler kept; a call on a small stack and on a signal
        handler's alternate stack; the errno a SIGCHLD handler leaves."""
        exe = self.compiled("system_semantics")
        # the small stack: 16 KiB, what glibc's system fits in with room
        # to spare (the shim's once took 8.8 KB more there and crashed);
        # sanitizers need far more of any stack
        kib = "128" if th.PRELOAD_FIRST else "16"
        runs = {}
        for how in ("untraced", "traced"):
            work = os.path.join(self.tmp, how)
            os.makedirs(work)
            if how == "untraced":
                p = th.run([exe, work, kib], env=th.clean_env(), tmpdir=self.tmp, name=how,
                           timeout=30)
            else:
                p = self.launch([exe, work, kib], "system_semantics", timeout=30)
            self.assertEqual(p.returncode, 0, p.describe())
            runs[how] = p.stdout().decode()
        lines = runs["untraced"].splitlines()
        self.assertEqual(lines[:5], ["null 1", "exit exited:3", "interrupts exited:4 0",
                                     "shell default default", "ignored default ignored"],
                         runs["untraced"])
        self.assertEqual(lines[5:], ["killed signalled:15", "overlap exited:5 exited:6 0",
                                     "cancel canceled gone", "kept handler default",
                                     "small exited:3", "handler exited:4",
                                     "errno exited:5 ECHILD"],
                         runs["untraced"])
        self.assertEqual(runs["traced"], runs["untraced"], "the shim's system is glibc's")

    def assert_python_keeps_its_span(self, code, name):
        """python3 -c CODE WORKDIR, traced, exits 3 (once its failed execs
        are through), and its process span, the one span, says so."""
        work = os.path.join(self.tmp, "exec-" + name)
        p = self.launch([th.PY, "-c", code, work], "python-exec-" + name)
        self.assertEqual(p.returncode, 3, p.describe())
        spans = self.final_spans(1)
        own = th.only(self.process_spans(spans), "the process span", spans)
        self.assert_exit(own, 3, spans)
        self.assertEqual(len(spans), 1, dump(spans))

    def test_an_exec_of_nothing_leaves_the_process_span(self):
        """Python's os.execvp tries each PATH directory with execve, and a
        program may exec a path that is not there and go on: such an exec
        replaces nothing, so the process span goes on to the exit, with
        its code (the first miss ended it, with no exit code). The same for
        a file it may not execute and a directory of the command's name;
        and for execveat's misses (through ctypes) relative to a
        directory's fd: no such file, one not executable, a symbolic link
        to /bin/true with AT_SYMLINK_NOFOLLOW (ELOOP), a closed fd
        (EBADF). And the execs the kernel refuses with EFAULT: a path NULL
        or at 8 (execve, execveat), an environment at 8."""
        code = ("import ctypes, os, sys\n"
                "d = sys.argv[1]\n"
                "os.makedirs(d + '/plain'); os.makedirs(d + '/dir/tool')\n"
                "open(d + '/plain/tool', 'w').close()  # not executable\n"
                "os.symlink('/bin/true', d + '/plain/link')\n"
                "os.environ['PATH'] = d + '/plain:' + d + '/dir'\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "argv = (ctypes.c_char_p * 2)(b'x', None)\n"
                "dfd = os.open(d + '/plain', os.O_RDONLY | os.O_DIRECTORY)\n"
                "def at(fd, name, flags, err):\n"
                "    r = libc.execveat(fd, name, argv, argv, flags)\n"
                "    if (r, ctypes.get_errno()) != (-1, err):\n"
                "        sys.exit('execveat %s: %d %d' % (name, r, ctypes.get_errno()))\n"
                "def efault(r):\n"
                "    if (r, ctypes.get_errno()) != (-1, 14):\n"
                "        sys.exit('not EFAULT: %d %d' % (r, ctypes.get_errno()))\n"
                "at8 = ctypes.c_void_p(8)\n"
                "for call in (lambda: os.execvp('no-such-command-here', ['x']),\n"
                "             lambda: os.execv('/no/such/dir/prog', ['x']),\n"
                "             lambda: os.execvp('tool', ['tool']),\n"
                "             lambda: os.execv(d + '/plain/tool', ['x']),\n"
                "             lambda: at(dfd, b'no-such', 0, 2),  # ENOENT\n"
                "             lambda: at(dfd, b'tool', 0, 13),  # EACCES\n"
                "             lambda: at(dfd, b'link', 0x100, 40),  # ELOOP\n"
                "             lambda: at(4000, b'tool', 0, 9),  # EBADF\n"
                "             lambda: efault(libc.execve(None, argv, argv)),\n"
                "             lambda: efault(libc.execve(at8, argv, argv)),\n"
                "             lambda: efault(libc.execve(b'/bin/true', argv, at8)),\n"
                "             lambda: efault(libc.execveat(-100, None, argv, argv, 0)),\n"
                "             lambda: efault(libc.execveat(-100, at8, argv, argv, 0x1000))):\n"
                "    try:\n"
                "        call()\n"
                "    except OSError:\n"
                "        pass\n"
                "sys.exit(3)\n")
        self.assert_python_keeps_its_span(code, "nothing")

    def test_an_exec_certain_to_fail_leaves_the_process_span(self):
        """execveat and fexecve calls the kernel or glibc refuse before they
        replace anything keep the process span to the exit, with its code
        (each ended it, with no exit code): flags execveat does not know
        (EINVAL); AT_EMPTY_PATH on a closed fd (EBADF), on AT_FDCWD (the
        working directory: EACCES), on an O_PATH fd of a file not
        executable (EACCES), on an O_CLOEXEC fd of a #! script (the
        interpreter could not open /dev/fd/N: ENOENT); a #! script by
        name relative to an O_CLOEXEC directory fd (the same, ENOENT); and
        fexecve of a closed fd (EBADF), -1 (EINVAL), an O_PATH fd not
        executable and an O_CLOEXEC fd of a #! script, and with argv or
        the environment NULL (glibc's EINVAL)."""
        code = ("import ctypes, os, sys\n"
                "d = sys.argv[1]\n"
                "os.makedirs(d)\n"
                "open(d + '/plain', 'w').close()  # not executable\n"
                "with open(d + '/script', 'w') as f:\n"
                "    f.write('#!/bin/sh\\nexit 0\\n')\n"
                "os.chmod(d + '/script', 0o755)\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "argv = (ctypes.c_char_p * 2)(b'x', None)\n"
                "def fails(what, r, err):\n"
                "    if (r, ctypes.get_errno()) != (-1, err):\n"
                "        sys.exit('%s: %d %d' % (what, r, ctypes.get_errno()))\n"
                "EMPTY = 0x1000\n"
                "plain = os.open(d + '/plain', os.O_PATH)  # (O_CLOEXEC: Python's)\n"
                "script = os.open(d + '/script', os.O_RDONLY)\n"
                "dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)\n"
                "fails('flags', libc.execveat(-100, b'/bin/true', argv, argv, 0x200), 22)\n"
                "fails('closed', libc.execveat(4000, b'', argv, argv, EMPTY), 9)\n"
                "fails('cwd', libc.execveat(-100, b'', argv, argv, EMPTY), 13)\n"
                "fails('O_PATH', libc.execveat(plain, b'', argv, argv, EMPTY), 13)\n"
                "fails('script', libc.execveat(script, b'', argv, argv, EMPTY), 2)\n"
                "fails('in dir', libc.execveat(dfd, b'script', argv, argv, 0), 2)\n"
                "fails('fexecve closed', libc.fexecve(4000, argv, argv), 9)\n"
                "fails('fexecve -1', libc.fexecve(-1, argv, argv), 22)\n"
                "fails('fexecve O_PATH', libc.fexecve(plain, argv, argv), 13)\n"
                "fails('fexecve script', libc.fexecve(script, argv, argv), 2)\n"
                "prog = os.open('/bin/true', os.O_RDONLY)\n"
                "fails('fexecve NULL argv', libc.fexecve(prog, None, argv), 22)\n"
                "fails('fexecve NULL env', libc.fexecve(prog, argv, None), 22)\n"
                "sys.exit(3)\n")
        self.assert_python_keeps_its_span(code, "fails")

    def test_popen_as_the_c_library_does(self):
        """The shim's popen() and pclose() against glibc's, the same
        program untraced and traced, a second thread running
        (apps/popen_semantics.c): reading and writing, the statuses (of
        pclose, and of an fclose of such a stream), the modes refused, the
        "e" mode's close-on-exec, an earlier stream's pipe closed in a
        later shell, a shell started with fd 0 closed, and pclose of a
        stream popen did not make."""
        exe = self.compiled("popen_semantics")
        runs = {}
        for how in ("untraced", "traced"):
            work = os.path.join(self.tmp, how)
            os.makedirs(work)
            if how == "untraced":
                p = th.run([exe, work], env=th.clean_env(), tmpdir=self.tmp, name=how,
                           timeout=30)
            else:
                p = self.launch([exe, work], "popen_semantics", timeout=30)
            self.assertEqual(p.returncode, 0, p.describe())
            runs[how] = p.stdout().decode()
        self.assertEqual(runs["untraced"].splitlines(),
                         ["read 0 hi", "write 0 data", "status 3", "fclose 5",
                          "modes 22 22 22 0", "cloexec 1 0", "others closed", "stdin 7",
                          "plain 0"], runs["untraced"])
        self.assertEqual(runs["traced"], runs["untraced"], "the shim's popen is glibc's")

    def test_server_starts_subprocess_vfork(self):
        self.served_child("vfork")

    def test_server_starts_subprocess_fork(self):
        self.served_child("fork")

    # ------------------------------------------------ 13. B3 through an exec

    def b3_through_exec(self, how, trace, decision, process_spans):
        """A traced spawn_server.py serves a request with B3 headers (trace
        id TRACE, the decision line DECISION) and runs curl (HOW)
        meanwhile, its spans to a file and to a Zipkin collector. curl's
        request carries its client span's ids in X-B3-* with TRACE as it
        came, and in traceparent (32 digits). Returns (the head curl sent,
        the file's spans, Zipkin's spans by id)."""
        self.spans_file = os.path.join(self.tmp, "%s.jsonl" % how)
        backend, zipkin = self.recording_server(), bk.Collector([202])
        self.addCleanup(zipkin.close)
        srv = th.Proc([th.PY, os.path.join(th.APPS, "spawn_server.py"), "--port", "0"],
                      env=th.shim_env("spawner", self.spans_file,
                                      TRACESHIM_PROCESS_SPANS=int(process_spans),
                                      TRACESHIM_EXPORTER="file,zipkin",
                                      OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:%d/api/v2/"
                                      "spans" % zipkin.port),
                      tmpdir=self.tmp, name="spawn-server")
        self.addCleanup(srv.stop)
        port = int(srv.wait_output(rb"LISTENING (\d+)\n").group(1))
        inbound = [("X-B3-TraceId", trace), ("X-B3-SpanId", os.urandom(8).hex()), decision]
        st, body = th.http_get(port, "/run?how=%s&url=http://127.0.0.1:%d/down" % (how, backend.port),
                               headers=inbound)
        self.assertEqual((st, body), (200, b"ok"), srv.describe())
        (conn,) = backend.wait_closed(1)
        head = bytes(conn.data)
        # the server's span and curl's client span (and curl's process span)
        th.wait_spans(self.spans_file, 3 if process_spans else 2, procs=(srv,))
        self.assertEqual(srv.stop(), 0, srv.describe())
        spans = th.read_spans(self.spans_file)
        client = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client", spans)
        self.assertEqual(client["traceId"], trace.rjust(32, "0"), dump(spans))
        ids = (trace.encode(), client["spanId"].encode())
        self.assertIn(b"\r\nX-B3-TraceId: %s\r\nX-B3-SpanId: %s\r\n" % ids, head)
        self.assertIn(b"\r\ntraceparent: 00-%s-%s-01\r\n" % (ids[0].rjust(32, b"0"), ids[1]), head)
        zspans = {}
        for _, _, zbody in zipkin.requests():
            zspans.update((z["id"], z) for z in json.loads(zbody))
        self.assertEqual(set(zspans), {s["spanId"] for s in spans}, dump(spans))
        return head, spans, zspans

    def test_b3_debug_flag_reaches_an_execd_program(self):
        """A request served with X-B3-Flags: 1 whose handler runs curl: curl
        sends X-B3-Flags: 1 (no X-B3-Sampled), as the server's own call
        would, and its client span is a debug span; with process spans on,
        curl's process span too. The shim once handed the child
        TRACEPARENT alone, whose flags say sampled and nothing more."""
        for how, pspans in (("vfork", False), ("spawn", True), ("system", False)):
            with self.subTest(how=how, process_spans=pspans):
                trace = os.urandom(16).hex()
                head, spans, zspans = self.b3_through_exec(how, trace, ("X-B3-Flags", "1"), pspans)
                self.assertIn(b"\r\nX-B3-Flags: 1\r\n", head)
                self.assertNotIn(b"X-B3-Sampled", head)
                for s in spans:
                    if s["traceId"] == trace:
                        self.assertIs(zspans[s["spanId"]].get("debug"), True,
                                      "%r is a debug span" % s["name"] + dump(spans))

    def test_64_bit_b3_trace_id_reaches_an_execd_program(self):
        """A request with a 64-bit X-B3-TraceId (16 digits) whose handler
        runs curl: curl sends the same 16 digits, as the server's own call
        would (the traceparent, which has no other way, 32 with zeros on
        the left). The shim once handed the child TRACEPARENT alone, and
        curl sent X-B3-TraceId with 32 digits."""
        for how, pspans in (("vfork", True), ("spawn", False)):
            with self.subTest(how=how, process_spans=pspans):
                head, spans, zspans = self.b3_through_exec(how, os.urandom(8).hex(),
                                                           ("X-B3-Sampled", "1"), pspans)
                self.assertIn(b"\r\nX-B3-Sampled: 1\r\n", head)
                self.assertNotIn(b"X-B3-Flags", head)
                for s in spans:
                    self.assertNotIn("debug", zspans[s["spanId"]], dump(spans))


if __name__ == "__main__":
    th.main()
