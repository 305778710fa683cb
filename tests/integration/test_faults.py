"""test_faults.py — the program does not notice the shim under load and at
the edges: 10,000 short-lived connections (every one a span, distinct ids,
no fd left behind but the span file) and high fd numbers (traced like any
other): 70000 where the fd limits allow; a sandbox whose hard limit is
lower and cannot be raised gets the highest fd it allows (said on stderr).
The fd table's own handling of numbers up to 2^20 is unit-tested
(test_fdtable.c)."""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

APP = os.path.join(th.APPS, "many_conns.py")


class FaultsTest(th.TempDirMixin, unittest.TestCase):
    def setUp(self):
        th.require_lib()
        self.tmp = self.make_tmp()
        self.spans = os.path.join(self.tmp, "spans.jsonl")
        self.srv = th.RecordingServer(mode="http")
        self.addCleanup(self.srv.close)

    def client(self, n, *extra, timeout=120):
        env = th.shim_env("many", self.spans, OTEL_BSP_MAX_QUEUE_SIZE=20000)
        return th.run([th.PY, APP, str(self.srv.port), str(n), *map(str, extra)], env=env,
                      tmpdir=self.tmp, name="many", timeout=timeout)

    def test_ten_thousand_short_connections(self):
        n = 10000
        p = self.client(n)
        self.assertEqual(p.returncode, 0, p.describe())
        _, ok, _, new = p.stdout().decode().split()
        self.assertEqual(int(ok), n, p.describe())
        # the only fd that may have appeared is the shim's span file
        self.assertIn(new, ("-", self.spans), "no fd left behind: " + p.stdout().decode())
        spans = th.wait_spans(self.spans, n, timeout=th.AFTER_EXIT_TIMEOUT + 5)
        self.assertEqual(len(spans), n, "one span per connection")
        self.assertEqual(len({s["spanId"] for s in spans}), n, "distinct ids")
        self.assertTrue(all(s["attrs"].get("http.response.status_code") == 200 for s in spans))
        self.assertEqual(p.stderr(), b"", "nothing on stderr")

    def test_fd_numbers_above_65535(self):
        # 70000 where the fd limits allow it; a sandbox whose hard limit is
        # lower (and that may not raise it) gets the highest fd it allows,
        # which the test says on stderr
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        fd = 70000
        if hard != resource.RLIM_INFINITY and hard < fd + 16:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, fd + 16))
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            except (ValueError, OSError):
                fd = hard - 16
                sys.stderr.write("\n[fd limit %d: using fd %d instead of 70000]\n" % (hard, fd))
        p = self.client(3, fd)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(p.stdout().startswith(b"ok 3 "), p.describe())
        spans = th.wait_spans(self.spans, 3, timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertEqual(len(spans), 3, th.format_spans(spans))
        conns = self.srv.wait_closed(3)
        for c in conns:
            self.assertIn(b"X-B3-TraceId: ", bytes(c.data), "headers injected on fd 70000")


if __name__ == "__main__":
    th.main()
