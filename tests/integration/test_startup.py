"""test_startup.py — what the shim adds to the start of every process it
is preloaded into, counted in instructions by callgrind.

A traced tree of processes (a shell script, a build, a CGI server) pays
the shim's constructor at every exec. The constructor resolves the real
functions and checks where each one lives (the shim's own hook? glibc's?);
asked of dladdr, which reads the whole symbol table of the object for
every address, that was 7.3 million instructions for /bin/true, most of
a millisecond on every exec (preload/loaded_objects.h). Found by
profiling the reporter benchmark; the figure here is the budget it must
stay under.
"""

import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

# Instructions the shim may add to a process that makes no request: its
# constructor, its exit, and the loader's work for the library itself.
# Measured at 227,000 for /bin/true on Debian 12 (glibc 2.36); 7,283,000
# before the dladdr calls went.
STARTUP_BUDGET = 1_000_000

# What a large environment (a Kubernetes pod's service variables, a CI
# job's) may add to that: 300 variables more. Measured at about 11,900
# for names that begin with none of the shim's letters (O, J, T) and
# 62,200 for JAEGER_ names (more than the start's index of the
# environment keeps; the children's copy of JAEGER_ variables); 127,000
# and 145,000 while each of some 45 lookups went through getenv (or did
# again whenever the index was full) and each entry was compared with
# five prefixes. 79,400 to 91,000 for JAEGER_ names while the index's
# filter (two bits a name in 2048) let two of the configuration's names
# through to getenv (JAEGER_DISABLED, JAEGER_PROPAGATION), whose strncmp
# over the 300 entries cost more or less by where the linker put the two
# names; none goes there since the filter has three bits in 4096.
LARGE_ENV_VARIABLES = 300
LARGE_ENV_BUDGET = 70_000


# dlsym calls the shim's start may make: the real functions are read from
# the symbol tables of the objects after it (preload/next_symbol.h), one
# of them checked against dlsym, and the odd one those do not settle. It
# was one per real function, 60 of them, 57,000 instructions.
START_DLSYM_CALLS_MAX = 8


def callgrind_calls(out, prefix):
    """Calls a callgrind output file counts to functions whose names begin
    with prefix (names may be given once, as "(id) name", then by id)."""
    names, callee, total = {}, None, 0
    for line in open(out, errors="replace"):
        if line.startswith(("fn=", "cfn=")):
            spec = line.split("=", 1)[1].strip()
            name = spec
            if spec.startswith("("):
                ident, _, name = spec[1:].partition(")")
                name = name.strip()
                if name:
                    names[ident] = name
                else:
                    name = names.get(ident, "")
            if line.startswith("cfn="):
                callee = name
        elif line.startswith("calls=") and callee is not None:
            if callee.startswith(prefix):
                total += int(line.split("=", 1)[1].split()[0])
            callee = None
    return total


def callgrind_total(out):
    """The program's total instructions from a callgrind output file."""
    for line in open(out, errors="replace"):
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split()[1])
    raise AssertionError("no totals in %s" % out)


