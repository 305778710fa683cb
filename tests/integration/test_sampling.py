"""test_sampling.py — samplers as a traced server applies them, and what
the next service is told.

An unsampled request is not exported but still carries its context
downstream with the decision (X-B3-Sampled: 0, traceparent flags 00), so
the whole trace agrees. The remote sampler fetches its strategy from a
stand-in Jaeger sampling endpoint (GET /sampling?service=NAME).
"""

import json
import os
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends as bk  # noqa: E402
import tshelp as th  # noqa: E402

def strategy(obj, status=200):
    return bk.http_response(status, json.dumps(obj).encode(),
                            [("Content-Type", "application/json")])


class SamplingTest(th.TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        th.require_lib()

    def setUp(self):
        self.tmp = self.make_tmp()
        self.spans_file = os.path.join(self.tmp, "spans.jsonl")
        self.down = bk.Collector([200])  # the next service: records what it is told
        self.addCleanup(self.down.close)

    def start(self, **env):
        e = th.shim_env("sampling-svc", self.spans_file, **env)
        self.srv, self.port = th.start_app_server(self, "sampling-svc", self.spans_file, self.tmp,
                                                  env=e)

    def call_down(self, headers=()):
        """A request that makes the server call the next service; returns the
        trace headers the next service got."""
        n = len(self.down.requests())
        status, _ = th.http_get(self.port, "/call?to=%d&path=/next" % self.down.port, headers)
        self.assertEqual(status, 200)
        _, hdrs, _ = self.down.wait_requests(n + 1)[n]
        return {k.lower(): v for k, v in hdrs if k.lower() in ("x-b3-sampled", "traceparent",
                                                                 "x-b3-traceid")}

    def finish(self, expect=0):
        """Stop the server and return its exported spans. A response reaches
        us a moment before its span is queued, so wait for the expected
        spans first (or a moment, for spans that must not appear)."""
        if expect:
            th.wait_spans(self.spans_file, expect, procs=(self.srv,))
        else:
            time.sleep(0.3)
        self.assertEqual(self.srv.stop(), 0, self.srv.describe())
        self.assertNotIn("traceshim", self.srv.stderr().decode(), self.srv.describe())
        return th.read_spans(self.spans_file, strict=True)

    def test_ratio_zero_exports_nothing_and_says_so_downstream(self):
        self.start(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0")
        h = self.call_down()
        self.assertEqual(h["x-b3-sampled"], "0")
        self.assertTrue(h["traceparent"].endswith("-00"), h)
        self.assertEqual(h["traceparent"][3:35], h["x-b3-traceid"])
        self.assertEqual(self.finish(), [])

    def test_parent_based_follows_the_caller(self):
        self.start(OTEL_TRACES_SAMPLER="parentbased_always_off")
        root = self.call_down()
        self.assertEqual(root["x-b3-sampled"], "0")
        tid = "4bf92f3577b34da6a3ce929d0e0e4736"
        child = self.call_down([("traceparent", "00-%s-00f067aa0ba902b7-01" % tid)])
        self.assertEqual(child["x-b3-sampled"], "1")
        self.assertEqual(child["x-b3-traceid"], tid)
        spans = self.finish(expect=2)
        self.assertEqual({s["traceId"] for s in spans}, {tid}, th.format_spans(spans))
        self.assertEqual(len(spans), 2, th.format_spans(spans))  # server and its client call

    def test_not_parent_based_ignores_the_caller(self):
        self.start(OTEL_TRACES_SAMPLER="always_off")
        h = self.call_down([("X-B3-TraceId", "463ac35c9f6413ad48485a3953bb6124"),
                            ("X-B3-SpanId", "a2fb4a1d1a96d312"), ("X-B3-Sampled", "1")])
        self.assertEqual(h["x-b3-sampled"], "0")
        self.assertEqual(self.finish(), [])

    def test_jaeger_const_zero(self):
        self.start(JAEGER_SAMPLER_TYPE="const", JAEGER_SAMPLER_PARAM="0")
        self.assertEqual(self.call_down()["x-b3-sampled"], "0")
        self.assertEqual(self.finish(), [])

    def remote(self, answer, status=200):
        agent = bk.Collector([strategy(answer, status)])
        self.addCleanup(agent.close)
        self.start(OTEL_TRACES_SAMPLER="parentbased_jaeger_remote",
                   OTEL_TRACES_SAMPLER_ARG="endpoint=http://127.0.0.1:%d/sampling,"
                   "pollingIntervalMs=60000,initialSamplingRate=1" % agent.port)
        # Before the strategy arrives the initial rate (1) applies: this
        # first request is sampled, and it starts the reporter thread, which
        # fetches the strategy.
        self.assertEqual(th.http_get(self.port, "/fail")[0], 500)
        line, headers, _ = agent.wait_requests(1)[0]
        self.assertEqual(line, "GET /sampling?service=sampling-svc HTTP/1.1")
        time.sleep(0.3)  # the answer is applied right after it is read
        for _ in range(5):
            th.http_get(self.port, "/ok")
            th.http_get(self.port, "/missing")
        return [s["name"] for s in self.finish(expect=self.expect)]

    def test_remote_probabilistic_zero_stops_sampling(self):
        self.expect = 1
        names = self.remote({"strategyType": "PROBABILISTIC",
                             "probabilisticSampling": {"samplingRate": 0.0}})
        self.assertEqual(names, ["GET /fail"])

    def test_remote_strategy_in_any_2xx_answer(self):
        """A strategy comes in any 2xx answer (a proxy in front of the
        agent may say 203), not only in a 200."""
        self.expect = 1
        names = self.remote({"strategyType": "PROBABILISTIC",
                             "probabilisticSampling": {"samplingRate": 0.0}}, status=203)
        self.assertEqual(names, ["GET /fail"])

    def test_remote_per_operation_samples_only_that_operation(self):
        self.expect = 6
        names = self.remote({
            "strategyType": "PROBABILISTIC",
            "probabilisticSampling": {"samplingRate": 0.0},
            "operationSampling": {
                "defaultSamplingProbability": 0.0,
                "defaultLowerBoundTracesPerSecond": 0.0,
                "perOperationStrategies": [
                    {"operation": "GET /ok", "probabilisticSampling": {"samplingRate": 1.0}}]}})
        self.assertEqual(sorted(names), ["GET /fail"] + ["GET /ok"] * 5)

    def test_remote_root_spans_carry_jaeger_sampler_tags(self):
        """Jaeger's adaptive sampling reads sampler.type and sampler.param
        from root spans (model.Span.GetSamplerParams): each sampled root
        says which sampler let it through with what parameter, as Jaeger's
        clients do; a span whose parent decided says nothing, even where
        the sampler (not parent-based) decided it again."""
        agent = bk.Collector([strategy({"operationSampling": {
            "defaultSamplingProbability": 0.0,
            "defaultLowerBoundTracesPerSecond": 100.0,
            "perOperationStrategies": [
                {"operation": "GET /ok", "probabilisticSampling": {"samplingRate": 1.0}}]}})])
        self.addCleanup(agent.close)
        self.start(OTEL_TRACES_SAMPLER="jaeger_remote",
                   OTEL_TRACES_SAMPLER_ARG="endpoint=http://127.0.0.1:%d/sampling,"
                   "initialSamplingRate=1" % agent.port)
        self.assertEqual(th.http_get(self.port, "/fail")[0], 500)  # the initial rate
        agent.wait_requests(1)
        time.sleep(0.3)  # the answer is applied right after it is read
        th.http_get(self.port, "/ok")  # its probability
        th.http_get(self.port, "/missing")  # the lower bound
        tid = "4bf92f3577b34da6a3ce929d0e0e4736"
        self.call_down([("traceparent", "00-%s-00f067aa0ba902b7-01" % tid)])
        spans = self.finish(expect=5)
        by_name = {s["name"]: s for s in spans if s["kind"] == th.KIND_SERVER}
        want = {"GET /fail": ("probabilistic", "1"), "GET /ok": ("probabilistic", "1"),
                "GET /missing": ("lowerbound", "0")}
        for name, (kind, param) in want.items():
            attrs = by_name[name]["attrs"]
            self.assertIsNone(by_name[name]["parentSpanId"], name)
            self.assertEqual((attrs.get("sampler.type"), attrs.get("sampler.param")),
                             (kind, param), "%s: %s" % (name, th.format_spans(spans)))
        children = [s for s in spans if s["traceId"] == tid]
        self.assertEqual(len(children), 2, th.format_spans(spans))  # server span and its call
        for s in children:
            self.assertNotIn("sampler.type", s["attrs"], s["name"])
            self.assertNotIn("sampler.param", s["attrs"], s["name"])

    def test_remote_strategy_fetched_with_nothing_exported(self):
        """TRACESHIM_EXPORTER=none makes spans and hands their decisions on:
        the strategy is fetched all the same (nothing was, and every root
        kept the initial rate)."""
        agent = bk.Collector([strategy({"strategyType": "PROBABILISTIC",
                                        "probabilisticSampling": {"samplingRate": 1.0}})])
        self.addCleanup(agent.close)
        self.start(TRACESHIM_EXPORTER="none", OTEL_TRACES_SAMPLER="jaeger_remote",
                   OTEL_TRACES_SAMPLER_ARG="endpoint=http://127.0.0.1:%d/sampling,"
                   "pollingIntervalMs=60000,initialSamplingRate=0" % agent.port)
        self.assertEqual(self.call_down()["x-b3-sampled"], "0")  # the initial rate
        line, _, _ = agent.wait_requests(1)[0]
        self.assertEqual(line, "GET /sampling?service=sampling-svc HTTP/1.1")
        time.sleep(0.3)  # the answer is applied right after it is read
        self.assertEqual(self.call_down()["x-b3-sampled"], "1")
        self.assertEqual(self.finish(), [])

    def test_nothing_exported_waits_for_no_poll_at_exit(self):
        """With nothing exported the exit has nothing to flush: it does not
        wait for the reporter thread, which may be in a poll of an agent
        that does not answer (each traced process's exit waited up to the
        poll's second)."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # takes the connection, never answers
        self.addCleanup(silent.close)
        e = th.shim_env("curl", self.spans_file, TRACESHIM_EXPORTER="none",
                        OTEL_TRACES_SAMPLER="jaeger_remote",
                        OTEL_TRACES_SAMPLER_ARG="endpoint=http://127.0.0.1:%d/sampling"
                        % silent.getsockname()[1])
        curl = th.require_tool("curl")
        took = []
        for _ in range(3):
            t0 = time.monotonic()
            p = th.run([curl, "-s", "-o", "/dev/null", "--noproxy", "*",
                        "http://127.0.0.1:%d/" % self.down.port], env=e, tmpdir=self.tmp,
                       name="curl")
            took.append(time.monotonic() - t0)
            self.assertEqual(p.returncode, 0, p.describe())
        self.assertLess(min(took), 0.5, took)

    def remote_failing(self, endpoint_port):
        """The server with a remote sampler whose every fetch fails, polled
        every 100 ms at the default log level; returns its stderr."""
        self.start(OTEL_TRACES_SAMPLER="parentbased_jaeger_remote", TRACESHIM_EXPORTER="none",
                   OTEL_TRACES_SAMPLER_ARG="endpoint=http://127.0.0.1:%d/sampling,"
                   "pollingIntervalMs=100" % endpoint_port)
        th.http_get(self.port, "/ok")  # starts the reporter thread, which polls
        deadline = time.monotonic() + 5
        while b"remote sampler" not in self.srv.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a few more polls fail
        self.assertEqual(self.srv.stop(), 0, self.srv.describe())
        return self.srv.stderr().decode()

    def test_remote_sampler_unreachable_is_said_once(self):
        """A sampling endpoint nobody listens on leaves the initial rate
        (0.1%) for the process's life: said in one error line, not only at
        warn level; later failures are not repeated."""
        err = self.remote_failing(th.closed_port())
        self.assertEqual(err.count("traceshim: remote sampler:"), 1, err)
        self.assertIn("Connection refused; sampling at the initial rate meanwhile", err)

    def test_remote_sampler_answer_not_a_strategy_is_said_once(self):
        agent = bk.Collector([200])
        self.addCleanup(agent.close)
        err = self.remote_failing(agent.port)
        self.assertGreater(len(agent.requests()), 1)
        self.assertEqual(err.count("traceshim: remote sampler:"), 1, err)
        self.assertIn("the answer is not a sampling strategy", err)

    def test_remote_sampler_token_not_shown(self):
        """A token in the sampling endpoint's query is hidden in the line
        that says the fetch failed, as in the exporters' messages."""
        agent = bk.Collector([500])
        self.addCleanup(agent.close)
        self.start(OTEL_TRACES_SAMPLER="jaeger_remote", TRACESHIM_LOG_LEVEL="warn",
                   OTEL_TRACES_SAMPLER_ARG="endpoint=http://127.0.0.1:%d/sampling?token=SECRET-1,"
                   "initialSamplingRate=1" % agent.port)
        th.http_get(self.port, "/ok")
        agent.wait_requests(1)
        th.wait_spans(self.spans_file, 1, procs=(self.srv,))
        deadline = time.monotonic() + 5
        while b"remote sampler" not in self.srv.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.srv.stop(), 0, self.srv.describe())
        err = self.srv.stderr().decode()
        self.assertIn("remote sampler: http://127.0.0.1:%d/sampling?token=(not shown)&service="
                      "(not shown): " % agent.port, err)
        self.assertNotIn("SECRET", err)


if __name__ == "__main__":
    th.main()
