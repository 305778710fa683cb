"""service — what the three demo services share: a standard-library HTTP
server on loopback that exits normally on SIGTERM/SIGINT, JSON replies, and
a client that never uses a proxy from the environment. No tracing code."""
import json
import signal
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Loopback only: never go through a proxy from the environment.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler with a Content-Length on every reply."""
    protocol_version = "HTTP/1.1"
    name = "service"

    def send_body(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply(self, status, obj):
        """A JSON answer."""
        self.send_body(status, (json.dumps(obj) + "\n").encode(), "application/json")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s: %s\n" % (self.name, fmt % args))


def call_json(base, method, path, body=None):
    """One request to another service; returns its decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with opener.open(req, timeout=10) as resp:
        return json.loads(resp.read())


def _stop(signum, frame):
    raise SystemExit(0)  # a normal exit: atexit handlers and destructors run


def serve(name, port, handler, note=""):
    """Serve on 127.0.0.1:port until SIGTERM or SIGINT."""
    handler.name = name
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    sys.stderr.write("%s: listening on http://127.0.0.1:%d%s\n" % (name, port, note))
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sys.stderr.write("%s: stopped\n" % name)
