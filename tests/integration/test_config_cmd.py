"""test_config_cmd.py — `traceshim config`, and configuration that cannot
hurt: every variable the library reads, given garbage, leaves a traced
program's output and exit status as they were and costs exactly one line
on stderr naming that variable.

The list of variables is the one `traceshim config` prints: the variables
the library's own parsers asked for, so a variable added later is covered
without touching this file.
"""

import json
import os
import re
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tshelp as th  # noqa: E402

CONFIG = os.environ.get("TRACESHIM_CONFIG") or os.path.join(th.BUILD, "traceshim-config")
GARBAGE = "\x01garbage;=,%zz\x7f("  # the "(" makes it no regular expression either
# Variables for which any string is a valid value (names, paths, lists
# that accept any token): garbage cannot be rejected there.
FREE_TEXT = {"OTEL_SERVICE_NAME", "JAEGER_SERVICE_NAME", "TRACESHIM_FILE",
             # any text is a pattern; one matching nothing means "not traced",
             # silently (test_system_mode.py checks it)
             "TRACESHIM_PROGRAMS"}
# Variables read only beside another's valid value: given with it.
# Every exporter at once: an exporter's settings are read only when it is in use.
EVERY_EXPORTER = "file,otlp,zipkin,jaeger"
READ_WITH = {"TRACESTATE": {"TRACEPARENT": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
             "TRACESHIM_HMAC_KEYS": {"TRACESHIM_TRUST_INBOUND": "hmac"}}


class ConfigCommandTest(th.TempDirMixin, unittest.TestCase):
    def setUp(self):
        th.require_lib()
        th.require_launcher()
        if not os.path.exists(CONFIG):
            self.fail("%s is missing: build the project first" % CONFIG)
        self.tmp = self.make_tmp()

    def config(self, **extra):
        env = th.launcher_env(TRACESHIM_CONFIG=CONFIG, **extra)
        return th.run(["bash", th.LAUNCHER, "config"], env=env, tmpdir=self.tmp, name="config")

    def variables(self):
        """Every variable the library reads, with every exporter in use (an
        exporter's settings are read only then)."""
        p = self.config(TRACESHIM_EXPORTER=EVERY_EXPORTER)
        self.assertEqual(p.returncode, 0, p.describe())
        out = p.stdout().decode()
        section = out.split("variables read", 1)[1]
        names = re.findall(r"^  ([A-Z][A-Z0-9_]+) ", section, re.M)
        self.assertGreater(len(names), 25, out)
        return names

    def test_defaults_and_sources(self):
        p = self.config(OTEL_SERVICE_NAME="web", OTEL_TRACES_EXPORTER="otlp,file")
        self.assertEqual(p.returncode, 0, p.describe())
        out = p.stdout().decode()
        self.assertRegex(out, r"(?m)^  service\.name +web$")
        self.assertRegex(out, r"(?m)^  exporters +file,otlp$")
        self.assertRegex(out, r"(?m)^  propagators +b3multi,tracecontext$")
        self.assertRegex(out, r"(?m)^  OTEL_SERVICE_NAME +=  ?web$")
        self.assertRegex(out, r"(?m)^  OTEL_TRACES_EXPORTER +=  ?otlp,file$")
        self.assertRegex(out, r"(?m)^  TRACESHIM_EXPORTER +\(not set: default\)$")
        self.assertRegex(out, r"(?m)^  trust inbound +all$")
        self.assertRegex(out, r"(?m)^  sampler +parentbased_always_on \(the default\)$")
        self.assertEqual(p.stderr(), b"")

    def test_a_rejection_says_what_applies(self):
        """"(REJECTED: default)" was printed where the default is not what
        the library uses: a bad trust mode, or hmac without keys, gives
        none (the default is all); a service.name too long drops that
        entry alone; a bad TRACESHIM_NO_INJECT_TO injects nowhere. The
        effective configuration shows the trust mode and the sampler."""
        cases = [
            (dict(TRACESHIM_TRUST_INBOUND="bogus"), "TRACESHIM_TRUST_INBOUND", "bogus",
             "trust mode none applies: no inbound context is trusted"),
            (dict(TRACESHIM_TRUST_INBOUND="hmac"), "TRACESHIM_TRUST_INBOUND", "hmac",
             "trust mode none applies: no inbound context is trusted"),
            (dict(TRACESHIM_TRUST_INBOUND="hmac", TRACESHIM_HMAC_KEYS=","), "TRACESHIM_HMAC_KEYS",
             r"\(set, 1 bytes: not shown\)",
             "trust mode none applies: no inbound context is trusted"),
            (dict(OTEL_RESOURCE_ATTRIBUTES="team=a,service.name=" + "n" * 300),
             "OTEL_RESOURCE_ATTRIBUTES", "team=a,service.name=n+",
             "its service.name is left out, its other entries apply"),
            (dict(TRACESHIM_NO_INJECT_TO="("), "TRACESHIM_NO_INJECT_TO", r"\(",
             "trace headers go nowhere"),
        ]
        for env, name, shown, applies in cases:
            with self.subTest(name=name, env=env):
                p = self.config(**env)
                self.assertEqual(p.returncode, 1, p.describe())
                out = p.stdout().decode()
                self.assertRegex(out, r"(?m)^  %s += %s +\(REJECTED: %s\)$"
                                 % (name, shown, re.escape(applies)))
                if name.startswith("TRACESHIM_TRUST") or name == "TRACESHIM_HMAC_KEYS":
                    self.assertRegex(out, r"(?m)^  trust inbound +none$")
                if name == "OTEL_RESOURCE_ATTRIBUTES":
                    self.assertRegex(out, r"(?m)^  service\.name +\(the program's name\)$")
        # both TLS files set: the library reads the traces-specific one
        # alone (and refuses it); the general one does not apply
        p = self.config(TRACESHIM_EXPORTER="otlp", OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE="/a.pem",
                        OTEL_EXPORTER_OTLP_CERTIFICATE="/b.pem")
        self.assertNotIn("OTEL_EXPORTER_OTLP_CERTIFICATE applies", p.stdout().decode(),
                         p.describe())
        p = self.config(TRACESHIM_TRUST_INBOUND="hmac", TRACESHIM_HMAC_KEYS="k1")
        self.assertRegex(p.stdout().decode(), r"(?m)^  trust inbound +hmac$")
        for env, sampler in (
                (dict(OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.25"),
                 "parentbased_traceidratio 0.25"),
                (dict(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="2"),
                 "traceidratio (OTEL_TRACES_SAMPLER_ARG refused: its default)"),
                (dict(OTEL_TRACES_SAMPLER="bogus"), "parentbased_always_on (the default)"),
                (dict(JAEGER_SAMPLER_TYPE="probabilistic", JAEGER_SAMPLER_PARAM="0.1"),
                 "jaeger probabilistic 0.1 (parent-based)"),
                # a sampler that reads no argument: none shown (the library
                # reads none)
                (dict(OTEL_TRACES_SAMPLER="always_off", OTEL_TRACES_SAMPLER_ARG="0.5"),
                 "always_off")):
            with self.subTest(sampler=env):
                p = self.config(**env)
                self.assertRegex(p.stdout().decode(), r"(?m)^  sampler +%s$" % re.escape(sampler))

    def test_rejected_value_is_marked(self):
        p = self.config(OTEL_PROPAGATORS="b3,bogus")
        self.assertEqual(p.returncode, 1, p.describe())
        out = p.stdout().decode()
        self.assertRegex(out, r"(?m)^  OTEL_PROPAGATORS +=  ?b3,bogus +\(REJECTED: default\)$")
        self.assertRegex(out, r"(?m)^  propagators +b3multi,tracecontext$")
        err = p.stderr().decode().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("OTEL_PROPAGATORS", err[0])

    def test_the_shims_own_commands_are_never_traced(self):
        """From a traced shell, `traceshim config` and a nested `traceshim
        run` (which runs traceshim-check first) make no spans of their own:
        the launcher runs them with LD_PRELOAD empty, but the traced shell's
        exec hook put the library back, and it went on in them (and said
        its warnings about the variables once more in config)."""
        spans = os.path.join(self.tmp, "spans.jsonl")
        inner = os.path.join(self.tmp, "inner.jsonl")
        check = os.path.join(th.BUILD, "traceshim-check")
        script = ("bash %s config >%s/config.out 2>%s/config.err; "
                  "bash %s run -o %s -- true; echo done" % (th.LAUNCHER, self.tmp, self.tmp,
                                                           th.LAUNCHER, inner))
        env = th.launcher_env(TRACESHIM_CONFIG=CONFIG, TRACESHIM_CHECK=check)
        p = th.run(["bash", th.LAUNCHER, "run", "-o", spans, "--", "bash", "-c", script],
                   env=env, tmpdir=self.tmp, name="traced-shell")
        self.assertEqual((p.returncode, p.stdout()), (0, b"done\n"), p.describe())
        names = [s["name"] for s in th.wait_spans(spans, 1, timeout=th.AFTER_EXIT_TIMEOUT)]
        names += [s["name"] for s in th.wait_spans(inner, 1, timeout=th.AFTER_EXIT_TIMEOUT)]
        self.assertIn("true", names)
        self.assertFalse([n for n in names if n.startswith("traceshim-")], names)
        with open(os.path.join(self.tmp, "config.err"), "rb") as f:
            self.assertEqual(f.read(), b"")

    def test_a_refused_traces_variable_says_the_general_one_applies(self):
        """A refused OTEL_EXPORTER_OTLP_TRACES_* value gives way to the
        general variable; the row says so rather than "default"."""
        p = self.config(TRACESHIM_EXPORTER="otlp", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc",
                        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="0")
        self.assertEqual(p.returncode, 1, p.describe())
        out = p.stdout().decode()
        self.assertRegex(out, r"(?m)^  otlp +http://localhost:4318/v1/traces \(http/json, 10000 ms\)$")
        self.assertRegex(out, r"(?m)^  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL += grpc +"
                              r"\(REJECTED: OTEL_EXPORTER_OTLP_PROTOCOL applies\)$")
        # no general value: the default
        self.assertRegex(out, r"(?m)^  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT += 0 +\(REJECTED: default\)$")

    def test_valid_trust_modes_are_no_rejection(self):
        for mode, extra in (("all", {}), ("none", {}), ("hmac", {"TRACESHIM_HMAC_KEYS": "k1,k2"})):
            with self.subTest(mode=mode):
                p = self.config(TRACESHIM_TRUST_INBOUND=mode, **extra)
                self.assertEqual(p.returncode, 0, p.describe())
                self.assertNotIn(b"rejected", p.stdout(), p.describe())
        p = self.config(TRACESHIM_TRUST_INBOUND="bogus")
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  TRACESHIM_TRUST_INBOUND +=  ?bogus +\(REJECTED")
        self.assertRegex(p.stdout().decode(), r"(?m)^1 value\(s\) rejected")

    def test_secrets_are_not_shown(self):
        """The HMAC keys never; of the exporters' headers (API keys), the
        names only; not on stdout, and not in the library's message about
        a header list it rejects."""
        secrets = (b"s3cr3t-key-A", b"old-key-B", b"SECRET-1", b"SECRET-2", b"SECRET-3")
        p = self.config(TRACESHIM_TRUST_INBOUND="hmac", TRACESHIM_HMAC_KEYS="s3cr3t-key-A,old-key-B",
                        OTEL_EXPORTER_OTLP_HEADERS="api-key=SECRET-1,x-team=SECRET-2",
                        TRACESHIM_EXPORTER="otlp")
        self.assertEqual(p.returncode, 0, p.describe())
        for secret in secrets:
            self.assertNotIn(secret, p.stdout() + p.stderr(), p.describe())
        out = p.stdout().decode()
        self.assertRegex(out, r"(?m)^  TRACESHIM_HMAC_KEYS +=  ?\(set, 22 bytes: not shown\)$")
        self.assertRegex(out, r"(?m)^  OTEL_EXPORTER_OTLP_HEADERS +=  ?api-key=\(not shown\),x-team=\(not shown\)$")
        # A malformed list: rejected, and its message shows no value either.
        p = self.config(OTEL_EXPORTER_OTLP_TRACES_HEADERS="authorization=Bearer%20SECRET-3,bad",
                        TRACESHIM_EXPORTER="otlp")
        self.assertEqual(p.returncode, 1, p.describe())
        for secret in secrets:
            self.assertNotIn(secret, p.stdout() + p.stderr(), p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  OTEL_EXPORTER_OTLP_TRACES_HEADERS +=  ?authorization="
                                              r"\(not shown\),bad +\(REJECTED: default\)$")
        self.assertIn(b"invalid OTEL_EXPORTER_OTLP_TRACES_HEADERS: expected", p.stderr(), p.describe())

    def test_endpoint_credentials_are_not_shown(self):
        """An endpoint's query values (a collector's token) and a user and
        password in it are hidden wherever the URL is shown: the
        variable's row, the effective endpoint, the library's message
        when the URL is rejected."""
        p = self.config(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318/otlp?api-key=SECRET-4&team=SECRET-5",
                        OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://bob:SECRET-6@zipkin:9411/api/v2/spans",
                        TRACESHIM_EXPORTER="otlp,zipkin")
        self.assertEqual(p.returncode, 1, p.describe())  # a URL with a user is refused
        for secret in (b"SECRET-4", b"SECRET-5", b"SECRET-6"):
            self.assertNotIn(secret, p.stdout() + p.stderr(), p.describe())
        out = p.stdout().decode()
        self.assertRegex(out, r"(?m)^  otlp +http://collector:4318/otlp/v1/traces\?"
                              r"api-key=\(not shown\)&team=\(not shown\) \(http/protobuf, 10000 ms\)$")
        self.assertRegex(out, r"(?m)^  OTEL_EXPORTER_OTLP_ENDPOINT += http://collector:4318/otlp\?"
                              r"api-key=\(not shown\)&team=\(not shown\)$")
        self.assertRegex(out, r"(?m)^  OTEL_EXPORTER_ZIPKIN_ENDPOINT += http://\(not shown\)@zipkin:9411"
                              r"/api/v2/spans +\(REJECTED: the zipkin exporter is off\)$")
        self.assertIn(b'invalid OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://(not shown)@zipkin:9411/api/v2/spans": '
                      b"expected a URL without user information", p.stderr(), p.describe())

    def test_a_refused_endpoint_sends_nothing_to_the_default(self):
        """OTEL_EXPORTER_OTLP_ENDPOINT=https://... is refused (the exporter
        speaks http:// alone), and the spans went to the default endpoint,
        localhost:4318, which any local user may listen on, with
        OTEL_EXPORTER_OTLP_HEADERS (a bearer token) in clear text. The otlp
        exporter is off now, and the refusal's line says so; the same for
        Zipkin's endpoint. Run in a network namespace of its own, where the
        default ports are this test's (apps/default_ports.py)."""
        unshare = th.require_tool("unshare")
        curl = th.require_tool("curl")
        spans = os.path.join(self.tmp, "spans.jsonl")
        env = th.shim_env("refused", spans, TRACESHIM_EXPORTER="otlp,zipkin,file",
                          OTEL_EXPORTER_OTLP_ENDPOINT="https://collector.example.com:4318",
                          OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20s3cret-token",
                          OTEL_EXPORTER_ZIPKIN_ENDPOINT="https://zipkin.example.com/api/v2/spans")
        env_file = os.path.join(self.tmp, "env.json")
        with open(env_file, "w") as f:
            json.dump(env, f)
        p = th.run([unshare, "-rn", th.PY, os.path.join(th.APPS, "default_ports.py"), env_file,
                    curl, "-s", "-o", "/dev/null", "http://127.0.0.1:8080/refused"],
                   env=th.clean_env(), tmpdir=self.tmp, name="default-ports", timeout=40)
        if p.returncode != 0 and b"unshare" in p.stderr():
            self.skipTest("no network namespace of its own here: %s" % p.stderr().decode().strip())
        out = p.stdout().decode()
        self.assertIn("EXIT 0", out, p.describe())
        self.assertNotIn("RECEIVED", out, p.describe())
        # the library ran and traced the request: its span is in the file
        self.assertEqual([s["name"] for s in th.wait_spans(spans, 1)], ["GET /refused"],
                         p.describe())
        err = [line for line in p.stderr().decode().splitlines() if line.startswith("traceshim:")]
        self.assertEqual(len(err), 2, p.describe())
        self.assertTrue(err[0].endswith("; the otlp exporter is off: its spans and headers do not "
                                        "go to the default (http://localhost:4318/v1/traces) "
                                        "instead"), err)
        self.assertTrue(err[1].endswith("; the zipkin exporter is off: its spans do not go to the "
                                        "default (http://localhost:9411/api/v2/spans) instead"),
                        err)
        self.assertNotIn(b"s3cret", p.stdout() + p.stderr())
        # traceshim config says what applies
        p = self.config(**{k: v for k, v in env.items() if k.startswith("OTEL_EXPORTER")},
                        TRACESHIM_EXPORTER="otlp,zipkin")
        self.assertEqual(p.returncode, 1, p.describe())
        out = p.stdout().decode()
        self.assertRegex(out, r"(?m)^  exporters +none$")
        self.assertRegex(out, r"(?m)^  OTEL_EXPORTER_OTLP_ENDPOINT += https://collector\.example"
                              r"\.com:4318 +\(REJECTED: the otlp exporter is off\)$")
        self.assertRegex(out, r"(?m)^  OTEL_EXPORTER_ZIPKIN_ENDPOINT += https://zipkin\.example"
                              r"\.com/api/v2/spans +\(REJECTED: the zipkin exporter is off\)$")
        self.assertNotIn("OTEL_EXPORTER_OTLP_HEADERS", out)  # never read: the exporter is off

    def test_remote_sampler_credentials_are_not_shown(self):
        """The remote sampler's endpoint (in OTEL_TRACES_SAMPLER_ARG) is
        shown as the exporters' are: its user and its query's values
        hidden, in the variable's row and the library's message."""
        p = self.config(OTEL_TRACES_SAMPLER="jaeger_remote",
                        OTEL_TRACES_SAMPLER_ARG="endpoint=http://bob:SECRET-7@agent:5778/sampling"
                                                "?token=SECRET-8,pollingIntervalMs=5")
        self.assertEqual(p.returncode, 1, p.describe())  # a user, and 5 ms: refused
        for secret in (b"SECRET-7", b"SECRET-8"):
            self.assertNotIn(secret, p.stdout() + p.stderr(), p.describe())
        self.assertRegex(p.stdout().decode(),
                         r"(?m)^  OTEL_TRACES_SAMPLER_ARG += endpoint=http://\(not shown\)@agent:5778"
                         r"/sampling\?token=\(not shown\),pollingIntervalMs=5 ")
        self.assertIn(b'invalid OTEL_TRACES_SAMPLER_ARG="endpoint=http://(not shown)@agent:5778/',
                      p.stderr(), p.describe())

    def test_jaeger_agent_host_with_a_port_is_refused(self):
        """JAEGER_AGENT_HOST=host:port was taken as a host name and shown
        as "127.0.0.1:16831:6831", to fail only at the first export; an
        IPv6 agent is shown in brackets before its port."""
        p = self.config(OTEL_TRACES_EXPORTER="jaeger", JAEGER_AGENT_HOST="127.0.0.1:16831")
        self.assertEqual(p.returncode, 1, p.describe())
        out = p.stdout().decode()
        self.assertRegex(out, r"(?m)^  jaeger agent +127\.0\.0\.1:6831 \(UDP\)$")
        self.assertRegex(out, r"(?m)^  JAEGER_AGENT_HOST += 127\.0\.0\.1:16831 +\(REJECTED: default\)$")
        self.assertIn(b"the port goes in JAEGER_AGENT_PORT", p.stderr(), p.describe())
        p = self.config(OTEL_TRACES_EXPORTER="jaeger", JAEGER_AGENT_HOST="[::1]")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  jaeger agent +\[::1\]:6831 \(UDP\)$")

    def test_sub_millisecond_stack_threshold_and_write_errors(self):
        """slow:500us is shown as given (it read slow:0ms); a full disk as
        stdout is an error, exit 1, not a silent success."""
        p = self.config(TRACESHIM_STACKS="slow:500us")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  stacks +slow:500us$")
        p = self.config(TRACESHIM_STACKS="slow:2s")
        self.assertRegex(p.stdout().decode(), r"(?m)^  stacks +slow:2000ms$")
        if os.path.exists("/dev/full"):
            env = th.launcher_env(TRACESHIM_CONFIG=CONFIG)
            with open("/dev/full", "wb") as full:
                r = subprocess.run(["bash", th.LAUNCHER, "config"], env=env, stdout=full,
                                   stderr=subprocess.PIPE, timeout=20)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"cannot write", r.stderr)

    def test_resource_key_warning_is_no_rejection(self):
        """A resource key the shim sets itself is named in a warning; the
        variable is not marked rejected."""
        p = self.config(OTEL_RESOURCE_ATTRIBUTES="process.pid=3,team=a")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(b"the OTEL_RESOURCE_ATTRIBUTES entry process.pid is ignored", p.stdout() + p.stderr())
        self.assertRegex(p.stdout().decode(), r"(?m)^  OTEL_RESOURCE_ATTRIBUTES += process\.pid=3,team=a$")

    def test_inherited_trace_context_is_listed(self):
        tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        p = self.config(TRACEPARENT=tp, TRACESTATE="vendor=1")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  TRACEPARENT +=  ?%s$" % tp)
        self.assertRegex(p.stdout().decode(), r"(?m)^  TRACESTATE +=  ?vendor=1$")
        p = self.config(TRACEPARENT="00-zz")
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  TRACEPARENT +=  ?00-zz +\(REJECTED: default\)$")
        self.assertIn(b"ignoring invalid TRACEPARENT=", p.stderr(), p.describe())
        # never from the system mode's file: the library reads it from the environment alone
        conf = os.path.join(self.tmp, "traceshim.conf")
        with open(conf, "w") as f:
            f.write("TRACEPARENT=garbage\n")
        env = th.launcher_env(TRACESHIM_CONFIG=CONFIG)
        p = th.run(["bash", th.LAUNCHER, "config", "--system", conf], env=env, tmpdir=self.tmp,
                   name="config-system")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  TRACEPARENT +\(not set: default\)$")

    def test_unknown_keys_in_the_system_file_are_said(self):
        """A key of the system file the library does not read is a warning
        on stderr naming it, and the nearest one it reads when that is a
        near miss; the exit status stays what the values decide (0 here).
        TRACESHIM_EXPORTERS=otlp was taken without a word. Every key the
        library reads passes without one (tests/lint/check_docs.py keeps
        the list complete)."""
        conf = os.path.join(self.tmp, "traceshim.conf")
        with open(conf, "w") as f:
            f.write("TRACESHIM_EXPORTERS=otlp\nTRACESHIM_PROGRAM=\nTRACESHIM_PROGRAMS=curl\n"
                    "COMPLETELY_DIFFERENT=1\nTRACEPARENT=garbage\n")
        env = th.launcher_env(TRACESHIM_CONFIG=CONFIG)
        p = th.run(["bash", th.LAUNCHER, "config", "--system", conf], env=env, tmpdir=self.tmp,
                   name="config-system")
        self.assertEqual(p.returncode, 0, p.describe())
        warn = "traceshim config: warning: %s sets " % conf
        self.assertEqual(p.stderr().decode().splitlines(), [
            warn + "TRACESHIM_EXPORTERS, which the library does not read: ignored "
                   "(did you mean TRACESHIM_EXPORTER?)",
            warn + "TRACESHIM_PROGRAM, which the library does not read: ignored "
                   "(did you mean TRACESHIM_PROGRAMS?)",
            warn + "COMPLETELY_DIFFERENT, which the library does not read: ignored",
            warn + "TRACEPARENT, which the library reads from the environment only: ignored"],
            p.describe())
        self.assertRegex(p.stdout().decode(), r"(?m)^  exporters +file$")
        # every variable the library reads, in the file: no warning
        with open(conf, "w") as f:
            for name in self.variables():
                if name not in ("TRACEPARENT", "TRACESTATE", "TRACESHIM_SYSTEM_CONFIG"):
                    f.write("%s=\n" % name)
        p = th.run(["bash", th.LAUNCHER, "config", "--system", conf], env=env, tmpdir=self.tmp,
                   name="config-system")
        self.assertEqual((p.returncode, p.stderr()), (0, b""), p.describe())

    def test_options_after_system_are_options(self):
        """An argument after --system that starts with '-' is an option:
        `config --system --help` said "--help cannot be read" (exit 1).
        Help anywhere: the usage, exit 0; an unknown option: a usage error,
        exit 2; after "--" a FILE named like an option is a FILE."""
        env = th.launcher_env(TRACESHIM_CONFIG=CONFIG)

        def config(*args):
            return th.run(["bash", th.LAUNCHER, "config", *args], env=env, tmpdir=self.tmp,
                          name="config-args")

        for args in (["--system", "--help"], ["--system", "-h"], ["--help", "--system"],
                     ["--system", os.path.join(self.tmp, "missing"), "--help"]):
            p = config(*args)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertTrue(p.stdout().startswith(b"usage: traceshim config [--system [FILE]]"),
                            p.describe())
            self.assertEqual(p.stderr(), b"", p.describe())
        for args in (["--system", "--bogus"], ["--bogus"]):
            p = config(*args)
            self.assertEqual(p.returncode, 2, p.describe())
            self.assertEqual(p.stdout(), b"", p.describe())
            self.assertIn(b"traceshim config: unknown option '--bogus'\nusage:", p.stderr(),
                          p.describe())
        conf = os.path.join(self.tmp, "-dash.conf")
        with open(conf, "w") as f:
            f.write("TRACESHIM_PROGRAMS=curl\n")
        p = th.run(["bash", th.LAUNCHER, "config", "--system", "--", "-dash.conf"], env=env,
                   tmpdir=self.tmp, name="config-dash", cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(b"configuration file -dash.conf", p.stdout())
        self.assertRegex(p.stdout().decode(), r"(?m)^  programs traced +curl$")

    def test_every_variable_given_garbage(self):
        """Table-driven: one traced run per variable."""
        problems = []
        for name in self.variables():
            if name in FREE_TEXT:
                continue
            spans = os.path.join(self.tmp, "spans-%s.jsonl" % name)
            exporters = {} if name in ("TRACESHIM_EXPORTER", "OTEL_TRACES_EXPORTER") else {
                "TRACESHIM_EXPORTER": EVERY_EXPORTER}
            env = th.shim_env("garbage", spans, **READ_WITH.get(name, {}), **exporters,
                              **{name: GARBAGE})
            p = th.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 4"], env=env,
                       tmpdir=self.tmp, name="garbage-" + name)
            err = p.stderr().decode("utf-8", "replace").splitlines()
            if p.returncode != 4 or p.stdout() != b"out\n":
                problems.append("%s: exit %s, stdout %r" % (name, p.returncode, p.stdout()))
            ours = [line for line in err if line.startswith("traceshim:")]
            if len(ours) != 1 or name not in ours[0] or "err" not in err:
                problems.append("%s: stderr %r" % (name, err))
        self.assertEqual(problems, [], "\n".join(problems))


if __name__ == "__main__":
    th.main()
