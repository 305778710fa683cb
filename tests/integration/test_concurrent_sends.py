"""test_concurrent_sends.py — two threads send on one traced connection.

The shim keeps one lock per connection direction while it sends a client's
bytes (the header lines go in at a place it must know). apps/
send_lock_probe.c has a thread blocked in a big write on a traced request's
body (nobody reads) while the main thread
- sends a byte with MSG_DONTWAIT: it must come back at once, with what it
  gets without the shim (the byte sent: Linux keeps some room for a small
  send beside a blocked one), not wait for the other thread's write;
- cancels the blocked writer and two readers blocked waiting for the
  response (read, recvmmsg; pthread_cancel), then sends: a thread cancelled inside a send
  must not leave the lock held (every later send would hang), nor either
  of them its reference to the connection (its span would never end);
- forks: the child's send on the inherited connection must not wait for
  the lock the parent's writer holds (that thread is not in the child).
The probe's output under the shim must equal its output without it, in
bounded time.

The process ends beside such a send, blocked for good: exit from another
thread (the body's write blocked, or the head's and the body's one write,
whose request the blocked call set up), exit from a handler that
interrupted the blocked write on its own thread, and a SIGTERM from outside
while a server's answer is blocked (a service stopped in the middle of a
download its client does not read). The send held the connection's lock,
and the end of the process skipped the connection: the request's span
never ended, neither exported nor counted (spans_started one above
spans_finished, every dropped counter 0), and a client's trace headers had
gone to a peer whose span then named a parent never exported. Each span
must be out, failed (connection_closed, as at the close the kernel makes),
and the stats line must count it.

apps/longjmp_probe.c leaves such a blocked write the old way, by a SIGALRM
handler's siglongjmp, on the only thread (head and body in one write, the
shim's rewritten head under way) or on a second one. Once the left frame
is written over, the thread must go on traced (a new connection's GET
/after makes its client and server spans), the write's request span must
end, the next byte sent must be the program's own, and the lock the write
held must be let go of: a send of another thread while the first still
lives would otherwise wait forever. And a handler that calls a hook inside
the blocked write and returns must leave it be: the write goes on.
"""

import os
import signal
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402


class ConcurrentSendsTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.bindir = cls.make_class_tmp("tsit-sends-")
        cls.exe = th.compile_app("send_lock_probe.c", os.path.join(cls.bindir, "send_lock_probe"),
                                 "-O2", "-g", "-pthread")
        cls.longjmp_exe = th.compile_app("longjmp_probe.c",
                                         os.path.join(cls.bindir, "longjmp_probe"),
                                         "-O2", "-g", "-pthread")

    def setUp(self):
        self.tmp = self.make_tmp()

    def check(self, mode, expected):
        runs = {}
        for what, env in (("untraced", th.clean_env()),
                          ("traced", th.shim_env("sender", os.path.join(self.tmp, "spans.jsonl")))):
            p = th.run([self.exe, mode], env=env, tmpdir=self.tmp, name="%s-%s" % (mode, what),
                       timeout=40)
            self.assertEqual(p.returncode, 0, "%s %s (-14: a send hung)\n%s"
                             % (mode, what, p.describe()))
            self.assertEqual(p.stderr(), b"", p.describe())
            runs[what] = p.stdout().decode()
        for line in expected:
            self.assertIn(line, runs["untraced"].splitlines(), "the probe itself\n" + runs["untraced"])
        self.assertEqual(runs["traced"], runs["untraced"])
        spans = th.wait_spans(os.path.join(self.tmp, "spans.jsonl"), 1,
                              timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertEqual([s["name"] for s in spans if s["kind"] == th.KIND_CLIENT],
                         ["POST /upload"], th.format_spans(spans))

    def test_nonblocking_send_beside_a_blocked_one(self):
        self.check("dontwait", ["send(MSG_DONTWAIT) waited: no", "writer: wrote all", "done"])

    def test_writer_cancelled_inside_a_send(self):
        self.check("cancel", ["writer: cancelled", "reader: cancelled", "recvmmsg reader: cancelled",
                              "send(MSG_DONTWAIT) waited: no",
                              "send(after the cancelled write): ret=1 errno=-", "done"])

    def test_child_sends_while_a_parent_thread_is_blocked_in_a_send(self):
        self.check("fork", ["child's send: ret=1 errno=-", "child: exited 0", "done"])

    def check_end(self, mode, status, expected_spans, codes=None):
        """send_lock_probe MODE ends with `status` (negative: a signal, the
        test's SIGTERM once the probe says the send is blocked), untraced
        and traced alike; traced, expected_spans [(name, kind)] are out,
        each failed with connection_closed (with the response status
        codes[kind], when codes names its kind), and TRACESHIM_STATS
        counts every span started as finished and exported."""
        spans_file = os.path.join(self.tmp, "spans-%s.jsonl" % mode)
        runs = {}
        for what, env in (("untraced", th.clean_env()),
                          ("traced", th.shim_env("sender", spans_file, TRACESHIM_STATS=1))):
            p = th.Proc([self.exe, mode], env=env, tmpdir=self.tmp, name="%s-%s" % (mode, what))
            self.addCleanup(p.stop, 1)
            if status == -signal.SIGTERM:
                p.wait_output(b"responder: blocked\n", timeout=10)
                os.kill(p.pid, signal.SIGTERM)
            p.finish(20, "%s (%s)" % (mode, what))
            self.assertEqual(p.returncode, status, "%s %s\n%s" % (mode, what, p.describe()))
            runs[what] = p
        self.assertEqual(runs["untraced"].stderr(), b"", runs["untraced"].describe())
        self.assertEqual(runs["traced"].stdout(), runs["untraced"].stdout())
        spans = th.wait_spans(spans_file, len(expected_spans), timeout=th.AFTER_EXIT_TIMEOUT,
                              exact=True)
        self.assertEqual(sorted((s["name"], s["kind"]) for s in spans), sorted(expected_spans),
                         th.format_spans(spans))
        for s in spans:
            self.assertEqual(s["attrs"].get("error.type"), "connection_closed",
                             th.format_spans(spans))
            if codes and s["kind"] in codes:
                self.assertEqual(s["attrs"].get("http.response.status_code"), codes[s["kind"]],
                                 th.format_spans(spans))
        stats = th.stats_lines(runs["traced"].stderr())
        self.assertEqual(len(stats), 1, runs["traced"].describe())
        counts = stats[0][1]
        n = len(expected_spans)
        self.assertEqual((counts["spans_started"], counts["spans_finished"], counts["exported"]),
                         (n, n, n), runs["traced"].describe())

    def test_exit_beside_a_blocked_send(self):
        self.check_end("exit", 7, [("POST /upload", th.KIND_CLIENT)])

    def test_exit_beside_a_blocked_send_of_head_and_body(self):
        self.check_end("exit-head", 7, [("POST /upload", th.KIND_CLIENT)])

    def test_exit_from_a_handler_that_interrupted_a_blocked_send(self):
        self.check_end("handler-exit", 7, [("POST /upload", th.KIND_CLIENT)])

    def test_sigterm_while_a_server_answer_is_blocked(self):
        """The server's head and body in the one blocked write: the
        server span has no status (the shim reads a response as it goes
        out, and none of it has yet). Its head in a write of its own
        first: the status stays (README: End of a process)."""
        for mode, server_code in (("serve-term", None), ("serve-term-head", 200)):
            with self.subTest(mode=mode):
                self.check_end(mode, -signal.SIGTERM,
                               [("GET /download", th.KIND_CLIENT),
                                ("GET /download", th.KIND_SERVER)],
                               codes={th.KIND_SERVER: server_code, th.KIND_CLIENT: None})

    def check_longjmp(self, mode, expected):
        spans_file = os.path.join(self.tmp, "spans.jsonl")
        runs = {}
        for what, env in (("untraced", th.clean_env()),
                          ("traced", th.shim_env("sender", spans_file))):
            p = th.run([self.longjmp_exe, mode], env=env, tmpdir=self.tmp,
                       name="longjmp-%s-%s" % (mode, what), timeout=20)
            self.assertEqual(p.returncode, 0, "%s %s\n%s" % (mode, what, p.describe()))
            self.assertEqual(p.stderr(), b"", p.describe())
            runs[what] = p.stdout().decode()
        self.assertEqual(runs["untraced"].splitlines(), expected, "the probe itself")
        self.assertEqual(runs["traced"], runs["untraced"])
        # The probe writes over the left hook's frame after the write (a
        # deep call): from the thread's next call on, it is traced again.
        spans = th.wait_spans(spans_file, 4, timeout=th.AFTER_EXIT_TIMEOUT)
        got = sorted((s["name"], s["kind"]) for s in spans)
        self.assertEqual(got, [("GET /after", th.KIND_SERVER), ("GET /after", th.KIND_CLIENT),
                               ("POST /upload", th.KIND_SERVER), ("POST /upload", th.KIND_CLIENT)],
                         th.format_spans(spans))
        for s in spans:
            if s["name"] == "GET /after":
                self.assertEqual(s["attrs"].get("http.response.status_code"), 200,
                                 th.format_spans(spans))

    def test_send_left_by_siglongjmp(self):
        self.check_longjmp("alone", ["write: left by siglongjmp",
                                     "send(after the abandoned write): ret=1 errno=-",
                                     "server end's last byte: x", "GET /after: 200", "done"])

    def test_send_left_by_siglongjmp_on_another_thread(self):
        self.check_longjmp("threads", ["write: left by siglongjmp",
                                       "writer's send(after the abandoned write): ret=1 errno=-",
                                       "send(after the abandoned write): ret=1 errno=-",
                                       "server end's last byte: x", "GET /after: 200", "done"])

    def test_send_interrupted_by_a_handler_that_returns(self):
        # The control: a handler that calls a hook inside the blocked send
        # (on an alternate stack above it, disarmed while it runs) and
        # returns must not be taken for one that left it.
        self.check_longjmp("handler", ["handler: ran", "write: wrote all",
                                       "send(after the abandoned write): ret=1 errno=-",
                                       "server end's last byte: x", "GET /after: 200", "done"])


if __name__ == "__main__":
    th.main()
