"""httpapp.py — the HTTP server the integration tests run under the shim.

    /usr/bin/python3 httpapp.py --port PORT     (0: pick one)
    /usr/bin/python3 httpapp.py --unix PATH     (a Unix-domain socket)

Prints "LISTENING <port>" on stdout once it accepts connections. Exits
cleanly (status 0, atexit handlers and library destructors run) on SIGTERM
or SIGINT. HTTP/1.1, Content-Length on every response.

Routes (GET):
  /ok                 200 "ok"
  /missing            404 "missing"
  /fail               500 "fail"
  /echo-headers       200, JSON list of [name, value] of the request's headers,
                      in order, duplicates kept
  /call?to=PORT&path=/x
                      GET http://127.0.0.1:PORT/x with urllib.request; answers
                      200 with JSON {"status": downstream status, "body": its
                      body}, also when downstream answered 4xx/5xx
  /forward?to=PORT&path=/x
                      the same, with the request's B3 headers (X-B3-*, b3)
                      passed on as they came, as a proxy forwards them
POST /echo-body       200, the request body back (Content-Length or chunked)
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import ThreadingHTTPServer

sys.dont_write_bytecode = True  # keep the source tree clean
import _apphelp as ah  # noqa: E402  (this script's folder is on sys.path)

# No proxies, whatever the environment says: the tests talk to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(ah.Handler):
    protocol_version = "HTTP/1.1"
    server_version = "httpapp/1"

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/ok":
            self.reply(200, "ok")
        elif url.path == "/missing":
            self.reply(404, "missing")
        elif url.path == "/fail":
            self.reply(500, "fail")
        elif url.path == "/echo-headers":
            self.reply(200, json.dumps([[k, v] for k, v in self.headers.items()]),
                       "application/json")
        elif url.path in ("/call", "/forward"):
            port = int(q["to"][0])
            path = q.get("path", ["/ok"])[0]
            fwd = {}
            if url.path == "/forward":
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower().startswith("x-b3-") or k.lower() == "b3"}
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=fwd)
            try:
                with OPENER.open(req, timeout=10) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            self.reply(200, json.dumps({"status": status, "body": body.decode("utf-8", "replace")}),
                       "application/json")
        else:
            self.reply(404, "no such route")

    def chunked_body(self):
        """A chunked request body, decoded (trailers read and dropped)."""
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.chunked_body()
        else:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
        if self.path == "/echo-body":
            self.reply(200, body, "application/octet-stream")
        else:
            self.reply(404, "no such route")


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    args = ah.port_parser().parse_args()
    ah.serve(Server, Handler, args.port, unix=args.unix)


if __name__ == "__main__":
    main()
