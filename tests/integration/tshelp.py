"""tshelp.py — shared harness for traceshim's integration tests.

Standard library only. Every test binds to 127.0.0.1 only, picks its ports at
run time, starts processes in their own process group and stops them (SIGTERM,
then SIGKILL after a bound) also when the test fails.

Environment (set by ctest; defaults for running a test file by hand):
  TRACESHIM_SRC    source root              default: two levels above this file
  TRACESHIM_BUILD  build directory          default: $TRACESHIM_SRC/build
  TRACESHIM_LIB    the preload library      default: $TRACESHIM_BUILD/libtraceshim.so
  TRACESHIM_VIEW   the viewer               default: $TRACESHIM_BUILD/traceshim-view
Harness switches (for working on the tests themselves):
  TSTEST_NO_SHIM=1         run every "traced" program WITHOUT the library: checks
                           the harness; span assertions are expected to fail
  TSTEST_SPAN_TIMEOUT=S    how long to wait for spans (default 5: 50 export
                           periods of 100 ms; 1 with NO_SHIM)
  TSTEST_KEEP=1            keep the temporary directories (paths printed)
  TSTEST_PRELOAD_FIRST=P   preload P before the library in every traced
                           program (scripts/test.sh: the ASan runtime, for a
                           library built with -DTS_SANITIZE=address,undefined)
  TSTEST_PLAIN_LIB=L       with TSTEST_PRELOAD_FIRST: the library built without
                           sanitizers, for the programs no preloaded ASan
                           runtime can run (see SANITIZER_CANNOT_RUN and
                           apps/sanitizer_exec.c)
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

# unittest leaves frames of modules with this global out of tracebacks: a
# failure points at the test's line, not at the harness.
__unittest = True

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
SRC = os.environ.get("TRACESHIM_SRC") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("TRACESHIM_BUILD") or os.path.join(SRC, "build")
LIB = os.environ.get("TRACESHIM_LIB") or os.path.join(BUILD, "libtraceshim.so")
VIEW = os.environ.get("TRACESHIM_VIEW") or os.path.join(BUILD, "traceshim-view")
LAUNCHER = os.path.join(SRC, "scripts", "traceshim")
# Debian's python: the python3 first on PATH may be a pyenv bash wrapper, and
# we want exactly one (traced) process per app.
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

NO_SHIM = os.environ.get("TSTEST_NO_SHIM") == "1"
PRELOAD_FIRST = os.environ.get("TSTEST_PRELOAD_FIRST") or ""
PLAIN_LIB = os.environ.get("TSTEST_PLAIN_LIB") or ""
# Programs linked with GnuTLS hang at start-up under a preloaded ASan
# runtime, with or without traceshim (Debian 12: p11-kit's constructor
# calls newlocale, whose malloc starts the runtime's lazy initialisation
# under glibc's locale lock, and that initialisation takes the same lock).
# Under TSTEST_PRELOAD_FIRST they are started with TSTEST_PLAIN_LIB instead
# (libfaketime too: faked_clock_env). So are git and apt-get, whose helpers
# link GnuTLS (git-remote-http through libcurl-gnutls, apt's http method)
# and inherit the preload from them. Two more cannot, for reasons of their
# own: squid (ASan stops it at start: new-delete-type-mismatch in its
# Ip::Address::FreeAddr, squid 5.7) and php (the runtime refuses opcache,
# which php loads with RTLD_DEEPBIND).
SANITIZER_CANNOT_RUN = ("curl", "wget", "wget2", "git", "apt-get", "squid", "php")
# The folder of their static stand-ins (apps/sanitizer_exec.c), first on PATH
STANDIN_DIR = os.environ.get("TSTEST_STANDIN_DIR") or ""


def project_version():
    """The version in CMakeLists.txt's project() line: what the library
    reports (telemetry.sdk.version, the exporters' scope and User-Agent)."""
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(traceshim VERSION (\S+?)\)?\s", f.read(), re.M)
    assert m, "no project version in CMakeLists.txt"
    return m.group(1)


def path_without_standins():
    """PATH without STANDIN_DIR: for tests about finding the programs themselves."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if not STANDIN_DIR or os.path.realpath(d) != os.path.realpath(STANDIN_DIR))
SPAN_TIMEOUT = float(os.environ.get("TSTEST_SPAN_TIMEOUT") or (1 if NO_SHIM else 5))
KEEP = os.environ.get("TSTEST_KEEP") == "1"
# Once every traced process has exited the file is final; this only covers a slow disk.
AFTER_EXIT_TIMEOUT = min(SPAN_TIMEOUT, 1.5)

KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


def status_error_type(span):
    """The error.type an answered span must carry: its status code as a
    string where that code is an error (5xx for a server span, 4xx and
    5xx for a client span: the OpenTelemetry HTTP conventions), else None."""
    code = span["attrs"].get("http.response.status_code")
    if code is None:
        return None
    return str(code) if code >= (500 if span["kind"] == KIND_SERVER else 400) else None

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")

# Variables a traced program must not inherit from whoever runs the tests.
_SCRUB_PREFIXES = ("TRACESHIM_", "OTEL_", "JAEGER_")
_SCRUB_NAMES = {
    "LD_PRELOAD", "TRACEPARENT", "TRACESTATE",
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    "no_proxy", "NO_PROXY", "ftp_proxy", "FTP_PROXY", "CURL_HOME", "WGETRC",
}


# --------------------------------------------------------------------------
# prerequisites


def lib_missing_message():
    """None when the library is there (or not needed), else a one-line message."""
    if NO_SHIM:
        return None
    if not os.path.isfile(LIB):
        return "library not found at %s, build first (cmake --build build)" % LIB
    return None


def require_lib():
    """Fail the calling test (or setUpClass) with one clear line if the library is missing."""
    msg = lib_missing_message()
    if msg:
        raise unittest.TestCase.failureException(msg)


def require_view():
    """Fail with one clear line if the viewer is missing."""
    if not os.path.isfile(VIEW):
        raise unittest.TestCase.failureException(
            "viewer not found at %s, build first (cmake --build build)" % VIEW)


def require_launcher():
    if not os.path.isfile(LAUNCHER):
        raise unittest.TestCase.failureException("launcher not found at %s" % LAUNCHER)


def preload_value(lib=None):
    """LD_PRELOAD for a traced program: the library (or lib), after
    TSTEST_PRELOAD_FIRST when that is set."""
    lib = lib or LIB
    return PRELOAD_FIRST + " " + lib if PRELOAD_FIRST else lib


def launcher_env(**extra):
    """Environment for scripts/traceshim: clean, told where the library and
    viewer are (and, under TSTEST_PRELOAD_FIRST, with that already in
    LD_PRELOAD, which the launcher keeps after the library)."""
    if PRELOAD_FIRST and "LD_PRELOAD" not in extra:
        extra["LD_PRELOAD"] = PRELOAD_FIRST
    return clean_env(TRACESHIM_LIB=LIB, TRACESHIM_VIEW=VIEW, OTEL_BSP_SCHEDULE_DELAY=100, **extra)


def require_tool(name):
    """Path of an external tool, or skip the test when it is not installed."""
    path = shutil.which(name)
    if not path:
        raise unittest.SkipTest("%s is not installed" % name)
    return path


def compile_app(source, output, *flags, libs=()):
    """apps/SOURCE compiled alone by the system's cc into OUTPUT (a path);
    returns OUTPUT. flags come before the source (-O2, -g, -shared, ...),
    libs after it, where the linker wants them (-ldl). A probe's #include
    "probe.h" is found next to its source. Skips the test without cc; a
    compiler error is a failure that shows the compiler's output."""
    cc = require_tool("cc")
    src = os.path.join(APPS, source)
    r = subprocess.run([cc, "-std=gnu11", "-Wall", "-Wextra", *flags, "-o", output, src, *libs],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise AssertionError("cannot compile %s:\n%s" % (src, r.stdout.decode()))
    return output


def compile_library_exit_requests(tmp):
    """apps/library_exit_requests.c built twice into tmp, the library and the
    program that links it (found through its rpath); returns the program."""
    lib = compile_app("library_exit_requests.c", os.path.join(tmp, "liblibrary_exit_requests.so"),
                      "-O2", "-shared", "-fPIC", "-DLIBRARY")
    return compile_app("library_exit_requests.c", os.path.join(tmp, "library_exit_requests"),
                       "-O2", libs=(lib, "-Wl,-rpath," + tmp))


def main():
    """unittest.main(), but a missing library is one line and exit status 1."""
    msg = lib_missing_message()
    if msg:
        sys.stderr.write("%s: FAILED: %s\n" % (os.path.basename(sys.argv[0]), msg))
        sys.exit(1)
    if NO_SHIM:
        sys.stderr.write("TSTEST_NO_SHIM=1: running without the library; span checks will fail\n")
    unittest.main(verbosity=2)


# --------------------------------------------------------------------------
# environment


def clean_env(**extra):
    """os.environ without anything that would trace, proxy or configure the
    programs we start; extra entries are added (value None removes)."""
    env = {k: v for k, v in os.environ.items()
           if k not in _SCRUB_NAMES and not k.startswith(_SCRUB_PREFIXES)}
    env["LC_ALL"] = "C"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def shim_env(service, spans_file, **extra):
    """Environment for a traced process: the library preloaded, spans to
    spans_file, exported every 100 ms. extra entries are added (None removes)."""
    env = clean_env()
    if not NO_SHIM:
        env["LD_PRELOAD"] = preload_value()
    env["TRACESHIM_FILE"] = spans_file
    env["OTEL_SERVICE_NAME"] = service
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


# --------------------------------------------------------------------------
# ports


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A port on 127.0.0.1 nobody listens on (for ECONNREFUSED)."""
    return free_port()


def wait_port(port, timeout=10.0, proc=None):
    """Wait until something accepts connections on 127.0.0.1:port (port a
    str: on that Unix-domain socket). Note that each probe is a connection
    that closes without a byte."""
    where = port if isinstance(port, str) else "127.0.0.1:%d" % port
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited before listening on %s\n%s"
                                 % (proc.name, where, proc.describe()))
        try:
            if isinstance(port, str):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
                    u.settimeout(1)
                    u.connect(port)
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError as e:
            last = e
            time.sleep(0.02)
    raise AssertionError("nothing listening on %s after %.1fs (%s)%s"
                         % (where, timeout, last, "\n" + proc.describe() if proc else ""))


# --------------------------------------------------------------------------
# processes


class Proc:
    """A process in its own process group, stdout/stderr captured to files.

    p = Proc(argv, env=..., name="server-a", tmpdir=d); p.stop() kills the
    whole group: SIGTERM, then SIGKILL after `grace` seconds."""

    def __init__(self, argv, env=None, tmpdir=None, name=None, cwd=None, stdin=None):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="tsproc-")
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)
        base = os.path.join(self.tmpdir, "%s.%d" % (safe, id(self)))
        self.out_path = base + ".out"
        self.err_path = base + ".err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        if stdin is None:
            stdin_arg = subprocess.DEVNULL
        elif isinstance(stdin, (bytes, bytearray)):
            in_path = base + ".in"
            with open(in_path, "wb") as f:
                f.write(stdin)
            stdin_arg = open(in_path, "rb")
        else:
            stdin_arg = stdin
        self.argv, env = _without_sanitizer_for(self.argv, env)
        try:
            self.popen = subprocess.Popen(self.argv, env=env, cwd=cwd, stdin=stdin_arg,
                                          stdout=self._out, stderr=self._err,
                                          start_new_session=True, close_fds=True)
        except OSError as e:
            self._out.close()
            self._err.close()
            raise AssertionError("cannot start %s: %s" % (" ".join(self.argv), e))
        finally:
            if stdin_arg not in (subprocess.DEVNULL,) and stdin_arg is not stdin:
                stdin_arg.close()
        self.pid = self.popen.pid
        self.pgid = self.pid

    def poll(self):
        return self.popen.poll()

    @property
    def returncode(self):
        return self.popen.returncode

    def wait(self, timeout, what=None, why=""):
        """Wait for exit; on timeout kill the group and fail: `what` (by
        default the process's name) did not finish, `why` appended."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(grace=1)
            raise AssertionError("%s did not finish within %.1fs%s\n%s"
                                 % (what or self.name, timeout, why, self.describe()))

    def finish(self, timeout, what):
        """Wait (bounded) for a program that the shim must never block, then
        close its output files; returns its exit status. Still running after
        `timeout` seconds: killed, and a failure that says so."""
        self.wait(timeout, what, " (a deadlock or a hang under the shim)")
        self.stop(grace=1)
        return self.returncode

    def _signal_group(self, sig):
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace=5.0):
        """SIGTERM the group, SIGKILL it after `grace` seconds. Returns the exit status."""
        # Signals go to the group only while its leader is alive (not yet
        # reaped), so the group id cannot name anybody else's processes.
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=5)
        self._close_files()
        return self.popen.returncode

    def _close_files(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read()

    def wait_output(self, pattern, timeout=10.0):
        """Wait until stdout matches the regex (bytes); returns the match."""
        rx = re.compile(pattern if isinstance(pattern, bytes) else pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.stdout())
            if m:
                return m
            if self.poll() is not None:
                raise AssertionError("%s exited (status %s) before printing %r\n%s"
                                     % (self.name, self.returncode, pattern, self.describe()))
            if time.monotonic() > deadline:
                raise AssertionError("%s did not print %r within %.1fs\n%s"
                                     % (self.name, pattern, timeout, self.describe()))
            time.sleep(0.02)

    def describe(self, limit=3000):
        """A few lines about the process for failure messages."""
        def tail(b):
            s = b.decode("utf-8", "replace")
            return s if len(s) <= limit else "...\n" + s[-limit:]
        return ("--- %s: %s (pid %d, status %s)\n--- stdout:\n%s\n--- stderr:\n%s"
                % (self.name, " ".join(self.argv), self.pid, self.popen.poll(),
                   tail(self.stdout()), tail(self.stderr())))


def _without_sanitizer_for(argv, env):
    """(argv, env) to start: under TSTEST_PRELOAD_FIRST, a program in
    SANITIZER_CANNOT_RUN, started directly or by the launcher (after its
    "--"), runs with the plain library and no sanitizer runtime; named
    alone or by its static stand-in (which scripts/test.sh puts first on
    PATH for the programs that start it themselves), it is /usr/bin's."""
    if not PRELOAD_FIRST or env is None:
        return argv, env
    at = argv.index("--") + 1 if "--" in argv else 0
    if at >= len(argv) or os.path.basename(argv[at]) not in SANITIZER_CANNOT_RUN:
        return argv, env
    argv = list(argv)
    if "/" not in argv[at] or (STANDIN_DIR and os.path.dirname(argv[at]) == STANDIN_DIR):
        argv[at] = os.path.join("/usr/bin", os.path.basename(argv[at]))
    return argv, plain_lib_env(env, argv[at])


def plain_lib_env(env, program):
    """Under TSTEST_PRELOAD_FIRST, env with the sanitizer runtime out of
    LD_PRELOAD and the plain library (TSTEST_PLAIN_LIB) in the sanitized
    one's place, for a program (named in the error) that cannot run with
    the runtime; otherwise env as it is."""
    if not PRELOAD_FIRST:
        return env
    if not PLAIN_LIB:
        raise AssertionError("TSTEST_PRELOAD_FIRST without TSTEST_PLAIN_LIB: cannot run %s"
                             % program)
    env = dict(env)
    kept = [e for e in env.get("LD_PRELOAD", "").split() if e != PRELOAD_FIRST]
    env["LD_PRELOAD"] = " ".join(PLAIN_LIB if e == LIB else e for e in kept)
    if not env["LD_PRELOAD"]:
        del env["LD_PRELOAD"]
    if env.get("TRACESHIM_LIB") == LIB:
        env["TRACESHIM_LIB"] = PLAIN_LIB
    return env


def faked_clock_env(env, fake):
    """env with libfaketime preloaded after the library, its clock set by
    FAKETIME=fake (the faketime command's -f format), as the faketime
    command would run a program, without its wrapper: the wrapper names a
    POSIX semaphore and a shared memory object in /dev/shm after its pid,
    leaves both behind when a signal ends it (as Proc.stop's does), and
    refuses to start where a leftover has its pid's name (seen in CI, where
    pids repeat from run to run). libfaketime and a preloaded sanitizer
    runtime hang together (faketime -f +0 /bin/true, without the shim):
    under TSTEST_PRELOAD_FIRST the plain library goes in their place."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise unittest.SkipTest("libfaketime is not installed")
    env = dict(env)
    env["LD_PRELOAD"] = (env.get("LD_PRELOAD", "") + " " + found[0]).strip()
    env["FAKETIME"] = fake
    return plain_lib_env(env, "libfaketime")


def run(argv, env=None, timeout=20.0, tmpdir=None, name=None, cwd=None, stdin=None):
    """Run to completion (bounded); returns the stopped Proc (returncode,
    stdout(), stderr())."""
    p = Proc(argv, env=env, tmpdir=tmpdir, name=name, cwd=cwd, stdin=stdin)
    try:
        p.wait(timeout)
    finally:
        p.stop(grace=1)
    return p


def start_app_server(test, service, spans_file, tmpdir, name=None, env=None):
    """Start apps/httpapp.py (traced as `service` unless env is given), wait
    until it listens, register its stop; returns (proc, port)."""
    if env is None:
        env = shim_env(service, spans_file)
    p = Proc([PY, os.path.join(APPS, "httpapp.py"), "--port", "0"], env=env,
             tmpdir=tmpdir, name=name or service)
    test.addCleanup(p.stop)
    m = p.wait_output(rb"LISTENING (\d+)\n", timeout=10)
    return p, int(m.group(1))


# --------------------------------------------------------------------------
# nginx


def nginx_conf(d, port, server, listen="", http_extra="", main_extra="", connections=256,
               user=None):
    """An nginx.conf: one worker, pid, error log and temp files under d
    (d/temp must exist), no access log, one server on 127.0.0.1:port
    (`listen`: what follows the address, e.g. "ssl") whose body is server.
    The worker runs as `user` (nginx's "user" directive) when given, else
    as root when the tests do."""
    if user is None:
        user = "root" if os.geteuid() == 0 else ""
    return """
%(user)s
worker_processes 1;
%(main_extra)s
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections %(connections)d; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path %(d)s/temp/body;
    proxy_temp_path %(d)s/temp/proxy;
    fastcgi_temp_path %(d)s/temp/fastcgi;
    uwsgi_temp_path %(d)s/temp/uwsgi;
    scgi_temp_path %(d)s/temp/scgi;
    %(http_extra)s
    server {
        listen 127.0.0.1:%(port)d %(listen)s;
        server_name localhost;
        %(server)s
    }
}
""" % {"user": "user %s;" % user if user else "", "d": d, "port": port,
       "server": server, "listen": listen, "http_extra": http_extra, "main_extra": main_extra,
       "connections": connections}


# --------------------------------------------------------------------------
# a plain client


# No proxies, whatever the environment says: the tests talk to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(port, path, headers=(), timeout=10):
    """GET http://127.0.0.1:PORT/PATH from the (untraced) test process;
    returns (status, body), also for 4xx/5xx answers."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=dict(headers))
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def recv_to_close(sock):
    """Every byte sock receives until the peer closes."""
    got = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return got
        got += chunk


# --------------------------------------------------------------------------
# spans


def _any_value(v):
    """Decode an OTLP/JSON AnyValue (intValue is a decimal string)."""
    if not isinstance(v, dict) or len(v) != 1:
        return v
    (k, x), = v.items()
    if k == "stringValue":
        return x
    if k == "intValue":
        return int(x)
    if k == "boolValue":
        return bool(x)
    if k == "doubleValue":
        return float(x)
    if k == "arrayValue":
        return [_any_value(e) for e in (x or {}).get("values", [])]
    if k == "kvlistValue":
        return {e["key"]: _any_value(e.get("value")) for e in (x or {}).get("values", [])}
    return x


def _attrs(lst):
    return {a.get("key"): _any_value(a.get("value")) for a in (lst or [])}


def format_problems(raw, where):
    """Ways a raw OTLP/JSON span (or its resource) breaks the agreed format."""
    p = []
    for key, rx in (("traceId", HEX32), ("spanId", HEX16)):
        v = raw.get(key)
        if not isinstance(v, str) or not rx.match(v) or set(v) == {"0"}:
            p.append("%s: %s=%r is not lower-case hex of the right length" % (where, key, v))
    if "parentSpanId" in raw:
        v = raw["parentSpanId"]
        if not isinstance(v, str) or not HEX16.match(v) or set(v) == {"0"}:
            p.append("%s: parentSpanId=%r (must be 16 hex, or absent for a root)" % (where, v))
    if raw.get("kind") not in (KIND_INTERNAL, KIND_SERVER, KIND_CLIENT):
        p.append("%s: kind=%r (expected the integer 1, 2 or 3)" % (where, raw.get("kind")))
    for key in ("startTimeUnixNano", "endTimeUnixNano"):
        v = raw.get(key)
        if not isinstance(v, str) or not v.isdigit():
            p.append("%s: %s=%r is not a decimal string" % (where, key, v))
    for a in raw.get("attributes") or []:
        val = a.get("value")
        if isinstance(val, dict) and "intValue" in val:
            iv = val["intValue"]
            if not isinstance(iv, str) or not re.match(r"^-?\d+$", iv):
                p.append("%s: attribute %s intValue=%r is not a decimal string"
                         % (where, a.get("key"), iv))
    st = raw.get("status")
    if st is not None and not isinstance(st, dict):
        p.append("%s: status=%r is not an object" % (where, st))
    elif st and st.get("code", 0) not in (0, 1, 2):
        p.append("%s: status.code=%r" % (where, st.get("code")))
    return p


def read_spans(path, strict=False):
    """All spans in an OTLP/JSON lines file, flattened:
    {traceId, spanId, parentSpanId (None for a root), name, kind, status, start,
    end, service, pid, attrs, resource, raw}. A missing file is no spans; a
    last line without its newline (being written) is ignored, and so are
    metrics lines (TRACESHIM_STATS). With strict, format problems raise
    AssertionError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    spans, problems = [], []
    lines = data.split(b"\n")
    for lineno, line in enumerate(lines[:-1], 1):  # lines[-1]: unterminated or empty
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as e:
            raise AssertionError("%s:%d: not JSON (%s): %r" % (path, lineno, e, line[:300]))
        if isinstance(doc, dict) and "resourceSpans" not in doc and \
                isinstance(doc.get("resourceMetrics"), list):
            continue  # the shim's own counters (TRACESHIM_STATS), not spans
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
            raise AssertionError("%s:%d: no resourceSpans array: %r" % (path, lineno, line[:300]))
        for rs in doc["resourceSpans"]:
            res = _attrs((rs.get("resource") or {}).get("attributes"))
            if strict:
                if not isinstance(res.get("service.name"), str):
                    problems.append("%s:%d: resource without service.name" % (path, lineno))
                if not isinstance(res.get("process.pid"), int):
                    problems.append("%s:%d: resource without integer process.pid" % (path, lineno))
            for ss in rs.get("scopeSpans") or []:
                for raw in ss.get("spans") or []:
                    if strict:
                        problems += format_problems(raw, "%s:%d span %r" % (
                            os.path.basename(path), lineno, raw.get("name")))
                    try:
                        start = int(raw.get("startTimeUnixNano", 0))
                        end = int(raw.get("endTimeUnixNano", 0))
                    except (TypeError, ValueError):
                        start = end = None
                    st = raw.get("status") or {}
                    spans.append({
                        "traceId": raw.get("traceId"),
                        "spanId": raw.get("spanId"),
                        "parentSpanId": raw.get("parentSpanId") or None,
                        "name": raw.get("name"),
                        "kind": raw.get("kind"),
                        "status": st.get("code", 0) if isinstance(st, dict) else st,
                        "start": start,
                        "end": end,
                        "service": res.get("service.name"),
                        "pid": res.get("process.pid"),
                        "attrs": _attrs(raw.get("attributes")),
                        "resource": res,
                        "raw": raw,
                    })
    if problems:
        raise AssertionError("spans file %s breaks the format:\n  %s"
                             % (path, "\n  ".join(problems[:30])))
    return spans


# "traceshim[PID]: stats key=N key=N ... (reason=N reason=N ...)"
_STATS_LINE = re.compile(r"^traceshim\[(\d+)\]: stats ((?:[a-z_]+=\d+ )+)"
                         r"\(((?:[a-z_]+=\d+ ?)+)\)$")


def stats_lines(stderr):
    """[(pid, {key: value})] of every TRACESHIM_STATS line in a process's
    stderr (bytes), the parenthesized per-reason counts included. A line
    that mentions stats but is not in that exact form fails the test."""
    out = []
    for line in stderr.decode("utf-8", "replace").splitlines():
        if ": stats " not in line:
            continue
        m = _STATS_LINE.match(line)
        if not m:
            raise AssertionError("malformed stats line: %r" % line)
        values = {}
        for part in (m.group(2) + m.group(3)).split():
            k, _, v = part.partition("=")
            values[k] = int(v)
        out.append((int(m.group(1)), values))
    return out


def format_spans(spans):
    """A readable table of spans, for failure messages."""
    if not spans:
        return "  (no spans)"
    out = []
    for s in sorted(spans, key=lambda s: (s["traceId"] or "", s["start"] or 0)):
        a = s["attrs"]
        out.append("  trace=%s span=%s parent=%-16s kind=%s status=%s http=%s svc=%s pid=%s %r"
                   % (s["traceId"], s["spanId"], s["parentSpanId"] or "-", s["kind"],
                      s["status"], a.get("http.response.status_code"), s["service"],
                      s["pid"], s["name"]))
        extra = {k: v for k, v in a.items() if k != "http.response.status_code"}
        out.append("      attrs=%s" % json.dumps(extra, sort_keys=True))
    return "\n".join(out)


def wait_spans(path, count, timeout=None, exact=False, procs=()):
    """Poll the spans file until it holds at least `count` spans (bounded).
    Returns the spans; fails with what arrived (and what procs printed).
    With exact, more is a failure too."""
    timeout = SPAN_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        spans = read_spans(path)
        if len(spans) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if len(spans) < count or (exact and len(spans) != count):
        raise AssertionError("expected %d span(s) in %s within %.1fs, found %d (%s):\n%s%s"
                             % (count, path, timeout, len(spans), spans_by_service(spans, procs),
                                format_spans(spans),
                                "".join("\n" + p.describe(1000) for p in procs)))
    return spans


def spans_by_service(spans, procs=()):
    """How many spans each service (and pid) has, and which of procs still
    run: first in a failure message, so that a long span table cut short
    still says whose spans are missing (a process that is still running and
    short of spans has not exported what it made)."""
    counts = {}
    for s in spans:
        key = "%s[%s]" % (s["service"], s["pid"])
        counts[key] = counts.get(key, 0) + 1
    out = "by service: " + (", ".join("%s %d" % kv for kv in sorted(counts.items())) or "none")
    if procs:
        out += "; processes: " + ", ".join(
            "%s[%d] %s" % (p.name, p.pid, "running" if p.poll() is None
                           else "exited %s" % p.returncode) for p in procs)
    return out


def only(items, what, spans=None):
    """The single element of items, or a failure that says what was looked for."""
    items = list(items)
    if len(items) != 1:
        raise AssertionError("expected exactly one %s, found %d\n%s"
                             % (what, len(items), format_spans(spans if spans is not None
                                                               else items)))
    return items[0]


# --------------------------------------------------------------------------
# trace headers


def injected_lines(trace_id, span_id, parent_id=None):
    """The exact bytes the shim inserts before the blank line ending a request
    head (default OTEL_PROPAGATORS=b3multi,tracecontext)."""
    s = "X-B3-TraceId: %s\r\nX-B3-SpanId: %s\r\n" % (trace_id, span_id)
    if parent_id:
        s += "X-B3-ParentSpanId: %s\r\n" % parent_id
    s += "X-B3-Sampled: 1\r\ntraceparent: 00-%s-%s-01\r\n" % (trace_id, span_id)
    return s.encode("ascii")


def with_injection(request, trace_id, span_id, parent_id=None):
    """request (head, optionally followed by body) with the injected lines
    inserted just before the blank line that ends the head."""
    end = request.find(b"\r\n\r\n")
    assert end >= 0, "request has no end of head: %r" % request[:200]
    cut = end + 2
    return request[:cut] + injected_lines(trace_id, span_id, parent_id) + request[cut:]


def parse_head(data):
    """(request line, [(name, value)...], rest) of one HTTP request head in data."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise AssertionError("no complete request head in %r" % data[:500])
    lines = data[:end].decode("latin-1").split("\r\n")
    headers = []
    for ln in lines[1:]:
        name, _, value = ln.partition(":")
        headers.append((name, value.strip()))
    return lines[0], headers, data[end + 4:]


def header_values(headers, name):
    """All values of a header (case-insensitive name), in order."""
    n = name.lower()
    return [v for k, v in headers if k.lower() == n]


TRACE_HEADERS = ("X-B3-TraceId", "X-B3-SpanId", "X-B3-ParentSpanId", "X-B3-Sampled",
                 "X-B3-Flags", "b3", "traceparent", "tracestate", "uber-trace-id")


def diff_bytes(expected, got, context=60, full=True):
    """Where two byte strings part, for failure messages (full: both in
    full too, when they are not huge)."""
    if expected == got:
        return "identical"
    i = 0
    n = min(len(expected), len(got))
    while i < n and expected[i] == got[i]:
        i += 1
    lo = max(0, i - context)
    s = ("differ at byte %d (expected %d bytes, got %d)\n  expected: ...%r\n  got:      ...%r"
         % (i, len(expected), len(got), expected[lo:i + context], got[lo:i + context]))
    if full and max(len(expected), len(got)) <= 2000:
        s += "\n  full expected: %r\n  full got:      %r" % (expected, got)
    return s


# --------------------------------------------------------------------------
# local TCP servers (run in the test process, never traced)


def listen_local(backlog=16, rcvbuf=0, maxseg=0, address="127.0.0.1"):
    """A listening TCP socket on 127.0.0.1 (or address, "::1"), a free port;
    accept() times out after 0.2 s so that an accept loop can see a stop
    flag. rcvbuf (SO_RCVBUF) and maxseg (TCP_MAXSEG) are inherited by
    accepted sockets."""
    s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if maxseg:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
    s.bind((address, 0))
    s.listen(backlog)
    s.settimeout(0.2)
    return s


class AcceptingServer:
    """Base of the in-process servers: listen() opens a socket (listen_local)
    and starts a thread accepting on it; the n-th accepted connection
    (sock, peer) goes to self._accepted(sock, peer, n), which records it and
    returns (function, args) to run in the connection's own thread.
    close() stops accepting and joins every thread (bounded)."""

    def listen(self, backlog=16, rcvbuf=0, maxseg=0, unix_path=None, address="127.0.0.1"):
        """unix_path: a Unix-domain stream socket at that path instead
        (self.port None); address: listen_local's."""
        self._stop = False
        self._threads = []
        self.unix_path = unix_path
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.sock.listen(backlog)
            self.sock.settimeout(0.2)
            self.port = None
        else:
            self.sock = listen_local(backlog, rcvbuf, maxseg, address)
            self.port = self.sock.getsockname()[1]
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepter.start()

    def _accepted(self, sock, peer, n):
        raise NotImplementedError

    def _accept_loop(self):
        n = 0
        while not self._stop:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            target, args = self._accepted(c, peer, n)
            n += 1
            t = threading.Thread(target=target, args=args, daemon=True)
            self._threads.append(t)
            t.start()

    def _received(self, c, size):
        """What each c.recv(size) returns (size: a number, or a function
        giving one per call), until the peer closes or close() is called."""
        c.settimeout(0.2)
        while not self._stop:
            try:
                b = c.recv(size() if callable(size) else size)
            except socket.timeout:
                continue
            if not b:
                return
            yield b

    def stop_accepting(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        self._accepter.join(timeout=2)

    def close(self):
        self.stop_accepting()
        for t in self._threads:
            t.join(timeout=2)


# --------------------------------------------------------------------------
# a recording TCP server


class RecordedConn:
    def __init__(self, peer):
        self.peer = peer
        self.data = bytearray()     # every byte received, in order
        self.requests = []          # http mode: each complete request's bytes
        self.sent = bytearray()     # every byte we answered
        self.closed = threading.Event()
        self.error = None


class RecordingServer(AcceptingServer):
    """Accepts connections on 127.0.0.1, records every byte per connection.

    mode="http": answers each complete request (head + Content-Length body)
                 with `response` (bytes, or a function of the request's bytes);
                 keep-alive: several requests per connection.
    mode="echo": sends back every byte it receives.
    mode="sink": only records.
    Use as a context manager or call close(); tests register close with addCleanup."""

    DEFAULT_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: 2\r\n\r\nok")

    def __init__(self, mode="http", response=None, rcvbuf=0, recv_delay=0.0, recv_size=65536,
                 early_response=False, unix_path=None, address="127.0.0.1"):
        """rcvbuf (SO_RCVBUF), recv_delay (seconds slept after each receive) and
        recv_size make a slow reader, so that the sender sees short writes.
        early_response: answer as soon as a request's head is in, while its
        body is still arriving (the sender's buffer stays full). unix_path:
        listen on a Unix-domain socket there instead of 127.0.0.1; address:
        another loopback address to listen on ("::1")."""
        assert mode in ("http", "echo", "sink")
        self.early_response = early_response
        self.mode = mode
        self.response = response if response is not None else self.DEFAULT_RESPONSE
        self.recv_delay = recv_delay
        self.recv_size = recv_size
        self.conns = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.listen(64, rcvbuf=rcvbuf, unix_path=unix_path, address=address)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accepted(self, c, peer, n):
        rc = RecordedConn(peer)
        with self._cond:
            self.conns.append(rc)
            self._cond.notify_all()
        return self._serve, (c, rc)

    def _answer(self, c, rc, req):
        resp = self.response(req) if callable(self.response) else self.response
        c.sendall(resp)
        rc.sent += resp

    def _serve(self, c, rc):
        pending = bytearray()
        answered = False  # early_response: the pending request was answered
        try:
            for b in self._received(c, self.recv_size):
                if self.recv_delay:
                    time.sleep(self.recv_delay)
                with self._cond:
                    rc.data += b
                    self._cond.notify_all()
                if self.mode == "echo":
                    c.sendall(b)
                    rc.sent += b
                elif self.mode == "http":
                    pending += b
                    while True:
                        if self.early_response and not answered and b"\r\n\r\n" in pending:
                            head = bytes(pending[:pending.index(b"\r\n\r\n") + 4])
                            self._answer(c, rc, head)
                            answered = True
                        n = complete_request_len(pending)
                        if n is None:
                            break
                        req = bytes(pending[:n])
                        del pending[:n]
                        with self._cond:
                            rc.requests.append(req)
                            self._cond.notify_all()
                        if not answered:
                            self._answer(c, rc, req)
                        answered = False
        except OSError as e:
            rc.error = e
        finally:
            try:
                c.close()
            except OSError:
                pass
            with self._cond:
                rc.closed.set()
                self._cond.notify_all()

    def wait(self, predicate, timeout=10.0, what="condition"):
        """Wait (bounded) until predicate(self) is true, under the lock."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("recording server: timed out waiting for %s; got %s"
                                         % (what, self.summary()))
                self._cond.wait(min(left, 0.1))

    def wait_conns(self, n, timeout=10.0):
        self.wait(lambda s: len(s.conns) >= n, timeout, "%d connection(s)" % n)
        return self.conns[:n]

    def wait_closed(self, n, timeout=10.0):
        """Wait until the first n connections are closed by the peer."""
        self.wait(lambda s: len(s.conns) >= n and all(c.closed.is_set() for c in s.conns[:n]),
                  timeout, "%d closed connection(s)" % n)
        return self.conns[:n]

    def summary(self):
        return "%d connection(s): %s" % (len(self.conns), [
            {"bytes": bytes(c.data[:400]), "requests": len(c.requests), "closed": c.closed.is_set()}
            for c in self.conns])


def complete_request_len(buf):
    """Length of the first complete HTTP request in buf (head + Content-Length
    body), or None when more bytes are needed."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1")
    length = 0
    for ln in head.split("\r\n")[1:]:
        name, _, value = ln.partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                length = 0
    total = end + 4 + length
    return total if len(buf) >= total else None


def complete_requests(pending, request_len=complete_request_len):
    """The complete requests at the start of pending (a bytearray of what a
    server has received and not yet handled), each removed from it as it is
    handed out; what is left is the start of a request still arriving.
    request_len(buf): the first request's length, None while incomplete (it
    may raise on bytes that are no request)."""
    while True:
        n = request_len(pending)
        if n is None:
            return
        req = bytes(pending[:n])
        del pending[:n]
        yield req


# --------------------------------------------------------------------------
# the raw client app


def run_rawclient(test, spec, env, tmpdir, name="rawclient", timeout=20.0):
    """Run apps/rawclient.py with a JSON spec (see that file); returns
    (proc, results) where results is the list of per-connection dicts it printed."""
    spec_path = os.path.join(tmpdir, "spec-%d.json" % int(time.monotonic() * 1e6))
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    p = run([PY, os.path.join(APPS, "rawclient.py"), spec_path], env=env, tmpdir=tmpdir,
            name=name, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("rawclient failed (status %s)\n%s" % (p.returncode, p.describe()))
    results = []
    for line in p.stdout().decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            results.append(json.loads(line))
    return p, results


def hexb(b):
    return b.hex()


class TempDirMixin:
    """self.tmp: a fresh directory per test, removed afterwards (unless TSTEST_KEEP=1)."""

    def make_tmp(self):
        d = tempfile.mkdtemp(prefix="tsit-%s-" % self._testMethodName)
        if KEEP:
            sys.stderr.write("\n[kept %s]\n" % d)
        else:
            self.addCleanup(shutil.rmtree, d, True)
        return d

    @classmethod
    def make_class_tmp(cls, prefix):
        """A fresh directory for what the class's tests share (the programs
        it compiles), removed after its last test, or at once when
        setUpClass fails."""
        d = tempfile.mkdtemp(prefix=prefix)
        cls.addClassCleanup(shutil.rmtree, d, True)
        return d
