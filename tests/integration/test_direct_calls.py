"""test_direct_calls.py — the hooks make a program's reads and writes as
bare system calls only while no thread of the program can be cancelled
and nothing else needs to see the calls (preload/direct.h,
hooks/thread_hooks.c).

apps/direct_probe.c reads a pipe single-threaded, after creating a thread
(pthread_create, thrd_create), with a reader thread that main cancels, and
after cancelling itself. Whether a read went through glibc's read is
counted by callgrind (calls into libc's read). apps/read_counter.c,
preloaded after the shim, stands for another interposer (a kernel-bypass
stack, a socket wrapper): every read must still reach it.

That a bare call returns and sets errno exactly as glibc's does is
test_errno.py's: its probe is single-threaded, so under the shim it runs
on the bare calls, and its output must equal the output without the shim.
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


def libc_read_calls(callgrind_out):
    """Calls into libc's read recorded in a callgrind output file (its names
    compressed: "(id) name" the first time, "(id)" after)."""
    tables = {"ob": {}, "fn": {}, "fl": {}}  # objects, functions and files: ids of their own
    ob = cob = cfn = None
    total = 0
    for line in open(callgrind_out, errors="replace"):
        m = re.match(r"(c?ob|c?fn|c?fl|c?fi|fe)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            kind, ident, name = m.groups()
            table = tables["ob" if kind.endswith("ob") else "fn" if kind.endswith("fn") else "fl"]
            if name is not None:
                table[ident] = name
            if kind == "ob":
                ob, cob = table[ident], None
            elif kind == "cob":
                cob = table[ident]
            elif kind == "cfn":
                cfn = table[ident]
            elif kind == "fn":
                cob = cfn = None
            continue
        m = re.match(r"calls=(\d+) ", line)
        if m and cfn in ("read", "__libc_read", "__read"):
            if "libc.so" in os.path.basename(cob or ob or ""):
                total += int(m.group(1))
            cob = cfn = None
    return total


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

    def env(self, **extra):
        return th.shim_env("direct-probe", os.path.join(self.tmp, "spans.jsonl"), **extra)

    def glibc_reads(self, *args, **env):
        """The probe's run under callgrind: how many calls reached libc's read."""
        if th.PRELOAD_FIRST:
            self.skipTest("valgrind cannot run a process with a sanitizer runtime preloaded")
        valgrind = th.require_tool("valgrind")
        out = os.path.join(self.tmp, "callgrind.out")
        r = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=" + out, self.probe, *args],
                           env=self.env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
        return libc_read_calls(out)

    def test_a_single_threaded_program_reads_straight_from_the_kernel(self):
        self.assertLess(self.glibc_reads("plain", str(READS)), 10)
        # The count is a real one: through glibc, every read is seen.
        self.assertGreaterEqual(self.glibc_reads("plain", str(READS), TRACESHIM_DIRECT_CALLS=0), READS)

    def test_after_the_program_creates_a_thread_reads_go_through_glibc(self):
        self.assertGreaterEqual(self.glibc_reads("thread", str(READS)), READS)

    def test_after_a_c11_thread_reads_go_through_glibc(self):
        self.assertGreaterEqual(self.glibc_reads("c11-thread", str(READS)), READS)

    def test_an_interposer_after_the_shim_sees_every_read(self):
        e = self.env()
        e["LD_PRELOAD"] = e["LD_PRELOAD"] + " " + self.counter
        r = subprocess.run([self.probe, "plain", str(READS)], env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        m = re.search(rb"^read_counter (\d+)$", r.stderr, re.M)
        self.assertIsNotNone(m, "no count from read_counter.so: %r" % r.stderr)
        self.assertGreaterEqual(int(m.group(1)), READS)

    def test_a_reader_thread_blocked_in_read_can_be_cancelled(self):
        # Blocked in a read made without glibc's bracket, a thread would
        # not be cancelled (glibc's signal restarts the call) and the join
        # would hang.
        r = subprocess.run([self.probe, "cancel-reader"], env=self.env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual((r.returncode, r.stdout), (0, b"joined\n"), r.stderr.decode())

    def test_a_program_that_cancels_itself_is_cancelled_at_its_next_read(self):
        r = subprocess.run([self.probe, "cancel-self"], env=self.env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
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
