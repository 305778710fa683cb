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
        return callgrind_total(out)

    def test_the_shim_adds_little_to_a_process_start(self):
        true = th.require_tool("true")
        spans = os.path.join(self.tmp, "spans.jsonl")
        untraced = self.instructions([true], th.clean_env(), "untraced")
        traced = self.instructions([true], th.shim_env("startup", spans), "traced")
        added = traced - untraced
        # The traced run is a traced one: the library was there to count.
        self.assertGreater(added, 20_000, "the shim added nothing: was it preloaded?")
        self.assertLess(added, STARTUP_BUDGET,
                        "the shim adds %d instructions to /bin/true's start (%d untraced)" % (added, untraced))
        self.assertFalse(os.path.exists(spans), "a process that made no request wrote spans")


if __name__ == "__main__":
    th.main()
