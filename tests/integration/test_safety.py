"""test_safety.py — configuration and files that cannot hurt.

- The span file is never opened through a symbolic link (someone else's
  link in a shared directory must not choose where a traced program
  writes), and a span file the shim creates is 0600.
- In a set-user-ID process (secure execution) the shim does nothing at
  all, even when the loader does load it: a library in a system directory
  with its set-user-ID bit, the only way LD_PRELOAD reaches such a process.
"""

import os
import shutil
import stat
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

NOBODY = 65534


class SafetyTest(th.TempDirMixin, unittest.TestCase):
    def setUp(self):
        th.require_lib()
        self.tmp = self.make_tmp()
        self.curl = th.require_tool("curl")
        self.srv = th.RecordingServer(mode="http")
        self.addCleanup(self.srv.close)
        self.url = "http://127.0.0.1:%d/safety" % self.srv.port

    def curl_under_shim(self, spans_file, pre=(), env_extra=None, lib=None):
        env = th.shim_env("curl", spans_file, **(env_extra or {}))
        if lib:
            env["LD_PRELOAD"] = th.preload_value(lib)
        return th.run([*pre, self.curl, "-q", "-sS", "--max-time", "10", self.url], env=env,
                      tmpdir=self.tmp, name="curl")

    def test_span_file_is_never_a_symlink_target(self):
        target = os.path.join(self.tmp, "elsewhere")
        with open(target, "w") as f:
            f.write("precious\n")
        link = os.path.join(self.tmp, "spans.jsonl")
        os.symlink(target, link)
        p = self.curl_under_shim(link)
        self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
        with open(target) as f:
            self.assertEqual(f.read(), "precious\n", "nothing written through the link")
        err = p.stderr().decode("utf-8", "replace").splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertRegex(err[0], r"^traceshim: .*symbolic link")
        self.assertTrue(os.path.islink(link))

    def test_span_file_created_private(self):
        spans = os.path.join(self.tmp, "spans.jsonl")
        p = self.curl_under_shim(spans)
        self.assertEqual(p.returncode, 0, p.describe())
        th.wait_spans(spans, 1, timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertEqual(stat.S_IMODE(os.stat(spans).st_mode), 0o600)

    def test_setuid_process_is_left_alone(self):
        if os.getuid() != 0:
            self.fail("needs root: installs a set-user-ID library copy in a system directory")
        if th.PRELOAD_FIRST:
            # the loader preloads only set-user-ID libraries into such a
            # process, and the sanitizer runtime has to come first
            raise unittest.SkipTest("TSTEST_PRELOAD_FIRST: a sanitizer runtime cannot be "
                                    "preloaded into a set-user-ID process")
        setpriv = th.require_tool("setpriv")
        libdir = "/usr/lib/x86_64-linux-gnu"
        if not os.path.isdir(libdir):
            self.fail("no %s on this machine" % libdir)
        name = "libtraceshim-safety-test-%d.so" % os.getpid()
        lib = os.path.join(libdir, name)
        shutil.copy(th.LIB, lib)
        self.addCleanup(os.unlink, lib)
        os.chmod(lib, 0o4755)  # secure-mode preloading needs the set-user-ID bit
        prog = os.path.join(self.tmp, "curl-setuid")
        shutil.copy(os.path.realpath(self.curl), prog)
        os.chmod(prog, 0o4755)
        if os.statvfs(prog).f_flag & os.ST_NOSUID:
            self.fail("the temporary folder is on a nosuid mount")
        os.chmod(self.tmp, 0o777)
        spans = os.path.join(self.tmp, "spans.jsonl")
        # as nobody: secure execution; the loader loads the library by
        # name from its system directory, and the shim must stay inert
        env = th.shim_env("curl", spans)
        env["LD_PRELOAD"] = name
        p = th.run([setpriv, "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                    prog, "-q", "-sS", "--max-time", "10", "-o", "/dev/null",
                    "-w", "%{http_code}", self.url], env=env, tmpdir=self.tmp, name="curl-nobody")
        self.assertEqual((p.returncode, p.stdout()), (0, b"200"), p.describe())
        self.assertEqual(p.stderr(), b"", "not a word from an inert shim")
        (conn,) = self.srv.wait_closed(1)
        self.assertNotIn(b"X-B3-", bytes(conn.data), "no headers injected in secure mode")
        # setpriv, traced, made the file as it gave root up, and gave it to
        # nobody, the user it became; no span in it (a file curl made would
        # be root's: secure mode, its effective user)
        st = os.stat(spans)
        self.assertEqual((st.st_size, st.st_uid), (0, NOBODY), "no span in secure mode")
        # the same library, loaded by root (no secure mode), does trace: the
        # test would pass vacuously if the copy were never loaded at all
        p = th.run([prog, "-q", "-sS", "--max-time", "10", "-o", "/dev/null", self.url],
                   env=env, tmpdir=self.tmp, name="curl-root")
        self.assertEqual(p.returncode, 0, p.describe())
        conns = self.srv.wait_closed(2)
        self.assertIn(b"X-B3-TraceId", bytes(conns[1].data), "root's run is traced")


if __name__ == "__main__":
    th.main()
