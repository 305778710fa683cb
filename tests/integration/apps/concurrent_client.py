"""concurrent_client.py — many concurrent keep-alive connections, for the integration tests.

    /usr/bin/python3 concurrent_client.py PORT CONNECTIONS REQUESTS

CONNECTIONS threads, each with its own http.client.HTTPConnection to
127.0.0.1:PORT, each making REQUESTS GET /ok?c=<conn>&r=<request> on that
one connection. All threads make their first request, then wait for each
other (so every connection is open at the same time), then make the rest.
Prints one line per request "<conn> <request> <status> <body>" (sorted),
then "DONE <count>". Exit status 0 when every request was answered 200
with body "ok", else 1.
"""

import http.client
import sys
import threading


def main():
    port, nconn, nreq = (int(a) for a in sys.argv[1:4])
    barrier = threading.Barrier(nconn)
    results = []
    errors = []
    lock = threading.Lock()

    def worker(c):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            for r in range(nreq):
                if r == 1:
                    barrier.wait(timeout=20)
                conn.request("GET", "/ok?c=%d&r=%d" % (c, r))
                resp = conn.getresponse()
                body = resp.read().decode("utf-8", "replace")
                with lock:
                    results.append((c, r, resp.status, body))
            conn.close()
        except Exception as e:  # noqa: BLE001 — reported, counted
            with lock:
                errors.append("conn %d: %s: %s" % (c, type(e).__name__, e))
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(nconn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c, r, status, body in sorted(results):
        sys.stdout.write("%d %d %d %s\n" % (c, r, status, body))
    sys.stdout.write("DONE %d\n" % len(results))
    for e in errors[:20]:
        sys.stderr.write("concurrent_client: %s\n" % e)
    ok = not errors and len(results) == nconn * nreq and \
        all(s == 200 and b == "ok" for _, _, s, b in results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
