"""test_rules.py — TRACESHIM_INJECT_TO / _NO_INJECT_TO, TRACESHIM_ROUTES and
TRACESHIM_IGNORE with real programs: curl under the shim calls traced
apps/httpapp.py servers.

  injection    the receiving server's /echo-headers shows the X-B3-* and
               traceparent headers, or not, as the rules say (by Host, by
               peer address); a request without headers still has its
               client span, with traceshim.injected=false
  routes       /users/42 -> "GET /users/{id}" on both sides (built-in
               rules), a TRACESHIM_ROUTES rule names the server's spans and
               sets http.route
  ignore       an ignored request gets no span and no headers, the next
               request on the same connection is traced as usual
  garbage      a bad value for each variable: curl's output and exit status
               unchanged, exactly one line on stderr about it
"""

import json
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

TRACE_HEADERS = ("x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "traceparent")


class RulesTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()
        cls.curl_bin = th.require_tool("curl")

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")

    def server(self, service="svc-b", **extra):
        env = th.shim_env(service, self.spans_file, **extra)
        p, port = th.start_app_server(self, service, self.spans_file, self.tmp, env=env)
        self.srv = p
        return p, port

    def curl(self, urls, extra_args=(), **extra):
        env = th.shim_env("curl-client", self.spans_file, **extra)
        argv = [self.curl_bin, "-q", "-sS", "--max-time", "10"] + list(extra_args) + list(urls)
        p = th.run(argv, env=env, tmpdir=self.tmp, name="curl", timeout=20)
        return p

    def curl_ok(self, urls, extra_args=(), **extra):
        p = self.curl(urls, extra_args, **extra)
        if p.returncode != 0:
            self.fail("curl failed (status %s)\n%s" % (p.returncode, p.describe()))
        return p

    def final_spans(self, count, procs):
        """Wait for count spans, stop the server (it flushes), read the file."""
        th.wait_spans(self.spans_file, count, procs=procs)
        self.assertEqual(self.srv.stop(), 0, self.srv.describe())
        return th.read_spans(self.spans_file, strict=True)

    def trace_headers(self, body):
        names = {k.lower() for k, _ in json.loads(body)}
        return sorted(names & set(TRACE_HEADERS))

    # ------------------------------------------------------------ injection

    def test_injection_by_host_and_peer(self):
        """(curl env, curl args, headers expected downstream)"""
        _, port = self.server()
        url = "http://127.0.0.1:%d/echo-headers" % port
        cases = [
            ("default", {}, (), True),
            ("allow by Host", {"TRACESHIM_INJECT_TO": r"^127\.0\.0\.1:%d$" % port}, (), True),
            ("allow elsewhere", {"TRACESHIM_INJECT_TO": r"^elsewhere\.example:"}, (), False),
            ("allow by Host name, default port",
             {"TRACESHIM_INJECT_TO": r"^internal\.example:80$"},
             ("-H", "Host: internal.example"), True),
            ("allow by peer",
             {"TRACESHIM_INJECT_TO": r"^127\.0\.0\.1:%d$" % port},
             ("-H", "Host: internal.example"), True),
            ("deny by Host", {"TRACESHIM_NO_INJECT_TO": r"^127\.0\.0\.1:%d$" % port}, (), False),
            ("deny by peer", {"TRACESHIM_NO_INJECT_TO": r"^127\.0\.0\.1:%d$" % port},
             ("-H", "Host: internal.example"), False),
            ("deny wins", {"TRACESHIM_INJECT_TO": ".",
                           "TRACESHIM_NO_INJECT_TO": r"^internal\.example:"},
             ("-H", "Host: internal.example"), False),
            ("deny other", {"TRACESHIM_NO_INJECT_TO": r"^10\.,^partner\.example:"}, (), True),
            ("deny by Host in another case, fully qualified",
             {"TRACESHIM_NO_INJECT_TO": r"^internal\.example:80$"},
             ("-H", "Host: Internal.EXAMPLE."), False),
        ]
        for what, env, args, want in cases:
            with self.subTest(what):
                before = len(th.read_spans(self.spans_file))
                p = self.curl_ok([url], args, **env)
                got = self.trace_headers(p.stdout())
                self.assertEqual(bool(got), want, "%s: downstream saw %r" % (what, got))
                if want:
                    self.assertEqual(got, sorted(TRACE_HEADERS), what)
                spans = th.wait_spans(self.spans_file, before + 2, procs=(p, self.srv))
                cli = th.only([s for s in spans[before:] if s["kind"] == th.KIND_CLIENT],
                              "curl client span", spans)
                self.assertEqual(cli["name"], "GET /echo-headers")
                if want:
                    self.assertNotIn("traceshim.injected", cli["attrs"], what)
                else:
                    self.assertIs(cli["attrs"].get("traceshim.injected"), False, what)
                self.assertEqual(p.stderr(), b"", what)

    def test_unsampled_client_follows_the_rules(self):
        """An unsampled span is made without a name or attributes (nothing
        of it is exported), but the injection rules still decide what goes
        on the wire: the context, marked not sampled, where allowed; nothing
        where denied."""
        _, port = self.server()
        url = "http://127.0.0.1:%d/echo-headers" % port
        p = self.curl_ok([url], OTEL_TRACES_SAMPLER="always_off")
        sent = {k.lower(): v for k, v in json.loads(p.stdout())}
        self.assertEqual(self.trace_headers(p.stdout()), sorted(TRACE_HEADERS), sent)
        self.assertEqual(sent["x-b3-sampled"], "0", sent)
        self.assertRegex(sent["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$")
        p = self.curl_ok([url], OTEL_TRACES_SAMPLER="always_off",
                         TRACESHIM_NO_INJECT_TO=r"^127\.0\.0\.1:%d$" % port)
        self.assertEqual(self.trace_headers(p.stdout()), [])
        self.assertEqual(p.stderr(), b"")
        # the server followed the first request's decision and recorded
        # only the second, which carried no context: a root
        spans = self.final_spans(1, (p,))
        self.assertEqual([(s["kind"], s["parentSpanId"]) for s in spans],
                         [(th.KIND_SERVER, None)], "\n" + th.format_spans(spans))

    # --------------------------------------------------------------- routes

    def test_default_routes(self):
        _, port = self.server()
        base = "http://127.0.0.1:%d" % port
        self.curl([base + "/users/42", base + "/items/3f2b9c1e-8d4a-4b6f-9e2d-1a2b3c4d5e6f"])
        spans = self.final_spans(4, ())
        dump = "\n" + th.format_spans(spans)
        names = sorted((s["service"], s["kind"], s["name"]) for s in spans)
        self.assertEqual(names, [
            ("curl-client", th.KIND_CLIENT, "GET /items/{uuid}"),
            ("curl-client", th.KIND_CLIENT, "GET /users/{id}"),
            ("svc-b", th.KIND_SERVER, "GET /items/{uuid}"),
            ("svc-b", th.KIND_SERVER, "GET /users/{id}"),
        ], dump)
        for s in spans:
            if s["kind"] == th.KIND_SERVER:
                self.assertEqual("GET " + s["attrs"].get("http.route"), s["name"], dump)
                self.assertTrue(s["attrs"]["url.path"].startswith(("/users/42", "/items/3f2b")),
                                dump)
            else:
                self.assertNotIn("http.route", s["attrs"], dump)

    def test_custom_route(self):
        _, port = self.server(
            TRACESHIM_ROUTES=r"^/users/([^/]+)/orders$=/users/{user}/orders,^/v(\d)/=/v$1/*")
        base = "http://127.0.0.1:%d" % port
        self.curl([base + "/users/bob/orders", base + "/v2/a/b", base + "/users/7/x"])
        spans = self.final_spans(6, ())
        dump = "\n" + th.format_spans(spans)
        srv = sorted(s["name"] for s in spans if s["kind"] == th.KIND_SERVER)
        self.assertEqual(srv, ["GET /users/{id}/x", "GET /users/{user}/orders", "GET /v2/*"],
                         dump)
        routes = sorted(s["attrs"]["http.route"] for s in spans if s["kind"] == th.KIND_SERVER)
        self.assertEqual(routes, ["/users/{id}/x", "/users/{user}/orders", "/v2/*"], dump)
        # curl has no rules of its own: the built-in ones
        cli = sorted(s["name"] for s in spans if s["kind"] == th.KIND_CLIENT)
        self.assertEqual(cli, ["GET /users/bob/orders", "GET /users/{id}/x", "GET /v2/a/b"], dump)

    # --------------------------------------------------------------- ignore

    def test_ignore_both_sides(self):
        """/ok ignored by curl and by the server: no span anywhere; the
        request after it on the same connection is traced end to end."""
        _, port = self.server(TRACESHIM_IGNORE=r"^GET /ok$")
        base = "http://127.0.0.1:%d" % port
        p = self.curl_ok([base + "/ok", base + "/echo-headers", base + "/ok"],
                         TRACESHIM_IGNORE=r"^GET /ok$")
        out = p.stdout()
        self.assertTrue(out.startswith(b"ok") and out.endswith(b"ok"), out)
        self.assertEqual(self.trace_headers(out[2:-2]), sorted(TRACE_HEADERS))
        spans = self.final_spans(2, (p,))
        dump = "\n" + th.format_spans(spans)
        self.assertEqual(len(spans), 2, dump)
        cli = th.only([s for s in spans if s["kind"] == th.KIND_CLIENT], "client span", spans)
        srv = th.only([s for s in spans if s["kind"] == th.KIND_SERVER], "server span", spans)
        self.assertEqual((cli["name"], srv["name"]), ("GET /echo-headers", "GET /echo-headers"),
                         dump)
        self.assertEqual(srv["parentSpanId"], cli["spanId"], dump)
        self.assertEqual(srv["attrs"].get("http.response.status_code"), 200, dump)
        self.assertEqual(cli["attrs"].get("http.response.status_code"), 200, dump)

    def test_ignore_client_only(self):
        """Only curl ignores /echo-headers: no headers go out, and the
        server (no rule) records a root span."""
        _, port = self.server()
        base = "http://127.0.0.1:%d" % port
        p = self.curl_ok([base + "/echo-headers"], TRACESHIM_IGNORE=r"^GET /echo")
        self.assertEqual(self.trace_headers(p.stdout()), [])
        spans = self.final_spans(1, (p,))
        dump = "\n" + th.format_spans(spans)
        s = th.only(spans, "span", spans)
        self.assertEqual((s["service"], s["kind"], s["parentSpanId"]),
                         ("svc-b", th.KIND_SERVER, None), dump)

    # -------------------------------------------------------------- garbage

    def test_garbage_values(self):
        _, port = self.server()
        url = "http://127.0.0.1:%d/ok" % port
        plain = th.run([self.curl_bin, "-q", "-sS", "--max-time", "10", url],
                       env=th.clean_env(), tmpdir=self.tmp, name="curl-plain")
        self.assertEqual((plain.returncode, plain.stdout()), (0, b"ok"), plain.describe())
        cases = [
            ("TRACESHIM_ROUTES", "no-equals-sign", "rule 1: missing '='"),
            ("TRACESHIM_ROUTES", "^/a=/b,(=/c", "rule 2: bad regex"),
            ("TRACESHIM_ROUTES", "^/(a)=/$5", "rule 1: template uses $5"),
            ("TRACESHIM_ROUTES", "^/x$=", "rule 1: empty template after '='"),
            ("TRACESHIM_IGNORE", "[", "rule 1: bad regex"),
            ("TRACESHIM_IGNORE", "^GET,,x", "rule 2: empty rule"),
            ("TRACESHIM_INJECT_TO", "*oops", "rule 1: bad regex"),
            ("TRACESHIM_NO_INJECT_TO", "(\x01\x7f", "rule 1: bad regex"),
        ]
        for var, value, says in cases:
            with self.subTest(var=var, value=value):
                p = self.curl([url], **{var: value})
                self.assertEqual((p.returncode, p.stdout()), (0, b"ok"), p.describe())
                err = p.stderr().decode("utf-8", "replace")
                lines = err.splitlines()
                self.assertEqual(len(lines), 1, err)
                self.assertTrue(lines[0].startswith("traceshim: %s: %s" % (var, says)), err)
                self.assertIn(" expected ", lines[0])

    def test_broken_deny_list_injects_nowhere(self):
        _, port = self.server()
        p = self.curl_ok(["http://127.0.0.1:%d/echo-headers" % port],
                         TRACESHIM_NO_INJECT_TO="(")
        self.assertEqual(self.trace_headers(p.stdout()), [])
        self.assertIn(b"injecting nowhere", p.stderr())


# Bytes of each small client thread's stack that threads_requests holds
# itself below its requests (SmallStackTest).
PROGRAM_HOLDS = 1536


class SmallStackTest(th.TempDirMixin, unittest.TestCase):
    """A rule's match on a thread of the program with a small stack: PCRE2's
    JIT, given no stack of its own, took 32 KiB of the thread's, and every
    thread of 48 KiB or less died at its first request once any rule was
    set (the deny list's snprintf too, at 16 KiB). The program holds 1.5 KiB
    of each 16 KiB stack itself while it sends, as a program's own frames
    would: a send matched against the injection lists left less than 300
    bytes of such a stack before the buffers of a match were sized to what
    they hold (a change that grew one frame by 32 bytes then crashed the
    program); an absolute-form target (a forward proxy's client) is matched
    against TRACESHIM_IGNORE through a copy of "METHOD /path", one frame
    deeper."""

    def test_rules_on_threads_with_16_kib_stacks(self):
        tmp = self.make_tmp()
        exe = th.compile_app("threads_requests.c", os.path.join(tmp, "threads_requests"),
                             "-O2", libs=("-lpthread",))
        rules = (("TRACESHIM_IGNORE", "^GET /health$", None, "origin"),
                 ("TRACESHIM_IGNORE", "^GET /health$", None, "absolute"),
                 ("TRACESHIM_INJECT_TO", "^127\\.0\\.0\\.1:", True, "origin"),
                 ("TRACESHIM_NO_INJECT_TO", "^127\\.0\\.0\\.1:", False, "origin"),
                 ("TRACESHIM_ROUTES", "^/users/[0-9]+/items/[0-9]+$=/users/{user}/items/{item}",
                  True, "origin"))
        # Under the sanitizers (TSTEST_PRELOAD_FIRST) every frame of the
        # library carries redzones, several times its plain size.
        stack_kib = 128 if th.PRELOAD_FIRST else 16
        for var, value, injected, form in rules:
            with self.subTest(var=var, form=form):
                spans_file = os.path.join(tmp, "spans-%s-%s.jsonl" % (var, form))
                env = th.shim_env("small-stacks", spans_file, OTEL_TRACES_SAMPLER="always_on",
                                  **{var: value})
                argv = [exe, stack_kib, 4, 25, "join", PROGRAM_HOLDS]
                if form == "absolute":
                    argv.append("absolute")
                p = th.run(argv, env=env, tmpdir=tmp, name="%s-%s" % (var, form), timeout=30)
                self.assertEqual((p.returncode, p.stdout()), (0, b"done 4 25\n"), p.describe())
                spans = th.read_spans(spans_file, strict=True)
                clients = [s for s in spans if s["kind"] == 3]
                servers = [s for s in spans if s["kind"] == 2]
                self.assertEqual((len(clients), len(servers)), (100, 100), th.format_spans(spans))
                if injected is not None:  # the server's span is the client's child, or not
                    parents = {s["parentSpanId"] for s in servers}
                    linked = parents == {s["spanId"] for s in clients}
                    self.assertEqual(linked, injected, th.format_spans(spans[:4]))
                if var == "TRACESHIM_ROUTES":
                    self.assertEqual({s["name"] for s in servers},
                                     {"GET /users/{user}/items/{item}"}, th.format_spans(spans[:4]))

    def test_more_threads_than_slots(self):
        """Sixteen threads with 16 KiB stacks match at once, more than the
        eight slots a match borrows its JIT stack from: one that found
        none free ran its JIT code on 32 KiB of its own stack, and the
        program died (SIGSEGV, 3 runs in 3; with 8 threads, or 64 KiB
        stacks, it lived). Now it waits for a slot. The rule backtracks
        long over every path, and matches none: the matches overlap."""
        tmp = self.make_tmp()
        exe = th.compile_app("threads_requests.c", os.path.join(tmp, "threads_requests"),
                             "-O2", libs=("-lpthread",))
        stack_kib = 128 if th.PRELOAD_FIRST else 16
        spans_file = os.path.join(tmp, "spans.jsonl")
        env = th.shim_env("small-stacks", spans_file, OTEL_TRACES_SAMPLER="always_on",
                          TRACESHIM_ROUTES=r"^(.|.|.)*\d[a-z]{9}=y")
        p = th.run([exe, stack_kib, 16, 3, "join", PROGRAM_HOLDS], env=env, tmpdir=tmp,
                   name="threads", timeout=60)
        self.assertEqual((p.returncode, p.stdout()), (0, b"done 16 3\n"), p.describe())
        spans = th.read_spans(spans_file, strict=True)
        self.assertEqual(len(spans), 96, th.format_spans(spans[:4]))
        self.assertEqual({s["name"] for s in spans if s["kind"] == th.KIND_SERVER},
                         {"GET /users/{id}/items/{id}"}, th.format_spans(spans[:4]))


class NoMallocTest(th.TempDirMixin, unittest.TestCase):
    """Requests sent from a signal handler are matched against the rules
    like any other (apps/handler_match_probe.c): a match takes nothing from
    the allocator, which the handler may have interrupted. Without JIT
    (executable memory refused, as systemd's MemoryDenyWriteExecute=yes
    does), PCRE2's interpreter took its backtracking frames, 20 KiB at
    least, from malloc at every match: a program that sent requests from a
    SIGALRM handler while its main thread allocated hung on the
    allocator's lock, or aborted with its lists corrupted."""

    RULES = {"TRACESHIM_ROUTES": r"^/users/(\d+)$=/users/{n}",
             "TRACESHIM_IGNORE": r"^GET /health$",
             "TRACESHIM_NO_INJECT_TO": r"^partner\.example:"}

    def test_requests_from_a_handler_take_no_malloc(self):
        tmp = self.make_tmp()
        exe = th.compile_app("handler_match_probe.c", os.path.join(tmp, "handler_match_probe"),
                             "-O2")
        srv = th.RecordingServer(mode="http")
        self.addCleanup(srv.close)
        for jit in ("jit", "nojit"):
            with self.subTest(jit):
                spans_file = os.path.join(tmp, "spans-%s.jsonl" % jit)
                env = th.shim_env("handler-match", spans_file, **self.RULES)
                argv = [exe, srv.port, 20] + ([jit] if jit == "nojit" else [])
                p = th.run(argv, env=env, tmpdir=tmp, name="probe-%s" % jit, timeout=30)
                if p.returncode == 77:
                    self.skipTest("no PR_SET_MDWE (Linux before 6.3)")
                self.assertEqual((p.returncode, p.stdout(), p.stderr()), (0, b"done 20\n", b""),
                                 p.describe())
                spans = th.wait_spans(spans_file, 21, procs=(p,))
                names = sorted(s["name"] for s in spans)
                # the rules matched: /users/I named by its rule, /health ignored
                self.assertEqual(names, ["GET /"] + ["GET /users/{n}"] * 20,
                                 th.format_spans(spans[:4]))


if __name__ == "__main__":
    th.main()
