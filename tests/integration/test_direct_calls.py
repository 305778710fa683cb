"""test_direct_calls.py — the hooks make a program's reads and writes as
bare system calls only while no thread of the program can be cancelled
(preload/direct.h, hooks/thread_hooks.c).

apps/direct_probe.c reads a pipe single-threaded, after creating a
thread, with a reader thread that main cancels, and after cancelling
itself. apps/read_counter.c, preloaded after the shim, is the "real" read
the shim passes calls to: its count says how many of the program's reads
went through glibc rather than straight to the kernel. Under a sanitizer
build the shim never makes direct calls (the sanitizer's interceptors must
see them), and the counts are checked for that instead.
"""

import os
import re
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

READS = 1000


class DirectCalls(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        bindir = cls.make_class_tmp("tsit-direct-")
        cls.probe = th.compile_app("direct_probe.c", os.path.join(bindir, "direct_probe"), "-O2",
                                   libs=("-lpthread",))
        cls.counter = th.compile_app("read_counter.c", os.path.join(bindir, "read_counter.so"), "-O2",
                                     "-shared", "-fPIC", libs=("-ldl",))

    def setUp(self):
        self.tmp = self.make_tmp()

    def run_probe(self, *args, counter=False, **env):
        e = th.shim_env("direct-probe", os.path.join(self.tmp, "spans.jsonl"), **env)
        if counter:
            e["LD_PRELOAD"] = e["LD_PRELOAD"] + " " + self.counter
        r = subprocess.run([self.probe, *args], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        return r

    def reads_through_glibc(self, *args, **env):
        r = self.run_probe(*args, counter=True, **env)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        m = re.search(rb"^read_counter (\d+)$", r.stderr, re.M)
        self.assertIsNotNone(m, "no count from read_counter.so: %r" % r.stderr)
        return int(m.group(1))

    @staticmethod
    def sanitized():
        return bool(th.PRELOAD_FIRST)

    def test_a_single_threaded_program_reads_straight_from_the_kernel(self):
        count = self.reads_through_glibc("plain", str(READS))
        if self.sanitized():
            self.assertGreaterEqual(count, READS)
        else:
            self.assertEqual(count, 0, "the program's reads went through glibc's read")

    def test_turned_off_every_read_goes_through_glibc(self):
        self.assertGreaterEqual(self.reads_through_glibc("plain", str(READS), TRACESHIM_DIRECT_CALLS=0),
                                READS)

    def test_after_the_program_creates_a_thread_reads_go_through_glibc(self):
        self.assertGreaterEqual(self.reads_through_glibc("thread", str(READS)), READS)

    def test_a_reader_thread_blocked_in_read_can_be_cancelled(self):
        # Blocked in a read made without glibc's bracket, a thread would
        # not be cancelled (glibc's signal restarts the call) and the join
        # would hang.
        r = self.run_probe("cancel-reader")
        self.assertEqual((r.returncode, r.stdout), (0, b"joined\n"), r.stderr.decode())

    def test_a_program_that_cancels_itself_is_cancelled_at_its_next_read(self):
        r = self.run_probe("cancel-self")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertNotIn(b"read returned", r.stdout)

    def test_the_same_without_the_shim(self):
        """The probe's own expectations hold without the shim: the tests
        above test the shim, not the probe."""
        e = th.clean_env()
        r = subprocess.run([self.probe, "cancel-reader"], env=e, stdout=subprocess.PIPE, timeout=20)
        self.assertEqual((r.returncode, r.stdout), (0, b"joined\n"))
        r = subprocess.run([self.probe, "cancel-self"], env=e, stdout=subprocess.PIPE, timeout=20)
        self.assertEqual((r.returncode, r.stdout), (0, b""))


if __name__ == "__main__":
    th.main()
