"""test_check.py — `traceshim check PROGRAM` (cli/check.c) and the check
`traceshim run` makes before it starts a program.

The programs are built here, in a temporary folder: C programs with the
system's cc (dynamic, static, no socket calls), Go programs with Debian's
golang-go (standard library only, GOCACHE/GOPATH in the folder, no network;
failing when go is not installed), and set-user-ID copies of system
programs. curl is checked as installed. Nothing binds a port.
"""

import errno
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

CHECK = os.environ.get("TRACESHIM_CHECK") or os.path.join(th.BUILD, "traceshim-check")
# these tests look at the programs found on PATH themselves, not at the
# static stand-ins of the sanitizer run (tshelp.STANDIN_DIR)
os.environ["PATH"] = th.path_without_standins()
NOBODY = 65534

HELLO_C = r"""
#include <stdio.h>
int main(void) { puts("hello from C"); return 3; }
"""
HELLO_GO = """package main

import "fmt"

func main() { fmt.Println("hello from Go") }
"""
# Importing net makes the go tool link with cgo: a dynamically linked Go program.
NET_GO = """package main

import (
\t"fmt"
\t"net"
)

func main() { fmt.Println(net.ParseIP("127.0.0.1")) }
"""


def require_check():
    if not os.path.isfile(CHECK):
        raise unittest.TestCase.failureException(
            "traceshim-check not found at %s, build first (cmake --build build)" % CHECK)


