"""test_disabled.py — TRACESHIM_DISABLED=1, OTEL_SDK_DISABLED=true and
JAEGER_DISABLED=true.

With the library preloaded but disabled nothing changes on the wire, no spans
file appears, and the program's output is byte-identical to a run without the
library at all.
"""

import fnmatch
import json
import os
import re
import sys
import unittest
from unittest import mock

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

SWITCHES = [
    {"TRACESHIM_DISABLED": "1"},
    {"OTEL_SDK_DISABLED": "true"},
    {"JAEGER_DISABLED": "true"},
]


def call(how, *bufs, pause_ms=0):
    return {"how": how, "bufs": [b.hex() for b in bufs], "pause_ms": pause_ms}


class DisabledTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()

    def spec(self, port):
        body = b"a=1&b=2"
        get = b"GET /disabled?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\n\r\n" % port
        post = (b"POST /disabled/post HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                b"Content-Length: %d\r\n\r\n" % (port, len(body)))
        conns = [
            {"port": port, "requests": [{"calls": [call("send", get)], "read": "http"}]},
            {"port": port, "requests": [{"calls": [call("send", post[:20]),
                                                   call("send", post[20:], pause_ms=2),
                                                   call("send", body, pause_ms=2)],
                                         "read": "http"},
                                        {"calls": [call("sendmsg", get[:9], get[9:])],
                                         "read": "http"}]},
        ]
        return conns, [get, post + body + get]

    def run_raw(self, srv, env, label):
        conns, expected = self.spec(srv.port)
        first = len(srv.conns)
        proc, _ = th.run_rawclient(self, {"connections": conns}, env, self.tmp, name=label)
        received = [bytes(c.data) for c in srv.wait_closed(first + len(conns))[first:]]
        for k, (exp, got) in enumerate(zip(expected, received)):
            self.assertEqual(got, exp, "%s, connection %d: the bytes changed on the way: %s"
                             % (label, k, th.diff_bytes(exp, got)))
        return proc.stdout(), proc.stderr()

    def test_raw_client_unchanged(self):
        # one server for every run: the same port, so the same bytes to compare
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        base_out, base_err = self.run_raw(srv, th.clean_env(), "untraced")
        self.assertTrue(base_out, "the raw client printed nothing")
        for sw in SWITCHES:
            with self.subTest(**sw):
                spans_file = os.path.join(self.tmp, "spans-%s.jsonl" % "-".join(sw))
                out, err = self.run_raw(srv, th.shim_env("disabled", spans_file, **sw), repr(sw))
                self.assertEqual(out, base_out, "stdout differs from the run without the library")
                self.assertEqual(err, base_err, "stderr differs from the run without the library")
                self.assertFalse(os.path.exists(spans_file),
                                 "a disabled library must not create the spans file %s" % spans_file)

    def test_curl_and_server_unchanged(self):
        curl = th.require_tool("curl")
        for sw in SWITCHES:
            with self.subTest(**sw):
                spans_file = os.path.join(self.tmp, "spans-srv-%s.jsonl" % "-".join(sw))
                srv, port = th.start_app_server(self, "disabled-srv", spans_file, self.tmp,
                                                env=th.shim_env("disabled-srv", spans_file, **sw))
                url = "http://127.0.0.1:%d/echo-headers" % port
                argv = [curl, "-q", "-sS", "--max-time", "10", url]
                plain = th.run(argv, env=th.clean_env(), tmpdir=self.tmp, name="curl-plain")
                off = th.run(argv, env=th.shim_env("disabled-curl", spans_file, **sw),
                             tmpdir=self.tmp, name="curl-disabled")
                self.assertEqual(plain.returncode, 0, plain.describe())
                self.assertEqual(off.returncode, 0, off.describe())
                headers = json.loads(off.stdout())
                for name in th.TRACE_HEADERS:
                    self.assertEqual(th.header_values(headers, name), [],
                                     "disabled, yet %s was sent: %r" % (name, headers))
                self.assertEqual(off.stdout(), plain.stdout(),
                                 "curl's output differs from the run without the library")
                self.assertEqual(off.stderr(), plain.stderr())
                self.assertEqual(srv.stop(), 0, srv.describe())
                self.assertFalse(os.path.exists(spans_file),
                                 "a disabled library must not create the spans file")

    def test_every_switch_is_tested_and_scrubbed_by_the_scripts(self):
        """Each *_DISABLED variable the library reads is one of SWITCHES,
        and every script that clears the switches from the environment of
        what it traces clears them all: scripts/demo.sh cleared
        TRACESHIM_DISABLED and OTEL_SDK_DISABLED, so an exported
        JAEGER_DISABLED=1 turned the demo's tracing off (it now clears
        every variable of the three families, whose patterns are read
        here); tshelp.clean_env (every helper's environment) drops them
        too."""
        with open(os.path.join(th.SRC, "preload", "config.c")) as f:
            read = set(re.findall(r'"([A-Z_]+_DISABLED)"', f.read()))
        self.assertEqual(read, {k for sw in SWITCHES for k in sw})
        with open(os.path.join(th.SRC, "scripts", "demo.sh")) as f:
            cleared = re.search(r"^ *((?:[A-Z_]+\* \| )*[A-Z_]+\*)\) unset \"\$name\" ;;$",
                                f.read(), re.M)
        self.assertIsNotNone(cleared, "scripts/demo.sh clears no family of variables")
        patterns = cleared.group(1).split(" | ")
        self.assertEqual([k for k in sorted(read)
                          if not any(fnmatch.fnmatchcase(k, pat) for pat in patterns)], [])
        with mock.patch.dict(os.environ, {k: "1" for k in read}):
            self.assertFalse(read & set(th.clean_env()))


if __name__ == "__main__":
    th.main()
