"""_apphelp.py — what the python server apps share (not an app itself).

The apps stay standalone scripts (`/usr/bin/python3 apps/NAME.py ...`):
python puts a script's own folder first on sys.path, so `import _apphelp`
finds this file. Standard library only.
"""

import argparse
import http.server
import os
import signal
import socketserver
import sys


def _exit(signum, frame):
    raise SystemExit(0)


def exit_on_signals():
    """SIGTERM and SIGINT raise SystemExit(0): the program leaves cleanly
    (finally blocks, atexit handlers and library destructors run)."""
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)


def port_parser():
    """An argument parser with --port PORT (0, the default: pick one) and
    --unix PATH (listen on a Unix-domain socket there instead)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--unix", metavar="PATH")
    return ap


def say(line):
    """One line on stdout, flushed (the tests wait for it)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    """A quiet handler (no access log, no python version in Server) with
    reply(); subclasses set server_version and their do_* methods."""

    sys_version = ""

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def reply(self, status, body, ctype="text/plain", headers=()):
        """status, Content-Type, Content-Length, then headers; body (str: UTF-8)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class PidPathHandler(Handler):
    """Every GET answers 200 "<pid of the serving process> <path>\\n"."""

    def do_GET(self):
        self.reply(200, "%d %s\n" % (os.getpid(), self.path))


class UnixServer(socketserver.ThreadingUnixStreamServer):
    """A threading HTTP server on a Unix-domain socket (HTTPServer's bind
    wants a host and a port)."""
    daemon_threads = True


def serve(server_class, handler, port, pid=False, unix=None):
    """Exit on SIGTERM/SIGINT, listen on 127.0.0.1:port (or on the
    Unix-domain socket unix), print "LISTENING <port>" ("LISTENING
    unix:<path>"; with pid: "... PID <pid>"), serve until a signal, then
    server_close()."""
    exit_on_signals()
    if unix:
        srv = UnixServer(unix, handler)
        line = "LISTENING unix:%s" % unix
    else:
        srv = server_class(("127.0.0.1", port), handler)
        line = "LISTENING %d" % srv.server_address[1]
    if pid:
        line += " PID %d" % os.getpid()
    say(line)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
