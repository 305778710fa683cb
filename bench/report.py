"""report.py — bench/run.sh's results as a table, and BENCHMARKS.md.

    python3 report.py --results FILE --command CMD ... [--write BENCHMARKS.md]

Reads the tab-separated lines run.sh wrote (http, stats, udpsink,
chaincheck, reporter, percall, instr, rss, skip, fail), prints the tables
on stdout and, with --write, writes the report with the machine, the method
and the targets of DESIGN.md §7. Every figure here is one that run.sh
measured in this run; nothing is carried over.
"""

import argparse
import datetime
import platform
import re
import statistics
import subprocess
import sys
from types import SimpleNamespace

KEEPALIVE_SERVERS = ("nginx", "tinyhttpd")
EXPORTER_MODES = ("untraced", "file", "otlp", "zipkin", "jaeger")
NODE_MODES = ("untraced", "traceshim", "otel-sdk")
REPORTER_EXPORTERS = ("file", "otlp", "otlp-json", "zipkin", "jaeger")
HOP_TARGET_US = 20
MADE_ONLY = "none"  # TRACESHIM_EXPORTER=none: every span made, none exported (bench/run.sh)
THROUGHPUT_TARGET = {"nginx": 0.97, "tinyhttpd": 0.90}  # DESIGN.md §7, keep-alive servers
WRK_CONNECTIONS = 32  # bench/run.sh's wrk_connections, also interleave's
NODE_TARGET = 0.90  # DESIGN.md §7: Node http server, traced vs untraced


def median(values):
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    return "—" if value is None else "%.*f" % (digits, value)


def signed(value, digits=1):
    return "—" if value is None else "%+.*f" % (digits, value)


def percent(ratio):
    return "—" if ratio is None else "%.1f%%" % (100 * ratio)


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return "%s cores (`nproc`), %s, Linux %s" % (cores, model, platform.release())


def load(path):
    d = SimpleNamespace(http=[], interleave=[], stats=[], percall=[], instr=[], rss=[], udpsink=[],
                        chaincheck=[], reporter=[], skipped={}, failed={})
    with open(path) as results:
        lines = results.read().splitlines()
    for line in lines:
        f = line.split("\t")
        if f[0] == "http":
            # SERVER MODE ROUND rps p50 p99 errors [SLOT]
            slot = int(f[8]) if len(f) > 8 else None
            d.http.append((f[1], f[2], int(f[3]), float(f[4]), float(f[5]), float(f[6]), int(f[7]),
                           slot))
        elif f[0] == "interleave":
            # WHAT MODE ROUND count req/s p50 p90 p99 p99.9 errors (bench/interleave.c, µs)
            if f[4] == "0":
                continue  # no answer counted: no figures
            d.interleave.append(SimpleNamespace(what=f[1], mode=f[2], round=int(f[3]), count=int(f[4]),
                                                rps=float(f[5]), p50=float(f[6]), p90=float(f[7]),
                                                p99=float(f[8]), p999=float(f[9]), errors=int(f[10])))
        elif f[0] == "stats":
            d.stats.append((f[1], f[2], int(f[3]), f[4]))
        elif f[0] == "udpsink":  # WHAT MODE ROUND counts
            d.udpsink.append((f[1], f[2], int(f[3]), f[4]))
        elif f[0] == "chaincheck":  # MODE ROUND counts
            d.chaincheck.append((f[1], int(f[2]), f[3]))
        elif f[0] == "reporter":
            # exporter round spans wall_s spans/s export_cpu submit_cpu exported dropped threads
            d.reporter.append((f[1], int(f[2]), int(f[3]), float(f[4]), float(f[5]), float(f[6]),
                               float(f[7]), int(f[8]), int(f[9]), int(f[10])))
        elif f[0] == "percall":
            best = float(f[6]) if len(f) > 6 else float(f[4])
            d.percall.append((f[1], f[2], int(f[3]), float(f[4]), float(f[5]), best))
        elif f[0] == "instr":
            d.instr.append((f[1], float(f[2]), float(f[3])))
        elif f[0] == "rss":
            d.rss.append((f[1], f[2], int(f[3])))
        elif f[0] == "skip":
            d.skipped[f[1]] = f[2]
        elif f[0] == "fail":
            d.failed[f[1]] = f[2]
    return d


def stat_value(line, key):
    m = re.search(r"\b%s=(\d+)" % key, line)
    return int(m.group(1)) if m else None


def exported_dropped(lines):
    """Sums the exported and dropped counters of several stats lines: the
    shim's TRACESHIM_STATS line (three kinds of drop) or the OpenTelemetry
    JS SDK's line of the Node peer (dropped, export_failed)."""
    exported = dropped = 0
    for line in lines:
        exported += stat_value(line, "exported") or 0
        if stat_value(line, "dropped_queue_full") is not None:
            for key in ("dropped_queue_full", "dropped_export_failed", "dropped_exit_timeout"):
                dropped += stat_value(line, key) or 0
        else:
            for key in ("dropped", "export_failed"):
                dropped += stat_value(line, key) or 0
    return exported, dropped


def verdict(ok):
    if isinstance(ok, str):  # a reason the figure cannot decide
        return ok
    return "not decided (inside the noise)" if ok is None else ("met" if ok else "**missed**")


def unless_noisy(ok, untraced_values, what):
    """A target met while the untraced runs themselves differ by more than
    25% between rounds (other work on the machine) is no measurement of
    the shim: only a "met" is withheld, since claiming a target needs quiet
    runs, while a miss that large is seen in every round anyway."""
    if ok is True and len(untraced_values) > 1 and min(untraced_values) > 0:
        spread = max(untraced_values) / min(untraced_values) - 1
        if spread > 0.25:
            return "not decided (untraced %s differed by %.0f%% between rounds)" % (what, 100 * spread)
    return ok


def unless_dropped(ok, exported, dropped):
    """A target met while the shim dropped more than 1% of the spans is met
    by doing less than 100% sampling asks: that decides nothing."""
    total = exported + dropped
    if ok is True and total and dropped > 0.01 * total:
        return "not decided (%.1f%% of spans dropped)" % (100.0 * dropped / total)
    return ok


