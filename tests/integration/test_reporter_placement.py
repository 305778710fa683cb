"""test_reporter_placement.py — the reporter thread keeps off the processor
of the program's thread that feeds it (reporter/placement.h).

apps/placement_probe.c exchanges GETs between two of its threads, both
pinned to one processor after the first fifty, and reports the reporter
thread's Cpus_allowed_list after the exchanges and once idle. Under the
shim the first must become the process's own without the pinned
processor, the second the process's again, and every exchange must still
be exported. While spans back up (a quarter of the queue waits: the
collector slowed down), the reporter may run anywhere again, though one
processor still feeds it. A process given one processor keeps it for the
reporter too, and under a seccomp filter the reporter's set is left as it
was.
"""

import os
import sys
import shutil
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402
import backends as bk  # noqa: E402


def cpu_list(text):
    """A Cpus_allowed_list ("0-3,6") as a set of numbers ("none": empty)."""
    cpus = set()
    if text == "none":
        return cpus
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


class SlowWhileMarked(bk.Collector):
    """An OTLP collector that takes 0.1 s over each answer while the file
    marker exists: the reporter's queue then backs up."""

    def __init__(self, marker):
        self.marker = marker
        super().__init__()

    def _respond(self, req):
        if os.path.exists(self.marker):
            time.sleep(0.1)
        return super()._respond(req)


class ReporterPlacement(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.tmp = tempfile.mkdtemp(prefix="placement-")
        cls.probe = th.compile_app("placement_probe.c",
                                   os.path.join(cls.tmp, "placement_probe"), "-O2", "-pthread")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_probe(self, name, argv_before=(), max_ms=3000, argv_after=()):
        """The probe's figures: pinned processor, the process's, the
        reporter's after the exchanges and once idle (sets), exchanges, and
        the spans file."""
        spans = os.path.join(self.tmp, name + ".jsonl")
        # a queue no lag of the reporter's on a busy machine fills: every
        # exchange's spans are counted below
        r = th.run([*argv_before, self.probe, str(max_ms), *argv_after],
                   env=th.shim_env("placement", spans, OTEL_BSP_MAX_QUEUE_SIZE="262144"),
                   timeout=30, tmpdir=self.tmp, name=name)
        self.assertEqual(r.returncode, 0, r.describe())
        words = r.stdout().decode().split()
        self.assertEqual(words[0::2][:5], ["pinned", "process", "reporter", "idle", "exchanges"],
                         r.describe())
        self.assertNotEqual(words[5], "none", "no thread named traceshim-rep")
        self.assertEqual(len(th.read_spans(spans)), 2 * int(words[9]),
                         "every exchange's client and server span")
        return (int(words[1]), cpu_list(words[3]), cpu_list(words[5]), cpu_list(words[7]))

    def need_two(self):
        if len(os.sched_getaffinity(0)) < 2:
            self.skipTest("one processor: nothing to leave out")

    def test_the_reporter_leaves_the_feeding_processor_until_idle(self):
        self.need_two()
        pinned, process, reporter, idle = self.run_probe("two")
        self.assertEqual(reporter, process - {pinned},
                         "the reporter's processors after the exchanges (process's %s, pinned to %d)"
                         % (sorted(process), pinned))
        self.assertEqual(idle, process, "the reporter's processors once idle")

    def test_anywhere_again_while_a_backlog_waits(self):
        self.need_two()
        marker = os.path.join(self.tmp, "slow")
        collector = SlowWhileMarked(marker)
        self.addCleanup(collector.close)
        # a quarter of the queue (512 of 2048), the backlog that releases
        # the reporter, waits after a slow answer or two
        env = th.shim_env("placement", os.path.join(self.tmp, "backlog.jsonl"),
                          TRACESHIM_EXPORTER="otlp",
                          OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % collector.port)
        r = th.run([self.probe, "5000", "backlog", marker], env=env, timeout=60, tmpdir=self.tmp,
                   name="backlog")
        self.assertEqual(r.returncode, 0, r.describe())
        words = r.stdout().decode().split()
        self.assertEqual(words[0::2], ["pinned", "process", "reporter", "idle", "exchanges",
                                       "backlog"], r.describe())
        pinned, process, reporter = int(words[1]), cpu_list(words[3]), cpu_list(words[5])
        self.assertEqual(reporter, process - {pinned}, "left out before the backlog")
        self.assertEqual(cpu_list(words[11]), process,
                         "the reporter's processors while the backlog waits (pinned to %d)" % pinned)
        self.assertFalse(os.path.exists(marker))

    def test_a_single_processor_is_kept(self):
        cpu = min(os.sched_getaffinity(0))
        got = self.run_probe("one", argv_before=(th.require_tool("taskset"), "-c", str(cpu)),
                             max_ms=300)
        self.assertEqual(got, (cpu, {cpu}, {cpu}, {cpu}))

    def test_nothing_under_a_seccomp_filter(self):
        self.need_two()
        pinned, process, reporter, idle = self.run_probe("filtered", max_ms=300,
                                                         argv_after=("filtered",))
        self.assertEqual((reporter, idle), (process, process),
                         "the reporter's processors under a filter (pinned to %d)" % pinned)


if __name__ == "__main__":
    th.main()
