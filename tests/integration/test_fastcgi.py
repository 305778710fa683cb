"""test_fastcgi.py — nginx (fastcgi_pass) -> php-fpm over FastCGI.

  curl (untraced) -> nginx -> php-fpm worker -> php-curl -> backend
                     traced   traced              traced     traced

nginx reads HTTP from curl and speaks FastCGI to php-fpm: a BEGIN_REQUEST
record, the request's CGI variables (REQUEST_METHOD, REQUEST_URI, one
HTTP_* per request header) in PARAMS records, its body in STDIN records;
php-fpm answers with STDOUT records that begin with a CGI head ("Status:"
when not 200) and ends with END_REQUEST. The shim reads that exchange as
HTTP: nginx's side is a CLIENT span (the child of its SERVER span) and the
shim puts one more PARAMS record into nginx's request, carrying that
span's context as HTTP_TRACEPARENT / HTTP_X_B3_* (what a header
traceparent / X-B3-* becomes in CGI); php-fpm's side is a SERVER span
named as an HTTP server span is, whose parent comes from those variables,
and the php-curl calls the script makes in that worker are its children.
So one request is one trace of five spans:

  nginx SERVER -> nginx CLIENT -> php-fpm SERVER -> php-fpm CLIENT -> backend SERVER

php-fpm runs in the foreground (-F) with a configuration of the test's own
(-y; -n: no php.ini, only the curl extension; -R when the tests run as
root), one static pool, `clear_env = no` (the workers are forked by the
master, never executed: they keep the master's environment, the shim's
variables with it, unless clear_env empties it), listening on 127.0.0.1
or on a Unix-domain socket. It is stopped by SIGQUIT to the master (the
graceful stop: each worker finishes its request and exits through exit(),
so the shim's last spans are written), SIGTERM/SIGKILL to its group when
that fails.

What nginx 1.22 and php-fpm 8.2 do on the wire (strace): nginx opens a
connection per request (without fastcgi_keep_conn) and sends the whole
head — BEGIN_REQUEST, PARAMS, the empty PARAMS, and for a GET the empty
STDIN — in one writev; a request body it buffered to a file goes out by
pread + writev, the STDIN record headers in the same iovecs as the data.
The php-fpm worker reads each record by read(): 8 bytes of header, then
the content, then the padding; it writes its whole answer (STDOUT records
without the empty one that would end the stream, then END_REQUEST, whose
reserved bytes are not zeroed) in one write, then — without
FCGI_KEEP_CONN — shutdown(SHUT_WR), and only then reads the empty STDIN
record that ends the request (recvfrom), to the peer's close. With
FCGI_KEEP_CONN (fastcgi_keep_conn on) it neither shuts down nor closes:
that empty STDIN record is the first read of its wait for the next
request, whose BEGIN_REQUEST follows on the same connection (request id 1
again). With the default `clear_env = yes` a worker's environment is
emptied after the fork (clearenv): the shim, started in the master, goes
on, but what the script executes inherits no LD_PRELOAD.

A missing php-fpm (or nginx, curl) fails the tests: scripts/install-deps.sh
installs them.
"""

import glob
import hashlib
import http.client
import json
import os
import signal
import ssl
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

NGINX = "/usr/sbin/nginx"
C, S = th.KIND_CLIENT, th.KIND_SERVER

# The CGI variables nginx sends, as Debian's /etc/nginx/fastcgi_params has
# them (written out, so that the test does not follow that file's edits);
# nginx adds one HTTP_* per request header itself (fastcgi_pass_request_headers).
FASTCGI_PARAMS = """
            fastcgi_param QUERY_STRING      $query_string;
            fastcgi_param REQUEST_METHOD    $request_method;
            fastcgi_param CONTENT_TYPE      $content_type;
            fastcgi_param CONTENT_LENGTH    $content_length;
            fastcgi_param SCRIPT_NAME       $fastcgi_script_name;
            fastcgi_param SCRIPT_FILENAME   $document_root$fastcgi_script_name;
            fastcgi_param REQUEST_URI       $request_uri;
            fastcgi_param DOCUMENT_URI      $document_uri;
            fastcgi_param DOCUMENT_ROOT     $document_root;
            fastcgi_param SERVER_PROTOCOL   $server_protocol;
            fastcgi_param REQUEST_SCHEME    $scheme;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param SERVER_SOFTWARE   nginx/$nginx_version;
            fastcgi_param REMOTE_ADDR       $remote_addr;
            fastcgi_param REMOTE_PORT       $remote_port;
            fastcgi_param SERVER_ADDR       $server_addr;
            fastcgi_param SERVER_PORT       $server_port;
            fastcgi_param SERVER_NAME       $server_name;
            fastcgi_param REDIRECT_STATUS   200;"""