class Report:
    def __init__(self):
        self.lines = []
        self.targets = []  # (measure, target, measured, met)

    def out(self, text=""):
        self.lines.append(text)

    def table(self, header, rows):
        self.out("| " + " | ".join(header) + " |")
        self.out("|" + "---|" * len(header))
        for row in rows:
            self.out("| " + " | ".join(str(c) for c in row) + " |")
        self.out()

    def skipped_or_failed(self, d, section):
        """Says why a section has no figures; True when it has none."""
        if section in d.failed:
            self.out("**Failed** in this run: %s." % d.failed[section])
            self.out()
            return True
        if section in d.skipped:
            self.out("Skipped in this run: %s." % d.skipped[section])
            self.out()
            return True
        return False


def baseline(untraced_runs, run):
    """The untraced figures a traced run is compared with: where the round
    interleaves untraced runs (slots), the mean of the untraced runs right
    before and after it, the runs nearest in time and so in the machine's
    load; otherwise the round's one untraced run. None when there is none."""
    same_round = [u for u in untraced_runs if u[2] == run[2]]
    if run[7] is not None:
        near = [u for u in same_round if u[7] is not None and abs(u[7] - run[7]) == 1]
        if near:
            return tuple(statistics.mean(u[i] for u in near) for i in (3, 4, 5))
    if same_round:
        u = same_round[0]
        return (u[3], u[4], u[5])
    return None


def compare(http, server, mode):
    """One mode of one server against the untraced runs beside it (see
    baseline): medians of the figures over the rounds, and medians of the
    per-run ratio and differences (neighbouring runs share the machine's
    load best, so a ratio is never taken between rounds)."""
    runs = [h for h in http if h[0] == server and h[1] == mode]
    if not runs:
        return None
    untraced_runs = [h for h in http if h[0] == server and h[1] == "untraced"]
    traced = mode != "untraced"
    pairs = [(h, baseline(untraced_runs, h)) for h in runs] if traced else []
    pairs = [(h, b) for h, b in pairs if b is not None]
    return SimpleNamespace(
        rounds=sorted(set(h[2] for h in runs)),
        untraced_rps=[h[3] for h in untraced_runs],
        untraced_p99=[h[5] for h in untraced_runs],
        rps=median([h[3] for h in runs]),
        p50=median([h[4] for h in runs]),
        p99=median([h[5] for h in runs]),
        errors=sum(h[6] for h in runs),
        ratio=median([h[3] / b[0] for h, b in pairs]) if traced else None,
        d50=median([h[4] - b[1] for h, b in pairs]) if traced else None,
        d99=median([h[5] - b[2] for h, b in pairs]) if traced else None)


def agent_received(d, what, mode):
    """Spans the stand-in Jaeger agent received (udpsink's marker count)
    and the datagrams the kernel dropped on its socket, summed over rounds."""
    lines = [u[3] for u in d.udpsink if u[0] == what and u[1] == mode]
    if not lines:
        return None
    return (sum(stat_value(l, "marker") or 0 for l in lines),
            sum(stat_value(l, "kernel_drops") or 0 for l in lines))


def http_section(r, d):
    rows = []
    for server in KEEPALIVE_SERVERS:
        for mode in EXPORTER_MODES:
            c = compare(d.http, server, mode)
            if c is None:
                continue
            spans = "—"
            exported = dropped = 0
            if mode != "untraced":
                exported, dropped = exported_dropped(
                    [s[3] for s in d.stats if s[0] == server and s[1] == mode])
                spans = "%d / %d" % (exported, dropped)
                received = agent_received(d, server, mode)
                if received is not None:
                    spans += "; agent received %d" % received[0]
            rows.append([server, mode, "%.0f" % c.rps, percent(c.ratio), fmt(c.p50), fmt(c.p99),
                         signed(c.d50), signed(c.d99), spans, c.errors])
            if mode != "untraced":
                ok = unless_dropped(unless_noisy(c.ratio >= THROUGHPUT_TARGET[server], c.untraced_rps, "req/s"),
                                    exported, dropped)
                if any(x.what == server + "-interleaved" for x in d.interleave):
                    ok = "for reference: judged with every mode up at once (below)"
                r.targets.append(("%s keep-alive throughput, 100%% sampled, %s exporter (wrk, one server "
                                  "after another)" % (server, mode),
                                  "≥ %d%% of untraced" % round(THROUGHPUT_TARGET[server] * 100), percent(c.ratio),
                                  ok))
                r.targets.append(("%s p99 latency added (one traced hop, 32 in flight: mostly the "
                                  "throughput lost, see Chain), %s exporter" % (server, mode),
                                  "≤ %d µs per hop" % HOP_TARGET_US, "%+.1f µs" % c.d99,
                                  "not the measure of the target: saturated, the Δ restates the "
                                  "throughput lost (Little's law); judged one request at a time "
                                  "(Chain)"))
    r.table(["server", "shim", "req/s (median)", "traced/untraced", "p50 µs", "p99 µs",
             "Δp50 µs", "Δp99 µs", "spans exported / dropped", "wrk errors"], rows)
    rows, floors = [], []
    for server in KEEPALIVE_SERVERS:
        found = interleaved_throughput_section(r, d, server, THROUGHPUT_TARGET[server])
        if found:
            rows += found[0]
            floors.append("%s ±%s" % (server, percent(found[1])))
    if rows:
        r.out("Every mode up at once (`bench/interleave.c`, %d connections, 50 ms on each server in turn; "
              "medians over rounds, ratios and Δ against the untraced server of the same run):"
              % WRK_CONNECTIONS)
        r.out()
        r.table(["server", "shim", "req/s (median)", "traced/untraced", "p50 µs", "p99 µs", "Δp99 µs",
                 "spans exported / dropped", "errors"], rows)
        r.out("untraced-b is a second untraced server: its |1 − ratio| to untraced (median: %s) is what "
              "this method scatters by itself. A throughput target is met when the ratio is above it by "
              "more than that floor, missed when below it by more, and not decided in between."
              % ", ".join(floors))
        if any(MADE_ONLY + " (" in row[1] for row in rows):
            r.out()
            r.out("%s: the shim makes every span — parses both heads, draws the ids, records the "
                  "attributes, propagates — and exports none (`TRACESHIM_EXPORTER=none`). Its loss is "
                  "what the program's own thread pays; an exporter's loss beyond it is the export's: "
                  "the reporter thread, and for otlp, zipkin and jaeger the receiver, on the same two "
                  "cores." % MADE_ONLY)
        r.out()