class Fixtures:
    """Programs built once for all tests, in one temporary folder."""

    dir = None
    _built = {}

    @classmethod
    def setup(cls):
        cls.dir = tempfile.mkdtemp(prefix="tsit-check-")
        # set-user-ID tests run programs from here as another user
        os.chmod(cls.dir, 0o755)

    @classmethod
    def cleanup(cls):
        if cls.dir and not th.KEEP:
            shutil.rmtree(cls.dir, True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def c_program(cls, name, *flags):
        """Builds HELLO_C with cc and flags; fails the test when that fails."""
        key = ("c", name)
        if key not in cls._built:
            cc = shutil.which("cc")
            ok = False
            if cc:
                src = cls.path(name + ".c")
                with open(src, "w") as f:
                    f.write(HELLO_C)
                r = subprocess.run([cc, "-o", cls.path(name), src, *flags],
                                   capture_output=True, timeout=120)
                ok = r.returncode == 0
            cls._built[key] = ok
        if not cls._built[key]:
            raise AssertionError("cc %s cannot build a program here (scripts/install-deps.sh "
                                 "installs build-essential)" % " ".join(flags))
        return cls.path(name)

    @classmethod
    def go_program(cls, name, source, cgo):
        """Builds a Go program offline; fails the test without Debian's go."""
        key = ("go", name)
        if key not in cls._built:
            go = shutil.which("go")
            if not go:
                raise AssertionError("go is not installed: run scripts/install-deps.sh "
                                     "(Debian: golang-go)")
            src_dir = cls.path("go-" + name)
            os.makedirs(src_dir, exist_ok=True)
            with open(os.path.join(src_dir, "main.go"), "w") as f:
                f.write(source)
            # GOPATH mode, nothing to download: only the standard library
            env = th.clean_env(GOCACHE=cls.path("gocache"), GOPATH=cls.path("gopath"),
                               GO111MODULE="off", GOFLAGS="", GOPROXY="off",
                               GOTOOLCHAIN="local", CGO_ENABLED="1" if cgo else "0",
                               HOME=cls.dir)
            r = subprocess.run([go, "build", "-o", cls.path(name), "main.go"], cwd=src_dir,
                               env=env, capture_output=True, timeout=240)
            cls._built[key] = (r.returncode == 0 or
                               r.stderr.decode("utf-8", "replace")[-2000:] or "failed")
        if cls._built[key] is not True:
            raise AssertionError("go build of %s failed:\n%s" % (name, cls._built[key]))
        return cls.path(name)


def setUpModule():
    require_check()
    th.require_launcher()
    Fixtures.setup()


def tearDownModule():
    Fixtures.cleanup()


class CheckTest(th.TempDirMixin, unittest.TestCase):
    def setUp(self):
        self.tmp = self.make_tmp()

    def check(self, *args, env=None, timeout=20):
        """traceshim check through the launcher; returns (status, stdout lines, stderr)."""
        p = th.run(["bash", th.LAUNCHER, "check", *args],
                   env=env or th.launcher_env(TRACESHIM_CHECK=CHECK), tmpdir=self.tmp,
                   name="traceshim-check", timeout=timeout)
        return p.returncode, p.stdout().decode("utf-8", "replace").splitlines(), p.stderr()

    def assert_report(self, args, status, verdict, env=None):
        """check exits with status, prints verdict first and a reason second,
        says nothing on stderr; returns the stdout lines."""
        rc, out, err = self.check(*args, env=env)
        text = "\n".join(out)
        self.assertEqual(rc, status, "exit status of check %s\n%s\n%s" % (args, text, err))
        self.assertTrue(len(out) >= 3, "verdict, why, details:\n" + text)
        self.assertEqual(out[0], verdict, text)
        self.assertTrue(out[1].endswith("."), "one sentence of why:\n" + text)
        self.assertEqual(err, b"", "nothing on stderr")
        return out

    def detail(self, out, key):
        """The values of the detail lines 'key: value'."""
        return [line[len(key) + 2:] for line in out if line.startswith(key + ": ")]

    # ------------------------------------------------------------ verdicts

    def test_static_binary(self):
        prog = Fixtures.c_program("hello-static", "-static")
        out = self.assert_report([prog], 1, "not traceable: statically linked")
        self.assertIn("PT_INTERP", out[1])
        self.assertEqual(self.detail(out, "linking"), ["static (no interpreter)"])
        self.assertEqual(self.detail(out, "imports"), [], "no imports for a static program")

    def test_go_binary(self):
        prog = Fixtures.go_program("hello-go", HELLO_GO, cgo=False)
        # it is a real, working Go program
        p = th.run([prog], tmpdir=self.tmp, timeout=20)
        self.assertEqual(p.stdout(), b"hello from Go\n", p.describe())
        out = self.assert_report([prog], 1, "not traceable: Go binary (makes its own system calls)")
        self.assertEqual(self.detail(out, "linking"), ["static (no interpreter)"])
        go = self.detail(out, "Go")
        self.assertEqual(len(go), 1, "\n".join(out))
        self.assertIn(".note.go.buildid", go[0])

    def test_go_binary_with_cgo(self):
        """A Go program linked dynamically (net with cgo) is still not traceable."""
        if not shutil.which("cc"):
            self.skipTest("cgo needs cc")
        prog = Fixtures.go_program("net-go", NET_GO, cgo=True)
        out = self.assert_report([prog], 1, "not traceable: Go binary (makes its own system calls)")
        self.assertTrue(self.detail(out, "linking")[0].startswith("dynamic, interpreter "),
                        "\n".join(out))
        self.assertIn("dynamically linked (cgo)", out[1])

    def test_setuid_binary(self):
        true = os.path.realpath(shutil.which("true") or "/bin/true")
        copy = Fixtures.path("true-setuid")
        if not os.path.exists(copy):
            shutil.copy(true, copy)
            os.chmod(copy, 0o4755)
        if os.statvfs(copy).f_flag & os.ST_NOSUID:
            self.skipTest("the temporary folder is on a nosuid mount")
        out = self.assert_report([copy], 1, "not traceable: setuid/setgid")
        self.assertIn("AT_SECURE", out[1])
        self.assertIn("LD_PRELOAD", out[1])
        owner = self.detail(out, "set-user-ID")
        self.assertEqual(len(owner), 1, "\n".join(out))
        self.assertIn("uid %d" % os.getuid(), owner[0])

    def test_curl(self):
        curl = th.require_tool("curl")
        out = self.assert_report(["curl"], 0, "traceable")
        self.assertEqual(self.detail(out, "program")[0].split(" ")[0], curl, "found on PATH")
        self.assertTrue(self.detail(out, "linking")[0].startswith("dynamic, interpreter /"))
        imports = " ; ".join(self.detail(out, "imports"))
        for call in ("connect", "send", "recv"):
            self.assertRegex(imports, r"\b%s\b" % call, "\n".join(out))
        tls = self.detail(out, "TLS library")
        self.assertTrue(tls, "\n".join(out))
        self.assertRegex(tls[0], r"^uses OpenSSL \(libssl\.so\.[0-9.]+, dynamic\): HTTPS traced "
                                 r"\(needed by libcurl\.so\.4\)$")

    def test_tls_libraries(self):
        """wget: GnuTLS, traced; a program without a TLS library among its
        shared libraries: static TLS cannot be seen, and check says so."""
        th.require_tool("wget")
        out = self.assert_report(["wget"], 0, "traceable")
        self.assertRegex(self.detail(out, "TLS library")[0],
                         r"^uses GnuTLS \(libgnutls\.so\.[0-9.]+, dynamic\): HTTPS traced$")
        out = self.assert_report([Fixtures.c_program("hello-dynamic")], 0,
                                 "traceable: no network calls found")
        tls = self.detail(out, "TLS library")
        self.assertEqual(len(tls), 1, "\n".join(out))
        self.assertTrue(tls[0].endswith("no dynamic TLS library seen; statically linked TLS (Node's bundled "
                                        "OpenSSL, Go's crypto/tls) cannot be traced, a libssl loaded at run "
                                        "time (Python's ssl module) is traced"), tls[0])

    def test_no_network_calls(self):
        prog = Fixtures.c_program("hello-dynamic")
        out = self.assert_report([prog], 0, "traceable: no network calls found")
        self.assertIn("dlopen", out[1], "says a module loaded at run time may still connect")
        self.assertEqual(self.detail(out, "imports"), ["hello-dynamic: none of the interposed calls"])

    def test_no_network_calls_with_one_library(self):
        """One library: "neither it nor the library it loads imports" (it
        said "the 1 libraries it loads import")."""
        cc = th.require_tool("cc")
        one_c = os.path.join(self.tmp, "one.c")
        with open(one_c, "w") as f:
            f.write("int one(void) { return 1; }\n")
        prog_c = os.path.join(self.tmp, "prog.c")
        with open(prog_c, "w") as f:
            f.write("int one(void);\nvoid _start(void) { one(); for (;;) ; }\n")
        lib = os.path.join(self.tmp, "libone.so")
        prog = os.path.join(self.tmp, "prog")
        for argv in ([cc, "-shared", "-fPIC", "-nostdlib", "-o", lib, one_c],
                     [cc, "-nostdlib", "-o", prog, prog_c, "-L" + self.tmp, "-lone",
                      "-Wl,-rpath," + self.tmp]):
            r = subprocess.run(argv, capture_output=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = self.assert_report([prog], 0, "traceable: no network calls found")
        self.assertTrue(out[1].startswith("%s is dynamically linked, but neither it nor the "
                                          "library it loads imports connect, accept or "
                                          "accept4; " % prog), out[1])
        self.assertEqual(self.detail(out, "libraries"),
                         ["1 needed (libone.so), 1 loaded in all"], "\n".join(out))

    def test_not_an_elf_file(self):
        """Executable, but neither an ELF program, a #! script nor text a
        shell runs (bash's test: a NUL byte in its first line)."""
        data = os.path.join(self.tmp, "data")
        with open(data, "wb") as f:
            f.write(b"just\0data\n")
        os.chmod(data, 0o755)
        out = self.assert_report([data], 1, "not traceable: not an ELF executable")
        lib = os.path.realpath("/lib/x86_64-linux-gnu/libz.so.1")
        if os.path.exists(lib):
            copy = os.path.join(self.tmp, os.path.basename(lib))
            shutil.copy(lib, copy)
            os.chmod(copy, 0o755)
            out = self.assert_report([copy], 1, "not traceable: not an ELF executable")
            self.assertIn("shared library", out[1])

    def test_the_dynamic_loader_run_as_a_program(self):
        """ld.so run as a program (ld.so PROGRAM ARGS) preloads as the kernel's
        start does: run traces PROGRAM. check called it "not an ELF
        executable (a shared library)", exit 1, and run warned so. libc.so.6,
        a library with an entry point too, keeps its verdict."""
        loader = "/lib64/ld-linux-x86-64.so.2"
        if not os.path.exists(loader):
            self.skipTest("no %s here" % loader)
        out = self.assert_report([loader], 0,
                                 "traceable: the dynamic loader (the program it runs is traced)")
        self.assertIn("the program it runs is what is traced", out[1])
        self.assertEqual(self.detail(out, "linking"),
                         ["the dynamic loader itself (no interpreter)"], "\n".join(out))
        r = subprocess.run([CHECK, "--warn", loader], capture_output=True, timeout=20)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))
        libc = "/lib/x86_64-linux-gnu/libc.so.6"
        if os.path.exists(libc):
            self.assert_report([libc], 0, "traceable: no network calls found")

    def test_a_file_a_shell_runs_itself(self):
        """A file execve refuses (ENOEXEC) that a shell runs as a script of
        its own, as traceshim run does (the programs it starts traced):
        text without #!, a #! interpreter whose name runs past the 256
        bytes the kernel reads, a #! interpreter that is such text. check
        said "not traceable: not an ELF executable" (exit 1) or "its #!
        line names no interpreter" (exit 2)."""
        def make(name, text):
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
            return path

        plain = make("plain.sh", "echo hi\n")
        long_interp = make("long.sh", "#!/" + "a/" * 140 + "sh\necho hi\n")
        chained = make("chained.sh", "#!%s\necho hi\n" % plain)
        for path, why in ((plain, "it has no #! line"),
                          (long_interp, "its #! line names an interpreter whose name runs past "
                                        "the 256 bytes the kernel reads"),
                          (chained, "its #! interpreter %s is neither an ELF program nor a #! "
                                    "script" % plain)):
            rc, out, err = self.check(path)
            text = "\n".join(out)
            self.assertEqual((rc, err), (0, b""), text)
            self.assertTrue(out[0].startswith("traceable"), text)
            self.assertTrue(out[1].startswith("execve refuses %s (%s), and a shell that starts it "
                                              "runs it as a script of its own, as /bin/sh would: "
                                              % (path, why)), text)
            self.assertEqual(self.detail(out, "script"),
                             ["execve refuses %s (%s); a shell runs it itself: what follows is "
                              "about /bin/sh" % (path, why)], text)
        # and a shell does run each (the kernel refuses every one)
        for path in (plain, long_interp, chained):
            with self.assertRaises(OSError) as e:
                subprocess.run([path], capture_output=True, timeout=20)
            self.assertEqual(e.exception.errno, errno.ENOEXEC)
            r = subprocess.run(["sh", "-c", '"$0"', path], capture_output=True, timeout=20)
            self.assertEqual((r.returncode, r.stdout), (0, b"hi\n"), path)

    def test_an_executable_fifo_is_no_script(self):
        """A FIFO with execute permission: execve refuses it (EACCES), and
        no shell runs it. check said "traceable ... a shell runs it as a
        script" (exit 0: nothing read from it looked like a binary file);
        it says "not an ELF executable" again (exit 1), and does not wait
        for a writer."""
        path = os.path.join(self.tmp, "fifo")
        os.mkfifo(path)
        os.chmod(path, 0o755)
        rc, out, err = self.check(path)
        text = "\n".join(out)
        self.assertEqual((rc, err), (1, b""), text)
        self.assertEqual(out[0], "not traceable: not an ELF executable", text)
        with self.assertRaises(PermissionError):
            subprocess.run([path], capture_output=True, timeout=20)

    def test_a_file_without_execute_permission(self):
        """execve refuses it (EACCES), as run does with 126: a file error,
        exit 2. A copy of curl without the bit was "traceable" (0), a text
        file "not traceable" (1)."""
        text = os.path.join(self.tmp, "notes.txt")
        with open(text, "w") as f:
            f.write("just text\n")
        os.chmod(text, 0o644)
        true = os.path.join(self.tmp, "true-copy")
        shutil.copy(os.path.realpath("/bin/true"), true)
        os.chmod(true, 0o644)
        script = os.path.join(self.tmp, "script")
        with open(script, "w") as f:
            f.write("#!%s\n" % true)
        os.chmod(script, 0o755)
        for args, message in (([text], "%s: Permission denied (not executable for this user)" % text),
                              ([true], "%s: Permission denied (not executable for this user)" % true),
                              ([script], "%s: its interpreter %s: Permission denied (not "
                                         "executable for this user)" % (script, true))):
            rc, out, err = self.check(*args)
            self.assertEqual((rc, out, err.decode()), (2, [], "traceshim check: %s\n" % message))

    def test_names_from_the_file_are_shown_escaped(self):
        """Every name check prints from the file it reads goes out with its
        control characters escaped, as file errors did: a #! line, a
        DT_NEEDED entry, PT_INTERP, the program's path, and the --warn line
        run repeats. They reached the terminal raw: "\\e]0;PWNED\\a"
        retitled it, "\\e[2J" cleared it."""
        def assert_no_controls(data, what):
            self.assertIsNone(re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", data),
                              "%s: raw control characters in %r" % (what, data))

        def check_raw(*args):
            r = subprocess.run([CHECK, *args], capture_output=True, timeout=20)
            assert_no_controls(r.stdout, "stdout of check %s" % (args,))
            assert_no_controls(r.stderr.replace(b"\n", b""), "stderr of check %s" % (args,))
            return r

        # the #! line as written; a program path with an escape in it
        script = os.path.join(self.tmp, "inj\x1b[31m.sh")
        with open(script, "wb") as f:
            f.write(b"#!/bin/sh \x1b]0;PWNED\x07\x1b[2J\xc2\x9b\xe2\x80\xae\necho hi\n")
        os.chmod(script, 0o755)
        r = check_raw(script)
        self.assertEqual(r.returncode, 0, r)
        out = r.stdout.decode()
        self.assertIn('starts with "#!/bin/sh \\x1b]0;PWNED\\x07\\x1b[2J\\u009b\\u202e"', out)
        self.assertIn("program: %s/inj\\x1b[31m.sh" % self.tmp, out)

        # DT_NEEDED and PT_INTERP: /bin/true with its .dynstr and interpreter rewritten
        with open(os.path.realpath("/bin/true"), "rb") as f:
            elf = f.read()
        for name, old, new in (("needed", b"libc.so.6\0", b"\x1b]0;X\x07c.6\0"),
                               ("interp", b"/lib64/ld-linux-x86-64.so.2\0",
                                b"/lib64/\x1b]0;X\x07-x86-64.so.2\0")):
            self.assertEqual(elf.count(old), 1, "one %r in /bin/true" % old)
            path = os.path.join(self.tmp, "true-" + name)
            with open(path, "wb") as f:
                f.write(elf.replace(old, new))
            os.chmod(path, 0o755)
            out = check_raw(path).stdout.decode()
            if name == "needed":
                self.assertIn("libraries: 1 needed (\\x1b]0;X\\x07c.6)", out)
            else:
                self.assertIn("linking: dynamic, interpreter /lib64/\\x1b]0;X\\x07-x86-64.so.2",
                              out)
                self.assertIn("note: /lib64/\\x1b]0;X\\x07-x86-64.so.2 is not glibc's", out)

        # the --warn line (run's): the interpreter that runs the script
        static = Fixtures.c_program("hello-static", "-static")
        interp = os.path.join(self.tmp, "st\x1b[2Jatic")
        os.symlink(static, interp)
        warned = os.path.join(self.tmp, "warned.sh")
        with open(warned, "w") as f:
            f.write("#!%s\n" % interp)
        os.chmod(warned, 0o755)
        r = check_raw("--warn", warned)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"(run by %s/st\\x1b[2Jatic): statically linked" % self.tmp.encode(),
                      r.stderr)

    # ------------------------------------------------------------ finding the program

    def test_script_follows_interpreter(self):
        prog = Fixtures.c_program("hello-static", "-static")
        script = os.path.join(self.tmp, "run.sh")
        with open(script, "w") as f:
            f.write("#!%s -x\n" % prog)
        os.chmod(script, 0o755)
        out = self.assert_report([script], 1, "not traceable: statically linked")
        self.assertTrue(out[1].startswith("%s is a script run by %s: " % (script, prog)), out[1])
        scripts = self.detail(out, "script")
        self.assertEqual(len(scripts), 1, "\n".join(out))
        self.assertIn('"#!%s -x"' % prog, scripts[0])

        # through /usr/bin/env: the program env runs, found on PATH
        env_script = os.path.join(self.tmp, "env.sh")
        with open(env_script, "w") as f:
            f.write("#!/usr/bin/env -S hello-static --flag\n")
        os.chmod(env_script, 0o755)
        env = th.launcher_env(TRACESHIM_CHECK=CHECK,
                              PATH=Fixtures.dir + os.pathsep + os.environ.get("PATH", ""))
        out = self.assert_report([env_script], 1, "not traceable: statically linked", env=env)
        self.assertIn("which env runs", self.detail(out, "script")[0])
        self.assertIn("run by %s:" % prog, out[1])

    def test_bare_name_on_path(self):
        prog = Fixtures.c_program("hello-static", "-static")
        env = th.launcher_env(TRACESHIM_CHECK=CHECK,
                              PATH="/nonexistent:" + Fixtures.dir + ":/usr/bin:/bin")
        out = self.assert_report(["hello-static"], 1, "not traceable: statically linked", env=env)
        self.assertEqual(self.detail(out, "program")[0].split(" ")[0], prog)

    # ------------------------------------------------------------ errors

    def test_errors(self):
        missing = os.path.join(self.tmp, "no-such-program")
        crlf = os.path.join(self.tmp, "crlf.sh")  # written on Windows: "/bin/sh\r"
        with open(crlf, "wb") as f:
            f.write(b"#!/bin/sh\r\necho hi\r\n")
        os.chmod(crlf, 0o755)
        for args, what in (([missing], b"no-such-program"),
                           ([crlf], b"its interpreter /bin/sh\\r: "),
                           (["no-such-command-%d" % os.getpid()], b"command not found"),
                           ([self.tmp], b"Is a directory"),
                           ([], b"usage:"),
                           (["--bogus", "/bin/true"], b"unknown option"),
                           (["/bin/true", "/bin/false"], b"only one PROGRAM")):
            rc, out, err = self.check(*args)
            self.assertEqual(rc, 2, "check %s: exit status 2\n%s" % (args, err))
            self.assertEqual(out, [], "check %s: nothing on stdout" % args)
            self.assertIn(what, err, "check %s: message names the problem" % args)
            self.assertTrue(err.startswith(b"traceshim check: "), err)

    def test_help(self):
        rc, out, err = self.check("--help")
        self.assertEqual(rc, 0)
        self.assertTrue(out[0].startswith("usage: traceshim check"), out)
        p = th.run(["bash", th.LAUNCHER, "help"], env=th.launcher_env(), tmpdir=self.tmp)
        self.assertIn(b"traceshim check PROGRAM", p.stdout())

    def test_missing_checker(self):
        missing = os.path.join(self.tmp, "traceshim-check")
        rc, out, err = self.check("/bin/true", env=th.launcher_env(TRACESHIM_CHECK=missing))
        self.assertEqual(rc, 2)
        self.assertIn(b"TRACESHIM_CHECK", err)
        self.assertEqual(out, [])

    def test_check_is_fast(self):
        """run checks every program it starts: the --warn check reads one file."""
        curl = th.require_tool("curl")
        start = time.monotonic()
        for _ in range(10):
            r = subprocess.run([CHECK, "--warn", curl], capture_output=True, timeout=20)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))
        per_run = (time.monotonic() - start) / 10
        self.assertLess(per_run, 0.25, "check --warn took %.1f ms per run" % (per_run * 1000))


