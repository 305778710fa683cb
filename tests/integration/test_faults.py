"""test_faults.py — the program does not notice the shim under load and at
the edges: 10,000 short-lived connections (every one a span, distinct ids,
no fd left behind but the span file) and high fd numbers (traced like any
other): 70000 where the fd limits allow; a sandbox whose hard limit is
lower and cannot be raised gets the highest fd it allows (said on stderr).
The fd table's own handling of numbers up to 2^20 is unit-tested
(test_fdtable.c). A span file that fills up (a write cut short) loses the
cut line only: the next line written starts a line of its own, also when
the line was cut by another process appending to the same file."""

import json
import os
import sys
import time
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

    def test_a_write_cut_short_loses_only_its_own_line(self):
        # The file size limit cuts the first span's line at 300 bytes (the
        # shim says so on stderr); once the limit is lifted, the second
        # span's line must start a line of its own, not be glued onto the
        # cut one (which made both unreadable).
        cut = 300
        env = th.shim_env("fsize", self.spans)
        p = th.run([th.PY, os.path.join(th.APPS, "fsize_client.py"), str(self.srv.port), str(cut), "1.0"],
                   env=env, tmpdir=self.tmp, name="fsize", timeout=30)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"ok\n", p.describe())
        self.assertIn(b"short write", p.stderr(), p.describe())
        with open(self.spans, "rb") as f:
            lines = f.read().split(b"\n")
        self.assertEqual(lines[-1], b"", "the file ends with a whole line")
        self.assertEqual(len(lines[0]), cut, "the first line is the one cut at the limit")
        self.assertNotIn(b"after-space-came-back", lines[0], "nothing glued onto the cut line")
        later = [json.loads(line) for line in lines[1:-1]]
        paths = [a["value"]["stringValue"] for doc in later for rs in doc["resourceSpans"]
                 for ss in rs["scopeSpans"] for span in ss["spans"] for a in span["attributes"]
                 if a["key"] == "url.full"]
        self.assertEqual(len(paths), 1, later)
        self.assertTrue(paths[0].endswith("/after-space-came-back"), paths)

    def test_a_line_another_process_cut_short_loses_only_its_own_line(self):
        # Another process appending to the same span file was killed in the
        # middle of its write (a fatal signal ends a long write between
        # pages): the file ends in the middle of a line. The next process's
        # line must start a line of its own, not be glued onto the cut one.
        whole = b'{"resourceSpans":[]}\n'
        cut = b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.na'
        with open(self.spans, "wb") as f:
            f.write(whole + cut)
        p = self.client(1)
        self.assertEqual(p.returncode, 0, p.describe())
        deadline = time.monotonic() + th.AFTER_EXIT_TIMEOUT
        while True:  # the span's line, written at the latest as the client exits
            with open(self.spans, "rb") as f:
                lines = f.read().split(b"\n")
            if len(lines) >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(lines[0] + b"\n", whole)
        self.assertEqual(lines[1], cut, "the cut line stays as it was, and alone")
        self.assertEqual(lines[-1], b"", "the file ends with a whole line")
        self.assertEqual(len(lines), 4, lines)
        doc = json.loads(lines[2])
        spans = [span for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]]
        self.assertEqual(len(spans), 1, doc)
        self.assertEqual(p.stderr(), b"", "nothing on stderr")


if __name__ == "__main__":
    th.main()