def node_targets(r, ratios):
    """DESIGN.md §7's Node row: traceshim keeps at least 90% of the untraced
    throughput, and more of it than the OpenTelemetry JS SDK does (issue 8
    asks for the second)."""
    shim = ratios.get("traceshim")
    if shim is None or shim[0].ratio is None:
        return
    c, exported, dropped = shim
    r.targets.append(("Node http server throughput, traceshim, otlp exporter", "≥ %d%% of untraced"
                      % round(NODE_TARGET * 100), percent(c.ratio),
                      unless_dropped(unless_noisy(c.ratio >= NODE_TARGET, c.untraced_rps, "req/s"),
                                     exported, dropped)))
    sdk = ratios.get("otel-sdk")
    if sdk is not None and sdk[0].ratio is not None:
        r.targets.append(("Node http server, traceshim against the OpenTelemetry JS SDK",
                          "a smaller overhead than the SDK's",
                          "%s against %s of untraced" % (percent(c.ratio), percent(sdk[0].ratio)),
                          unless_dropped(c.ratio > sdk[0].ratio, exported, dropped)))


def node_interleaved(r, d):
    """The Node modes up at once (bench/interleave.c): the rows, and the
    targets judged on them with untraced-b's noise floor. None without
    such runs."""
    runs = [x for x in d.interleave if x.what == "node-interleaved"]
    if not any(x.mode == "untraced" for x in runs):
        return None
    floor = interleaved_floor(runs)
    rows, ratios = [], {}
    for mode in ("untraced", "untraced-b", "traceshim", "otel-sdk"):
        f = interleaved_figures(runs, mode)
        if not f:
            continue
        ratio = f.ratio
        spans = "—"
        if mode in ("traceshim", "otel-sdk"):
            lines = [s[3] for s in d.stats if s[0] == "node-interleaved" and s[1] == mode]
            if lines and not all(l == "none" for l in lines):
                ratios[mode] = (ratio,) + exported_dropped(lines)
                spans = "%d / %d" % ratios[mode][1:]
            else:
                ratios[mode] = (ratio, 0, 0)
        rows.append([mode, "%.0f" % f.rps, percent(ratio), fmt(f.p50), fmt(f.p99), spans, f.errors])
    shim, sdk = ratios.get("traceshim"), ratios.get("otel-sdk")
    if shim and shim[0] is not None:
        r.targets.append(("Node http server throughput, traceshim, otlp exporter (every mode up at once; "
                          "noise floor ±%s)" % percent(floor), "≥ %d%% of untraced" % round(NODE_TARGET * 100),
                          percent(shim[0]),
                          unless_dropped(within_floor(shim[0], floor, NODE_TARGET, at_most=False),
                                         shim[1], shim[2])))
        if sdk and sdk[0] is not None:
            # Two ratios, each carrying the floor: apart by more than both.
            ahead = within_floor(shim[0] - sdk[0], 2 * (floor or 0.0), 0.0, at_most=False)
            r.targets.append(("Node http server, traceshim against the OpenTelemetry JS SDK (every mode "
                              "up at once)", "a smaller overhead than the SDK's",
                              "%s against %s of untraced" % (percent(shim[0]), percent(sdk[0])),
                              unless_dropped(ahead, shim[1], shim[2])))
    return rows, floor


def node_section(r, d):
    if r.skipped_or_failed(d, "node"):
        return
    interleaved = node_interleaved(r, d)
    rows = []
    ratios = {}
    for mode in NODE_MODES:
        c = compare(d.http, "node", mode)
        if c is None:
            continue
        spans = "—"
        exported = dropped = 0
        lines = [s[3] for s in d.stats if s[0] == "node" and s[1] == mode]
        if mode != "untraced" and lines and not all(l == "none" for l in lines):
            exported, dropped = exported_dropped(lines)
            spans = "%d / %d" % (exported, dropped)
        rows.append([mode, "%.0f" % c.rps, percent(c.ratio), fmt(c.p50), fmt(c.p99),
                     signed(c.d50), signed(c.d99), spans, c.errors])
        if mode != "untraced":
            ratios[mode] = (c, exported, dropped)
    targets_before = len(r.targets)
    node_targets(r, ratios)
    if interleaved:
        # The wrk rows stay for reference; the interleaved ones decide.
        r.targets[targets_before:] = [
            (m.replace("Node http server", "Node http server (wrk, one server after another)", 1), t, v,
             "for reference: judged with every mode up at once (below)")
            for m, t, v, ok in r.targets[targets_before:]]
    if not rows:
        r.out("No figures: bench/node/run.sh wrote no lines for node.")
        r.out()
    else:
        r.table(["tracer", "req/s (median)", "traced/untraced", "p50 µs", "p99 µs", "Δp50 µs", "Δp99 µs",
                 "spans exported / dropped", "wrk errors"], rows)
    if interleaved:
        r.out("Every mode up at once (`bench/interleave.c`, %d connections, 50 ms on each server in turn; "
              "medians over rounds, ratios against the untraced server of the same run; untraced-b's "
              "|1 − ratio|, median %s, is the noise floor):" % (WRK_CONNECTIONS, percent(interleaved[1])))
        r.out()
        r.table(["tracer", "req/s (median)", "traced/untraced", "p50 µs", "p99 µs",
                 "spans exported / dropped", "errors"], interleaved[0])


