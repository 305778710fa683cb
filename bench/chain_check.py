"""chain_check.py — is the traced chain wrk → nginx → tinyhttpd one trace per request?

    python3 chain_check.py PROXY_SPANS.jsonl BACKEND_SPANS.jsonl

Reads the two span files of a traced chain run (the file exporter's
OTLP/JSON lines; metrics lines are skipped) and prints one line of counts:

    proxy_server=N proxy_client=N backend_server=N linked=N

"linked" counts the backend's server spans whose parent is one of the
proxy's client spans, in the same trace, and whose client span's parent is
one of the proxy's server spans in that trace: a request that crossed both
hops as one trace. With every request traced and nothing dropped, all four
numbers are equal; a broken chain shows as linked well below backend_server.
Only span ids are compared, so it reads the ids with a regular expression
per span instead of decoding whole lines, which keeps it quick on the
hundreds of megabytes a full run writes.
"""

import re
import sys

# One span object in the file exporter's output: its ids come first, in
# this order (parentSpanId is absent on a root span), then name and kind.
SPAN = re.compile(
    r'\{"traceId":"([0-9a-f]{32})","spanId":"([0-9a-f]{16})"'
    r'(?:,"parentSpanId":"([0-9a-f]{16})")?'
    r',"name":"(?:[^"\\]|\\.)*","kind":(\d)')

SERVER, CLIENT = "2", "3"


def spans(path):
    """Yields (trace id, span id, parent id or None, kind) for every span."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith('{"resourceSpans"'):
                continue
            for m in SPAN.finditer(line):
                yield m.group(1), m.group(2), m.group(3), m.group(4)


def main():
    proxy_path, backend_path = sys.argv[1:3]
    proxy_servers = set()
    proxy_clients = {}  # (trace, span) -> parent
    for trace, span, parent, kind in spans(proxy_path):
        if kind == SERVER:
            proxy_servers.add((trace, span))
        elif kind == CLIENT:
            proxy_clients[(trace, span)] = parent
    backend_servers = linked = 0
    for trace, span, parent, kind in spans(backend_path):
        if kind != SERVER:
            continue
        backend_servers += 1
        client_parent = proxy_clients.get((trace, parent)) if parent else None
        if client_parent and (trace, client_parent) in proxy_servers:
            linked += 1
    print("proxy_server=%d proxy_client=%d backend_server=%d linked=%d"
          % (len(proxy_servers), len(proxy_clients), backend_servers, linked))


if __name__ == "__main__":
    main()
