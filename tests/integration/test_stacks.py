"""test_stacks.py — TRACESHIM_STACKS: the program's call stack on its spans.

apps/stack_client.c (compiled here with cc -O0 -g, without -rdynamic, so
its function names exist only in its .symtab) makes one HTTP request from a
function named fetch_inventory. Under TRACESHIM_STACKS=client its CLIENT
span carries code.stacktrace (one frame per line, the shim's own frames
left out: frame #0 is fetch_inventory, the caller of send) and
code.function = fetch_inventory; off (the default) and slow:10s add neither;
slow:1ms against a server that answers after 50 ms adds both. With all, a
traced python server's SERVER span gets the stack where it read the request.
"""

import os
import re
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

FRAME = re.compile(r"^#(\d+) (\S+) \((.+)\)$")  # "#0 fetch_inventory+0x9a (/path/prog)"
MORE = re.compile(r"^\(\d+ more frames?\)$")


class StacksTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.bindir = cls.make_class_tmp("tsit-stacks-")
        cls.exe = th.compile_app("stack_client.c", os.path.join(cls.bindir, "stack_client"),
                                 "-O0", "-g")

    def setUp(self):
        self.tmp = self.make_tmp()

    def client_span(self, stacks, delay=0.0):
        """Run the client under TRACESHIM_STACKS=stacks (None: unset) against
        a server answering after `delay` seconds; returns its CLIENT span."""
        def answer(_req):
            time.sleep(delay)
            return th.RecordingServer.DEFAULT_RESPONSE
        srv = th.RecordingServer(mode="http", response=answer)
        self.addCleanup(srv.close)
        spans_file = os.path.join(self.tmp, "spans-%s.jsonl" % re.sub(r"\W", "_", str(stacks)))
        env = th.shim_env("stack-client", spans_file, TRACESHIM_STACKS=stacks)
        p = th.run([self.exe, srv.port, "/inventory"], env=env, tmpdir=self.tmp,
                   name="stack_client", timeout=30)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout(), b"HTTP/1.1 200 OK\n", p.describe())
        self.assertEqual(p.stderr(), b"", "the shim said something:\n" + p.describe())
        spans = th.wait_spans(spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT, procs=[p])
        return th.only((s for s in spans if s["kind"] == th.KIND_CLIENT), "client span", spans)

    def frames(self, span):
        """The parsed lines of a span's code.stacktrace: [(n, where, module)]."""
        text = span["attrs"].get("code.stacktrace")
        self.assertIsInstance(text, str, "no code.stacktrace:\n%s" % th.format_spans([span]))
        out = []
        lines = text.split("\n")
        if len(lines) > 1 and MORE.match(lines[-1]):  # frames that did not fit the record
            lines.pop()
        for i, line in enumerate(lines):
            m = FRAME.match(line)
            self.assertIsNotNone(m, "frame line %d is not '#N where (module)': %r\n%s"
                                 % (i, line, text))
            self.assertEqual(int(m.group(1)), i, text)
            out.append((i, m.group(2), m.group(3)))
        return self.without_sanitizer_runtime(out)

    def without_sanitizer_runtime(self, frames):
        """The frames below a sanitizer runtime's interceptor: under
        TSTEST_PRELOAD_FIRST the runtime comes first in LD_PRELOAD, so the
        program calls its send, which calls the shim's."""
        if not th.PRELOAD_FIRST:
            return frames
        runtime = os.path.realpath(th.PRELOAD_FIRST)
        while frames and os.path.realpath(frames[0][2]) == runtime:
            frames = frames[1:]
        return [(i, w, m) for i, (_, w, m) in enumerate(frames)]

    def assert_function(self, span, name):
        """code.function is the first frame's (the runtime's interceptor
        under TSTEST_PRELOAD_FIRST, whose name is not checked then)."""
        if th.PRELOAD_FIRST:
            self.assertIn("code.function", span["attrs"])
        else:
            self.assertEqual(span["attrs"].get("code.function"), name)

    def test_client_stack_names_the_caller(self):
        span = self.client_span("client")
        frames = self.frames(span)
        text = span["attrs"]["code.stacktrace"]
        where = [w for _, w, _ in frames]
        self.assertTrue(where[0].startswith("fetch_inventory+0x"),
                        "frame #0 must be the program's caller of send:\n%s" % text)
        self.assertEqual(frames[0][2], os.path.realpath(self.exe), text)
        self.assertTrue(any(w.startswith("main+0x") for w in where[1:]), text)
        self.assertLess(where.index(next(w for w in where if w.startswith("main+0x"))), 4, text)
        self.assert_function(span, "fetch_inventory")
        self.assertLessEqual(len(frames), 32)
        # the shim's frames are gone (its hooks above, its wrapper of main below)
        self.assertNotIn("libtraceshim", text)
        self.assertNotIn("libunwind", text)

    def test_off_by_default(self):
        for stacks in (None, "off"):
            with self.subTest(stacks=stacks):
                span = self.client_span(stacks)
                self.assertNotIn("code.stacktrace", span["attrs"])
                self.assertNotIn("code.function", span["attrs"])

    def test_slow(self):
        span = self.client_span("slow:10s")
        self.assertNotIn("code.stacktrace", span["attrs"], th.format_spans([span]))
        self.assertNotIn("code.function", span["attrs"])

        span = self.client_span("slow:1ms", delay=0.05)
        self.assertGreaterEqual(span["end"] - span["start"], 50 * 1000 * 1000)
        frames = self.frames(span)
        self.assertTrue(frames[0][1].startswith("fetch_inventory+0x"),
                        span["attrs"]["code.stacktrace"])
        self.assert_function(span, "fetch_inventory")

    def test_server_spans_with_all_only(self):
        for stacks, want in (("client", False), ("all", True)):
            with self.subTest(stacks=stacks):
                spans_file = os.path.join(self.tmp, "spans-server-%s.jsonl" % stacks)
                env = th.shim_env("stack-server", spans_file, TRACESHIM_STACKS=stacks)
                srv, port = th.start_app_server(self, "stack-server", spans_file, self.tmp,
                                                name="server-" + stacks, env=env)
                status, _ = th.http_get(port, "/ok")
                self.assertEqual(status, 200)
                spans = th.wait_spans(spans_file, 1, procs=[srv])
                span = th.only((s for s in spans if s["kind"] == th.KIND_SERVER),
                               "server span", spans)
                if not want:
                    self.assertNotIn("code.stacktrace", span["attrs"], th.format_spans(spans))
                    continue
                frames = self.frames(span)
                # the stack where python read the request head
                self.assertTrue(any("python" in module for _, _, module in frames),
                                span["attrs"]["code.stacktrace"])
                self.assertNotIn("libtraceshim", span["attrs"]["code.stacktrace"])
                srv.stop()

    def test_server_root_span_keeps_stack_and_sampler_tags(self):
        """A server root span under a Jaeger sampler with its stack, a
        query, a user agent and an error has attribute slots enough for
        all: the sampler tags come first (reporter/sampler_tags.h), the
        stack after them."""
        spans_file = os.path.join(self.tmp, "spans-root.jsonl")
        env = th.shim_env("stack-server", spans_file, TRACESHIM_STACKS="all",
                          JAEGER_SAMPLER_TYPE="const")
        srv, port = th.start_app_server(self, "stack-server", spans_file, self.tmp,
                                        name="server-root", env=env)
        status, _ = th.http_get(port, "/fail?q=1&r=2", [("User-Agent", "curl/7.88.1")])
        self.assertEqual(status, 500)
        spans = th.wait_spans(spans_file, 1, procs=[srv])
        srv.stop()
        span = th.only((s for s in spans if s["kind"] == th.KIND_SERVER), "server span", spans)
        attrs = span["attrs"]
        self.assertEqual((attrs.get("sampler.type"), attrs.get("sampler.param")), ("const", "1"),
                         th.format_spans(spans))
        for key in ("code.stacktrace", "error.type", "url.query", "user_agent.original"):
            self.assertIn(key, attrs, th.format_spans(spans))


if __name__ == "__main__":
    th.main()