def chain_check_text(d, mode):
    """The span counts of the traced chain's span files (file exporter)
    and whether every request formed one trace across both hops. A span
    the shim dropped (queue full, counted by TRACESHIM_STATS) can leave one
    request unlinked; only links missing beyond those drops mean the chain
    is broken."""
    checks = [c[2] for c in d.chaincheck if c[0] == mode]
    if not checks:
        return "—"
    keys = ("proxy_server", "proxy_client", "backend_server", "linked")
    total = {k: sum(stat_value(c, k) or 0 for c in checks) for k in keys}
    proxy_dropped = exported_dropped([s[3] for s in d.stats if s[0] == "chain-proxy" and s[1] == mode])[1]
    backend_dropped = exported_dropped([s[3] for s in d.stats if s[0] == "chain-backend" and s[1] == mode])[1]
    text = "%d linked of %d backend server spans (proxy: %d server, %d client)" % (
        total["linked"], total["backend_server"], total["proxy_server"], total["proxy_client"])
    if total["linked"] > 0 and len(set(total.values())) == 1:
        return "every request: " + text
    # Each dropped proxy span can unlink one backend span, and each dropped
    # span of either process can leave one proxy request without its link.
    unlinked_backend = total["backend_server"] - total["linked"]
    unlinked_proxy = total["proxy_server"] - total["linked"]
    if total["linked"] > 0 and unlinked_backend <= proxy_dropped and \
            unlinked_proxy <= proxy_dropped + backend_dropped:
        return "%s; the rest lost with the spans dropped" % text
    return "**BROKEN**: %s" % text


def chain_section(r, d):
    if "receiver" in d.failed:  # its OTLP runs (and maybe others) exported nothing
        r.out("**Failed** in this run: %s." % d.failed["receiver"])
        r.out()
    if not any(h[0] == "chain" for h in d.http):
        r.out("No figures in this run.")
        r.out()
        return
    rows = []
    for mode in EXPORTER_MODES:
        c = compare(d.http, "chain", mode)
        if c is None:
            continue
        spans = "—"
        hop50 = hop99 = None
        if mode != "untraced":
            proxy = exported_dropped([s[3] for s in d.stats if s[0] == "chain-proxy" and s[1] == mode])
            backend = exported_dropped([s[3] for s in d.stats if s[0] == "chain-backend" and s[1] == mode])
            spans = "%d / %d; %d / %d" % (proxy + backend)
            # Two traced hops between wrk and the answer: see the method.
            hop50, hop99 = c.d50 / 2, c.d99 / 2
        rows.append([mode, "%.0f" % c.rps, percent(c.ratio), fmt(c.p50), fmt(c.p99), signed(c.d50),
                     signed(c.d99), signed(hop50), signed(hop99), spans, chain_check_text(d, mode),
                     c.errors])
    r.table(["shim (both servers)", "req/s (median)", "traced/untraced", "p50 µs", "p99 µs", "Δp50 µs",
             "Δp99 µs", "Δp50 per hop µs", "Δp99 per hop µs",
             "spans exported / dropped: proxy; backend", "one trace per request (span files)",
             "wrk errors"], rows)
    chain_light_section(r, d)


def interleaved_deltas(runs, mode, key, ratio=False):
    """Per round, MODE's figure KEY against the untraced server's in the
    same interleaved run: the difference, or with RATIO the ratio."""
    base = {x.round: getattr(x, key) for x in runs if x.mode == "untraced"}
    return [getattr(x, key) / base[x.round] if ratio else getattr(x, key) - base[x.round]
            for x in runs if x.mode == mode and x.round in base and (not ratio or base[x.round] > 0)]


def within_floor(value, floor, target, at_most):
    """A target judged against a figure that carries a noise floor (the
    untraced A/A pair's difference): met when the figure is on the right
    side of the target by more than the floor, missed when on the wrong
    side by more than it, undecided in between."""
    if value is None:
        return None
    floor = floor or 0.0
    margin = (target - value) if at_most else (value - target)
    if margin >= floor:
        return True
    if margin < -floor:
        return False
    return None


def interleaved_spans(d, what, mode):
    return exported_dropped([s[3] for s in d.stats if s[0] == what and s[1] == mode])


def interleaved_floor(runs):
    """What the interleaved method scatters by itself: untraced-b's median
    |1 - ratio| to untraced."""
    return median([abs(1 - v) for v in interleaved_deltas(runs, "untraced-b", "rps", ratio=True)])


def interleaved_figures(runs, mode):
    """MODE's medians over the rounds of an interleaved run: req/s, the
    ratio and the p99 difference to untraced (None for untraced itself),
    p50, p99, and its errors in all; None when MODE did not run."""
    mine = [x for x in runs if x.mode == mode]
    if not mine:
        return None
    traced = mode != "untraced"
    return SimpleNamespace(
        rps=median([x.rps for x in mine]),
        ratio=median(interleaved_deltas(runs, mode, "rps", ratio=True)) if traced else None,
        d99=median(interleaved_deltas(runs, mode, "p99")) if traced else None,
        p50=median([x.p50 for x in mine]), p99=median([x.p99 for x in mine]),
        errors=sum(x.errors for x in mine))


def interleaved_throughput_section(r, d, server, target):
    """One server per mode up at once, the load on each in turn
    (bench/interleave.c, 32 connections): the throughput target's figure."""
    what = server + "-interleaved"
    if r.skipped_or_failed(d, what) and not d.interleave:
        return
    runs = [x for x in d.interleave if x.what == what]
    if not runs:
        return
    floor = interleaved_floor(runs)
    rows = []
    for mode in ["untraced", "untraced-b"] + [m for m in EXPORTER_MODES if m != "untraced"]:
        f = interleaved_figures(runs, mode)
        if not f:
            continue
        ratio = f.ratio
        spans = "—"
        if mode in EXPORTER_MODES and mode != "untraced":
            exported, dropped = interleaved_spans(d, what, mode)
            spans = "%d / %d" % (exported, dropped)
            received = agent_received(d, what, mode)
            if received is not None:
                spans += "; agent received %d" % received[0]
            r.targets.append(("%s keep-alive throughput, 100%% sampled, %s exporter (every mode up at once; "
                              "noise floor ±%s)" % (server, mode, percent(floor)),
                              "≥ %d%% of untraced" % round(target * 100), percent(ratio),
                              unless_dropped(within_floor(ratio, floor, target, at_most=False),
                                             exported, dropped)))
        rows.append([server, mode, "%.0f" % f.rps, percent(ratio), fmt(f.p50), fmt(f.p99),
                     signed(f.d99), spans, f.errors])
    f = interleaved_figures(runs, MADE_ONLY)
    if f:
        # Spans made, none exported: not a target, the part of every
        # exporter's loss that the program's own thread pays.
        made = sum(stat_value(s[3], "spans_finished") or 0 for s in d.stats
                   if s[0] == what and s[1] == MADE_ONLY)
        rows.append([server, MADE_ONLY + " (spans made, not exported)", "%.0f" % f.rps,
                     percent(f.ratio), fmt(f.p50), fmt(f.p99), signed(f.d99),
                     "%d made / 0 exported" % made, f.errors])
    return rows, floor


