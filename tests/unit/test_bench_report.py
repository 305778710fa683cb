"""bench/report.py's pairing of traced and untraced runs (issue 8): a
traced run is compared with the mean of the untraced runs right before and
after it in its round; lines without a slot (the Node peer's) fall back to
the round's one untraced run."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import report  # noqa: E402


def run(server, mode, rnd, rps, p50, p99, slot):
    return (server, mode, rnd, float(rps), float(p50), float(p99), 0, slot)


class Pairing(unittest.TestCase):
    def test_traced_run_against_its_neighbours(self):
        http = [run("s", "untraced", 1, 100, 10, 50, 0), run("s", "file", 1, 81, 14, 70, 1),
                run("s", "untraced", 1, 80, 12, 60, 2), run("s", "otlp", 1, 40, 30, 90, 3),
                run("s", "untraced", 1, 50, 20, 80, 4)]
        file = report.compare(http, "s", "file")
        self.assertAlmostEqual(file.ratio, 81 / 90)   # untraced 100 before, 80 after
        self.assertAlmostEqual(file.d50, 14 - 11)
        self.assertAlmostEqual(file.d99, 70 - 55)
        otlp = report.compare(http, "s", "otlp")
        self.assertAlmostEqual(otlp.ratio, 40 / 65)   # 80 before, 50 after, not the first run's 100

    def test_medians_over_rounds_and_no_pairing_across_rounds(self):
        http = [run("s", "untraced", 1, 100, 10, 50, 0), run("s", "file", 1, 90, 10, 50, 1),
                run("s", "untraced", 1, 100, 10, 50, 2),
                run("s", "untraced", 2, 50, 10, 50, 0), run("s", "file", 2, 40, 10, 50, 1),
                run("s", "untraced", 2, 50, 10, 50, 2),
                run("s", "untraced", 3, 200, 10, 50, 0), run("s", "file", 3, 170, 10, 50, 1),
                run("s", "untraced", 3, 200, 10, 50, 2)]
        c = report.compare(http, "s", "file")
        self.assertAlmostEqual(c.ratio, 0.85)  # median of 0.9, 0.8, 0.85
        self.assertEqual(c.rounds, [1, 2, 3])
        self.assertEqual(sorted(c.untraced_rps), [50.0, 50.0, 100.0, 100.0, 200.0, 200.0])

    def test_lines_without_slots_use_the_rounds_untraced_run(self):
        http = [run("node", "untraced", 1, 100, 10, 50, None),
                run("node", "traceshim", 1, 90, 12, 55, None)]
        c = report.compare(http, "node", "traceshim")
        self.assertAlmostEqual(c.ratio, 0.9)
        self.assertAlmostEqual(c.d50, 2)

    def test_a_traced_run_without_an_untraced_one_is_not_paired(self):
        http = [run("s", "file", 1, 90, 12, 55, 1), run("s", "untraced", 2, 100, 10, 50, 0)]
        self.assertIsNone(report.compare(http, "s", "file").ratio)

    def test_node_rows_against_the_targets(self):
        http = [run("node", "untraced", 1, 100, 10, 50, None),
                run("node", "traceshim", 1, 86, 12, 55, None),
                run("node", "otel-sdk", 1, 22, 90, 500, None)]
        d = report.SimpleNamespace(http=http, failed={}, skipped={},
                                   stats=[("node", "traceshim", 1, "stats exported=1000 dropped_queue_full=0"),
                                          ("node", "otel-sdk", 1, "otel-sdk spans exported=900 dropped=0")])
        r = report.Report()
        report.node_section(r, d)
        rows = {m: (v, report.verdict(ok)) for m, t, v, ok in r.targets}
        self.assertEqual(rows["Node http server throughput, traceshim, otlp exporter"],
                         ("86.0%", "**missed**"))  # DESIGN.md §7 asks for 90%
        self.assertEqual(rows["Node http server, traceshim against the OpenTelemetry JS SDK"],
                         ("86.0% against 22.0% of untraced", "met"))

    def test_results_lines_with_and_without_a_slot(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench-report-test-%d.tsv" % os.getpid())
        with open(path, "w") as f:
            f.write("http\tnginx\tfile\t2\t61000.5\t495.0\t950.0\t0\t3\n")
            f.write("http\tnode\tuntraced\t1\t56050\t469.0\t5160.0\t0\n")
        try:
            d = report.load(path)
        finally:
            os.unlink(path)
        self.assertEqual(d.http[0], ("nginx", "file", 2, 61000.5, 495.0, 950.0, 0, 3))
        self.assertEqual(d.http[1][7], None)


if __name__ == "__main__":
    unittest.main()
