"""urllib_client.py — python3 urllib.request as a client, for the integration tests.

    /usr/bin/python3 urllib_client.py BASE_URL

GET BASE/ok, GET BASE/missing (a 404: urllib raises HTTPError), POST
BASE/echo-body with a small body; prints "<status> <body>" per request.
urllib opens a new connection per request (Connection: close).
"""

import sys
import urllib.error
import urllib.request

# No proxies, whatever the environment says: the tests talk to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url, data=None):
    try:
        with OPENER.open(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    base = sys.argv[1]
    for path, data in (("/ok", None), ("/missing", None), ("/echo-body", b"hello from urllib")):
        status, body = fetch(base + path, data)
        sys.stdout.write("%d %s\n" % (status, body.decode("utf-8", "replace")))


if __name__ == "__main__":
    main()