class StartUp(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        if th.PRELOAD_FIRST:
            self.skipTest("valgrind cannot run a process with a sanitizer runtime preloaded")
        self.valgrind = th.require_tool("valgrind")

    def instructions(self, argv, env, name):
        out = os.path.join(self.tmp, name + ".callgrind")
        r = subprocess.run([self.valgrind, "--tool=callgrind", "--callgrind-out-file=" + out, *argv],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
        self.last_dlsym_calls = callgrind_calls(out, "dlsym@")
        return callgrind_total(out)

    def test_the_shim_adds_little_to_a_process_start(self):
        true = th.require_tool("true")
        spans = os.path.join(self.tmp, "spans.jsonl")
        untraced = self.instructions([true], th.clean_env(), "untraced")
        traced = self.instructions([true], th.shim_env("startup", spans), "traced")
        added = traced - untraced
        # The traced run is a traced one: the library was there to count.
        self.assertGreater(added, 20_000, "the shim added nothing: was it preloaded?")
        # (at least the check of the tables' answer: dlsym is counted)
        self.assertGreaterEqual(self.last_dlsym_calls, 1, "no dlsym call counted")
        self.assertLessEqual(self.last_dlsym_calls, START_DLSYM_CALLS_MAX,
                             "the shim's start called dlsym %d times" % self.last_dlsym_calls)
        self.assertLess(added, STARTUP_BUDGET,
                        "the shim adds %d instructions to /bin/true's start (%d untraced)" % (added, untraced))
        self.assertFalse(os.path.exists(spans), "a process that made no request wrote spans")

    def test_a_large_environment_adds_little_to_a_start(self):
        """300 variables more, named as a pod's services are: ones that
        begin with no letter the shim's names begin with, and ones that do
        (more than its index of the environment holds: a Jaeger or
        OpenTelemetry collector's service ports)."""
        true = th.require_tool("true")
        spans = os.path.join(self.tmp, "spans.jsonl")

        def added(extra, name):
            untraced = self.instructions([true], dict(th.clean_env(), **extra), name + "-untraced")
            traced = self.instructions([true], dict(th.shim_env("startup", spans), **extra), name)
            return traced - untraced

        small = added({}, "small")
        for pattern in ("SVC_%d_SERVICE_HOST", "JAEGER_COLLECTOR_PORT_%d_TCP"):
            many = {pattern % i: "10.0.%d.%d" % (i // 256, i % 256) for i in range(LARGE_ENV_VARIABLES)}
            large = added(many, pattern.split("_")[0])
            # the shim started and read its configuration there too
            self.assertGreater(large, 20_000, "the shim added nothing: was it preloaded?")
            self.assertLess(large - small, LARGE_ENV_BUDGET,
                            "%d variables like %s add %d instructions to the shim's start"
                            % (LARGE_ENV_VARIABLES, pattern, large - small))


# Page faults the shim may add to a process before its main: the loader
# mapping and relocating the library, and the constructor's first touch of
# each page of its data (preload/start_state.h). Measured at 31-33 on
# Debian 12 (Linux 6.18); 54 while the constructor's stores were spread
# over the library's data and it copied an 18 KiB sampling plan.
START_FAULTS_BUDGET = 42


class FaultCount(th.TempDirMixin):
    """A test app (APP, tests/integration/apps/APP.c) that prints one
    figure of its page faults as NAME=N."""

    APP = None

    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.bindir = cls.make_class_tmp("tsit-%s-" % cls.APP)
        cls.app = th.compile_app(cls.APP + ".c", os.path.join(cls.bindir, cls.APP), "-O2")

    def app_figure(self, argv, env, name):
        p = th.run(argv, env=env, tmpdir=self.make_tmp(), name=name)
        self.assertEqual(p.returncode, 0, p.describe())
        line = [ln for ln in p.stdout().decode().splitlines() if ln.startswith(name + "=")]
        self.assertEqual(len(line), 1, p.describe())
        return float(line[0].split("=", 1)[1])

    def assert_the_shim_adds_few(self, figure, budget, at_least, where):
        """figure(env) traced against untraced: more than at_least (the
        library was there), less than budget."""
        untraced = figure(th.clean_env())
        traced = figure(th.shim_env("faults", os.path.join(self.make_tmp(), "s.jsonl")))
        added = traced - untraced
        self.assertGreater(added, at_least, "the shim added nothing: was it preloaded?")
        self.assertLess(added, budget, "the shim adds %.1f page faults %s (%.1f untraced)"
                        % (added, where, untraced))


class StartFaults(FaultCount, unittest.TestCase):
    """Every command a traced shell, make or build script runs loads the
    library and runs its constructor; each page first touched then is a
    page fault, one to two microseconds here, and they were about half of
    what the shim added to a short command's start."""

    APP = "start_faults"

    def faults_at_main(self, env):
        """The fewest of three runs: the pages the start touches are the
        same each time, what else happens on the machine is not."""
        return min(int(self.app_figure([self.app], env, "faults_at_main")) for _ in range(3))

    def test_a_start_touches_few_pages_for_the_shim(self):
        if th.PRELOAD_FIRST:
            self.skipTest("a sanitizer runtime preloaded first maps and touches pages of its own")
        self.assert_the_shim_adds_few(self.faults_at_main, START_FAULTS_BUDGET, 5, "before main")


# Page faults the shim may add to a fork of a traced program that has made
# no request: its fork handlers' stores and code (preload/fork_state.h),
# and the child's _exit. Measured at 15-16 on Debian 12 (Linux 6.18);
# 38 while the handlers' state was spread over the library's data.
FORK_FAULTS_BUDGET = 24


class ForkCost(FaultCount, unittest.TestCase):
    """A traced shell, make or pre-forking server forks for every command
    or worker; each page the fork handlers write afterwards is copied,
    which made every fork of a traced program about 80 µs slower."""

    APP = "fork_faults"

    def faults_per_fork(self, env):
        return self.app_figure([self.app, "300"], env, "faults_per_fork")

    def test_a_fork_copies_few_pages_for_the_shim(self):
        if th.PRELOAD_FIRST:
            self.skipTest("a sanitizer runtime preloaded first has fork handlers of its own")
        self.assert_the_shim_adds_few(self.faults_per_fork, FORK_FAULTS_BUDGET, 2, "to each fork")


class FirstSpanWait(th.TempDirMixin, unittest.TestCase):
    """A process's first span starts the reporter thread, which opens the
    span file. No process waits for that open at its first span: a process
    started as root did (at most 20 ms; on a busy machine a new thread can
    wait a scheduler's slice for a processor, and every short-lived traced
    client paid it, 3 ms medians with both processors busy), in case it gave
    its access up right after; the calls that give it up wait now
    (hooks/access_hooks.c, test_hostile.py). The span file here is a FIFO
    nobody reads, so the thread's open never returns: a process that waited
    for it would wait the whole 20 ms."""

    WAIT_MS = 20  # REP_FILE_WAIT_MS

    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def curl_seconds(self, as_nobody, **extra):
        """curl's time for one request, traced, its span file the FIFO. The
        process must also end: at its exit the flush waits for the thread
        to try the file rather than open it itself (an open of the FIFO
        would never return)."""
        curl = th.require_tool("curl")
        tmp = self.make_tmp()
        os.chmod(tmp, 0o755)
        lib = os.path.join(tmp, "libtraceshim.so")  # where nobody can read it
        shutil.copy(th.LIB, lib)
        os.chmod(lib, 0o755)
        fifo = os.path.join(tmp, "spans.fifo")
        os.mkfifo(fifo)
        os.chmod(fifo, 0o666)
        env = th.shim_env("curl", fifo, LD_PRELOAD=th.preload_value(lib),
                          TRACESHIM_EXIT_TIMEOUT="50", TRACESHIM_LOG_LEVEL="error", **extra)
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        pre = []
        if as_nobody:
            pre = [th.require_tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"]
        p = th.run(pre + [curl, "-sS", "-o", "/dev/null", "--max-time", "5", "-w", "%{time_total}",
                          "http://127.0.0.1:%d/" % srv.port], env=env, tmpdir=tmp, name="curl")
        self.assertEqual(p.returncode, 0, p.describe())
        return float(p.stdout().decode())

    def test_no_process_waits_for_the_span_file(self):
        if th.PRELOAD_FIRST:
            # a process with signal handlers has its first span wait for
            # the exporters' preparation (README, fork), which the reporter
            # thread, stuck opening the FIFO, never gets to
            self.skipTest("a sanitizer runtime preloaded first installs signal handlers")
        users = (False, True) if os.getuid() == 0 else (False,)  # as root (it waited), as nobody
        for as_nobody in users:
            for own_table in ("1", "0"):  # the reporter's fds in a table of its own, or the program's
                times = [self.curl_seconds(as_nobody, TRACESHIM_OWN_FD_TABLE=own_table)
                         for _ in range(3)]
                self.assertLess(min(times) * 1000, self.WAIT_MS / 2,
                                "curl (%s) waited for the span file: %r s"
                                % ("nobody" if as_nobody else "root" if os.getuid() == 0
                                   else "unprivileged", times))


class HostAddressTest(th.TempDirMixin, unittest.TestCase):
    """Every interface's addresses (getifaddrs, over netlink) are looked up
    only for the exporters that put this host's address in what they send
    (Jaeger's "ip" tag, Zipkin's localEndpoint): a short-lived client that
    exports to the span file or by OTLP does not pay for it (in a network
    namespace with a thousand interfaces a traced curl took 20 ms instead of
    8)."""

    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.bindir = cls.make_class_tmp("tsit-startup-")
        cls.counter = th.compile_app("getifaddrs_counter.c",
                                     os.path.join(cls.bindir, "getifaddrs_counter.so"),
                                     "-O2", "-shared", "-fPIC", libs=("-ldl",))

    def lookups(self, exporter):
        """How many times a traced curl, exporting with exporter, lists the
        interfaces (curl itself never does)."""
        tmp = self.make_tmp()
        log = os.path.join(tmp, "getifaddrs.log")
        curl = th.require_tool("curl")
        preload = (self.counter if th.NO_SHIM else th.preload_value() + " " + self.counter)
        env = th.shim_env("curl", os.path.join(tmp, "spans.jsonl"), TRACESHIM_EXPORTER=exporter,
                          OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:%d/api/v2/spans"
                          % th.closed_port(), LD_PRELOAD=preload, GETIFADDRS_LOG=log,
                          TRACESHIM_EXIT_TIMEOUT="500", TRACESHIM_LOG_LEVEL="error")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = th.run([curl, "-sS", "-o", "/dev/null", "--max-time", "5",
                    "http://127.0.0.1:%d/" % srv.port], env=env, tmpdir=tmp, name=exporter)
        self.assertEqual(p.returncode, 0, p.describe())
        if not os.path.exists(log):
            return 0
        with open(log) as f:
            return len(f.read().splitlines())

    def test_only_the_exporters_that_want_the_host_address_look_it_up(self):
        self.assertEqual(self.lookups("file"), 0)
        self.assertEqual(self.lookups("zipkin"), 1, "the counter sees the lookup when it is made")


if __name__ == "__main__":
    th.main()