class RunCheckTest(th.TempDirMixin, unittest.TestCase):
    """`traceshim run` warns, in its one stderr line, about programs it cannot
    trace, and runs them anyway."""

    def setUp(self):
        th.require_lib()
        self.tmp = self.make_tmp()
        self.spans = os.path.join(self.tmp, "spans.jsonl")

    def run_traced(self, *cmd, env=None, pre=(), launcher=th.LAUNCHER):
        p = th.run([*pre, "bash", launcher, "run", "-o", self.spans, "--", *cmd],
                   env=env or th.launcher_env(TRACESHIM_CHECK=CHECK), tmpdir=self.tmp,
                   name="traceshim-run", cwd=Fixtures.dir)
        return p, p.stderr().decode("utf-8", "replace").splitlines()

    def test_static_binary_warns_once_and_runs(self):
        prog = Fixtures.c_program("hello-static", "-static")
        p, err = self.run_traced(prog)
        self.assertEqual(p.returncode, 3, "the program's exit status\n" + p.describe())
        self.assertEqual(p.stdout(), b"hello from C\n", "the program's output, nothing else")
        self.assertEqual(len(err), 1, "exactly one line on stderr: %r" % err)
        self.assertRegex(err[0], r"^traceshim: not tracing 'hello-static': statically linked")
        self.assertNotIn("->", err[0], "not the 'tracing ... -> file' line")

    def test_go_binary_warns(self):
        prog = Fixtures.go_program("hello-go", HELLO_GO, cgo=False)
        p, err = self.run_traced(prog)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"hello from Go\n")
        self.assertEqual(len(err), 1, err)
        self.assertIn("Go binary", err[0])

    def test_traceable_program_unchanged(self):
        prog = Fixtures.c_program("hello-dynamic")
        p, err = self.run_traced(prog)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stdout(), b"hello from C\n")
        self.assertEqual(len(err), 1, err)
        self.assertRegex(err[0], r"^traceshim: tracing 'hello-dynamic' -> ")

    def test_the_dynamic_loader_is_no_warning(self):
        """run ld.so PROGRAM: the loader preloads the library into PROGRAM,
        so run says it traces, where it said "not tracing ...: not an ELF
        executable (a shared library)"."""
        loader = "/lib64/ld-linux-x86-64.so.2"
        if not os.path.exists(loader):
            self.skipTest("no %s here" % loader)
        p, err = self.run_traced(loader, Fixtures.c_program("hello-dynamic"))
        self.assertEqual((p.returncode, p.stdout()), (3, b"hello from C\n"), p.describe())
        self.assertEqual(len(err), 1, err)
        self.assertRegex(err[0], r"^traceshim: tracing 'ld-linux-x86-64.so.2' -> ")

    def test_quiet_and_missing_checker(self):
        prog = Fixtures.c_program("hello-static", "-static")
        p, err = self.run_traced(prog, env=th.launcher_env(TRACESHIM_CHECK=CHECK,
                                                           TRACESHIM_QUIET=1))
        self.assertEqual((p.returncode, err), (3, []), "TRACESHIM_QUIET=1: nothing at all")
        missing = os.path.join(self.tmp, "nothing-here")
        p, err = self.run_traced(prog, env=th.launcher_env(TRACESHIM_CHECK=missing))
        self.assertEqual(p.returncode, 3, "no checker: the program still runs")
        self.assertEqual(len(err), 1, err)
        self.assertRegex(err[0], r"^traceshim: tracing ")

    def maps_of_setuid_cat(self, pre, tools):
        """Runs a set-user-ID copy of cat on /proc/self/maps under run,
        with the launcher, library and checker copies in tools."""
        copy = Fixtures.path("cat-setuid")
        if not os.path.exists(copy):
            shutil.copy(os.path.realpath(shutil.which("cat") or "/bin/cat"), copy)
            os.chmod(copy, 0o4755)
        if os.statvfs(copy).f_flag & os.ST_NOSUID:
            self.skipTest("the temporary folder is on a nosuid mount")
        env = th.launcher_env(TRACESHIM_CHECK=tools["check"])
        env["TRACESHIM_LIB"] = tools["lib"]
        return self.run_traced(copy, "/proc/self/maps", pre=pre, env=env,
                               launcher=tools["launcher"])

    def tools_for_everyone(self):
        """Copies of the library, the checker and the launcher that any
        user can reach (the checkout may sit in a home only root enters)."""
        share = Fixtures.path("for-everyone")
        os.makedirs(share, exist_ok=True)
        os.chmod(Fixtures.dir, 0o755)
        os.chmod(share, 0o755)
        tools = {}
        for key, src, mode in (("lib", th.LIB, 0o644), ("check", CHECK, 0o755),
                               ("launcher", th.LAUNCHER, 0o755)):
            dst = os.path.join(share, os.path.basename(src))
            shutil.copy(src, dst)
            os.chmod(dst, mode)
            tools[key] = dst
        return tools

    def test_setuid_as_owner_and_as_another_user(self):
        """The loader really ignores the library for a set-user-ID program
        started by another user, and run says so; its owner gets it traced."""
        if os.getuid() != 0:
            self.skipTest("needs root: a set-user-ID copy owned by root, run as nobody")
        setpriv = th.require_tool("setpriv")
        lib = os.path.basename(th.LIB)
        tools = self.tools_for_everyone()
        os.chmod(self.tmp, 0o777)

        p, err = self.maps_of_setuid_cat(pre=(), tools=tools)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(lib.encode(), p.stdout(), "root owns it: the library is loaded")
        self.assertEqual(len(err), 1, err)
        self.assertRegex(err[0], r"^traceshim: tracing 'cat-setuid' -> ")

        os.remove(self.spans)  # root's, 0600: run as nobody would refuse it
        p, err = self.maps_of_setuid_cat(
            pre=(setpriv, "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"),
            tools=tools)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertNotIn(lib.encode(), p.stdout(),
                         "another user: the loader ignored LD_PRELOAD (secure mode)")
        self.assertIn(b"r-xp", p.stdout(), "cat ran and printed its maps")
        self.assertEqual(len(err), 1, err)
        self.assertRegex(err[0], r"^traceshim: not tracing 'cat-setuid': set-user-ID")


if __name__ == "__main__":
    th.main()
