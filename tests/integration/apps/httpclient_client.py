"""httpclient_client.py — python3 http.client as a keep-alive client, for the integration tests.

    /usr/bin/python3 httpclient_client.py PORT

On one HTTPConnection to 127.0.0.1:PORT (timeout set, so the socket is
non-blocking underneath): GET /ok, POST /echo-body (head and body in
separate sends), GET /missing; prints "<status> <body>" per request.
"""

import http.client
import sys


def main():
    conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
    for method, path, body in (("GET", "/ok", None),
                               ("POST", "/echo-body", b"hello from http.client"),
                               ("GET", "/missing", None)):
        conn.request(method, path, body=body)
        r = conn.getresponse()
        sys.stdout.write("%d %s\n" % (r.status, r.read().decode("utf-8", "replace")))
    conn.close()


if __name__ == "__main__":
    main()
