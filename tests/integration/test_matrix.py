"""test_matrix.py — the compatibility matrix (issue 4): real programs, unchanged.

Each test is one row of the table in README.md ("Compatibility matrix"): a
program runs under the shim with the same stdout and exit status as without
it (an untraced run of the same client against an untraced copy of the same
server), and its requests make the expected spans: one trace id per request
chain, exact parent span ids, kinds CLIENT=3 / SERVER=2, and
http.response.status_code on every span.

  clients:  curl, wget, python urllib, python http.client, python urllib3
            (a pooled connection, a chunked upload from a generator), node http,
            ruby net/http, git (libcurl: a chunked POST, protocol v2),
            apt's http method (as _apt; pipelined requests; its end: stdin
            closed, then SIGINT, whose handler calls _exit; under its own
            seccomp filter)
            closed, then SIGINT, whose handler calls _exit)
            ruby net/http, perl HTTP::Tiny
  servers:  python ThreadingHTTPServer (also calling downstream; a 1.5 MiB
            POST with Expect: 100-continue), node http (also calling
            downstream; chunked both ways), nginx static (writev + sendfile,
            and its own 404 page), nginx reverse proxy with a keep-alive
            upstream (also a request body buffered to a temp file),
            Apache 2.4 as Debian runs it (event MPM, children as www-data):
            static files (mmap + writev, and sendfile) and a reverse proxy
            (mod_proxy_http, keep-alive upstream, a 100 KB POST), and
            git-http-backend as its CGI program (mod_cgid), python's
            SimpleHTTPRequestHandler with keep-alive (apt's repository)
            (mod_proxy_http, keep-alive upstream, a 100 KB POST);
            squid as a forward proxy (-N: absolute-form targets, a chain
            through it, a CONNECT tunnel to a TLS server left alone) and as
            Debian's squid.service starts it (--foreground: its worker,
            started in secure execution, runs without the shim; the chain
            goes through it); lighttpd static (sendfile, writev) and a
            reverse proxy (mod_proxy, a 100 KB POST); gunicorn (2 sync
            workers) whose WSGI app calls downstream with urllib (also
            gunicorn itself: the other worker answers), a file by sendfile;
            php -S whose router calls downstream with PHP's http:// stream
            wrapper (also a 100 KB POST)
  untraced: redis-server + redis-cli (not HTTP: no spans, bytes untouched)
  interop:  an OpenTelemetry JS service (B3 propagator, not under the shim)
            in the middle of a traced chain (needs the npm peers, see
            tests/peers/setup.sh; missing peers fail the test, never skip it)
  load:     200 concurrent keep-alive connections x 3 requests through nginx
            (upstream keepalive) to a traced node server: 600 exact chains

Every process binds to 127.0.0.1 only, ports are picked at run time, every
process is stopped (also on failure), and every wait is bounded.
"""

import gzip
import json
import os
import pwd
import random
import re
import signal
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402
import backends  # noqa: E402

NODE = "/usr/bin/node"
NGINX = "/usr/sbin/nginx"
HAPROXY = "/usr/sbin/haproxy"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
GIT = "/usr/bin/git"
GIT_HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
APT_FTPARCHIVE = "/usr/bin/apt-ftparchive"
# start_apache's apache2.conf; mod_unixd (User, Group) and mod_log_config are
# built into Debian's apache2, and start_apache loads mod_authz_core, which
# Debian enables (without it every request is a 500: AH00025 "couldn't check
# user"). The MPM's numbers are Debian's mpm_event.conf.
APACHE_CONF = """\
ServerRoot %(d)s
ServerName localhost
%(modules)s
User www-data
Group www-data
Listen 127.0.0.1:%(port)d
PidFile %(d)s/apache2.pid
DefaultRuntimeDir %(d)s
ErrorLog %(d)s/error.log
LogLevel warn
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
%(conf)s"""
SQUID = "/usr/sbin/squid"
# start_squid's squid.conf: nothing outside its folder, a listener on
# 127.0.0.1 only, its UDP socket (DNS) on 127.0.0.1 and no name server but
# 127.0.0.1 (the tests' URLs name addresses: nothing is looked up), no cache
# (no cache_dir: none on disk; cache deny all: none in memory either), every
# client allowed (CONNECT to any port too), and no wait for connections to
# end at a shutdown (squid still takes about 1.5 s to stop).
SQUID_CONF = """\
http_port 127.0.0.1:%(port)d
visible_hostname localhost
pid_filename %(d)s/squid.pid
cache_log %(d)s/error.log
access_log stdio:%(d)s/access.log
cache_store_log none
coredump_dir %(d)s
cache deny all
http_access allow all
pinger_enable off
udp_incoming_address 127.0.0.1
udp_outgoing_address 127.0.0.1
dns_nameservers 127.0.0.1
shutdown_lifetime 0 seconds
"""
LIGHTTPD = "/usr/sbin/lighttpd"
# start_lighttpd's lighttpd.conf: Debian's user and group, a listener on
# 127.0.0.1 only, the error log and the request bodies it buffers (over
# 64 KiB: server.upload-dirs) in its folder.
LIGHTTPD_CONF = """\
server.modules = (%(modules)s)
server.document-root = "%(root)s"
server.bind = "127.0.0.1"
server.port = %(port)d
server.errorlog = "%(d)s/error.log"
server.upload-dirs = ("%(d)s")
server.username = "www-data"
server.groupname = "www-data"
mimetype.assign = (".txt" => "text/plain", ".bin" => "application/octet-stream")
%(conf)s"""
GUNICORN = "/usr/lib/python3/dist-packages/gunicorn/__init__.py"  # python3-gunicorn
PHP = "/usr/bin/php"
PERL = "/usr/bin/perl"
C, S = th.KIND_CLIENT, th.KIND_SERVER


def code(span):
    return span["attrs"].get("http.response.status_code")


def require_exe(path, package):
    """The matrix lists these programs: a missing one is a failure, not a skip."""
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not found: install %s (bash scripts/install-deps.sh)"
                             % (path, package))
    return path


OTEL_MODULES = ("api", "sdk-trace-node", "sdk-trace-base", "resources", "instrumentation",
                "instrumentation-http", "propagator-b3")


def require_otel_peers():
    """node_modules of the OpenTelemetry JS SDK in the peers dir, or a failure
    (never a skip) saying how to get it — as backends.require_peers does."""
    nm = os.path.join(backends.PEERS, "node_modules")
    missing = [m for m in OTEL_MODULES
               if not os.path.isfile(os.path.join(nm, "@opentelemetry", m, "package.json"))]
    if missing:
        raise AssertionError(
            "the OpenTelemetry JS peers are missing in %s (%s): run "
            "`bash tests/peers/setup.sh %s` (scripts/test.sh does)"
            % (nm, ", ".join("@opentelemetry/" + m for m in missing), backends.PEERS))
    return nm


class MatrixTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.curl = th.require_tool("curl")

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.procs = []  # every process started, for failure messages

    # ------------------------------------------------------------------
    # processes

    def env(self, service, traced, **extra):
        if traced:
            return th.shim_env(service, self.spans_file, **extra)
        return th.clean_env(**extra)

    def start_server(self, argv, service, traced=True, env_extra=None):
        """Start a server that prints "LISTENING <port>"; returns (proc, port)."""
        name = service if traced else service + "-untraced"
        p = th.Proc(argv, env=self.env(service, traced, **(env_extra or {})), tmpdir=self.tmp,
                    name=name)
        self.addCleanup(p.stop)
        self.procs.append(p)
        m = p.wait_output(rb"LISTENING (\d+)\n", timeout=10)
        return p, int(m.group(1))

    def py_server(self, service, traced=True):
        return self.start_server([th.PY, os.path.join(th.APPS, "httpapp.py"), "--port", "0"],
                                 service, traced)

    def node_server(self, service, traced=True, env_extra=None):
        require_exe(NODE, "nodejs")
        return self.start_server([NODE, os.path.join(th.APPS, "node_server.js"), "0"],
                                 service, traced, env_extra)

    def py_servers(self, service):
        """A traced and an untraced apps/httpapp.py: (traced proc, its port,
        the untraced one's port)."""
        srv, port = self.py_server(service)
        _, plain_port = self.py_server(service, traced=False)
        return srv, port, plain_port

    def chain_servers(self, start, a_service, b_service):
        """B, then A, traced, then the same untraced, each started by start
        (py_server or node_server): (A, B, A's port, the untraced A's port,
        {A's port: its B's port} for both pairs)."""
        b, b_port = start(b_service)
        a, a_port = start(a_service)
        _, pb_port = start(b_service, traced=False)
        _, pa_port = start(a_service, traced=False)
        return a, b, a_port, pa_port, {a_port: b_port, pa_port: pb_port}

    def curl_argv(self, *args):
        """curl, quiet but for errors, 10 s at the most, then args."""
        return [self.curl, "-q", "-sS", "--max-time", "10"] + list(args)

    def next_to_a_file(self, out, port, name, *args):
        """curl's arguments for a last transfer (args: its options and URL)
        against the server at port, its body to a file of its own (NAME-PORT,
        noted in out[port]), its status on a line of stdout."""
        out[port] = os.path.join(self.tmp, "%s-%d" % (name, port))
        return ["--next", "-sS", "--max-time", "10", "-o", out[port], "-w", "%{http_code}\n",
                *args]

    def assert_both_files_are(self, body, out, port, plain_port, what, server):
        """The files of next_to_a_file, from the traced server (port) and the
        untraced one, each hold body byte for byte."""
        for q in (port, plain_port):
            with open(out[q], "rb") as f:
                got = f.read()
            self.assertTrue(got == body, "%s from the %s %s differs: %s"
                            % (what, "traced" if q == port else "untraced", server,
                               th.diff_bytes(body, got, full=False)))

    def run_client(self, argv, service, traced=True, timeout=20, stdin=None, env_extra=None,
                   cwd=None):
        name = service if traced else service + "-untraced"
        p = th.run(argv, env=self.env(service, traced, **(env_extra or {})), tmpdir=self.tmp,
                   name=name, timeout=timeout, stdin=stdin, cwd=cwd)
        self.procs.append(p)
        return p

    def same_as_untraced(self, make_argv, traced_port, untraced_port, service, want_rc=0,
                         cwd_of=None, ports_named=False, **kw):
        """Run the client untraced against untraced_port and traced against
        traced_port; stdout and exit status must be the same (and the exit
        status want_rc). cwd_of(port): the folder each runs in.
        ports_named: the output names the server's port, written PORT in
        both before they are compared (stderr too, which then must also be
        the same). Returns the traced run."""
        runs = [self.run_client(make_argv(port), service, traced=traced,
                                cwd=cwd_of(port) if cwd_of else None, **kw)
                for port, traced in ((untraced_port, False), (traced_port, True))]
        plain, traced = runs

        def out(p, port, read):
            return read(p).replace(str(port).encode(), b"PORT") if ports_named else read(p)
        self.assertEqual(plain.returncode, want_rc, "untraced %s: unexpected exit status\n%s"
                         % (service, plain.describe()))
        self.assertEqual(traced.returncode, plain.returncode,
                         "%s exits %s under the shim, %s without it\n%s"
                         % (service, traced.returncode, plain.returncode, traced.describe()))
        for what, read in (("stdout", th.Proc.stdout),) + (
                (("stderr", th.Proc.stderr),) if ports_named else ()):
            want, got = out(plain, untraced_port, read), out(traced, traced_port, read)
            self.assertEqual(got, want, "%s's %s differs under the shim: %s\n%s"
                             % (service, what, th.diff_bytes(want, got), traced.describe()))
        return traced

    def final_spans(self, count, servers, timeout=None, log_dir=None):
        """Wait for `count` spans, stop the traced servers (each must exit
        0), then return exactly the spans of the final file. log_dir: the
        folder of a server (start_nginx, start_apache) whose error.log a
        failure shows."""
        try:
            th.wait_spans(self.spans_file, count, timeout=timeout, procs=self.procs)
            for p in servers:
                status = p.stop()
                self.assertEqual(status, 0, "%s did not exit cleanly on SIGTERM\n%s"
                                 % (p.name, p.describe()))
            spans = th.read_spans(self.spans_file, strict=True)
            self.assertEqual(len(spans), count, "expected exactly %d spans:\n%s"
                             % (count, th.format_spans(spans)))
        except AssertionError as e:
            if log_dir is None:
                raise
            raise AssertionError("%s\n%s's error.log:\n%s"
                                 % (e, os.path.basename(log_dir), self.error_log(log_dir)))
        return spans

    @staticmethod
    def error_log(d, limit=3000):
        """The error.log in a server's folder d: its last `limit`
        characters, all of it with None."""
        try:
            with open(os.path.join(d, "error.log"), errors="replace") as f:
                return f.read()[-limit if limit else 0:]
        except OSError:
            return "(none)"

    # ------------------------------------------------------------------
    # trace shape

    def chains(self, spans, shape):
        """Group spans by trace; every trace must be exactly `shape`, a list
        of (service, kind), each span the child of the one before (the first
        a root). Returns a list of traces, each a list of spans in chain
        order, sorted by the first span's start."""
        dump = "\n" + th.format_spans(spans)
        by_trace = {}
        for s in spans:
            by_trace.setdefault(s["traceId"], []).append(s)
        out = []
        for tid, group in by_trace.items():
            chain = []
            for service, kind in shape:
                chain.append(th.only([s for s in group if s["service"] == service
                                      and s["kind"] == kind],
                                     "span of %s kind %d in trace %s" % (service, kind, tid),
                                     spans))
            self.assertEqual(len(group), len(shape), "trace %s has extra spans%s" % (tid, dump))
            self.assertIsNone(chain[0]["parentSpanId"],
                              "%s's span must be a root" % shape[0][0] + dump)
            for parent, child in zip(chain, chain[1:]):
                self.assertEqual(child["parentSpanId"], parent["spanId"],
                                 "the parent of %s's %s span must be %s's %s span %s%s"
                                 % (child["service"], "CLIENT" if child["kind"] == C else "SERVER",
                                    parent["service"],
                                    "CLIENT" if parent["kind"] == C else "SERVER",
                                    parent["spanId"], dump))
            out.append(chain)
        out.sort(key=lambda ch: ch[0]["start"])
        return out

    def check_statuses(self, chain, want):
        self.assertEqual([code(s) for s in chain], want,
                         "http.response.status_code along the chain\n"
                         + th.format_spans(chain))
        for s in chain:  # no connection error: an error status's code alone
            self.assertEqual(s["attrs"].get("error.type"), th.status_error_type(s),
                             "error.type\n" + th.format_spans([s]))

    def client_server_rows(self, client_service, server_service, requests, spans):
        """`requests`: [(name, status)] in the order sent; each a trace of a
        client span (root) and the server span, its child."""
        traces = self.chains(spans, [(client_service, C), (server_service, S)])
        self.assertEqual(len(traces), len(requests),
                         "one trace per request\n" + th.format_spans(spans))
        for (cli, srv), (name, status) in zip(traces, requests):
            self.assertEqual((cli["name"], srv["name"]), (name, name),
                             th.format_spans([cli, srv]))
            self.check_statuses([cli, srv], [status, status])
            self.assertEqual(cli["status"], th.STATUS_ERROR if status >= 400 else th.STATUS_UNSET,
                             th.format_spans([cli]))
        return traces

    def body_file(self, seed, size):
        """size random bytes (from seed) in a file body.bin in self.tmp: (bytes, path)."""
        body = random.Random(seed).randbytes(size)
        path = os.path.join(self.tmp, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        return body, path

    def curl_post_echo(self, port, plain_port, seed, size):
        """curl POSTs size random bytes (from seed) to /echo-body, traced at
        port and untraced at plain_port (same_as_untraced); the echo is byte
        for byte the same."""
        body, path = self.body_file(seed, size)
        p = self.same_as_untraced(
            lambda p: self.curl_argv("--data-binary", "@" + path,
                                     "-H", "Content-Type: application/octet-stream",
                                     "http://127.0.0.1:%d/echo-body" % p),
            port, plain_port, "curl")
        self.assertTrue(p.stdout() == body, "echoed body differs: %s"
                        % th.diff_bytes(body, p.stdout(), full=False))

    def client_row(self, service, make_argv, requests, stdout=None, want_rc=0):
        """A client against the python server: make_argv(port) run untraced
        and traced (same_as_untraced), its stdout (unless None), then a
        trace of a client span and a server span per request of `requests`
        (client_server_rows). Returns (the traced run, the traces)."""
        srv, port, plain_port = self.py_servers("py-server")
        p = self.same_as_untraced(make_argv, port, plain_port, service, want_rc=want_rc)
        if stdout is not None:
            self.assertEqual(p.stdout(), stdout)
        spans = self.final_spans(2 * len(requests), [srv])
        return p, self.client_server_rows(service, "py-server", requests, spans)

    # ------------------------------------------------------------------
    # row 1: curl

    def test_curl_client(self):
        """curl (two URLs: one keep-alive connection) -> python server."""
        curl, traces = self.client_row(
            "curl", lambda p: self.curl_argv("-w", "\n%{http_code} %{num_connects}\n",
                                             "http://127.0.0.1:%d/ok" % p,
                                             "http://127.0.0.1:%d/missing" % p),
            [("GET /ok", 200), ("GET /missing", 404)], b"ok\n200 1\nmissing\n404 0\n")
        self.assertEqual(traces[0][0]["pid"], curl.pid)

    def test_curl_client_other_method(self):
        """curl -X QUERY (a method RFC 9110 does not name): traced on both
        sides as _OTHER, one trace; the python server answers 501. (The
        client's request used to go untraced, the server's span beginning a
        trace of its own.)"""
        self.client_row(
            "curl", lambda p: self.curl_argv("-X", "QUERY", "-o", "/dev/null", "-w",
                                             "%{http_code}\n", "http://127.0.0.1:%d/ok" % p),
            [("HTTP /ok", 501)], b"501\n")

    # ------------------------------------------------------------------
    # row 2: wget

    def test_wget_client(self):
        """wget (two URLs; a 404 is exit status 8 with and without the shim)."""
        wget = th.require_tool("wget")
        self.client_row(
            "wget", lambda p: [wget, "--no-config", "-q", "--no-proxy", "--tries=1",
                               "--timeout=10", "-O", "-", "http://127.0.0.1:%d/ok" % p,
                               "http://127.0.0.1:%d/missing" % p],
            [("GET /ok", 200), ("GET /missing", 404)], want_rc=8)

    # ------------------------------------------------------------------
    # row 3: python clients

    def test_python_urllib_client(self):
        self.client_row(
            "urllib", lambda p: [th.PY, os.path.join(th.APPS, "urllib_client.py"),
                                 "http://127.0.0.1:%d" % p],
            [("GET /ok", 200), ("GET /missing", 404), ("POST /echo-body", 200)],
            b"200 ok\n404 missing\n200 hello from urllib\n")

    def test_python_http_client_client(self):
        self.client_row(
            "http.client", lambda p: [th.PY, os.path.join(th.APPS, "httpclient_client.py"), str(p)],
            [("GET /ok", 200), ("POST /echo-body", 200), ("GET /missing", 404)],
            b"200 ok\n200 hello from http.client\n404 missing\n")

    def test_python_urllib3_client(self):
        """urllib3 (requests' engine): a pool of one keep-alive connection,
        a 404, a chunked upload from a generator (each chunk's size line,
        data and CRLF a send of their own), a 100 KB body, a streamed
        response. Unchanged; a chain per request, all on one connection."""
        if not os.path.isfile("/usr/lib/python3/dist-packages/urllib3/__init__.py"):
            raise AssertionError("urllib3 not found: install python3-urllib3 "
                                 "(bash scripts/install-deps.sh)")
        _, traces = self.client_row(
            "urllib3", lambda p: [th.PY, os.path.join(th.APPS, "urllib3_client.py"), str(p)],
            [("GET /ok", 200), ("GET /missing", 404), ("POST /echo-body", 200),
             ("POST /echo-body", 200), ("GET /ok", 200)],
            b"200 ok 2\n404 missing 7\n200 part 0;part 1;part 2;part 3;part 4; 35\n"
            b"200 " + b"x" * 40 + b" 100000\n200 ok 2\nconnections 1\n")
        self.assertEqual(len({srv["attrs"].get("network.peer.port") for _, srv in traces}), 1,
                         "one connection\n" + th.format_spans([s for t in traces for s in t]))

    # ------------------------------------------------------------------
    # row 4: python ThreadingHTTPServer

    def test_python_server_chain(self):
        """curl -> A /call?to=B -> B, A and B python ThreadingHTTPServer."""
        a, b, a_port, pa_port, ports = self.chain_servers(self.py_server, "py-a", "py-b")
        self.same_as_untraced(
            lambda p: self.curl_argv(
                "-w", "\n%{http_code}\n",
                "http://127.0.0.1:%d/call?to=%d&path=/missing" % (p, ports[p])),
            a_port, pa_port, "curl")
        spans = self.final_spans(4, [a, b])
        chain, = self.chains(spans, [("curl", C), ("py-a", S), ("py-a", C), ("py-b", S)])
        self.check_statuses(chain, [200, 200, 404, 404])
        self.assertEqual([s["name"] for s in chain],
                         ["GET /call", "GET /call", "GET /missing", "GET /missing"])

    def test_python_server_large_post(self):
        """curl POSTs 1.5 MiB (over curl 7.88's 1 MiB threshold: Expect:
        100-continue, and the server's 100 Continue comes before its 200);
        the echoed body is byte for byte the same."""
        srv, port, plain_port = self.py_servers("py-server")
        self.curl_post_echo(port, plain_port, 4, 1536 * 1024)
        spans = self.final_spans(2, [srv])
        self.client_server_rows("curl", "py-server", [("POST /echo-body", 200)], spans)

    # ------------------------------------------------------------------
    # row 5: node http server and client

    def test_node_client(self):
        """node http.get with a keep-alive agent -> python server."""
        require_exe(NODE, "nodejs")
        self.client_row(
            "node-client", lambda p: [NODE, os.path.join(th.APPS, "node_client.js"),
                                      "http://127.0.0.1:%d/ok" % p,
                                      "http://127.0.0.1:%d/missing" % p,
                                      "http://127.0.0.1:%d/ok" % p],
            [("GET /ok", 200), ("GET /missing", 404), ("GET /ok", 200)],
            b"200 ok\n404 missing\n200 ok\n")

    def test_node_server_chain(self):
        """curl -> node A /call?to=B -> node B (both node http servers)."""
        a, b, a_port, pa_port, ports = self.chain_servers(self.node_server, "node-a", "node-b")
        p = self.same_as_untraced(
            lambda p: self.curl_argv("-w", "\n%{http_code}\n",
                                     "http://127.0.0.1:%d/call?to=%d&path=/ok" % (p, ports[p]),
                                     "http://127.0.0.1:%d/call?to=%d&path=/fail" % (p, ports[p])),
            a_port, pa_port, "curl")
        self.assertEqual(p.stdout(), b'{"status":200,"body":"ok"}\n200\n'
                                     b'{"status":500,"body":"fail"}\n200\n')
        spans = self.final_spans(8, [a, b])
        chains = self.chains(spans, [("curl", C), ("node-a", S), ("node-a", C), ("node-b", S)])
        self.assertEqual(len(chains), 2, th.format_spans(spans))
        self.check_statuses(chains[0], [200, 200, 200, 200])
        self.check_statuses(chains[1], [200, 200, 500, 500])
        self.assertEqual(chains[1][3]["status"], th.STATUS_ERROR, th.format_spans(chains[1]))

    def test_node_cluster_chain(self):
        """curl -> a node cluster (2 workers, round-robin: the primary
        accepts every connection and hands it to a worker over IPC with
        SCM_RIGHTS; no worker calls accept) /call?to=B -> python B. The
        workers' server spans continue curl's traces and parent their own
        calls (there were none: each call was a new trace's root)."""
        b, b_port = self.py_server("py-b")
        _, pb_port = self.py_server("py-b", traced=False)
        require_exe(NODE, "nodejs")
        argv = [NODE, os.path.join(th.APPS, "node_server.js"), "0", "--cluster", "2"]
        a, a_port = self.start_server(argv, "node-cluster")
        _, pa_port = self.start_server(argv, "node-cluster", traced=False)
        ports = {a_port: b_port, pa_port: pb_port}
        urls = lambda p: ["http://127.0.0.1:%d/call?to=%d&path=%s" % (p, ports[p], path)  # noqa: E731
                          for path in ("/ok", "/missing", "/ok", "/ok")]
        p = self.same_as_untraced(lambda p: self.curl_argv(*urls(p)), a_port, pa_port, "curl")
        self.assertEqual(p.stdout(), b'{"status":200,"body":"ok"}{"status":404,"body":"missing"}'
                                     b'{"status":200,"body":"ok"}{"status":200,"body":"ok"}')
        # one connection per curl: a second one, to reach the other worker too
        self.same_as_untraced(lambda p: self.curl_argv(*urls(p)[:1]), a_port, pa_port, "curl")
        spans = self.final_spans(20, [a, b])
        chains = self.chains(spans, [("curl", C), ("node-cluster", S), ("node-cluster", C),
                                     ("py-b", S)])
        self.assertEqual(len(chains), 5, th.format_spans(spans))
        for chain, down in zip(chains, (200, 404, 200, 200, 200)):
            self.check_statuses(chain, [200, 200, down, down])

    def test_node_server_chunked(self):
        """curl -> node: a chunked response (head and first chunk in one
        write), then a chunked 200 KB request body echoed back, on one
        keep-alive connection."""
        srv, port = self.node_server("node-server")
        _, plain_port = self.node_server("node-server", traced=False)
        body, path = self.body_file(5, 200 * 1024)
        out = {}

        def argv(p):
            return self.curl_argv(
                "-w", "%{http_code}\n", "http://127.0.0.1:%d/chunked?n=5" % p,
                *self.next_to_a_file(out, p, "echo", "-H", "Transfer-Encoding: chunked",
                                     "--data-binary", "@" + path,
                                     "http://127.0.0.1:%d/echo-body" % p))
        p = self.same_as_untraced(argv, port, plain_port, "curl")
        self.assertTrue(p.stdout().startswith(b"chunk 0 \nchunk 1 x"), p.stdout()[:100])
        self.assert_both_files_are(body, out, port, plain_port, "echoed body", "node")
        spans = self.final_spans(4, [srv])
        self.client_server_rows("curl", "node-server",
                                [("GET /chunked", 200), ("POST /echo-body", 200)], spans)

    # ------------------------------------------------------------------
    # row 6: nginx

    def start_nginx(self, server_conf, http_extra="", traced=True, service="nginx",
                    env_extra=None, user=None):
        """nginx, master + 1 worker (as user: th.nginx_conf), on
        127.0.0.1:PORT; returns (proc, port, dir)."""
        require_exe(NGINX, "nginx-light")
        d, port = self.server_dir(service, traced), th.free_port()
        os.makedirs(os.path.join(d, "temp"))
        conf = th.nginx_conf(d, port, server_conf, main_extra="worker_rlimit_nofile 8192;",
                             connections=4096,
                             http_extra="keepalive_timeout 30s;\n    keepalive_requests 10000;\n"
                                        "    " + http_extra, user=user)
        conf_path = os.path.join(d, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        p = self.start_daemon([NGINX, "-p", d, "-e", os.path.join(d, "error.log"), "-c",
                               conf_path, "-g", "daemon off; master_process on;"],
                              d, port, service, traced, env_extra)
        return p, port, d

    def server_dir(self, service, traced):
        """A new folder in self.tmp for a server's configuration and logs."""
        d = os.path.join(self.tmp, service if traced else service + "-untraced")
        os.makedirs(d)
        return d

    def start_daemon(self, argv, d, port, service, traced, env_extra=None):
        """Start argv, a server in the foreground that logs to d/error.log
        (d: its server_dir), and wait until it listens on 127.0.0.1:port;
        the log is in the failure when it does not. Returns the Proc."""
        p = th.Proc(argv, env=self.env(service, traced, **(env_extra or {})), tmpdir=self.tmp,
                    name=service if traced else service + "-untraced")
        self.addCleanup(p.stop)
        self.procs.append(p)
        try:
            th.wait_port(port, timeout=10, proc=p)
        except AssertionError as e:
            raise AssertionError("%s\nerror.log:\n%s" % (e, self.error_log(d)))
        return p

    def test_nginx_static_error_page(self):
        """nginx's own 404 page (head and body in one writev, no sendfile)."""
        server = "root %s; location / { }" % self.static_root({})
        ngx, port, _ = self.start_nginx(server)
        _, plain_port, _ = self.start_nginx(server, traced=False)
        self.same_as_untraced(
            lambda p: self.curl_argv("-o", "/dev/null", "-w", "%{http_code} %{size_download}\n",
                                     "http://127.0.0.1:%d/nope" % p,
                                     "http://127.0.0.1:%d/nope2" % p),
            port, plain_port, "curl")
        spans = self.final_spans(4, [ngx])
        self.client_server_rows("curl", "nginx", [("GET /nope", 404), ("GET /nope2", 404)],
                                spans)

    def test_nginx_worker_as_nobody(self):
        """nginx as root with a worker that runs as nobody, as installed
        nginx does: the worker gives root up before its first span, and
        the span file's folder is root's alone (0700). Before the shim
        kept the file at the worker's setuid, every span of the worker
        was lost ("cannot open span file ...: Permission denied")."""
        if os.geteuid() != 0:
            self.skipTest("needs root: the worker gives it up")
        # nobody may pass through to the pages, and not make a file here
        self.assertEqual(os.path.dirname(self.spans_file), self.tmp)
        server = "root %s; location / { }" % self.static_root({"page": b"hello\n"})
        ngx, port, d = self.start_nginx(server, user="nobody nogroup")
        _, plain_port, _ = self.start_nginx(server, traced=False, user="nobody nogroup")
        self.same_as_untraced(
            lambda p: self.curl_argv("-w", " %{http_code}\n", "http://127.0.0.1:%d/page" % p,
                                     "http://127.0.0.1:%d/nope" % p),
            port, plain_port, "curl")
        spans = self.final_spans(4, [ngx])
        self.client_server_rows("curl", "nginx", [("GET /page", 200), ("GET /nope", 404)], spans)
        self.assertNotIn("traceshim", self.error_log(d))

    def start_haproxy(self, up_port, traced=True):
        """haproxy as Debian's configuration runs it: chroot into an empty
        jail and its threads as nobody, and, its default, no new thread or
        process once they run (RLIMIT_NPROC 0); one frontend on
        127.0.0.1:PORT, proxying to 127.0.0.1:up_port. Returns (proc, port)."""
        require_exe(HAPROXY, "haproxy")
        name = "haproxy" if traced else "haproxy-untraced"
        d = os.path.join(self.tmp, name)
        os.makedirs(os.path.join(d, "jail"))
        port = th.free_port()
        conf = os.path.join(d, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write("global\n    chroot %s/jail\n    user nobody\n    group nogroup\n"
                    "    nbthread 2\n"
                    "defaults\n    mode http\n    timeout connect 5s\n    timeout client 10s\n"
                    "    timeout server 10s\n"
                    "frontend in\n    bind 127.0.0.1:%d\n    default_backend up\n"
                    "backend up\n    server up 127.0.0.1:%d\n" % (d, port, up_port))
        p = th.Proc([HAPROXY, "-db", "-f", conf], env=self.env("haproxy", traced),
                    tmpdir=self.tmp, name=name)
        self.addCleanup(p.stop)
        self.procs.append(p)
        th.wait_port(port, timeout=10, proc=p)
        return p, port

    def test_haproxy_in_its_jail(self):
        """curl -> haproxy (chroot, its threads as nobody, no new thread
        after they run) -> python server: one trace per request, exact
        parents, the statuses. The span file's folder is root's alone
        (0700): haproxy keeps the file at its setuid (before, nothing was
        written: the jail and the user closed the path) and starts the
        reporter thread before its RLIMIT_NPROC of 0 (before, that refused
        it: no span while it ran). Asserted while haproxy runs."""
        if os.geteuid() != 0:
            self.skipTest("needs root: haproxy chroots and gives root up")
        self.assertEqual(os.path.dirname(self.spans_file), self.tmp)
        up, up_port, plain_up_port = self.py_servers("py-upstream")
        hap, port = self.start_haproxy(up_port)
        _, plain_port = self.start_haproxy(plain_up_port, traced=False)
        self.same_as_untraced(
            lambda p: self.curl_argv("-w", " %{http_code}\n", "http://127.0.0.1:%d/ok" % p,
                                     "http://127.0.0.1:%d/missing" % p),
            port, plain_port, "curl")
        th.wait_spans(self.spans_file, 8, procs=self.procs)
        self.assertIsNone(hap.poll(), "haproxy ended\n" + hap.describe())
        spans = th.read_spans(self.spans_file, strict=True)
        traces = self.chains(spans, [("curl", C), ("haproxy", S), ("haproxy", C),
                                     ("py-upstream", S)])
        self.assertEqual([[s["name"] for s in t] for t in traces],
                         [["GET /ok"] * 4, ["GET /missing"] * 4], th.format_spans(spans))
        for t, status in zip(traces, (200, 404)):
            self.check_statuses(t, [status] * 4)
        self.assertNotIn(b"traceshim", hap.stderr(), hap.describe())

    def test_nginx_refuses_a_head_past_its_buffers(self):
        """A 9000-byte cookie is past nginx's large_client_header_buffers
        (4 8k): it answers 400 once its buffer is full, before the head has
        all come, and drains the rest before it closes. The server span
        takes that status (it was made of the bytes drained after the
        answer: no status, ERROR, connection_closed) and the client's
        context, whose lines are at the end of the head."""
        server = "root %s; location / { }" % self.static_root({})
        ngx, port, d = self.start_nginx(server)
        _, plain_port, _ = self.start_nginx(server, traced=False)
        cookie = "c=" + "b" * 9000
        self.same_as_untraced(
            lambda p: self.curl_argv("-o", "/dev/null", "-w", "%{http_code}\n",
                                     "-H", "Cookie: " + cookie,
                                     "http://127.0.0.1:%d/page" % p),
            port, plain_port, "curl")
        spans = self.final_spans(2, [ngx])
        self.client_server_rows("curl", "nginx", [("GET /page", 400)], spans)
        srv = [s for s in spans if s["kind"] == S][0]
        self.assertEqual(srv["status"], th.STATUS_UNSET, th.format_spans([srv]))  # 4xx: the client's
        self.assertEqual(srv["attrs"].get("url.path"), "/page", th.format_spans([srv]))

    def test_nginx_static_files(self):
        """nginx serves a 1 KiB and a 1 MiB file: head by writev, body by
        sendfile (tcp_nopush). Both arrive byte for byte; both requests are
        complete spans with status 200 (needs the sendfile hook)."""
        self.static_files_row(
            lambda root, traced: self.start_nginx(
                "root %s; sendfile on; tcp_nopush on; location / { }" % root, traced=traced),
            "nginx", ["/small.txt", "/big.bin", "/small.txt"])

    def static_root(self, files):
        """A folder www in self.tmp with files ({name: bytes}) in it, which
        a worker that gave root up (nobody, www-data) may read: self.tmp
        only passed through (0711), www and the files readable by all.
        Returns its path."""
        root = os.path.join(self.tmp, "www")
        os.makedirs(root)
        os.chmod(self.tmp, 0o711)
        os.chmod(root, 0o755)
        for name, data in files.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(root, name), 0o644)
        return root

    def static_files_row(self, start, service, paths):
        """A traced server and an untraced one, start(root, traced) -> (proc,
        port, dir), of a folder (static_root) with a 1 KiB small.txt and a
        1 MiB big.bin of random bytes. curl asks each for paths, one
        keep-alive connection (same_as_untraced: every status and size the
        same): the files arrive byte for byte, any other answer (an error
        page) as the untraced server's. Each request is a chain of curl's
        CLIENT span and the server's SERVER span, 200 for a file and 404
        for the rest. Returns (the traced server, its dir, the spans)."""
        rnd = random.Random(6)
        files = {"small.txt": rnd.randbytes(1024), "big.bin": rnd.randbytes(1024 * 1024)}
        root = self.static_root(files)
        srv, port, d = start(root, True)
        _, plain_port, _ = start(root, False)
        outs = {}

        def argv(p):
            args = ["-w", "%{http_code} %{size_download}\n"]
            for i, path in enumerate(paths):
                outs[p, i] = os.path.join(self.tmp, "out-%d-%d" % (p, i))
                args += ["-o", outs[p, i], "http://127.0.0.1:%d%s" % (p, path)]
            return self.curl_argv(*args)
        self.same_as_untraced(argv, port, plain_port, "curl")
        for i, path in enumerate(paths):
            got = {}
            for p in (port, plain_port):
                with open(outs[p, i], "rb") as f:
                    got[p] = f.read()
            want = files.get(path.lstrip("/"), got[plain_port])
            self.assertTrue(got[port] == want, "%s from the traced %s differs: %s"
                            % (path, service, th.diff_bytes(want, got[port], full=False)))
            self.assertTrue(got[plain_port] == want, "%s from the untraced %s differs: %s"
                            % (path, service, th.diff_bytes(want, got[plain_port], full=False)))
        spans = self.final_spans(2 * len(paths), [srv], log_dir=d)
        traces = self.client_server_rows(
            "curl", service, [("GET " + path, 200 if path.lstrip("/") in files else 404)
                              for path in paths], spans)
        self.assertEqual(len({srv_span["attrs"].get("network.peer.port")
                              for _, srv_span in traces}), 1,
                         "one connection\n" + th.format_spans(spans))
        return srv, d, spans

    def proxy_conf(self, upstream_port, upstream_unix=None):
        """nginx's server and http blocks that proxy to 127.0.0.1:upstream_port
        (or to the Unix-domain socket upstream_unix) over keep-alive."""
        to = "unix:" + upstream_unix if upstream_unix else "127.0.0.1:%d" % upstream_port
        http_extra = "upstream backend { server %s; keepalive 64; }" % to
        server = ("location / { proxy_pass http://backend; proxy_http_version 1.1; "
                  "proxy_set_header Connection \"\"; }")
        return server, http_extra

    def nginx_proxy(self, up_port, traced):
        """nginx proxying to 127.0.0.1:up_port (proxy_conf): a start_proxy
        of proxy_pair."""
        return self.start_nginx(*self.proxy_conf(up_port), traced=traced)

    def proxy_pair(self, start_proxy):
        """A traced python upstream (apps/httpapp.py) behind a traced proxy
        and an untraced upstream behind an untraced proxy, start_proxy(the
        upstream's port, traced) -> (proc, port, dir). Returns (the traced
        proxy, its upstream, its port, the untraced proxy's port, its dir)."""
        up, up_port, plain_up_port = self.py_servers("py-upstream")
        prx, port, d = start_proxy(up_port, True)
        _, plain_port, _ = start_proxy(plain_up_port, False)
        return prx, up, port, plain_port, d

    def proxied_three_requests(self, prx, up, port, plain_port, d, proxy="nginx"):
        """curl asks the proxy (port, its service `proxy`; its untraced twin
        on plain_port) for /ok and /missing, as the same untraced run does,
        then /echo-headers: three chains curl CLIENT -> proxy SERVER ->
        proxy CLIENT -> py-upstream SERVER with their statuses, and the
        headers the upstream received last."""
        p = self.same_as_untraced(
            lambda p: self.curl_argv("-w", "\n%{http_code}\n",
                                     "http://127.0.0.1:%d/ok" % p,
                                     "http://127.0.0.1:%d/missing" % p),
            port, plain_port, "curl")
        self.assertEqual(p.stdout(), b"ok\n200\nmissing\n404\n")
        echo = self.run_client(self.curl_argv("http://127.0.0.1:%d/echo-headers" % port), "curl")
        self.assertEqual(echo.returncode, 0, echo.describe())
        headers = json.loads(echo.stdout())
        spans = self.final_spans(12, [prx, up], log_dir=d)
        chains = self.chains(spans, [("curl", C), (proxy, S), (proxy, C), ("py-upstream", S)])
        self.assertEqual(len(chains), 3, th.format_spans(spans))
        self.check_statuses(chains[0], [200] * 4)
        self.check_statuses(chains[1], [404] * 4)
        self.check_statuses(chains[2], [200] * 4)
        return chains, headers

    def test_nginx_reverse_proxy_chain(self):
        """curl -> nginx (proxy_pass, keep-alive upstream; forwards the
        inbound trace headers) -> python server. The proxy's CLIENT span is
        the child of its SERVER span, and the upstream sees the proxy's
        CLIENT span id (the forwarded one rewritten in place), once."""
        self.reverse_proxy_chain(self.nginx_proxy, "nginx")

    def reverse_proxy_chain(self, start_proxy, proxy):
        """proxied_three_requests through proxy_pair(start_proxy), the
        proxy's service `proxy`; the upstream receives each trace header
        once, naming the proxy's CLIENT span (a proxy that forwards the
        inbound headers: the shim rewrote them in place). Returns (the
        proxy, its dir, the chains)."""
        prx, up, port, plain_port, d = self.proxy_pair(start_proxy)
        chains, headers = self.proxied_three_requests(prx, up, port, plain_port, d, proxy)
        self.check_forwarded(headers, chains[2], proxy)
        return prx, d, chains

    def check_forwarded(self, headers, chain, proxy):
        """headers, those the upstream received at the end of chain (curl
        CLIENT, proxy SERVER, proxy CLIENT, upstream SERVER), hold each
        trace header once, naming the proxy's CLIENT span."""
        psrv, pcli = chain[1], chain[2]
        want = {"X-B3-TraceId": [pcli["traceId"]], "X-B3-SpanId": [pcli["spanId"]],
                "X-B3-Sampled": ["1"],
                "traceparent": ["00-%s-%s-01" % (pcli["traceId"], pcli["spanId"])],
                # curl's request had none (a root); optional in B3, never a second copy
                "X-B3-ParentSpanId": ([], [psrv["spanId"]])}
        for name, value in want.items():
            got = th.header_values(headers, name)
            self.assertIn(got, value if isinstance(value, tuple) else (value,),
                          "the upstream must receive %s exactly once, naming %s's CLIENT "
                          "span; it received: %r\n%s"
                          % (name, proxy, headers, th.format_spans(chain)))

    def test_nginx_proxy_forwards_its_decision_in_b3(self):
        """A request whose B3 context has ids and no decision (X-B3-*, then
        b3 single) reaches nginx, whose shim turns it down
        (parentbased_always_off). nginx forwards the headers as they came;
        the forwarded B3 says "not sampled", so the traced upstream, which
        reads B3 first, records nothing either."""
        trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        up, up_port = self.py_server("py-upstream")
        ngx, port, d = self.start_nginx(*self.proxy_conf(up_port),
                                        env_extra={"OTEL_TRACES_SAMPLER": "parentbased_always_off"})
        got = []
        for inbound in ([("X-B3-TraceId", trace), ("X-B3-SpanId", span)],
                        [("b3", "%s-%s" % (trace, span))]):
            status, body = th.http_get(port, "/echo-headers", headers=inbound)
            self.assertEqual(status, 200, body)
            got.append(json.loads(body))
        for p in (ngx, up):
            self.assertEqual(p.stop(), 0, "%s did not exit cleanly\n%s" % (p.name, p.describe()))
        spans = th.read_spans(self.spans_file, strict=True)
        dump = "\nthe upstream received %r\n%s" % (got, th.format_spans(spans))
        self.assertEqual(th.header_values(got[0], "X-B3-Sampled"), ["0"], dump)
        self.assertNotEqual(th.header_values(got[0], "X-B3-SpanId"), [span], dump)
        b3 = th.header_values(got[1], "b3")
        self.assertEqual(len(b3), 1, dump)
        self.assertTrue(b3[0].startswith(trace + "-") and b3[0].endswith("-0") and
                        span not in b3[0], dump)
        self.assertEqual(spans, [], "nothing recorded of a trace nginx turned down" + dump)

    def test_nginx_reverse_proxy_post_body(self):
        """curl POSTs 100 KB through nginx (the body goes to a temp file,
        then upstream with the head) to python; the echo is byte for byte."""
        self.reverse_proxy_post_body(self.nginx_proxy, "nginx")

    def reverse_proxy_post_body(self, start_proxy, proxy):
        """curl POSTs 100 KB through proxy_pair(start_proxy), the proxy's
        service `proxy`, to /echo-body (curl_post_echo: byte for byte); one
        chain curl CLIENT -> proxy SERVER -> proxy CLIENT -> py-upstream
        SERVER, 200 along it. Returns (the proxy, its dir, the spans)."""
        prx, up, port, plain_port, d = self.proxy_pair(start_proxy)
        self.curl_post_echo(port, plain_port, 7, 100 * 1024)
        spans = self.final_spans(4, [prx, up], log_dir=d)
        chain, = self.chains(spans, [("curl", C), (proxy, S), (proxy, C), ("py-upstream", S)])
        self.check_statuses(chain, [200] * 4)
        return prx, d, spans

    def test_nginx_proxy_to_a_unix_socket_upstream(self):
        """curl -> nginx -> python on a Unix-domain socket (proxy_pass to
        unix:PATH, as nginx fronts gunicorn or uwsgi): one trace through
        the four spans, the upstream given nginx's CLIENT span's context;
        both sides of that hop say network.transport "unix" and name the
        socket. (Only TCP was followed: the trace broke at that hop.)"""
        paths = {}
        for traced in (True, False):
            path = os.path.join(self.tmp, "upstream-%s.sock" % ("traced" if traced else "plain"))
            up = th.Proc([th.PY, os.path.join(th.APPS, "httpapp.py"), "--unix", path],
                         env=self.env("py-upstream", traced), tmpdir=self.tmp,
                         name="py-upstream" if traced else "py-upstream-untraced")
            self.addCleanup(up.stop)
            self.procs.append(up)
            up.wait_output(rb"LISTENING unix:", timeout=10)
            paths[traced] = (up, path)
        up, path = paths[True]
        ngx, port, d = self.start_nginx(*self.proxy_conf(0, path))
        _, plain_port, _ = self.start_nginx(*self.proxy_conf(0, paths[False][1]), traced=False)
        chains, headers = self.proxied_three_requests(ngx, up, port, plain_port, d)
        ncli, usrv = chains[2][2], chains[2][3]
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (ncli["traceId"], ncli["spanId"])],
                         "%r\n%s" % (headers, th.format_spans(chains[2])))
        for chain in chains:
            ncli, usrv = chain[2], chain[3]
            dump = th.format_spans(chain)
            self.assertEqual(ncli["attrs"].get("network.transport"), "unix", dump)
            self.assertEqual(ncli["attrs"].get("network.peer.address"), path, dump)
            self.assertNotIn("network.peer.port", ncli["attrs"], dump)
            self.assertEqual(usrv["attrs"].get("network.transport"), "unix", dump)
            self.assertEqual(usrv["attrs"].get("network.local.address"), path, dump)
            self.assertNotIn("client.address", usrv["attrs"], dump)

    # ------------------------------------------------------------------
    # row 6b: Apache httpd

    def lib_anyone_loads(self):
        """LD_PRELOAD naming a copy of the library that any user can load,
        for programs started by exec as another user (Apache's CGI programs
        as www-data) when the checkout's folder is closed to them (/root/
        project, 0700, on a fresh machine: the loader could not open the
        library there). Under TSTEST_PRELOAD_FIRST, the plain library
        without the sanitizer runtime: Apache passes a CGI program none of
        the sanitizer's settings (its leak check then reports the CGI
        program's own leaks into Apache's error log)."""
        d = os.path.join(self.tmp, "lib-for-anyone")
        os.makedirs(d, exist_ok=True)
        os.chmod(self.tmp, 0o711)
        os.chmod(d, 0o755)
        copy = os.path.join(d, "libtraceshim.so")
        shutil.copy(th.PLAIN_LIB if th.PRELOAD_FIRST else th.LIB, copy)
        os.chmod(copy, 0o755)
        return copy

    def start_apache(self, conf, modules=(), traced=True, service="apache", children=2,
                     cgi=False):
        """Apache 2.4 as Debian runs it: the event MPM with Debian's
        mpm_event.conf (two children of 25 threads at the start), the
        master as the tests' user (root) and its children as User www-data;
        one Listen on 127.0.0.1:PORT, the pid file and the error log (warn;
        no access log) in its folder; mod_authz_core and mod_<name> of each
        of modules loaded, then conf. Waits (bounded) until both children
        run as www-data (as the tests' user when that is not root):
        proc.children, their pids (`children` of them: 3 with mod_cgid,
        whose daemon is one). cgi: its CGI programs are traced too (the
        library a copy any user loads: lib_anyone_loads). Returns (proc,
        port, dir)."""
        require_exe(APACHE, "apache2")
        d, port = self.server_dir(service, traced), th.free_port()
        conf_path = os.path.join(d, "apache2.conf")
        with open(conf_path, "w") as f:
            f.write(APACHE_CONF % {
                "d": d, "port": port, "conf": conf,
                "modules": "".join("LoadModule %s_module %s/mod_%s.so\n" % (m, APACHE_MODULES, m)
                                   for m in ("mpm_event", "authz_core") + tuple(modules))})
        extra = {"LD_PRELOAD": self.lib_anyone_loads()} if cgi and traced else None
        p = self.start_daemon([APACHE, "-f", conf_path, "-DFOREGROUND"], d, port, service, traced,
                              env_extra=extra)
        p.children = self.apache_children(p, children, d)
        return p, port, d

    def apache_children(self, master, count, d):
        """The pids of the master's `count` children, once each runs as
        www-data, real, effective, saved and file system user (as the tests'
        user when that is not root); bounded."""
        want = pwd.getpwnam("www-data").pw_uid if os.geteuid() == 0 else os.geteuid()
        deadline = time.monotonic() + 10
        while True:
            uids = {}
            try:
                with open("/proc/%d/task/%d/children" % (master.pid, master.pid)) as f:
                    for pid in map(int, f.read().split()):
                        with open("/proc/%d/status" % pid) as st:
                            uids[pid] = re.search(r"^Uid:\s*(.*)$", st.read(), re.M).group(1)
            except OSError:  # a child gone since the list was read
                pass
            if len(uids) == count and all(u.split() == [str(want)] * 4 for u in uids.values()):
                return sorted(uids)
            if time.monotonic() > deadline:
                raise AssertionError("Apache's children, expected %d as user %d: %r\n%s\n%s"
                                     % (count, want, uids, master.describe(), self.error_log(d)))
            time.sleep(0.05)

    def check_apache(self, ap, d, spans):
        """Apache's spans come from its children (as www-data: start_apache),
        none from the master; its error log has no line at warn or above,
        as the untraced twin's (server_dir's d-untraced) has none, and no
        line of the shim's (whose messages go to stderr: in Apache's
        children, the error log)."""
        pids = {s["pid"] for s in spans if s["service"] == ap.name}
        self.assertTrue(pids and pids <= set(ap.children),
                        "spans of pids %s, Apache's children are %s\n%s"
                        % (sorted(pids), ap.children, th.format_spans(spans)))
        logs = {"traced": self.error_log(d, None) + ap.stderr().decode("utf-8", "replace"),
                "untraced": self.error_log(d + "-untraced", None)}
        bad = {k: [ln for ln in log.splitlines()
                   if re.search(r"\[\w*:(warn|error|crit|alert|emerg)\]", ln) or "traceshim" in ln]
               for k, log in logs.items()}
        self.assertEqual(bad, {"traced": [], "untraced": []},
                         "Apache's error logs:\n%(traced)s\nuntraced:\n%(untraced)s" % logs)

    def test_apache_static_files(self):
        """Apache's default, EnableSendfile Off: a file is mmapped and goes
        with its head in one writev, the 404 page likewise. A 1 KiB file, a
        1 MiB file and a 404 on one keep-alive connection (a request may be
        read by another thread than the one before: the connection waits in
        epoll between them): the files byte for byte, one complete SERVER
        span each, under curl's CLIENT span, 200, 200 and 404."""
        self.apache_static_row("Off")

    def test_apache_static_files_sendfile(self):
        """The same with EnableSendfile On: TCP_CORK, the head by writev,
        the file by sendfile."""
        self.apache_static_row("On")

    def apache_static_row(self, sendfile):
        """static_files_row of Apache (EnableSendfile `sendfile`): the small
        file, the big one, then a 404; then check_apache."""
        ap, d, spans = self.static_files_row(
            lambda root, traced: self.start_apache(
                "DocumentRoot %s\nEnableSendfile %s\n" % (root, sendfile), traced=traced),
            "apache", ["/small.txt", "/big.bin", "/nope"])
        self.check_apache(ap, d, spans)

    def apache_proxy(self, up_port, traced):
        """Apache proxying everything to 127.0.0.1:up_port (mod_proxy_http;
        it keeps the upstream's connections for the next requests of each
        child): a start_proxy of proxy_pair."""
        return self.start_apache("ProxyPass / http://127.0.0.1:%d/\n" % up_port,
                                 ("proxy", "proxy_http"), traced=traced)

    def test_apache_reverse_proxy_chain(self):
        """curl -> Apache (ProxyPass; forwards the inbound trace headers) ->
        python, keep-alive on both sides: curl CLIENT -> Apache SERVER ->
        Apache CLIENT -> python SERVER per request, 200 and 404; the
        upstream receives each trace header once, naming Apache's CLIENT
        span; /ok and /missing went over one upstream connection."""
        ap, d, chains = self.reverse_proxy_chain(self.apache_proxy, "apache")
        self.check_apache(ap, d, [s for chain in chains for s in chain])
        ports = [chain[3]["attrs"].get("network.peer.port") for chain in chains[:2]]
        self.assertTrue(ports[0] and ports[0] == ports[1],
                        "Apache keeps its upstream connection for the next request: %s\n%s"
                        % (ports, th.format_spans(chains[0] + chains[1])))

    def test_apache_reverse_proxy_post_body(self):
        """curl POSTs 100 KB through Apache (it reads the start of the body
        before it connects upstream, sends the head, a piece a line, and
        16 KiB of body in one writev, then the rest as it reads it) to
        python; the echo is byte for byte."""
        ap, d, spans = self.reverse_proxy_post_body(self.apache_proxy, "apache")
        self.check_apache(ap, d, spans)

    def inetd(self, traced, requests):
        """A listener on a free port that, as inetd does, starts
        apps/inetd_child.py on the one connection it accepts (fds 0, 1 and 2
        the socket); returns the port."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.addCleanup(listener.close)
        env = self.env("inetd-child", traced)

        def serve():
            conn, _ = listener.accept()
            with conn:
                subprocess.run([th.PY, os.path.join(th.APPS, "inetd_child.py"), str(requests)],
                               stdin=conn.fileno(), stdout=conn.fileno(), stderr=conn.fileno(),
                               env=env, timeout=20)
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(t.join, 25)
        return listener.getsockname()[1]

    def test_inetd_child_on_its_standard_fds(self):
        """A server started on an accepted connection, as inetd, xinetd and
        systemd's Accept=yes start one (fds 0, 1 and 2 the socket): its
        requests are server spans under curl's client spans, fd 1's
        responses paired with fd 0's requests. (A socket the process did
        not open was not followed: curl's spans were roots alone.)"""
        port, plain_port = self.inetd(True, 2), self.inetd(False, 2)
        self.same_as_untraced(
            lambda p: self.curl_argv("-w", " %{http_code}\n", "http://127.0.0.1:%d/a" % p,
                                     "http://127.0.0.1:%d/missing" % p),
            port, plain_port, "curl")
        spans = self.final_spans(4, [])
        self.client_server_rows("curl", "inetd-child", [("GET /a", 200), ("GET /missing", 404)],
                                spans)

    # ------------------------------------------------------------------
    # row 6c: squid, a forward proxy

    def start_squid(self, traced=True, kids=False):
        """squid 5 as root, with a squid.conf of its own (SQUID_CONF) in a
        folder of its own, owned by proxy, the user it gives root up for
        (cache_effective_user's default in Debian's build); cache.log is
        the folder's error.log. -N: one process, which serves; kids:
        --foreground, as Debian's squid.service starts it, a master that
        starts its worker by exec. -n: a service name of its own, which
        its shared memory segments are named after (the traced and the
        untraced squid run at once). Returns (proc, port, dir)."""
        require_exe(SQUID, "squid")
        d, port = self.server_dir("squid", traced), th.free_port()
        os.chown(d, pwd.getpwnam("proxy").pw_uid, -1)
        os.chmod(self.tmp, 0o711)  # proxy passes through to d
        conf_path = os.path.join(d, "squid.conf")
        with open(conf_path, "w") as f:
            f.write(SQUID_CONF % {"d": d, "port": port})
        name = "ts%d%s" % (os.getpid(), "t" if traced else "u")
        p = self.start_daemon([SQUID, "--foreground" if kids else "-N", "-n", name,
                               "-f", conf_path], d, port, "squid", traced,
                              {"TRACESHIM_STATS": 1} if traced else None)
        return p, port, d

    def tls_server(self, traced=True):
        """apps/tlsapp.py with a self-signed certificate (for curl -k):
        (proc, port)."""
        d = os.path.join(self.tmp, "tls")
        crt, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
        if not os.path.exists(crt):
            os.makedirs(d)
            r = subprocess.run([th.require_tool("openssl"), "req", "-x509", "-newkey", "ec",
                                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                "-keyout", key, "-out", crt, "-days", "2", "-subj",
                                "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual(r.returncode, 0, "openssl: %s" % r.stdout.decode())
        return self.start_server([th.PY, os.path.join(th.APPS, "tlsapp.py"), "--port", "0",
                                  "--cert", crt, "--key", key], "py-tls", traced)

    def quiet_logs(self, d, bad, ok=None, proc=None):
        """The log d/error.log and its untraced twin's (server_dir's
        d-untraced) have no line that matches the regex bad (the program's
        warnings and errors) or names the shim; ok: a regex that every line
        must match (a log without severities). proc: the traced program,
        which prints nothing on stdout (as without the shim)."""
        if proc is not None:
            self.assertEqual(proc.stdout(), b"", proc.describe())
        for where in (d, d + "-untraced"):
            log = self.error_log(where, None)
            lines = [ln for ln in log.splitlines()
                     if re.search(bad, ln) or "traceshim" in ln or (ok and not re.search(ok, ln))]
            self.assertEqual(lines, [], "%s's log:\n%s" % (os.path.basename(where), log[-3000:]))

    def line_traces(self, spans, count):
        """The spans' traces, `count` of them, each a line of spans (a
        root, then the single child of each span), sorted by their roots'
        starts; every span's http.response.status_code and error.type as
        check_statuses wants them, along its trace."""
        groups = {}
        for s in spans:
            groups.setdefault(s["traceId"], []).append(s)
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(len(groups), count, "%d traces expected%s" % (count, dump))
        out = []
        for tid, group in groups.items():
            chain, parent = [], None
            while True:
                kids = [s for s in group if s["parentSpanId"] == parent]
                if not kids:
                    break
                self.assertEqual(len(kids), 1, "trace %s forks%s" % (tid, dump))
                chain.append(kids[0])
                parent = kids[0]["spanId"]
            self.assertEqual(len(chain), len(group),
                             "trace %s is no line of spans from its root%s" % (tid, dump))
            self.check_statuses(chain, [code(s) for s in chain[:1]] * len(chain))
            out.append(chain)
        return sorted(out, key=lambda ch: ch[0]["start"])

    @staticmethod
    def shape(traces):
        """[[(service, kind, name, status code) of each span] of each trace]."""
        return [[(s["service"], s["kind"], s["name"], code(s)) for s in t] for t in traces]

    def test_squid_forward_proxy(self):
        """curl -x squid (-N: one process, root given up for proxy) to a
        python server, absolute-form request targets: curl CLIENT -> squid
        SERVER -> squid CLIENT -> python SERVER, 200 and 404, the upstream
        given squid's CLIENT span once. Then curl -k through a CONNECT
        tunnel to a TLS server: the CONNECT is a CLIENT and a SERVER span,
        200, that end at squid's answer; the two requests inside the
        tunnel are curl's TLS session's and the TLS server's, nothing of
        squid's; squid injects nothing anywhere (it forwards curl's trace
        headers, rewritten in place) and leaves the tunnel alone (its two
        sockets given up: a tunnel, and TLS). Unchanged, as the untraced
        pair's output; nothing of the shim's in cache.log."""
        if os.geteuid() != 0:
            self.skipTest("needs root: squid gives root up for proxy")
        up, up_port, plain_up_port = self.py_servers("py-upstream")
        tls, tls_port = self.tls_server()
        _, plain_tls_port = self.tls_server(traced=False)
        sq, port, d = self.start_squid()
        plain, plain_port, _ = self.start_squid(traced=False)
        with open("/proc/%d/status" % sq.pid) as f:
            uids = re.search(r"^Uid:\s*(.*)$", f.read(), re.M).group(1).split()
        self.assertEqual(int(uids[1]), pwd.getpwnam("proxy").pw_uid,
                         "squid serves as proxy: real, effective, saved, fs uids %s" % uids)
        ups = {port: (up_port, tls_port), plain_port: (plain_up_port, plain_tls_port)}
        p = self.same_as_untraced(
            lambda p: self.curl_argv("-x", "http://127.0.0.1:%d" % p, "-w", "\n%{http_code}\n",
                                     "http://127.0.0.1:%d/ok" % ups[p][0],
                                     "http://127.0.0.1:%d/missing" % ups[p][0]),
            port, plain_port, "curl")
        self.assertEqual(p.stdout(), b"ok\n200\nmissing\n404\n")
        p = self.same_as_untraced(
            lambda p: self.curl_argv("-k", "-x", "http://127.0.0.1:%d" % p,
                                     "-w", "\n%{http_code} %{http_connect}\n",
                                     "https://127.0.0.1:%d/status/200" % ups[p][1],
                                     "https://127.0.0.1:%d/status/404" % ups[p][1]),
            port, plain_port, "curl")
        self.assertEqual(p.stdout(), b"status 200\n200 200\nstatus 404\n404 000\n")
        echo = self.run_client(self.curl_argv("-x", "http://127.0.0.1:%d" % port,
                                              "http://127.0.0.1:%d/echo-headers" % up_port),
                               "curl")
        self.assertEqual(echo.returncode, 0, echo.describe())
        plain._signal_group(signal.SIGTERM)  # squid takes 1.5 s to stop: both at once
        spans = self.final_spans(18, [sq, up, tls], log_dir=d)
        traces = self.line_traces(spans, 6)
        proxied = [("curl", C), ("squid", S), ("squid", C), ("py-upstream", S)]
        want = [[(svc, kind, name, status) for svc, kind in shape]
                for shape, name, status in (
                    (proxied, "GET /ok", 200), (proxied, "GET /missing", 404),
                    ([("curl", C), ("squid", S)], "CONNECT", 200),
                    ([("curl", C), ("py-tls", S)], "GET /status/{id}", 200),
                    ([("curl", C), ("py-tls", S)], "GET /status/{id}", 404),
                    (proxied, "GET /echo-headers", 200))]
        self.assertEqual(self.shape(traces), want, th.format_spans(spans))
        self.check_forwarded(json.loads(echo.stdout()), traces[5], "squid")
        connect, inside = traces[2], traces[3]
        self.assertLess(connect[0]["end"], inside[0]["start"],
                        "the CONNECT's span ends at squid's answer, before the tunnel's "
                        "first request\n" + th.format_spans(spans))
        self.assertEqual({s["pid"] for s in spans if s["service"] == "squid"}, {sq.pid})
        stats = th.stats_lines(sq.stderr())
        self.assertEqual(len(stats), 1, sq.describe())
        self.assertEqual({k: stats[0][1][k] for k in ("bytes_injected", "tunnel", "not_http")},
                         {"bytes_injected": 0, "tunnel": 1, "not_http": 1},
                         "squid's counters: nothing injected; the tunnel's two sockets "
                         "given up\n" + sq.describe())
        self.quiet_logs(d, r"WARNING|ERROR|FATAL", proc=sq)

    def test_squid_as_debians_service_runs_it(self):
        """squid --foreground, as Debian's squid.service starts it: the
        master (root, then real uid proxy and effective uid root) starts
        its worker by exec, which the kernel makes a secure execution
        (AT_SECURE: real and effective ids differ), where the loader
        ignores a path in LD_PRELOAD: the worker, which serves, runs
        without the shim (README, "What can be traced"). It forwards the
        trace headers as they came: curl CLIENT -> python SERVER, exact
        parents, 200 and 404, no span of squid's; unchanged."""
        if os.geteuid() != 0:
            self.skipTest("needs root: squid gives root up for proxy")
        up, up_port, plain_up_port = self.py_servers("py-upstream")
        sq, port, d = self.start_squid(kids=True)
        plain, plain_port, _ = self.start_squid(traced=False, kids=True)
        ups = {port: up_port, plain_port: plain_up_port}
        p = self.same_as_untraced(
            lambda p: self.curl_argv("-x", "http://127.0.0.1:%d" % p, "-w", "\n%{http_code}\n",
                                     "http://127.0.0.1:%d/ok" % ups[p],
                                     "http://127.0.0.1:%d/missing" % ups[p]),
            port, plain_port, "curl")
        self.assertEqual(p.stdout(), b"ok\n200\nmissing\n404\n")
        with open("/proc/%d/task/%d/children" % (sq.pid, sq.pid)) as f:
            worker = th.only(map(int, f.read().split()), "worker of squid's master")
        with open("/proc/%d/maps" % worker) as f:
            self.assertNotIn("traceshim", f.read(), "the loader preloaded nothing")
        with open("/proc/%d/auxv" % worker, "rb") as f:
            auxv = f.read()
        pairs = dict(struct.iter_unpack("@LL", auxv))
        self.assertEqual(pairs.get(23), 1, "the worker runs in secure execution (AT_SECURE)")
        plain._signal_group(signal.SIGTERM)
        spans = self.final_spans(4, [sq, up], log_dir=d)
        self.client_server_rows("curl", "py-upstream", [("GET /ok", 200), ("GET /missing", 404)],
                                spans)
        self.quiet_logs(d, r"WARNING|ERROR|FATAL", proc=sq)

    # ------------------------------------------------------------------
    # row 6d: lighttpd

    def start_lighttpd(self, conf="", root=None, modules=(), traced=True):
        """lighttpd 1.4 in the foreground (-D), one process, as root that
        gives root up for www-data, as Debian's configuration has it; on
        127.0.0.1:PORT, documents from root (else its folder), mod_<name>
        of each of modules loaded (mod_staticfile is always), then conf.
        Its folder is www-data's (the bodies it buffers go there).
        Returns (proc, port, dir)."""
        require_exe(LIGHTTPD, "lighttpd")
        d, port = self.server_dir("lighttpd", traced), th.free_port()
        os.chown(d, pwd.getpwnam("www-data").pw_uid, -1)
        os.chmod(self.tmp, 0o711)
        conf_path = os.path.join(d, "lighttpd.conf")
        with open(conf_path, "w") as f:
            f.write(LIGHTTPD_CONF % {"d": d, "port": port, "root": root or d, "conf": conf,
                                     "modules": ", ".join('"mod_%s"' % m for m in modules)})
        p = self.start_daemon([LIGHTTPD, "-D", "-f", conf_path], d, port, "lighttpd", traced)
        return p, port, d

    def check_lighttpd_log(self, d, lt):
        """lighttpd's error log says it started (and stopped), nothing else;
        lt, lighttpd, printed nothing."""
        self.quiet_logs(d, r"^$", r"\) server (started|stopped)", lt)

    def test_lighttpd_static_files(self):
        """lighttpd serves a 1 KiB file (pread, then head and body by one
        writev), a 1 MiB file (TCP_CORK, the head by writev, the file by
        sendfile), its own 404 page and the small file again on one
        keep-alive connection: byte for byte, a complete SERVER span each
        under curl's CLIENT span, 200, 200, 404, 200."""
        lt, d, _ = self.static_files_row(
            lambda root, traced: self.start_lighttpd(root=root, traced=traced),
            "lighttpd", ["/small.txt", "/big.bin", "/nope", "/small.txt"])
        self.check_lighttpd_log(d, lt)

    def lighttpd_proxy(self, up_port, traced):
        """lighttpd proxying everything to 127.0.0.1:up_port (mod_proxy: a
        connection per request, Connection: close; the inbound headers
        forwarded): a start_proxy of proxy_pair."""
        return self.start_lighttpd('proxy.server = ("" => (("host" => "127.0.0.1", '
                                   '"port" => %d)))\n' % up_port, modules=("proxy",),
                                   traced=traced)

    def test_lighttpd_reverse_proxy_chain(self):
        """curl -> lighttpd (mod_proxy; forwards the inbound trace headers)
        -> python: curl CLIENT -> lighttpd SERVER -> lighttpd CLIENT ->
        python SERVER per request, 200 and 404; the upstream receives each
        trace header once, naming lighttpd's CLIENT span."""
        lt, d, _ = self.reverse_proxy_chain(self.lighttpd_proxy, "lighttpd")
        self.check_lighttpd_log(d, lt)

    def test_lighttpd_reverse_proxy_post_body(self):
        """curl POSTs 100 KB through lighttpd (it buffers the body, over
        64 KiB in a file of its upload-dirs, then sends it upstream) to
        python: the echo byte for byte, one chain, 200 along it."""
        lt, d, _ = self.reverse_proxy_post_body(self.lighttpd_proxy, "lighttpd")
        self.check_lighttpd_log(d, lt)

    # ------------------------------------------------------------------
    # row 6e: gunicorn

    def start_gunicorn(self, traced=True):
        """gunicorn 20 (Debian's python3-gunicorn) serving apps/wsgi_app.py
        with 2 sync workers (its default kind), forked by the master, which
        binds 127.0.0.1:PORT; its log (info) in its folder's error.log.
        Returns (proc, port, dir)."""
        if not os.path.isfile(GUNICORN):
            raise AssertionError("%s not found: install python3-gunicorn "
                                 "(bash scripts/install-deps.sh)" % GUNICORN)
        d, port = self.server_dir("gunicorn", traced), th.free_port()
        p = self.start_daemon([th.PY, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync",
                               "--bind", "127.0.0.1:%d" % port, "--error-logfile",
                               os.path.join(d, "error.log"), "--chdir", th.APPS, "wsgi_app:app"],
                              d, port, "gunicorn", traced)
        return p, port, d

    def test_gunicorn_sync_workers_chain(self):
        """curl -> gunicorn (2 sync workers: each accepts on the master's
        socket, one request per connection) whose app calls a python server
        with urllib: curl CLIENT -> gunicorn SERVER -> gunicorn CLIENT ->
        python SERVER, 200 and 404; a call of the app to gunicorn itself,
        served by the other worker (the calling one is busy), continues the
        trace there; a 1 MiB file by wsgi.file_wrapper (sendfile) byte for
        byte, its span complete. Unchanged; no span of the master's, no
        line of the shim's or at WARNING or above in gunicorn's log."""
        b, b_port = self.py_server("py-b")
        _, pb_port = self.py_server("py-b", traced=False)
        gu, port, d = self.start_gunicorn()
        plain, plain_port, _ = self.start_gunicorn(traced=False)
        body, path = self.body_file(9, 1024 * 1024)
        ports, out = {port: b_port, plain_port: pb_port}, {}

        def argv(p):
            base = "http://127.0.0.1:%d" % p
            return self.curl_argv(
                "-w", "\n%{http_code}\n", base + "/call?to=%d&path=/ok" % ports[p],
                base + "/call?to=%d&path=/missing" % ports[p], base + "/call?to=%d&path=/hello" % p,
                *self.next_to_a_file(out, p, "file",
                                     base + "/file?name=" + urllib.parse.quote(path)))
        p = self.same_as_untraced(argv, port, plain_port, "curl")
        self.assertEqual(p.stdout(), b"ok\n200\nmissing\n404\nhello\n200\n200\n")
        self.assert_both_files_are(body, out, port, plain_port, "the file", "gunicorn")
        # SIGTERM to the master alone, which stops its workers (SIGTERM to
        # the group as well: a worker may die of it; gunicorn logs that at
        # WARNING, traced or not)
        for master in (gu, plain):
            os.kill(master.pid, signal.SIGTERM)
        for master in (gu, plain):
            self.assertEqual(master.wait(10), 0, master.describe())
        spans = self.final_spans(14, [gu, b], log_dir=d)
        traces = self.line_traces(spans, 4)
        self.assertEqual(self.shape(traces), [
            [("curl", C, "GET /call", status), ("gunicorn", S, "GET /call", status),
             ("gunicorn", C, name, status), (service, S, name, status)]
            for service, name, status in (("py-b", "GET /ok", 200), ("py-b", "GET /missing", 404),
                                          ("gunicorn", "GET /hello", 200))] + [
            [("curl", C, "GET /file", 200), ("gunicorn", S, "GET /file", 200)]],
            th.format_spans(spans))
        calling, answering = traces[2][1]["pid"], traces[2][3]["pid"]
        self.assertNotEqual(calling, answering, "the other worker answers\n"
                            + th.format_spans(traces[2]))
        self.assertNotIn(gu.pid, {s["pid"] for s in spans}, "the master serves nothing")
        self.quiet_logs(d, r"\[(WARNING|ERROR|CRITICAL)\]", proc=gu)
        self.assertNotIn(b"traceshim", gu.stderr(), gu.describe())

    # ------------------------------------------------------------------
    # row 6f: php -S

    def start_php_server(self, traced=True):
        """php -S (PHP's built-in web server, php-cli), one process, on
        127.0.0.1:PORT with apps/php_router.php, Debian's php.ini and
        extensions (php-curl's loaded with RTLD_DEEPBIND); it logs to
        stderr. Returns (proc, port)."""
        php = require_exe(PHP, "php-cli")
        port = th.free_port()
        p = th.Proc([php, "-S", "127.0.0.1:%d" % port, os.path.join(th.APPS, "php_router.php")],
                    env=self.env("php", traced), tmpdir=self.tmp,
                    name="php" if traced else "php-untraced")
        self.addCleanup(p.stop)
        self.procs.append(p)
        th.wait_port(port, timeout=10, proc=p)
        return p, port

    def test_php_builtin_server_chain(self):
        """curl -> php -S, whose router calls a python server with PHP's
        own http:// stream wrapper (file_get_contents): curl CLIENT -> php
        SERVER -> php CLIENT -> python SERVER, 200 and 404; its own 404;
        a 100 KB POST echoed byte for byte (a connection per request: php
        -S closes each). Unchanged, also the end: php -S leaves SIGTERM at
        its default action and dies of it, with the shim (which flushes
        first) as without; its log (stderr) has nothing but its start and
        the connections, as the untraced one's."""
        b, b_port = self.py_server("py-b")
        _, pb_port = self.py_server("py-b", traced=False)
        php, port = self.start_php_server()
        plain, plain_port = self.start_php_server(traced=False)
        body, path = self.body_file(10, 100 * 1024)
        ports, out = {port: b_port, plain_port: pb_port}, {}

        def argv(p):
            base = "http://127.0.0.1:%d" % p
            return self.curl_argv(
                "-w", "\n%{http_code}\n", base + "/call?to=%d&path=/ok" % ports[p],
                base + "/call?to=%d&path=/missing" % ports[p], base + "/nope",
                *self.next_to_a_file(out, p, "echo", "-H", "Content-Type: application/octet-stream",
                                     "--data-binary", "@" + path, base + "/echo-body"))
        p = self.same_as_untraced(argv, port, plain_port, "curl")
        self.assertEqual(p.stdout(), b"ok\n200\nmissing\n404\nno such route\n404\n200\n")
        self.assert_both_files_are(body, out, port, plain_port, "the echo", "php")
        th.wait_spans(self.spans_file, 12, procs=self.procs)
        self.assertEqual((php.stop(), plain.stop(), b.stop()), (-signal.SIGTERM, -signal.SIGTERM, 0),
                         "php -S dies of SIGTERM with and without the shim\n%s\n%s"
                         % (php.describe(), plain.describe()))
        spans = th.read_spans(self.spans_file, strict=True)
        traces = self.line_traces(spans, 4)
        self.assertEqual(self.shape(traces), [
            [("curl", C, "GET /call", status), ("php", S, "GET /call", status),
             ("php", C, name, status), ("py-b", S, name, status)]
            for name, status in (("GET /ok", 200), ("GET /missing", 404))] + [
            [("curl", C, "GET /nope", 404), ("php", S, "GET /nope", 404)],
            [("curl", C, "POST /echo-body", 200), ("php", S, "POST /echo-body", 200)]],
            th.format_spans(spans))
        for q in (php, plain):  # (wait_port's connection sends no request)
            bad = [ln for ln in q.stderr().decode("utf-8", "replace").splitlines()
                   if not re.search(r"^\[[^]]+\] (PHP \S+ Development Server \(http://127\.0\.0"
                                    r"\.1:\d+\) started|127\.0\.0\.1:\d+ (Accepted|Closing|"
                                    r"Closed without sending a request; .*))$", ln)]
            self.assertEqual((bad, q.stdout()), ([], b""), q.describe())

    # ------------------------------------------------------------------
    # row 7: ruby

    def test_ruby_net_http_client(self):
        ruby = require_exe("/usr/bin/ruby", "ruby")
        self.client_row(
            "ruby", lambda p: [ruby, os.path.join(th.APPS, "ruby_client.rb"), str(p)],
            [("GET /ok", 200), ("POST /echo-body", 200), ("GET /missing", 404)],
            b"200 ok\n200 hello from ruby\n404 missing\n")

    # ------------------------------------------------------------------
    # row 7b: git over smart HTTP (Apache, mod_cgid, git-http-backend)

    def git_env(self):
        """What every git run gets: no system or user configuration, never a
        prompt, and a fixed author and date (the same commit each time)."""
        home = os.path.join(self.tmp, "git-home")
        os.makedirs(home, exist_ok=True)
        env = {"HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
               "GIT_TERMINAL_PROMPT": "0"}
        for who in ("AUTHOR", "COMMITTER"):
            env.update({"GIT_%s_NAME" % who: "t", "GIT_%s_EMAIL" % who: "t@example.invalid",
                        "GIT_%s_DATE" % who: "2020-01-01T00:00:00Z"})
        return env

    def git_http_apache(self, git, traced):
        """Apache serving git-http-backend as git's manual has it (ScriptAlias
        /git/, mod_cgid under the event MPM, GIT_PROJECT_ROOT and
        GIT_HTTP_EXPORT_ALL by SetEnv) with an empty bare repo.git that
        takes pushes, its own (the children's user's); (proc, port, dir)."""
        repos = os.path.join(self.tmp, "repos-%s" % ("traced" if traced else "untraced"))
        subprocess.run([git, "init", "-q", "--bare", "-b", "main", repos + "/repo.git"],
                       check=True, env=th.clean_env(**self.git_env()))
        subprocess.run([git, "-C", repos + "/repo.git", "config", "http.receivepack", "true"],
                       check=True, env=th.clean_env(**self.git_env()))
        if os.geteuid() == 0:
            www = pwd.getpwnam("www-data")
            for d, dirs, files in os.walk(repos):
                for name in [d] + [os.path.join(d, f) for f in dirs + files]:
                    os.lchown(name, www.pw_uid, www.pw_gid)
        os.chmod(self.tmp, 0o711)  # the children pass through to the repositories
        return self.start_apache(
            "SetEnv GIT_PROJECT_ROOT %s\nSetEnv GIT_HTTP_EXPORT_ALL 1\n"
            "ScriptAlias /git/ %s/\n<Directory %s>\n    Require all granted\n</Directory>\n"
            % (repos, GIT_HTTP_BACKEND, os.path.dirname(GIT_HTTP_BACKEND)),
            ("cgid", "alias", "env"), traced=traced, children=3, cgi=True)

    def test_git_smart_http_through_apache_cgi(self):
        """git (libcurl, through git-remote-http) against git-http-backend,
        a CGI program of Apache's (mod_cgid): both under the shim, the
        backend started by the cgid daemon with an environment of Apache's
        making. A push of a commit with a 1.5 MiB file (over git's 1 MiB
        http.postBuffer: a small probe POST, then the pack as a chunked
        POST), ls-remote, a clone and ls-remote of a repository that is not
        there: unchanged (stdout, exit statuses 0 and 128), the clone byte
        for byte; one chain of git's CLIENT span and Apache's SERVER span
        per request, info/refs, git-receive-pack and git-upload-pack (the
        protocol v2 ls-refs and fetch) with 200, and 404 for the missing
        repository; each SERVER span ends with its response (no error,
        the chunked POST's too; before the next request on its connection)."""
        git = require_exe(GIT, "git")
        require_exe(GIT_HTTP_BACKEND, "git")
        big = random.Random(10).randbytes(1536 * 1024)
        src = os.path.join(self.tmp, "src")
        env = th.clean_env(**self.git_env())
        subprocess.run([git, "init", "-q", "-b", "main", src], check=True, env=env)
        with open(os.path.join(src, "big.bin"), "wb") as f:
            f.write(big)
        with open(os.path.join(src, "README"), "w") as f:
            f.write("hello\n")
        subprocess.run([git, "-C", src, "add", "."], check=True, env=env)
        subprocess.run([git, "-C", src, "commit", "-q", "-m", "one"], check=True, env=env)
        head = subprocess.run([git, "-C", src, "rev-parse", "HEAD"], check=True, env=env,
                              stdout=subprocess.PIPE).stdout.strip()
        ap, port, d = self.git_http_apache(git, True)
        _, plain_port, _ = self.git_http_apache(git, False)

        def url(p, repo="repo.git"):
            return "http://127.0.0.1:%d/git/%s" % (p, repo)
        env_extra = self.git_env()
        self.same_as_untraced(lambda p: [git, "-C", src, "push", "-q", url(p), "main"],
                              port, plain_port, "git", env_extra=env_extra)
        ls = self.same_as_untraced(lambda p: [git, "ls-remote", url(p)], port, plain_port, "git",
                                   env_extra=env_extra)
        self.assertEqual(ls.stdout(), b"%s\tHEAD\n%s\trefs/heads/main\n" % (head, head))
        self.same_as_untraced(
            lambda p: [git, "clone", "-q", url(p), os.path.join(self.tmp, "clone-%d" % p)],
            port, plain_port, "git", env_extra=env_extra)
        for p in (port, plain_port):
            with open(os.path.join(self.tmp, "clone-%d" % p, "big.bin"), "rb") as f:
                got = f.read()
            self.assertTrue(got == big, "the file cloned from the %s Apache differs: %s"
                            % ("traced" if p == port else "untraced",
                               th.diff_bytes(big, got, full=False)))
        self.same_as_untraced(lambda p: [git, "ls-remote", url(p, "nope.git")], port, plain_port,
                              "git", want_rc=128, env_extra=env_extra)
        refs, receive, upload = ("/git/repo.git/" + x for x in
                                 ("info/refs", "git-receive-pack", "git-upload-pack"))
        requests = ([("GET " + refs, 200), ("POST " + receive, 200), ("POST " + receive, 200)]
                    + [("GET " + refs, 200), ("POST " + upload, 200)]
                    + [("GET " + refs, 200), ("POST " + upload, 200), ("POST " + upload, 200)]
                    + [("GET /git/nope.git/info/refs", 404)])
        spans = self.final_spans(2 * len(requests), [ap], log_dir=d)
        traces = self.client_server_rows("git", "apache", requests, spans)
        # Each SERVER span begins after its CLIENT span, and ends before
        # Apache reads the next request of its keep-alive connection (one
        # that ended at the close would not).
        for (cli, srv), nxt in zip(traces, traces[1:] + [None]):
            same_conn = nxt and (nxt[1]["attrs"].get("network.peer.port") ==
                                 srv["attrs"].get("network.peer.port"))
            self.assertTrue(cli["start"] <= srv["start"] and
                            (not same_conn or srv["end"] <= nxt[1]["start"]),
                            "the SERVER span begins after its CLIENT span and ends before the "
                            "next request's\n" + th.format_spans([cli, srv] + (nxt or [])))
        self.check_apache(ap, d, spans)

    # ------------------------------------------------------------------
    # row 7c: apt's own http method (not libcurl), as the _apt user

    def apt_repository(self):
        """A Debian repository in self.tmp/repo, as apt-ftparchive makes one
        (dists/x/Release, main/binary-all/Packages and .gz; unsigned):
        tsa and tsb (20 KB each) and tshello in its pool, and tsc, whose
        .deb is listed but missing. Returns its folder."""
        ftparchive = require_exe(APT_FTPARCHIVE, "apt-utils")
        repo = os.path.join(self.tmp, "repo")
        pool = os.path.join(repo, "pool")
        dists = os.path.join(repo, "dists", "x")
        os.makedirs(pool)
        os.makedirs(os.path.join(dists, "main", "binary-all"))
        rnd = random.Random(11)
        for name, size in (("tsa", 20000), ("tsb", 20000), ("tshello", 10), ("tsc", 10)):
            root = os.path.join(self.tmp, "pkg-" + name)
            os.makedirs(os.path.join(root, "DEBIAN"))
            os.makedirs(os.path.join(root, "usr", "share", name))
            with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
                f.write("Package: %s\nVersion: 1.0\nArchitecture: all\n"
                        "Maintainer: t <t@example.invalid>\nDescription: test package\n" % name)
            with open(os.path.join(root, "usr", "share", name, "data"), "wb") as f:
                f.write(rnd.randbytes(size))
            subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "-b", root,
                            os.path.join(pool, "%s_1.0_all.deb" % name)],
                           check=True, stdout=subprocess.DEVNULL, env=th.clean_env())

        def ftp(*args):
            return subprocess.run([ftparchive] + list(args), check=True, cwd=repo,
                                  stdout=subprocess.PIPE, env=th.clean_env()).stdout
        packages = ftp("packages", "pool")
        with open(os.path.join(dists, "main", "binary-all", "Packages"), "wb") as f:
            f.write(packages)
        with gzip.open(os.path.join(dists, "main", "binary-all", "Packages.gz"), "wb") as f:
            f.write(packages)
        release = ftp("-o", "APT::FTPArchive::Release::Suite=x",
                      "-o", "APT::FTPArchive::Release::Codename=x",
                      "-o", "APT::FTPArchive::Release::Architectures=all",
                      "-o", "APT::FTPArchive::Release::Components=main", "release", "dists/x")
        with open(os.path.join(dists, "Release"), "wb") as f:
            f.write(release)
        os.unlink(os.path.join(pool, "tsc_1.0_all.deb"))
        return repo

    def test_apt_http_method(self):
        """apt-get update (twice) and apt-get download with apt's own http
        method, which apt runs as the _apt user with LD_PRELOAD passed down,
        against a local repository served over HTTP/1.1 keep-alive
        (apps/file_server.py, python's SimpleHTTPRequestHandler), traced
        too; apt's configuration isolated (APT_CONFIG, the machine's
        apt.conf.d left out; lists, cache and state in self.tmp; no lock),
        [trusted=yes]. Unchanged (stdout and stderr, the port aside; exit
        statuses 0 and 100). One chain of apt's CLIENT span and the
        server's SERVER span per request, in order: InRelease 404, Release
        200, Release.gpg 404, Packages.gz 200; then InRelease 404, Release
        304 (If-Modified-Since), Release.gpg 404; then tsa 200, then tsb
        200, tsc 404 (listed, its .deb missing) and tshello 200 pipelined
        on the same connection (the three requests sent before the first
        answer), each answer paired with its request; then tsa again with
        APT::Sandbox::Seccomp (libseccomp's probe made the method untraced;
        traced, its filter trapped the reporter thread's clone3: SIGSYS).
        (The method ends by a SIGINT whose handler calls _exit, during the
        shim's flush at exit: its spans were lost in one download in six.)"""
        apt_get = require_exe("/usr/bin/apt-get", "apt")
        repo = self.apt_repository()
        argv = [th.PY, os.path.join(th.APPS, "file_server.py"), "--port", "0", repo]
        srv, port = self.start_server(argv, "repo")
        _, plain_port = self.start_server(argv, "repo", traced=False)
        os.chmod(self.tmp, 0o711)  # _apt passes through to its download folders
        parts = os.path.join(self.tmp, "apt-parts")
        os.makedirs(parts)
        conf = os.path.join(self.tmp, "apt.conf")
        with open(conf, "w") as f:
            f.write('Dir::Etc::Parts "%s";\nDir::Etc::Main "/dev/null";\n'
                    'Dir::Etc::SourceParts "%s";\nDir::Etc::Preferences "/dev/null";\n'
                    'Dir::Etc::PreferencesParts "%s";\nDir::State::status "/var/lib/dpkg/status";\n'
                    'Debug::NoLocking "true";\nAcquire::Languages "none";\n'
                    'quiet::NoStatistic "true";\n' % (parts, parts, parts))
        for p in (port, plain_port):
            d = os.path.join(self.tmp, "apt-%d" % p)
            for sub in ("lists/partial", "cache", "state", "log", "download"):
                os.makedirs(os.path.join(d, sub))
            with open(os.path.join(d, "sources.list"), "w") as f:
                f.write("deb [trusted=yes] http://127.0.0.1:%d x main\n" % p)
            if os.geteuid() == 0:  # as apt's own folders are: the method writes there as _apt
                os.chown(os.path.join(d, "download"), pwd.getpwnam("_apt").pw_uid, 0)

        def apt(*args):
            def argv(p):
                d = os.path.join(self.tmp, "apt-%d" % p)
                return [apt_get, "-o", "Dir::Etc::SourceList=%s/sources.list" % d,
                        "-o", "Dir::State=%s/state" % d, "-o", "Dir::State::Lists=%s/lists" % d,
                        "-o", "Dir::Cache=%s/cache" % d, "-o", "Dir::Log=%s/log" % d] + list(args)
            return argv
        kw = dict(cwd_of=lambda p: os.path.join(self.tmp, "apt-%d" % p, "download"),
                  ports_named=True, env_extra={"APT_CONFIG": conf})
        self.same_as_untraced(apt("update"), port, plain_port, "apt", **kw)
        self.same_as_untraced(apt("update"), port, plain_port, "apt", **kw)
        got = self.same_as_untraced(apt("download", "tsa", "tsb", "tsc", "tshello"), port,
                                    plain_port, "apt", want_rc=100, **kw)
        for name in ("tsa", "tsb", "tshello"):
            deb = "%s_1.0_all.deb" % name
            with open(os.path.join(repo, "pool", deb), "rb") as f:
                want = f.read()
            with open(os.path.join(self.tmp, "apt-%d" % port, "download", deb), "rb") as f:
                self.assertTrue(f.read() == want, "%s differs" % deb)
        self.assertNotIn(b"traceshim", got.stderr(), got.describe())
        # once more under apt's own seccomp sandbox (libseccomp: a filter
        # that traps what the method does not list, clone3 among them)
        for p in (port, plain_port):
            os.unlink(os.path.join(self.tmp, "apt-%d" % p, "download", "tsa_1.0_all.deb"))
        self.same_as_untraced(apt("-o", "APT::Sandbox::Seccomp=true", "download", "tsa"), port,
                              plain_port, "apt", **kw)
        with open(os.path.join(self.tmp, "apt-%d" % port, "download", "tsa_1.0_all.deb"),
                  "rb") as f, open(os.path.join(repo, "pool", "tsa_1.0_all.deb"), "rb") as g:
            self.assertTrue(f.read() == g.read(), "tsa_1.0_all.deb differs (seccomp)")
        x = "/dists/x/"
        requests = ([("GET %sInRelease" % x, 404), ("GET %sRelease" % x, 200),
                     ("GET %sRelease.gpg" % x, 404), ("GET %smain/binary-all/Packages.gz" % x, 200)]
                    + [("GET %sInRelease" % x, 404), ("GET %sRelease" % x, 304),
                       ("GET %sRelease.gpg" % x, 404)]
                    + [("GET /pool/%s_1.0_all.deb" % n, 404 if n == "tsc" else 200)
                       for n in ("tsa", "tsb", "tsc", "tshello")]
                    + [("GET /pool/tsa_1.0_all.deb", 200)])
        spans = self.final_spans(2 * len(requests), [srv])
        traces = self.client_server_rows("apt", "repo", requests, spans)
        debs = traces[7:11]
        dump = th.format_spans([s for t in debs for s in t])
        self.assertEqual(len({s["attrs"].get("network.peer.port") for _, s in debs}), 1,
                         "the downloads on one connection\n" + dump)
        tsb_cli = debs[1][0]
        self.assertTrue(all(cli["start"] < tsb_cli["end"] for cli, _ in debs[2:]),
                        "tsc's and tshello's requests went before tsb's answer came "
                        "(pipelined)\n" + dump)
        self.assertEqual({s["attrs"].get("user_agent.original") for s in spans},
                         {"Debian APT-HTTP/1.3 (2.6.2)"}, th.format_spans(spans))
    # row 7b: perl

    def test_perl_http_tiny_client(self):
        """Perl's HTTP::Tiny (core Perl): GET, POST, GET 404 on one
        keep-alive connection."""
        perl = require_exe(PERL, "perl")
        _, traces = self.client_row(
            "perl", lambda p: [perl, os.path.join(th.APPS, "perl_client.pl"), str(p)],
            [("GET /ok", 200), ("POST /echo-body", 200), ("GET /missing", 404)],
            b"200 ok\n200 hello from perl\n404 missing\n")
        self.assertEqual(len({srv["attrs"].get("network.peer.port") for _, srv in traces}), 1,
                         "one connection\n" + th.format_spans([s for t in traces for s in t]))

    # ------------------------------------------------------------------
    # row 8: redis (not HTTP)

    def test_redis_untraced_unharmed(self):
        self.redis_unharmed(unix=False)

    def test_redis_on_a_unix_socket_untraced_unharmed(self):
        """The same over a Unix-domain socket, which the shim follows as it
        does TCP (for HTTP): RESP is given up at its first bytes."""
        self.redis_unharmed(unix=True)

    def redis_unharmed(self, unix):
        server = require_exe("/usr/bin/redis-server", "redis-server")
        cli = require_exe("/usr/bin/redis-cli", "redis-tools")
        big = random.Random(8).randbytes(200 * 1024).hex().encode()  # 400 KB value
        socks = {}

        def start(traced):
            port = th.free_port()
            d = os.path.join(self.tmp, "redis-%s" % ("traced" if traced else "plain"))
            os.makedirs(d)
            listen = ["--port", str(port), "--bind", "127.0.0.1"]
            if unix:
                socks[port] = os.path.join(d, "redis.sock")
                listen = ["--port", "0", "--unixsocket", socks[port]]
            p = th.Proc([server] + listen + ["--save", "", "--appendonly", "no", "--dir", d,
                                             "--daemonize", "no", "--protected-mode", "yes"],
                        env=self.env("redis-server", traced), tmpdir=self.tmp,
                        name="redis-server" if traced else "redis-server-untraced")
            self.addCleanup(p.stop)
            self.procs.append(p)
            th.wait_port(socks[port] if unix else port, timeout=10, proc=p)
            return p, port

        srv, port = start(True)
        _, plain_port = start(False)

        def base(p):
            if unix:
                return [cli, "-s", socks[p]]
            return [cli, "-h", "127.0.0.1", "-p", str(p)]
        for args, stdin in (
                (["PING"], None),
                (["SET", "k", "v"], None),
                (["GET", "k"], None),
                (["-x", "SET", "big"], big),
                (["GET", "big"], None),
                (["STRLEN", "big"], None),
                ([], b"PING\nINCR n\nINCR n\nLPUSH l a b c\nLRANGE l 0 -1\n"
                     b"GET / HTTP/1.1\nDEL k big n l\n")):
            self.same_as_untraced(lambda p: base(p) + args, port, plain_port, "redis-cli",
                                  stdin=stdin)
        p = self.run_client(base(port) + ["GET", "big"], "redis-cli")
        self.assertEqual(p.stdout(), b"\n", "the value was deleted")
        self.assertEqual(srv.stop(), 0, "redis-server exits 0 on SIGTERM\n" + srv.describe())
        time.sleep(0.2)
        spans = th.read_spans(self.spans_file, strict=True)
        self.assertEqual(spans, [], "redis traffic is not HTTP: no spans\n"
                         + th.format_spans(spans))

    # ------------------------------------------------------------------
    # row 9: an OpenTelemetry JS service (B3) in the middle of the chain

    def test_otel_node_b3_interop(self):
        """curl (shim) -> OTel node service (SDK + B3, no shim) -> python (shim)."""
        self.check_otel_b3_chain()

    def test_otel_node_b3_interop_with_curls_own_decision(self):
        """The same with curl sending X-B3-Sampled: 1 itself (a client
        forcing a trace): the shim adds X-B3-TraceId and X-B3-SpanId beside
        it. Without them the SDK's B3 propagator, the only one the service
        has, found a decision and no ids and started a trace of its own."""
        self.check_otel_b3_chain(["-H", "X-B3-Sampled: 1"])

    def test_otel_node_b3_interop_with_curls_own_context_and_flags(self):
        """curl sends its own traceparent and X-B3-Flags: 1 (debug): the
        shim adds the traceparent's ids as X-B3-TraceId and X-B3-SpanId,
        which the SDK's B3 propagator reads with the program's flag: the
        SDK's server span continues curl's trace, under the span curl
        named. Once the shim added none, and the SDK started a trace of
        its own."""
        trace, parent = os.urandom(16).hex(), os.urandom(8).hex()
        self.check_otel_b3_chain(["-H", "traceparent: 00-%s-%s-01" % (trace, parent),
                                  "-H", "X-B3-Flags: 1"], parent=(trace, parent))

    def check_otel_b3_chain(self, curl_args=(), parent=None):
        """parent: (trace id, span id) of the context curl itself sends."""
        require_exe(NODE, "nodejs")
        nm = require_otel_peers()
        otel_file = os.path.join(self.tmp, "otel-spans.jsonl")
        py, py_port = self.py_server("py-server")
        otel, otel_port = self.start_server(
            [NODE, os.path.join(th.APPS, "otel_service.js"), otel_file, "0"], "otel-node",
            traced=False, env_extra={"NODE_PATH": nm})
        curl = self.run_client(
            self.curl_argv(*curl_args,
                           "http://127.0.0.1:%d/call?to=%d&path=/ok" % (otel_port, py_port)),
            "curl")
        self.assertEqual(curl.returncode, 0, curl.describe())
        self.assertEqual(json.loads(curl.stdout()), {"status": 200, "body": "ok"})
        spans = self.final_spans(2, [py])

        def otel_spans():
            try:
                with open(otel_file) as f:
                    return [json.loads(ln) for ln in f if ln.endswith("\n")]
            except FileNotFoundError:
                return []
        deadline = time.monotonic() + th.SPAN_TIMEOUT
        while len(otel_spans()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(otel.stop(), 0, otel.describe())
        ospans = otel_spans()
        dump = "\nshim spans:\n%s\nOTel spans:\n  %s" % (
            th.format_spans(spans), "\n  ".join(json.dumps(s) for s in ospans))
        self.assertEqual(len(ospans), 2, "the OTel service: one SERVER, one CLIENT span" + dump)
        c = th.only([s for s in spans if s["service"] == "curl" and s["kind"] == C],
                    "curl CLIENT span", spans)
        ps = th.only([s for s in spans if s["service"] == "py-server" and s["kind"] == S],
                     "python SERVER span", spans)
        osrv = th.only([s for s in ospans if s["kind"] == S], "OTel SERVER span")
        ocli = th.only([s for s in ospans if s["kind"] == C], "OTel CLIENT span")
        if parent:
            self.assertEqual((c["traceId"], c["parentSpanId"]), parent, dump)
        else:
            self.assertIsNone(c["parentSpanId"], dump)
        self.assertEqual(osrv["traceId"], c["traceId"],
                         "the OTel service continues curl's trace (B3 extract)" + dump)
        if parent:  # the headers name the program's own span (README)
            self.assertEqual(osrv["parentSpanId"], parent[1],
                             "the OTel SERVER span's parent is the one curl sent" + dump)
        else:
            self.assertEqual(osrv["parentSpanId"], c["spanId"],
                             "the OTel SERVER span's parent is curl's CLIENT span" + dump)
        self.assertEqual(ocli["parentSpanId"], osrv["spanId"], dump)
        self.assertEqual(ps["traceId"], c["traceId"],
                         "the python server continues the trace the OTel service sent" + dump)
        self.assertEqual(ps["parentSpanId"], ocli["spanId"],
                         "the python SERVER span's parent is the OTel CLIENT span" + dump)
        self.assertEqual((code(c), osrv["status"], ocli["status"], code(ps)),
                         (200, 200, 200, 200), dump)

    # ------------------------------------------------------------------
    # load: 200 concurrent keep-alive connections through nginx

    def test_nginx_proxy_200_concurrent_keepalive(self):
        """200 connections x 3 requests (all 200 connections open at once)
        -> nginx (1 worker, keep-alive upstream) -> node server. Every request
        is its own exact 4-span chain."""
        nconn, nreq = 200, 3
        total = nconn * nreq
        big_queue = {"OTEL_BSP_MAX_QUEUE_SIZE": 16384}
        up, up_port = self.node_server("node-upstream", env_extra=big_queue)
        ngx, port, d = self.start_nginx(*self.proxy_conf(up_port), env_extra=big_queue)
        t0 = time.monotonic()
        client = self.run_client([th.PY, os.path.join(th.APPS, "concurrent_client.py"),
                                  str(port), str(nconn), str(nreq)], "load-client",
                                 timeout=30, env_extra=big_queue)
        self.assertEqual(client.returncode, 0, "every request answered 200 \"ok\"\n%s\n"
                         "nginx error.log:\n%s" % (client.describe(), self.error_log(d)))
        self.assertIn(b"DONE %d\n" % total, client.stdout())
        took = time.monotonic() - t0
        try:
            spans = self.final_spans(4 * total, [ngx, up], timeout=th.SPAN_TIMEOUT if th.NO_SHIM
                                      else max(th.SPAN_TIMEOUT, 10))
        except AssertionError as e:
            raise AssertionError(str(e)[:4000] + "\nnginx error.log:\n" + self.error_log(d))
        # Collect every problem, then fail once with a count and examples.
        by_trace = {}
        for s in spans:
            by_trace.setdefault(s["traceId"], []).append(s)
        shape = [("load-client", C), ("nginx", S), ("nginx", C), ("node-upstream", S)]
        problems = []
        seen = set()
        for tid, group in by_trace.items():
            chain = []
            for service, kind in shape:
                m = [s for s in group if s["service"] == service and s["kind"] == kind]
                chain.append(m[0] if len(m) == 1 else None)
            if len(group) != 4 or None in chain:
                problems.append("trace %s: %d spans, not one of each kind:\n%s"
                                % (tid, len(group), th.format_spans(group)))
                continue
            cli, nsrv, ncli, usrv = chain
            want = [None, cli["spanId"], nsrv["spanId"], ncli["spanId"]]
            if [s["parentSpanId"] for s in chain] != want:
                problems.append("trace %s: parents %s, expected %s:\n%s"
                                % (tid, [s["parentSpanId"] for s in chain], want,
                                   th.format_spans(chain)))
            if [code(s) for s in chain] != [200] * 4:
                problems.append("trace %s: status codes %s" % (tid, [code(s) for s in chain]))
            q = urllib.parse.urlsplit(cli["attrs"].get("url.full") or "").query
            qs = [q] + [str(s["attrs"].get("url.query") or "").lstrip("?")
                        for s in (nsrv, usrv)]
            qs.append(urllib.parse.urlsplit(ncli["attrs"].get("url.full") or "").query)
            if len(set(qs)) != 1 or not re.match(r"^c=\d+&r=\d+$", q):
                problems.append("trace %s: the spans name different requests: %s" % (tid, qs))
            seen.add(q)
        if len(by_trace) != total:
            problems.insert(0, "%d traces for %d requests" % (len(by_trace), total))
        if len(seen) != total:
            problems.insert(0, "%d distinct requests in the traces, %d sent"
                            % (len(seen), total))
        if problems:
            self.fail("%d problem(s) in %d traces (%d spans); first ones:\n%s"
                      % (len(problems), len(by_trace), len(spans),
                         "\n".join(problems[:8])))
        self.assertLess(took, 30, "the load run took %.1fs" % took)


if __name__ == "__main__":
    th.main()
