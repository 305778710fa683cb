"""test_view_cli.py — `traceshim view`, `html` and `stats` as commands,
through the launcher (scripts/traceshim): colour only on a terminal (a
pseudo-terminal here) and never with NO_COLOR or when piped, the trace list
and its filters, the statistics, and clear errors with documented exit
statuses (0 done, 1 file or trace not found, 2 bad usage)."""

import errno
import json
import os
import pty
import select
import shutil
import signal
import stat
import subprocess
import threading
import time
import unittest

import tshelp as th

T0 = 1700000000 * 10**9


def span(tid, sid, parent, name, start_ms, dur_ms, error=False):
    s = {"traceId": tid, "spanId": "%016x" % sid, "name": name, "kind": 2,
         "startTimeUnixNano": str(T0 + start_ms * 10**6),
         "endTimeUnixNano": str(T0 + (start_ms + dur_ms) * 10**6),
         "status": {"code": 2 if error else 0}}
    if parent:
        s["parentSpanId"] = "%016x" % parent
    return s


def line(service, spans):
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}]}]}) + "\n"


def host_line(service, host, spans):
    """One process's spans, its resource naming its host (its clock)."""
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": service}},
        {"key": "host.name", "value": {"stringValue": host}}]},
        "scopeSpans": [{"spans": spans}]}]}) + "\n"


def page_data(page):
    """The data of a page `traceshim html` wrote (report_html.c)."""
    begin = b'<script id="traceshim-data" type="application/json">'
    start = page.index(begin) + len(begin)
    return json.loads(page[start:page.index(b"</script>", start)])


def write_spans(path):
    """30 traces of api -> db, every 10th with a failing db call; one trace
    of a batch job."""
    with open(path, "w") as f:
        for i in range(30):
            tid = "%032x" % (i + 1)
            f.write(line("api", [span(tid, 1, 0, "GET /items", i * 100, 20 + i)]))
            f.write(line("db", [span(tid, 2, 1, "SELECT items", i * 100 + 2, 10 + i,
                                     error=i % 10 == 9)]))
        f.write(line("batch", [span("%032x" % 99, 1, 0, "nightly", 5000, 1)]))