def chain_light_section(r, d):
    """The chain one request at a time, every mode up at once and visited
    in turn (bench/interleave.c, one connection): the latency each hop adds
    to a request, the figure the per-hop target is about."""
    if r.skipped_or_failed(d, "chain-light") and not d.interleave:
        return
    runs = [x for x in d.interleave if x.what == "chain-light"]
    if not runs:
        return
    r.out("One request at a time (`bench/interleave.c`, one connection: one chain per mode, all up at "
          "once, 50 ms on each in turn; medians over rounds, Δ against the untraced chain of the same run):")
    r.out()
    floor = median([abs(v) for v in interleaved_deltas(runs, "untraced-b", "p99")])
    floor_hop = None if floor is None else floor / 2
    rows = []
    for mode in ["untraced", "untraced-b"] + [m for m in EXPORTER_MODES if m != "untraced"]:
        mine = [x for x in runs if x.mode == mode]
        if not mine:
            continue
        d50 = d99 = hop50 = hop99 = None
        if mode != "untraced":
            d50 = median(interleaved_deltas(runs, mode, "p50"))
            d99 = median(interleaved_deltas(runs, mode, "p99"))
            hop50 = None if d50 is None else d50 / 2
            hop99 = None if d99 is None else d99 / 2
        spans = "—"
        if mode in EXPORTER_MODES and mode != "untraced":
            proxy = interleaved_spans(d, "chain-light-proxy", mode)
            backend = interleaved_spans(d, "chain-light-backend", mode)
            spans = "%d / %d; %d / %d" % (proxy + backend)
            r.targets.append(("chain nginx proxy → tinyhttpd, one request at a time, p99 latency "
                              "added per hop, %s exporter (noise floor ±%s µs)" % (mode, fmt(floor_hop)),
                              "≤ %d µs per hop" % HOP_TARGET_US, signed(hop99) + " µs",
                              unless_dropped(within_floor(hop99, floor_hop, HOP_TARGET_US, at_most=True),
                                             proxy[0] + backend[0], proxy[1] + backend[1])))
        rows.append([mode, "%d" % sum(x.count for x in mine), fmt(median([x.p50 for x in mine])),
                     fmt(median([x.p90 for x in mine])), fmt(median([x.p99 for x in mine])),
                     fmt(median([x.p999 for x in mine])), signed(d50), signed(d99), signed(hop50),
                     signed(hop99), spans, sum(x.errors for x in mine)])
    r.table(["chain", "answers counted", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "Δp50 µs", "Δp99 µs",
             "Δp50 per hop µs", "Δp99 per hop µs", "spans exported / dropped: proxy; backend", "errors"],
            rows)
    if floor_hop is not None:
        r.out("untraced-b is a second untraced chain: its |Δp99| from untraced (median %s µs, %s per hop) "
              "is what this method scatters by itself. A traced mode's target is met when its Δp99 per "
              "hop plus that floor is within the target, missed when its Δ minus the floor is beyond "
              "it, and not decided in between." % (fmt(floor), fmt(floor_hop)))
        r.out()


def reporter_section(r, d):
    if r.skipped_or_failed(d, "reporter") and not d.reporter:
        return
    rows = []
    for exporter in REPORTER_EXPORTERS:
        runs = [x for x in d.reporter if x[0] == exporter]
        if not runs:
            continue
        exported = sum(x[7] for x in runs)
        dropped = sum(x[8] for x in runs)
        received = agent_received(d, "reporter", exporter)
        rows.append([exporter, "%.0f" % median([x[4] for x in runs]),
                     fmt(median([x[5] for x in runs])), fmt(median([x[6] for x in runs])),
                     "%d / %d" % (exported, dropped),
                     "—" if received is None else "%d (kernel drops %d)" % received,
                     "/".join(sorted({str(x[9]) for x in runs}))])
    if not rows:
        r.out("No figures in this run.")
        r.out()
        return
    r.table(["exporter", "spans/s (median)", "export CPU µs per 1000 spans", "submit CPU µs per 1000 spans",
             "spans exported / dropped", "agent received", "threads"], rows)


