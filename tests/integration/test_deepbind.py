"""test_deepbind.py — libraries loaded with dlopen(..., RTLD_DEEPBIND).

Such a library binds its calls in its own dependencies first: its
connect, send and recv went to the C library, around the shim, and its
requests made no span and carried no trace headers. PHP loads every
extension so, and php-curl (Guzzle, most PHP HTTP clients) was untraced.
The shim's dlopen binds the slots of such a library's global offset table
back to its hooks (preload/deepbind.h).

apps/deepbind_probe.c is the program and, built with -DPROBE_LIBRARY, the
library that makes the GET: lazily bound and bound at once (-z now, its
table read-only after), opened as PHP opens its extensions (RTLD_LAZY |
RTLD_GLOBAL | RTLD_DEEPBIND) and with RTLD_NOW | RTLD_DEEPBIND, and a
library the first one dlopens itself. Every other dlopen reaches the C
library's with the caller's return address: a bare name is still found in
the caller's RUNPATH. Under TSTEST_PRELOAD_FIRST these programs run with
the plain library: the sanitizer runtime refuses RTLD_DEEPBIND.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

PATH = "/deep?q=1"
PHP_FLAGS = "DEEPBIND,LAZY,GLOBAL"  # PHP's DL_LOAD: RTLD_LAZY | RTLD_GLOBAL | RTLD_DEEPBIND


class DeepbindTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        d = cls.make_class_tmp("tsit-deepbind-")
        lib = ("-O2", "-DPROBE_LIBRARY", "-shared", "-fPIC")
        cls.libs = {
            "lazy": th.compile_app("deepbind_probe.c", os.path.join(d, "libprobe_lazy.so"), *lib),
            "now": th.compile_app("deepbind_probe.c", os.path.join(d, "libprobe_now.so"), *lib,
                                  "-Wl,-z,now"),
        }
        cls.exe = th.compile_app("deepbind_probe.c", os.path.join(d, "deepbind_probe"), "-O2",
                                 libs=("-ldl",))
        # a program whose RUNPATH names the folder of its plugin, found by
        # a bare name
        plugins = os.path.join(d, "plugins")
        os.mkdir(plugins)
        shutil.copy(cls.libs["now"], os.path.join(plugins, "libplugin.so"))
        cls.runpath_exe = th.compile_app("deepbind_probe.c", os.path.join(d, "runpath_probe"),
                                         "-O2", "-Wl,-rpath,$ORIGIN/plugins",
                                         libs=("-ldl",))
        # a library whose own dependency defines send; one that opens it
        # from its constructor; a program that links the latter
        cls.send_lib = th.compile_app("deepbind_probe.c", os.path.join(d, "libprobesend.so"),
                                      "-O2", "-DPROBE_SEND_LIBRARY", "-shared", "-fPIC")
        cls.own_send_lib = th.compile_app(
            "deepbind_probe.c", os.path.join(d, "libprobe_own_send.so"), *lib, "-DPROBE_OWN_SEND",
            libs=("-L" + d, "-lprobesend", "-Wl,-rpath,$ORIGIN"))
        cls.ctor_lib = th.compile_app("deepbind_probe.c", os.path.join(d, "libprobeouter.so"),
                                      "-O2", "-DPROBE_CONSTRUCTOR_LIBRARY", "-shared", "-fPIC",
                                      libs=("-ldl",))
        # a lazily bound library with a SONAME, which the program and the
        # library it opens with RTLD_DEEPBIND both link
        cls.linked_lazy = th.compile_app("deepbind_probe.c",
                                         os.path.join(d, "libprobe_linked.so"), *lib,
                                         "-Wl,-soname,libprobe_linked.so")
        cls.ctor_needs_lib = th.compile_app(
            "deepbind_probe.c", os.path.join(d, "libprobeouter_needs.so"), "-O2",
            "-DPROBE_CONSTRUCTOR_LIBRARY", "-shared", "-fPIC",
            libs=("-L" + d, "-Wl,--no-as-needed", "-lprobe_linked", "-Wl,--as-needed",
                  "-Wl,-rpath,$ORIGIN", "-ldl"))
        cls.send_linked_exe = th.compile_app(
            "deepbind_probe.c", os.path.join(d, "send_linked_probe"), "-O2", "-DPROBE_PROGRAM_SEND",
            "-rdynamic", libs=("-L" + d, "-Wl,--no-as-needed", "-lprobe_linked",
                               "-Wl,--as-needed", "-Wl,-rpath,$ORIGIN", "-ldl"))
        cls.send_exe = th.compile_app("deepbind_probe.c", os.path.join(d, "send_probe"), "-O2",
                                      "-DPROBE_PROGRAM_SEND", "-rdynamic", libs=("-ldl",))
        cls.linked_exe = th.compile_app("deepbind_probe.c", os.path.join(d, "linked_probe"), "-O2",
                                        libs=("-L" + d, "-Wl,--no-as-needed", "-lprobeouter",
                                              "-Wl,--as-needed", "-Wl,-rpath,$ORIGIN", "-ldl"))

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def env(self, **extra):
        return th.plain_lib_env(th.shim_env("deep", self.spans_file, **extra), "deepbind_probe")

    def probe(self, srv, args, env, exe=None, name="probe"):
        p = th.run([exe or self.exe, *args[:2], str(srv.port), PATH, *args[2:]], env=env,
                   tmpdir=self.tmp, name=name, timeout=20)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"HTTP/1.1 200 OK\n", p.describe())
        return p

    def request(self, srv):
        return b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (PATH.encode(), srv.port)

    def assert_traced(self, srv, p, what):
        """One client span for the probe's GET, and its context in the
        request's bytes, exactly where the shim puts it."""
        th.wait_spans(self.spans_file, 1, procs=(p,))
        spans = th.read_spans(self.spans_file, strict=True)
        cli = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client span of " + what,
                      spans)
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(cli["name"], "GET /deep", what + dump)
        self.assertEqual(cli["attrs"].get("http.response.status_code"), 200, what + dump)
        self.assertEqual(cli["pid"], p.pid, what + dump)
        got = bytes(srv.wait_closed(1)[0].data)
        want = th.with_injection(self.request(srv), cli["traceId"], cli["spanId"])
        self.assertEqual(got, want, "%s: %s" % (what, th.diff_bytes(want, got)))

    def test_a_deepbind_librarys_request_is_traced(self):
        for binding in ("lazy", "now"):
            for flags in (PHP_FLAGS, "DEEPBIND,NOW"):
                with self.subTest(binding=binding, flags=flags):
                    self.spans_file = os.path.join(self.tmp, "spans-%s-%s.jsonl"
                                                   % (binding, flags))
                    srv = th.RecordingServer(mode="http")
                    self.addCleanup(srv.close)
                    p = self.probe(srv, [self.libs[binding], flags], self.env())
                    self.assert_traced(srv, p, "%s library, %s" % (binding, flags))

    def test_a_library_that_the_deepbind_library_loads_itself(self):
        """The first library dlopens the second with RTLD_DEEPBIND through
        its own binding of dlopen, which is the C library's unless it too
        was bound back to the shim."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.probe(srv, [self.libs["lazy"], PHP_FLAGS, self.libs["now"]], self.env())
        self.assert_traced(srv, p, "the nested library")

    def test_a_library_opened_while_another_thread_opens_and_closes_others(self):
        """dlopen and dlclose take the loader's locks in the order that a
        binding made inside dl_iterate_phdr's walk (which holds one of
        them) would take them the other way round: the first version hung
        so in 2 runs of 3."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.probe(srv, [self.libs["lazy"], "DEEPBIND,NOW"],
                       self.env(PROBE_RACE_LIB=self.libs["now"]))
        self.assert_traced(srv, p, "after 2000 opens raced")

    def test_two_threads_opening_libraries_so_at_once(self):
        """Each thread binds what its own dlopen loaded and pins the other's
        new library to bind it too: their changes of one library's
        protection must not interleave (the first version made it
        read-only again under the other thread's store: SIGSEGV in 2 runs
        of 4, hence three runs)."""
        other = os.path.join(self.tmp, "libprobe_other.so")
        shutil.copy(self.libs["now"], other)
        for run in range(3):
            self.spans_file = os.path.join(self.tmp, "spans-%d.jsonl" % run)
            srv = th.RecordingServer(mode="http")
            self.addCleanup(srv.close)
            p = self.probe(srv, [self.libs["now"], "DEEPBIND,NOW"],
                           self.env(PROBE_RACE_LIB=other, PROBE_RACE_FLAGS="DEEPBIND,NOW"))
            self.assert_traced(srv, p, "after 2000 opens on two threads, run %d" % run)

    def test_a_lazy_call_of_another_library_is_left_to_the_loader(self):
        """A library opened with RTLD_DEEPBIND opens another, lazily bound
        and without RTLD_DEEPBIND, from its constructor; the program
        defines send itself. The loader binds that library's send, at its
        first call, global scope first: to the program's. The shim must
        leave a slot the loader has not filled alone in an object whose
        scope it cannot ask (the first version bound it to its hook, which
        sent by the C library's)."""
        for traced in (False, True):
            with self.subTest(traced=traced):
                srv = th.RecordingServer(mode="http")
                self.addCleanup(srv.close)
                extra = {"PROBE_INNER": self.libs["lazy"], "PROBE_INNER_FLAGS": "LAZY"}
                env = self.env(**extra) if traced else th.clean_env(**extra)
                p = th.run([self.send_exe, self.ctor_lib, "DEEPBIND,NOW", str(srv.port), PATH],
                           env=env, tmpdir=self.tmp, name="probe", timeout=20)
                self.assertEqual(p.returncode, 0, p.describe())
                self.assertEqual(p.stdout(), b"HTTP/1.1 200 OK\nprogram sends: 1\n",
                                 p.describe())
                self.assertEqual(bytes(srv.wait_closed(1)[0].data), self.request(srv))

    def test_a_lazy_call_of_a_library_loaded_before_stays_its_own(self):
        """The library opened with RTLD_DEEPBIND needs one the program
        linked already (lazily bound: its send, at its first call, binds
        to the program's own); the library's constructor opens and closes
        another, so that an unload happened during the call and the shim
        cannot tell old objects from new by their place. The old one's
        lazy slot must stay the loader's (the version before judged it by
        the new library's scope: 'program sends: 0')."""
        for traced in (False, True):
            with self.subTest(traced=traced):
                srv = th.RecordingServer(mode="http")
                self.addCleanup(srv.close)
                extra = {"PROBE_INNER": self.linked_lazy, "PROBE_INNER_FLAGS": "LAZY",
                         "PROBE_CLOSE": self.libs["now"]}
                env = self.env(**extra) if traced else th.clean_env(**extra)
                p = th.run([self.send_linked_exe, self.ctor_needs_lib, "DEEPBIND,NOW",
                            str(srv.port), PATH], env=env, tmpdir=self.tmp, name="probe",
                           timeout=20)
                self.assertEqual(p.returncode, 0, p.describe())
                self.assertEqual(p.stdout(), b"HTTP/1.1 200 OK\nprogram sends: 1\n",
                                 p.describe())

    def test_a_dependencys_own_send_stays(self):
        """The library's dependency defines send: RTLD_DEEPBIND binds the
        library's send to it, and so it stays (the request goes out by it,
        as the program wrote it), whether the shim's dlopen opened the
        library or another library's constructor did through the C
        library's (the first version bound it to the shim's hook then)."""
        for how, lib, extra in (("directly", self.own_send_lib, {}),
                                ("from a constructor", self.ctor_lib,
                                 {"PROBE_INNER": self.own_send_lib})):
            for traced in (False, True):
                with self.subTest(how=how, traced=traced):
                    srv = th.RecordingServer(mode="http")
                    self.addCleanup(srv.close)
                    env = self.env(**extra) if traced else th.clean_env(**extra)
                    p = th.run([self.exe, lib, PHP_FLAGS, str(srv.port), PATH], env=env,
                               tmpdir=self.tmp, name="probe", timeout=20)
                    self.assertEqual(p.returncode, 0, p.describe())
                    self.assertEqual(p.stdout(), b"HTTP/1.1 200 OK\nown sends: 1\n",
                                     p.describe())
                    self.assertEqual(bytes(srv.wait_closed(1)[0].data), self.request(srv))

    def test_a_library_opened_before_the_shims_start(self):
        """A library the program links opens one with RTLD_DEEPBIND from
        its constructor, which runs before the shim's own: the shim starts
        there, as its other hooks start it, and binds it back."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.probe(srv, [self.ctor_lib, "NOW"], self.env(PROBE_INNER=self.libs["now"]),
                       exe=self.linked_exe)
        self.assert_traced(srv, p, "opened by a constructor")

    def test_a_read_only_part_that_ends_inside_a_page(self):
        """PT_GNU_RELRO ending 16 bytes into the page that holds the
        library's .data: the loader leaves that last page writable (it
        rounds the end down), and so must the shim when it makes the part
        read-only again (the first version rounded up: the library's first
        write to .data ended the process with SIGSEGV)."""
        patched = os.path.join(self.tmp, "libprobe_relro.so")
        with open(self.libs["now"], "rb") as f:
            elf = bytearray(f.read())
        phoff, = struct.unpack_from("<Q", elf, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
        relro = [phoff + i * phentsize for i in range(phnum)
                 if struct.unpack_from("<I", elf, phoff + i * phentsize)[0] == 0x6474e552]
        self.assertEqual(len(relro), 1, "the probe library has no PT_GNU_RELRO")
        vaddr, _, filesz, memsz = struct.unpack_from("<QQQQ", elf, relro[0] + 0x10)
        self.assertEqual((vaddr + memsz) % 4096, 0, "its PT_GNU_RELRO ends on a page already")
        struct.pack_into("<QQ", elf, relro[0] + 0x20, filesz + 16, memsz + 16)
        with open(patched, "wb") as f:
            f.write(elf)
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        self.probe(srv, [patched, "DEEPBIND,NOW"], th.clean_env(), name="untraced")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.probe(srv, [patched, "DEEPBIND,NOW"], self.env())
        self.assert_traced(srv, p, "a library whose RELRO ends inside a page")

    def test_turned_off_the_library_goes_around_the_shim(self):
        """TRACESHIM_DEEPBIND=0: the loader's binding stays, the request
        goes out as the program wrote it and makes no span (what the test
        above would see without the shim's dlopen)."""
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        p = self.probe(srv, [self.libs["now"], PHP_FLAGS], self.env(TRACESHIM_DEEPBIND="0"))
        self.assertEqual(bytes(srv.wait_closed(1)[0].data), self.request(srv))
        spans = th.read_spans(self.spans_file) if os.path.exists(self.spans_file) else []
        self.assertEqual([s for s in spans if s["kind"] == th.KIND_CLIENT], [],
                         th.format_spans(spans) + p.describe())

    def test_a_bare_name_is_found_in_the_callers_runpath(self):
        """The loader searches a bare name in the RUNPATH of the object
        that called dlopen, which it knows by the call's return address:
        the shim's dlopen must not become the caller. With RTLD_DEEPBIND a
        bare name is left to the C library's dlopen too (not bound back:
        README), and a name with $ORIGIN, which is the caller's folder."""
        plain = th.clean_env()
        for name, flags in (("libplugin.so", "NOW"), ("libplugin.so", "DEEPBIND,NOW"),
                            ("$ORIGIN/plugins/libplugin.so", "DEEPBIND,NOW")):
            with self.subTest(name=name, flags=flags):
                srv = th.RecordingServer(mode="http")
                self.addCleanup(srv.close)
                self.probe(srv, [name, flags], plain, exe=self.runpath_exe, name="untraced")
                self.probe(srv, [name, flags], self.env(), exe=self.runpath_exe)


class PhpCurlTest(th.TempDirMixin, unittest.TestCase):
    """php-curl, as PHP loads it (RTLD_DEEPBIND): the request's client span
    is the parent of the traced server's span, in one trace."""

    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.php = th.require_tool("php")
        modules = subprocess.run([cls.php, "-m"], capture_output=True, env=th.clean_env(),
                                 timeout=30).stdout.decode().split()
        if "curl" not in modules:
            raise unittest.SkipTest("php has no curl extension (php8.2-curl)")

    def setUp(self):
        self.tmp = self.make_tmp()

    def test_php_curl_joins_the_trace(self):
        spans_file = os.path.join(self.tmp, "spans.jsonl")
        srv, port = th.start_app_server(self, "py-server", spans_file, self.tmp)
        code = ("$c = curl_init('http://127.0.0.1:%d/echo-headers');"
                "curl_setopt($c, CURLOPT_RETURNTRANSFER, true);"
                "$body = curl_exec($c);"
                "if ($body === false) { fwrite(STDERR, curl_error($c)); exit(2); }"
                "echo $body;" % port)
        env = th.plain_lib_env(th.shim_env("php-client", spans_file), "php")
        p = th.run([self.php, "-r", code], env=env, tmpdir=self.tmp, name="php", timeout=30)
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(spans_file, 2, procs=(p, srv))
        self.assertEqual(srv.stop(), 0, srv.describe())
        spans = th.read_spans(spans_file, strict=True)
        dump = "\n" + th.format_spans(spans)
        cli = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client span", spans)
        srv_span = th.only([s for s in spans if s["kind"] == th.KIND_SERVER], "server span",
                           spans)
        self.assertEqual(cli["service"], "php-client", dump)
        self.assertEqual(cli["name"], "GET /echo-headers", dump)
        self.assertEqual(cli["attrs"].get("http.response.status_code"), 200, dump)
        self.assertEqual(srv_span["traceId"], cli["traceId"], "one trace" + dump)
        self.assertEqual(srv_span["parentSpanId"], cli["spanId"], dump)
        headers = json.loads(p.stdout())
        self.assertEqual(th.header_values(headers, "traceparent"),
                         ["00-%s-%s-01" % (cli["traceId"], cli["spanId"])], dump)


if __name__ == "__main__":
    th.main()
