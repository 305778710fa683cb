#!/usr/bin/python3
"""orders — the middle service of the traceshim demo chain.

    orders.py PORT INVENTORY_PORT

GET /order?item=ID   asks inventory for the stock (GET /stock), then reserves
                     one unit (POST /reserve), and answers with the order.

A plain standard-library HTTP server and client: no tracing code, and it does
not pass any headers on by itself — the preloaded shim does that.
"""
import itertools
import json
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

NAME = "orders"
inventory = ""  # base URL, set in main
order_ids = itertools.count(1001)
# Loopback only: never go through a proxy from the environment.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, path, body=None):
    """One request to inventory; returns the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(inventory + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with opener.open(req, timeout=10) as resp:
        return json.loads(resp.read())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, obj):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/order":
            self.reply(404, {"error": "no such path: " + url.path})
            return
        item = parse_qs(url.query).get("item", [""])[0]
        if not item:
            self.reply(400, {"error": "item missing"})
            return
        try:
            stock = call("GET", "/stock?item=" + quote(item))
            if stock["in_stock"] < 1:
                self.reply(409, {"error": "item %s is sold out" % item})
                return
            res = call("POST", "/reserve", {"item": item, "qty": 1})
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            self.reply(502, {"error": "inventory: %s" % e})
            return
        self.reply(200, {"order": next(order_ids), "item": item,
                         "reservation": res["reservation"], "left": res["left"]})

    def log_message(self, fmt, *args):
        sys.stderr.write("%s: %s\n" % (NAME, fmt % args))


def stop(signum, frame):
    raise SystemExit(0)  # a normal exit: atexit handlers and destructors run


def main():
    global inventory
    if len(sys.argv) != 3:
        sys.exit("usage: orders.py PORT INVENTORY_PORT")
    port, inventory_port = int(sys.argv[1]), int(sys.argv[2])
    inventory = "http://127.0.0.1:%d" % inventory_port
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    sys.stderr.write("%s: listening on http://127.0.0.1:%d, inventory at %s\n"
                     % (NAME, port, inventory))
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sys.stderr.write("%s: stopped\n" % NAME)


if __name__ == "__main__":
    main()