class ViewCommands(th.TempDirMixin, unittest.TestCase):

    def setUp(self):
        th.require_launcher()
        th.require_view()
        self.tmp = self.make_tmp()
        self.spans = os.path.join(self.tmp, "spans.jsonl")
        write_spans(self.spans)

    def ts(self, *args, **env):
        p = th.run([th.LAUNCHER] + list(args), env=th.clean_env(TRACESHIM_VIEW=th.VIEW, **env),
                   tmpdir=self.tmp, name=args[0])
        return p

    def on_tty(self, *args, **env):
        """Runs the launcher with stdout on a pseudo-terminal; returns (exit
        status, output)."""
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([th.LAUNCHER] + list(args), stdin=subprocess.DEVNULL,
                                 stdout=slave, stderr=subprocess.PIPE,
                                 env=th.clean_env(TRACESHIM_VIEW=th.VIEW, TERM="xterm", **env))
            os.close(slave)
            slave = -1
            out = b""
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.2)
                if r:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # EIO: the terminal's other end closed
                        break
                    if not chunk:
                        break
                    out += chunk
                elif p.poll() is not None:
                    break
            p.stderr.close()
            return p.wait(timeout=10), out
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)

    def test_colour_only_on_a_terminal(self):
        status, out = self.on_tty("view", self.spans, "--trace", "%032x" % 10)
        self.assertEqual(status, 0, out)
        self.assertIn(b"\x1b[", out, "a terminal gets colour")
        self.assertIn(b"\x1b[31m\x1b[1mERROR", out)
        status, out = self.on_tty("view", self.spans, "--trace", "%032x" % 10, NO_COLOR="1")
        self.assertEqual(status, 0, out)
        self.assertNotIn(b"\x1b", out, "NO_COLOR turns colour off")
        self.assertIn(b"ERROR", out)
        status, out = self.on_tty("view", self.spans, "--color=never")
        self.assertNotIn(b"\x1b", out)
        for args in (["--trace", "%032x" % 10], [], ["--tree"]):
            p = self.ts("view", self.spans, *args)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertNotIn(b"\x1b", p.stdout(), "piped output has no colour")
        p = self.ts("view", self.spans, "--color=always", "--trace", "%032x" % 10)
        self.assertIn(b"\x1b[", p.stdout())

    def test_list_newest_first_and_filters(self):
        p = self.ts("view", self.spans)
        self.assertEqual(p.returncode, 0, p.describe())
        lines = p.stdout().decode().splitlines()
        self.assertTrue(lines[0].startswith("TRACE "), lines)
        self.assertTrue(lines[1].startswith("%032x" % 99), lines)   # the newest
        self.assertTrue(lines[2].startswith("%032x" % 30), lines)
        self.assertEqual(len(lines), 1 + 20 + 2, lines)  # default limit, two footer lines
        self.assertIn("(20 of 31 traces shown", lines[-2])
        p = self.ts("view", self.spans, "--errors", "--limit", "0")
        rows = p.stdout().decode().splitlines()[1:-1]
        self.assertEqual([r.split()[0] for r in rows], ["%032x" % 30, "%032x" % 20, "%032x" % 10])
        self.assertEqual(rows[0].split()[5], "1")  # ERRORS column
        # one trace selected: drawn as a tree
        p = self.ts("view", self.spans, "--service", "batch")
        self.assertTrue(p.stdout().startswith(b"trace " + b"%032x" % 99), p.describe())
        p = self.ts("view", self.spans, "--match", "^select", "--limit", "5")
        self.assertEqual(len(p.stdout().decode().splitlines()), 1 + 5 + 2)

    def test_tree_says_what_the_limit_left_out(self):
        p = self.ts("view", self.spans, "--tree")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertEqual(p.stdout().count(b"\ntrace ") + 1, 20, p.describe())  # the default limit
        self.assertEqual(p.stderr(), b"traceshim view: 20 of 31 traces drawn: --limit 0 draws all\n")
        for limit, drawn in (("0", 31), ("31", 31)):
            p = self.ts("view", self.spans, "--tree", "--limit", limit)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertEqual(p.stdout().count(b"\ntrace ") + 1, drawn, p.describe())
            self.assertEqual(p.stderr(), b"", p.describe())

    def test_trace_id_and_the_other_filters(self):
        """--trace ID draws (or writes) that trace only when it passes
        --service, --match and --errors too."""
        report = os.path.join(self.tmp, "r.html")
        ok_trace, failed_trace = "%032x" % 1, "%032x" % 10  # trace 10 has a failing db call
        for args in (["--service", "batch"], ["--errors"], ["--match", "nightly"]):
            p = self.ts("view", self.spans, "--trace", ok_trace, *args)
            self.assertEqual(p.returncode, 1, p.describe())
            self.assertEqual(p.stdout(), b"", p.describe())
            self.assertIn(("traceshim view: no trace %s in %s passes the filters\n"
                           % (ok_trace, self.spans)).encode(), p.stderr())
            p = self.ts("html", self.spans, "--trace", ok_trace, "-o", report, *args)
            self.assertEqual(p.returncode, 1, p.describe())
            self.assertIn(("traceshim html: no trace %s in %s passes the filters\n"
                           % (ok_trace, self.spans)).encode(), p.stderr())
            self.assertFalse(os.path.exists(report), p.describe())
        for args in (["--service", "db"], ["--errors"], ["--match", "^select"]):
            p = self.ts("view", self.spans, "--trace", failed_trace, *args)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertTrue(p.stdout().startswith(b"trace " + failed_trace.encode()), p.describe())
        p = self.ts("html", self.spans, "--trace", failed_trace, "--errors", "-o", report)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(b"1 trace from", p.stderr())

    def test_siblings_in_the_order_they_are_drawn(self):
        """Siblings on other hosts' clocks, shifted to fit their parent, are
        listed where they are drawn to start, in the tree, the services
        named with it and the page's data: "GET /price" (its host's clock
        10 ms ahead) really starts 5 ms after "render" but is drawn 5 ms
        before it; "GET /stock" (8 ms behind) really starts first and is
        drawn at its parent's start, after "log", which is on the parent's
        clock (its host's) and not moved. Ordered by real start, the rows
        went 10, 8, 20, 15 ms down the screen."""
        tid, other = "%032x" % 0x5ce, "%032x" % 0x5cf
        skewed = os.path.join(self.tmp, "skewed.jsonl")
        with open(skewed, "w") as f:
            f.write(host_line("web", "web-1", [
                span(tid, 1, 0, "GET /checkout", 10, 20), span(tid, 2, 1, "render", 20, 2),
                span(other, 1, 0, "GET /", 100, 1)]))
            f.write(host_line("logger", "web-1", [span(tid, 3, 1, "log", 8, 1)]))
            f.write(host_line("price", "price-1", [
                span(tid, 4, 1, "GET /price", 25, 15), span(tid, 5, 4, "SELECT price", 26, 1)]))
            f.write(host_line("stock", "stock-1", [span(tid, 6, 1, "GET /stock", 2, 4)]))
        drawn = ["GET /checkout", "log", "GET /stock", "GET /price", "SELECT price", "render"]
        for args in (["--trace", tid], ["--tree", "--match", "checkout"]):
            p = self.ts("view", skewed, *args)
            self.assertEqual(p.returncode, 0, p.describe())
            header, *rows = p.stdout().decode().splitlines()
            self.assertTrue(header.endswith("  web, logger, stock, price"), p.describe())
            self.assertEqual([[n for n in drawn if "  %s  " % n in r] for r in rows],
                             [[n] for n in drawn], p.describe())
            self.assertIn("(clock skew: shown +8.00ms)", rows[2])
            self.assertIn("(clock skew: shown -10.00ms)", rows[3])
        p = self.ts("view", skewed)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(" web: GET /checkout  [web, logger, stock, price]\n", p.stdout().decode())
        p = self.ts("html", skewed, "-o", "-", "--trace", tid)
        self.assertEqual(p.returncode, 0, p.describe())
        data = page_data(p.stdout())
        trace = data["traces"][0]
        self.assertEqual([s[2] for s in trace["spans"]], drawn)
        self.assertEqual([s[12] for s in trace["spans"]], [-1, 0, 0, 0, 3, 0])  # parents
        self.assertEqual([s[10] for s in trace["spans"]],  # shifts: as they were
                         [0, 0, 8 * 10**6, -10 * 10**6, -10 * 10**6, 0])
        self.assertEqual(trace["svcs"], [data["services"].index(n)
                                         for n in ("web", "logger", "stock", "price")])

    def test_stats(self):
        p = self.ts("stats", self.spans, "--json")
        self.assertEqual(p.returncode, 0, p.describe())
        doc = json.loads(p.stdout())
        db = [g for g in doc["groups"] if g["service"] == "db"][0]
        self.assertEqual((db["name"], db["count"], db["errors"]), ("SELECT items", 30, 3))
        # durations 10 .. 39 ms: p50 is the 15th, 24 ms; within 1%
        self.assertAlmostEqual(db["p50_ns"], 24e6, delta=24e4)
        self.assertAlmostEqual(db["p99_ns"], 39e6, delta=39e4)
        self.assertEqual(db["max_ns"], 39000000)
        # the window is the file's, whatever the filters keep: also when
        # they keep nothing (it was 0 then)
        window = 5001 * 10**6  # from api's first span at 0 to the batch span's end
        self.assertEqual(doc["window_ns"], window)
        for args in (("--service", "api"), ("--match", "^SELECT"), ("--service", "nosuch"),
                     ("--match", "nosuch")):
            p = self.ts("stats", self.spans, "--json", *args)
            self.assertEqual((p.returncode, json.loads(p.stdout())["window_ns"]), (0, window),
                             p.describe())
        p = self.ts("stats", self.spans, "--service", "api")
        out = p.stdout().decode()
        self.assertIn("GET /items", out)
        self.assertNotIn("SELECT", out)
        self.assertTrue(out.startswith("SERVICE"), out)

    def test_errors_and_exit_statuses(self):
        missing = os.path.join(self.tmp, "nope.jsonl")
        report = os.path.join(self.tmp, "r.html")
        cases = [
            (["view", missing], 1, b"cannot open"),
            (["html", missing, "-o", report], 1, b"cannot open"),
            (["stats", missing], 1, b"cannot open"),
            (["view", self.spans, "--trace", "ffff"], 1, b"no trace ffff"),
            (["view", self.spans, "--match", "(x"], 2, b"not a valid regular expression"),
            (["html", self.spans, "--match", "[", "-o", report], 2, b"not a valid regular"),
            (["stats", self.spans, "--match", "*+("], 2, b"not a valid regular"),
            (["view", self.spans, "--bogus"], 2, b"unknown option --bogus"),
            (["html", self.spans, "--bogus"], 2, b"unknown option --bogus"),
            (["stats", self.spans, "--sort", "speed"], 2, b"expected p99"),
            (["view", self.spans, "--limit", "-3"], 2, b"not a count"),
            (["view", self.spans, "--color", "pink"], 2, b"expected auto"),
            (["html", self.spans, "-o"], 2, b"-o needs a value"),
            (["html", self.spans, "-o", os.path.join(self.tmp, "no", "dir.html")], 1,
             b"cannot write"),
        ]
        for args, status, message in cases:
            p = self.ts(*args)
            self.assertEqual(p.returncode, status, p.describe())
            self.assertIn(message, p.stderr(), p.describe())
            self.assertEqual(p.stdout(), b"", p.describe())
        self.assertFalse(os.path.exists(report), "nothing written after an error")
        self.assertEqual([n for n in os.listdir(self.tmp) if ".html" in n], [],
                         "no page and no temporary left")
        for cmd in ("view", "html", "stats"):
            p = self.ts(cmd, "-h")
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertIn(b"usage: traceshim " + cmd.encode(), p.stdout())
            self.assertIn(b"Exit status", p.stdout())
        # view's help says all that decides colour, and --no-color
        p = self.ts("view", "-h")
        self.assertIn(b"NO_COLOR is unset or empty and TERM is not dumb", p.stdout())
        self.assertIn(b"  --no-color      the same as --color never\n", p.stdout())
        p = self.ts("view", self.spans, "--limit", "0000000020")  # ten digits, a count all the same
        self.assertEqual(p.returncode, 0, p.describe())
        p = self.ts("html", self.spans, "-o", report, "--errors")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertIn(b"3 traces", p.stderr())
        with open(report, "rb") as f:
            self.assertIn(b'"total_traces":31', f.read())

    def test_usage_errors_print_the_usage(self):
        """Every usage error, a bad value as much as an unknown option, is
        one line naming the command, then the command's usage (README);
        --trace zz, --color sometimes, --match ( and --sort bogus printed
        the line alone. A bad --trace is a usage error before FILE is read."""
        report = os.path.join(self.tmp, "r.html")
        missing = os.path.join(self.tmp, "nope.jsonl")
        cases = [
            (["view", self.spans, "--trace", "zz"], "--trace zz: not a trace id"),
            (["view", missing, "--trace", "zz"], "--trace zz: not a trace id"),
            (["html", self.spans, "--trace", "zz", "-o", report], "--trace zz: not a trace id"),
            (["view", self.spans, "--color", "sometimes"], "--color sometimes: expected auto"),
            (["view", self.spans, "--match", "("], "not a valid regular expression"),
            (["html", self.spans, "--match", "(", "-o", report], "not a valid regular expression"),
            (["stats", self.spans, "--match", "("], "not a valid regular expression"),
            (["stats", self.spans, "--sort", "bogus"], "--sort bogus: expected p99"),
            (["html", self.spans, "-o", ""], "-o needs a file name"),
            (["view", self.spans, "--limit", "abc"], "--limit abc: not a count"),
            # a count, too large for the limit (it said "not a count")
            (["view", self.spans, "--limit", "2147483648"],
             "--limit 2147483648: too large (at most 999999999; 0 for no limit)"),
            (["stats", self.spans, "--bogus"], "unknown option --bogus"),
        ]
        for args, message in cases:
            p = self.ts(*args)
            err = p.stderr().decode().splitlines()
            self.assertEqual((p.returncode, p.stdout()), (2, b""), p.describe())
            self.assertGreater(len(err), 2, p.describe())
            self.assertTrue(err[0].startswith("traceshim %s: " % args[0]), p.describe())
            self.assertIn(message, err[0], p.describe())
            self.assertTrue(err[1].startswith("usage: traceshim %s " % args[0]), p.describe())
        self.assertFalse(os.path.exists(report))

    def test_rejected_lines_named_by_the_command(self):
        """A rejected line is reported by the command that read it."""
        with open(self.spans, "a") as f:
            f.write("not json\n")
        for cmd, extra in (("view", []), ("html", ["-o", os.path.join(self.tmp, "r.html")]),
                           ("stats", [])):
            p = self.ts(cmd, self.spans, *extra)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertIn(("traceshim %s: %s:62: invalid JSON" % (cmd, self.spans)).encode(),
                          p.stderr(), p.describe())
            for other in {"view", "html", "stats"} - {cmd}:
                self.assertNotIn(b"traceshim " + other.encode() + b":", p.stderr(), p.describe())

    def test_a_file_without_a_valid_line_is_an_error(self):
        """Lines rejected and no span read: exit 1; an empty file (or one
        with only blank lines) has nothing to show: exit 0."""
        junk = os.path.join(self.tmp, "junk.txt")
        with open(junk, "w") as f:
            f.write("root:x:0:0:root:/root:/bin/bash\n\n{\"resourceSpans\": 3}\n")
        report = os.path.join(self.tmp, "r.html")
        for cmd in ("view", "html", "stats"):
            p = self.ts(cmd, junk, "-o", report) if cmd == "html" else self.ts(cmd, junk)
            self.assertEqual(p.returncode, 1, p.describe())
            err = p.stderr().decode()
            self.assertIn("traceshim %s: %s:1: invalid JSON" % (cmd, junk), err)
            self.assertIn("traceshim %s: no span read from %s: 2 lines rejected\n" % (cmd, junk),
                          err)
            self.assertEqual(p.stdout(), b"", p.describe())
        self.assertFalse(os.path.exists(report), "no page for a file without spans")
        empty = os.path.join(self.tmp, "empty.jsonl")
        with open(empty, "w") as f:
            f.write("\n \n")
        for cmd, message in (("view", "no spans in"), ("stats", "no spans in")):
            p = self.ts(cmd, empty)
            self.assertEqual(p.returncode, 0, p.describe())
            self.assertIn(("traceshim %s: %s %s" % (cmd, message, empty)).encode(), p.stderr())
        p = self.ts("html", empty, "-o", report)
        self.assertEqual(p.returncode, 0, p.describe())
        # but a trace asked for by its id is not there: exit 1, as html says
        # (a script waiting for the trace to appear)
        for args in (["view", empty, "--trace", "abcd"], ["html", empty, "--trace", "abcd",
                                                          "-o", report]):
            p = self.ts(*args)
            self.assertEqual(p.returncode, 1, p.describe())
            self.assertIn(("traceshim %s: no trace abcd in %s" % (args[0], empty)).encode(),
                          p.stderr())
        # one good span among rejected lines is read as before
        with open(junk, "a") as f:
            f.write(line("api", [span("%032x" % 7, 1, 0, "GET /", 0, 1)]))
        p = self.ts("view", junk)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(p.stdout().startswith(b"trace " + b"%032x" % 7), p.describe())

    def test_a_line_too_long_for_memory_is_a_read_error(self):
        """getline failing for want of memory (ENOMEM, no error flag on the
        stream) is a read error, exit 1 with one line; it ended the reading
        as if the file ended there, exit 0 and the lines after it lost."""
        with open(th.VIEW, "rb") as f:
            if b"__asan_init" in f.read():
                self.skipTest("an ASan build cannot run under a virtual memory limit")
        big = os.path.join(self.tmp, "big.jsonl")
        with open(big, "wb") as f:
            f.write(line("first", [span("%032x" % 1, 1, 0, "GET /", 0, 1)]).encode())
            # a 256 MiB line of NUL bytes, sparse: no disk and quick to read
            f.truncate(f.tell() + (256 << 20))
            f.seek(0, os.SEEK_END)
            f.write(b"\n" + line("after", [span("%032x" % 2, 1, 0, "GET /", 0, 1)]).encode())
        report = os.path.join(self.tmp, "r.html")
        # 64 MiB of address space: the viewer starts, the line cannot be held
        limited = ["sh", "-c", 'ulimit -v 65536 && exec "$0" "$@"', th.LAUNCHER]
        for cmd, extra in (("view", []), ("html", ["-o", report]), ("stats", [])):
            p = th.run(limited + [cmd, big] + extra,
                       env=th.clean_env(TRACESHIM_VIEW=th.VIEW), tmpdir=self.tmp, name=cmd)
            self.assertEqual(p.returncode, 1, p.describe())
            self.assertEqual(p.stderr().decode(), "traceshim %s: cannot read %s: %s\n"
                             % (cmd, big, os.strerror(errno.ENOMEM)), p.describe())
            self.assertEqual(p.stdout(), b"", p.describe())
        self.assertFalse(os.path.exists(report), "no page from a file not read to its end")

    def test_html_keeps_the_permissions_of_the_page_it_replaces(self):
        """A regular OUT is replaced by renaming a new file over it: that
        file gets the old one's permissions (it got 0666 & ~umask, so a
        report made 0600 became 0644); a new OUT gets 0666 & ~umask."""
        report = os.path.join(self.tmp, "r.html")

        def html(umask):
            p = th.run(["sh", "-c", 'umask %s && exec "$0" "$@"' % umask, th.LAUNCHER, "html",
                        self.spans, "-o", report],
                       env=th.clean_env(TRACESHIM_VIEW=th.VIEW), tmpdir=self.tmp, name="html")
            self.assertEqual(p.returncode, 0, p.describe())
            with open(report, "rb") as f:
                self.assertTrue(f.read().startswith(b"<!DOCTYPE html>"))
            self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp." in n], [])
            return stat.S_IMODE(os.stat(report).st_mode)

        self.assertEqual(html("022"), 0o644, "a new page: 0666 & ~umask")
        for mode, umask in ((0o600, "022"), (0o640, "022"), (0o664, "077")):
            os.chmod(report, mode)
            ino = os.stat(report).st_ino
            self.assertEqual(html(umask), mode, "umask %s" % umask)
            self.assertNotEqual(os.stat(report).st_ino, ino, "renamed into place")

    def test_an_interrupted_html_leaves_no_temporary_page(self):
        """A signal that ends html while it writes the temporary page (a
        file-size limit, SIGXFSZ; SIGTERM) removes that page; OUT keeps its
        old content, and the process still dies of the signal. Both left
        OUT.tmp.XXXXXX behind."""
        big = os.path.join(self.tmp, "big.jsonl")
        with open(big, "w") as f:
            for t in range(1000):  # a page of about 20 MB
                f.write(line("api", [dict(span("%032x" % (t + 1), i + 1, i, "GET /x", t, 1),
                                          attributes=[{"key": "blob",
                                                       "value": {"stringValue": "y" * 2000}}])
                                     for i in range(10)]))
        report = os.path.join(self.tmp, "r.html")

        def old_page_and_no_temporary():
            with open(report) as f:
                self.assertEqual(f.read(), "old page\n")
            self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp." in n], [])

        with open(report, "w") as f:
            f.write("old page\n")
        p = th.run(["sh", "-c", 'ulimit -f 64 && exec "$0" "$@"', th.LAUNCHER, "html", big, "-o",
                    report], env=th.clean_env(TRACESHIM_VIEW=th.VIEW), tmpdir=self.tmp,
                   name="html")
        self.assertEqual(p.returncode, -signal.SIGXFSZ, p.describe())
        old_page_and_no_temporary()

        # SIGTERM as soon as the temporary page is there (a run that
        # finished first is tried again)
        stopped = 0
        for _ in range(10):
            with open(report, "w") as f:
                f.write("old page\n")
            proc = subprocess.Popen([th.LAUNCHER, "html", big, "-o", report],
                                    env=th.clean_env(TRACESHIM_VIEW=th.VIEW),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 20
                while (proc.poll() is None and time.monotonic() < deadline and
                       not any(".tmp." in n for n in os.listdir(self.tmp))):
                    pass
                proc.send_signal(signal.SIGTERM)
                rc = proc.wait(timeout=20)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if rc == -signal.SIGTERM:
                stopped += 1
                old_page_and_no_temporary()
                break
            self.assertEqual(rc, 0)
        self.assertEqual(stopped, 1, "SIGTERM never came while the page was written")

    def test_html_into_an_existing_non_regular_file(self):
        """-o naming a symlink, a FIFO or a device writes through it in
        place; only a regular file (or a new path) is replaced by renaming."""
        def no_temporaries():
            self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp." in n], [])

        # a symlink stays a symlink; its target gets the page
        target = os.path.join(self.tmp, "target.html")
        link = os.path.join(self.tmp, "link.html")
        with open(target, "w") as f:
            f.write("old page, longer than nothing\n" * 10000)
        os.symlink("target.html", link)
        p = self.ts("html", self.spans, "-o", link)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(os.path.islink(link), "the link was replaced")
        with open(target, "rb") as f:
            page = f.read()
        self.assertTrue(page.startswith(b"<!DOCTYPE html>"), page[:80])
        self.assertNotIn(b"old page", page, "the target is truncated, not overwritten in part")
        no_temporaries()

        # a dangling symlink is not followed to create a file
        dangling = os.path.join(self.tmp, "dangling.html")
        os.symlink("nowhere.html", dangling)
        p = self.ts("html", self.spans, "-o", dangling)
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertIn(b"cannot write " + dangling.encode(), p.stderr())
        self.assertTrue(os.path.islink(dangling))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "nowhere.html")))
        no_temporaries()

        # a FIFO stays a FIFO, and its reader gets the page
        fifo = os.path.join(self.tmp, "page.fifo")
        os.mkfifo(fifo)
        got = []

        def read_fifo():
            with open(fifo, "rb") as f:
                got.append(f.read())
        # a daemon: without a writer it would wait for ever
        reader = threading.Thread(target=read_fifo, daemon=True)
        reader.start()
        p = self.ts("html", self.spans, "-o", fifo)
        reader.join(20)
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")
        self.assertTrue(got and got[0].startswith(b"<!DOCTYPE html>"), got)
        no_temporaries()

        # standard output by its /proc name (a symlink to the command's
        # stdout): the page arrives there
        p = self.ts("html", self.spans, "-o", "/proc/self/fd/1")
        self.assertEqual(p.returncode, 0, p.describe())
        self.assertTrue(p.stdout().startswith(b"<!DOCTYPE html>"), p.describe())

    def test_html_never_writes_its_page_over_the_spans_file(self):
        """-o naming the spans file being read, by its name, a link or the
        default from TRACESHIM_FILE, or the file standard input reads, is a
        usage error: the page replaced the spans (status 0), and a traced
        process still appending to them wrote on into the unlinked file."""
        with open(self.spans, "rb") as f:
            spans = f.read()
        link = os.path.join(self.tmp, "also-spans.html")
        os.symlink("spans.jsonl", link)
        for args, env in ((["html", self.spans, "-o", self.spans], {}),
                          (["html", self.spans, "-o", link], {}),
                          (["html", "-o", self.spans], {"TRACESHIM_FILE": self.spans})):
            p = self.ts(*args, **env)
            self.assertEqual(p.returncode, 2, p.describe())
            self.assertIn(b"is the spans file read", p.stderr(), p.describe())
            self.assertIn(b"usage:", p.stderr(), p.describe())
            self.assertEqual(p.stdout(), b"", p.describe())
            with open(self.spans, "rb") as f:
                self.assertEqual(f.read(), spans, "the spans file was written over")
        p = th.run(["sh", "-c", '"$0" html - -o "$1" < "$1"', th.LAUNCHER, self.spans],
                   env=th.clean_env(TRACESHIM_VIEW=th.VIEW), tmpdir=self.tmp, name="stdin")
        self.assertEqual(p.returncode, 2, p.describe())
        with open(self.spans, "rb") as f:
            self.assertEqual(f.read(), spans, "the spans file was written over")
        self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp." in n], [])
        # another page beside it is fine
        p = self.ts("html", self.spans, "-o", os.path.join(self.tmp, "r.html"))
        self.assertEqual(p.returncode, 0, p.describe())

    def page_of_nobody_in_roots_folder(self):
        """(HTML, FOLDER, PAGE): a page uid 65534 may write in a folder of
        root's that it may not; self.tmp and the spans readable to all;
        HTML the argv of `traceshim html` run as uid 65534 (the viewer
        copied into self.tmp: the checkout may be in a folder of root's,
        /root/project on a fresh machine). Skips unless root."""
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root to run html as another user")
        setpriv = th.require_tool("setpriv")
        os.chmod(self.tmp, 0o755)
        os.chmod(self.spans, 0o644)
        view = os.path.join(self.tmp, "traceshim-view")
        shutil.copy(th.VIEW, view)
        os.chmod(view, 0o755)
        html = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", view, "--command=html"]
        folder = os.path.join(self.tmp, "www")
        os.mkdir(folder, 0o755)
        report = os.path.join(folder, "report.html")
        with open(report, "w") as f:
            f.write("old page\n")
        os.chown(report, 65534, 65534)
        return html, folder, report

    def test_html_rewrites_a_page_it_may_write_in_a_folder_it_may_not(self):
        """A report nobody may write, in a folder of root's: the page goes
        to a new file in the folder first, which nobody may not make, so
        html said "cannot write OUT: Permission denied" where `>` would
        have written it. It is written in place instead."""
        html, folder, report = self.page_of_nobody_in_roots_folder()
        p = th.run(html + [self.spans, "-o", report], env=th.clean_env(), tmpdir=self.tmp,
                   name="html-nobody")
        self.assertEqual(p.returncode, 0, p.describe())
        with open(report, "rb") as f:
            self.assertTrue(f.read().startswith(b"<!DOCTYPE html>"))
        self.assertEqual(os.stat(report).st_uid, 65534, "written in place, not replaced")
        self.assertEqual(os.listdir(folder), ["report.html"])
        # a page it may not write either: the message names the folder's part
        os.chmod(report, 0o444)
        os.chown(report, 0, 0)
        p = th.run(html + [self.spans, "-o", report], env=th.clean_env(), tmpdir=self.tmp,
                   name="html-nobody2")
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertIn(b"(a new file in its folder): Permission denied", p.stderr(), p.describe())

    def test_html_writes_no_page_through_a_link_put_in_its_place(self):
        """The page that goes in place (the folder someone else's) is
        written only into the file html looked at: the folder's owner can
        put a link there meanwhile, to a file of the user's, which html
        then cut and wrote over. A preloaded access() that sleeps widens
        the window the link is put in."""
        html, _, report = self.page_of_nobody_in_roots_folder()
        slow = th.compile_app("slow_access.c", os.path.join(self.tmp, "slow_access.so"),
                              "-O2", "-shared", "-fPIC", libs=("-ldl",))
        precious = os.path.join(self.tmp, "precious")
        with open(precious, "w") as f:
            f.write("the user's own file\n")
        os.chown(precious, 65534, 65534)

        def swap():
            time.sleep(0.5)
            os.unlink(report)
            os.symlink(precious, report)
        t = threading.Thread(target=swap)
        t.start()
        try:
            p = th.run(html + [self.spans, "-o", report],
                       env=th.clean_env(LD_PRELOAD=slow, SLOW_ACCESS_PATH="report.html",
                                        SLOW_ACCESS_MS="1500"), tmpdir=self.tmp, name="html-race")
        finally:
            t.join()
        with open(precious) as f:
            self.assertEqual(f.read(), "the user's own file\n", p.describe())
        self.assertEqual(p.returncode, 1, p.describe())
        self.assertIn(b"traceshim html: cannot write " + report.encode(), p.stderr(), p.describe())
        self.assertTrue(os.path.islink(report))


if __name__ == "__main__":
    th.main()
