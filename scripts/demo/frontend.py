#!/usr/bin/python3
"""frontend — the first service of the traceshim demo chain.

    frontend.py PORT ORDERS_PORT

GET /checkout?item=ID   places an order with the orders service
                        (GET /order?item=ID) and answers in plain text.

A plain standard-library HTTP server and client: no tracing code.
"""
import json
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

NAME = "frontend"
orders = ""  # base URL, set in main
# Loopback only: never go through a proxy from the environment.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, text):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/checkout":
            self.reply(404, "no such page: " + url.path)
            return
        item = parse_qs(url.query).get("item", [""])[0]
        if not item:
            self.reply(400, "which item? use /checkout?item=ID")
            return
        try:
            with opener.open(orders + "/order?item=" + quote(item), timeout=10) as resp:
                order = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            self.reply(502, "checkout failed: orders answered %d: %s"
                       % (e.code, e.read().decode(errors="replace").strip()))
            return
        except (urllib.error.URLError, OSError, ValueError) as e:
            self.reply(502, "checkout failed: orders: %s" % e)
            return
        self.reply(200, "checkout ok: order %s for item %s (reservation %s, %s left in stock)"
                   % (order["order"], order["item"], order["reservation"], order["left"]))

    def log_message(self, fmt, *args):
        sys.stderr.write("%s: %s\n" % (NAME, fmt % args))


def stop(signum, frame):
    raise SystemExit(0)  # a normal exit: atexit handlers and destructors run


def main():
    global orders
    if len(sys.argv) != 3:
        sys.exit("usage: frontend.py PORT ORDERS_PORT")
    port, orders_port = int(sys.argv[1]), int(sys.argv[2])
    orders = "http://127.0.0.1:%d" % orders_port
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    sys.stderr.write("%s: listening on http://127.0.0.1:%d, orders at %s\n"
                     % (NAME, port, orders))
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sys.stderr.write("%s: stopped\n" % NAME)


if __name__ == "__main__":
    main()
