"""spawn_server.py — an HTTP server that starts a program while it serves a
request, the ways a Python service does.

    /usr/bin/python3 spawn_server.py --port PORT     (0: pick one)

GET /run?how=HOW&url=URL runs `curl -q -sS --max-time 10 URL` and answers 200
with curl's output (its exit status in the header X-Exit-Status). HOW:
  vfork    subprocess.run (CPython uses vfork, and the child closes the
           inherited descriptors: close_fds=True)
  fork     subprocess.run with a preexec_fn (CPython then forks)
  spawn    subprocess.run with close_fds=False (CPython uses posix_spawn)
  system   os.system (the C library's system(); output to a file)
Single-threaded (http.server.HTTPServer), HTTP/1.1 with Content-Length.
Prints "LISTENING <port>" once it accepts connections; exits cleanly
(status 0) on SIGTERM or SIGINT.
"""

import argparse
import http.server
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import urllib.parse

CURL = ["curl", "-q", "-sS", "--max-time", "10"]


def _exit(signum, frame):
    raise SystemExit(0)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "spawn/1"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def reply(self, status, body, exit_status=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if exit_status is not None:
            self.send_header("X-Exit-Status", str(exit_status))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path != "/run" or "url" not in q:
            self.reply(404, b"no such route")
            return
        how, argv = q.get("how", ["vfork"])[0], CURL + [q["url"][0]]
        if how == "system":
            fd, path = tempfile.mkstemp(prefix="spawn-server-")
            try:
                os.close(fd)
                st = os.waitstatus_to_exitcode(os.system(
                    "%s >%s" % (" ".join(map(shlex.quote, argv)), shlex.quote(path))))
                with open(path, "rb") as f:
                    out = f.read()
            finally:
                os.unlink(path)
        else:
            kw = {"vfork": {}, "fork": {"preexec_fn": lambda: None},
                  "spawn": {"close_fds": False}}.get(how)
            if kw is None:
                self.reply(400, b"unknown how")
                return
            r = subprocess.run(argv, stdout=subprocess.PIPE, **kw)
            st, out = r.returncode, r.stdout
        self.reply(200, out, st)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    srv = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    sys.stdout.write("LISTENING %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
