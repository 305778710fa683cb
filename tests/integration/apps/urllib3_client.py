"""urllib3_client.py — python3-urllib3 (what requests is built on) as a
client, for the compatibility matrix.

    /usr/bin/python3 urllib3_client.py PORT

One HTTPConnectionPool to 127.0.0.1:PORT of one connection, kept alive
across the requests: GET /ok, GET /missing (a 404), POST /echo-body with a
body from a generator (chunked=True: urllib3 sends each chunk's size line,
data and CRLF in separate sends), POST /echo-body with 100 KB
(Content-Length), then GET /ok read as a stream (preload_content=False).
Prints "<status> <first 40 bytes of the body> <its length>" per request,
then "connections <n>" (the connections the pool opened).
"""

import sys

import urllib3


def parts():
    for i in range(5):
        yield b"part %d;" % i


def main():
    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(sys.argv[1]), maxsize=1, block=True,
                                      retries=False, timeout=10)
    for method, path, kw in (("GET", "/ok", {}), ("GET", "/missing", {}),
                             ("POST", "/echo-body", {"body": parts(), "chunked": True}),
                             ("POST", "/echo-body", {"body": b"x" * 100000}),
                             ("GET", "/ok", {"preload_content": False})):
        r = pool.urlopen(method, path, **kw)
        data = r.data if kw.get("preload_content", True) else r.read()
        r.release_conn()
        sys.stdout.write("%d %s %d\n" % (r.status, data[:40].decode(), len(data)))
    sys.stdout.write("connections %d\n" % pool.num_connections)


if __name__ == "__main__":
    main()
