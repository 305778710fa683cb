"""test_errno.py — the shim never changes what a program sees in errno.

apps/errno_probe.c (compiled here with cc, plain -O0 and -O2 with
_FORTIFY_SOURCE=2 so that the __read_chk / __recv_chk / __recvfrom_chk doors are
used) makes failing and succeeding calls through every interposed function
and prints the result and errno after each; successful calls are preceded by
errno = 1234 (4321 on a traced HTTP connection) and report whether errno kept
that value. The output under the shim must equal the output without it.

apps/zerocopy_probe.c sends a 12 KiB request head that does not fit: the
first send is short, the rest goes with MSG_ZEROCOPY, then a second head
in a plain send. Under the shim the rest of the first head is bytes of its
own (the head with the trace header lines): sent zero-copy from the
shim's buffer, the kernel would still read them after the shim reused
that memory for the second head, and the peer would get the second head's
bytes inside the first; sent without the flag, the program would wait in
vain for the notes of those calls. What the probe's server end got, and
the notes of the zerocopy calls, must be the same under the shim.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402


# What the probe must report without the shim (Linux, glibc 2.36): guards
# against a probe that silently tests nothing.
EXPECTED = {
    "write(-1)": "EBADF",
    "read(-1)": "EBADF",
    "readv(-1)": "EBADF",
    "writev(-1)": "EBADF",
    "recvmsg(-1)": "EBADF",
    "sendmsg(-1)": "EBADF",
    "recvfrom(-1)": "EBADF",
    "sendto(-1)": "EBADF",
    "recv(closed fd)": "EBADF",
    "close(-1)": "EBADF",
    "dup2(-5,100)": "EBADF",
    "fcntl(-1,F_DUPFD)": "EBADF",
    "accept(not listening)": "EINVAL",
    "connect(closed port)": "ECONNREFUSED",
    "connect(non-blocking)": "EINPROGRESS",
    "send(unconnected tcp)": "EPIPE",
    "read(empty socketpair)": "EAGAIN",
    "read(client, no data)": "EAGAIN",
    "recv(client, no data)": "EAGAIN",
    "recv(server, MSG_DONTWAIT)": "EAGAIN",
    "send(after SHUT_WR)": "EPIPE",
    "writev(after SHUT_WR)": "EPIPE",
    "sendmsg(after SHUT_WR)": "EPIPE",
    "sendto(after SHUT_WR)": "EPIPE",
    "recv(http, idle, MSG_DONTWAIT)": "EAGAIN",
    "writev(client, IOV_MAX+1 pieces)": "EINVAL",
    "write(client, NULL buffer)": "EFAULT",
    "send(client, NULL buffer)": "EFAULT",
    "connect(address at 8)": "EFAULT",
    "writev(client, NULL piece)": "EFAULT",
    "writev(client, NULL array)": "EFAULT",
    "sendmsg(client, NULL msg_iov)": "EFAULT",
    "sendmsg(client, message at 8)": "EFAULT",
    "sendmmsg(client, vector at 8)": "EFAULT",
    "recvmsg(client, message at 8)": "EFAULT",
    "recvmmsg(client, vector at 8)": "EFAULT",
    "write(server, NULL buffer)": "EFAULT",
    "send(server, NULL buffer)": "EFAULT",
    "writev(server, NULL array)": "EFAULT",
    "writev(server, NULL piece)": "EFAULT",
    "sendmsg(server, NULL msg_iov)": "EFAULT",
    "execve(environment at 8)": "EFAULT",
    "execve(environment entry at 8)": "EFAULT",
    "execveat(environment at 8)": "EFAULT",
    "execveat(closed dirfd)": "EBADF",
    "execve(NULL path)": "EFAULT",
    "execve(path at 8)": "EFAULT",
    "execveat(NULL path)": "EFAULT",
    "execveat(path at 8)": "EFAULT",
    "execveat(NULL path, AT_EMPTY_PATH)": "EFAULT",
    "fexecve(NULL environment)": "EINVAL",
}

# Lines that must read so without the shim: the probe's setup did what the
# case needs (a file took the number of the socket closed behind the shim's
# back).
EXPECTED_LINES = ("open(after fclose): number reused=yes",
                  "open(after raw close): number reused=yes",
                  # the body's MSG_ZEROCOPY send is the socket's first, the
                  # two requests' its second, a head's blank line its
                  # third: one note each
                  "zerocopy notes: sends 0..0",
                  "zerocopy notes: sends 1..1",
                  "zerocopy notes: sends 2..2")

TRACED_REQUESTS = ["GET /errno/send-recv", "GET /errno/write-read", "GET /errno/writev-readv",
                   "GET /errno/sendmsg-recvmsg", "GET /errno/sendto-recvfrom", "POST /errno/post",
                   "POST /errno/zerocopy", "GET /errno/after-zerocopy-body",
                   # two heads in one MSG_ZEROCOPY send: both traced
                   "GET /errno/zerocopy-a", "GET /errno/zerocopy-b",
                   "GET /errno/zerocopy-piece"]


def parse(out):
    """{call name: 'ret=... errno=...'} from the probe's output."""
    res = {}
    for line in out.decode("utf-8", "replace").splitlines():
        name, sep, rest = line.rpartition(": ")
        if sep:
            res[name] = rest
    return res


class ErrnoTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.bindir = cls.make_class_tmp("tsit-errno-")
        variants = (("O0", ["-O0"]), ("O2-fortify", ["-O2", "-D_FORTIFY_SOURCE=2"]))
        cls.binaries = {variant: th.compile_app("errno_probe.c",
                                                os.path.join(cls.bindir, "errno_probe-" + variant),
                                                *flags)
                        for variant, flags in variants}
        cls.zerocopy_exe = th.compile_app("zerocopy_probe.c",
                                          os.path.join(cls.bindir, "zerocopy_probe"), "-O2")

    def setUp(self):
        self.tmp = self.make_tmp()

    def probe(self, exe, env, name):
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        argv = [exe, th.closed_port(), srv.port, len(th.RecordingServer.DEFAULT_RESPONSE)]
        p = th.run(argv, env=env, tmpdir=self.tmp, name=name, timeout=30)
        self.assertEqual(p.returncode, 0, "%s failed\n%s" % (name, p.describe()))
        self.assertTrue(p.stdout().endswith(b"done\n"), "%s did not finish\n%s"
                        % (name, p.describe()))
        received = b"".join(bytes(c.data) for c in srv.wait_closed(1))
        return p, received

    def check_variant(self, variant):
        exe = self.binaries[variant]
        base, base_rx = self.probe(exe, th.clean_env(), "untraced-" + variant)
        base_res = parse(base.stdout())
        wrong = {k: (base_res.get(k), v) for k, v in EXPECTED.items()
                 if "errno=%s" % v not in (base_res.get(k) or "")}
        self.assertEqual(wrong, {}, "the probe itself misbehaves without the shim "
                         "(got, expected):\n%s" % base.stdout().decode())
        for line in EXPECTED_LINES:
            self.assertIn(line, base.stdout().decode().splitlines(), "the probe's own setup")

        spans_file = os.path.join(self.tmp, "spans-%s.jsonl" % variant)
        traced, traced_rx = self.probe(exe, th.shim_env("errno-probe", spans_file),
                                       "traced-" + variant)
        out, want = traced.stdout(), base.stdout()
        if out != want:
            tres = parse(out)
            diffs = ["  %-40s untraced: %-28s traced: %s" % (k, base_res.get(k), tres.get(k))
                     for k in list(base_res) + [k for k in tres if k not in base_res]
                     if base_res.get(k) != tres.get(k)]
            self.fail("output under the shim differs from the output without it (%s):\n%s"
                      % (variant, "\n".join(diffs)))
        self.assertEqual(traced.stderr(), base.stderr(), "stderr differs under the shim")
        self.assertNotIn(b"CHANGED", out)
        self.assertNotIn(b"UNEXPECTED", out)

        # the traced HTTP requests were traced indeed (else the test proved little)
        spans = th.wait_spans(spans_file, len(TRACED_REQUESTS), timeout=th.AFTER_EXIT_TIMEOUT)
        # (a span for the head whose send failed with EPIPE may or may not exist)
        names = sorted(s["name"] for s in spans if s["kind"] == th.KIND_CLIENT
                       and s["name"] not in ("GET /after-shutdown", "GET /misuse/fclose",
                                             "GET /misuse/mmsg"))
        self.assertEqual(names, sorted(TRACED_REQUESTS),
                         "client spans of the probe's HTTP requests:\n%s" % th.format_spans(spans))
        self.assertEqual(traced_rx.count(b"\r\nX-B3-TraceId: "), len(TRACED_REQUESTS),
                         "every traced request carries injected headers: %r" % traced_rx)
        by_name = {s["name"]: s for s in spans}
        # the request whose socket fclose closed ends unanswered: the file
        # that took its number was not read as its response
        # (the probe has exited: its spans are all in the file)
        spans = th.read_spans(spans_file)
        fclosed = th.only([s for s in spans if s["name"] == "GET /misuse/fclose"],
                          "span of the request before fclose", spans)
        self.assertNotIn("http.response.status_code", fclosed["attrs"], th.format_spans(spans))
        # answered, every one: a receive that took no byte of the stream
        # (no room, MSG_OOB, the error queue) did not end it
        for name in TRACED_REQUESTS:
            self.assertEqual(by_name[name]["attrs"].get("http.response.status_code"), 200,
                             "%s\n%s" % (name, th.format_spans(spans)))
            self.assertNotIn("error.type", by_name[name]["attrs"],
                             "%s\n%s" % (name, th.format_spans(spans)))

    def test_owed_head_rest_sent_zero_copy(self):
        spans_file = os.path.join(self.tmp, "spans-zerocopy.jsonl")
        runs = {}
        for what, env in (("untraced", th.clean_env()),
                          ("traced", th.shim_env("zerocopy", spans_file))):
            p = th.run([self.zerocopy_exe], env=env, tmpdir=self.tmp, name="zerocopy-" + what,
                       timeout=30)
            self.assertEqual(p.returncode, 0, "%s\n%s" % (what, p.describe()))
            self.assertEqual(p.stderr(), b"", p.describe())
            runs[what] = p.stdout().decode()
        self.assertEqual(runs["untraced"].splitlines(),
                         ["first send: short", "first head: sent",
                          "first head's padding: 12000 bytes, 'A' all, 'B' 0",
                          "second head: whole", "zerocopy notes: one for each call", "done"],
                         "the probe itself")
        self.assertEqual(runs["traced"], runs["untraced"])
        # traced indeed: the first head's span (no answer comes: it ends
        # when the probe closes the connection)
        spans = th.wait_spans(spans_file, 1, timeout=th.AFTER_EXIT_TIMEOUT)
        self.assertIn("GET /first", [s["name"] for s in spans], th.format_spans(spans))

    def test_errno_O0(self):
        self.check_variant("O0")

    def test_errno_O2_fortify(self):
        self.check_variant("O2-fortify")


if __name__ == "__main__":
    th.main()