def percall_section(r, d, have_valgrind):
    percall, instr = d.percall, d.instr
    kinds = [k for k in ("pipe", "file", "tcp-raw", "http") if any(p[0] == k for p in percall)]
    rows = []
    for kind in kinds:
        wall = {m: median([p[3] for p in percall if p[0] == kind and p[1] == m]) for m in ("untraced", "traced")}
        cpu = {m: median([p[4] for p in percall if p[0] == kind and p[1] == m]) for m in ("untraced", "traced")}
        unit = "exchange" if kind == "http" else "call"
        rows.append([kind, unit, fmt(wall["untraced"]), fmt(wall["traced"]),
                     "%+.1f" % (wall["traced"] - wall["untraced"]),
                     fmt(cpu["untraced"]), fmt(cpu["traced"]), "%+.1f" % (cpu["traced"] - cpu["untraced"])])
        if kind in ("pipe", "file"):
            # A few nanoseconds against a system call of hundreds: each
            # run's fastest repetition (the one least disturbed by the rest
            # of the machine), the median of those over the rounds.
            best = {m: median([p[5] for p in percall if p[0] == kind and p[1] == m])
                    for m in ("untraced", "traced")}
            delta = best["traced"] - best["untraced"]
            # The spread between repeated untraced runs is the noise floor:
            # a difference inside it is no measurement of the shim.
            base_runs = [p[5] for p in percall if p[0] == kind and p[1] == "untraced"]
            noise = max(base_runs) - min(base_runs)
            shown = "%+.1f ns (fastest repetitions: %.1f vs %.1f ns; untraced runs spread %.1f ns)" % (
                delta, best["traced"], best["untraced"], noise)
            if abs(delta) <= noise or len(base_runs) < 2:
                r.targets.append(("untracked fd (%s) read/write, time added" % kind, "≤ 15 ns per call",
                                  shown, None if delta > 15 else True))
            else:
                r.targets.append(("untracked fd (%s) read/write, time added" % kind, "≤ 15 ns per call",
                                  shown, delta <= 15))
        if kind == "http":
            # One exchange is two traced requests' worth of work: the client
            # span of the GET and the server span of serving it.
            per_span = (cpu["traced"] - cpu["untraced"]) / 2
            r.targets.append(("traced request, CPU added (process CPU per exchange / 2 spans)",
                              "≤ 2 µs", "%.2f µs" % (per_span / 1000), per_span <= 2000))
    r.table(["kind", "per", "untraced ns", "traced ns", "Δ ns", "untraced CPU ns", "traced CPU ns", "Δ CPU ns"], rows)
    if instr:
        irows = []
        units = {"http": "exchange (2 spans)", "server-none": "request (1 span)",
                 "server-traceparent": "request with a traceparent (1 span)",
                 "pipe-before-span": "call, before the first span (no reporter thread yet)"}
        for kind, base, added in instr:
            irows.append([kind, units.get(kind, "call"), fmt(base), fmt(added)])
            if kind in ("pipe", "file"):
                r.targets.append(("untracked fd (%s) read/write, instructions added, reporter thread "
                                  "running" % kind,
                                  "≤ 30 per call", "%.1f" % added, added <= 30))
        r.out("Instructions in user space (callgrind; the system call itself is not counted):")
        r.out()
        r.table(["kind", "per", "untraced instructions", "added by the shim"], irows)
    elif not have_valgrind:
        r.out("Instructions per call: **not measured** (valgrind is not installed).")
        r.out()


def memory_section(r, d):
    rows = []
    for what in dict.fromkeys(x[0] for x in d.rss):
        base = next((x[2] for x in d.rss if x[0] == what and x[1] == "untraced"), None)
        traced = next((x[2] for x in d.rss if x[0] == what and x[1] == "file"), None)
        if base is None or traced is None:
            continue
        delta_mib = (traced - base) / 1024
        rows.append(["tinyhttpd " + what.replace("-", " "), base, traced, "%+.2f" % delta_mib])
        r.targets.append(("memory added, tinyhttpd %s" % what.replace("-", " "), "≤ 4 MiB RSS",
                          "%+.2f MiB" % delta_mib, delta_mib <= 4))
    r.table(["program", "untraced VmRSS KiB", "traced VmRSS KiB", "Δ MiB"], rows)


