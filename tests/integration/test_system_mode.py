"""test_system_mode.py — the library in a process that did not ask for it.

In system mode /etc/ld.so.preload loads libtraceshim.so into every process
on the host. Here a small client (apps/get_once.c) is linked against the
library instead (DT_NEEDED), which puts it into the process the same way
without LD_PRELOAD naming it, and TRACESHIM_SYSTEM_CONFIG points the
library at a configuration file of the test's own, so the host's /etc is
never touched. The real thing, /etc/ld.so.preload in a fresh Debian root,
is tests/package/test_package.py.

Checked: only a program TRACESHIM_PROGRAMS names is traced; every other one
(and every program when the file is missing or malformed) behaves exactly
as without the library: same output, same exit status, same bytes on the
wire, no spans, nothing on stderr, no fd left open; the environment wins
over the file; an explicit LD_PRELOAD of another copy of the library traces
once, never twice.

SystemCommandTest: `traceshim enable/disable --system --root DIR` on a
tree of the test's own (DIR/etc/ld.so.preload, DIR/etc/traceshim/), the
library copied to where the package puts it under DIR, with a merged /usr
(DIR/lib a link to usr/lib). Checked: disable takes out every entry of
/etc/ld.so.preload that loads the library, whatever line it shares and
however it is spelt, and keeps every other byte.
"""

import os
import shutil
import sys
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402


class SystemModeTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        d = cls.make_class_tmp("tsit-sysmode-")
        libdir = os.path.dirname(os.path.abspath(th.LIB))
        link = ["-Wl,--no-as-needed", "-L" + libdir, "-l:" + os.path.basename(th.LIB),
                "-Wl,-rpath," + libdir]
        cls.linked = th.compile_app("get_once.c", os.path.join(d, "get_once"), libs=link)
        # the same program without the library: what "behaves identically" means
        cls.plain = th.compile_app("get_once.c", os.path.join(d, "plain_get"))
        # the same linked program under another name: not on the allowlist
        cls.other = os.path.join(d, "other_get")
        shutil.copy(cls.linked, cls.other)

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.conf = os.path.join(self.tmp, "traceshim.conf")
        self.srv = th.RecordingServer(mode="http")
        self.addCleanup(self.srv.close)

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def env(self, **extra):
        env = th.clean_env(TRACESHIM_SYSTEM_CONFIG=self.conf, **extra)
        if th.PRELOAD_FIRST and "LD_PRELOAD" not in extra:
            # the sanitizer runtime, never the library itself (a test that
            # preloads the library says so, the runtime first: preload_value)
            env["LD_PRELOAD"] = th.PRELOAD_FIRST
        return env

    def get(self, prog, env, path="/sys"):
        p = th.run([prog, str(self.srv.port), path], env=env, tmpdir=self.tmp,
                   name=os.path.basename(prog))
        return p

    def default_conf(self, programs="get_once", extra=""):
        self.write_conf("# test configuration\nTRACESHIM_PROGRAMS=%s\nTRACESHIM_FILE=%s\n"
                        "OTEL_BSP_SCHEDULE_DELAY=100\nOTEL_SERVICE_NAME=sys\n%s"
                        % (programs, self.spans_file, extra))

    def assert_untouched(self, prog, env, n_conns):
        """prog ran as the plain program does: same output and status,
        nothing on stderr, the request's bytes exactly, no spans."""
        p = self.get(prog, env)
        q = self.get(self.plain, th.clean_env())
        self.assertEqual((p.returncode, p.stdout(), p.stderr()), (q.returncode, q.stdout(), b""),
                         p.describe())
        conns = self.srv.wait_closed(n_conns)
        self.assertEqual(bytes(conns[-2].data), bytes(conns[-1].data),
                         "the same bytes on the wire as without the library")
        self.assertNotIn(b"X-B3-", bytes(conns[-2].data))
        self.assertEqual(th.read_spans(self.spans_file), [], "no spans")

    def test_allowlisted_program_is_traced(self):
        self.default_conf()
        p = self.get(self.linked, self.env())
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"HTTP/1.1 200 OK\n")
        self.assertEqual(p.stderr(), b"")
        (s,) = th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        self.assertEqual((s["name"], s["kind"], s["service"]), ("GET /sys", th.KIND_CLIENT, "sys"))
        (conn,) = self.srv.wait_closed(1)
        self.assertIn(("X-B3-TraceId: %s\r\n" % s["traceId"]).encode(), bytes(conn.data))

    def test_other_program_is_untouched(self):
        self.default_conf()
        self.assert_untouched(self.other, self.env(), 2)

    def test_path_pattern(self):
        self.default_conf(programs="%s/*_get" % os.path.dirname(self.other))
        p = self.get(self.other, self.env())
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)

    def test_path_pattern_names_the_file_the_exec_named(self):
        # A link in a folder of its own to the program, executed by a
        # relative name: /proc/self/exe is the link's target and argv[0] is
        # not a path; the file the exec named (AT_EXECFN, made absolute
        # from the folder the process starts in) is the link's path, as for
        # a #! script (its own path, where exe is its interpreter's)
        folder = os.path.join(self.tmp, "bin")
        os.mkdir(folder)
        os.symlink(self.other, os.path.join(folder, "alias"))
        self.default_conf(programs="%s/*" % folder)
        p = th.run(["./alias", str(self.srv.port), "/sys"], env=self.env(), tmpdir=self.tmp,
                   cwd=folder)
        self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())
        th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        # and no other folder's pattern picks it
        os.unlink(self.spans_file)
        self.default_conf(programs="%s/other/*" % self.tmp)
        self.assert_untouched(self.linked, self.env(), 3)

    def test_no_file_traces_nothing(self):
        self.assert_untouched(self.linked, self.env(), 2)

    def test_no_allowlist_traces_nothing(self):
        self.default_conf(programs="")
        self.assert_untouched(self.linked, self.env(), 2)

    def test_malformed_file_traces_nothing(self):
        self.default_conf(extra="export OTEL_SERVICE_NAME=x\n")
        self.assert_untouched(self.linked, self.env(), 2)

    def test_directory_traces_nothing(self):
        os.mkdir(self.conf)
        self.assert_untouched(self.linked, self.env(), 2)

    def test_bad_value_is_silent(self):
        """A value the library rejects takes its default without a word in
        the traced program (traceshim config --system shows it)."""
        self.default_conf(extra="OTEL_BSP_MAX_QUEUE_SIZE=lots\nOTEL_PROPAGATORS=nope\n")
        p = self.get(self.linked, self.env())
        self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())
        th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)

    def test_disabled_in_file(self):
        self.default_conf(extra="TRACESHIM_DISABLED=1\n")
        self.assert_untouched(self.linked, self.env(), 2)

    def test_environment_wins(self):
        self.default_conf(programs="nothing-matches")
        own = os.path.join(self.tmp, "own.jsonl")
        p = self.get(self.other, self.env(TRACESHIM_PROGRAMS="other_get", TRACESHIM_FILE=own,
                                          OTEL_SERVICE_NAME="mine"))
        self.assertEqual(p.returncode, 0, p.describe())
        (s,) = th.wait_spans(own, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        self.assertEqual(s["service"], "mine")
        self.assertEqual(th.read_spans(self.spans_file), [])

    def test_explicit_preload_of_another_copy_traces_once(self):
        """LD_PRELOAD names a different file of the library than the one
        the program is linked with: the preloaded copy traces in
        environment mode (the loader also takes it for the program's own
        dependency, by its soname), and nothing is traced twice or into
        the system file's span file."""
        if th.PRELOAD_FIRST:
            self.skipTest("two copies of a sanitized library")
        self.default_conf()
        copy = os.path.join(self.tmp, "copy", "libtraceshim.so")
        os.mkdir(os.path.dirname(copy))
        shutil.copy(th.LIB, copy)
        own = os.path.join(self.tmp, "own.jsonl")
        env = self.env(LD_PRELOAD=copy, TRACESHIM_FILE=own, OTEL_BSP_SCHEDULE_DELAY="100")
        p = self.get(self.linked, env)
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(own, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        self.assertEqual(th.read_spans(self.spans_file), [])
        (conn,) = self.srv.wait_closed(1)
        head = bytes(conn.data)
        self.assertEqual(head.count(b"X-B3-TraceId:"), 1, head)
        self.assertEqual(head.count(b"traceparent:"), 1, head)

    def test_two_preloaded_copies_trace_once(self):
        """Two different files of the library in one process (here both in
        LD_PRELOAD; on a host, one from /etc/ld.so.preload and one from
        LD_PRELOAD): only the first copy traces. (A program linked against
        the library cannot show this: the loader takes the preloaded copy
        for it by its soname.)"""
        if th.PRELOAD_FIRST:
            self.skipTest("two copies of a sanitized library")
        copy = os.path.join(self.tmp, "copy", "libtraceshim.so")
        os.mkdir(os.path.dirname(copy))
        shutil.copy(th.LIB, copy)
        env = th.shim_env("svc", self.spans_file, LD_PRELOAD="%s %s" % (copy, th.LIB))
        p = th.run([self.plain, str(self.srv.port), "/x"], env=env, tmpdir=self.tmp, name="plain")
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        (conn,) = self.srv.wait_closed(1)
        head = bytes(conn.data)
        self.assertEqual(head.count(b"X-B3-TraceId:"), 1, head)
        self.assertEqual(head.count(b"traceparent:"), 1, head)

    def test_preloaded_same_file_is_environment_mode(self):
        """LD_PRELOAD naming the very file the process already has: one
        copy, environment mode (traced without any allowlist)."""
        own = os.path.join(self.tmp, "own.jsonl")
        env = self.env(LD_PRELOAD=th.preload_value(), TRACESHIM_FILE=own,
                       OTEL_BSP_SCHEDULE_DELAY="100")
        p = self.get(self.other, env)
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(own, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)
        (conn,) = self.srv.wait_closed(1)
        self.assertEqual(bytes(conn.data).count(b"X-B3-TraceId:"), 1)

    def test_preloaded_by_a_path_with_a_dynamic_string_token(self):
        """LD_PRELOAD='/usr/$LIB/libtraceshim.so' (the multiarch spelling:
        the loader expands $LIB, ld.so(8)) names the library: environment
        mode, traced without any allowlist, not a dormant system mode."""
        # $LIB is where this loader's multiarch libraries are: the library
        # in each place it may be
        copy_dir = os.path.join(self.tmp, "tree")
        for lib_dir in ("lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "lib64", "lib"):
            os.makedirs(os.path.join(copy_dir, lib_dir), exist_ok=True)
            os.symlink(os.path.abspath(th.LIB),
                       os.path.join(copy_dir, lib_dir, os.path.basename(th.LIB)))
        token_path = os.path.join(copy_dir, "$LIB", os.path.basename(th.LIB))
        preload = " ".join(filter(None, [th.PRELOAD_FIRST, token_path]))
        env = th.shim_env("svc", self.spans_file, LD_PRELOAD=preload)
        p = th.run([self.plain, str(self.srv.port), "/x"], env=env, tmpdir=self.tmp, name="plain")
        self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())
        th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)

    def test_programs_in_environment_mode(self):
        """TRACESHIM_PROGRAMS narrows LD_PRELOAD tracing too."""
        env = th.shim_env("svc", self.spans_file, TRACESHIM_PROGRAMS="nothing-matches")
        p = th.run([self.plain, str(self.srv.port), "/x"], env=env, tmpdir=self.tmp, name="plain")
        self.assertEqual(p.returncode, 0, p.describe())
        (conn,) = self.srv.wait_closed(1)
        self.assertNotIn(b"X-B3-", bytes(conn.data))
        self.assertEqual(th.read_spans(self.spans_file), [])
        env["TRACESHIM_PROGRAMS"] = "curl, plain_*"
        p = th.run([self.plain, str(self.srv.port), "/x"], env=env, tmpdir=self.tmp, name="plain")
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(self.spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, exact=True)


CONFIG = os.environ.get("TRACESHIM_CONFIG") or os.path.join(th.BUILD, "traceshim-config")
PACKAGED = "/usr/lib/x86_64-linux-gnu/libtraceshim.so"  # where the .deb puts it


class SystemCommandTest(th.TempDirMixin, unittest.TestCase):
    def setUp(self):
        th.require_lib()
        self.tmp = self.make_tmp()
        self.root = os.path.join(self.tmp, "root")
        for d in ("etc", os.path.dirname(PACKAGED)):
            self.make_dirs(d)
        self.lib = self.root + PACKAGED
        shutil.copy(th.LIB, self.lib)
        os.chmod(self.lib, 0o644)
        os.symlink("usr/lib", os.path.join(self.root, "lib"))  # a merged /usr
        self.preload = os.path.join(self.root, "etc", "ld.so.preload")

    def make_dirs(self, path):
        """The folders of path under the root, each 0755 (as on a host)."""
        d = self.root
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        for part in path.strip("/").split("/"):
            d = os.path.join(d, part)
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)

    def system(self, action, *args, lib=None, timeout=30):
        env = th.launcher_env(TRACESHIM_CONFIG=CONFIG)
        env["TRACESHIM_LIB"] = lib or self.lib
        return th.run(["bash", th.LAUNCHER, action, "--system", "--root", self.root, *args],
                      env=env, tmpdir=self.tmp, name="traceshim-" + action, timeout=timeout)

    def write_preload(self, text):
        with open(self.preload, "w") as f:
            f.write(text)

    def read_preload(self):
        with open(self.preload) as f:
            return f.read()

    def assert_disabled(self, before, after, lib=None):
        """disable turns before into after, exit status 0; a second run
        changes nothing."""
        self.write_preload(before)
        p = self.system("disable", lib=lib)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(self.read_preload(), after, "from %r\n%s" % (before, p.describe()))
        p = self.system("disable", lib=lib)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(b"nothing changed", p.stdout(), p.describe())
        self.assertEqual(self.read_preload(), after)

    def test_disable_takes_out_an_entry_sharing_its_line(self):
        """The loader reads entries separated by blanks, tabs, colons and
        newlines (ld.so(8)): an entry that shares its line goes, the others
        stay with their separators, and so do the comments and other lines.
        (Only lines that were exactly the library's path went: disable said
        it removed the line, and the library stayed in the file.)"""
        for before, after in (
                ("%s /other/lib.so\n" % PACKAGED, "/other/lib.so\n"),
                ("%s:/other.so\n" % PACKAGED, "/other.so\n"),
                ("# site\n/a.so\t%s:/b.so # ours\n/c.so" % PACKAGED, "# site\n/a.so\t/b.so # ours\n/c.so"),
                ("/a.so %s\n%s # enabled\n" % (PACKAGED, PACKAGED), "/a.so\n # enabled\n"),
                ("%s\t%s\n/a.so\n" % (PACKAGED, PACKAGED), "/a.so\n")):
            self.assert_disabled(before, after)

    def test_disable_takes_out_the_library_by_any_path(self):
        """Another path to the same file loads it as well: /lib/... on a
        merged /usr, a path with .. in it, a link to the file, or its bare
        name (which the loader looks up in its search path). (disable said
        the file did not name the library, and the package's prerm then let
        dpkg delete it: every program printed the loader's error.)"""
        # (relative: an absolute link under --root DIR leads out of DIR)
        os.symlink("x86_64-linux-gnu/libtraceshim.so", os.path.join(self.root, "usr", "lib", "ts.so"))
        for spelling in ("/lib/x86_64-linux-gnu/libtraceshim.so",
                         "/usr/lib/x86_64-linux-gnu/../x86_64-linux-gnu/libtraceshim.so",
                         "/usr//lib/x86_64-linux-gnu/libtraceshim.so",
                         "/usr/lib/ts.so", "libtraceshim.so"):
            self.assert_disabled("%s\n/other.so\n" % spelling, "/other.so\n")
        # another file of the library (a copy, not a link) is not this one
        copy = os.path.join(self.root, "usr", "lib", "copy.so")
        shutil.copy(self.lib, copy)
        self.assert_disabled("/usr/lib/copy.so %s\n" % PACKAGED, "/usr/lib/copy.so\n")

    def test_disable_takes_out_a_deleted_library(self):
        """The library already gone (TRACESHIM_LIB names a missing file):
        its path still goes from the file, which named a file every program
        then failed to load."""
        os.unlink(self.lib)
        self.assert_disabled("%s /other.so\n" % PACKAGED, "/other.so\n")

    def test_disable_after_an_edit_since_enable(self):
        """Enabled, then an entry added on the library's line: disable
        takes ours out, keeps the other one, and removes its record."""
        if th.PRELOAD_FIRST:
            self.skipTest("enable's self-test preloads the library alone")
        self.write_preload("/site.so\n")
        p = self.system("enable", "--programs", "curl")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(self.read_preload(), "/site.so\n%s\n" % PACKAGED)
        state = os.path.join(self.root, "etc", "traceshim")
        self.assertTrue(os.path.exists(os.path.join(state, "ld.so.preload.orig")))
        self.assert_disabled("/site.so\n%s /added.so\n" % PACKAGED, "/site.so\n/added.so\n")
        self.assertEqual(sorted(os.listdir(state)), ["traceshim.conf"])

    def tree(self):
        """Every file and folder under the root: its owner, mode and bytes."""
        seen = {}
        for d, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = os.path.join(d, name)
                st = os.lstat(path)
                data = None
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as f:
                        data = f.read()
                seen[path] = (st.st_uid, st.st_mode, data)
        return seen

    def test_enable_refuses_a_library_others_can_change(self):
        """The loader runs the library in every program, set-user-ID ones
        included, before the shim's own AT_SECURE check: enable refuses it
        unless the file and every folder above it (under --root, up to
        DIR) are root's and writable by no group and no others, a sticky
        folder (a /tmp) included; nothing is changed. (A library in the
        checkout's build folder, a developer's file, went into
        /etc/ld.so.preload with `sudo ./scripts/traceshim enable --system`.)"""
        if os.geteuid() != 0:
            self.skipTest("needs root (chown; enable takes only a library root owns)")
        if th.PRELOAD_FIRST:
            self.skipTest("enable's self-test preloads the library alone")
        libdir = os.path.dirname(self.lib)
        usr = os.path.join(self.root, "usr")
        cases = ((self.lib, "chmod", 0o664, "is writable by its group (mode 664)"),
                 (self.lib, "chmod", 0o646, "is writable by everyone (mode 646)"),
                 (self.lib, "chown", 65534, "(uid 65534), not root"),
                 (libdir, "chmod", 0o775, "is writable by its group (mode 775)"),
                 (usr, "chmod", 0o1777, "is writable by its group and everyone (mode 1777)"),
                 (usr, "chown", 65534, "(uid 65534), not root"),
                 (self.root, "chmod", 0o757, "is writable by everyone (mode 757)"))
        for path, how, value, problem in cases:
            st = os.stat(path)
            if how == "chmod":
                os.chmod(path, value)
            else:
                os.chown(path, value, -1)
            before = self.tree()
            p = self.system("enable", "--programs", "curl")
            err = p.stderr().decode()
            self.assertEqual(p.returncode, 1, p.describe())
            self.assertIn("traceshim: not enabled: %s " % path, err)
            self.assertIn(problem, err)
            self.assertIn("nothing was changed", err)
            self.assertEqual(p.stdout(), b"", "not even the self-test ran")
            self.assertEqual(self.tree(), before, "%s %s: nothing may change" % (how, path))
            os.chmod(path, st.st_mode & 0o7777)
            os.chown(path, st.st_uid, -1)
        # the tree as the package leaves it is accepted
        p = self.system("enable", "--programs", "curl")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(self.read_preload(), PACKAGED + "\n")

    def test_a_symbolic_link_is_not_replaced(self):
        """/etc/ld.so.preload (or, with --programs, traceshim.conf) a
        symbolic link: enable and disable refuse to change it (exit 1,
        nothing changed) instead of renaming a regular file over the link,
        which left the file it pointed to stale and the link gone. A
        disable with nothing to take out reads through it."""
        if th.PRELOAD_FIRST:
            self.skipTest("enable's self-test preloads the library alone")
        real = os.path.join(self.root, "etc", "preload.real")
        with open(real, "w") as f:
            f.write("/site.so\n")
        os.symlink("preload.real", self.preload)
        for args in (("enable",), ("enable", "--programs", "curl")):
            before = self.tree()
            p = self.system(*args)
            self.assertEqual(p.returncode, 1, p.describe())
            self.assertIn("%s is a symbolic link (to preload.real)" % self.preload, p.stderr().decode())
            self.assertEqual(self.tree(), before, "nothing may change")
        p = self.system("disable")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(b"nothing changed", p.stdout())
        with open(real, "w") as f:
            f.write("/site.so %s\n" % PACKAGED)
        before = self.tree()
        p = self.system("disable")
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertIn("is a symbolic link", p.stderr().decode())
        self.assertEqual(self.tree(), before, "nothing may change")
        # the configuration: rewritten only for --programs, then refused
        os.unlink(self.preload)
        state = os.path.join(self.root, "etc", "traceshim")
        self.make_dirs("/etc/traceshim")
        kept = os.path.join(self.root, "etc", "kept.conf")
        with open(kept, "w") as f:
            f.write("TRACESHIM_PROGRAMS=curl\n")
        os.symlink("../kept.conf", os.path.join(state, "traceshim.conf"))
        p = self.system("enable", "--programs", "wget")
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertIn("traceshim.conf is a symbolic link (to ../kept.conf)", p.stderr().decode())
        self.assertTrue(os.path.islink(os.path.join(state, "traceshim.conf")))
        self.assertFalse(os.path.lexists(self.preload))
        p = self.system("enable")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(os.path.islink(os.path.join(state, "traceshim.conf")))
        self.assertEqual(self.read_preload(), PACKAGED + "\n")

    def test_enable_refuses_a_configuration_that_is_no_file(self):
        """traceshim.conf a FIFO (enable read it before its check, and
        hung for good), a folder or a device: enable refuses at once, exit
        status 1, and changes nothing."""
        if th.PRELOAD_FIRST:
            self.skipTest("enable's self-test preloads the library alone")
        self.make_dirs("/etc/traceshim")
        conf = os.path.join(self.root, "etc", "traceshim", "traceshim.conf")
        for make, kind in ((os.mkfifo, "fifo"), (os.mkdir, "directory"),
                           (lambda c: os.symlink("/dev/null", c), "character special file")):
            make(conf)
            for args in ((), ("--programs", "curl")):
                before = self.tree()
                p = self.system("enable", *args, timeout=15)
                self.assertEqual(p.returncode, 1, p.describe())
                self.assertIn("%s is not a regular file (%s)" % (conf, kind), p.stderr().decode())
                self.assertEqual(self.tree(), before, "nothing may change")
            os.rmdir(conf) if kind == "directory" else os.unlink(conf)

    def test_programs_are_written_as_given(self):
        """--programs with backslashes: the TRACESHIM_PROGRAMS line holds
        them as given, whether enable creates the file, adds the line or
        replaces one. (Replacing went through awk -v, which read them as
        escapes: 'pr\\\\og,\\tab' became 'pr\\og,<TAB>ab'.)"""
        if th.PRELOAD_FIRST:
            self.skipTest("enable's self-test preloads the library alone")
        conf = os.path.join(self.root, "etc", "traceshim", "traceshim.conf")
        programs = r"pr\\og,\tab,/opt/x\*"
        want = "TRACESHIM_PROGRAMS=%s" % programs
        # the file absent (created), without the line (added), with two (replaced)
        for start in (None, "TRACESHIM_EXPORTER=none\n",
                      "TRACESHIM_PROGRAMS=curl\nTRACESHIM_EXPORTER=none\nTRACESHIM_PROGRAMS=wget\n"):
            if start is not None:
                self.assertEqual(self.system("disable").returncode, 0)
                with open(conf, "w") as f:
                    f.write(start)
            p = self.system("enable", "--programs", programs)
            self.assertEqual(p.returncode, 0, p.describe())
            with open(conf) as f:
                got = [line for line in f.read().splitlines() if line.startswith("TRACESHIM_PROGRAMS")]
            self.assertEqual(got, [want], "from %r" % start)
        self.assertIn("-> %s\n" % want, p.stdout().decode())


if __name__ == "__main__":
    th.main()
