"""parse_wrk.py — one wrk --latency output as a line of bench/run.sh's results.

    python3 parse_wrk.py WRK_OUTPUT SERVER MODE ROUND [SLOT]

prints  http <TAB> SERVER <TAB> MODE <TAB> ROUND <TAB> requests/s <TAB> p50 µs
<TAB> p99 µs <TAB> socket errors + non-2xx responses [<TAB> SLOT]
SLOT is the run's place in its round (0, 1, ...), given when the round
interleaves untraced runs between the traced ones: report.py then compares
a traced run with the untraced runs right before and after it.
Fails loudly when wrk's output lacks a figure: a benchmark that silently
records nothing would read as a result.
"""

import re
import sys

UNIT_TO_MICROSECONDS = {"us": 1.0, "ms": 1000.0, "s": 1000000.0}


def microseconds(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if not m:
        raise ValueError("not a wrk duration: %r" % text)
    return float(m.group(1)) * UNIT_TO_MICROSECONDS[m.group(2)]


def main():
    path, server, mode, round_number = sys.argv[1:5]
    slot = sys.argv[5:6]
    text = open(path).read()
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and p50 and p99):
        sys.exit("parse_wrk.py: no throughput or latency in %s:\n%s" % (path, text))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    print("\t".join(["http", server, mode, round_number, rps.group(1),
                     "%.1f" % microseconds(p50.group(1)), "%.1f" % microseconds(p99.group(1)),
                     str(errors)] + slot))


if __name__ == "__main__":
    main()