def not_done(d):
    items = []
    if "node" in d.failed:
        items.append("- **Node http server, traceshim vs the OpenTelemetry JS SDK** (item 6): "
                     "failed in this run (%s)." % d.failed["node"])
    elif "node" in d.skipped or not any(h[0] == "node" for h in d.http):
        items.append("- **Node http server, traceshim vs the OpenTelemetry JS SDK** (item 6): "
                     "not measured in this run (%s)." % d.skipped.get("node", "no figures"))
    if "reporter" in d.failed or "reporter" in d.skipped or not d.reporter:
        items.append("- **Reporter throughput** (item 4): not measured in this run (%s)."
                     % d.failed.get("reporter", d.skipped.get("reporter", "no figures")))
    items.append("- **Targets missed** in this run: what profiling found, what was changed "
                 "(with before/after counts) and what is left is in "
                 "[bench/PROFILE.md](bench/PROFILE.md).")
    return "\n".join(items)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--wrk", required=True)
    ap.add_argument("--rounds", required=True)
    ap.add_argument("--percall", required=True)
    ap.add_argument("--valgrind", type=int, default=0)
    ap.add_argument("--modes", default="untraced file otlp",
                    help="the keep-alive modes per server, as run.sh ran them")
    ap.add_argument("--chain-modes", default="untraced file otlp")
    ap.add_argument("--interleave", default="15 s in blocks of 50 ms",
                    help="how long bench/interleave.c ran each time")
    ap.add_argument("--reporter", default="", help="spans per run and rounds of the reporter section")
    ap.add_argument("--write")
    a = ap.parse_args()
    d = load(a.results)

    r = Report()
    r.out("### Keep-alive HTTP (%s, %s round(s); %s, in that order per round)" % (a.wrk, a.rounds, a.modes))
    r.out()
    http_section(r, d)
    r.out("### Chain: wrk → nginx reverse proxy → tinyhttpd (%s, %s round(s); %s)"
          % (a.wrk, a.rounds, a.chain_modes))
    r.out()
    chain_section(r, d)
    r.out("### Reporter alone, per exporter (bench/reporter_bench.c: %s)" % a.reporter)
    r.out()
    reporter_section(r, d)
    r.out("### Peer: Node http server, traceshim vs OpenTelemetry JS SDK (%s, %s round(s))" % (a.wrk, a.rounds))
    r.out()
    node_section(r, d)
    r.out("### Per-call cost (bench/percall.c: %s; median of the per-round medians)" % a.percall)
    r.out()
    percall_section(r, d, a.valgrind)
    r.out("### Memory (VmRSS from /proc/PID/status, file exporter)")
    r.out()
    memory_section(r, d)
    r.out("### Against the targets of DESIGN.md §7")
    r.out()
    r.table(["measure", "target", "measured", "verdict"],
            [[m, t, v, verdict(ok)] for m, t, v, ok in r.targets])
    body = "\n".join(r.lines)
    print(body)
    if not a.write:
        return

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = """# Benchmarks

Written by `{command}` on {when}; every figure below comes from that one run
(issue 8, targets from DESIGN.md §7). Run it again to refresh this file;
`bash bench/run.sh --smoke` is the seconds-long version CI runs (it checks that
the suite runs, its numbers mean little). What profiling found and what was
changed, with before/after counts, is kept by hand in
[bench/PROFILE.md](bench/PROFILE.md).

- Machine: {machine}. **Shared with other running work while measured**: the
  figures are noisy, which is why each is a median of several runs and each
  ratio is taken between neighbouring runs, or within one run where every
  mode is up at once (the figures the throughput and per-hop targets are
  judged on).
- Library: `{library}` (RelWithDebInfo), preloaded with 100% sampling
  (`OTEL_TRACES_SAMPLER=always_on`), `TRACESHIM_STATS=1`, the default batch
  processor (queue 2048, batches of 512, export every 5 s). The exporters'
  receivers: "file" appends to a span file in a temporary directory; "otlp"
  sends OTLP/HTTP protobuf and "zipkin" Zipkin v2 JSON to one local receiver
  (an untraced `bench/tinyhttpd` that reads and discards each request body and
  answers 200); "jaeger" sends Thrift-compact UDP datagrams to
  `bench/udpsink.c`, a stand-in agent that counts the datagrams, the spans in
  them (occurrences of the span name) and the kernel's drops on its socket
  (`SO_RXQ_OVFL`; receive buffer as large as `net.core.rmem_max` allows).
- Everything runs on 127.0.0.1, ports picked at run time.

## How each figure is measured

- **Keep-alive HTTP**: `{wrk}` (wrk itself untraced) against nginx
  {nginx_version} (one process: `master_process off`, `worker_processes 1`,
  `access_log off`, a static 1 KiB file) and against `bench/tinyhttpd.c` (one
  thread, epoll, a fixed 3-byte 200 answer). Each server is started afresh
  for each run; per round the order is {modes}; {rounds}
  rounds. An untraced run sits before and after every traced one: each
  traced run is compared with the mean of those two, its neighbours in
  time, as the machine's speed drifts between runs. req/s, p50 and p99 are
  medians over all runs of a mode; traced/untraced and the Δ columns are
  medians of the per-run figures. "spans exported /
  dropped" is the sum of the shim's own counters (`TRACESHIM_STATS`) over the
  traced runs — a traced run that dropped spans did less work than it should.
  For jaeger, "agent received" is what reached the stand-in agent: the shim
  counts a span exported once `sendto` took its datagram, and UDP loses
  datagrams silently when the agent falls behind.
- **Chain**: the same wrk against nginx configured as a reverse proxy
  (`proxy_pass` to an `upstream` block holding one tinyhttpd, `keepalive
  32`, `proxy_http_version 1.1`, `proxy_set_header Connection ""`, so both
  hops are keep-alive) in front of a tinyhttpd; per round: {chain_modes}.
  "untraced": neither server is traced; otherwise both are, with that
  exporter. A traced request then crosses **two traced hops**: wrk → nginx
  (nginx's server span) and nginx → tinyhttpd (nginx's client span, which
  also rewrites the request head with the trace headers, and tinyhttpd's
  server span). wrk's latency includes both, so "per hop" is the Δ divided
  by 2 — each hop's share if both cost alike; the target of DESIGN.md §7 is
  per hop. "spans exported / dropped" is given for the proxy (two spans per
  request) and the backend (one). With the file exporter,
  `bench/chain_check.py` reads both span files after the run and counts the
  backend's server spans whose parent is one of nginx's client spans in the
  same trace, that client span's parent being nginx's server span. With
  nothing dropped every count is the same number ("every request"); each
  span the shim dropped (its counters) may leave one request unlinked, and
  links missing beyond that make the column say BROKEN. The per-hop
  target of DESIGN.md §7 is judged one request at a time: with 32 requests
  in flight the servers are saturated, and by Little's law (latency =
  requests in flight / req/s) a throughput lost shows as latency added (32
  in flight at 60,000 req/s is 533 µs each, at 48,000 req/s 667 µs), so the
  saturated Δ columns (and the keep-alive section's "p99 latency added ...
  32 in flight" lines) mostly restate the throughput ratio.
- **Chain, one request at a time**: per round, one chain (nginx proxy →
  tinyhttpd, configured as above) for each of untraced, untraced-b, file
  and otlp, all up at once, and `bench/interleave.c` with one connection
  to each proxy (see "Every mode up at once" below): one request at a
  time, so nothing queues in front of a server. Δ is a traced chain's
  percentile minus the untraced chain's of the same run (median over
  rounds), "per hop" is Δ / 2 as above. untraced-b's |Δp99| (median over
  rounds) is the noise floor: the target is met when Δp99 per hop plus the
  floor per hop is ≤ 20 µs, missed when Δp99 per hop minus the floor is
  above it, not decided in between. The spans of these chains are counted
  as above (`chain-light` stats).
- **Every mode up at once** (keep-alive servers, and the chain one request
  at a time): why: on this machine's shared cores an untraced nginx's
  req/s moved by up to 50% from one second to the next, and wrk -c1
  against one chain after another gave untraced p99s that differed by
  62–304% between runs — far more than the few percent, or the 20 µs per
  hop, measured. So one server (or chain) per mode is started, plus a
  second untraced one, "untraced-b", all up together; `bench/interleave.c`
  keeps N keep-alive connections to each (32 for the keep-alive servers,
  1 for the chain), each with one `GET /` in flight at a time (the next
  sent once the whole answer is in: a closed loop, as wrk's), and moves
  the load to the next server every 50 ms — no new request after the
  50 ms, the block ends with the last answer — the order turning by one
  each cycle, for {interleave} per round. Each server's first block is a
  warm-up. It prints each server's answers per second of its own blocks
  and the p50, p90, p99 and p99.9 latency (nearest rank, every answer of
  the run). A slow moment of the machine falls on every mode alike; the
  traced/untraced ratios and the Δ are taken within one run, then the
  median over rounds. untraced-b's difference from untraced is what the
  method scatters by itself, the noise floor each verdict allows for. The
  spans each traced server exported or dropped are its own counters, as
  above; what a traced server's reporter or the kernel's writeback does
  after its block can fall in another server's block, which this method
  charges to that one (small against a block of 50 ms).
- **Reporter alone**: `bench/reporter_bench.c` (CMake target
  `bench-reporter`, built from the library's object files in the library's
  build directory), one process per exporter in a clean environment holding
  only that exporter's variables, in the order {reporter_exporters} per round.
  It does the library's start-up for the reporter (configuration, process
  facts) without the hooks, submits 2000 warm-up spans and flushes, then
  submits the measured spans through `ts_rep_submit` and flushes
  (`ts_rep_flush`). The spans are server spans like the hooks make (name,
  13 attributes: method, route, path, query, scheme, server and peer
  addresses and ports, protocol version, user agent, status), fresh ids for
  each. The submitting loop never lets the queue overflow: at three
  quarters of its 2048 slots it sleeps 50 µs and looks again, so the time
  measured is the reporter's pace. spans/s = spans exported / wall time of
  submitting and flushing. "export CPU" = process CPU
  (`CLOCK_PROCESS_CPUTIME_ID`, every thread) over submitting and flushing
  minus the submitting thread's own CPU (`CLOCK_THREAD_CPUTIME_ID`) over its
  whole loop, pauses included: the reporter thread's encoding and sending,
  plus the final flush (which runs on the calling thread); "threads" = 2
  confirms that nothing but the submitting thread and the reporter's ran.
  "submit CPU" is the submitting thread's CPU in its bursts of submits, read
  before and after each pause so that the pauses do not count:
  `ts_rep_submit`'s copy of each span into the queue and the reporter's
  wake-up, what a traced request's thread pays. The receivers run in their own
  processes and their CPU is not counted; on two cores they compete with
  the reporter, as a local collector would.
- **Node peer**: `bench/node/run.sh` (see bench/node/README.md): a plain
  Node `http` server, the same wrk, untraced, under traceshim and with the
  OpenTelemetry JS SDK, both traced modes exporting OTLP/HTTP protobuf to the
  receiver above; ratios and Δ per round against that round's one untraced run.
  Then, per round, the four servers (untraced, untraced-b, traceshim,
  otel-sdk) up at once under `bench/interleave.c`, as for the keep-alive
  servers: the Node targets are judged on those, the SDK comparison met
  only when the two ratios differ by more than twice the noise floor.
- **Per-call cost**: `bench/percall.c`, the same binary run untraced and
  traced alternately. pipe: 1-byte write + read on a pipe; file: 1-byte
  writes then reads on a regular file; tcp-raw: 1-byte write + read on a
  connected loopback TCP pair that the shim tracks and then gives up on
  (the bytes are not HTTP); http: one keep-alive GET + 200 exchange on such
  a pair within the process, which, traced, is one client span and one server
  span. Wall ns is the calling thread's time; CPU ns is process CPU time
  (`CLOCK_PROCESS_CPUTIME_ID`, every thread, so the reporter's encoding and
  file writes are included). percall runs with `--after-span`: one HTTP
  exchange before anything is measured, so that, traced, the reporter
  thread runs, as in any traced program after its first request (a second
  thread makes glibc bracket every cancellable call: README, "The
  reporter's fd table"); untraced, the process stays single-threaded.
- **Instructions per call**: `valgrind --tool=callgrind` total Ir of
  percall with a short and a long count of calls, untraced and traced;
  ((traced long − traced short) − (untraced long − untraced short)) / calls
  is what the shim adds per call, start-up and exit cancelled out (also
  with `--after-span`; "pipe-before-span" without it: a process that has
  made no span and has no reporter thread yet). The
  server rows do the same for a server alone, what nginx pays:
  `bench/tinyhttpd` under callgrind answering 200 and 1200 keep-alive GETs
  from `bench/keepalive_get.py` (its own, untraced process), without and
  with an incoming `traceparent`; every thread of the server is counted,
  so the traced figure includes the reporter encoding and writing each
  span (file exporter).
- **Memory**: VmRSS of tinyhttpd 0.5 s after start (idle: it has bound and
  listens) and while `bench/holdconns.c` holds N keep-alive connections on
  which it made one request each, untraced and traced (file exporter).

## Results

{body}
## Reading these numbers

- Two cores hold wrk, the server and, traced, the shim's reporter thread: the
  reporter's encoding and writing competes with wrk and the server for the
  same two cores, so the throughput ratios here include that CPU; on a machine
  with a spare core they would be higher. The CPU per traced request (from
  percall, process CPU of every thread) and the reporter's CPU per 1000
  spans are the figures that do not depend on it. The chain puts two servers,
  two reporter threads and wrk on the same two cores.
- "spans exported / dropped": a traced run that dropped spans (the queue of
  `OTEL_BSP_MAX_QUEUE_SIZE` = 2048 was full) did less export work than 100% of
  requests would need, so its throughput flatters the shim.
- Verdicts: a target is called met only when the untraced runs of the
  rounds agree within 25% (req/s, or p99 for the latency rows) and the
  traced runs dropped at most 1% of their spans; otherwise it is "not
  decided", with the reason. A miss is reported as measured.
- The reporter's figures are for the reporter thread alone, with the
  receivers in other processes on the same two cores; the file exporter's
  include the kernel's work of appending to the page cache, which other
  I/O on the machine slows down.
- "untracked fd … time added": the system call costs 350–600 ns here and the
  spread between untraced runs is of the order of the target itself. The
  row compares each run's fastest repetition (median over the rounds),
  which other work on the machine disturbs least; callgrind's instruction
  counts remain the figure to trust for it.

## Not done yet

{not_done}
""".format(command=a.command, when=when, machine=machine(), library=a.library,
           wrk=a.wrk, rounds=a.rounds, body=body, not_done=not_done(d),
           modes=a.modes, chain_modes=a.chain_modes,
           interleave=a.interleave,
           reporter_exporters=", ".join(REPORTER_EXPORTERS),
           nginx_version=subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1])
    if not d.instr:
        doc = doc.replace("## Not done yet\n\n", "## Not done yet\n\n- **Instructions per call**: "
                          "valgrind was not installed for this run.\n")
    with open(a.write, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    sys.exit(main())
