"""httpapp.py — the HTTP server the integration tests run under the shim.

    /usr/bin/python3 httpapp.py --port PORT     (0: pick one)

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
POST /echo-body       200, the request body back
"""

import argparse
import json
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _exit(signum, frame):
    raise SystemExit(0)


# No proxies, whatever the environment says: the tests talk to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "httpapp/1"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def reply(self, status, body, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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
        elif url.path == "/call":
            port = int(q["to"][0])
            path = q.get("path", ["/ok"])[0]
            try:
                with OPENER.open("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            self.reply(200, json.dumps({"status": status, "body": body.decode("utf-8", "replace")}),
                       "application/json")
        else:
            self.reply(404, "no such route")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/echo-body":
            self.reply(200, body, "application/octet-stream")
        else:
            self.reply(404, "no such route")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    sys.stdout.write("LISTENING %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
