"""forking_server.py — http.server with socketserver.ForkingMixIn: every
connection is served in a child of its own, which ends with os._exit (no
destructors, no atexit) once the response is sent.

    /usr/bin/python3 forking_server.py --port PORT     (0: pick one)

HTTP/1.0 (one request per connection, so one child per request). Every GET
answers 200 with the body "<pid of the child that served it> <path>\\n".
Prints "LISTENING <port> PID <pid>" on stdout once it accepts connections;
exits cleanly (status 0, after waiting for its children) on SIGTERM or SIGINT.
"""

import argparse
import http.server
import os
import signal
import socketserver
import sys


def _exit(signum, frame):
    raise SystemExit(0)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "forking/1"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def do_GET(self):
        body = ("%d %s\n" % (os.getpid(), self.path)).encode("ascii")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class S(socketserver.ForkingMixIn, http.server.HTTPServer):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    srv = S(("127.0.0.1", args.port), Handler)
    sys.stdout.write("LISTENING %d PID %d\n" % (srv.server_address[1], os.getpid()))
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()  # waits for the children


if __name__ == "__main__":
    main()