# a.php: (optionally) meets a second request first, so that two workers
# serve at once; calls the backend with php-curl; answers one line of JSON:
# the backend's status and body, the HTTP_* variables it got, the method,
# the request body's length and md5, its pid.
A_PHP = r"""<?php
if (isset($_GET['meet'])) {
    touch(%(meet)s . '/meet-' . getmypid());
    $until = microtime(true) + 10;
    while (count(glob(%(meet)s . '/meet-*')) < 2 && microtime(true) < $until) {
        usleep(10000);
    }
}
$c = curl_init('http://127.0.0.1:%(port)d/ok');
curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
curl_setopt($c, CURLOPT_TIMEOUT, 10);
$body = curl_exec($c);
$in = file_get_contents('php://input');
header('Content-Type: application/json');
echo json_encode([
    'backend' => curl_getinfo($c, CURLINFO_RESPONSE_CODE),
    'backend_body' => $body === false ? curl_error($c) : $body,
    'http' => array_filter($_SERVER, fn($k) => str_starts_with($k, 'HTTP_'),
                           ARRAY_FILTER_USE_KEY),
    'method' => $_SERVER['REQUEST_METHOD'],
    'body_len' => strlen($in),
    'body_md5' => md5($in),
    'pid' => getmypid(),
]);
"""

MISSING_PHP = """<?php
http_response_code(404);
echo "no";
"""

# The CGI variables of the trace context the shim gives php-fpm (default
# OTEL_PROPAGATORS=b3multi,tracecontext), as PHP shows them.
TRACE_VARS = ("HTTP_X_B3_TRACEID", "HTTP_X_B3_SPANID", "HTTP_X_B3_PARENTSPANID",
              "HTTP_X_B3_SAMPLED", "HTTP_X_B3_FLAGS", "HTTP_B3", "HTTP_TRACEPARENT",
              "HTTP_TRACESTATE")


def find_php_fpm():
    """php-fpm's path (Debian installs it as /usr/sbin/php-fpmX.Y), or a
    failure: the suite installs it (scripts/install-deps.sh)."""
    found = sorted(glob.glob("/usr/sbin/php-fpm*"))
    found = [f for f in found if os.access(f, os.X_OK)]
    if not found:
        raise AssertionError("php-fpm is not installed (Debian: apt-get install php-fpm; "
                             "scripts/install-deps.sh installs it)")
    return found[-1]


def established_ports(remote_port):
    """Local ports of the ESTABLISHED IPv4 TCP connections to
    127.0.0.1:remote_port (from /proc/net/tcp: nginx's connections to
    php-fpm)."""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and remote == "0100007F:%04X" % remote_port:
                out.add(int(local.split(":")[1], 16))
    return out


class FastCgiTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.fpm = find_php_fpm()
        if not os.access(NGINX, os.X_OK):
            raise AssertionError("nginx is not installed (%s; Debian: nginx-light)" % NGINX)
        cls.curl = th.require_tool("curl")
        r = th.run([cls.fpm, "-n", "-d", "extension=curl", "-m"], env=th.clean_env(),
                   tmpdir=cls.make_class_tmp("tsit-fastcgi-"), name="php-fpm-modules",
                   timeout=30)
        if "curl" not in r.stdout().decode().split():
            raise AssertionError("%s has no curl extension (Debian: php-curl)\n%s"
                                 % (cls.fpm, r.describe()))

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.www = os.path.join(self.tmp, "www")
        self.meet = os.path.join(self.tmp, "meet")
        os.makedirs(self.www)
        os.makedirs(self.meet)
        self.procs = []
        self.logs = {}  # name: path of a log file shown when a test fails

    # ------------------------------------------------------------------
    # the programs

    def start_backend(self):
        """apps/httpapp.py, traced as "backend"; a.php calls its /ok."""
        srv, port = th.start_app_server(self, "backend", self.spans_file, self.tmp)
        self.procs.append(srv)
        self.backend = srv
        with open(os.path.join(self.www, "a.php"), "w") as f:
            f.write(A_PHP % {"port": port, "meet": "'%s'" % self.meet})
        with open(os.path.join(self.www, "missing.php"), "w") as f:
            f.write(MISSING_PHP)
        return srv, port

    def start_fpm(self, listen, children=1, traced=True):
        """php-fpm in the foreground, one static pool of `children`
        workers on `listen` (a port on 127.0.0.1, or a Unix-domain socket's
        path); returns the master's Proc once it accepts connections."""
        d = os.path.join(self.tmp, "php-fpm")
        os.makedirs(d, exist_ok=True)
        where = listen if isinstance(listen, str) else "127.0.0.1:%d" % listen
        conf = os.path.join(d, "php-fpm.conf")
        with open(conf, "w") as f:
            f.write("""[global]
pid = %(d)s/php-fpm.pid
error_log = %(d)s/php-fpm.log
log_level = notice
process_control_timeout = 5s

[app]
listen = %(where)s
listen.mode = 0666
pm = static
pm.max_children = %(children)d
clear_env = no
catch_workers_output = yes
decorate_workers_output = no
request_terminate_timeout = 30s
""" % {"d": d, "where": where, "children": children})
        self.logs["php-fpm.log"] = os.path.join(d, "php-fpm.log")
        argv = [self.fpm, "-F", "-O", "-n", "-d", "extension=curl", "-p", d, "-y", conf]
        if os.geteuid() == 0:
            argv.append("-R")
        # php loads its extensions with RTLD_DEEPBIND, which a preloaded
        # sanitizer runtime refuses (test_deepbind.py): the plain library
        env = th.plain_lib_env(th.shim_env("php-fpm", self.spans_file), "php-fpm") \
            if traced else th.clean_env()
        p = th.Proc(argv, env=env, tmpdir=self.tmp, name="php-fpm")
        self.addCleanup(p.stop)
        self.procs.append(p)
        self.fpm_proc = p
        self.wait_listening(listen, p)
        return p

    def start_nginx(self, fastcgi_pass, traced=True, keep_conn=False, more_http="", listen=""):
        """nginx (master + 1 worker) on a free port, *.php passed to
        php-fpm at fastcgi_pass ("127.0.0.1:PORT" or "unix:PATH"); with
        keep_conn through an upstream that keeps 4 idle connections, with
        fastcgi_keep_conn on; more_http: directives for the http block;
        listen: what follows the listen address ("ssl"). Returns (proc,
        port)."""
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(os.path.join(d, "temp"))
        port = th.free_port()
        http_extra = "keepalive_timeout 30s;\n    " + more_http
        to = fastcgi_pass
        keep = ""
        if keep_conn:
            http_extra += "\n    upstream fpm { server %s; keepalive 4; }" % fastcgi_pass
            to = "fpm"
            keep = "fastcgi_keep_conn on;"
        server = """root %(www)s;
        location ~ \\.php$ {
            fastcgi_pass %(to)s;
            %(keep)s
            fastcgi_connect_timeout 10s;
            fastcgi_read_timeout 20s;
            fastcgi_send_timeout 20s;%(params)s
        }""" % {"www": self.www, "to": to, "keep": keep, "params": FASTCGI_PARAMS}
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(th.nginx_conf(d, port, server, listen=listen, http_extra=http_extra,
                                  connections=64))
        self.logs["nginx error.log"] = os.path.join(d, "error.log")
        env = th.shim_env("nginx", self.spans_file) if traced else th.clean_env()
        p = th.Proc([NGINX, "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf,
                     "-g", "daemon off; master_process on;"], env=env, tmpdir=self.tmp,
                    name="nginx" if traced else "nginx-untraced")
        self.addCleanup(p.stop)
        self.procs.append(p)
        self.wait_listening(port, p)
        return p, port

    def wait_listening(self, where, proc):
        try:
            th.wait_port(where, timeout=10, proc=proc)
        except AssertionError as e:
            raise AssertionError("%s%s" % (e, self.describe_logs()))

    def describe_logs(self):
        out = ""
        for name, path in self.logs.items():
            try:
                with open(path, errors="replace") as f:
                    text = f.read()[-3000:]
            except OSError:
                text = "(none)"
            out += "\n--- %s:\n%s" % (name, text)
        return out

    def quit_fpm(self):
        """The graceful stop: SIGQUIT to the master, which has each worker
        finish and exit; the master's own exit is bounded."""
        p = self.fpm_proc
        if p.poll() is None:
            os.kill(p.pid, signal.SIGQUIT)
        p.wait(15, "php-fpm (SIGQUIT)")
        p.stop(grace=1)
        return p.returncode

    # ------------------------------------------------------------------
    # the client

    def curl_run(self, urls, args=(), name="curl"):
        """Start the untraced curl on urls (one connection, kept alive
        between them); returns its Proc. Each answer is printed as its body,
        a newline, then "<status> <new connections>"."""
        p = th.Proc([self.curl, "-q", "-sS", "--noproxy", "*", "--max-time", "20", *args,
                     "-w", "\n%{http_code} %{num_connects}\n", *urls],
                    env=th.clean_env(), tmpdir=self.tmp, name=name)
        self.addCleanup(p.stop)
        return p

    def answers(self, p, n):
        """[(status, new connections, body)] of the n answers curl printed."""
        p.wait(30, "curl")
        self.assertEqual(p.returncode, 0, "curl failed\n%s%s%s" % (
            p.describe(), "".join("\n" + q.describe(1500) for q in self.procs),
            self.describe_logs()))
        lines = p.stdout().decode("utf-8", "replace").split("\n")
        self.assertEqual(len(lines), 2 * n + 1, "curl's output: %r" % p.stdout())
        out = []
        for i in range(n):
            code, conns = lines[2 * i + 1].split()
            out.append((int(code), int(conns), lines[2 * i]))
        return out

    def get(self, urls, args=()):
        p = self.curl_run(urls, args)
        return self.answers(p, len(urls))

    def page(self, answer, method="GET", body=b""):
        """a.php's JSON of a 200 answer, checked: the backend was reached
        and answered 200 "ok", the method and request body arrived."""
        code, _, text = answer
        self.assertEqual(code, 200, "a.php: %r%s" % (text, self.describe_logs()))
        try:
            page = json.loads(text)
        except ValueError:
            self.fail("a.php did not answer JSON: %r%s" % (text, self.describe_logs()))
        self.assertEqual((page["backend"], page["backend_body"]), (200, "ok"),
                         "php-curl's call to the backend: %r" % page)
        self.assertEqual(page["method"], method, page)
        self.assertEqual(page["body_len"], len(body), page)
        if body:
            self.assertEqual(page["body_md5"], hashlib.md5(body).hexdigest(), page)
        return page

    # ------------------------------------------------------------------
    # spans

    def final_spans(self, count, php_calls=0):
        """Wait (bounded) for `count` spans, then stop every process (the
        servers exit cleanly, php-fpm gracefully) and return the final
        file's spans. Fewer spans is no failure here: the assertions on
        them say what is missing. php_calls: how many php-curl calls the
        requests made, checked first (check_php_calls). nginx stops first: it closes its FastCGI
        connections, which a php-fpm worker waits on (fastcgi_keep_conn)
        before it sees its master's SIGQUIT."""
        deadline = time.monotonic() + th.SPAN_TIMEOUT
        while len(th.read_spans(self.spans_file)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        for p in reversed(self.procs):
            if p is getattr(self, "fpm_proc", None):
                status = self.quit_fpm()
            else:
                status = p.stop()
            self.assertEqual(status, 0, "%s did not exit cleanly\n%s%s"
                             % (p.name, p.describe(), self.describe_logs()))
        spans = th.read_spans(self.spans_file, strict=True)
        self.dump = "\n%s\n%s%s" % (th.spans_by_service(spans), th.format_spans(spans),
                                    self.describe_logs())
        self.check_php_calls(spans, php_calls)
        return spans

    def check_php_calls(self, spans, n):
        """What owes nothing to FastCGI: n php-curl CLIENT spans, each made
        in a php-fpm worker (not the master), each the parent of one
        backend SERVER span in its trace."""
        pcli = [s for s in spans if s["service"] == "php-fpm" and s["kind"] == C]
        bsrv = [s for s in spans if s["service"] == "backend" and s["kind"] == S]
        self.assertEqual((len(pcli), len(bsrv)), (n, n),
                         "php-curl CLIENT and backend SERVER spans" + self.dump)
        for c in pcli:
            self.assertEqual((c["name"], c["attrs"].get("http.response.status_code")),
                             ("GET /ok", 200), self.dump)
            self.assertNotIn(c["pid"], (self.fpm_proc.pid, self.backend.pid),
                             "php-curl's span comes from a worker" + self.dump)
        self.assertEqual(sorted((s["traceId"], s["parentSpanId"]) for s in bsrv),
                         sorted((c["traceId"], c["spanId"]) for c in pcli),
                         "each backend SERVER span the child of a php-curl CLIENT span"
                         + self.dump)

    def one(self, spans, what, service, kind, parent=None, trace=None, root=False):
        """The single span of service and kind with that parent (a span,
        whose child it must be), in that trace; root: one without parent."""
        found = [s for s in spans if s["service"] == service and s["kind"] == kind
                 and (parent is None or s["parentSpanId"] == parent["spanId"])
                 and (trace is None or s["traceId"] == trace)
                 and (not root or s["parentSpanId"] is None)]
        if len(found) != 1:
            self.fail("expected exactly one %s, found %d%s" % (what, len(found), self.dump))
        return found[0]

    def check_request(self, spans, nsrv, path, status=200, method="GET", backend=True,
                      page=None, transport=("tcp", None)):
        """The trace of one request below nginx's SERVER span nsrv:
        nginx CLIENT -> php-fpm SERVER [-> php-fpm CLIENT -> backend
        SERVER], each the child of the span before, all in nsrv's trace;
        statuses, names, attributes; the trace variables the script saw
        (page) name nginx's CLIENT span. Returns the chain."""
        dump = self.dump
        trace = nsrv["traceId"]
        code = lambda s: s["attrs"].get("http.response.status_code")  # noqa: E731
        self.assertEqual((nsrv["name"], code(nsrv)), ("%s %s" % (method, path), status),
                         "nginx's SERVER span" + dump)
        chain = [nsrv]
        ncli = self.one(spans, "nginx CLIENT span (the FastCGI exchange) under nginx's "
                        "SERVER span %s" % nsrv["spanId"], "nginx", C, parent=nsrv, trace=trace)
        self.assertEqual((ncli["attrs"].get("http.request.method"), code(ncli)),
                         (method, status), "nginx's CLIENT span" + dump)
        fsrv = self.one(spans, "php-fpm SERVER span under nginx's CLIENT span %s"
                        % ncli["spanId"], "php-fpm", S, parent=ncli, trace=trace)
        self.assertEqual(fsrv["name"], "%s %s" % (method, path), "php-fpm's SERVER span" + dump)
        self.assertEqual(fsrv["name"], nsrv["name"],
                         "php-fpm's SERVER span is named as nginx's HTTP one" + dump)
        self.assertEqual({k: fsrv["attrs"].get(k) for k in ("http.request.method", "url.path",
                                                             "http.response.status_code")},
                         {"http.request.method": method, "url.path": path,
                          "http.response.status_code": status},
                         "php-fpm's SERVER span attributes" + dump)
        self.assertEqual(fsrv["status"], th.STATUS_UNSET if status < 500 else th.STATUS_ERROR,
                         dump)
        self.assertEqual(ncli["status"], th.STATUS_ERROR if status >= 400 else th.STATUS_UNSET,
                         dump)
        self.assertNotEqual(fsrv["pid"], self.fpm_proc.pid,
                            "a worker serves, not the master" + dump)
        # one clock per process: the exchange inside the request nginx
        # serves (across processes the order of two ends is a race: on
        # loopback php-fpm's write returns after nginx may have read it)
        self.assertTrue(nsrv["start"] <= ncli["start"] and ncli["end"] <= nsrv["end"],
                        "nginx's CLIENT span inside its SERVER span" + dump)
        chain += [ncli, fsrv]
        if backend:
            pcli = self.one(spans, "php-curl CLIENT span under php-fpm's SERVER span %s"
                            % fsrv["spanId"], "php-fpm", C, parent=fsrv, trace=trace)
            bsrv = self.one(spans, "backend SERVER span under php-curl's CLIENT span %s"
                            % pcli["spanId"], "backend", S, parent=pcli, trace=trace)
            self.assertEqual(pcli["pid"], fsrv["pid"],
                             "php-curl's span comes from the worker serving" + dump)
            self.assertTrue(fsrv["start"] <= pcli["start"] and pcli["end"] <= fsrv["end"],
                            "php-curl's call inside php-fpm's SERVER span" + dump)
            self.assertEqual((pcli["name"], code(pcli), code(bsrv)), ("GET /ok", 200, 200), dump)
            chain += [pcli, bsrv]
        if page is not None:
            want = {"HTTP_X_B3_TRACEID": trace, "HTTP_X_B3_SPANID": ncli["spanId"],
                    "HTTP_X_B3_PARENTSPANID": nsrv["spanId"], "HTTP_X_B3_SAMPLED": "1",
                    "HTTP_TRACEPARENT": "00-%s-%s-01" % (trace, ncli["spanId"])}
            got = {k: v for k, v in page["http"].items() if k in TRACE_VARS}
            self.assertEqual(got, want, "the trace context the script saw names nginx's CLIENT "
                             "span" + dump)
        kind, where = transport
        if kind == "tcp":
            self.assertEqual(ncli["attrs"].get("network.peer.port"), where,
                             "nginx's CLIENT span: php-fpm is its peer" + dump)
            self.assertEqual(ncli["attrs"].get("server.port"), where,
                             "nginx's CLIENT span names php-fpm's port" + dump)
        else:
            self.assertEqual(ncli["attrs"].get("network.transport"), "unix", dump)
            self.assertEqual(ncli["attrs"].get("network.peer.address"), where, dump)
            self.assertNotIn("network.peer.port", ncli["attrs"], dump)
            self.assertEqual(fsrv["attrs"].get("network.transport"), "unix", dump)
            self.assertEqual(fsrv["attrs"].get("network.local.address"), where, dump)
            self.assertNotIn("client.address", fsrv["attrs"], dump)
        return chain

    def nginx_servers(self, spans, n, roots=True):
        """nginx's n SERVER spans, by start; roots (when curl is not
        traced)."""
        found = sorted((s for s in spans if s["service"] == "nginx" and s["kind"] == S),
                       key=lambda s: s["start"])
        self.assertEqual(len(found), n, "nginx's SERVER spans" + self.dump)
        for s in found:
            if roots:
                self.assertIsNone(s["parentSpanId"], "curl is not traced: a root" + self.dump)
        return found

    def counts(self, spans, want):
        got = {}
        for s in spans:
            key = (s["service"], s["kind"])
            got[key] = got.get(key, 0) + 1
        self.assertEqual(got, want, "spans by (service, kind)" + self.dump)

    def setup_tcp(self, children=1, keep_conn=False, nginx_traced=True, more_http="",
                  listen=""):
        self.start_backend()
        self.fpm_port = th.free_port()
        self.start_fpm(self.fpm_port, children)
        self.nginx, self.port = self.start_nginx("127.0.0.1:%d" % self.fpm_port,
                                                 traced=nginx_traced, keep_conn=keep_conn,
                                                 more_http=more_http, listen=listen)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def self_signed(self):
        """nginx's directives for a certificate of its own (openssl)."""
        openssl = th.require_tool("openssl")
        crt, key = os.path.join(self.tmp, "server.crt"), os.path.join(self.tmp, "server.key")
        r = th.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=localhost"], env=th.clean_env(),
                   tmpdir=self.tmp, name="openssl", timeout=60)
        self.assertEqual(r.returncode, 0, "openssl: %s" % r.describe())
        return "ssl_certificate %s; ssl_certificate_key %s;" % (crt, key)

    # ------------------------------------------------------------------
    # the tests

    def test_get_through_tcp(self):
        """One GET of a.php, php-fpm on 127.0.0.1: five spans, one trace;
        the script saw nginx's CLIENT span's context."""
        self.setup_tcp()
        ans, = self.get([self.url("/a.php?x=1")])
        page = self.page(ans)
        spans = self.final_spans(5, php_calls=1)
        nsrv, = self.nginx_servers(spans, 1)
        self.check_request(spans, nsrv, "/a.php", page=page, transport=("tcp", self.fpm_port))
        self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace" + self.dump)
        self.counts(spans, {("nginx", S): 1, ("nginx", C): 1, ("php-fpm", S): 1,
                            ("php-fpm", C): 1, ("backend", S): 1})

    def test_get_through_a_unix_socket(self):
        """php-fpm on a Unix-domain socket (Debian's default), nginx's
        fastcgi_pass unix:PATH."""
        self.start_backend()
        sock = os.path.join(self.tmp, "fpm.sock")
        self.start_fpm(sock)
        self.nginx, self.port = self.start_nginx("unix:" + sock)
        ans, = self.get([self.url("/a.php")])
        page = self.page(ans)
        spans = self.final_spans(5, php_calls=1)
        nsrv, = self.nginx_servers(spans, 1)
        self.check_request(spans, nsrv, "/a.php", page=page, transport=("unix", sock))
        self.counts(spans, {("nginx", S): 1, ("nginx", C): 1, ("php-fpm", S): 1,
                            ("php-fpm", C): 1, ("backend", S): 1})

    def test_status_from_the_cgi_head(self):
        """missing.php answers 404 (php-fpm's "Status: 404 Not Found"):
        404 on php-fpm's SERVER span, nginx's CLIENT and SERVER spans; then
        a.php (no Status: 200) on the same curl connection."""
        self.setup_tcp()
        missing, ok = self.get([self.url("/missing.php"), self.url("/a.php")])
        self.assertEqual((missing[0], missing[2]), (404, "no"), self.describe_logs())
        page = self.page(ok)
        spans = self.final_spans(3 + 5, php_calls=1)
        n404, n200 = self.nginx_servers(spans, 2)
        self.check_request(spans, n404, "/missing.php", status=404, backend=False,
                           transport=("tcp", self.fpm_port))
        self.check_request(spans, n200, "/a.php", page=page, transport=("tcp", self.fpm_port))
        self.assertNotEqual(n404["traceId"], n200["traceId"], self.dump)

    def test_post_with_a_body(self):
        """A POST of 100 KB (nginx buffers it to a file and sends it in
        several STDIN records, php-fpm reads them all): traced like a GET,
        the body whole."""
        self.setup_tcp()
        body = bytes((i * 7 + i // 251) % 256 for i in range(100 * 1024))
        path = os.path.join(self.tmp, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        ans, = self.get([self.url("/a.php")], args=("--data-binary", "@" + path, "-H",
                                                    "Content-Type: application/octet-stream"))
        page = self.page(ans, method="POST", body=body)
        spans = self.final_spans(5, php_calls=1)
        nsrv, = self.nginx_servers(spans, 1)
        self.check_request(spans, nsrv, "/a.php", method="POST", page=page,
                           transport=("tcp", self.fpm_port))

    def test_two_requests_on_one_nginx_connection(self):
        """Two GETs on one keep-alive connection to nginx (curl connects
        once): two traces, each whole."""
        self.setup_tcp()
        a, b = self.get([self.url("/a.php?n=1"), self.url("/a.php?n=2")])
        self.assertEqual((a[1], b[1]), (1, 0), "curl reused its connection to nginx")
        pages = [self.page(a), self.page(b)]
        spans = self.final_spans(10, php_calls=2)
        servers = self.nginx_servers(spans, 2)
        for nsrv, page in zip(servers, pages):
            self.check_request(spans, nsrv, "/a.php", page=page,
                               transport=("tcp", self.fpm_port))
        self.assertEqual(len({s["traceId"] for s in spans}), 2, "two traces" + self.dump)

    def test_fastcgi_keep_conn(self):
        """fastcgi_keep_conn on, an upstream that keeps idle connections:
        three requests, one after another, on one FastCGI connection
        (FCGI_KEEP_CONN: php-fpm does not close it), a trace each."""
        self.setup_tcp(keep_conn=True)
        pages, conns = [], []
        for i in range(3):
            ans, = self.get([self.url("/a.php?n=%d" % i)])
            pages.append(self.page(ans))
            conns.append(established_ports(self.fpm_port))
        self.assertEqual(len(conns[0]), 1, "one FastCGI connection open: %r" % conns)
        self.assertEqual(conns, [conns[0]] * 3, "the same FastCGI connection for all three "
                         "(nginx's local ports to php-fpm after each request): %r" % conns)
        spans = self.final_spans(15, php_calls=3)
        servers = self.nginx_servers(spans, 3)
        for nsrv, page in zip(servers, pages):
            self.check_request(spans, nsrv, "/a.php", page=page,
                               transport=("tcp", self.fpm_port))
        self.assertEqual(len({s["traceId"] for s in spans}), 3, "three traces" + self.dump)

    def nginx_worker(self):
        """The pid of nginx's one worker (the master's child; the master
        may not have forked it yet when its port accepts)."""
        deadline = time.monotonic() + 10
        while True:
            kids = []
            for d in os.listdir("/proc"):
                if d.isdigit():
                    try:
                        with open("/proc/%s/stat" % d) as f:
                            stat = f.read()
                    except OSError:
                        continue
                    if int(stat.rpartition(")")[2].split()[1]) == self.nginx.pid:
                        kids.append(int(d))
            if kids or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(len(kids), 1, "nginx's worker processes: %r" % kids)
        return kids[0]

    def two_at_once(self, contexts, tls=False, warm=False):
        """pm.max_children = 2; two connections to nginx, each a GET of
        a.php whose two runs meet (each waits until both arrived), so that
        two workers serve at once. nginx's worker is stopped (SIGSTOP)
        while both requests are sent, so that it reads both in one turn of
        its event loop, before it starts either FastCGI exchange (it
        connects, then writes the head when the connection is writable: a
        later turn). contexts: a (trace, span) each request's traceparent
        names, or None: no trace header. Each request is its own whole
        trace, its php-curl span the child of its own worker's SERVER
        span. tls: nginx serves HTTPS. warm: one GET first, on a
        connection of its own, so that nginx has made a FastCGI exchange
        before the two connections come (from then on the shim notes each
        connection by its client port, and looks there first)."""
        if tls:
            self.setup_tcp(children=2, more_http=self.self_signed(), listen="ssl")
        else:
            self.setup_tcp(children=2)
        worker = self.nginx_worker()

        def connection():
            if tls:
                c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=20,
                                                context=ssl._create_unverified_context())
            else:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
            self.addCleanup(c.close)
            c.connect()
            return c

        if warm:
            c = connection()
            c.request("GET", "/a.php?n=warm")
            r = c.getresponse()
            self.page((r.status, 0, r.read().decode("utf-8", "replace")))
            c.close()
        conns = [connection() for _ in range(2)]
        time.sleep(0.3)  # nginx accepts both connections
        os.kill(worker, signal.SIGSTOP)
        try:
            for i, c in enumerate(conns):
                headers = {}
                if contexts:
                    headers["traceparent"] = "00-%s-%s-01" % contexts[i]
                c.request("GET", "/a.php?meet=1&n=%d" % i, headers=headers)
            time.sleep(0.1)  # both requests arrived
        finally:
            os.kill(worker, signal.SIGCONT)
        answers = []
        for c in conns:
            r = c.getresponse()
            answers.append((r.status, 0, r.read().decode("utf-8", "replace")))
        pages = [self.page(a) for a in answers]
        self.assertNotEqual(pages[0]["pid"], pages[1]["pid"], "two workers served: %r" % pages)
        spans = self.final_spans(15 if warm else 10, php_calls=3 if warm else 2)
        servers = self.nginx_servers(spans, 3 if warm else 2, roots=not contexts)
        if warm:
            self.check_request(spans, servers[0], "/a.php", transport=("tcp", self.fpm_port))
            servers = servers[1:]
        if contexts:
            self.assertEqual(sorted((s["traceId"], s["parentSpanId"]) for s in servers),
                             sorted(contexts), "nginx continued each request's context"
                             + self.dump)
        chains = [self.check_request(spans, nsrv, "/a.php", transport=("tcp", self.fpm_port))
                  for nsrv in servers]
        self.assertEqual({c[2]["pid"] for c in chains}, {p["pid"] for p in pages},
                         "each worker's SERVER span" + self.dump)
        for chain in chains:
            page = [p for p in pages if p["pid"] == chain[2]["pid"]][0]
            self.assertEqual(page["http"].get("HTTP_TRACEPARENT"),
                             "00-%s-%s-01" % (chain[1]["traceId"], chain[1]["spanId"]),
                             "the script saw its own request's context" + self.dump)

    def test_two_workers_at_once(self):
        """Two requests at once, each with a traceparent: nginx passes it
        on as HTTP_TRACEPARENT, which names the SERVER span nginx serves
        that request in (README: how a client span finds its parent, 1),
        so each FastCGI exchange finds its own parent although nginx's one
        thread read the other request last."""
        self.two_at_once([("8bf92f3577b34da6a3ce929d0e0e4731", "40f067aa0ba902b1"),
                          ("9bf92f3577b34da6a3ce929d0e0e4732", "50f067aa0ba902b2")])

    def test_two_at_once_without_inbound_context(self):
        """The same without trace headers: no context to follow, and the
        thread's current request (README: how a client span finds its
        parent, 3) is the second one for both exchanges. What names each
        exchange's request is in its PARAMS: REMOTE_ADDR and REMOTE_PORT
        (the peer of the connection the request came on). Expected exact,
        like the rest."""
        self.two_at_once(None)

    def test_two_at_once_through_https(self):
        """The same behind HTTPS: the connection REMOTE_PORT names is a
        TLS session's plaintext, which no fd slot holds (the shim looks
        among its TLS sessions too)."""
        self.two_at_once(None, tls=True)

    def test_two_at_once_through_https_after_an_exchange(self):
        """The same after nginx's first FastCGI exchange: the connections
        are noted by their client ports, and the TLS session each names is
        looked at first."""
        self.two_at_once(None, tls=True, warm=True)

    def test_notices_before_output_on_a_kept_connection(self):
        """A script that logs 24 KB of notices (error_log: STDERR records)
        before its first output, on a kept FastCGI connection, then two
        more requests on it: the notices, more than a head's size limit,
        are walked past record by record; every exchange is traced."""
        self.setup_tcp(keep_conn=True)
        with open(os.path.join(self.www, "noisy.php"), "w") as f:
            f.write("<?php\nfor ($i = 0; $i < 200; $i++) error_log(str_repeat('w', 120));\n"
                    "http_response_code(201);\necho 'noisy';\n")
        (code, _, text), = self.get([self.url("/noisy.php")])
        self.assertEqual((code, text), (201, "noisy"), self.describe_logs())
        pages = [self.page(a) for a in (self.get([self.url("/a.php?n=%d" % i)])[0]
                                        for i in range(2))]
        spans = self.final_spans(13, php_calls=2)
        noisy, *rest = self.nginx_servers(spans, 3)
        self.check_request(spans, noisy, "/noisy.php", status=201, backend=False,
                           transport=("tcp", self.fpm_port))
        for nsrv, page in zip(rest, pages):
            self.check_request(spans, nsrv, "/a.php", page=page, transport=("tcp", self.fpm_port))

    def test_request_body_by_sendfile_on_a_kept_connection(self):
        """nginx with sendfile on sends a request body it buffered to a
        file by sendfile (the STDIN records' headers from memory, their
        content unseen by the shim), on a kept FastCGI connection: that
        request and the two after it on the connection are traced."""
        self.setup_tcp(keep_conn=True, more_http="sendfile on; client_body_buffer_size 1k;")
        body = bytes((i * 13) % 251 for i in range(64 * 1024))
        path = os.path.join(self.tmp, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        ans, = self.get([self.url("/a.php?n=post")], args=("--data-binary", "@" + path))
        pages = [self.page(ans, method="POST", body=body)]
        pages += [self.page(self.get([self.url("/a.php?n=%d" % i)])[0]) for i in range(2)]
        spans = self.final_spans(15, php_calls=3)
        servers = self.nginx_servers(spans, 3)
        for nsrv, page, method in zip(servers, pages, ("POST", "GET", "GET")):
            self.check_request(spans, nsrv, "/a.php", method=method, page=page,
                               transport=("tcp", self.fpm_port))

    def test_inbound_context_through_untraced_nginx(self):
        """nginx not traced: the context curl sends (traceparent, b3,
        X-B3-*) reaches php-fpm as the HTTP_* variable nginx makes of it,
        and php-fpm's SERVER span continues it."""
        self.setup_tcp(nginx_traced=False)
        cases = [
            ("traceparent", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
             lambda t, s: ["traceparent: 00-%s-%s-01" % (t, s)]),
            ("b3", "5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8",
             lambda t, s: ["b3: %s-%s-1" % (t, s)]),
            ("b3multi", "6bf92f3577b34da6a3ce929d0e0e4738", "20f067aa0ba902b9",
             lambda t, s: ["X-B3-TraceId: %s" % t, "X-B3-SpanId: %s" % s, "X-B3-Sampled: 1"]),
        ]
        pages = {}
        for name, t, s, headers in cases:
            args = []
            for h in headers(t, s):
                args += ["-H", h]
            ans, = self.get([self.url("/a.php?via=%s" % name)], args=args)
            pages[name] = self.page(ans)
        spans = self.final_spans(3 * 3, php_calls=3)
        self.assertEqual([s for s in spans if s["service"] == "nginx"], [],
                         "nginx is not traced" + self.dump)
        for name, t, s, headers in cases:
            with self.subTest(inbound=name):
                fsrv = self.one(spans, "php-fpm SERVER span in trace %s (%s)" % (t, name),
                                "php-fpm", S, trace=t)
                self.assertEqual(fsrv["parentSpanId"], s,
                                 "php-fpm's SERVER span continues the %s context" % name
                                 + self.dump)
                self.assertEqual((fsrv["name"], fsrv["attrs"].get("http.response.status_code")),
                                 ("GET /a.php", 200), self.dump)
                pcli = self.one(spans, "php-curl CLIENT span under php-fpm's SERVER span",
                                "php-fpm", C, parent=fsrv, trace=t)
                self.one(spans, "backend SERVER span under php-curl's", "backend", S,
                         parent=pcli, trace=t)
                if name == "traceparent":
                    self.assertEqual(pages[name]["http"].get("HTTP_TRACEPARENT"),
                                     "00-%s-%s-01" % (t, s),
                                     "untraced nginx passes curl's header on as it came")

    def test_inbound_context_through_traced_nginx(self):
        """curl sends a traceparent to the traced nginx, which passes it on
        as HTTP_TRACEPARENT among its own variables: nginx's SERVER span
        continues it, and the context php-fpm gets and continues is nginx's
        CLIENT span's (the shim's PARAMS record comes after nginx's, so
        the script's HTTP_TRACEPARENT is that too)."""
        t, s = "7bf92f3577b34da6a3ce929d0e0e4739", "30f067aa0ba902ba"
        self.setup_tcp()
        ans, = self.get([self.url("/a.php")], args=("-H", "traceparent: 00-%s-%s-01" % (t, s)))
        page = self.page(ans)
        spans = self.final_spans(5, php_calls=1)
        nsrv = self.one(spans, "nginx SERVER span", "nginx", S)
        self.assertEqual((nsrv["traceId"], nsrv["parentSpanId"]), (t, s), self.dump)
        chain = self.check_request(spans, nsrv, "/a.php", transport=("tcp", self.fpm_port))
        self.assertEqual(page["http"].get("HTTP_TRACEPARENT"),
                         "00-%s-%s-01" % (t, chain[1]["spanId"]), self.dump)


if __name__ == "__main__":
    th.main()
