"""test_launcher.py — the `traceshim` command (scripts/traceshim): `run` and `view`.

The script is found in the source tree and told where the library and the
viewer are through TRACESHIM_LIB / TRACESHIM_VIEW.
"""

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402


def kill_group(pgid):
    """SIGKILL to a process group that may be gone already."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class LauncherTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_launcher()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def traceshim(self, *args, env=None, timeout=20, cwd=None):
        return th.run(["bash", th.LAUNCHER, *args], env=env or th.launcher_env(),
                      tmpdir=self.tmp, name="traceshim-" + args[0], timeout=timeout, cwd=cwd)

    def test_run_keeps_exit_status_and_output(self):
        th.require_lib()
        p = self.traceshim("run", "-s", "svc", "-o", self.spans_file, "--",
                           "sh", "-c", "echo hi; exit 7")
        self.assertEqual(p.returncode, 7, "exit status of the command\n" + p.describe())
        self.assertEqual(p.stdout(), b"hi\n", "stdout is the program's alone")
        lines = p.stderr().decode("utf-8", "replace").splitlines()
        self.assertEqual(len(lines), 1, "stderr: exactly one line from the launcher: %r" % lines)
        self.assertTrue(lines[0].startswith("traceshim:"), lines[0])
        # sh makes no request: its process span is all, with its exit code
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        self.assertEqual((s["name"], s["kind"], s["attrs"].get("process.exit_code"), s["status"]),
                         ("sh -c echo hi; exit 7", th.KIND_INTERNAL, 7, th.STATUS_ERROR))

    def test_run_starts_no_dirname_or_basename(self):
        """Every traced command pays for the launcher's own start: the
        folders of its path and of the span file are string work, not a
        dirname or basename process each (four of them were about a third
        of what `traceshim run` added to a command)."""
        th.require_lib()
        trap = os.path.join(self.tmp, "trap")
        os.makedirs(trap)
        marker = os.path.join(self.tmp, "ran")
        for tool in ("dirname", "basename"):
            with open(os.path.join(trap, tool), "w") as f:
                f.write("#!/bin/sh\necho %s >> %s\nexit 99\n" % (tool, marker))
            os.chmod(os.path.join(trap, tool), 0o755)
        env = th.launcher_env()
        env["PATH"] = trap + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        p = self.traceshim("run", "-o", os.path.join(self.tmp, "sub", "..", "spans.jsonl"), "--",
                           "sh", "-c", "exit 3", env=env)
        self.assertEqual(p.returncode, 3, p.describe())
        self.assertFalse(os.path.exists(marker), "the launcher ran a stand-in: %s"
                         % (open(marker).read() if os.path.exists(marker) else ""))
        self.assertIn(os.path.join(self.tmp, "spans.jsonl"), p.stderr().decode(), p.describe())

    def test_run_passes_arguments_verbatim(self):
        th.require_lib()
        p = self.traceshim("run", "-o", self.spans_file, "--",
                           "printf", "%s|", "a b", "", "c*", "$HOME")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"a b||c*|$HOME|")

    def test_run_refuses_a_span_file_that_is_a_link(self):
        """-o, TRACESHIM_FILE or the default name naming a symbolic link:
        refused before the program runs, the link's target untouched (the
        library never writes through a link; resolving it here would have
        handed the library the target)."""
        th.require_lib()
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        link = os.path.join(self.tmp, "link.jsonl")
        os.symlink(victim, link)
        for args, env in ((("-o", link), None),
                          ((), th.launcher_env(TRACESHIM_FILE=link))):
            p = self.traceshim("run", *args, "--", "true", env=env)
            self.assertEqual(p.returncode, 1, p.describe())
            self.assertIn(b"is a symbolic link", p.stderr(), p.describe())
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        # a link in the folder's path is resolved: the file itself is no link
        os.mkdir(os.path.join(self.tmp, "real"))
        os.symlink(os.path.join(self.tmp, "real"), os.path.join(self.tmp, "dirlink"))
        p = self.traceshim("run", "-o", os.path.join(self.tmp, "dirlink", "s.jsonl"), "--", "true")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(os.path.join(self.tmp, "real", "s.jsonl").encode(), p.stderr(), p.describe())

    def test_run_refuses_a_span_file_this_user_cannot_write(self):
        """A span file (or, for a new one, its folder) this user may not
        write: refused before the program runs, as a missing folder is (it
        was announced as traced, and the library then said "cannot open
        span file ...: Permission denied; spans are dropped", exit 0). Not
        when the file exporter is not in use."""
        th.require_lib()
        pre = []
        if os.geteuid() == 0:  # root writes anywhere: the launcher runs as nobody
            pre = [th.require_tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"]
        os.chmod(self.tmp, 0o755)
        share = os.path.join(self.tmp, "share")  # the checkout may sit where nobody cannot go
        os.mkdir(share)
        for src in (th.LIB, th.LAUNCHER):
            shutil.copy(src, share)
        open_dir = os.path.join(self.tmp, "open")
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o777)
        marker = os.path.join(open_dir, "ran")
        closed = os.path.join(self.tmp, "closed")
        os.mkdir(closed)
        existing = os.path.join(closed, "spans.jsonl")
        with open(existing, "w"):
            pass
        os.chmod(existing, 0o444)
        os.chmod(closed, 0o555)
        self.addCleanup(os.chmod, closed, 0o755)
        env = th.launcher_env()
        env["TRACESHIM_LIB"] = os.path.join(share, os.path.basename(th.LIB))
        launcher = os.path.join(share, os.path.basename(th.LAUNCHER))
        new = os.path.join(closed, "new.jsonl")
        for args, status, line in (
                (("-o", new), 1, "traceshim: cannot write spans to %s: the folder %s is not "
                                 "writable for this user\n" % (new, closed)),
                (("-o", existing), 1, "traceshim: cannot write spans to %s: it is not writable "
                                      "for this user\n" % existing),
                (("-e", "none", "-o", new), 0, "traceshim: tracing 'touch' -> exporter none "
                                               "(no span is kept)\n")):
            p = th.run(pre + ["bash", launcher, "run", *args, "--", "touch", marker], env=env,
                       tmpdir=self.tmp, name="traceshim-run")
            self.assertEqual((p.returncode, p.stderr().decode()), (status, line), p.describe())
            self.assertEqual(os.path.exists(marker), status == 0, p.describe())

    def test_process_span_name_keeps_a_long_url(self):
        """A long command line's span name is cut inside a long word (a URL)
        rather than before it: "curl -s -o /dev/null http://127.0.0.1:9/api/..."
        (it was "curl -s -o /dev/null...", the URL gone)."""
        th.require_lib()
        curl = th.require_tool("curl")
        url = "http://127.0.0.1:9/api/v1/orders/12345/items?customer=12345&page=2"
        p = self.traceshim("run", "-o", self.spans_file, "--", curl, "-s", "-o", "/dev/null", url)
        self.assertEqual(p.returncode, 7, p.describe())  # nothing listens on port 9
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        self.assertEqual(len(s["name"]), 64, s["name"])
        self.assertEqual(s["name"], ("curl -s -o /dev/null " + url)[:61] + "...")

    def test_process_span_name_cuts_between_characters(self):
        """A long word of UTF-8 text is cut before a character it would
        split: the name ended in the split character's first bytes, which
        every exporter shows as U+FFFD ("true 日本語…日本語\ufffd...")."""
        th.require_lib()
        true = th.require_tool("true")
        p = self.traceshim("run", "-o", self.spans_file, "--", true, "x" + "日本語" * 100)
        self.assertEqual(p.returncode, 0, p.describe())
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        self.assertNotIn("\ufffd", s["name"])
        self.assertTrue(s["name"].endswith("..."), s["name"])
        self.assertTrue(("true x" + "日本語" * 100).startswith(s["name"][:-3]), s["name"])

    def test_process_span_hides_credentials(self):
        """The process span's name and process.command_line carry no
        password, token or URL signature given on the command line."""
        th.require_lib()
        curl = th.require_tool("curl")
        # -V: curl prints its version and exits, connecting nowhere
        p = self.traceshim("run", "-o", self.spans_file, "--", curl, "-V", "-H", "Authorization: Bearer TOKEN-1",
                           "-u", "bob:PW-2", "http://alice:PW-3@127.0.0.1:9/x?Signature=SIG-4&a=1")
        self.assertEqual(p.returncode, 0, p.describe())
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        line = s["attrs"]["process.command_line"]
        # argv[0] as curl got it (under ASan, PATH's wrapper execs the real one)
        argv0 = line.split(" ", 1)[0]
        self.assertEqual(os.path.basename(argv0), "curl", line)
        self.assertEqual(line, argv0 + " -V -H Authorization: REDACTED -u REDACTED "
                               "http://REDACTED:REDACTED@127.0.0.1:9/x?Signature=REDACTED&a=1")
        # the name: the same, from the program's base name, shortened
        from_base = line[len(os.path.dirname(argv0)) + 1:]
        self.assertTrue(s["name"].endswith("..."), s["name"])
        self.assertTrue(from_base.startswith(s["name"][:-3]), (s["name"], from_base))
        with open(self.spans_file, "rb") as f:
            data = f.read()
        for secret in (b"TOKEN-1", b"PW-2", b"PW-3", b"SIG-4"):
            self.assertNotIn(secret, data)
        # a URL across the 512 bytes kept: redacted whole, then cut (cut
        # first, its '@' was gone and "alice:PW-5" went out)
        os.remove(self.spans_file)
        filler = "f" * (470 - len(argv0) - len(" -V "))
        p = self.traceshim("run", "-o", self.spans_file, "--", curl, "-V", filler,
                           "http://alice:PW-5-%s@127.0.0.1:9/" % ("x" * 40))
        self.assertEqual(p.returncode, 0, p.describe())
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        line = s["attrs"]["process.command_line"]
        self.assertLessEqual(len(line), 512, line)
        self.assertIn(" http://REDACTED:REDACTED@", line)
        self.assertNotIn("alice", line)

    def test_system_usage_errors_exit_2(self):
        """enable/disable --system with a bad option: usage, exit 2 (as
        every command's bad usage), nothing changed under --root."""
        th.require_lib()
        root = os.path.join(self.tmp, "root")
        os.mkdir(root)
        for args in (("enable", "--system", "--root", root, "--bogus"),
                     ("disable", "--system", "--root", root, "--programs", "x"),
                     ("enable", "--system", "--root", root, "--programs"),
                     ("enable", "--system", "--root")):
            p = self.traceshim(*args)
            self.assertEqual(p.returncode, 2, p.describe())
            self.assertEqual(p.stdout(), b"")
        self.assertEqual(os.listdir(root), [])

    def test_run_refuses_an_exporter_the_library_would(self):
        """-e with a name the library does not know: a usage error, the
        command not run (it was announced as exported there, and the
        library then wrote the default file). Names in any case, with
        spaces and empty entries, are the library's as well."""
        th.require_lib()
        marker = os.path.join(self.tmp, "ran")
        for exporters in ("bogus", "file,bogus", ",", "otlp;file"):
            p = self.traceshim("run", "-e", exporters, "-o", self.spans_file, "--",
                               "touch", marker)
            self.assertEqual(p.returncode, 2, p.describe())
            self.assertIn(b"unknown exporter", p.stderr(), p.describe())
            self.assertFalse(os.path.exists(marker), "the command ran: " + exporters)
        p = self.traceshim("run", "-e", " File , ,NONE", "-o", self.spans_file, "--",
                           "touch", marker)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(os.path.exists(marker))
        self.assertNotIn(b"REJECTED", p.stderr(), p.describe())
        self.assertNotIn(b"TRACESHIM_EXPORTER", p.stderr(), p.describe())

    def test_run_says_where_the_library_sends_the_spans(self):
        """The line of run says what the library will do with this
        environment: an exporter list from the environment that it refuses
        gives the file (it said "-> exporter bogus"), the file among
        several exporters is named (-e file,otlp said "-> exporter
        file,otlp", -e FILE and -e none,file the same), and a program
        TRACESHIM_PROGRAMS leaves out, or TRACESHIM_DISABLED and
        OTEL_SDK_DISABLED, is not traced (it said "tracing 'true' -> FILE"
        and nothing was written). Its patterns and lists are read as the
        library reads them: no file names matched, bytes, blanks and tabs
        trimmed (a review found "*" said "not tracing" in a folder with a
        file in it, and "true\\n" said "not tracing" while the library
        refused the value and traced)."""
        th.require_lib()
        true = os.path.realpath("/bin/true")
        name = os.path.basename(true)
        to_file = "traceshim: tracing '%s' -> %s (" % (name, self.spans_file)
        cases = (
            ((), dict(TRACESHIM_EXPORTER="bogus"), to_file, True),
            ((), dict(OTEL_TRACES_EXPORTER=" File "), to_file, True),
            (("-e", "FILE"), {}, to_file, True),
            (("-e", "none,file"), {}, to_file, True),
            (("-e", "file,logging,console"), {},
             "traceshim: tracing '%s' -> %s and console (" % (name, self.spans_file), True),
            (("-e", "console,none"), {}, "traceshim: tracing '%s' -> exporter console\n" % name,
             False),
            (("-e", "none"), {},
             "traceshim: tracing '%s' -> exporter none (no span is kept)\n" % name, False),
            ((), dict(TRACESHIM_PROGRAMS=" tr?e ,x"), to_file, True),
            ((), dict(TRACESHIM_PROGRAMS="/usr/*/" + name), to_file, True),
            ((), dict(TRACESHIM_PROGRAMS="nginx"),
             "traceshim: not tracing '%s': TRACESHIM_PROGRAMS does not name it; the programs "
             "it starts that it names -> %s (" % (name, self.spans_file), False),
            ((), dict(TRACESHIM_PROGRAMS="[t]rue"),
             "traceshim: tracing those of '%s' and the programs it starts that "
             "TRACESHIM_PROGRAMS names -> %s (" % (name, self.spans_file), True),
            ((), dict(TRACESHIM_DISABLED=" Yes"),
             "traceshim: not tracing '%s': TRACESHIM_DISABLED turns the library off; "
             "running it anyway\n" % name, False),
            ((), dict(TRACESHIM_DISABLED="0", OTEL_SDK_DISABLED="true"), to_file, True),
            ((), dict(OTEL_SDK_DISABLED="TRUE"),
             "traceshim: not tracing '%s': OTEL_SDK_DISABLED turns the library off; "
             "running it anyway\n" % name, False),
            ((), dict(JAEGER_DISABLED=" T"),
             "traceshim: not tracing '%s': JAEGER_DISABLED turns the library off; "
             "running it anyway\n" % name, False),
            ((), dict(OTEL_SDK_DISABLED="false", JAEGER_DISABLED="true"), to_file, True),
            # Patterns match no file names (the folder run starts in holds
            # "otlp" and "truex": bash expanded "o*" and "*" against them),
            # and only blanks and tabs are trimmed, as the library trims.
            ((), dict(TRACESHIM_PROGRAMS="*"), to_file, True),
            ((), dict(TRACESHIM_EXPORTER="o*"), to_file, True),
            ((), dict(TRACESHIM_DISABLED="true\n"), to_file, True),
            ((), dict(TRACESHIM_EXPORTER="otlp\r"), to_file, True),
        )
        folder = os.path.join(self.tmp, "files-named-like-patterns")
        os.makedirs(folder, exist_ok=True)
        for f in ("otlp", "truex"):
            open(os.path.join(folder, f), "w").close()
        for args, env, line, traced in cases:
            if os.path.exists(self.spans_file):
                os.remove(self.spans_file)
            p = self.traceshim("run", *args, "-o", self.spans_file, "--", true,
                               env=th.launcher_env(**env), cwd=folder)
            err = p.stderr().decode()
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertTrue(err.startswith(line), "%r %r:\n%s" % (args, env, err))
            if traced:
                th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
            else:
                self.assertFalse(os.path.exists(self.spans_file), "%r %r" % (args, env))

    def test_run_refuses_empty_values(self):
        """-s, -o and -e with an empty value: each a usage error, exit 2,
        the command not run (-o '' was taken for the default file)."""
        th.require_lib()
        marker = os.path.join(self.tmp, "ran")
        for args in (("-s", ""), ("--service=",), ("-o", ""), ("--output=",),
                     ("-e", ""), ("--exporter=",)):
            p = th.run(["bash", th.LAUNCHER, "run", *args, "--", "touch", marker],
                       env=th.launcher_env(), tmpdir=self.tmp, name="traceshim-run", cwd=self.tmp)
            err = p.stderr().decode()
            self.assertEqual((p.returncode, p.stdout(), err.count("\n")), (2, b"", 1), p.describe())
            self.assertRegex(err, r"^traceshim: run: the .* is empty\n$")
            self.assertFalse(os.path.exists(marker), "the command ran: %r" % (args,))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "traceshim-spans.jsonl")))

    def test_run_missing_command(self):
        th.require_lib()
        missing = "no-such-command-%d" % os.getpid()
        p = self.traceshim("run", "-o", self.spans_file, "--", missing, "x")
        self.assertEqual(p.returncode, 127, p.describe())
        self.assertEqual(p.stdout(), b"")
        self.assertIn(missing.encode(), p.stderr(), "say which command was not found")

    def test_run_says_why_exec_cannot_start_the_command(self):
        """A command exec cannot start: one line of the launcher's own, in
        env(1)'s words, 126 or 127 as before, and no line saying it is
        traced (bash's own said "<path>/traceshim: line 333: ...", and
        "...: Success" after a damaged ELF file or an empty script)."""
        th.require_lib()
        check = os.path.join(th.BUILD, "traceshim-check")
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)

        def make(name, data, mode=0o755, where=self.tmp):
            path = os.path.join(where, name)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, mode)
            return path

        notx = make("notx", b"#!/bin/sh\necho hi\n", 0o644, bindir)
        badinterp = make("badinterp", b"#!/nonexistent/interp\n")
        crlf = make("crlf", b"#!/bin/sh\r\necho hi\r\n")
        nested = make("nested", ("#!%s -x\n" % badinterp).encode())
        noexec_interp = make("noexec-interp", ("#!%s\n" % notx).encode())
        with open(os.path.realpath("/bin/true"), "rb") as f:
            whole = f.read()
        trunc = make("trunc", whole[:100])
        # (ELF64: e_phoff, e_phentsize, e_phnum; each entry's p_type, p_offset)
        phoff, = struct.unpack_from("<Q", whole, 32)
        phentsize, phnum = struct.unpack_from("<HH", whole, 54)
        interp_at = next(struct.unpack_from("<Q", whole, phoff + i * phentsize + 8)[0]
                         for i in range(phnum)
                         if struct.unpack_from("<I", whole, phoff + i * phentsize)[0] == 3)
        # cut after two of its headers (libelf counts only those: it was
        # called statically linked), and inside its interpreter's name
        # (the kernel's read of it fails: it was called traceable)
        trunc_table = make("trunc-table", whole[:phoff + 2 * phentsize])
        trunc_interp = make("trunc-interp", whole[:interp_at + 4])
        empty = make("empty", b"")
        path_env = bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")
        cases = (
            ("notx", 126, "traceshim: notx: Permission denied"),
            (notx, 126, "traceshim: %s: Permission denied" % notx),
            (bindir, 126, "traceshim: %s: Permission denied" % bindir),
            (badinterp, 127, "traceshim: %s: its #! interpreter /nonexistent/interp: "
                             "No such file or directory" % badinterp),
            (crlf, 127, "traceshim: %s: its #! interpreter $'/bin/sh\\r': "
                        "No such file or directory" % crlf),
            (nested, 127, "traceshim: %s: its #! interpreter /nonexistent/interp: "
                          "No such file or directory" % nested),
            (noexec_interp, 126, "traceshim: %s: its #! interpreter %s: Permission denied"
                                 % (noexec_interp, notx)),
            (trunc, 126, "traceshim: %s: Exec format error (a damaged ELF file)" % trunc),
            (trunc_table, 126, "traceshim: %s: Exec format error (a damaged ELF file)"
                               % trunc_table),
            (trunc_interp, 126, "traceshim: %s: Input/output error (a damaged ELF file)"
                                % trunc_interp),
        )
        for cmd, status, line in cases:
            p = self.traceshim("run", "-o", self.spans_file, "--", cmd, "arg",
                               env=th.launcher_env(PATH=path_env, TRACESHIM_CHECK=check))
            self.assertEqual((p.returncode, p.stdout(), p.stderr().decode()),
                             (status, b"", line + "\n"), p.describe())
        self.assertFalse(os.path.exists(self.spans_file))
        # an empty script: bash runs nothing, successfully
        p = self.traceshim("run", "-o", self.spans_file, "--", empty,
                           env=th.launcher_env(TRACESHIM_CHECK=check))
        err = p.stderr().decode()
        self.assertEqual((p.returncode, p.stdout(), err.count("\n")), (0, b"", 1), p.describe())
        self.assertTrue(err.startswith("traceshim: tracing 'empty' -> "), err)

    def test_run_says_a_script_without_hash_bang_is_traced(self):
        """A script without #! is run by bash (execve refuses it, ENOEXEC)
        with LD_PRELOAD exported: the programs it starts are traced, and the
        line says so (it said "not tracing ...: no ELF header, no #! line").
        Its two commands are one trace, under the script's span: the
        launcher's own bash ran it (exec's ENOEXEC), untraced, and each
        command was a trace of its own."""
        th.require_lib()
        script = os.path.join(self.tmp, "noshebang")
        with open(script, "w") as f:
            f.write("sh -c 'exit 2'\nsh -c 'exit 3'\necho ran $?\n")
        os.chmod(script, 0o755)
        for given in (None, "./noshebang", ".//noshebang"):
            with self.subTest(given=given):
                self.assert_run_by_bash_traced(script, 3, before=[2], given=given)

    def test_run_says_a_script_whose_hash_bang_the_kernel_refuses_is_traced(self):
        """A #! line the kernel refuses (ENOEXEC): an interpreter whose name
        runs past the 256 bytes it reads, or no interpreter at all; bash
        runs the script itself, as for one without #!. run said "its #!
        interpreter /a/a/...: No such file or directory" (127), reading
        the first 255 bytes as the interpreter's name. A name that ends
        at byte 255, the last the kernel reads, is taken whole (missing
        here: 127)."""
        th.require_lib()
        long_interp = os.path.join(self.tmp, "long-interp")
        with open(long_interp, "w") as f:
            f.write("#!/" + "a/" * 140 + "sh\nsh -c 'exit 5'\necho ran $?\n")
        os.chmod(long_interp, 0o755)
        self.assert_run_by_bash_traced(long_interp, 5)
        blank = os.path.join(self.tmp, "blank-hash-bang")
        with open(blank, "w") as f:
            f.write("#!  \nsh -c 'exit 6'\necho ran $?\n")
        os.chmod(blank, 0o755)
        self.assert_run_by_bash_traced(blank, 6)
        at_the_edge = os.path.join(self.tmp, "edge")
        interp = "/" + "a/" * 125 + "sh"  # bytes 2 to 254, a blank at 255
        with open(at_the_edge, "w") as f:
            f.write("#!%s x\necho hi\n" % interp)
        os.chmod(at_the_edge, 0o755)
        p = self.traceshim("run", "-o", self.spans_file, "--", at_the_edge)
        self.assertEqual((p.returncode, p.stderr().decode()),
                         (127, "traceshim: %s: its #! interpreter %s: No such file or directory\n"
                          % (at_the_edge, interp)), p.describe())

    def assert_run_by_bash_traced(self, script, code, before=(), given=None):
        """script, whose text runs `sh -c 'exit N'` for each N of before,
        then `sh -c 'exit CODE'`, and prints "ran CODE", runs under
        traceshim run as bash runs it: one "tracing" line; one trace, the
        script's process span (a traced bash's, `bash SCRIPT`) the parent
        of the span of each sh it starts. given: the path as run names it,
        from the script's folder (a relative one: ./x, .//x)."""
        spans_file = os.path.join(self.tmp, "spans-%s-%s.jsonl"
                                  % (os.path.basename(script), (given or "").replace("/", "_")))
        p = self.traceshim("run", "-o", spans_file, "--", given or script, env=th.launcher_env(
            TRACESHIM_CHECK=os.path.join(th.BUILD, "traceshim-check")),
            cwd=os.path.dirname(script))
        self.assertEqual((p.returncode, p.stdout()), (0, b"ran %d\n" % code), p.describe())
        err = p.stderr().decode().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertTrue(err[0].startswith("traceshim: tracing '%s' -> %s "
                                          % (os.path.basename(script), spans_file)), err[0])
        codes = [*before, code]
        spans = th.wait_spans(spans_file, len(codes) + 1, timeout=th.AFTER_EXIT_TIMEOUT,
                              exact=True)
        shown = th.format_spans(spans)
        self.assertEqual(len({s["traceId"] for s in spans}), 1, "one trace" + shown)
        (top,) = [s for s in spans if not s["parentSpanId"]]
        bash, _, rest = (top["attrs"].get("process.command_line") or "").partition(" ")
        self.assertEqual((os.path.basename(bash), rest, top["attrs"].get("process.exit_code")),
                         ("bash", script, 0), shown)
        shells = sorted((s for s in spans if s is not top), key=lambda s: s["start"])
        self.assertEqual([(s["name"], s["attrs"].get("process.exit_code"), s["parentSpanId"])
                          for s in shells],
                         [("sh -c exit %d" % c, c, top["spanId"]) for c in codes], shown)

    def test_run_says_a_script_whose_interpreter_has_no_hash_bang_is_traced(self):
        """A script whose #! names a text file without #! of its own: execve
        refuses the script (ENOEXEC) and bash runs the script itself, its #!
        line a comment, the programs it starts traced. The line said "not
        tracing ... (run by ...): not an ELF executable"."""
        th.require_lib()
        interp = os.path.join(self.tmp, "plain-interp")
        with open(interp, "w") as f:
            f.write("echo never run\n")
        os.chmod(interp, 0o755)
        script = os.path.join(self.tmp, "chained")
        with open(script, "w") as f:
            f.write("#!%s\nsh -c 'exit 4'\necho ran $?\n" % interp)
        os.chmod(script, 0o755)
        self.assert_run_by_bash_traced(script, 4)

    def test_run_curl_then_view(self):
        th.require_lib()
        th.require_view()
        curl = th.require_tool("curl")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        url = "http://127.0.0.1:%d/launch/view?x=1" % srv.port
        p = self.traceshim("run", "-s", "curl-svc", "-o", self.spans_file, "--",
                           curl, "-q", "-sS", "--max-time", "10", url)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"ok")
        spans = th.wait_spans(self.spans_file, 2, timeout=th.AFTER_EXIT_TIMEOUT)
        proc = th.only([x for x in spans if x["kind"] == th.KIND_INTERNAL], "process span", spans)
        s = th.only([x for x in spans if x["kind"] == th.KIND_CLIENT], "HTTP span of curl", spans)
        self.assertEqual(s["parentSpanId"], proc["spanId"], th.format_spans(spans))
        self.assertEqual((s["name"], s["kind"], s["service"]),
                         ("GET /launch/view", th.KIND_CLIENT, "curl-svc"), th.format_spans(spans))
        (conn,) = srv.wait_closed(1)
        self.assertIn(("X-B3-TraceId: %s\r\n" % s["traceId"]).encode(), bytes(conn.data))

        v = self.traceshim("view", self.spans_file)
        self.assertEqual(v.returncode, 0, v.describe())
        out = v.stdout().decode("utf-8", "replace")
        self.assertIn(s["traceId"], out, "view shows the trace id\n" + out)
        self.assertIn("GET /launch/view", out, "view shows the span name\n" + out)

    def console_lines(self, p):
        return re.findall(r'traceshim: span [0-9a-f]{32}/[0-9a-f]{16} parent=\S+ '
                          r'"([^"]*)" (\w+) (\S+) \d+\.\d{3}ms\n', p.stderr().decode())

    def test_run_console_prints_the_process_span_after_stderr_closed_at_exit(self):
        """`run -e console true x` printed nothing: coreutils close stderr
        in an exit handler (close_stdout), before the flush at exit, and the
        line found fd 2 closed (or a file an exit handler opened there). A
        copy of stderr is kept at that close: the line, and the stats line,
        reach the stderr the program had (the file gets none of it), with
        the reporter in an fd table of its own or in the program's. A curl's
        client span and process span reach stderr too."""
        th.require_lib()
        app = th.compile_app("stderr_reuse.c", os.path.join(self.tmp, "stderr_reuse"), "-O2")
        curl = th.require_tool("curl")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        url = "http://127.0.0.1:%d/console" % srv.port
        data = os.path.join(self.tmp, "data")
        for table in ("1", "0"):
            env = th.launcher_env(TRACESHIM_OWN_FD_TABLE=table, TRACESHIM_STATS=1)
            for cmd in (("true", "x"), ("sleep", "0"), ("ls", "/"), ("echo", "hi"),
                        (app, "atexit", "data")):
                p = self.traceshim("run", "-e", "console", "--", *cmd, env=env, cwd=self.tmp)
                self.assertEqual(p.returncode, 0, p.describe())
                name = " ".join([os.path.basename(cmd[0]), *cmd[1:]])
                self.assertEqual(self.console_lines(p), [(name, "internal", "-")],
                                 "table %s\n%s" % (table, p.describe()))
                self.assertRegex(p.stderr().decode(), r"traceshim\[\d+\]: stats ", p.describe())
            with open(data, "rb") as f:
                self.assertEqual(f.read(), b"data\n", "the program's file at fd 2")
            p = self.traceshim("run", "-e", "console", "--", curl, "--noproxy", "*", "-sS", url,
                               env=env)  # (bounded by the run's timeout)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertEqual(self.console_lines(p),
                             [("GET /console", "client", "200"),
                              ("curl --noproxy * -sS " + url, "internal", "-")],
                             "table %s\n%s" % (table, p.describe()))

    def test_run_console_keeps_no_pipe_open_at_exit(self):
        """A copy of stderr kept at the exit is a terminal's or a regular
        file's only. A pipe's reader may wait for its end before the program
        exits: git's exit handler closes the pager's pipe (its stdout and
        stderr), then waits for the pager, and a copy of that pipe held it
        for good (the first version of the copy hung it); a child forked in
        an exit handler kept the copy, and a reader of the pipe waited for
        that child (3 s here). Lines that would have gone there are lost,
        as they were before any copy was kept."""
        th.require_lib()
        app = th.compile_app("stderr_reuse.c", os.path.join(self.tmp, "stderr_reuse"), "-O2")
        for table in ("1", "0"):
            for when in ("pager", "fork"):
                env = th.launcher_env(TRACESHIM_OWN_FD_TABLE=table)
                start = time.monotonic()
                p = subprocess.Popen(["bash", th.LAUNCHER, "run", "-e", "console", "--", app, when,
                                      "-"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
                self.addCleanup(kill_group, p.pid)
                try:
                    out, err = p.communicate(timeout=5)
                except subprocess.TimeoutExpired:
                    kill_group(p.pid)
                    out, err = p.communicate()
                took = time.monotonic() - start
                self.assertEqual(p.returncode, 0, "%s, table %s: %r" % (when, table, err))
                self.assertLess(took, 2.0, "%s, table %s: the pipe's end waited" % (when, table))

    def test_run_console_writes_nothing_into_a_file_the_program_opened_at_fd_2(self):
        """A program started with its stderr closed (`2>&-`) that opens a
        file of its own, which takes fd 2, and closes it at its exit: that
        file is the program's data, not its stderr, and no copy of it is
        kept for the shim's last lines (the first version of the copy
        wrote the process span and the stats line into it)."""
        th.require_lib()
        app = th.compile_app("stderr_reuse.c", os.path.join(self.tmp, "stderr_reuse"), "-O2")
        data = os.path.join(self.tmp, "data")
        lib = th.preload_value()
        for table in ("1", "0"):
            env = th.shim_env("opened", self.spans_file, TRACESHIM_EXPORTER="console",
                              TRACESHIM_PROCESS_SPANS=1, TRACESHIM_STATS=1,
                              TRACESHIM_OWN_FD_TABLE=table)
            self.assertTrue(lib)
            p = subprocess.run([app, "opened", data], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, timeout=20,
                               preexec_fn=lambda: os.close(2))
            self.assertEqual(p.returncode, 0, "table %s" % table)
            with open(data, "rb") as f:
                self.assertEqual(f.read(), b"data\n", "table %s" % table)

    def test_installed_under_any_prefix(self):
        """cmake --install into an arbitrary prefix: the installed command
        finds the installed library, viewer, checker and printer there."""
        th.require_lib()
        prefix = os.path.join(self.tmp, "some", "dir")
        r = th.run(["cmake", "--install", th.BUILD, "--prefix", prefix], tmpdir=self.tmp,
                   name="cmake-install", timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        cmd = os.path.join(prefix, "bin", "traceshim")
        libs = [os.path.join(d, "libtraceshim.so") for d in
                (os.path.join(prefix, "lib", "x86_64-linux-gnu"), os.path.join(prefix, "lib"))]
        lib = [x for x in libs if os.path.isfile(x)]
        self.assertEqual(len(lib), 1, "one installed library: %s" % libs)
        for f in ("share/man/man1/traceshim.1.gz", "share/bash-completion/completions/traceshim",
                  "libexec/traceshim/traceshim-system", "share/doc/traceshim/CHANGELOG.md"):
            self.assertTrue(os.path.isfile(os.path.join(prefix, f)), f)
        env = th.clean_env()  # no TRACESHIM_LIB: the installed copies
        v = th.run(["bash", cmd, "--version"], env=env, tmpdir=self.tmp, name="installed-version")
        out = v.stdout().decode()
        self.assertEqual(v.returncode, 0, v.describe())
        self.assertIn("library: %s\n" % os.path.realpath(lib[0]), out)
        self.assertIn(os.path.realpath(os.path.join(prefix, "libexec/traceshim/traceshim-view")), out)
        with open(os.path.join(th.SRC, "CMakeLists.txt")) as f:
            version = re.search(r"^project\(traceshim VERSION (\S+)", f.read(), re.M).group(1)
        self.assertEqual(out.splitlines()[0], "traceshim " + version)
        p = th.run(["bash", cmd, "run", "-o", self.spans_file, "--", "sh", "-c", "exit 3"], env=env,
                   tmpdir=self.tmp, name="installed-run")
        self.assertEqual(p.returncode, 3, p.describe())
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        self.assertEqual(s["resource"].get("telemetry.sdk.version"), version)

    def test_reinstall_replaces_the_library_by_a_rename(self):
        """cmake --install over an installed library writes the new file
        beside it and renames it over the old one: with system mode on,
        every program that starts maps the library, and a file rewritten
        in place (install(TARGETS) unlinked it and wrote the new one at its
        path) was mapped half written (SIGBUS). The inode changes on every
        install; under strace, the library's path is never opened for
        writing nor unlinked, only renamed onto; the mode stays 0644, no
        staging file is left, and the install manifest lists the library,
        also under DESTDIR (without it)."""
        th.require_lib()
        prefix = os.path.join(self.tmp, "prefix")
        manifest = os.path.join(th.BUILD, "install_manifest.txt")

        def install(*pre, prefix=prefix, env=None):
            r = th.run([*pre, "cmake", "--install", th.BUILD, "--prefix", prefix], env=env,
                       tmpdir=self.tmp, name="cmake-install", timeout=120)
            self.assertEqual(r.returncode, 0, r.describe())
            with open(manifest) as f:
                return f.read().splitlines()

        install()
        libdir = os.path.join(prefix, "lib", "x86_64-linux-gnu")
        if not os.path.isdir(libdir):
            libdir = os.path.join(prefix, "lib")
        lib = os.path.join(libdir, "libtraceshim.so")
        first = os.stat(lib)
        # an old time stamp: an install that compares them rewrites it too
        os.utime(lib, (0, 0))
        trace = os.path.join(self.tmp, "strace.txt")
        strace = shutil.which("strace")
        pre = (strace, "-f", "-qq", "-o", trace, "-e",
               "trace=open,openat,creat,truncate,unlink,unlinkat,rename,renameat,renameat2") if strace else ()
        listed = install(*pre)
        second = os.stat(lib)
        self.assertNotEqual(second.st_ino, first.st_ino, "the library was rewritten in place")
        self.assertEqual(second.st_mode & 0o7777, 0o644)
        self.assertEqual(os.listdir(libdir), ["libtraceshim.so"], "a staging file was left")
        self.assertEqual(listed.count(lib), 1, listed)
        with open(lib, "rb") as f, open(th.LIB, "rb") as g:
            self.assertTrue(f.read() == g.read(), "the installed library is the built one")
        if strace:
            with open(trace) as f:
                calls = [line for line in f if '"%s"' % lib in line]
            written = [c for c in calls if re.search(r"\b(creat|truncate|unlink|unlinkat)\(", c)
                       or re.search(r"\bopen(at)?\(.*(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)", c)]
            self.assertEqual(written, [], "the library's path written to or unlinked")
            renamed = [c for c in calls if re.search(r"\brename(at2?)?\(.*, %s" % re.escape('"%s"' % lib), c)]
            self.assertEqual(len(renamed), 1, calls)
        # with DESTDIR: the file under it, the manifest without it
        dest = os.path.join(self.tmp, "dest")
        listed = install(prefix="/usr", env=dict(os.environ, DESTDIR=dest))
        inside = os.path.relpath(lib, prefix)
        self.assertTrue(os.path.isfile(os.path.join(dest, "usr", inside)), inside)
        self.assertIn("/usr/" + inside, listed)

    def test_a_bad_tool_variable_is_refused_in_words_of_ours(self):
        """TRACESHIM_LIB, _VIEW, _CHECK or _CONFIG naming a folder, a text
        file or a device: one line saying what is wrong with it, before
        anything runs. A folder was "does not exist", a viewer without the
        execute bit gave bash's "exec: ... cannot execute" (126), and a
        library that is no ELF file was announced as traced and then
        refused by ld.so ("cannot be preloaded (invalid ELF header)")."""
        text = os.path.join(self.tmp, "text")
        with open(text, "w") as f:
            f.write("not a program\n")
        os.chmod(text, 0o644)
        marker = os.path.join(self.tmp, "ran")
        cases = (
            ("TRACESHIM_LIB", self.tmp, "is a folder", "library", ("run", "touch", marker), 1),
            ("TRACESHIM_LIB", text, "is not an ELF file", "library", ("run", "touch", marker), 1),
            ("TRACESHIM_LIB", "/dev/null", "is not a regular file", "library",
             ("run", "touch", marker), 1),
            ("TRACESHIM_VIEW", self.tmp, "is a folder", "viewer", ("view", text), 1),
            ("TRACESHIM_VIEW", text, "is not executable", "viewer", ("stats", text), 1),
            ("TRACESHIM_CHECK", text, "is not executable", "checker", ("check", "true"), 2),
            ("TRACESHIM_CONFIG", self.tmp, "is a folder", "configuration printer", ("config",), 2),
        )
        for var, value, problem, what, args, status in cases:
            env = th.launcher_env()
            env[var] = value
            p = self.traceshim(*args, env=env)
            self.assertEqual((p.returncode, p.stdout(), p.stderr().decode()),
                             (status, b"", "traceshim: %s=%s %s (it names the %s to use)\n"
                              % (var, value, problem, what)), p.describe())
        self.assertFalse(os.path.exists(marker))

    def test_usage_and_the_other_spellings(self):
        """help lists --root for enable and disable, as the manual does;
        -V is version and -h help (both documented now); view names its
        command to the viewer, so `view --command=stats` is an unknown
        option, not stats under another name."""
        p = self.traceshim("--help")
        out = p.stdout().decode()
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn("traceshim enable --system [--programs LIST] [--root DIR]\n", out)
        self.assertIn("traceshim disable --system [--root DIR]\n", out)
        self.assertEqual(self.traceshim("-h").stdout().decode(), out)
        version = self.traceshim("version").stdout()
        self.assertTrue(version.startswith(b"traceshim "), version)
        self.assertEqual(self.traceshim("-V").stdout(), version)
        self.assertEqual(self.traceshim("--version").stdout(), version)
        spans = os.path.join(self.tmp, "empty.jsonl")
        open(spans, "w").close()
        for command in ("stats", "html", "view"):
            p = self.traceshim("view", "--command=" + command, spans)
            self.assertEqual(p.returncode, 2, p.describe())
            self.assertIn(b"traceshim view: unknown option --command=" + command.encode(),
                          p.stderr(), p.describe())

    def test_view_missing_file(self):
        th.require_view()
        missing = os.path.join(self.tmp, "does-not-exist.jsonl")
        p = self.traceshim("view", missing)
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertTrue(p.stderr().strip(), "a message on stderr")
        self.assertIn(b"does-not-exist.jsonl", p.stderr())
        self.assertEqual(p.stdout(), b"")


if __name__ == "__main__":
    th.main()
